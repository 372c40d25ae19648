#include "query/tdigest.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "query/state_bytes.hpp"

namespace tributary::query {

void tdigest::add(double x, double weight) {
  if (std::isnan(x) || !(weight > 0)) return;
  if (empty()) {
    min_ = max_ = x;
  } else {
    min_ = std::min(min_, x);
    max_ = std::max(max_, x);
  }
  buffer_.push_back({x, weight});
  buffered_ += weight;
  // A buffer a few times the centroid count keeps the amortized sort cost per value small.
  if (buffer_.size() >= static_cast<size_t>(compression_ * 5)) compress();
}

void tdigest::merge(const tdigest& other) {
  if (other.empty()) return;
  if (empty()) {
    min_ = other.min_;
    max_ = other.max_;
  } else {
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
  }
  buffer_.insert(buffer_.end(), other.centroids_.begin(), other.centroids_.end());
  buffer_.insert(buffer_.end(), other.buffer_.begin(), other.buffer_.end());
  buffered_ += other.total_ + other.buffered_;
  compress();
}

void tdigest::compress() const {
  if (buffer_.empty()) return;
  std::vector<centroid> all;
  all.reserve(centroids_.size() + buffer_.size());
  all.insert(all.end(), centroids_.begin(), centroids_.end());
  all.insert(all.end(), buffer_.begin(), buffer_.end());
  std::sort(all.begin(), all.end(), [](const centroid& a, const centroid& b) { return a.mean < b.mean; });
  buffer_.clear();
  total_ += buffered_;
  buffered_ = 0;

  // k1 scale: k(q) = δ/(2π)·asin(2q−1). A centroid may span one unit of k, so it stays
  // tiny near q = 0 and 1 and widest at the median.
  const double total = total_;
  const double scale = compression_ / (2 * std::numbers::pi);
  auto k_of = [&](double q) { return scale * std::asin(2 * q - 1); };
  auto q_of = [&](double k) {
    if (k >= scale * std::numbers::pi / 2) return 1.0;
    return (std::sin(k / scale) + 1) / 2;
  };
  centroids_.clear();
  centroid cur = all[0];
  double before = 0;  // weight left of cur
  double q_limit = q_of(k_of(0) + 1);
  for (size_t i = 1; i < all.size(); ++i) {
    const centroid& next = all[i];
    if ((before + cur.weight + next.weight) / total <= q_limit) {
      double w = cur.weight + next.weight;
      cur.mean += (next.mean - cur.mean) * next.weight / w;
      cur.weight = w;
    } else {
      centroids_.push_back(cur);
      before += cur.weight;
      q_limit = q_of(k_of(before / total) + 1);
      cur = next;
    }
  }
  centroids_.push_back(cur);
}

double tdigest::percentile(double percent) const {
  compress();
  if (centroids_.empty()) return NAN;
  if (percent <= 0) return min_;
  if (percent >= 100) return max_;
  const double n = total_;
  // Nearest rank, 1-based; the small epsilon keeps 99.9 * 1000 / 100 at 999.
  double rank = std::ceil(percent * n / 100 - 1e-9);
  rank = std::clamp(rank, 1.0, n);
  if (rank <= 1) return min_;
  if (rank >= n) return max_;
  const double target = rank - 0.5;  // the middle of the rank-th unit of weight

  // Centroid i's weight is spread over [start_i, start_i + w_i), its mean at the middle.
  double start = 0;
  for (size_t i = 0; i < centroids_.size(); ++i) {
    const centroid& c = centroids_[i];
    double mid = start + c.weight / 2;
    if (target < start + c.weight) {
      if (c.weight == 1) return c.mean;  // a single value: exact
      if (target < mid) {
        // Between the previous centroid's middle (or min) and this one's.
        double left_mid, left_mean;
        if (i == 0) {
          left_mid = 0.5;
          left_mean = min_;
        } else {
          const centroid& p = centroids_[i - 1];
          left_mid = start - p.weight / 2;
          left_mean = p.mean;
        }
        if (mid <= left_mid) return c.mean;
        return left_mean + (c.mean - left_mean) * (target - left_mid) / (mid - left_mid);
      }
      double right_mid, right_mean;
      if (i + 1 == centroids_.size()) {
        right_mid = n - 0.5;
        right_mean = max_;
      } else {
        const centroid& nx = centroids_[i + 1];
        right_mid = start + c.weight + nx.weight / 2;
        right_mean = nx.mean;
      }
      if (right_mid <= mid) return c.mean;
      return c.mean + (right_mean - c.mean) * (target - mid) / (right_mid - mid);
    }
    start += c.weight;
  }
  return max_;
}

void tdigest::save(std::string& out) const {
  compress();
  bytes::put_f64(out, compression_);
  bytes::put_f64(out, min_);
  bytes::put_f64(out, max_);
  bytes::put_u32(out, static_cast<uint32_t>(centroids_.size()));
  for (const centroid& c : centroids_) {
    bytes::put_f64(out, c.mean);
    bytes::put_f64(out, c.weight);
  }
}

bool tdigest::load(std::string_view& in) {
  double compression, lo, hi;
  uint32_t n;
  if (!bytes::get_f64(in, compression) || !(compression >= 10 && compression <= 100000) ||
      !bytes::get_f64(in, lo) || !bytes::get_f64(in, hi) || !bytes::get_u32(in, n) || in.size() / 16 < n)
    return false;
  *this = tdigest(compression);
  min_ = lo;
  max_ = hi;
  centroids_.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    centroid c;
    bytes::get_f64(in, c.mean);
    bytes::get_f64(in, c.weight);
    if (!(c.weight > 0) || std::isnan(c.mean)) return false;
    if (!centroids_.empty() && c.mean < centroids_.back().mean) return false;
    centroids_.push_back(c);
    total_ += c.weight;
  }
  return true;
}

}  // namespace tributary::query
