// Conformance with Kusto's own parser and binder (Kusto.Language, the oracle of
// tests/query/oracle/): for every query of corpus.kql, conformance.jsonl holds whether Kusto
// accepts it (parses, binds with no error) and, when it does, the result schema it infers.
// prepare() must accept exactly the queries Kusto accepts and give the same columns, names and
// types in order. The tables are schema.json's, empty (prepare only binds).
//
// known_differences.txt lists the queries where the engine differs on purpose or where Kusto's
// parser is known to be wrong, one a line: "<query> ## <reason>". An entry that no longer
// differs fails the test too, so the list only shrinks. Regenerate the answers with
// scripts/kql-oracle (needs Node); this test needs none.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "query/engine.hpp"
#include "support/memory_source.hpp"

namespace tributary::query {
namespace {

constexpr int64_t fixed_now = 17'040'672'000'000'000;  // 2024-01-01T00:00:00Z
const std::string oracle_dir = std::string(TRIBUTARY_SOURCE_DIR) + "/tests/query/oracle/";

std::string trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return "";
  const auto e = s.find_last_not_of(" \t\r");
  return std::string(s.substr(b, e - b + 1));
}

// schema.json's tables: {"tables": {"T": "(a:long, b:string)"}}, Kusto's schema text.
testing::memory_source schema_source() {
  std::ifstream in(oracle_dir + "schema.json");
  EXPECT_TRUE(in) << "missing " << oracle_dir << "schema.json";
  testing::memory_source source;
  if (!in) return source;
  const auto j = nlohmann::json::parse(in);
  for (const auto& [table, text] : j.at("tables").items()) {
    std::string cols = text.get<std::string>();
    cols = cols.substr(cols.find('(') + 1);
    cols = cols.substr(0, cols.rfind(')'));
    std::vector<model::column> schema;
    std::istringstream list(cols);
    std::string item;
    while (std::getline(list, item, ',')) {
      const auto colon = item.find(':');
      const auto type = model::parse_column_type(trim(item.substr(colon + 1)));
      EXPECT_TRUE(type) << "schema.json: table " << table << ": unknown type in '" << item << "'";
      schema.push_back({trim(item.substr(0, colon)), type.value_or(model::column_type::string)});
    }
    source.add(table, std::move(schema), chunk{});
  }
  return source;
}

// known_differences.txt: query → reason.
std::map<std::string, std::string> known_differences() {
  std::map<std::string, std::string> out;
  std::ifstream in(oracle_dir + "known_differences.txt");
  std::string line;
  while (std::getline(in, line)) {
    if (trim(line).empty() || line[0] == '#') continue;
    const auto sep = line.find(" ## ");
    EXPECT_NE(sep, std::string::npos) << "known_differences.txt: no ' ## <reason>' in: " << line;
    if (sep != std::string::npos) out[line.substr(0, sep)] = line.substr(sep + 4);
  }
  return out;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return "[" + out + "]";
}

TEST(conformance, engine_accepts_and_types_as_kusto) {
  std::ifstream in(oracle_dir + "conformance.jsonl");
  ASSERT_TRUE(in) << "missing " << oracle_dir << "conformance.jsonl (scripts/kql-oracle writes it)";
  const auto source = schema_source();
  const auto known = known_differences();
  std::set<std::string> seen_known;
  int queries = 0, agree = 0, allowed = 0;
  std::vector<std::string> report;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const auto j = nlohmann::json::parse(line);
    const std::string query = j.at("query");
    const bool kusto_ok = j.at("syntax_ok").get<bool>() && j.at("semantic_errors").empty();
    std::vector<std::string> kusto_columns = j.at("result_columns");
    ++queries;

    std::string problem;
    auto r = prepare(query, source, fixed_now);
    if (const auto* e = std::get_if<model::error>(&r)) {
      if (kusto_ok) problem = fmt::format("rejected, Kusto accepts {}: {}: {}", join(kusto_columns), e->code, e->message);
    } else if (!kusto_ok) {
      std::string why;
      for (const char* k : {"syntax_errors", "semantic_errors"})
        for (const auto& d : j.at(k)) why += fmt::format(" {} {};", d.at("code").get<std::string>(), d.at("message").get<std::string>());
      problem = "accepted, Kusto rejects:" + why;
    } else {
      std::vector<std::string> ours;
      for (const auto& c : std::get<0>(r)->columns()) ours.push_back(c.name + ":" + std::string(model::to_string(c.type)));
      if (ours != kusto_columns) problem = fmt::format("columns {}\n    Kusto {}", join(ours), join(kusto_columns));
    }
    if (problem.empty()) {
      ++agree;
      if (known.count(query)) report.push_back("STALE known difference (now agrees, remove it): " + query);
      continue;
    }
    if (auto it = known.find(query); it != known.end()) {
      ++allowed;
      seen_known.insert(query);
      continue;
    }
    report.push_back(query + "\n    " + problem);
  }
  for (const auto& [query, reason] : known)
    if (!seen_known.count(query) && !std::count(report.begin(), report.end(), "STALE known difference (now agrees, remove it): " + query))
      report.push_back("known difference not in the corpus (remove it): " + query);

  for (const auto& r : report) std::cout << r << "\n";
  std::cout << fmt::format("{} queries: {} agree with Kusto, {} known differences, {} disagreements\n", queries, agree,
                           allowed, report.size());
  EXPECT_GE(queries, 400);
  EXPECT_TRUE(report.empty()) << report.size() << " disagreements with Kusto.Language, listed above";
}

}  // namespace
}  // namespace tributary::query
