#pragma once
/// The small query subset of the streaming-ingest issue, enough to check ingestion:
///   T | count
///   T | take N          (also: limit N)
///   T | where ingestion_time() > ago(<timespan>) | count     (also with take)
/// optionally after Kusto's set statements (request properties), of which one is known:
///   set best_effort=true;   (also `set best_effort;`, `set best_effort=false;`)
/// Kept separate and small so that the real query engine can replace it.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "model/types.hpp"

namespace tributary::query {

struct plan {
  std::string table;
  enum class op : uint8_t { count, take } what = op::take;
  uint64_t take = UINT64_MAX;  ///< rows at most (`take N`); the node bounds every result itself
  /// ingestion_time() > now - this (100-ns ticks), when the query has that filter.
  std::optional<int64_t> ingested_within_ticks;
  /// `set best_effort=true;`: in a cluster, answer with the rows of the nodes that answered
  /// (and a warning naming the others) instead of failing with PartialQueryFailure.
  bool best_effort = false;
};

/// Parses `text`; errors are "BadRequest_SyntaxError" with the position and what is supported
/// (an unknown `set` option is named in the error, never ignored).
std::variant<plan, model::error> parse(std::string_view text);

}  // namespace tributary::query
