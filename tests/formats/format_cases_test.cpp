// Data-driven ingest format tests: every tests/formats/cases/*.case file holds cases of "these
// bytes in, these rows (or this error) out", run through ingest::check_properties,
// ingest::decompress and ingest::parse as the table actor runs them. The file format is in
// tests/formats/README.md; ctest runs one test per file.

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include "tests/support/gzip.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "client/render.hpp"
#include "tests/support/data_files.hpp"
#include "ingest/ingest.hpp"

namespace tributary::testing {
namespace {

namespace fs = std::filesystem;

struct format_case {
  std::string name;
  int line = 0;
  model::table table;
  std::string format;
  std::optional<model::mapping> mapping;
  std::vector<std::pair<std::string, std::string>> properties;
  size_t limit = ingest::max_request_bytes;
  std::string input;
  int gzip_members = 0;
  std::optional<size_t> truncate;
  std::vector<long long> flips;  // negative: counted from the end
  std::vector<std::string> expect;
  std::optional<size_t> expect_rows;
  std::optional<std::string> error;
};

[[noreturn]] void fail(const fs::path& file, int line, const std::string& what) {
  throw std::runtime_error(fmt::format("{}:{}: {}", file.filename().string(), line, what));
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return std::string(s);
}

// "\n", "\r", "\t", "\0", "\\" and "\xHH" in an input-raw line.
std::string unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 >= s.size()) {
      out += s[i];
      continue;
    }
    char c = s[++i];
    if (c == 'n')
      out += '\n';
    else if (c == 'r')
      out += '\r';
    else if (c == 't')
      out += '\t';
    else if (c == '0')
      out += '\0';
    else if (c == 'x' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else
      out += c;
  }
  return out;
}

// "Logs (a:int, ['x y']:string)" or "(a:int)".
model::table parse_table(const fs::path& file, int line, std::string_view text) {
  model::table t;
  auto open = text.find('(');
  auto close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos)
    fail(file, line, "table: expects (name:type, ...)");
  t.name = trim(text.substr(0, open));
  if (t.name.empty()) t.name = "T";
  std::string_view cols = text.substr(open + 1, close - open - 1);
  while (!cols.empty()) {
    auto comma = cols.find(',');
    std::string_view part = cols.substr(0, comma);
    auto colon = part.rfind(':');
    if (colon == std::string_view::npos) fail(file, line, "column without a type");
    std::string name = trim(part.substr(0, colon));
    if (name.starts_with("['") && name.ends_with("']")) name = name.substr(2, name.size() - 4);
    auto type = model::parse_column_type(trim(part.substr(colon + 1)));
    if (!type) fail(file, line, "unknown type in " + std::string(part));
    t.columns.push_back({name, *type});
    cols = comma == std::string_view::npos ? std::string_view() : cols.substr(comma + 1);
  }
  return t;
}

// "csv [{...}]" or "json [{...}]": Kusto's documented element shape.
model::mapping parse_mapping(const fs::path& file, int line, std::string_view text) {
  model::mapping m;
  m.name = "m";
  auto space = text.find(' ');
  std::string kind(text.substr(0, space));
  if (kind != "csv" && kind != "json") fail(file, line, "mapping kind is csv or json");
  m.kind = kind == "csv" ? model::mapping_kind::csv : model::mapping_kind::json;
  auto doc = nlohmann::json::parse(text.substr(space + 1));
  for (const auto& el : doc) {
    model::mapping_element e;
    e.column = el.at("Column").get<std::string>();
    if (el.contains("DataType"))
      e.data_type = model::parse_column_type(el["DataType"].get<std::string>());
    const auto& p = el.contains("Properties") ? el["Properties"] : nlohmann::json::object();
    if (p.contains("Ordinal"))
      e.ordinal = p["Ordinal"].is_string() ? std::stoi(p["Ordinal"].get<std::string>())
                                           : p["Ordinal"].get<int>();
    if (p.contains("Path")) e.path = p["Path"].get<std::string>();
    if (p.contains("ConstValue")) e.const_value = p["ConstValue"].get<std::string>();
    if (p.contains("Transform")) e.transform = p["Transform"].get<std::string>();
    m.elements.push_back(std::move(e));
  }
  return m;
}

bool starts_directive(const std::string& line) {
  static const std::vector<std::string> ends = {
      "expect:",   "expect-rows:", "error:", "repeat:", "gzip:",
      "truncate:", "flip:",        "limit:", "=== "};
  return std::any_of(ends.begin(), ends.end(), [&](const auto& d) { return line.starts_with(d); });
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<format_case> parse_cases(const fs::path& file) {
  std::vector<std::string> lines;
  {
    std::istringstream in(read_file(file));
    for (std::string l; std::getline(in, l);) lines.push_back(l);
  }
  std::vector<format_case> cases;
  model::table table;
  std::string format;
  enum class block { none, input, expect } in = block::none;
  for (size_t i = 0; i < lines.size(); ++i) {
    const int n = static_cast<int>(i + 1);
    const std::string& raw = lines[i];
    if (in == block::input && !starts_directive(raw)) {
      cases.back().input += raw + "\n";
      continue;
    }
    const std::string line = trim(raw);
    if (line.starts_with("=== ")) {
      in = block::none;
      format_case c;
      c.name = line.substr(4);
      c.line = n;
      c.table = table;
      c.format = format;
      cases.push_back(std::move(c));
      continue;
    }
    if (line.empty() || line.starts_with("#")) continue;
    if (in == block::expect && !starts_directive(line)) {
      // Expected rows are compared as written: a value may start or end with a space.
      std::string row = raw;
      if (!row.empty() && row.back() == '\r') row.pop_back();
      cases.back().expect.push_back(row);
      continue;
    }
    in = block::none;
    auto colon = line.find(':');
    if (colon == std::string::npos) fail(file, n, "cannot parse: " + line);
    const std::string key = line.substr(0, colon);
    const std::string value = trim(std::string_view(line).substr(colon + 1));
    if (key == "table") {
      table = parse_table(file, n, value);
      if (!cases.empty()) cases.back().table = table;
      continue;
    }
    if (key == "format") {
      format = value;
      if (!cases.empty()) cases.back().format = format;
      continue;
    }
    if (cases.empty()) fail(file, n, key + ": comes after a '=== name' line");
    auto& c = cases.back();
    if (key == "mapping")
      c.mapping = parse_mapping(file, n, value);
    else if (key == "property") {
      auto eq = value.find('=');
      c.properties.emplace_back(value.substr(0, eq),
                                eq == std::string::npos ? "" : value.substr(eq + 1));
    } else if (key == "limit")
      c.limit = std::stoull(value);
    else if (key == "input")
      in = block::input;
    else if (key == "input-raw")
      c.input += unescape(std::string_view(raw).substr(raw.find(':') + 2));
    else if (key == "input-times") {
      // "input-times: 1000 [": the escaped text after the count, that many times.
      const auto space = value.find(' ');
      const std::string piece = unescape(value.substr(space + 1));
      for (size_t k = std::stoull(value.substr(0, space)); k > 0; --k) c.input += piece;
    } else if (key == "input-file")
      c.input += read_file(fs::path(TRIBUTARY_FORMAT_TESTS_DIR) / value);
    else if (key == "repeat") {
      const std::string once = c.input;
      for (size_t k = std::stoull(value); k > 1; --k) c.input += once;
    } else if (key == "gzip")
      c.gzip_members = std::stoi(value);
    else if (key == "truncate")
      c.truncate = std::stoull(value);
    else if (key == "flip")
      c.flips.push_back(std::stoll(value));
    else if (key == "expect")
      in = block::expect;
    else if (key == "expect-rows")
      c.expect_rows = std::stoull(value);
    else if (key == "error")
      c.error = value;
    else
      fail(file, n, "unknown directive " + key);
  }
  for (const auto& c : cases)
    if (c.expect.empty() && !c.expect_rows && !c.error)
      fail(file, c.line, "case '" + c.name + "' expects nothing");
  return cases;
}

std::string payload(const format_case& c) {
  std::string data = c.input;
  if (c.gzip_members > 0) {
    std::string z;
    const size_t part = data.size() / static_cast<size_t>(c.gzip_members);
    for (int m = 0; m < c.gzip_members; ++m) {
      const size_t from = part * static_cast<size_t>(m);
      z += tributary::testing::gzip(m + 1 == c.gzip_members ? std::string_view(data).substr(from)
                                                            : std::string_view(data).substr(from, part),
                                    Z_BEST_COMPRESSION);
    }
    data = std::move(z);
  }
  if (c.truncate) data.resize(std::min(data.size(), *c.truncate));
  for (long long f : c.flips) {
    const long long at = f < 0 ? static_cast<long long>(data.size()) + f : f;
    if (at >= 0 && at < static_cast<long long>(data.size()))
      data[static_cast<size_t>(at)] ^= static_cast<char>(0xFF);
  }
  return data;
}

// Values as the expected lines show them: \n, \r, \t, \\ and \xHH escapes, CSV quoting when a
// value holds ',' or '"', "" for the empty string and <null> for null.
std::string render_text(std::string_view s) {
  if (s.empty()) return "\"\"";
  std::string e;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\\')
      e += "\\\\";
    else if (c == '\n')
      e += "\\n";
    else if (c == '\r')
      e += "\\r";
    else if (c == '\t')
      e += "\\t";
    else if (c < 0x20 || c == 0x7F)
      e += fmt::format("\\x{:02X}", c);
    else
      e += ch;
  }
  if (e.find_first_of(",\"") == std::string::npos) return e;
  std::string q = "\"";
  for (char ch : e) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return q + "\"";
}

std::string render_cell(const model::column_data& col, size_t row) {
  if (col.is_null(row)) return "<null>";
  switch (col.type) {
    case model::column_type::string:
    case model::column_type::decimal:
    case model::column_type::guid:
    case model::column_type::dynamic:
      return render_text(col.text_at(row));
    default:
      return client::render_value(col.at(row), col.type);
  }
}

// The batch's shape must hold whatever the values are.
void check_shape(const model::column_batch& b, const model::table& t, const std::string& where) {
  ASSERT_EQ(b.columns.size(), t.columns.size()) << where;
  for (size_t c = 0; c < b.columns.size(); ++c) {
    const auto& col = b.columns[c];
    ASSERT_EQ(col.type, t.columns[c].type) << where;
    ASSERT_EQ(col.size(), b.rows) << where << ": column " << c;
    const bool text =
        col.type == model::column_type::string || col.type == model::column_type::decimal ||
        col.type == model::column_type::guid || col.type == model::column_type::dynamic;
    if (text)
      ASSERT_EQ(col.offsets.size(), b.rows + 1) << where;
    else if (col.type == model::column_type::real)
      ASSERT_EQ(col.reals.size(), b.rows) << where;
    else
      ASSERT_EQ(col.ints.size(), b.rows) << where;
  }
  EXPECT_EQ(b.ingestion_ticks, 0) << where << ": the caller sets ingestion_ticks";
}

void run_case(const fs::path& file, const format_case& c) {
  const std::string where = fmt::format("{}:{} ({})", file.filename().string(), c.line, c.name);
  auto outcome = [&]() -> std::variant<model::column_batch, model::error> {
    if (auto e = ingest::check_properties(c.properties)) return *e;
    auto data = ingest::decompress(payload(c), c.limit);
    if (auto* e = std::get_if<model::error>(&data)) return *e;
    auto f = ingest::parse_format(c.format);
    if (!f) return model::error{"test", "unknown format " + c.format, true};
    return ingest::parse(*f, std::get<std::string>(data), c.table,
                         c.mapping ? &*c.mapping : nullptr);
  }();
  if (c.error) {
    const auto colon = c.error->find(": ");
    const std::string code = c.error->substr(0, colon);
    const std::string part = colon == std::string::npos ? "" : c.error->substr(colon + 2);
    auto* e = std::get_if<model::error>(&outcome);
    if (!e) {
      ADD_FAILURE() << where << ": expected error " << *c.error << ", got "
                    << std::get<model::column_batch>(outcome).rows << " rows";
      return;
    }
    EXPECT_EQ(e->code, code) << where << ": " << e->message;
    EXPECT_NE(e->message.find(part), std::string::npos)
        << where << ": expected the message to contain '" << part << "', got: " << e->message;
    EXPECT_TRUE(e->permanent) << where;
    return;
  }
  if (auto* e = std::get_if<model::error>(&outcome)) {
    ADD_FAILURE() << where << ": unexpected error " << e->code << ": " << e->message;
    return;
  }
  const auto& batch = std::get<model::column_batch>(outcome);
  check_shape(batch, c.table, where);
  if (c.expect_rows) {
    EXPECT_EQ(batch.rows, *c.expect_rows) << where;
    return;
  }
  std::vector<std::string> actual;
  for (size_t r = 0; r < batch.rows; ++r) {
    std::string line;
    for (size_t col = 0; col < batch.columns.size(); ++col)
      line += (col ? "," : "") + render_cell(batch.columns[col], r);
    actual.push_back(line);
  }
  if (actual != c.expect) {
    std::string want, got;
    for (const auto& l : c.expect) want += "  " + l + "\n";
    for (const auto& l : actual) got += "  " + l + "\n";
    ADD_FAILURE() << where << "\nexpected:\n" << want << "actual:\n" << got;
  }
}

class case_file : public ::testing::TestWithParam<fs::path> {};

TEST_P(case_file, produces_expected_rows_or_error) {
  std::vector<format_case> cases;
  try {
    cases = parse_cases(GetParam());
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  for (const auto& c : cases) run_case(GetParam(), c);
}

std::vector<std::filesystem::path> g_files;  // set by main() before tests register

INSTANTIATE_TEST_SUITE_P(formats, case_file, ::testing::ValuesIn(g_files),
                         [](const auto& info) { return info.param.stem().string(); });

}  // namespace
}  // namespace tributary::testing

int main(int argc, char** argv) {
  tributary::testing::g_files = tributary::testing::data_files(argc, argv, std::filesystem::path(TRIBUTARY_FORMAT_TESTS_DIR) / "cases", ".case");
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
