#pragma once
/// Private to commands/: ingestion-mapping JSON (validation against a table, normalisation) and
/// the JSON checks shared with policy parsing. Never throws.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "model/catalog.hpp"

namespace tributary::commands {

/// Deepest nesting of arrays/objects accepted in mapping or policy JSON; deeper input is
/// refused before it reaches the JSON parser.
inline constexpr size_t max_json_depth = 32;

/// Where a JSON text is too deeply nested: a message, or nullopt when its depth is fine.
/// Linear in `json`; strings are skipped correctly.
std::optional<std::string> check_json_depth(std::string_view json, size_t max_depth = max_json_depth);

/// The useful part of a JSON parser's exception message (without its "[json.exception...] "
/// prefix), truncated to a few hundred characters.
std::string json_error_text(std::string_view what);

/// A problem in a JSON path: the 1-based character position and what is wrong there.
struct path_problem {
  size_t position = 0;
  std::string reason;
};

/// Checks a simple JSONPath: "$", "$.a.b", "$['x y']", "$.arr[2]". Wildcards and recursive
/// descent are refused. nullopt when valid.
std::optional<path_problem> check_json_path(std::string_view path);

/// Parses mapping JSON (Kusto's documented element shape or the legacy flat shapes) of `kind`
/// for table `t` and validates it: every element maps an existing column once, csv elements
/// have an Ordinal (or ConstValue / SourceLocation), json elements a valid Path (or ConstValue
/// / a source transform). On failure returns a BadRequest_InvalidMapping error naming the
/// element index and property. `mapping_name` and `database` are only used in messages.
std::variant<std::vector<model::mapping_element>, model::error> parse_mapping(
    model::mapping_kind kind, std::string_view json, const model::table& t, std::string_view mapping_name);

/// The normalised JSON of a mapping's elements, in Kusto's documented shape:
/// [{"Column":"a","DataType":"int","Properties":{"Ordinal":"0"}}, ...] (DataType only if set).
std::string mapping_json(const std::vector<model::mapping_element>& elements);

}  // namespace tributary::commands
