// The decoded-size bound of ingest::parse (issue 7, item 5): a request's rows are counted as
// model::column_batch stores them (per row and column a null flag plus 8 bytes or a 4-byte text
// offset, plus the text) before they are stored, and past the limit the request fails with the
// permanent Stream_InputStreamTooLarge naming the table, the limit and the record. The
// amplifying cases: ConstValue-only mappings, empty JSON objects, wide tables, many tiny lines.

#include <gtest/gtest.h>

#include <string>

#include "ingest/ingest.hpp"

namespace tributary::testing {
namespace {

using ingest::format;
using ct = model::column_type;

// Bytes per row before text: 1 + 8 for bool/int/long/real/datetime/timespan, 1 + 4 for text.
constexpr size_t fixed_cost = 9, text_cost = 5;

model::table wide(int columns, ct type = ct::long_) {
  model::table t;
  t.name = "Wide";
  for (int c = 0; c < columns; ++c) t.columns.push_back({"c" + std::to_string(c), type});
  return t;
}

model::mapping constants(const model::table& t, model::mapping_kind kind, std::string value) {
  model::mapping m;
  m.name = "consts";
  m.kind = kind;
  for (const auto& col : t.columns) {
    model::mapping_element e;
    e.column = col.name;
    e.const_value = value;
    m.elements.push_back(e);
  }
  return m;
}

std::string repeat(std::string_view s, size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

model::column_batch rows_of(std::variant<model::column_batch, model::error> r) {
  if (auto* e = std::get_if<model::error>(&r)) {
    ADD_FAILURE() << e->code << ": " << e->message;
    return {};
  }
  return std::get<model::column_batch>(std::move(r));
}

// The bytes a batch holds as model::column_batch::byte_size() counts them, less what an empty
// batch of the same table already holds (the struct and each text column's leading offset).
size_t decoded_bytes(const model::column_batch& b) {
  return b.byte_size() - model::column_batch::with_columns({}).byte_size() -
         [&] {
           size_t n = 0;
           for (const auto& c : b.columns) n += c.offsets.size() > 0 ? 4 : 0;
           return n;
         }();
}

model::error too_large(std::variant<model::column_batch, model::error> r) {
  if (!std::holds_alternative<model::error>(r)) {
    ADD_FAILURE() << "accepted " << std::get<model::column_batch>(r).rows << " rows";
    return {};
  }
  auto e = std::get<model::error>(std::move(r));
  EXPECT_EQ(e.code, "Stream_InputStreamTooLarge") << e.message;
  EXPECT_TRUE(e.permanent);
  EXPECT_NE(e.message.find("split the data into smaller requests"), std::string::npos) << e.message;
  return e;
}

#define EXPECT_MESSAGE_HAS(e, text) \
  EXPECT_NE((e).message.find(text), std::string::npos) << "wanted: " << (text) << "\n  got: " << (e).message

TEST(decoded_size, a_constvalue_only_csv_mapping_is_bounded_by_its_rows) {
  const auto t = wide(100);
  const auto m = constants(t, model::mapping_kind::csv, "7");
  const size_t limit = 11 * 100 * fixed_cost + 50;  // 11 rows fit, the 12th does not
  auto batch = rows_of(ingest::parse(format::csv, repeat("x\n", 11), t, &m, limit));
  EXPECT_EQ(batch.rows, 11u);
  EXPECT_EQ(decoded_bytes(batch), 11 * 100 * fixed_cost);
  auto e = too_large(ingest::parse(format::csv, repeat("x\n", 12), t, &m, limit));
  EXPECT_MESSAGE_HAS(e, "table 'Wide'");
  EXPECT_MESSAGE_HAS(e, "the 9950 bytes limit on decoded data at record 12 (line 12)");
  EXPECT_MESSAGE_HAS(e, "a row of its 100 columns takes 900 bytes before its text, so one request "
                        "holds at most 11 rows");
}

TEST(decoded_size, a_constvalue_only_json_mapping_counts_its_text_constants) {
  const auto t = wide(3, ct::string);
  const auto m = constants(t, model::mapping_kind::json, std::string(1000, 'k'));
  const size_t row = 3 * (text_cost + 1000);
  auto batch = rows_of(ingest::parse(format::json, repeat("{}\n", 4), t, &m, 4 * row));
  EXPECT_EQ(batch.rows, 4u);
  EXPECT_EQ(decoded_bytes(batch), 4 * row);
  // The fifth row's fixed cost fits, its first constant does not.
  auto e = too_large(ingest::parse(format::json, repeat("{}\n", 5), t, &m, 4 * row + 3 * text_cost));
  EXPECT_MESSAGE_HAS(e, "at record 5 (line 5)");
}

TEST(decoded_size, empty_json_objects_into_a_wide_table) {
  const auto t = wide(100);
  const size_t limit = 1000 * 100 * fixed_cost;
  auto batch = rows_of(ingest::parse(format::multijson, "[" + repeat("{},", 999) + "{}]", t, nullptr, limit));
  EXPECT_EQ(batch.rows, 1000u);
  EXPECT_EQ(decoded_bytes(batch), limit);
  auto e = too_large(ingest::parse(format::multijson, "[" + repeat("{},", 1000) + "{}]", t, nullptr, limit));
  EXPECT_MESSAGE_HAS(e, "at record 1001 (item 1001 of the array on line 1)");
  too_large(ingest::parse(format::multijson, repeat("{}", 1001), t, nullptr, limit));
  too_large(ingest::parse(format::json, repeat("{}\n", 1001), t, nullptr, limit));
}

TEST(decoded_size, the_default_limit_refuses_4_mib_of_empty_objects_into_100_columns) {
  const auto t = wide(100);
  std::string data = "[{}";
  while (data.size() + 4 <= ingest::max_request_bytes) data += ",{}";
  data += "]";
  auto e = too_large(ingest::parse(format::multijson, data, t, nullptr));
  EXPECT_MESSAGE_HAS(e, "the 64 MiB limit on decoded data at record 74566");
}

TEST(decoded_size, a_wide_table_of_mixed_types_costs_each_column_as_stored) {
  model::table t;
  t.name = "Mixed";
  const ct types[] = {ct::bool_, ct::int_, ct::long_, ct::real, ct::datetime,
                      ct::timespan, ct::string, ct::decimal, ct::guid, ct::dynamic};
  for (int c = 0; c < 150; ++c) t.columns.push_back({"c" + std::to_string(c), types[c % 10]});
  const size_t row = 15 * (6 * fixed_cost + 4 * text_cost);  // 150 columns, no text (all null)
  const std::string line = repeat(",", 149) + "\n";
  auto batch = rows_of(ingest::parse(format::csv, repeat(line, 20), t, nullptr, 20 * row));
  EXPECT_EQ(batch.rows, 20u);
  EXPECT_EQ(decoded_bytes(batch), 20 * row);
  auto e = too_large(ingest::parse(format::csv, repeat(line, 21), t, nullptr, 20 * row));
  EXPECT_MESSAGE_HAS(e, "table 'Mixed'");
  EXPECT_MESSAGE_HAS(e, "a row of its 150 columns takes 1110 bytes");
}

TEST(decoded_size, many_tiny_csv_lines_into_a_wide_table) {
  const auto t = wide(100);
  model::mapping m;
  m.name = "one";
  m.kind = model::mapping_kind::csv;
  model::mapping_element field;
  field.column = "c5";
  field.ordinal = 0;
  m.elements.push_back(field);
  // 4 MiB of two-byte lines: 2 million full rows, 1.8 GB decoded.
  const std::string data = repeat("1\n", ingest::max_request_bytes / 2);
  auto e = too_large(ingest::parse(format::csv, data, t, &m));
  EXPECT_MESSAGE_HAS(e, "at record 74566 (line 74566)");
  // Under the limit the same lines are fine.
  auto batch = rows_of(ingest::parse(format::csv, data.substr(0, 2 * 74565), t, &m));
  EXPECT_EQ(batch.rows, 74565u);
  EXPECT_EQ(batch.columns[5].ints[74564], 1);
}

TEST(decoded_size, text_is_counted_before_it_is_stored) {
  model::table t;
  t.name = "Text";
  t.columns = {{"s", ct::string}};
  const std::string line = "abcdefgh\n";
  auto batch = rows_of(ingest::parse(format::csv, repeat(line, 10), t, nullptr, 10 * (text_cost + 8)));
  EXPECT_EQ(batch.rows, 10u);
  EXPECT_EQ(decoded_bytes(batch), 10 * (text_cost + 8));
  auto e = too_large(ingest::parse(format::csv, repeat(line, 11), t, nullptr, 10 * (text_cost + 8)));
  EXPECT_MESSAGE_HAS(e, "at record 11 (line 11)");
  // One field larger than the limit: refused at its record, not stored first.
  e = too_large(ingest::parse(format::csv, "short\n" + std::string(200, 'x') + "\n", t, nullptr, 100));
  EXPECT_MESSAGE_HAS(e, "at record 2 (line 2)");
  // JSON text, including values whose appends do not report a refusal themselves (a bool into a
  // string column, a number into a decimal column).
  too_large(ingest::parse(format::json, R"({"s":"0123456789"})", t, nullptr, 14));
  too_large(ingest::parse(format::json, R"({"s":true})", t, nullptr, 8));
  model::table d;
  d.name = "Dec";
  d.columns = {{"m", ct::decimal}};
  too_large(ingest::parse(format::json, R"({"m":12345.5})", d, nullptr, 8));
  EXPECT_EQ(rows_of(ingest::parse(format::json, R"({"m":12345.5})", d, nullptr, 12)).rows, 1u);
}

TEST(decoded_size, honest_4_mib_requests_fit_the_default_limit) {
  model::table t;
  t.name = "Logs";
  t.columns = {{"ts", ct::datetime}, {"level", ct::string}, {"n", ct::long_}, {"msg", ct::string}};
  std::string data;
  while (data.size() < ingest::max_request_bytes - 100)
    data += "2024-05-01T12:00:00Z,Info,42,a short message\n";
  auto batch = rows_of(ingest::parse(format::csv, data, t, nullptr));
  EXPECT_GT(batch.rows, 90000u);
  EXPECT_LT(decoded_bytes(batch), ingest::max_decoded_bytes);
}

}  // namespace
}  // namespace tributary::testing
