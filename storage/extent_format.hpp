#pragma once
// Private to storage/: the constants and byte layout of storage/FORMAT.md "Extents", shared by
// the extent writer and reader.

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "storage/extent.hpp"

namespace tributary::storage::extent_format {

inline constexpr char magic[4] = {'T', 'R', 'X', 'E'};
inline constexpr uint16_t version = 1;
inline constexpr size_t header_bytes = 8;    // magic, version, flags
inline constexpr size_t trailer_bytes = 24;  // footer offset, length, crc, version, reserved, magic
inline constexpr size_t entry_bytes = 41;    // one block's index entry
inline constexpr uint32_t max_block_rows = 1u << 20;
inline constexpr uint64_t max_block_raw_bytes = uint64_t{256} << 20;
inline constexpr uint8_t flag_minmax = 1;
inline constexpr std::string_view ingestion_column_name = "ingestion_time";

// How a type's values are laid out in an uncompressed block.
enum class layout : uint8_t { u8, i32, i64, f64, text };

inline layout layout_of(model::column_type t) {
  using ct = model::column_type;
  switch (t) {
    case ct::bool_:
      return layout::u8;
    case ct::int_:
      return layout::i32;
    case ct::long_:
    case ct::datetime:
    case ct::timespan:
      return layout::i64;
    case ct::real:
      return layout::f64;
    default:
      return layout::text;
  }
}

// Bytes per value; 4 (the length) for text.
inline size_t value_width(layout l) {
  switch (l) {
    case layout::u8:
      return 1;
    case layout::i32:
      return 4;
    case layout::text:
      return 4;
    default:
      return 8;
  }
}

inline uint64_t bitmap_bytes(uint64_t rows) {
  return (rows + 7) / 8;
}

// One block's index entry. min/max hold i64 or f64 bits.
struct entry {
  uint64_t offset = 0;
  uint32_t stored_bytes = 0;
  uint32_t raw_bytes = 0;
  uint32_t crc = 0;
  uint32_t null_count = 0;
  uint8_t flags = 0;
  uint64_t min_bits = 0;
  uint64_t max_bits = 0;
};

// One block group: its rows and C + 1 entries (the last is ingestion_time).
struct group_index {
  uint32_t rows = 0;
  std::vector<entry> entries;
};

// Little-endian hosts only (x86-64, aarch64), like the rowstore codec.
template <class T>
void put(std::string& out, T v) {
  char buf[sizeof(T)];
  std::memcpy(buf, &v, sizeof(T));
  out.append(buf, sizeof(T));
}

template <class T>
T load(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

void put_entry(std::string& out, const entry& e);
entry load_entry(const char* p);

// zlib's CRC-32 of `bytes`.
uint32_t crc32_of(std::string_view bytes);

// Extent and per-group statistics from the index (used by the writer's finish() and by open()).
void derive_stats(const std::vector<model::column>& schema, const std::vector<group_index>& groups,
                  uint64_t file_bytes, extent_stats& stats, std::vector<block_info>& blocks);

}  // namespace tributary::storage::extent_format
