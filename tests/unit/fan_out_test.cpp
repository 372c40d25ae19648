// Query fan-out's merge (node/fan_out.hpp): the shards' answers of every node made into one,
// and the nodes that did not answer failing the query visibly unless it asked for best_effort.

#include <gtest/gtest.h>

#include "actors/table_query.hpp"
#include "node/fan_out.hpp"
#include "tests/unit/test_util.hpp"

namespace tributary::node {
namespace {

using ct = model::column_type;

query::plan plan_of(std::string_view text) {
  auto r = query::parse(text);
  EXPECT_TRUE(std::holds_alternative<query::plan>(r)) << text;
  return std::get<query::plan>(r);
}

shard_answer count_of(std::string node, int64_t n) {
  return {std::move(node), actors::count_result(static_cast<uint64_t>(n))};
}

// A shard of `rows` rows (a:long, s:string), the values starting at `first`.
shard_answer rows_of(std::string node, int64_t first, int64_t rows) {
  model::result_table t;
  t.columns = {{"a", ct::long_}, {"s", ct::string}};
  for (int64_t i = 0; i < rows; ++i) t.rows.push_back({first + i, std::string("x")});
  return {std::move(node), std::move(t)};
}

shard_answer error_of(std::string node, std::string code, bool permanent) {
  auto message = "message of " + node;
  return {std::move(node), model::error{std::move(code), std::move(message), permanent}};
}

const model::result_table& table(const merged_answer& m) {
  static const model::result_table none;
  if (const auto* e = std::get_if<model::error>(&m.outcome)) {
    ADD_FAILURE() << "an error: " << e->code << ": " << e->message;
    return none;
  }
  return std::get<model::result_table>(m.outcome);
}

const model::error& error(const merged_answer& m) {
  static const model::error none;
  if (!std::holds_alternative<model::error>(m.outcome)) {
    ADD_FAILURE() << "a table, not an error";
    return none;
  }
  return std::get<model::error>(m.outcome);
}

TEST(fan_out_merge, counts_are_summed_into_one_row) {
  auto m = merge(plan_of("T | count"), {count_of("node-1", 3), count_of("node-2", 0), count_of("node-3", 39)}, {});
  const auto& t = table(m);
  ASSERT_EQ(t.columns.size(), 1u);
  EXPECT_EQ(t.columns[0].name, "Count");
  EXPECT_EQ(t.columns[0].type, ct::long_);
  ASSERT_EQ(t.rows.size(), 1u);
  EXPECT_EQ(t.rows[0][0], model::value{int64_t{42}});
  EXPECT_TRUE(m.warnings.empty());
}

TEST(fan_out_merge, takes_are_concatenated_in_node_order) {
  auto m = merge(plan_of("T | take 100"), {rows_of("node-1", 0, 2), rows_of("node-2", 10, 3)}, {});
  const auto& t = table(m);
  ASSERT_EQ(t.rows.size(), 5u);
  EXPECT_EQ(t.rows[0][0], model::value{int64_t{0}});
  EXPECT_EQ(t.rows[1][0], model::value{int64_t{1}});
  EXPECT_EQ(t.rows[2][0], model::value{int64_t{10}});
  EXPECT_EQ(t.rows[4][0], model::value{int64_t{12}});
  EXPECT_EQ(t.columns.size(), 2u);
}

TEST(fan_out_merge, take_n_keeps_at_most_n_rows) {
  auto m = merge(plan_of("T | take 4"), {rows_of("node-1", 0, 3), rows_of("node-2", 10, 3), rows_of("node-3", 20, 3)}, {});
  const auto& t = table(m);
  ASSERT_EQ(t.rows.size(), 4u);
  EXPECT_EQ(t.rows[3][0], model::value{int64_t{10}});
  EXPECT_EQ(table(merge(plan_of("T | take 0"), {rows_of("node-1", 0, 3)}, {})).rows.size(), 0u);
}

TEST(fan_out_merge, empty_shards_merge_to_their_columns) {
  auto m = merge(plan_of("T"), {rows_of("node-1", 0, 0), rows_of("node-2", 0, 0)}, {});
  const auto& t = table(m);
  EXPECT_EQ(t.rows.size(), 0u);
  EXPECT_EQ(t.columns.size(), 2u);
}

TEST(fan_out_merge, a_missing_node_fails_the_query_naming_it_and_why) {
  auto m = merge(plan_of("T | count"), {count_of("node-1", 3), count_of("node-2", 4)},
                 {{"node-3", "not reachable: connect(): Connection refused"}});
  const auto& e = error(m);
  EXPECT_EQ(e.code, "PartialQueryFailure");
  EXPECT_FALSE(e.permanent);
  EXPECT_HAS(e.message, "node-3 (not reachable: connect(): Connection refused)");
  EXPECT_HAS(e.message, "set best_effort=true;");
  EXPECT_HAS(e.message, "'T'");
  EXPECT_TRUE(m.warnings.empty());
}

TEST(fan_out_merge, a_transient_error_makes_its_node_missing) {
  auto m = merge(plan_of("T | count"), {count_of("node-1", 3), error_of("node-2", "Throttling", false)},
                 {{"node-3", "timed out after 5000 ms"}});
  const auto& e = error(m);
  EXPECT_EQ(e.code, "PartialQueryFailure");
  EXPECT_HAS(e.message, "node-3 (timed out after 5000 ms)");
  EXPECT_HAS(e.message, "node-2 (Throttling: message of node-2)");
}

TEST(fan_out_merge, best_effort_merges_the_nodes_that_answered_with_a_warning) {
  auto m = merge(plan_of("set best_effort=true; T | count"), {count_of("node-1", 3), count_of("node-2", 4)},
                 {{"node-3", "down: holds no lease in the cluster"}});
  const auto& t = table(m);
  ASSERT_EQ(t.rows.size(), 1u);
  EXPECT_EQ(t.rows[0][0], model::value{int64_t{7}});
  ASSERT_EQ(m.warnings.size(), 1u);
  EXPECT_HAS(m.warnings[0], "node-3 (down: holds no lease in the cluster)");
  EXPECT_HAS(m.warnings[0], "best_effort");

  auto takes = merge(plan_of("set best_effort; T | take 10"), {rows_of("node-1", 0, 2), error_of("node-2", "X", false)}, {});
  EXPECT_EQ(table(takes).rows.size(), 2u);
  ASSERT_EQ(takes.warnings.size(), 1u);
  EXPECT_HAS(takes.warnings[0], "node-2 (X: message of node-2)");
}

TEST(fan_out_merge, best_effort_with_no_node_answered_still_fails) {
  auto m = merge(plan_of("set best_effort=true; T | count"), {error_of("node-1", "InternalServerError", false)},
                 {{"node-2", "timed out after 5000 ms"}});
  EXPECT_EQ(error(m).code, "PartialQueryFailure");
  EXPECT_HAS(error(m).message, "none answered");
}

TEST(fan_out_merge, a_permanent_error_is_the_answer_as_is) {
  auto m = merge(plan_of("T | count"),
                 {count_of("node-1", 3), error_of("node-2", "BadRequest_EntityNotFound", true)},
                 {{"node-3", "timed out after 5000 ms"}});
  EXPECT_EQ(error(m), (model::error{"BadRequest_EntityNotFound", "message of node-2", true}));
}

TEST(fan_out_merge, shards_of_different_columns_are_a_transient_error) {
  auto other = rows_of("node-2", 0, 1);
  std::get<model::result_table>(other.outcome).columns[1].type = ct::dynamic;
  auto m = merge(plan_of("T | take 5"), {rows_of("node-1", 0, 1), other}, {});
  EXPECT_EQ(error(m).code, "ShardSchemaMismatch");
  EXPECT_FALSE(error(m).permanent);
  EXPECT_HAS(error(m).message, "(a:long, s:dynamic) on node node-2");
}

TEST(fan_out_merge, the_merged_result_keeps_the_record_limit_of_one_result) {
  const auto half = static_cast<int64_t>(actors::max_result_records / 2);
  auto m = merge(plan_of("T"), {rows_of("node-1", 0, half), rows_of("node-2", 0, half), rows_of("node-3", 0, 2)}, {});
  EXPECT_EQ(error(m).code, "QueryResultSetTooLarge");
  EXPECT_TRUE(error(m).permanent);
  // Within `take`, the same shards fit.
  auto fits = merge(plan_of("T | take 1000"), {rows_of("node-1", 0, half), rows_of("node-2", 0, half)}, {});
  EXPECT_EQ(table(fits).rows.size(), 1000u);
}

TEST(fan_out_merge, the_merged_result_keeps_the_byte_limit_of_one_result) {
  // Three shards of 30 MB each: each fits alone, together they do not.
  auto big = [](std::string node) {
    model::result_table t;
    t.columns = {{"s", ct::string}};
    for (int i = 0; i < 30; ++i) t.rows.push_back({std::string(1u << 20, 'x')});
    return shard_answer{std::move(node), std::move(t)};
  };
  auto m = merge(plan_of("T"), {big("node-1"), big("node-2"), big("node-3")}, {});
  EXPECT_EQ(error(m).code, "QueryResultSetTooLarge");
  EXPECT_HAS(error(m).message, "64 MB");
}

}  // namespace
}  // namespace tributary::node
