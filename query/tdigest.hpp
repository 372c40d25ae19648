#pragma once
/// percentile's estimator: a merging t-digest (Dunning and Ertl, "Computing extremely accurate
/// quantiles using t-digests", 2019) with the k1 (arcsine) scale, so centroids are smallest at
/// the tails. Kusto's percentile is the NEAREST-RANK value (kql.md §2.5): the digest answers for
/// rank ceil(p/100·n), read at the middle of that value's unit of weight, so a digest of
/// singletons returns the exact value; P0 and P100 are the exact min and max.
///
/// The rank error is at most half a centroid's weight: at the median a centroid holds about
/// π/compression of the values (0.8% at the default 400), and interpolation does better.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tributary::query {

class tdigest {
 public:
  explicit tdigest(double compression = 400) : compression_(compression) {}

  void add(double x, double weight = 1);
  /// Adds `other`'s centroids (its buffer too).
  void merge(const tdigest& other);
  /// The nearest-rank `percent` (0..100) percentile's estimate; NaN when empty.
  double percentile(double percent) const;
  double count() const { return total_ + buffered_; }
  bool empty() const { return count() == 0; }

  /// Portable bytes: compression, min, max, then the centroids (mean, weight).
  void save(std::string& out) const;
  /// Reads what save wrote from the front of `in`, consuming it; false when malformed.
  bool load(std::string_view& in);

 private:
  struct centroid {
    double mean;
    double weight;
  };
  /// Folds the buffer into the centroids (const users see the digest as a value).
  void compress() const;

  double compression_;
  mutable std::vector<centroid> centroids_;  // sorted by mean
  mutable std::vector<centroid> buffer_;     // unsorted additions
  mutable double total_ = 0;                 // weight in centroids_
  mutable double buffered_ = 0;              // weight in buffer_
  double min_ = 0, max_ = 0;
};

}  // namespace tributary::query
