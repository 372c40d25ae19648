#pragma once
/// Private to ingest/: helpers over simdjson's DOM shared by the JSON parser and json_text.cpp.
/// simdjson.h is large: only the JSON translation units include this header.

#include <simdjson.h>

#include <string>

namespace tributary::ingest::detail {

/// Deepest JSON nesting accepted in a record or a dynamic value; deeper input is an error, not
/// a stack overflow.
inline constexpr size_t max_json_depth = 512;

/// Appends the compact JSON of `e` (no whitespace, strings re-escaped, numbers re-printed).
void append_compact(std::string& out, simdjson::dom::element e);

/// simdjson's message for an error code, without its enum-like prefix.
std::string json_error_text(simdjson::error_code e);

}  // namespace tributary::ingest::detail
