#pragma once
/// A column batch: the rows of one ingest request, parsed and typed, column by column. What the
/// table actor hands to the rowstore and what queries read back.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/types.hpp"

namespace tributary::model {

/// One column of a batch. Fixed-width types live in `ints`/`reals`, text types in `text` with
/// `offsets` (rows + 1 entries; value i is text[offsets[i], offsets[i+1])).
///   bool, int, long, datetime, timespan → ints (bool 0/1; datetime/timespan in 100-ns ticks)
///   real                                 → reals
///   string, decimal, guid, dynamic       → text + offsets
/// A null row has `nulls[i] == 1` and a zero / empty value.
struct column_data {
  column_type type = column_type::string;
  std::vector<uint8_t> nulls;
  std::vector<int64_t> ints;
  std::vector<double> reals;
  std::string text;
  std::vector<uint32_t> offsets{0};

  size_t size() const { return nulls.size(); }
  bool is_null(size_t row) const { return nulls[row] != 0; }
  std::string_view text_at(size_t row) const {
    return std::string_view(text).substr(offsets[row], offsets[row + 1] - offsets[row]);
  }
  /// The row as a result cell.
  value at(size_t row) const;

  void append_null();
  void append_int(int64_t v);
  void append_real(double v);
  void append_text(std::string_view v);
};

struct column_batch {
  int64_t ingestion_ticks = 0;  ///< ingestion_time() of every row, 100-ns ticks since epoch
  uint32_t rows = 0;
  std::vector<column_data> columns;  ///< in table column order (may be fewer than the table has
                                     ///< now: columns added later read as null)

  /// An empty batch with one column per type in `types`.
  static column_batch with_columns(const std::vector<column>& schema);
  /// Approximate bytes held (for buffering bounds and metrics).
  size_t byte_size() const;
};

}  // namespace tributary::model
