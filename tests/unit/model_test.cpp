#include <gtest/gtest.h>

#include "model/catalog.hpp"
#include "model/types.hpp"

namespace tributary::model {
namespace {

TEST(column_types, canonical_names_round_trip) {
  const column_type all[] = {column_type::bool_,  column_type::int_,     column_type::long_,
                             column_type::real,   column_type::decimal,  column_type::string,
                             column_type::datetime, column_type::timespan, column_type::guid,
                             column_type::dynamic};
  const char* names[] = {"bool", "int", "long", "real", "decimal", "string", "datetime", "timespan", "guid", "dynamic"};
  for (size_t i = 0; i < std::size(all); ++i) {
    EXPECT_EQ(to_string(all[i]), names[i]);
    auto parsed = parse_column_type(names[i]);
    ASSERT_TRUE(parsed.has_value()) << names[i];
    EXPECT_EQ(*parsed, all[i]);
  }
}

TEST(column_types, kusto_aliases_parse_to_their_types) {
  EXPECT_EQ(parse_column_type("boolean"), column_type::bool_);
  EXPECT_EQ(parse_column_type("date"), column_type::datetime);
  EXPECT_EQ(parse_column_type("double"), column_type::real);
  EXPECT_EQ(parse_column_type("time"), column_type::timespan);
  EXPECT_EQ(parse_column_type("uuid"), column_type::guid);
  EXPECT_EQ(parse_column_type("uniqueid"), column_type::guid);
}

TEST(column_types, parsing_is_case_sensitive_and_rejects_unknown_names) {
  EXPECT_FALSE(parse_column_type("Int").has_value());
  EXPECT_FALSE(parse_column_type("STRING").has_value());
  EXPECT_FALSE(parse_column_type("int32").has_value());
  EXPECT_FALSE(parse_column_type("").has_value());
  EXPECT_FALSE(parse_column_type(std::string_view("int\0", 4)).has_value());
}

TEST(column_types, dotnet_names_match_kusto_schema_output) {
  EXPECT_EQ(dotnet_name(column_type::bool_), "System.Boolean");
  EXPECT_EQ(dotnet_name(column_type::int_), "System.Int32");
  EXPECT_EQ(dotnet_name(column_type::long_), "System.Int64");
  EXPECT_EQ(dotnet_name(column_type::real), "System.Double");
  EXPECT_EQ(dotnet_name(column_type::decimal), "System.Data.SqlTypes.SqlDecimal");
  EXPECT_EQ(dotnet_name(column_type::string), "System.String");
  EXPECT_EQ(dotnet_name(column_type::datetime), "System.DateTime");
  EXPECT_EQ(dotnet_name(column_type::timespan), "System.TimeSpan");
  EXPECT_EQ(dotnet_name(column_type::guid), "System.Guid");
  EXPECT_EQ(dotnet_name(column_type::dynamic), "System.Object");
}

TEST(streaming_policy_json, matches_kusto_shape_exactly) {
  EXPECT_EQ(to_json(streaming_policy{true, std::nullopt}), R"({"IsEnabled":true,"HintAllocatedRate":null})");
  EXPECT_EQ(to_json(streaming_policy{false, std::nullopt}), R"({"IsEnabled":false,"HintAllocatedRate":null})");
}

TEST(streaming_policy_json, prints_rates_in_shortest_form) {
  EXPECT_EQ(to_json(streaming_policy{true, 2.1}), R"({"IsEnabled":true,"HintAllocatedRate":2.1})");
  EXPECT_EQ(to_json(streaming_policy{true, 0.1}), R"({"IsEnabled":true,"HintAllocatedRate":0.1})");
  EXPECT_EQ(to_json(streaming_policy{false, 1.5}), R"({"IsEnabled":false,"HintAllocatedRate":1.5})");
  EXPECT_EQ(to_json(streaming_policy{true, 0.0}), R"({"IsEnabled":true,"HintAllocatedRate":0.0})");
}

TEST(mapping_kinds, command_and_display_names) {
  EXPECT_EQ(to_string(mapping_kind::csv), "csv");
  EXPECT_EQ(to_string(mapping_kind::json), "json");
  EXPECT_EQ(display_name(mapping_kind::csv), "Csv");
  EXPECT_EQ(display_name(mapping_kind::json), "Json");
}

TEST(catalog_lookup, find_database_is_case_sensitive) {
  catalog cat;
  cat.databases["Db"].name = "Db";
  cat.databases["Db"].id = database_id{7};
  ASSERT_NE(cat.find_database("Db"), nullptr);
  EXPECT_EQ(cat.find_database("Db")->id, database_id{7});
  EXPECT_EQ(cat.find_database("db"), nullptr);
  EXPECT_EQ(cat.find_database(""), nullptr);
  const catalog& const_cat = cat;
  ASSERT_NE(const_cat.find_database("Db"), nullptr);
  EXPECT_EQ(const_cat.find_database("Other"), nullptr);
}

TEST(effective_policy, table_policy_takes_precedence_over_database_policy) {
  database db;
  table t;
  EXPECT_FALSE(effective_policy(db, t).has_value());
  db.policy = streaming_policy{true, 3.0};
  ASSERT_TRUE(effective_policy(db, t).has_value());
  EXPECT_EQ(*effective_policy(db, t), (streaming_policy{true, 3.0}));
  t.policy = streaming_policy{false, std::nullopt};
  EXPECT_EQ(*effective_policy(db, t), (streaming_policy{false, std::nullopt}));
  db.policy.reset();
  EXPECT_EQ(*effective_policy(db, t), (streaming_policy{false, std::nullopt}));
}

}  // namespace
}  // namespace tributary::model
