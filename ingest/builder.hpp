#pragma once
/// Private to ingest/: the batch one request builds, value by value, and the errors that say
/// where in the payload a problem is.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ingest/convert.hpp"
#include "model/batch.hpp"
#include "model/catalog.hpp"
#include "model/types.hpp"

namespace tributary::ingest::detail {

class dynamic_text;

/// A record's place in the payload: its 1-based number and the offset of its first byte, or for
/// an item of a top-level JSON array, its 1-based index and the offset of the array.
struct position {
  size_t record = 0;
  size_t offset = 0;
  size_t item = 0;
};

/// Lines in `data` (newlines + 1): a first guess at the number of records.
size_t count_lines(std::string_view data);

/// "record 3 (line 4)" or "record 3 (item 2 of the array on line 1)": the line is counted from
/// `data` only when a message needs it.
std::string where(std::string_view data, const position& at);
/// A value as messages show it: in single quotes, at most 60 bytes, control bytes escaped.
std::string shown(std::string_view value);
/// A column as messages name it: "column 'ts' (datetime)".
std::string describe(const model::column& c);

/// BadRequest_InvalidValue: "<where>, <column>: '<value>' <why>".
model::error invalid_value(std::string_view data, const position& at, const model::column& c,
                           std::string_view value, problem why);
/// A permanent error about the payload's format: "<where> <what>", `what` a predicate such as
/// "is not valid JSON: ...".
model::error format_error(std::string code, std::string_view data, const position& at,
                          std::string_view what);
/// Stream_InputStreamTooLarge (permanent): the rows for table `t` reach `limit` decoded bytes at
/// the record `at`; says what one row costs and how to split the data.
model::error decoded_too_large(const model::table& t, std::string_view data, const position& at,
                               size_t limit);

/// The decoded bytes one row takes before its text: per column a null flag and 8 bytes (ints,
/// reals) or a 4-byte text offset, as model::column_data stores them.
size_t row_fixed_bytes(const std::vector<model::column>& schema);

/// The batch under construction, one column per table column. Values are appended column by
/// column between begin_record() and end_record(). Decoded bytes are counted before they are
/// stored: a row's fixed cost by begin_record(), text by raw_text(); past `decoded_limit`
/// they refuse, and over_limit() tells the parser to answer decoded_too_large().
class batch_builder {
 public:
  /// `expected_rows` only sizes the first allocation (never past what `decoded_limit` allows).
  batch_builder(const std::vector<model::column>& schema, size_t expected_rows,
                size_t decoded_limit);
  ~batch_builder();
  batch_builder(const batch_builder&) = delete;
  batch_builder& operator=(const batch_builder&) = delete;

  const model::column& column(size_t c) const { return schema_[c]; }
  size_t columns() const { return schema_.size(); }

  /// Appends text (a CSV field, a JSON string, a ConstValue) converted to column `c`'s type.
  /// Empty text is null (ASCII whitespace only counts as empty for non-string types); string
  /// columns keep the text as is; dynamic columns apply Kusto's parse_json.
  problem text(size_t c, std::string_view v);
  /// Null, except string columns, which get an empty string: Kusto strings have no null.
  void null(size_t c);
  /// Typed appends; the caller has checked that the column's storage takes them.
  void integer(size_t c, int64_t v) { batch_.columns[c].append_int(v); }
  void real(size_t c, double v) { batch_.columns[c].append_real(v); }
  /// Text already in the column's final form (string, normalised decimal or guid, compact JSON).
  /// Refuses (and sets over_limit()) text that would pass the decoded limit.
  problem raw_text(size_t c, std::string_view v);

  /// Counts the next row's fixed cost; false (and over_limit()) when it would pass the decoded
  /// limit, and then the caller appends nothing more.
  bool begin_record() {
    if (decoded_limit_ - decoded_ < row_fixed_) {
      over_limit_ = true;
      return false;
    }
    decoded_ += row_fixed_;
    return true;
  }
  void end_record() { ++rows_; }
  /// True once a row or a text was refused for the decoded limit.
  bool over_limit() const { return over_limit_; }
  size_t rows() const { return rows_; }
  /// The finished batch (ingestion_ticks left to the caller).
  model::column_batch finish();

 private:
  const std::vector<model::column>& schema_;
  model::column_batch batch_;
  size_t rows_ = 0;
  const size_t decoded_limit_;
  const size_t row_fixed_;
  size_t expected_rows_ = 0;  // the first guess, clamped
  size_t decoded_ = 0;  // <= decoded_limit_
  bool over_limit_ = false;
  std::string scratch_;
  std::unique_ptr<dynamic_text> dynamic_;
};

}  // namespace tributary::ingest::detail
