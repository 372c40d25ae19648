#pragma once
/// Event Hub's system properties (x-opt-offset, x-opt-enqueued-time, ...) added to a message's
/// records before they are parsed, as Azure Data Explorer's Event Hub data connections add them
/// (docs/data-connections.md "Ingestion semantics"): so the same parsers and mappings read them.

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "ingest/ingest.hpp"
#include "model/types.hpp"

namespace tributary::ingest {

/// One system property of a message.
struct event_property {
  std::string name;                  ///< as Kusto names it: "x-opt-offset", ...
  std::optional<std::string> value;  ///< its text; none: null (a message without a key)
  bool text = false;                 ///< a string (quoted in JSON), not a number
};

/// `message` with `properties` added to each of its records: CSV-like formats get them as the
/// first fields of every record, in the order given (a mapping's Ordinal 0 is the first); the
/// JSON formats as the first members of every object, by name (a mapping reads them by path,
/// "$.x-opt-offset"). Kusto adds them to the first record of a message only; here every record
/// of the message carries its message's properties. Text that is not valid JSON is returned
/// unchanged, for the parser to name the error. A result past `limit` bytes (a long key on many
/// short records) is refused, permanently, before it is built: "BadRequest_RequestTooLarge".
std::variant<std::string, model::error> with_event_properties(format f, std::string_view message,
                                                              const std::vector<event_property>& properties,
                                                              size_t limit = max_request_bytes);

}  // namespace tributary::ingest
