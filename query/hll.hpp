#pragma once
/// dcount's distinct counter: an exact set of 64-bit hashes while the set is small, then a
/// HyperLogLog of 2^p one-byte registers (kql.md §2.5: accuracy 0..4 → p = 12, 14, 16, 17, 18).
/// Kusto promises exact counts for small sets (1,000 values at level 1, 8,000 at level 2); the
/// set holds up to 2^p / 8 hashes, the registers' own size in bytes, before it switches.
///
/// Estimates use Ertl's improved raw estimator ("New cardinality estimation algorithms for
/// HyperLogLog sketches", 2017): unbiased from small to very large counts without the empirical
/// bias tables of HyperLogLog++, so the switch from the exact set needs no correction.

#define XXH_INLINE_ALL  // XXH3 inlined where it is called
#include <xxhash.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tributary::query {

/// A 64-bit hash of `size` bytes (any alignment), mixed well enough for HyperLogLog's leading
/// zero counts. `seed` tags the value's type so that equal bytes of different types differ.
/// XXH3: the same value on every machine (saved exact sets hold these hashes), and fast on the
/// short strings dcount mostly sees; inline, as dcount calls it once a row.
inline uint64_t hash_bytes(const void* data, size_t size, uint64_t seed) { return XXH3_64bits_withSeed(data, size, seed); }
/// A 64-bit hash of one fixed-width value, tagged like hash_bytes.
uint64_t hash_u64(uint64_t value, uint64_t seed);

class distinct_counter {
 public:
  /// `accuracy` is Kusto's dcount level, 0..4 (the caller has checked it).
  explicit distinct_counter(int accuracy = 1);

  void add(uint64_t hash) {
    // The common case of a value already in the exact set at its first slot, without a call.
    if (registers_.empty() && hash != 0 && !slots_.empty() && slots_[hash & (slots_.size() - 1)] == hash) return;
    add_slow(hash);
  }
  /// Adds `other`'s values (same accuracy): set union, or register-wise max.
  void merge(const distinct_counter& other);
  /// The number of distinct hashes added: exact while the set is small.
  uint64_t estimate() const;
  bool exact() const { return registers_.empty(); }

  /// Portable bytes: precision, mode, then the hashes (little-endian) or the registers.
  void save(std::string& out) const;
  /// Reads what save wrote from the front of `in`, consuming it; false when malformed or of
  /// another precision.
  bool load(std::string_view& in);

  /// The exact set's limit: beyond it the counter switches to registers.
  size_t exact_limit() const { return (size_t{1} << precision_) / 8; }

 private:
  void add_slow(uint64_t hash);
  void insert_exact(uint64_t hash);
  void to_registers();
  void add_register(uint64_t hash);

  uint8_t precision_;
  // Open addressing, linear probing; 0 marks a free slot, so hash 0 is kept as a flag.
  std::vector<uint64_t> slots_;
  size_t exact_count_ = 0;
  bool has_zero_ = false;
  std::vector<uint8_t> registers_;  // empty while exact
};

}  // namespace tributary::query
