// Runs the data-driven query files, tests/queries/*.test: tables made with datatable, queries,
// and the exact table (columns, types, rows) or error each must answer. The format:
//
//   # a comment
//   table T: datatable(a:long, b:string) [1, "x", 2, "y"]      (may continue on more lines)
//
//   query:                          (or "query unordered:" to compare rows as a multiset)
//   T | where a > 1                 (any number of lines)
//   expect:
//   a:long | b:string
//   2 | y
//
//   query:
//   Nope | count
//   expect error: BadRequest_TableNotExist: does not exist     (code, then a part of the message)
//
// Cells print as: null for null; true/false; integers; reals in their shortest form; datetimes
// and timespans as tostring() prints them; strings as they are; dynamic as JSON. now() is
// 2024-01-01T00:00:00Z in every query, so ago() has known values.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "query/engine.hpp"
#include "query/functions.hpp"
#include "support/memory_source.hpp"

namespace tributary::query {
namespace {

constexpr int64_t fixed_now = 17'040'672'000'000'000;  // 2024-01-01T00:00:00Z, ticks since the Unix epoch

std::string trim(std::string s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

std::vector<std::string> split_cells(const std::string& line) {
  std::vector<std::string> out;
  std::string cell;
  std::istringstream in(line);
  while (std::getline(in, cell, '|')) out.push_back(trim(cell));
  if (!line.empty() && line.back() == '|') out.push_back("");
  return out;
}

std::string render(const model::value& v, model::column_type t) {
  if (std::holds_alternative<std::monostate>(v)) return "null";
  if (const auto* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  if (const auto* d = std::get_if<double>(&v)) return fmt::format("{}", *d);
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  const int64_t i = std::get<int64_t>(v);
  if (t == model::column_type::datetime || t == model::column_type::timespan) {
    const auto* f = find_scalar_function("tostring");
    arg_info info;
    info.type = t;
    auto bound = std::get<bound_function>(f->bind(std::span<const arg_info>(&info, 1)));
    auto one = vec::constant(t, v);
    std::vector<const model::column_data*> args{&one};
    eval_context ctx;
    return std::string(bound.eval(args, 1, ctx).text_at(0));
  }
  return std::to_string(i);
}

struct query_case {
  std::string file;
  int line = 0;
  std::string text;
  bool unordered = false;
  std::vector<std::string> expected;  // header, then rows (rendered, " | " joined)
  std::string error_code, error_part;
  std::vector<std::pair<std::string, std::string>> tables;  // defined before the case: name, datatable
};

std::vector<query_case> read_cases(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::vector<query_case> cases;
  std::vector<std::pair<std::string, std::string>> tables;
  std::string line;
  int number = 0;
  enum { none, table, query, expect } mode = none;
  query_case current;
  auto close = [&] {
    if (mode == expect || (mode == query && !current.error_code.empty())) cases.push_back(current);
    mode = none;
  };
  while (std::getline(in, line)) {
    ++number;
    if (mode != query && (line.empty() || line[0] == '#')) {
      if (mode == expect || mode == table) close();
      continue;
    }
    if (line.rfind("table ", 0) == 0) {
      close();
      const auto colon = line.find(':');
      tables.push_back({trim(line.substr(6, colon - 6)), line.substr(colon + 1)});
      mode = table;
    } else if (mode == table) {
      tables.back().second += "\n" + line;
    } else if (line == "query:" || line == "query unordered:") {
      close();
      current = {};
      current.file = path.filename().string();
      current.line = number;
      current.unordered = line == "query unordered:";
      current.tables = tables;
      mode = query;
    } else if (mode == query && line.rfind("expect error:", 0) == 0) {
      auto rest = trim(line.substr(13));
      const auto colon = rest.find(':');
      current.error_code = trim(rest.substr(0, colon));
      if (colon != std::string::npos) current.error_part = trim(rest.substr(colon + 1));
      cases.push_back(current);
      mode = none;
    } else if (mode == query && line == "expect:") {
      mode = expect;
    } else if (mode == query) {
      current.text += (current.text.empty() ? "" : "\n") + line;
    } else if (mode == expect) {
      std::string joined;
      const auto cells = split_cells(line);
      for (size_t i = 0; i < cells.size(); ++i) joined += (i ? " | " : "") + cells[i];
      current.expected.push_back(joined);
    } else {
      ADD_FAILURE() << path << ":" << number << ": unexpected line: " << line;
    }
  }
  close();
  return cases;
}

class query_files : public ::testing::TestWithParam<std::string> {};

TEST_P(query_files, answer_as_expected) {
  const auto cases = read_cases(GetParam());
  ASSERT_FALSE(cases.empty()) << "no cases in " << GetParam();
  for (const auto& c : cases) {
    SCOPED_TRACE(fmt::format("{}:{}: {}", c.file, c.line, c.text));
    testing::memory_source source;
    source.ingestion_ticks = fixed_now - 10'000'000;
    for (const auto& [name, text] : c.tables) {
      auto p = prepare(text, source, fixed_now);
      ASSERT_TRUE(std::holds_alternative<std::unique_ptr<prepared_query>>(p))
          << "table " << name << ": " << std::get<model::error>(p).message;
      auto& q = *std::get<std::unique_ptr<prepared_query>>(p);
      auto r = q.execute(source);
      ASSERT_TRUE(std::holds_alternative<query_result>(r)) << "table " << name << ": " << std::get<model::error>(r).message;
      const auto& t = std::get<query_result>(r).table;
      chunk rows;
      rows.rows = t.rows.size();
      for (size_t i = 0; i < t.columns.size(); ++i) {
        auto col = vec::make(t.columns[i].type, rows.rows);
        for (const auto& row : t.rows) {
          const auto& v = row[i];
          if (std::holds_alternative<std::monostate>(v)) col.append_null();
          else if (const auto* b = std::get_if<bool>(&v)) col.append_int(*b);
          else if (const auto* n = std::get_if<int64_t>(&v)) col.append_int(*n);
          else if (const auto* d = std::get_if<double>(&v)) col.append_real(*d);
          else col.append_text(std::get<std::string>(v));
        }
        rows.columns.push_back(std::move(col));
      }
      source.add(name, t.columns, std::move(rows));
    }
    auto p = prepare(c.text, source, fixed_now);
    std::variant<query_result, model::error> outcome = model::error{};
    if (auto* e = std::get_if<model::error>(&p)) outcome = *e;
    else outcome = std::get<std::unique_ptr<prepared_query>>(p)->execute(source);
    if (!c.error_code.empty()) {
      ASSERT_TRUE(std::holds_alternative<model::error>(outcome)) << "expected the error " << c.error_code;
      const auto& e = std::get<model::error>(outcome);
      EXPECT_EQ(e.code, c.error_code) << e.message;
      EXPECT_NE(e.message.find(c.error_part), std::string::npos) << e.message;
      continue;
    }
    ASSERT_TRUE(std::holds_alternative<query_result>(outcome))
        << std::get<model::error>(outcome).code << ": " << std::get<model::error>(outcome).message;
    const auto& t = std::get<query_result>(outcome).table;
    std::vector<std::string> got;
    std::string header;
    for (const auto& col : t.columns)
      header += (header.empty() ? "" : " | ") + col.name + ":" + std::string(model::to_string(col.type));
    got.push_back(header);
    for (const auto& row : t.rows) {
      std::string line;
      for (size_t i = 0; i < row.size(); ++i) line += (i ? " | " : "") + render(row[i], t.columns[i].type);
      got.push_back(line);
    }
    auto expected = c.expected;
    if (c.unordered) {
      std::sort(got.begin() + 1, got.end());
      std::sort(expected.begin() + 1, expected.end());
    }
    EXPECT_EQ(got, expected);
  }
}

std::vector<std::string> query_file_paths() {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(std::string(TRIBUTARY_SOURCE_DIR) + "/tests/queries"))
    if (e.path().extension() == ".test") out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

INSTANTIATE_TEST_SUITE_P(queries, query_files, ::testing::ValuesIn(query_file_paths()),
                         [](const auto& info) { return std::filesystem::path(info.param).stem().string(); });

}  // namespace
}  // namespace tributary::query
