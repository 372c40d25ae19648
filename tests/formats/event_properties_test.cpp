// Event Hub's system properties added to a message's records (ingest/event_properties.hpp), read
// back through the same parser and mappings as any ingest: CSV-like records get them as their
// first fields (quoted where needed, multi-line quoted fields and empty lines kept), JSON objects
// as their first members (objects on their own, pretty-printed, empty, or in an array).

#include <gtest/gtest.h>

#include <string>

#include "ingest/event_properties.hpp"

namespace tributary::testing {
namespace {

using ingest::format;
using ct = model::column_type;

std::string text_of(std::variant<std::string, model::error> r) {
  if (auto* e = std::get_if<model::error>(&r)) {
    ADD_FAILURE() << e->code << ": " << e->message;
    return {};
  }
  return std::get<std::string>(std::move(r));
}

model::column_batch rows_of(std::variant<model::column_batch, model::error> r) {
  if (auto* e = std::get_if<model::error>(&r)) {
    ADD_FAILURE() << e->code << ": " << e->message;
    return {};
  }
  return std::get<model::column_batch>(std::move(r));
}

const std::vector<ingest::event_property> offset_and_key = {{"x-opt-offset", "41", false},
                                                            {"x-opt-partition-key", "k,\"1\"", true}};

TEST(event_properties, csv_records_get_them_as_their_first_fields) {
  model::table t;
  t.name = "T";
  t.columns = {{"Offset", ct::long_}, {"Key", ct::string}, {"a", ct::long_}, {"b", ct::string}};
  const std::string message = "1,x\r\n2,\"two\nlines, \"\"quoted\"\"\"\n\n3,z";
  const auto text = text_of(ingest::with_event_properties(format::csv, message, offset_and_key));
  auto b = rows_of(ingest::parse(format::csv, text, t, nullptr));
  ASSERT_EQ(b.rows, 3u) << text;
  for (size_t r = 0; r < 3; ++r) {
    EXPECT_EQ(b.columns[0].ints[r], 41);
    EXPECT_EQ(b.columns[1].text_at(r), "k,\"1\"");
    EXPECT_EQ(b.columns[2].ints[r], static_cast<int64_t>(r + 1));
  }
  EXPECT_EQ(b.columns[3].text_at(1), "two\nlines, \"quoted\"");
  // A quote inside an unquoted field is data, not the start of a quoted one.
  const auto odd = text_of(ingest::with_event_properties(format::psv, "1|a\"b\n2|c\n", {{"x-opt-offset", "7", false}}));
  EXPECT_EQ(odd, "7|1|a\"b\n7|2|c\n");
  // A property without a value is an empty field.
  EXPECT_EQ(text_of(ingest::with_event_properties(format::tsv, "1\n", {{"x-opt-partition-key", std::nullopt, true}})),
            "\t1\n");
}

TEST(event_properties, json_objects_get_them_as_members_a_mapping_reads_by_path) {
  model::table t;
  t.name = "T";
  t.columns = {{"Offset", ct::long_}, {"Enqueued", ct::datetime}, {"Key", ct::string}, {"a", ct::long_}};
  model::mapping m;
  m.name = "m";
  m.kind = model::mapping_kind::json;
  for (auto [column, path] : std::vector<std::pair<std::string, std::string>>{
           {"Offset", "$.x-opt-offset"}, {"Enqueued", "$['x-opt-enqueued-time']"}, {"Key", "$.x-opt-partition-key"},
           {"a", "$.a"}}) {
    model::mapping_element e;
    e.column = column;
    e.path = path;
    m.elements.push_back(e);
  }
  const std::vector<ingest::event_property> props = {{"x-opt-enqueued-time", "2026-12-07T10:00:00.250Z", true},
                                                     {"x-opt-offset", "41", false},
                                                     {"x-opt-partition-key", std::nullopt, true}};
  const std::string message = "{\n  \"a\": 1\n}\n{ }\n[{\"a\":2},{\"a\":3}]";
  const auto text = text_of(ingest::with_event_properties(format::multijson, message, props));
  auto b = rows_of(ingest::parse(format::multijson, text, t, &m));
  ASSERT_EQ(b.rows, 4u) << text;
  model::table when;
  when.name = "W";
  when.columns = {{"t", ct::datetime}};
  const auto enqueued = rows_of(ingest::parse(format::csv, "2026-12-07T10:00:00.250Z\n", when, nullptr));
  ASSERT_EQ(enqueued.rows, 1u);
  for (size_t r = 0; r < 4; ++r) {
    EXPECT_EQ(b.columns[0].ints[r], 41);
    EXPECT_EQ(b.columns[1].ints[r], enqueued.columns[0].ints[0]);
    EXPECT_EQ(b.columns[2].text_at(r), "") << "a string column reads null as empty, as Kusto";
  }
  EXPECT_EQ(b.columns[3].ints[0], 1);
  EXPECT_TRUE(b.columns[3].is_null(1));
  EXPECT_EQ(b.columns[3].ints[3], 3);
  // Not JSON: unchanged, so that the parser names what is wrong where.
  EXPECT_EQ(text_of(ingest::with_event_properties(format::multijson, "{\"a\":", props)), "{\"a\":");
}

// A long key repeated on many short records would grow a message without bound: past the limit
// the message is refused (and the connection records it as a failure), before it is built.
TEST(event_properties, a_result_past_the_limit_is_refused_before_it_is_built) {
  const std::vector<ingest::event_property> long_key = {{"x-opt-partition-key", std::string(100'000, 'k'), true}};
  std::string lines;
  for (int i = 0; i < 1000; ++i) lines += std::to_string(i) + "\n";  // ~4 kB: 100 MB with the key on each
  for (const auto f : {format::csv, format::multijson}) {
    const std::string message = f == format::csv ? lines : std::string(R"({"a":1})") + "\n" + R"({"a":2})";
    auto r = ingest::with_event_properties(f, message, long_key, 150'000);
    auto* e = std::get_if<model::error>(&r);
    ASSERT_NE(e, nullptr) << ingest::to_string(f);
    EXPECT_EQ(e->code, "BadRequest_RequestTooLarge");
    EXPECT_TRUE(e->permanent);
    EXPECT_NE(e->message.find("150000 bytes"), std::string::npos) << e->message;
  }
  // Within it, the same key goes in.
  EXPECT_TRUE(std::holds_alternative<std::string>(ingest::with_event_properties(format::csv, "1\n", long_key)));
}

}  // namespace
}  // namespace tributary::testing
