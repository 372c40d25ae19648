// Mutation fuzzing of parse_kql: corpus queries (the oracle's queries plus hand-written ones
// covering every construct) mutated by byte flips, truncations, splices, token insertions and
// deletions. Every input must come back within a time bound, without crashing, either as a
// tree or as a BadRequest_SyntaxError that names a line and a column. Seeded, so a failure
// reproduces; the failing input is printed (escaped).

#include "query/parser.hpp"

#include <chrono>
#include <cstdint>
#include <fstream>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace tributary::query {
namespace {

std::vector<std::string> corpus() {
  std::vector<std::string> out = {
      "set notruncation;\nlet T0 = datatable(a:long, b:string)[1, \"x\", -2, 'y', int(null), "
      "h\"z\"];\nT0 | where a > 0 and b has \"x\" | project a, c = b | take 10;",
      "let f = 5m; let R = T | where ts > ago(f); R | summarize count(), sum(x) by bin(ts, 1m), "
      "k | order by ts asc nulls first",
      "print 1d, 2h, 30m, 10s, 100ms, 10microsecond, 1tick, 1.5h, time(1.02:03:04.5), "
      "timespan(2), datetime(2015-12-31 23:59:59.9), datetime(null), guid(74be27de-1e4e-49d9-"
      "b579-fe0b331d3642), real(+inf), real(nan), bool(true), decimal(1.5), long(-3)",
      "print d = dynamic({\"a\": [1, 2.5, \"x\", null, true, {\"b\": -3}]}), @\"c:\\x\", "
      "```multi\nline```, 'a\\tb' \"c\\u0041\"",
      "T | extend x = d.a.b['x'][0][-1], y = tostring(d[\"k\"]) | where x in (1, 2, 3) and y "
      "!in~ ('a') or z between (1 .. 10) or w !between (ago(1d) .. now())",
      "T | where a has_any ('x', 'y') and b has_all (dynamic(['z'])) and c in (U | project c) "
      "and e matches regex \"[0-9]+\" and f !contains_cs 'q' and g =~ 'h' and toscalar(U | "
      "count) > 1",
      "union kind=outer withsource=Src isfuzzy=true T, (U | count), V* | join kind=inner "
      "hint.strategy=broadcast (W | where x) on a, $left.b == $right.c | lookup (X) on k",
      "T | make-series c = count() default=0, avg(v) on ts from ago(1h) to now() step 1m by k "
      "| render timechart with (title=\"t\", ycolumns=a, b)",
      "T | mv-expand a = d to typeof(long) limit 10 | serialize rn = row_number() | as X | "
      "getschema",
      "T | project-away Pr*, ['x'] | project-keep a* | project-reorder b asc | project-rename "
      "n = o | distinct * | top 5 by x desc nulls last | count",
      "range x from 1 to 10 step 1 | summarize (a, b) = arg_max(x, *) by k = x % 2",
      "T\n// a comment\n| where ['my col'] == \"a\"\n| summarize by x\n| summarize\n",
  };
  std::ifstream in(std::string(TRIBUTARY_SOURCE_DIR) + "/tests/query/oracle/golden.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(nlohmann::json::parse(line).at("query"));
  }
  return out;
}

const std::vector<std::string>& tokens() {
  static const std::vector<std::string> t = {
      "|", "(", ")", "[", "]", "{", "}", ",", ";", ".", "..", "=", "==", "!=", "<>", "<", "<=",
      ">", ">=", "=~", "!~", "+", "-", "*", "/", "%", ":", "!", "~", "\"", "'", "@\"", "```",
      "h'", "$left", "$right", "where", "project", "extend", "summarize", "by", "on", "from",
      "to", "step", "let", "set", "print", "datatable", "range", "union", "join", "kind=",
      "has", "!has", "in", "!in~", "between", "and", "or", "not(", "datetime(", "time(",
      "dynamic(", "int(", "real(", "guid(", "null", "true", "1", "-1", "1.5", "1e9", "1h",
      "0x", "99999999999999999999", "first", "['x']", "\n", " ", "//", "\\", "\xff", "\0",
      "make-series", "project-away", "mv-expand", "render", "with", "default=", "nulls",
      "(((((((((((", "]]]]]]", "dynamic([[[[[[", "- - -"};
  return t;
}

std::string mutate(const std::vector<std::string>& seeds, std::mt19937_64& rng) {
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  std::string s = seeds[pick(seeds.size())];
  int rounds = 1 + static_cast<int>(pick(4));
  for (int r = 0; r < rounds; ++r) {
    switch (pick(7)) {
      case 0:  // flip a byte
        if (!s.empty()) s[pick(s.size())] = static_cast<char>(rng());
        break;
      case 1:  // truncate
        s.resize(s.empty() ? 0 : pick(s.size() + 1));
        break;
      case 2: {  // splice: a prefix of this with a suffix of another
        const std::string& o = seeds[pick(seeds.size())];
        s = s.substr(0, pick(s.size() + 1)) + o.substr(pick(o.size() + 1));
        break;
      }
      case 3:  // insert a token
        s.insert(pick(s.size() + 1), tokens()[pick(tokens().size())]);
        break;
      case 4: {  // delete a range
        if (s.empty()) break;
        size_t a = pick(s.size());
        s.erase(a, pick(16) + 1);
        break;
      }
      case 5: {  // duplicate a range (deepens nesting, lengthens chains)
        if (s.empty()) break;
        size_t a = pick(s.size());
        size_t n = std::min<size_t>(pick(32) + 1, s.size() - a);
        std::string piece = s.substr(a, n);
        int times = 1 + static_cast<int>(pick(50));
        std::string rep;
        for (int k = 0; k < times; ++k) rep += piece;
        s.insert(a, rep);
        break;
      }
      default:  // replace a byte with a random printable one
        if (!s.empty()) s[pick(s.size())] = static_cast<char>(' ' + pick(95));
        break;
    }
  }
  return s;
}

std::string escaped(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
}

TEST(parser_fuzz, mutated_queries_parse_or_fail_cleanly) {
  const auto seeds = corpus();
  ASSERT_GT(seeds.size(), 60u);
  std::mt19937_64 rng(20240601);
  const std::regex position_re("^Syntax error at line [1-9][0-9]*, column [1-9][0-9]*: .+");
  constexpr int inputs = 120'000;
  int accepted = 0;
  auto slowest = std::chrono::nanoseconds::zero();
  for (int n = 0; n < inputs; ++n) {
    std::string input = mutate(seeds, rng);
    auto start = std::chrono::steady_clock::now();
    auto r = parse_kql(input);
    auto took = std::chrono::steady_clock::now() - start;
    slowest = std::max(slowest, std::chrono::duration_cast<std::chrono::nanoseconds>(took));
    ASSERT_LT(took, std::chrono::milliseconds(500)) << "input #" << n << ": " << escaped(input);
    if (std::holds_alternative<query_ast>(r)) {
      ++accepted;
      ASSERT_TRUE(std::get<query_ast>(r).body) << "input #" << n << ": " << escaped(input);
      continue;
    }
    const auto& e = std::get<model::error>(r);
    ASSERT_EQ(e.code, "BadRequest_SyntaxError") << "input #" << n << ": " << escaped(input);
    ASSERT_TRUE(e.permanent) << escaped(input);
    // Only the message's first line is checked against the pattern ('.' does not match '\n').
    ASSERT_TRUE(std::regex_search(e.message.substr(0, e.message.find('\n')), position_re))
        << "input #" << n << ": " << escaped(input) << "\n  message: " << e.message;
  }
  std::printf("%d inputs, %d accepted, slowest %.3f ms\n", inputs, accepted,
              static_cast<double>(slowest.count()) / 1e6);
}

// Large hostile inputs: linear time, bounded depth.
TEST(parser_fuzz, large_inputs_stay_linear) {
  std::string many_ops = "T";
  for (int i = 0; i < 20000; ++i) many_ops += " | where x > 1";
  std::string long_list = "T | where x in (1";
  for (int i = 0; i < 200000; ++i) long_list += ", 1";
  long_list += ")";
  std::string long_string = "print \"" + std::string(1 << 20, 'a') + "\"";
  std::string garbage(1 << 20, '(');
  std::string brackets = "print d" ;
  for (int i = 0; i < 100000; ++i) brackets += "[0]";
  for (const auto* q : {&many_ops, &long_list, &long_string, &garbage, &brackets}) {
    auto start = std::chrono::steady_clock::now();
    auto r = parse_kql(*q);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3))
        << q->substr(0, 60);
    if (auto* e = std::get_if<model::error>(&r)) {
      EXPECT_EQ(e->code, "BadRequest_SyntaxError");
    }
  }
}

}  // namespace
}  // namespace tributary::query
