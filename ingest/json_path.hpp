#pragma once
/// Private to ingest/: the JSONPath subset of Kusto's json mappings: "$", "$.a.b", "$['x y']",
/// "$[\"x\"]", "$.arr[2]" and their combinations.

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "ingest/json_dom.hpp"

namespace tributary::ingest::detail {

/// One step down: a property name, or an array index.
struct path_step {
  std::string key;
  size_t index = 0;
  bool is_index = false;
};

/// A compiled path; no steps means the whole record ("$").
struct json_path {
  std::vector<path_step> steps;
};

/// Compiles `text` (which starts with '$'); on failure, a message saying what is wrong where.
std::variant<json_path, std::string> compile_path(std::string_view text);

/// The element `path` names below `root`; false when it is absent: a missing property, an index
/// past the end, or a step into a value of another kind.
bool find(simdjson::dom::element root, const json_path& path, simdjson::dom::element& out);

}  // namespace tributary::ingest::detail
