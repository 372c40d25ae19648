#include <gtest/gtest.h>

#include "commands/mapping.hpp"
#include "test_util.hpp"

namespace tributary::testing {
namespace {

using commands::check_json_path;
using model::mapping_kind;

model::table sample_table() {
  model::table t;
  t.name = "T";
  t.columns = {{"a", model::column_type::int_}, {"b", model::column_type::string}, {"my col", model::column_type::dynamic}};
  return t;
}

std::vector<model::mapping_element> valid(mapping_kind kind, std::string_view json) {
  auto r = commands::parse_mapping(kind, json, sample_table(), "m");
  if (auto* e = std::get_if<model::error>(&r)) {
    ADD_FAILURE() << "mapping refused: " << json << "\n  " << e->message;
    return {};
  }
  return std::get<std::vector<model::mapping_element>>(r);
}

model::error invalid(mapping_kind kind, std::string_view json) {
  auto r = commands::parse_mapping(kind, json, sample_table(), "m");
  if (!std::holds_alternative<model::error>(r)) {
    ADD_FAILURE() << "mapping accepted but should not be: " << json;
    return {};
  }
  auto e = std::get<model::error>(r);
  EXPECT_EQ(e.code, "BadRequest_InvalidMapping");
  EXPECT_TRUE(e.permanent);
  EXPECT_HAS(e.message, kind == mapping_kind::csv ? "Invalid csv mapping 'm' for table 'T'" : "Invalid json mapping 'm' for table 'T'");
  return e;
}

TEST(json_path, accepts_simple_paths) {
  for (const char* p : {"$", "$.a", "$.a.b", "$['x y']", "$[\"x\"]", "$.arr[2]", "$.a[0].b['c d'][10]", "$.a-b_c",
                        "$['it\\'s']"}) {
    EXPECT_FALSE(check_json_path(p).has_value()) << p;
  }
}

TEST(json_path, reports_the_position_and_reason_of_a_problem) {
  struct bad {
    const char* path;
    size_t position;
    const char* reason;
  };
  const bad cases[] = {
      {"a.b", 1, "must start with '$'"},
      {"", 1, "must start with '$'"},
      {"$.", 3, "expected a property name after '.', found the end of the path"},
      {"$..a", 3, "recursive descent"},
      {"$.a[*]", 5, "wildcards are not supported"},
      {"$.*", 3, "wildcards"},
      {"$[-1]", 3, "negative array indexes"},
      {"$['a'", 6, "expected ']'"},
      {"$['a", 3, "unterminated property name"},
      {"$[]", 3, "expected a quoted property name or an array index"},
      {"$a", 2, "expected '.' or '[', found 'a'"},
      {"$.a b", 4, "expected '.' or '[', found ' '"},
      {"$[1x]", 4, "expected ']', found 'x'"},
      {"$['']", 4, "empty property name"},
  };
  for (const auto& c : cases) {
    auto problem = check_json_path(c.path);
    ASSERT_TRUE(problem.has_value()) << c.path;
    EXPECT_EQ(problem->position, c.position) << c.path;
    EXPECT_HAS(problem->reason, c.reason);
  }
}

TEST(csv_mapping, documented_shape_with_string_or_number_ordinals) {
  auto e = valid(mapping_kind::csv,
                 R"([{"Column":"a","DataType":"int","Properties":{"Ordinal":"0"}},
                     {"Column":"b","Properties":{"Ordinal":2}},
                     {"Column":"my col","Properties":{"ConstValue":"{}"}}])");
  ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(e[0].column, "a");
  EXPECT_EQ(e[0].data_type, model::column_type::int_);
  EXPECT_EQ(e[0].ordinal, 0);
  EXPECT_EQ(e[1].ordinal, 2);
  EXPECT_FALSE(e[1].data_type.has_value());
  EXPECT_EQ(e[2].const_value, "{}");
  EXPECT_FALSE(e[2].ordinal.has_value());
}

TEST(csv_mapping, legacy_flat_shape_and_source_location) {
  auto e = valid(mapping_kind::csv,
                 R"([{"Name":"a","DataType":"int","CsvDataType":null,"Ordinal":0,"ConstValue":null},
                     {"column":"b","Properties":{"Transform":"SourceLocation"}}])");
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0].ordinal, 0);
  EXPECT_EQ(e[1].transform, "SourceLocation");
}

TEST(csv_mapping, ordinal_must_be_a_non_negative_integer) {
  EXPECT_HAS(invalid(mapping_kind::csv, R"([{"Column":"a","Properties":{"Ordinal":"-1"}}])").message,
             "element [0] Ordinal '-1' must be a non-negative integer");
  EXPECT_HAS(invalid(mapping_kind::csv, R"([{"Column":"a","Properties":{"Ordinal":-3}}])").message,
             "Ordinal -3 must be a non-negative integer");
  EXPECT_HAS(invalid(mapping_kind::csv, R"([{"Column":"a","Ordinal":1.5}])").message, "Ordinal 1.5");
  EXPECT_HAS(invalid(mapping_kind::csv, R"([{"Column":"a","Ordinal":"x"}])").message, "Ordinal 'x'");
  EXPECT_HAS(invalid(mapping_kind::csv, R"([{"Column":"a","Ordinal":"99999999999"}])").message, "at most 2147483647");
  EXPECT_HAS(invalid(mapping_kind::csv, R"([{"Column":"a","Ordinal":true}])").message,
             "property 'Ordinal' must be a non-negative integer or a string");
}

TEST(csv_mapping, needs_exactly_one_source_and_no_path) {
  EXPECT_HAS(invalid(mapping_kind::csv, R"([{"Column":"a"}])").message, "element [0] (column 'a') needs an Ordinal");
  EXPECT_HAS(invalid(mapping_kind::csv, R"([{"Column":"a","Properties":{"Ordinal":"0","ConstValue":"1"}}])").message,
             "exactly one of Ordinal, ConstValue");
  EXPECT_HAS(invalid(mapping_kind::csv, R"([{"Column":"a","Properties":{"Path":"$.a"}}])").message,
             "has a Path, which csv mappings do not use");
  EXPECT_HAS(invalid(mapping_kind::csv, R"([{"Column":"a","Properties":{"Transform":"DropMappedFields"}}])").message,
             "the only transform csv mappings support is SourceLocation");
}

TEST(json_mapping, documented_and_legacy_shapes) {
  auto e = valid(mapping_kind::json,
                 R"([{"Column":"a","Properties":{"Path":"$.x.y"}},
                     {"column":"b","path":"$['b value']","transform":0},
                     {"Column":"my col","Properties":{"Path":"$.ts","Transform":"DateTimeFromUnixSeconds"}}])");
  ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(e[0].path, "$.x.y");
  EXPECT_EQ(e[1].path, "$['b value']");
  EXPECT_FALSE(e[1].transform.has_value());
  EXPECT_EQ(e[2].transform, "DateTimeFromUnixSeconds");
  auto meta = valid(mapping_kind::json, R"([{"Column":"b","Properties":{"Transform":"SourceLineNumber"}}])");
  ASSERT_EQ(meta.size(), 1u);
  EXPECT_FALSE(meta[0].path.has_value());
}

TEST(json_mapping, bad_path_is_reported_with_path_and_position) {
  auto e = invalid(mapping_kind::json,
                   R"([{"Column":"a","Properties":{"Path":"$.a"}},{"Column":"b","Properties":{"Path":"$.x..y"}}])");
  EXPECT_HAS(e.message, "element [1] (column 'b') has invalid Path '$.x..y': at position 5, recursive descent");
  EXPECT_HAS(invalid(mapping_kind::json, R"([{"Column":"a","Properties":{"Path":"x"}}])").message,
             "at position 1, a path must start with '$'");
}

TEST(json_mapping, ordinal_is_a_csv_property_and_a_source_is_required) {
  EXPECT_HAS(invalid(mapping_kind::json, R"([{"Column":"a","Properties":{"Ordinal":"0"}}])").message,
             "has an Ordinal, which json mappings do not use");
  EXPECT_HAS(invalid(mapping_kind::json, R"([{"Column":"a"}])").message, "needs a Path such as \"$.field\"");
  EXPECT_HAS(invalid(mapping_kind::json, R"([{"Column":"a","Path":"$.a","ConstValue":"1"}])").message,
             "has both a Path and a ConstValue");
  EXPECT_HAS(invalid(mapping_kind::json, R"([{"Column":"a","Path":"$.a","Transform":"SourceLocation"}])").message,
             "Transform SourceLocation, which takes no Path");
  EXPECT_HAS(invalid(mapping_kind::json, R"([{"Column":"a","Path":"$.a","Transform":"BytesAsBase64"}])").message,
             "only avro mappings support");
  EXPECT_HAS(invalid(mapping_kind::json, R"([{"Column":"a","Path":"$.a","Transform":"Reverse"}])").message,
             "unknown Transform 'Reverse'");
}

TEST(mapping_validation, unknown_column_is_named_with_the_table_columns) {
  auto e = invalid(mapping_kind::csv, R"([{"Column":"a","Ordinal":0},{"Column":"zz","Ordinal":1}])");
  EXPECT_HAS(e.message, "element [1] maps column 'zz', which table 'T' does not have");
  EXPECT_HAS(e.message, "its columns: 'a', 'b', 'my col'");
  EXPECT_HAS(e.message, ".create-merge table T (zz:<type>)");
}

TEST(mapping_validation, a_column_may_be_mapped_once) {
  auto e = invalid(mapping_kind::csv, R"([{"Column":"a","Ordinal":0},{"Column":"b","Ordinal":1},{"Column":"a","Ordinal":2}])");
  EXPECT_HAS(e.message, "column 'a' is mapped twice, by elements [0] and [2]");
}

TEST(mapping_validation, unknown_properties_and_wrong_types_are_named) {
  EXPECT_HAS(invalid(mapping_kind::csv, R"([{"Column":"a","Ordinal":0,"Colour":"red"}])").message,
             "element [0] has unknown property 'Colour'");
  EXPECT_HAS(invalid(mapping_kind::csv, R"([{"Column":"a","Properties":{"Ordnial":"0"}}])").message,
             "unknown property 'Ordnial' in Properties");
  EXPECT_HAS(invalid(mapping_kind::csv, R"([{"Column":5,"Ordinal":0}])").message,
             "element [0] property 'Column' must be a string, found number");
  EXPECT_HAS(invalid(mapping_kind::csv, R"([{"Column":"a","Properties":[]}])").message,
             "property 'Properties' must be a JSON object");
  EXPECT_HAS(invalid(mapping_kind::csv, R"([{"Column":"a","Ordinal":0,"Properties":{"Ordinal":"1"}}])").message,
             "element [0] gives Ordinal more than once");
  EXPECT_HAS(invalid(mapping_kind::csv, R"([{"Ordinal":0}])").message, "element [0] needs a \"Column\"");
  EXPECT_HAS(invalid(mapping_kind::csv, R"([{"Column":"a","Name":"b","Ordinal":0}])").message,
             "gives column more than once");
}

TEST(mapping_validation, data_type_must_be_known_and_match_the_column) {
  EXPECT_HAS(invalid(mapping_kind::csv, R"([{"Column":"a","DataType":"int32","Ordinal":0}])").message,
             "element [0] has unknown DataType 'int32'");
  EXPECT_HAS(invalid(mapping_kind::csv, R"([{"Column":"a","DataType":"string","Ordinal":0}])").message,
             "gives DataType string for column 'a', which is of type int");
  auto ok_alias = valid(mapping_kind::csv, R"([{"Column":"my col","DataType":"dynamic","Ordinal":0},
                                               {"Column":"a","DataType":"","Ordinal":1}])");
  ASSERT_EQ(ok_alias.size(), 2u);
  EXPECT_FALSE(ok_alias[1].data_type.has_value());
}

TEST(mapping_validation, document_level_problems) {
  EXPECT_HAS(invalid(mapping_kind::csv, "{}").message, "the mapping must be a JSON array");
  EXPECT_HAS(invalid(mapping_kind::csv, "[]").message, "the mapping has no elements");
  EXPECT_HAS(invalid(mapping_kind::csv, "[1]").message, "element [0] must be a JSON object");
  EXPECT_HAS(invalid(mapping_kind::csv, R"([{"Column":"a","Ordinal":0},])").message, "the mapping is not valid JSON");
  EXPECT_HAS(invalid(mapping_kind::csv, "").message, "not valid JSON");
  std::string deep(100000, '[');
  EXPECT_HAS(invalid(mapping_kind::csv, deep).message, "JSON nesting deeper than 32 levels at byte 33");
}

TEST(mapping_json, normalises_to_the_documented_shape) {
  auto e = valid(mapping_kind::csv,
                 R"([{"Name":"a","DataType":"int","Ordinal":0},{"column":"b","Properties":{"ConstValue":"x"}}])");
  EXPECT_EQ(commands::mapping_json(e),
            R"([{"Column":"a","DataType":"int","Properties":{"Ordinal":"0"}},{"Column":"b","Properties":{"ConstValue":"x"}}])");
  auto j = valid(mapping_kind::json, R"([{"column":"my col","path":"$.v","transform":"propertybagarraytodictionary"}])");
  EXPECT_EQ(commands::mapping_json(j),
            R"([{"Column":"my col","Properties":{"Path":"$.v","Transform":"PropertyBagArrayToDictionary"}}])");
}

TEST(mapping_json, output_parses_back_to_the_same_elements) {
  auto first = valid(mapping_kind::json, R"([{"Column":"a","DataType":"int","Properties":{"Path":"$['x \"y\"']"}},
                                              {"Column":"b","Properties":{"ConstValue":"c\u00e9"}}])");
  auto second = valid(mapping_kind::json, commands::mapping_json(first));
  EXPECT_EQ(first, second);
}

TEST(json_depth, strings_with_brackets_do_not_count) {
  std::string text = "[\"" + std::string(100, '[') + "\\\"" + std::string(100, '{') + "\"]";
  EXPECT_FALSE(commands::check_json_depth(text).has_value());
  EXPECT_TRUE(commands::check_json_depth(std::string(33, '{')).has_value());
  EXPECT_FALSE(commands::check_json_depth(std::string(32, '{')).has_value());
}

}  // namespace
}  // namespace tributary::testing
