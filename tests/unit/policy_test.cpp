#include <gtest/gtest.h>

#include <cmath>

#include "commands/policy.hpp"
#include "test_util.hpp"

namespace tributary::testing {
namespace {

using change_kind = model::change::kind;

constexpr std::string_view enabled_json = R"({"IsEnabled":true,"HintAllocatedRate":null})";
constexpr std::string_view disabled_json = R"({"IsEnabled":false,"HintAllocatedRate":null})";

// --- policy JSON ---

commands::policy_patch patch_of(std::string_view json) {
  auto r = commands::parse_policy(json, "table 'T'");
  if (auto* e = std::get_if<model::error>(&r)) {
    ADD_FAILURE() << json << ": " << e->message;
    return {};
  }
  return std::get<commands::policy_patch>(r);
}

model::error policy_error(std::string_view json) {
  auto r = commands::parse_policy(json, "table 'T'");
  if (!std::holds_alternative<model::error>(r)) {
    ADD_FAILURE() << "accepted: " << json;
    return {};
  }
  auto e = std::get<model::error>(r);
  EXPECT_EQ(e.code, "BadRequest_InvalidPolicy");
  EXPECT_TRUE(e.permanent);
  EXPECT_HAS(e.message, "Invalid streaming ingestion policy for table 'T'");
  return e;
}

TEST(policy_json, reads_both_properties_case_insensitively) {
  auto p = patch_of(R"({"IsEnabled": true, "HintAllocatedRate": 2.1})");
  EXPECT_EQ(p.is_enabled, true);
  EXPECT_TRUE(p.has_hint_allocated_rate);
  EXPECT_EQ(p.hint_allocated_rate, 2.1);
  p = patch_of(R"({"isenabled": false, "hintAllocatedRate": null})");
  EXPECT_EQ(p.is_enabled, false);
  EXPECT_TRUE(p.has_hint_allocated_rate);
  EXPECT_FALSE(p.hint_allocated_rate.has_value());
  p = patch_of(R"({"HintAllocatedRate": 0})");
  EXPECT_FALSE(p.is_enabled.has_value());
  EXPECT_EQ(p.hint_allocated_rate, 0.0);
  p = patch_of("{}");
  EXPECT_FALSE(p.is_enabled.has_value());
  EXPECT_FALSE(p.has_hint_allocated_rate);
}

TEST(policy_json, refuses_wrong_types_negative_rates_and_unknown_properties) {
  EXPECT_HAS(policy_error(R"({"IsEnabled": "yes"})").message, "property 'IsEnabled' must be true or false, found string");
  EXPECT_HAS(policy_error(R"({"IsEnabled": null})").message, "must be true or false, found null");
  EXPECT_HAS(policy_error(R"({"IsEnabled": true, "HintAllocatedRate": -1})").message,
             "'HintAllocatedRate' must be a non-negative number (GB per hour) or null, found -1");
  EXPECT_HAS(policy_error(R"({"IsEnabled": true, "HintAllocatedRate": "2"})").message, "found string");
  EXPECT_HAS(policy_error(R"({"IsEnabled": true, "HintAllocatedRate": 1e400})").message, "number overflow");
  auto e = policy_error(R"({"IsEnabled": true, "NumberOfRowStores": 4, "Extra": 1})");
  EXPECT_HAS(e.message, "unknown properties 'Extra', 'NumberOfRowStores'");
  EXPECT_HAS(policy_error(R"({"IsEnabled": true, "isenabled": false})").message, "IsEnabled is given more than once");
  EXPECT_HAS(policy_error("[true]").message, "must be a JSON object, found array");
  EXPECT_HAS(policy_error("{IsEnabled: true}").message, "the policy is not valid JSON");
  EXPECT_HAS(policy_error(std::string(40, '{')).message, "nesting deeper than 32");
}

TEST(policy_json, hint_allocated_rate_is_bounded_before_anything_multiplies_it) {
  // The table turns the rate into a byte count (rate * 1e9 / 12), which must fit in 64 bits.
  EXPECT_EQ(patch_of(R"({"HintAllocatedRate": 1000000})").hint_allocated_rate, commands::max_hint_allocated_rate);
  EXPECT_LT(commands::max_hint_allocated_rate * 1e9 / 12, 18446744073709551615.0);
  auto e = policy_error(R"({"IsEnabled": true, "HintAllocatedRate": 1000000.5})");
  EXPECT_HAS(e.message, "property 'HintAllocatedRate' is 1000000.5 GB per hour, more than the largest rate a "
                        "table can be given (1000000 GB per hour, a petabyte an hour); give the expected hourly "
                        "volume in gigabytes, or null");
  EXPECT_HAS(policy_error(R"({"HintAllocatedRate": 1.7976931348623157e308})").message, "more than the largest rate");
  EXPECT_HAS(policy_error(R"({"HintAllocatedRate": 18446744073709551615})").message, "more than the largest rate");
  EXPECT_HAS(policy_error(R"({"HintAllocatedRate": -1e-300})").message, "must be a non-negative number");
  EXPECT_HAS(policy_error(R"({"HintAllocatedRate": -Infinity})").message, "the policy is not valid JSON");
  EXPECT_HAS(policy_error(R"({"HintAllocatedRate": NaN})").message, "the policy is not valid JSON");
  // -0 is zero, and shows as 0.
  auto zero = patch_of(R"({"HintAllocatedRate": -0.0})").hint_allocated_rate;
  ASSERT_TRUE(zero.has_value());
  EXPECT_FALSE(std::signbit(*zero));
}

TEST(policy_json, apply_replaces_only_given_properties) {
  model::streaming_policy base{true, 3.0};
  EXPECT_EQ(commands::apply(base, patch_of(R"({"IsEnabled": false})")), (model::streaming_policy{false, 3.0}));
  EXPECT_EQ(commands::apply(base, patch_of(R"({"HintAllocatedRate": null})")), (model::streaming_policy{true, std::nullopt}));
  EXPECT_EQ(commands::apply(base, patch_of("{}")), base);
}

// --- .alter / .alter-merge / .delete / .show ---

TEST(alter_policy, table_json_sets_the_policy_and_returns_the_show_output) {
  auto cat = sample_catalog();
  auto ex = run(cat, R"(.alter table T policy streamingingestion '{"IsEnabled": true, "HintAllocatedRate": 2.1}')", "Db");
  EXPECT_EQ(ex.kind, "alter_policy");
  ASSERT_EQ(ex.changes.size(), 1u);
  EXPECT_EQ(ex.changes[0].what, change_kind::put_table);
  EXPECT_EQ(ex.changes[0].table_name, "T");
  auto r = table_of(ex);
  EXPECT_EQ(column_names(r), "PolicyName,EntityName,Policy,ChildEntities,EntityType");
  EXPECT_EQ(r.columns[3].type, model::column_type::dynamic);
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(cell(r, 0, "PolicyName"), "StreamingIngestionPolicy");
  EXPECT_EQ(cell(r, 0, "EntityName"), "[Db].[T]");
  EXPECT_EQ(cell(r, 0, "Policy"), R"({"IsEnabled":true,"HintAllocatedRate":2.1})");
  EXPECT_EQ(cell(r, 0, "EntityType"), "Table");
  EXPECT_EQ(cat.find_database("Db")->tables.at("T").policy, (model::streaming_policy{true, 2.1}));
}

TEST(alter_policy, database_policy_lists_child_tables) {
  auto cat = sample_catalog();
  ok(cat, ".create table U (a:int)", "Db");
  auto ex = run(cat, ".alter database Db policy streamingingestion enable");
  ASSERT_EQ(ex.changes.size(), 1u);
  EXPECT_EQ(ex.changes[0].what, change_kind::put_database);
  EXPECT_EQ(ex.changes[0].database_name, "Db");
  auto r = table_of(ex);
  EXPECT_EQ(cell(r, 0, "EntityName"), "[Db]");
  EXPECT_EQ(cell(r, 0, "EntityType"), "Database");
  EXPECT_EQ(cell(r, 0, "Policy"), enabled_json);
  EXPECT_EQ(cell(r, 0, "ChildEntities"), R"(["[Db].[T]","[Db].[U]"])");
}

TEST(alter_policy, is_enabled_is_mandatory_for_alter) {
  auto cat = sample_catalog();
  auto before = snapshot(cat);
  auto e = fails(cat, R"(.alter table T policy streamingingestion '{"HintAllocatedRate": 1}')", "Db");
  EXPECT_EQ(e.code, "BadRequest_InvalidPolicy");
  EXPECT_HAS(e.message, "table 'T' in database 'Db': IsEnabled is mandatory and has no default");
  EXPECT_HAS(e.message, ".alter-merge");
  EXPECT_EQ(snapshot(cat), before);
}

TEST(alter_policy, json_replaces_the_whole_policy) {
  auto cat = sample_catalog();
  ok(cat, R"(.alter table T policy streamingingestion '{"IsEnabled": true, "HintAllocatedRate": 5}')", "Db");
  ok(cat, R"(.alter table T policy streamingingestion '{"IsEnabled": false}')", "Db");
  EXPECT_EQ(cat.find_database("Db")->tables.at("T").policy, (model::streaming_policy{false, std::nullopt}));
}

TEST(alter_policy, enable_and_disable_keep_other_properties) {
  auto cat = sample_catalog();
  ok(cat, ".alter table T policy streamingingestion enable", "Db");
  EXPECT_EQ(cat.find_database("Db")->tables.at("T").policy, (model::streaming_policy{true, std::nullopt}));
  ok(cat, R"(.alter table T policy streamingingestion '{"IsEnabled": true, "HintAllocatedRate": 4.5}')", "Db");
  auto r = ok(cat, ".alter table T policy streamingingestion disable", "Db");
  EXPECT_EQ(cell(r, 0, "Policy"), R"({"IsEnabled":false,"HintAllocatedRate":4.5})");
}

TEST(alter_policy, setting_the_same_policy_again_changes_nothing) {
  auto cat = sample_catalog();
  ok(cat, ".alter table T policy streamingingestion enable", "Db");
  auto version = cat.version;
  auto ex = run(cat, ".alter table T policy streamingingestion enable", "Db");
  EXPECT_TRUE(ex.changes.empty());
  EXPECT_EQ(cat.version, version);
  EXPECT_EQ(cell(table_of(ex), 0, "Policy"), enabled_json);
}

TEST(alter_merge_policy, merges_into_the_existing_policy) {
  auto cat = sample_catalog();
  ok(cat, R"(.alter database Db policy streamingingestion '{"IsEnabled": true, "HintAllocatedRate": 1.5}')");
  auto ex = run(cat, R"(.alter-merge database Db policy streamingingestion '{"IsEnabled": false}')");
  EXPECT_EQ(ex.kind, "alter_merge_policy");
  EXPECT_EQ(ex.changes.size(), 1u);
  EXPECT_EQ(cell(table_of(ex), 0, "Policy"), R"({"IsEnabled":false,"HintAllocatedRate":1.5})");
  ok(cat, R"(.alter-merge database Db policy streamingingestion '{"HintAllocatedRate": 7}')");
  EXPECT_EQ(cat.find_database("Db")->policy, (model::streaming_policy{false, 7.0}));
}

TEST(alter_merge_policy, a_new_policy_needs_is_enabled) {
  auto cat = sample_catalog();
  auto before = snapshot(cat);
  auto e = fails(cat, R"(.alter-merge table T policy streamingingestion '{"HintAllocatedRate": 1}')", "Db");
  EXPECT_EQ(e.code, "BadRequest_InvalidPolicy");
  EXPECT_HAS(e.message, "table 'T' in database 'Db' has no streaming ingestion policy yet, so the merged policy needs IsEnabled");
  EXPECT_EQ(snapshot(cat), before);
  auto r = ok(cat, R"(.alter-merge table T policy streamingingestion '{"IsEnabled": true}')", "Db");
  EXPECT_EQ(cell(r, 0, "Policy"), enabled_json);
}

TEST(delete_policy, removes_the_policy_and_returns_null) {
  auto cat = sample_catalog();
  ok(cat, ".alter table T policy streamingingestion enable", "Db");
  auto ex = run(cat, ".delete table T policy streamingingestion", "Db");
  EXPECT_EQ(ex.kind, "delete_policy");
  ASSERT_EQ(ex.changes.size(), 1u);
  EXPECT_EQ(ex.changes[0].what, change_kind::put_table);
  EXPECT_EQ(cell(table_of(ex), 0, "Policy"), "<null>");
  EXPECT_FALSE(cat.find_database("Db")->tables.at("T").policy.has_value());
  auto again = run(cat, ".delete table T policy streamingingestion", "Db");
  EXPECT_TRUE(again.changes.empty());
  EXPECT_TRUE(std::holds_alternative<model::result_table>(again.outcome));
}

TEST(show_policy, shows_the_own_policy_not_the_inherited_one) {
  auto cat = sample_catalog();
  ok(cat, ".alter database Db policy streamingingestion enable");
  auto ex = run(cat, ".show table T policy streamingingestion", "Db");
  EXPECT_EQ(ex.kind, "show_policy");
  EXPECT_EQ(cell(table_of(ex), 0, "Policy"), "<null>");
  EXPECT_EQ(cell(table_of(ex), 0, "ChildEntities"), "<null>");
  EXPECT_EQ(cell(ok(cat, ".show database Db policy streamingingestion"), 0, "Policy"), enabled_json);
}

TEST(policy_commands, missing_objects_are_named_and_never_created) {
  auto cat = sample_catalog();
  auto before = snapshot(cat);
  auto e = fails(cat, ".alter table Nope policy streamingingestion enable", "Db");
  EXPECT_EQ(e.code, "BadRequest_TableNotExist");
  EXPECT_HAS(e.message, "Table 'Nope' does not exist in database 'Db'");
  e = fails(cat, ".alter database Nope policy streamingingestion enable");
  EXPECT_EQ(e.code, "BadRequest_DatabaseNotExist");
  EXPECT_HAS(e.message, "Database 'Nope' does not exist");
  EXPECT_EQ(fails(cat, ".show database Nope policy streamingingestion").code, "BadRequest_DatabaseNotExist");
  EXPECT_EQ(fails(cat, ".alter table T policy streamingingestion enable").code, "BadRequest_DatabaseNotSpecified");
  EXPECT_EQ(snapshot(cat), before);
}

// --- precedence ---

TEST(precedence, table_policy_over_database_policy) {
  auto cat = sample_catalog();
  ok(cat, ".alter database Db policy streamingingestion enable");
  ok(cat, ".alter table T policy streamingingestion disable", "Db");
  const auto& db = *cat.find_database("Db");
  EXPECT_EQ(model::effective_policy(db, db.tables.at("T")), (model::streaming_policy{false, std::nullopt}));
  EXPECT_EQ(cell(ok(cat, ".show table T details", "Db"), 0, "StreamingIngestionPolicy"), disabled_json);
  ok(cat, ".delete table T policy streamingingestion", "Db");
  EXPECT_EQ(cell(ok(cat, ".show table T details", "Db"), 0, "StreamingIngestionPolicy"), enabled_json);
}

TEST(precedence, database_policy_covers_existing_and_future_tables) {
  auto cat = sample_catalog();
  ok(cat, R"(.alter database Db policy streamingingestion '{"IsEnabled": true, "HintAllocatedRate": 3}')");
  ok(cat, ".create table Later (x:string)", "Db");
  const std::string expected = R"({"IsEnabled":true,"HintAllocatedRate":3.0})";
  EXPECT_EQ(cell(ok(cat, ".show table T details", "Db"), 0, "StreamingIngestionPolicy"), expected);
  EXPECT_EQ(cell(ok(cat, ".show table Later details", "Db"), 0, "StreamingIngestionPolicy"), expected);
  ok(cat, ".delete database Db policy streamingingestion");
  EXPECT_EQ(cell(ok(cat, ".show table Later details", "Db"), 0, "StreamingIngestionPolicy"), "<null>");
}

// --- cluster switch ---

TEST(cluster_switch, show_reports_the_state_as_one_row) {
  model::catalog cat;
  ok(cat, ".create database A");
  auto ex = run(cat, ".show cluster policy streamingingestion");
  EXPECT_EQ(ex.kind, "show_cluster_policy");
  auto r = table_of(ex);
  EXPECT_EQ(column_names(r), "PolicyName,EntityName,Policy,ChildEntities,EntityType");
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(cell(r, 0, "PolicyName"), "StreamingIngestionPolicy");
  EXPECT_EQ(cell(r, 0, "EntityName"), "");
  EXPECT_EQ(cell(r, 0, "Policy"), R"({"IsEnabled":false})");
  EXPECT_EQ(cell(r, 0, "ChildEntities"), R"(["[A]"])");
  EXPECT_EQ(cell(r, 0, "EntityType"), "Cluster");
}

TEST(cluster_switch, enable_is_one_change_and_idempotent) {
  model::catalog cat;
  auto ex = run(cat, ".alter cluster policy streamingingestion enable");
  EXPECT_EQ(ex.kind, "alter_cluster_policy");
  ASSERT_EQ(ex.changes.size(), 1u);
  EXPECT_EQ(ex.changes[0].what, change_kind::put_cluster);
  EXPECT_EQ(cat.streaming, model::switch_state::enabled);
  EXPECT_EQ(cell(table_of(ex), 0, "Policy"), R"({"IsEnabled":true})");
  EXPECT_EQ(cat.version, 1u);
  auto again = run(cat, ".alter cluster policy streamingingestion enable");
  EXPECT_TRUE(again.changes.empty());
  EXPECT_EQ(cat.version, 1u);
  auto off = run(cat, ".alter cluster policy streamingingestion disable");
  EXPECT_EQ(off.changes.size(), 1u);
  EXPECT_EQ(cat.streaming, model::switch_state::disabled);
  EXPECT_TRUE(run(cat, ".alter cluster policy streamingingestion disable").changes.empty());
  EXPECT_EQ(cat.version, 2u);
}

TEST(cluster_switch, policy_changes_fail_while_off_but_show_works) {
  model::catalog cat;
  ok(cat, ".create database Db");
  ok(cat, ".create table T (a:int)", "Db");
  auto before = snapshot(cat);
  for (auto text : {".alter table T policy streamingingestion enable",
                    ".alter database Db policy streamingingestion '{\"IsEnabled\": true}'",
                    ".alter-merge table T policy streamingingestion '{\"IsEnabled\": true}'",
                    ".delete table T policy streamingingestion", ".delete database Db policy streamingingestion"}) {
    auto e = fails(cat, text, "Db");
    EXPECT_EQ(e.code, "BadRequest_StreamingIngestionNotEnabled") << text;
    EXPECT_HAS(e.message, "Admin command cannot be executed as streaming ingestion is not enabled");
    EXPECT_HAS(e.message, ".alter cluster policy streamingingestion enable");
  }
  EXPECT_EQ(snapshot(cat), before);
  EXPECT_EQ(cell(ok(cat, ".show table T policy streamingingestion", "Db"), 0, "Policy"), "<null>");
  EXPECT_EQ(cell(ok(cat, ".show database Db policy streamingingestion"), 0, "Policy"), "<null>");
}

TEST(cluster_switch, disabling_is_refused_while_policies_exist_and_lists_them) {
  auto cat = sample_catalog();
  ok(cat, ".alter database Db policy streamingingestion disable");
  ok(cat, ".alter table T policy streamingingestion enable", "Db");
  auto before = snapshot(cat);
  auto e = fails(cat, ".alter cluster policy streamingingestion disable");
  EXPECT_EQ(e.code, "BadRequest_StreamingIngestionPoliciesExist");
  EXPECT_TRUE(e.permanent);
  EXPECT_HAS(e.message, "while 2 streaming ingestion policies exist: database 'Db', table 'T' in database 'Db'");
  EXPECT_HAS(e.message, ".delete database <D> policy streamingingestion");
  EXPECT_EQ(snapshot(cat), before);
  ok(cat, ".delete database Db policy streamingingestion");
  ok(cat, ".delete table T policy streamingingestion", "Db");
  EXPECT_EQ(run(cat, ".alter cluster policy streamingingestion disable").changes.size(), 1u);
}

TEST(cluster_switch, the_list_of_policies_is_capped) {
  auto cat = sample_catalog();
  for (int i = 0; i < 30; ++i) {
    auto name = "t" + std::to_string(100 + i);
    ok(cat, ".create table " + name + " (a:int)", "Db");
    ok(cat, ".alter table " + name + " policy streamingingestion enable", "Db");
  }
  auto e = fails(cat, ".alter cluster policy streamingingestion disable");
  EXPECT_HAS(e.message, "while 30 streaming ingestion policies exist");
  EXPECT_HAS(e.message, "'t119' in database 'Db' and 10 more");
  EXPECT_EQ(e.message.find("'t120'"), std::string::npos);
}

}  // namespace
}  // namespace tributary::testing
