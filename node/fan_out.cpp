#include "node/fan_out.hpp"

#include <fmt/format.h>

#include "actors/table_query.hpp"

namespace tributary::node {
namespace {

std::string describe(const std::vector<missing_shard>& missing) {
  std::string out;
  for (const auto& m : missing) {
    if (!out.empty()) out += ", ";
    out += fmt::format("{} ({})", m.node_id, m.reason);
  }
  return out;
}

std::string describe(const std::vector<model::column>& columns) {
  std::string out = "(";
  for (const auto& c : columns) {
    if (out.size() > 1) out += ", ";
    out += fmt::format("{}:{}", c.name, model::to_string(c.type));
  }
  return out + ")";
}

model::error partial_failure(const query::plan& plan, const std::vector<missing_shard>& missing, bool none_answered) {
  // Kusto: after a partial failure "the consumer should ignore the entire result"; so the
  // default fails visibly, and the message says how to get the partial rows knowingly.
  return {"PartialQueryFailure",
          fmt::format("shards of table '{}' unavailable on {}; retry, or run the query with `set best_effort=true;` "
                      "to get the rows of the nodes that answered{}",
                      plan.table, describe(missing), none_answered ? " (none answered this time)" : ""),
          false};
}

model::error too_large_records() {
  return {"QueryResultSetTooLarge",
          fmt::format("the result has more than {} records, the limit of a query result; narrow it "
                      "(| where ingestion_time() > ago(...), | take {}) or count it (| count)",
                      actors::max_result_records, actors::max_result_records),
          true};
}

model::error too_large_bytes(uint64_t records, uint64_t bytes) {
  // The rows so far tell how many fit on average.
  const uint64_t fit = records == 0 ? 0 : actors::max_result_bytes / (bytes / records);
  return {"QueryResultSetTooLarge",
          fmt::format("the result is larger than {} bytes (64 MB), the limit of a query result, after {} records of "
                      "the nodes' shards; narrow it (| where ingestion_time() > ago(...), | take {}) or count it "
                      "(| count)",
                      actors::max_result_bytes, records, fit),
          true};
}

model::outcome merge_counts(const query::plan& plan, std::vector<shard_answer>& answers) {
  int64_t total = 0;
  for (const auto& a : answers) {
    const auto& t = std::get<model::result_table>(a.outcome);
    const int64_t* n = t.rows.size() == 1 && t.rows[0].size() == 1 ? std::get_if<int64_t>(&t.rows[0][0]) : nullptr;
    if (!n)
      return model::error{"InternalServerError",
                          fmt::format("node {} answered `{} | count` with {} rows of columns {}, not one count; "
                                      "the nodes run different versions of Tributary",
                                      a.node_id, plan.table, t.rows.size(), describe(t.columns)),
                          true};
    total += *n;
  }
  return actors::count_result(static_cast<uint64_t>(total));
}

model::outcome merge_takes(const query::plan& plan, std::vector<shard_answer>& answers) {
  model::result_table out = std::move(std::get<model::result_table>(answers.front().outcome));
  if (out.rows.size() > plan.take) out.rows.resize(plan.take);
  uint64_t bytes = actors::encoded_bytes(out.columns);
  for (const auto& row : out.rows) bytes += actors::encoded_bytes(row);
  for (size_t i = 1; i < answers.size(); ++i) {
    auto& t = std::get<model::result_table>(answers[i].outcome);
    for (auto& row : t.rows) {
      if (out.rows.size() >= plan.take) break;
      bytes += actors::encoded_bytes(row);
      out.rows.push_back(std::move(row));
      // One record past the limit tells a result that is too large from one that just fits.
      if (out.rows.size() > actors::max_result_records) return too_large_records();
      if (bytes > actors::max_result_bytes) return too_large_bytes(out.rows.size(), bytes);
    }
  }
  if (out.rows.size() > actors::max_result_records) return too_large_records();
  if (bytes > actors::max_result_bytes) return too_large_bytes(out.rows.size(), bytes);
  return out;
}

}  // namespace

merged_answer merge(const query::plan& plan, std::vector<shard_answer> answers,
                    const std::vector<missing_shard>& missing_nodes) {
  for (const auto& a : answers)
    if (const auto* e = std::get_if<model::error>(&a.outcome); e && e->permanent) return {*e, {}};

  std::vector<missing_shard> missing = missing_nodes;
  std::vector<shard_answer> tables;
  for (auto& a : answers) {
    if (const auto* e = std::get_if<model::error>(&a.outcome))
      missing.push_back({a.node_id, fmt::format("{}: {}", e->code, e->message)});
    else
      tables.push_back(std::move(a));
  }
  if (tables.empty()) return {partial_failure(plan, missing, true), {}};
  if (!missing.empty() && !plan.best_effort) return {partial_failure(plan, missing, false), {}};

  const auto& columns = std::get<model::result_table>(tables.front().outcome).columns;
  for (const auto& t : tables)
    if (const auto& c = std::get<model::result_table>(t.outcome).columns; c != columns)
      return {model::error{"ShardSchemaMismatch",
                           fmt::format("the shards of table '{}' answer different columns: {} on node {}, {} on node "
                                       "{}; the nodes are applying different catalog versions: retry shortly",
                                       plan.table, describe(columns), tables.front().node_id, describe(c), t.node_id),
                           false},
              {}};

  merged_answer out{plan.what == query::plan::op::count ? merge_counts(plan, tables) : merge_takes(plan, tables), {}};
  if (!missing.empty() && std::holds_alternative<model::result_table>(out.outcome))
    out.warnings.push_back(fmt::format(
        "PartialQueryFailure (best_effort): shards of table '{}' unavailable on {}; the result holds only the rows of "
        "the nodes that answered",
        plan.table, describe(missing)));
  return out;
}

}  // namespace tributary::node
