#include "ingest/ingest.hpp"

#include <fmt/format.h>

#include <array>

#include "ingest/formats.hpp"

namespace tributary::ingest {
namespace {

constexpr std::array<std::string_view, 7> format_names{"csv", "tsv",  "scsv",     "sohsv",
                                                       "psv", "json", "multijson"};

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != b[i]) return false;
  }
  return true;
}

}  // namespace

std::string_view to_string(format f) {
  return format_names[static_cast<size_t>(f)];
}

std::optional<format> parse_format(std::string_view name) {
  for (size_t i = 0; i < format_names.size(); ++i)
    if (iequals(name, format_names[i])) return static_cast<format>(i);
  return std::nullopt;
}

model::mapping_kind mapping_kind_for(format f) {
  return f == format::json || f == format::multijson ? model::mapping_kind::json
                                                     : model::mapping_kind::csv;
}

std::variant<model::column_batch, model::error> parse(format f, std::string_view data,
                                                      const model::table& table,
                                                      const model::mapping* mapping,
                                                      size_t decoded_limit) {
  if (mapping && mapping->kind != mapping_kind_for(f)) {
    return model::error{
        "BadRequest_InconsistentMapping",
        fmt::format("mapping '{}' is a {} mapping, but format {} takes a {} mapping", mapping->name,
                    model::to_string(mapping->kind), to_string(f),
                    model::to_string(mapping_kind_for(f))),
        true};
  }
  // A UTF-8 byte order mark is not data.
  if (data.starts_with("\xEF\xBB\xBF")) data.remove_prefix(3);
  if (const char sep = detail::separator(f)) return detail::parse_csv(sep, data, table, mapping, decoded_limit);
  if (f == format::json || f == format::multijson)
    return detail::parse_json(f == format::multijson, data, table, mapping, decoded_limit);
  return model::error{"BadRequest_FormatNotSupported", "unknown format", true};
}

namespace detail {

std::variant<size_t, model::error> mapped_column(const model::table& t, const model::mapping& m,
                                                 const model::mapping_element& e) {
  for (size_t i = 0; i < t.columns.size(); ++i) {
    if (t.columns[i].name != e.column) continue;
    if (e.data_type && *e.data_type != t.columns[i].type) {
      return model::error{
          "BadRequest_InconsistentMapping",
          fmt::format(
              "mapping '{}' gives column '{}' DataType {}, but table '{}' now has it as {}; "
              "update the mapping with .create-or-alter table {} ingestion {} mapping '{}'",
              m.name, e.column, model::to_string(*e.data_type), t.name,
              model::to_string(t.columns[i].type), t.name, model::to_string(m.kind), m.name),
          true};
    }
    return i;
  }
  return model::error{
      "BadRequest_InconsistentMapping",
      fmt::format(
          "mapping '{}' maps column '{}', which table '{}' no longer has; update the mapping "
          "with .create-or-alter table {} ingestion {} mapping '{}'",
          m.name, e.column, t.name, t.name, model::to_string(m.kind), m.name),
      true};
}

}  // namespace detail
}  // namespace tributary::ingest
