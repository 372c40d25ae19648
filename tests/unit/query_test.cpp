// The query subset's parser (query/query.hpp): Kusto's set statements before the query, and the
// errors that name what is wrong.

#include <gtest/gtest.h>

#include "query/query.hpp"
#include "tests/unit/test_util.hpp"

namespace tributary::query {
namespace {

plan parsed(std::string_view text) {
  auto r = parse(text);
  if (auto* e = std::get_if<model::error>(&r)) {
    ADD_FAILURE() << "'" << text << "' failed: " << e->code << ": " << e->message;
    return {};
  }
  return std::get<plan>(r);
}

model::error failed(std::string_view text) {
  auto r = parse(text);
  if (auto* e = std::get_if<model::error>(&r)) return *e;
  ADD_FAILURE() << "'" << text << "' parsed";
  return {};
}

TEST(query_parse, best_effort_is_off_without_a_set_statement) {
  auto p = parsed("T | count");
  EXPECT_EQ(p.table, "T");
  EXPECT_EQ(p.what, plan::op::count);
  EXPECT_FALSE(p.best_effort);
}

TEST(query_parse, set_best_effort_true_false_and_bare) {
  EXPECT_TRUE(parsed("set best_effort=true; T | count").best_effort);
  EXPECT_TRUE(parsed("set best_effort; T | take 5").best_effort);
  EXPECT_TRUE(parsed("  set   best_effort  =  True ;\nT").best_effort);
  EXPECT_FALSE(parsed("set best_effort=false; T | count").best_effort);
  // The last one wins, as with repeated request properties.
  EXPECT_TRUE(parsed("set best_effort=false; set best_effort=true; T").best_effort);
}

TEST(query_parse, the_query_after_set_statements_is_parsed_as_before) {
  auto p = parsed("set best_effort=true; Logs | where ingestion_time() > ago(5m) | take 7");
  EXPECT_EQ(p.table, "Logs");
  EXPECT_EQ(p.what, plan::op::take);
  EXPECT_EQ(p.take, 7u);
  EXPECT_EQ(p.ingested_within_ticks, int64_t{5} * 60 * model::ticks_per_second);
}

TEST(query_parse, tables_whose_names_start_with_set_are_tables) {
  EXPECT_EQ(parsed("settings | count").table, "settings");
  EXPECT_EQ(parsed("set_1 | count").table, "set_1");
  EXPECT_EQ(parsed("['set'] | count").table, "set");
}

TEST(query_parse, rejects_unknown_options_by_name) {
  auto e = failed("set notruncation; T | count");
  EXPECT_EQ(e.code, "BadRequest_SyntaxError");
  EXPECT_TRUE(e.permanent);
  EXPECT_HAS(e.message, "position 5");
  EXPECT_HAS(e.message, "'notruncation'");
  EXPECT_HAS(e.message, "best_effort");
}

TEST(query_parse, option_names_are_case_sensitive) {
  EXPECT_HAS(failed("set Best_Effort=true; T").message, "'Best_Effort'");
}

TEST(query_parse, rejects_malformed_set_statements) {
  EXPECT_HAS(failed("set best_effort=yes; T").message, "true or false");
  EXPECT_HAS(failed("set best_effort=true T | count").message, "';' after the set statement");
  EXPECT_HAS(failed("set ; T").message, "an option name after set");
  EXPECT_HAS(failed("set best_effort=true;").message, "a table name");
}

}  // namespace
}  // namespace tributary::query
