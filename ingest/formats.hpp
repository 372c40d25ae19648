#pragma once
/// Private to ingest/: the two parser families behind ingest::parse. Both take a UTF-8 payload
/// without its BOM and a mapping already checked to be of the right kind (or none).

#include <string_view>
#include <variant>

#include "model/batch.hpp"
#include "ingest/ingest.hpp"
#include "model/catalog.hpp"

namespace tributary::ingest::detail {

/// The field separator of a CSV-like format; 0 for the JSON formats.
constexpr char separator(format f) {
  switch (f) {
    case format::csv: return ',';
    case format::tsv: return '\t';
    case format::scsv: return ';';
    case format::sohsv: return '\x01';
    case format::psv: return '|';
    case format::json:
    case format::multijson: return 0;
  }
  return 0;
}

/// CSV-like formats with separator `sep` (RFC 4180 quoting for every separator). Past
/// `decoded_limit` bytes of rows: decoded_too_large.
std::variant<model::column_batch, model::error> parse_csv(char sep, std::string_view data,
                                                          const model::table& t,
                                                          const model::mapping* m,
                                                          size_t decoded_limit);

/// JSON Lines (`multi` false) or MultiJSON (`multi` true). Past `decoded_limit` bytes of rows:
/// decoded_too_large.
std::variant<model::column_batch, model::error> parse_json(bool multi, std::string_view data,
                                                           const model::table& t,
                                                           const model::mapping* m,
                                                           size_t decoded_limit);

/// The column a mapping element targets, or an error when the table no longer has it.
std::variant<size_t, model::error> mapped_column(const model::table& t, const model::mapping& m,
                                                 const model::mapping_element& e);

}  // namespace tributary::ingest::detail
