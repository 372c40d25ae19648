#include "query/hll.hpp"

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstring>

#include "query/state_bytes.hpp"

namespace tributary::query {

namespace {

// A strong 64-bit finalizer (the splitmix64 output function): every input bit flips about
// half of the output bits, which HyperLogLog's register index and leading-zero count need.
inline uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

constexpr uint64_t golden = 0x9e3779b97f4a7c15ULL;

constexpr uint8_t precision_of(int accuracy) {
  constexpr uint8_t p[] = {12, 14, 16, 17, 18};
  return p[accuracy < 0 ? 0 : accuracy > 4 ? 4 : accuracy];
}

// Ertl's sigma and tau series (paper's Algorithm 6); both converge in a few dozen steps.
double sigma(double x) {
  if (x == 1.0) return INFINITY;
  double y = 1, z = x;
  for (;;) {
    x *= x;
    double prev = z;
    z += x * y;
    y += y;
    if (z == prev) return z;
  }
}

double tau(double x) {
  if (x == 0.0 || x == 1.0) return 0.0;
  double y = 1.0, z = 1.0 - x;
  for (;;) {
    x = std::sqrt(x);
    double prev = z;
    y *= 0.5;
    z -= (1.0 - x) * (1.0 - x) * y;
    if (z == prev) return z / 3.0;
  }
}

}  // namespace

uint64_t hash_u64(uint64_t value, uint64_t seed) { return mix64(mix64(value + seed * golden) ^ seed); }



distinct_counter::distinct_counter(int accuracy) : precision_(precision_of(accuracy)) {}

void distinct_counter::add_slow(uint64_t hash) {
  if (!registers_.empty()) return add_register(hash);
  insert_exact(hash);
  if (exact_count_ > exact_limit()) to_registers();
}

void distinct_counter::insert_exact(uint64_t hash) {
  if (hash == 0) {
    exact_count_ += !has_zero_;
    has_zero_ = true;
    return;
  }
  // Grow at half load: probes stay short and the set never exceeds 2x the registers' bytes.
  if ((exact_count_ + 1) * 2 > slots_.size()) {
    std::vector<uint64_t> old = std::move(slots_);
    slots_.assign(old.empty() ? 16 : old.size() * 2, 0);
    size_t mask = slots_.size() - 1;
    for (uint64_t h : old)
      if (h) {
        size_t i = h & mask;
        while (slots_[i]) i = (i + 1) & mask;
        slots_[i] = h;
      }
  }
  size_t mask = slots_.size() - 1;
  size_t i = hash & mask;
  while (slots_[i]) {
    if (slots_[i] == hash) return;
    i = (i + 1) & mask;
  }
  slots_[i] = hash;
  ++exact_count_;
}

void distinct_counter::add_register(uint64_t hash) {
  const unsigned q = 64 - precision_;
  size_t index = hash >> q;
  uint64_t rest = hash << precision_;
  uint8_t rank = rest == 0 ? static_cast<uint8_t>(q + 1) : static_cast<uint8_t>(std::countl_zero(rest) + 1);
  if (rank > registers_[index]) registers_[index] = rank;
}

void distinct_counter::to_registers() {
  registers_.assign(size_t{1} << precision_, 0);
  for (uint64_t h : slots_)
    if (h) add_register(h);
  if (has_zero_) add_register(0);
  std::vector<uint64_t>().swap(slots_);
  exact_count_ = 0;
  has_zero_ = false;
}

void distinct_counter::merge(const distinct_counter& other) {
  if (other.registers_.empty()) {
    for (uint64_t h : other.slots_)
      if (h) add(h);
    if (other.has_zero_) add(0);
    return;
  }
  if (registers_.empty()) to_registers();
  for (size_t i = 0; i < registers_.size(); ++i)
    if (other.registers_[i] > registers_[i]) registers_[i] = other.registers_[i];
}

uint64_t distinct_counter::estimate() const {
  if (registers_.empty()) return exact_count_;
  const unsigned q = 64 - precision_;
  const double m = static_cast<double>(registers_.size());
  uint64_t histogram[66] = {};
  for (uint8_t r : registers_) ++histogram[r];
  double z = m * tau(1.0 - static_cast<double>(histogram[q + 1]) / m);
  for (unsigned k = q; k >= 1; --k) z = 0.5 * (z + static_cast<double>(histogram[k]));
  z += m * sigma(static_cast<double>(histogram[0]) / m);
  const double alpha_inf = 0.5 / std::log(2.0);
  return static_cast<uint64_t>(std::llround(alpha_inf * m * m / z));
}

void distinct_counter::save(std::string& out) const {
  bytes::put_u8(out, precision_);
  if (registers_.empty()) {
    bytes::put_u8(out, 0);
    bytes::put_u32(out, static_cast<uint32_t>(exact_count_));
    for (uint64_t h : slots_)
      if (h) bytes::put_u64(out, h);
    if (has_zero_) bytes::put_u64(out, 0);
  } else {
    bytes::put_u8(out, 1);
    out.append(reinterpret_cast<const char*>(registers_.data()), registers_.size());
  }
}

bool distinct_counter::load(std::string_view& in) {
  uint8_t precision, mode;
  if (!bytes::get_u8(in, precision) || precision != precision_ || !bytes::get_u8(in, mode)) return false;
  *this = distinct_counter();
  precision_ = precision;
  if (mode == 0) {
    uint32_t n;
    if (!bytes::get_u32(in, n) || n > exact_limit() + 1) return false;
    for (uint32_t i = 0; i < n; ++i) {
      uint64_t h;
      if (!bytes::get_u64(in, h)) return false;
      insert_exact(h);
    }
    return true;
  }
  if (mode != 1) return false;
  size_t m = size_t{1} << precision_;
  if (in.size() < m) return false;
  registers_.assign(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(m));
  in.remove_prefix(m);
  for (uint8_t r : registers_)
    if (r > 65 - precision_) return false;
  return true;
}

}  // namespace tributary::query
