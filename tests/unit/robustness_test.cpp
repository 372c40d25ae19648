#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <random>
#include <set>

#include "test_util.hpp"

namespace tributary::testing {
namespace {

// Valid commands the mutations start from; together they reach every verb.
const std::vector<std::string>& seeds() {
  static const std::vector<std::string> all = {
      ".create database Fresh ifnotexists",
      ".drop database Gone ifexists",
      ".show databases",
      ".create table N (a:int, ['b c']:string, d:dynamic) with (folder='F', docstring='D')",
      ".create-merge table T (a:int, z:real)",
      ".drop table N ifexists",
      ".show tables",
      ".show table T",
      ".show table T details",
      R"(.create table T ingestion csv mapping 'm' '[{"Column":"a","Properties":{"Ordinal":"0"}}]')",
      R"(.create-or-alter table T ingestion json mapping "j" '[{"Column":"b","Properties":{"Path":"$[\'x y\'].z[2]"}}]')",
      ".show table T ingestion mappings",
      ".show table T ingestion json mapping 'j'",
      ".drop table T ingestion csv mapping 'm'",
      R"(.alter table T policy streamingingestion '{"IsEnabled": true, "HintAllocatedRate": 2.1}')",
      ".alter database Db policy streamingingestion enable",
      R"(.alter-merge table T policy streamingingestion '{"HintAllocatedRate": null}')",
      ".delete table T policy streamingingestion",
      ".show database Db policy streamingingestion",
      ".alter cluster policy streamingingestion disable",
      ".alter cluster policy streamingingestion enable",
      ".show cluster policy streamingingestion",
      ".create table L ingestion json mapping 'k'\n'['\n'{\"column\":\"a\",\"path\":\"$.a\"}'\n']'",
      ".create table V (a:int) with (docstring=@'C:\\x ''q''')",
  };
  return all;
}

class mutator {
 public:
  explicit mutator(uint32_t seed) : rng_(seed) {}

  // Up to three mutations; one input in eight stays intact so that successful commands keep
  // changing the catalog the mutated ones run against.
  std::string mutate(std::string s) {
    size_t rounds = pick(8) == 0 ? 0 : 1 + pick(3);
    for (size_t i = 0; i < rounds; ++i) s = once(std::move(s));
    return s;
  }

  size_t pick(size_t n) { return n == 0 ? 0 : std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }

 private:
  char random_byte() {
    static const char interesting[] = {'\0', '\'', '"', '[', ']', '(', ')', ',', ':', '.', '-', '@', '\\', '`',
                                       '{', '}', '$', '\n', ' ', '/', '\xff', '\xc3', '\x80', '\x01'};
    if (pick(2) == 0) return interesting[pick(sizeof(interesting))];
    return static_cast<char>(pick(256));
  }

  std::string once(std::string s) {
    size_t at = pick(s.size() + 1);
    switch (pick(8)) {
      case 0:  // change a byte
        if (!s.empty()) s[pick(s.size())] = random_byte();
        break;
      case 1: {  // drop a span
        size_t n = 1 + pick(8);
        if (at < s.size()) s.erase(at, n);
        break;
      }
      case 2: {  // repeat a span
        if (s.empty()) break;
        size_t from = pick(s.size());
        std::string span = s.substr(from, 1 + pick(12));
        std::string rep;
        for (size_t k = 0, times = 1 + pick(60); k < times; ++k) rep += span;
        s.insert(pick(s.size() + 1), rep);
        break;
      }
      case 3: {  // insert random bytes
        std::string ins;
        for (size_t k = 0, n = 1 + pick(6); k < n; ++k) ins.push_back(random_byte());
        s.insert(at, ins);
        break;
      }
      case 4:  // truncate
        s.resize(at);
        break;
      case 5: {  // splice with another seed
        const auto& other = seeds()[pick(seeds().size())];
        s = s.substr(0, at) + other.substr(pick(other.size() + 1));
        break;
      }
      case 6:  // a huge name or literal
        s.insert(at, std::string(2000 + pick(20000), pick(2) == 0 ? 'x' : '['));
        break;
      default: {  // swap two halves
        s = s.substr(at) + " " + s.substr(0, at);
        break;
      }
    }
    return s;
  }

  std::mt19937 rng_;
};

TEST(robustness, mutated_commands_always_get_a_result_or_a_structured_error) {
  mutator m(20240607);
  model::catalog cat = sample_catalog();
  std::map<std::string, int> codes;
  int successes = 0;
  int changed = 0;
  const std::string databases[] = {"Db", "", "Missing"};
  constexpr int iterations = 6000;
  for (int i = 0; i < iterations; ++i) {
    if (i % 200 == 0) cat = sample_catalog();
    const std::string text = m.mutate(seeds()[m.pick(seeds().size())]);
    const std::string& database = databases[m.pick(3)];
    const std::string before = snapshot(cat);
    const uint64_t version = cat.version;
    commands::executed ex;
    ASSERT_NO_THROW(ex = run(cat, text, database)) << "input #" << i;
    ASSERT_FALSE(ex.kind.empty());
    if (const auto* e = std::get_if<model::error>(&ex.outcome)) {
      ASSERT_EQ(e->code.rfind("BadRequest_", 0), 0u) << e->code << " for input #" << i << ": " << e->message;
      ASSERT_FALSE(e->message.empty());
      ASSERT_TRUE(e->permanent);
      ASSERT_LT(e->message.size(), 4096u) << "input #" << i;
      ASSERT_TRUE(ex.changes.empty());
      ASSERT_EQ(snapshot(cat), before) << "an error changed the catalog, input #" << i;
      ++codes[e->code];
    } else {
      ++successes;
      ASSERT_TRUE(well_formed(std::get<model::result_table>(ex.outcome))) << "input #" << i;
      ASSERT_EQ(cat.version, version + (ex.changes.empty() ? 0 : 1)) << "input #" << i;
      if (ex.changes.empty()) {
        ASSERT_EQ(snapshot(cat), before) << "input #" << i;
      } else {
        ++changed;
      }
    }
  }
  // The mutations must exercise both outcomes and many distinct failures, or this test proves
  // little.
  EXPECT_GT(successes, iterations / 20);
  EXPECT_GT(changed, 10);
  EXPECT_GE(codes.size(), 6u);
  EXPECT_GT(codes["BadRequest_SyntaxError"], iterations / 4);
}

TEST(robustness, random_bytes_never_crash) {
  std::mt19937 rng(7);
  model::catalog cat = sample_catalog();
  const std::string before = snapshot(cat);
  for (int i = 0; i < 2000; ++i) {
    std::string text(std::uniform_int_distribution<size_t>(0, 200)(rng), '\0');
    for (auto& c : text) c = static_cast<char>(std::uniform_int_distribution<int>(0, 255)(rng));
    if (i % 2 == 0 && !text.empty()) text[0] = '.';
    auto ex = run(cat, text, "Db");
    ASSERT_TRUE(std::holds_alternative<model::error>(ex.outcome)) << "input #" << i;
  }
  EXPECT_EQ(snapshot(cat), before);
}

// Each input is a few megabytes; a quadratic step would take minutes, linear ones milliseconds.
TEST(robustness, huge_inputs_are_handled_in_linear_time) {
  model::catalog cat = sample_catalog();
  const size_t n = 4 * 1024 * 1024;
  std::string columns = ".create table Wide (";
  for (int i = 0; i < 200000; ++i) columns += "c" + std::to_string(i) + ":int, ";
  std::string elements = ".create table T ingestion csv mapping 'big' '[";
  for (int i = 0; i < 100000; ++i) elements += R"({"Column":"a","Ordinal":0},)";
  elements += "{}]'";
  std::string deep_policy = ".alter table T policy streamingingestion '" + std::string(n, '[') + "'";
  struct input {
    std::string what;
    std::string text;
    bool may_succeed = false;
  };
  const std::vector<input> inputs = {
      {"parentheses", std::string(n, '(')},
      {"dots", std::string(n, '.')},
      {"long identifier", ".show table " + std::string(n, 'x')},
      {"long bracketed name", ".show table ['" + std::string(n, 'x') + "']"},
      {"unterminated string", ".create table T (a:int) with (docstring='" + std::string(n, 'x')},
      {"long literal", ".create table Doc (a:int) with (docstring='" + std::string(n, 'x') + "')", true},
      {"many columns", columns},
      {"many mapping elements", elements},
      {"deep json", deep_policy},
      {"many adjacent literals", ".alter table T policy streamingingestion " + [&] {
         std::string s;
         for (int i = 0; i < 200000; ++i) s += "' ' ";
         return s;
       }()},
  };
  for (const auto& [what, text, may_succeed] : inputs) {
    auto start = std::chrono::steady_clock::now();
    auto ex = run(cat, text, "Db");
    auto elapsed = std::chrono::steady_clock::now() - start;
    if (!may_succeed) {
      EXPECT_TRUE(std::holds_alternative<model::error>(ex.outcome)) << what;
    }
    EXPECT_LT(elapsed, std::chrono::seconds(10)) << what;
    if (const auto* e = std::get_if<model::error>(&ex.outcome)) {
      EXPECT_LT(e->message.size(), 4096u) << what;
    }
  }
  EXPECT_EQ(cat.find_database("Db")->tables.count("Wide"), 0u);
}

TEST(robustness, a_table_may_have_ten_thousand_columns_but_not_more) {
  model::catalog cat = sample_catalog();
  std::string text = ".create table Wide (";
  for (int i = 0; i < 10000; ++i) text += (i ? ", c" : "c") + std::to_string(i) + ":long";
  EXPECT_EQ(ok(cat, text + ")", "Db").rows.size(), 1u);
  EXPECT_EQ(cat.find_database("Db")->tables.at("Wide").columns.size(), 10000u);
  auto e = fails(cat, text + ", extra:int, more:int)", "Db");
  EXPECT_HAS(e.message, "has more than 10000 columns");
}

}  // namespace
}  // namespace tributary::testing
