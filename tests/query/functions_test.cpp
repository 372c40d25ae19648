// The operators and core scalar functions through their registry, as the binder and executor
// use them: find by name, bind with argument types (and constants), eval a chunk of columns.
// Cases from kql.md §2.2 (null comparisons), §2.3, §2.6 (bin), §2.9 and §2.10.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>

#include "ingest/convert.hpp"
#include "query/functions.hpp"

namespace tributary::query {
namespace {

using model::column_data;
using model::value;
using ct = model::column_type;
using V = std::vector<value>;
using namespace std::string_literals;

const value N = std::monostate{};
constexpr int64_t second = 10'000'000;
constexpr int64_t day = 86'400 * second;

/// An argument: a column, or a constant (one row, and the binder knows its value).
struct arg {
  column_data data;
  bool constant = false;
};

arg longs(const std::vector<std::optional<int64_t>>& v, ct t = ct::long_) {
  arg a;
  a.data.type = t;
  for (auto& x : v) x ? a.data.append_int(*x) : a.data.append_null();
  return a;
}
arg reals(const std::vector<std::optional<double>>& v) {
  arg a;
  a.data.type = ct::real;
  for (auto& x : v) x ? a.data.append_real(*x) : a.data.append_null();
  return a;
}
arg bools(const std::vector<std::optional<bool>>& v) {
  std::vector<std::optional<int64_t>> i;
  for (auto& x : v) i.push_back(x ? std::optional<int64_t>(*x ? 1 : 0) : std::nullopt);
  return longs(i, ct::bool_);
}
arg texts(const std::vector<std::optional<std::string>>& v, ct t = ct::string) {
  arg a;
  a.data.type = t;
  for (auto& x : v) x ? a.data.append_text(*x) : a.data.append_null();
  return a;
}
arg lit(ct t, value v) { return arg{vec::constant(t, v), true}; }
arg lit(int64_t v) { return lit(ct::long_, v); }
arg lit(double v) { return lit(ct::real, v); }
arg lit(const char* v) { return lit(ct::string, std::string(v)); }
arg null_of(ct t) { return lit(t, std::monostate{}); }

int64_t dt(std::string_view text) {
  int64_t ticks = 0;
  auto problem = ingest::detail::parse_datetime(text, ticks);
  EXPECT_TRUE(problem.empty()) << text << ": " << problem;
  return ticks;
}
arg dts(const std::vector<std::optional<std::string>>& v) {
  std::vector<std::optional<int64_t>> t;
  for (auto& x : v) t.push_back(x ? std::optional<int64_t>(dt(*x)) : std::nullopt);
  return longs(t, ct::datetime);
}

std::vector<arg_info> infos(const std::vector<arg>& args) {
  std::vector<arg_info> out;
  for (auto& a : args) {
    arg_info i;
    i.type = a.data.type;
    if (a.constant) i.constant = a.data.at(0);
    out.push_back(i);
  }
  return out;
}

std::variant<bound_function, std::string> bind(std::string_view name, const std::vector<arg>& args) {
  const scalar_function* f = find_scalar_function(name);
  if (!f) return "unknown function " + std::string(name);
  auto i = infos(args);
  return f->bind(i);
}

/// The bind error of `name` over `args` ("" when it binds).
std::string bind_error(std::string_view name, const std::vector<arg>& args) {
  auto b = bind(name, args);
  auto* e = std::get_if<std::string>(&b);
  return e ? *e : "";
}

struct result {
  ct type = ct::long_;
  column_data data;
  std::optional<std::string> error;
};

result run_full(std::string_view name, const std::vector<arg>& args, size_t rows = 0) {
  for (auto& a : args) rows = std::max(rows, a.data.size());
  auto b = bind(name, args);
  if (auto* e = std::get_if<std::string>(&b)) {
    ADD_FAILURE() << name << ": " << *e;
    return {};
  }
  auto& f = std::get<bound_function>(b);
  std::vector<const column_data*> ptrs;
  for (auto& a : args) ptrs.push_back(&a.data);
  eval_context ctx;
  result r;
  r.type = f.result;
  r.data = f.eval(ptrs, rows, ctx);
  r.error = ctx.error;
  EXPECT_EQ(r.data.size(), rows) << name;
  EXPECT_EQ(r.data.type, f.result) << name;
  return r;
}

/// The values of `name` over `args`, one per row.
V run(std::string_view name, const std::vector<arg>& args, size_t rows = 0) {
  auto r = run_full(name, args, rows);
  V out;
  for (size_t i = 0; i < r.data.size(); ++i) out.push_back(r.data.at(i));
  return out;
}

ct type_of(std::string_view name, const std::vector<arg>& args) {
  auto b = bind(name, args);
  auto* f = std::get_if<bound_function>(&b);
  EXPECT_TRUE(f) << name << ": " << std::get<std::string>(b);
  return f ? f->result : ct::long_;
}

// ---------------------------------------------------------------------------------------------
// Registry

TEST(functions, registry_finds_functions_aliases_and_operators) {
  EXPECT_NE(find_scalar_function("iff"), nullptr);
  EXPECT_NE(find_scalar_function("iif"), nullptr);
  EXPECT_NE(find_scalar_function("=="), nullptr);
  EXPECT_NE(find_scalar_function("matches regex"), nullptr);
  EXPECT_EQ(find_scalar_function("no_such_function"), nullptr);
  EXPECT_EQ(find_scalar_function("ToString"), nullptr);  // case-sensitive, as Kusto
  EXPECT_EQ(find_scalar_function("tostring")->naming, result_naming::first_argument);
  EXPECT_EQ(find_scalar_function("bin")->naming, result_naming::first_argument);
  EXPECT_EQ(find_scalar_function("iff")->naming, result_naming::column_n);
}

TEST(functions, user_visible_names_exclude_operators) {
  auto names = scalar_function_names();
  auto has = [&](std::string_view n) { return std::find(names.begin(), names.end(), n) != names.end(); };
  EXPECT_TRUE(has("tostring"));
  EXPECT_TRUE(has("parse_json"));
  EXPECT_TRUE(has("not"));
  EXPECT_FALSE(has("=="));
  EXPECT_FALSE(has("has"));
  EXPECT_FALSE(has("in~"));
  EXPECT_FALSE(has(".member"));
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
}

TEST(functions, vec_helpers) {
  auto n = vec::nulls(ct::long_, 3);
  EXPECT_EQ(n.size(), 3u);
  EXPECT_TRUE(n.is_null(2));
  auto s = vec::nulls(ct::string, 2);
  EXPECT_FALSE(s.is_null(0));  // strings are never null
  EXPECT_EQ(s.text_at(1), "");
  auto c = vec::constant(ct::datetime, int64_t{42});
  EXPECT_EQ(c.size(), 1u);
  EXPECT_EQ(c.ints[0], 42);
  EXPECT_EQ(vec::at(c, 7), 0u);
}

// ---------------------------------------------------------------------------------------------
// Arithmetic

TEST(functions, arithmetic_types_follow_kusto) {
  EXPECT_EQ(type_of("+", {longs({1}, ct::int_), longs({2}, ct::int_)}), ct::long_);  // int with int gives long
  EXPECT_EQ(type_of("+", {longs({1}), reals({2})}), ct::real);
  EXPECT_EQ(type_of("-", {dts({"2024-01-01"}), dts({"2024-01-02"})}), ct::timespan);
  EXPECT_EQ(type_of("+", {dts({"2024-01-01"}), longs({day}, ct::timespan)}), ct::datetime);
  EXPECT_EQ(type_of("/", {longs({day}, ct::timespan), longs({second}, ct::timespan)}), ct::real);
  EXPECT_EQ(type_of("*", {longs({2}), longs({day}, ct::timespan)}), ct::timespan);
}

TEST(functions, arithmetic_values) {
  EXPECT_EQ(run("+", {longs({1, 2, std::nullopt}), lit(int64_t{10})}), (V{int64_t{11}, int64_t{12}, N}));
  EXPECT_EQ(run("-", {longs({1}), reals({0.5})}), (V{0.5}));
  EXPECT_EQ(run("*", {longs({3}, ct::int_), longs({4}, ct::int_)}), (V{int64_t{12}}));
  EXPECT_EQ(run("/", {longs({1, -7, 7}), longs({2, 2, 0})}), (V{int64_t{0}, int64_t{-3}, N}));  // truncation; /0 null
  auto inf = run("/", {reals({1.0, -1.0}), lit(0.0)});
  EXPECT_EQ(inf, (V{HUGE_VAL, -HUGE_VAL}));
  auto nan = run("/", {reals({0.0}), lit(0.0)});
  EXPECT_TRUE(std::isnan(std::get<double>(nan[0])));
  EXPECT_EQ(run("+", {null_of(ct::long_), lit(int64_t{1})}, 2), (V{N, N}));
}

TEST(functions, modulo_is_never_negative) {
  // Doc output: -14 % 12 = 10, 14 % -12 = 2.
  EXPECT_EQ(run("%", {longs({-14, 14, 14, -14, 5}), longs({12, -12, 12, -12, 0})}),
            (V{int64_t{10}, int64_t{2}, int64_t{2}, int64_t{10}, N}));
  EXPECT_EQ(run("%", {reals({-1.5}), lit(1.0)}), (V{0.5}));
}

TEST(functions, time_arithmetic) {
  auto a = dts({"2024-01-02T00:00:00Z"}), b = dts({"2024-01-01T12:00:00Z"});
  EXPECT_EQ(run("-", {a, b}), (V{day / 2}));
  EXPECT_EQ(run("+", {b, lit(ct::timespan, day / 2)}), (V{dt("2024-01-02")}));
  EXPECT_EQ(run("-", {a, lit(ct::timespan, day)}), (V{dt("2024-01-01")}));
  EXPECT_EQ(run("+", {lit(ct::timespan, day), b}), (V{dt("2024-01-02T12:00:00Z")}));
  EXPECT_EQ(run("/", {lit(ct::timespan, day), lit(ct::timespan, second)}), (V{86400.0}));  // 1d / 1s
  EXPECT_EQ(run("*", {lit(ct::timespan, day), lit(int64_t{2})}), (V{2 * day}));
  EXPECT_EQ(run("*", {lit(1.5), lit(ct::timespan, day)}), (V{day * 3 / 2}));
  EXPECT_EQ(run("/", {lit(ct::timespan, day), lit(int64_t{4})}), (V{day / 4}));
  EXPECT_EQ(run("-", {lit(ct::timespan, day), lit(ct::timespan, second)}), (V{day - second}));
}

TEST(functions, arithmetic_type_errors_name_both_types) {
  auto e = bind_error("+", {dts({"2024-01-01"}), texts({"x"})});
  EXPECT_NE(e.find("datetime"), std::string::npos) << e;
  EXPECT_NE(e.find("string"), std::string::npos) << e;
  EXPECT_NE(bind_error("*", {dts({"2024-01-01"}), lit(int64_t{2})}), "");
  EXPECT_NE(bind_error("+", {lit(ct::decimal, "1.5"s), lit(int64_t{2})}).find("todouble"), std::string::npos);
}

TEST(functions, unary) {
  EXPECT_EQ(run("-u", {longs({1, std::nullopt})}), (V{int64_t{-1}, N}));
  EXPECT_EQ(run("-u", {reals({1.5})}), (V{-1.5}));
  EXPECT_EQ(type_of("-u", {longs({1}, ct::timespan)}), ct::timespan);
  EXPECT_EQ(run("+u", {lit(int64_t{3})}, 2), (V{int64_t{3}, int64_t{3}}));
  EXPECT_NE(bind_error("-u", {texts({"a"})}), "");
}

// ---------------------------------------------------------------------------------------------
// Comparisons and logic

TEST(functions, null_comparison_table) {
  // kql.md §2.2, doc output for datatable(val:int)[5, int(null)].
  auto val = longs({5, std::nullopt}, ct::int_);
  EXPECT_EQ(run(">", {val, lit(int64_t{3})}), (V{true, N}));
  EXPECT_EQ(run("==", {val, null_of(ct::int_)}), (V{false, N}));
  EXPECT_EQ(run("!=", {val, null_of(ct::int_)}), (V{true, N}));
  // where ival != 5 returns the null row: null != 5 is true.
  EXPECT_EQ(run("!=", {val, lit(int64_t{5})}), (V{false, true}));
  EXPECT_EQ(run("==", {val, lit(int64_t{5})}), (V{true, false}));
  EXPECT_EQ(run("<", {val, lit(int64_t{5})}), (V{false, N}));
  auto isnull = run("isnull", {val});
  EXPECT_EQ(run("or", {bools({true, std::nullopt}), bools({false, true})}), (V{true, true}));
  EXPECT_EQ(isnull, (V{false, true}));
}

TEST(functions, comparisons_across_numeric_types_and_values) {
  EXPECT_EQ(run("<", {longs({1, 2, 3}, ct::int_), reals({1.5, 1.5, 1.5})}), (V{true, false, false}));
  EXPECT_EQ(run("==", {longs({2}), reals({2.0})}), (V{true}));
  EXPECT_EQ(run(">=", {dts({"2024-01-02", "2023-12-31"}), lit(ct::datetime, dt("2024-01-01"))}), (V{true, false}));
  EXPECT_EQ(run("<=", {longs({second}, ct::timespan), lit(ct::timespan, second)}), (V{true}));
  // Strings have no < in Kusto (KS106): strcmp() orders them.
  EXPECT_NE(bind_error("<", {texts({"B", "a"}), lit("a")}).find("strcmp"), std::string::npos);
  EXPECT_EQ(run("==", {texts({"Error", "error"}), lit("error")}), (V{false, true}));  // case-sensitive
  EXPECT_EQ(run("!=", {bools({true, false}), bools({true, true})}), (V{false, true}));
  EXPECT_EQ(run("==", {texts({"0f8fad5b-d9cb-469f-a165-70867728950e"}, ct::guid),
                       lit(ct::guid, "0f8fad5b-d9cb-469f-a165-70867728950e"s)}),
            (V{true}));
}

TEST(functions, comparing_incompatible_types_is_a_bind_error) {
  auto e = bind_error(">", {dts({"2024-01-01"}), lit("2024-01-01")});
  EXPECT_NE(e.find("datetime"), std::string::npos) << e;
  EXPECT_NE(e.find("string"), std::string::npos) << e;
  e = bind_error("==", {longs({1}), lit("1")});
  EXPECT_NE(e.find("long"), std::string::npos) << e;
  EXPECT_NE(bind_error("<", {bools({true}), longs({1})}), "");
}

TEST(functions, dynamic_compares_as_the_other_side) {
  auto d = texts({R"("error")", "5", R"({"a":1})", std::nullopt}, ct::dynamic);
  EXPECT_EQ(run("==", {d, lit("error")}), (V{true, false, false, false}));
  EXPECT_EQ(run(">", {d, lit(int64_t{4})}), (V{N, true, N, N}));
}

TEST(functions, and_or_three_valued) {
  auto a = bools({true, true, true, false, false, false, std::nullopt, std::nullopt, std::nullopt});
  auto b = bools({true, false, std::nullopt, true, false, std::nullopt, true, false, std::nullopt});
  EXPECT_EQ(run("and", {a, b}), (V{true, false, N, false, false, false, N, false, N}));
  EXPECT_EQ(run("or", {a, b}), (V{true, true, true, true, false, N, true, N, N}));
  EXPECT_EQ(run("not", {bools({true, false, std::nullopt})}), (V{false, true, N}));
  EXPECT_NE(bind_error("and", {bools({true}), longs({1})}), "");
}

// ---------------------------------------------------------------------------------------------
// String operators

TEST(functions, has_is_whole_term_contains_is_substring) {
  auto s = texts({"KustoExplorerQueryRun", "Kusto Explorer run", "explorer", ""});
  EXPECT_EQ(run("has", {s, lit("Explorer")}), (V{false, true, true, false}));
  EXPECT_EQ(run("contains", {s, lit("Explorer")}), (V{true, true, true, false}));
  EXPECT_EQ(run("has_cs", {s, lit("Explorer")}), (V{false, true, false, false}));
  EXPECT_EQ(run("contains_cs", {s, lit("Explorer")}), (V{true, true, false, false}));
  EXPECT_EQ(run("!has", {s, lit("explorer")}), (V{true, false, false, true}));
  EXPECT_EQ(run("!contains_cs", {s, lit("Explorer")}), (V{false, false, true, true}));
}

TEST(functions, has_with_punctuation_and_non_ascii) {
  auto s = texts({"err: a-b failed", "xa-by", "a b", "Grüße aus Köln", "über"});
  // A needle with a separator: the terms joined by it, at term boundaries.
  EXPECT_EQ(run("has", {s, lit("a-b")}), (V{true, false, false, false, false}));
  // Bytes >= 0x80 are term characters: "Köln" is one term, "K" is not.
  EXPECT_EQ(run("has", {s, lit("Köln")}), (V{false, false, false, true, false}));
  EXPECT_EQ(run("has", {s, lit("K")}), (V{false, false, false, false, false}));
  EXPECT_EQ(run("has", {s, lit("")}), (V{true, true, true, true, true}));
}

TEST(functions, prefix_suffix_family) {
  auto s = texts({"Hello World", "say hello", "HelloWorld"});
  EXPECT_EQ(run("hasprefix", {s, lit("wor")}), (V{true, false, false}));
  EXPECT_EQ(run("hassuffix", {s, lit("LLO")}), (V{true, true, false}));
  EXPECT_EQ(run("hasprefix_cs", {s, lit("wor")}), (V{false, false, false}));
  EXPECT_EQ(run("!hassuffix", {s, lit("llo")}), (V{false, false, true}));
  EXPECT_EQ(run("startswith", {s, lit("hello")}), (V{true, false, true}));
  EXPECT_EQ(run("startswith_cs", {s, lit("hello")}), (V{false, false, false}));
  EXPECT_EQ(run("endswith", {s, lit("WORLD")}), (V{true, false, true}));
  EXPECT_EQ(run("!endswith_cs", {s, lit("World")}), (V{false, true, false}));
  EXPECT_EQ(run("=~", {s, lit("HELLO world")}), (V{true, false, false}));
  EXPECT_EQ(run("!~", {s, lit("HELLO world")}), (V{false, true, true}));
}

TEST(functions, string_operators_with_column_needles_and_non_strings) {
  EXPECT_EQ(run("contains", {texts({"abc", "abc"}), texts({"B", "x"})}), (V{true, false}));
  // A number is not a string (KS106): the error says to convert it.
  EXPECT_NE(bind_error("has", {longs({12345, std::nullopt}), lit("12345")}).find("tostring()"), std::string::npos);
  EXPECT_EQ(run("contains", {texts({R"({"host":"web-1"})"}, ct::dynamic), lit("web-1")}), (V{true}));
}

TEST(functions, case_folding_is_ascii_only_and_exact_at_the_edges) {
  // Long enough for the 8-byte lowering; '@' '[' '`' '{' sit next to the letters' range.
  auto s = texts({"XX@[ABCDEFGH]Ö-{Z}", "plain text here, long enough"});
  EXPECT_EQ(run("contains", {s, lit("@[abcdefgh]")}), (V{true, false}));
  EXPECT_EQ(run("contains", {s, lit("`")}), (V{false, false}));
  EXPECT_EQ(run("contains", {s, lit("{z}")}), (V{true, false}));
  EXPECT_EQ(run("contains", {s, lit("ö")}), (V{false, false}));  // Unicode letters are not folded
  // A constant left side over a chunk.
  EXPECT_EQ(run("has", {lit("Hello World"), texts({"world", "wor"})}), (V{true, false}));
}

TEST(functions, matches_regex) {
  auto s = texts({"user=alice id=42", "user=bob", "nothing"});
  EXPECT_EQ(run("matches regex", {s, lit(R"(id=\d+)")}), (V{true, false, false}));
  EXPECT_EQ(run("matches regex", {s, lit("^user=")}), (V{true, true, false}));
  EXPECT_EQ(run("matches regex", {s, lit("USER")}), (V{false, false, false}));  // case-sensitive
  auto e = bind_error("matches regex", {s, lit("(unclosed")});
  EXPECT_NE(e.find("(unclosed"), std::string::npos) << e;
  // A pattern from a column: an invalid one ends the query through eval_context::error.
  EXPECT_EQ(run("matches regex", {s, texts({"a", "b+", "x"})}), (V{true, true, false}));
  auto r = run_full("matches regex", {s, texts({"a", "(", "x"})});
  ASSERT_TRUE(r.error.has_value());
  EXPECT_NE(r.error->find("("), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// Lists and ranges

TEST(functions, in_and_not_in) {
  auto s = texts({"a", "B", "c"});
  EXPECT_EQ(run("in", {s, lit("a"), lit("b")}), (V{true, false, false}));  // case-sensitive
  EXPECT_EQ(run("!in", {s, lit("a"), lit("b")}), (V{false, true, true}));
  EXPECT_EQ(run("in~", {s, lit("A"), lit("b")}), (V{true, true, false}));
  EXPECT_EQ(run("!in~", {s, lit("A"), lit("b")}), (V{false, false, true}));
  // A dynamic array in the list expands to its elements.
  EXPECT_EQ(run("in", {s, lit(ct::dynamic, R"(["c","x"])"s)}), (V{false, false, true}));
  auto n = longs({1, 2, 3, std::nullopt});
  EXPECT_EQ(run("in", {n, lit(int64_t{2}), lit(3.0)}), (V{false, true, true, false}));
  EXPECT_EQ(run("!in", {n, lit(ct::dynamic, "[1, 2]"s)}), (V{false, false, true, true}));
  // A column element.
  EXPECT_EQ(run("in", {n, longs({0, 2, 0, 0})}), (V{false, true, false, false}));
  EXPECT_EQ(run("in", {dts({"2024-01-01", "2024-01-02"}), lit(ct::datetime, dt("2024-01-02"))}), (V{false, true}));
  EXPECT_NE(bind_error("in", {n, lit("1")}), "");
  // A dynamic left side is read as the list's type.
  EXPECT_EQ(run("in", {texts({R"("warn")", R"("info")"}, ct::dynamic), lit("warn")}), (V{true, false}));
}

TEST(functions, has_any_has_all) {
  auto s = texts({"error in module alpha", "warning beta", "nothing here"});
  EXPECT_EQ(run("has_any", {s, lit("ERROR"), lit("beta")}), (V{true, true, false}));
  EXPECT_EQ(run("has_all", {s, lit("error"), lit("alpha")}), (V{true, false, false}));
  EXPECT_EQ(run("has_any", {s, lit(ct::dynamic, R"(["alp","here"])"s)}), (V{false, false, true}));
}

TEST(functions, between_is_inclusive) {
  auto n = longs({1, 2, 5, 6, std::nullopt});
  EXPECT_EQ(run("between", {n, lit(int64_t{2}), lit(int64_t{5})}), (V{false, true, true, false, N}));
  EXPECT_EQ(run("!between", {n, lit(int64_t{2}), lit(int64_t{5})}), (V{true, false, false, true, N}));
  EXPECT_EQ(run("between", {reals({2.5}), lit(int64_t{2}), lit(int64_t{3})}), (V{true}));
  auto ts = dts({"2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z", "2024-01-02T00:00:01Z"});
  // ts between (datetime(2024-01-01) .. 1d): the upper end is low + 1d.
  EXPECT_EQ(run("between", {ts, lit(ct::datetime, dt("2024-01-01")), lit(ct::timespan, day)}), (V{true, true, false}));
  EXPECT_EQ(run("between", {ts, lit(ct::datetime, dt("2024-01-01")), lit(ct::datetime, dt("2024-01-01T12:00"))}),
            (V{true, false, false}));
  EXPECT_NE(bind_error("between", {texts({"a"}), lit("a"), lit("b")}), "");
}

// ---------------------------------------------------------------------------------------------
// dynamic

TEST(functions, dynamic_access) {
  auto d = run_full("parse_json", {texts({R"({"a":{"b":[1,2,3]},"s":"x","duration":{"value":118.0}})", "not json"})}).data;
  arg da{d, false};
  auto a = run_full(".member", {da, lit("a")}).data;
  EXPECT_EQ(run(".member", {arg{a, false}, lit("b")}), (V{"[1,2,3]"s, N}));
  auto b = run_full(".member", {arg{a, false}, lit("b")}).data;
  EXPECT_EQ(run("[]", {arg{b, false}, lit(int64_t{0})}), (V{"1"s, N}));
  EXPECT_EQ(run("[]", {arg{b, false}, lit(int64_t{-1})}), (V{"3"s, N}));
  EXPECT_EQ(run("[]", {arg{b, false}, lit(int64_t{3})}), (V{N, N}));
  // A string stays JSON (quoted); tostring() unquotes it.
  EXPECT_EQ(run("[]", {da, lit("s")}), (V{R"("x")"s, N}));
  EXPECT_EQ(run("tostring", {arg{run_full("[]", {da, lit("s")}).data, false}}), (V{"x"s, ""s}));
  EXPECT_EQ(run(".member", {da, lit("missing")}), (V{N, N}));
  // Doc output: parse_json('{"duration":{"value":118.0,...}}').duration.value prints 118.
  auto dur = run_full(".member", {da, lit("duration")}).data;
  EXPECT_EQ(run(".member", {arg{dur, false}, lit("value")}), (V{"118"s, N}));
  EXPECT_NE(bind_error(".member", {texts({"{}"}), lit("a")}), "");
}

TEST(functions, parse_json_and_helpers) {
  // Invalid JSON becomes a dynamic string; dynamic passes through.
  EXPECT_EQ(run("parse_json", {texts({"hello", "[1, 2]", "{\"a\": 1}"})}), (V{R"("hello")"s, "[1,2]"s, R"({"a":1})"s}));
  EXPECT_EQ(run("todynamic", {texts({"[1]"}, ct::dynamic)}), (V{"[1]"s}));
  EXPECT_EQ(run("parsejson", {longs({5})}), (V{"5"s}));
  auto arr = texts({"[1,2,3]", R"({"k":1,"j":2})", std::nullopt}, ct::dynamic);
  EXPECT_EQ(run("array_length", {arr}), (V{int64_t{3}, N, N}));
  EXPECT_EQ(run("bag_keys", {arr}), (V{N, R"(["k","j"])"s, N}));  // in the bag's order
  EXPECT_EQ(run("pack_array", {longs({1, std::nullopt}), texts({"a", "b"})}), (V{R"([1,"a"])"s, R"([null,"b"])"s}));
  EXPECT_EQ(run("pack", {lit("k"), longs({7})}), (V{R"({"k":7})"s}));
}

// ---------------------------------------------------------------------------------------------
// Conversions

TEST(functions, tostring) {
  EXPECT_EQ(run("tostring", {longs({42, std::nullopt})}), (V{"42"s, ""s}));  // tostring(null) is ""
  EXPECT_EQ(run("tostring", {reals({2.0, 1.5, 1e20, 1e-5, 0.0001, 123456789012345.0, -0.25})}),
            (V{"2"s, "1.5"s, "1E+20"s, "1E-05"s, "0.0001"s, "123456789012345"s, "-0.25"s}));
  EXPECT_EQ(run("tostring", {reals({NAN, HUGE_VAL})}), (V{"NaN"s, "Infinity"s}));
  EXPECT_EQ(run("tostring", {bools({true, false})}), (V{"true"s, "false"s}));
  EXPECT_EQ(run("tostring", {dts({"2024-05-01T12:00:00.1234567Z"})}), (V{"2024-05-01T12:00:00.1234567Z"s}));
  EXPECT_EQ(run("tostring", {longs({day + 2 * 3600 * second + 3 * 60 * second + 4 * second + second / 2, -90 * second,
                                    0},
                                   ct::timespan)}),
            (V{"1.02:03:04.5000000"s, "-00:01:30"s, "00:00:00"s}));
  EXPECT_EQ(run("tostring", {texts({R"("web-1")", R"({"a":1})", "12"}, ct::dynamic)}),
            (V{"web-1"s, R"({"a":1})"s, "12"s}));
  // A constant converted for a whole chunk.
  EXPECT_EQ(run("tostring", {lit(int64_t{7})}, 3), (V{"7"s, "7"s, "7"s}));
}

TEST(functions, numeric_conversions_return_null_on_failure) {
  EXPECT_EQ(run("toint", {texts({"12", " -3 ", "x", "", "3000000000", "2.5"})}),
            (V{int64_t{12}, int64_t{-3}, N, N, N, N}));
  EXPECT_EQ(type_of("toint", {texts({"1"})}), ct::int_);
  EXPECT_EQ(run("toint", {reals({2.3, -2.7, NAN, 1e10})}), (V{int64_t{2}, int64_t{-2}, N, N}));  // truncates
  EXPECT_EQ(run("toint", {longs({5'000'000'000, 7})}), (V{N, int64_t{7}}));
  EXPECT_EQ(run("tolong", {texts({"9000000000", "x"})}), (V{int64_t{9'000'000'000}, N}));
  EXPECT_EQ(run("tolong", {longs({second}, ct::timespan)}), (V{second}));
  EXPECT_EQ(run("tolong", {bools({true})}), (V{int64_t{1}}));
  EXPECT_EQ(run("tolong", {texts({"5", "2.5", R"("7")", "true", "{}"}, ct::dynamic)}),
            (V{int64_t{5}, int64_t{2}, int64_t{7}, int64_t{1}, N}));
  EXPECT_EQ(run("todouble", {texts({"1.5", "abc"})}), (V{1.5, N}));
  EXPECT_EQ(run("toreal", {longs({3})}), (V{3.0}));
  EXPECT_EQ(run("todecimal", {texts({"1.50", "x"})}), (V{"1.50"s, N}));
  EXPECT_EQ(run("todecimal", {longs({12})}), (V{"12"s}));
}

TEST(functions, other_conversions) {
  EXPECT_EQ(run("tobool", {texts({"true", "FALSE", "1", "yes"})}), (V{true, false, true, N}));
  EXPECT_EQ(run("toboolean", {longs({0, 3})}), (V{false, true}));
  EXPECT_EQ(run("todatetime", {texts({"2024-01-01T00:00:00Z", "nope"})}), (V{dt("2024-01-01"), N}));
  EXPECT_EQ(run("todatetime", {longs({5})}), (V{N}));
  EXPECT_EQ(run("todatetime", {texts({R"("2024-01-01")"}, ct::dynamic)}), (V{dt("2024-01-01")}));
  EXPECT_EQ(run("totimespan", {texts({"1.00:00:00", "00:00:01", "x"})}), (V{day, second, N}));
  EXPECT_EQ(run("toguid", {texts({"0F8FAD5B-D9CB-469F-A165-70867728950E", "x"})}),
            (V{"0f8fad5b-d9cb-469f-a165-70867728950e"s, N}));
}

// ---------------------------------------------------------------------------------------------
// Conditionals

TEST(functions, iff_and_case) {
  auto c = bools({true, false, std::nullopt});
  EXPECT_EQ(run("iff", {c, lit("yes"), lit("no")}), (V{"yes"s, "no"s, "no"s}));  // null → else
  EXPECT_EQ(run("iif", {c, longs({1, 2, 3}), longs({10, 20, 30})}), (V{int64_t{1}, int64_t{20}, int64_t{30}}));
  EXPECT_EQ(type_of("iff", {c, lit(int64_t{1}), lit(2.5)}), ct::real);  // numbers promote
  EXPECT_EQ(run("iff", {c, lit(int64_t{1}), lit(2.5)}), (V{1.0, 2.5, 2.5}));
  EXPECT_NE(bind_error("iff", {c, lit("a"), lit(int64_t{1})}), "");
  EXPECT_NE(bind_error("iff", {lit(int64_t{1}), lit("a"), lit("b")}), "");
  // case: the first predicate that matches wins (doc: Small/Medium/Large buckets).
  auto size = longs({3, 10, 25});
  auto small = run_full("<=", {size, lit(int64_t{3})}).data;
  auto medium = run_full("<=", {size, lit(int64_t{10})}).data;
  EXPECT_EQ(run("case", {arg{small, false}, lit("Small"), arg{medium, false}, lit("Medium"), lit("Large")}),
            (V{"Small"s, "Medium"s, "Large"s}));
  EXPECT_NE(bind_error("case", {arg{small, false}, lit("Small")}), "");
}

TEST(functions, coalesce_and_null_tests) {
  EXPECT_EQ(run("coalesce", {longs({std::nullopt, 1, std::nullopt}), longs({2, 3, std::nullopt})}),
            (V{int64_t{2}, int64_t{1}, N}));
  EXPECT_EQ(run("coalesce", {texts({"", "a"}), lit("b")}), (V{"b"s, "a"s}));  // strings: first non-empty
  auto l = longs({1, std::nullopt});
  EXPECT_EQ(run("isnull", {l}), (V{false, true}));
  EXPECT_EQ(run("isnotnull", {l}), (V{true, false}));
  EXPECT_EQ(run("isempty", {l}), (V{false, true}));
  auto s = texts({"", "x"});
  EXPECT_EQ(run("isnull", {s}), (V{false, false}));  // strings are never null
  EXPECT_EQ(run("isnotnull", {s}), (V{true, true}));
  EXPECT_EQ(run("isempty", {s}), (V{true, false}));
  EXPECT_EQ(run("isnotempty", {s}), (V{false, true}));
}

TEST(functions, max_of_min_of_skip_nulls) {
  EXPECT_EQ(run("max_of", {longs({1, std::nullopt, std::nullopt}), longs({3, 2, std::nullopt}), lit(int64_t{2})}),
            (V{int64_t{3}, int64_t{2}, int64_t{2}}));
  EXPECT_EQ(run("min_of", {longs({1, std::nullopt}), reals({0.5, std::nullopt})}), (V{0.5, N}));
  EXPECT_EQ(run("max_of", {texts({"a", "c"}), lit("b")}), (V{"b"s, "c"s}));
}

// ---------------------------------------------------------------------------------------------
// Math

TEST(functions, bin_doc_examples) {
  // kql.md §2.6 doc outputs.
  EXPECT_EQ(run("bin", {lit(4.5), lit(int64_t{1})}), (V{4.0}));
  EXPECT_EQ(type_of("bin", {lit(4.5), lit(int64_t{1})}), ct::real);
  EXPECT_EQ(run("bin", {lit(ct::timespan, 16 * day), lit(ct::timespan, 7 * day)}), (V{14 * day}));
  EXPECT_EQ(run("bin", {dts({"1970-05-11T13:45:07Z"}), lit(ct::timespan, day)}), (V{dt("1970-05-11")}));
  // 7d bins are anchored at 0001-01-01 (a Monday): 2007-01-01 and 2007-01-08, not Thursdays.
  EXPECT_EQ(run("bin", {dts({"2007-01-03T10:00:00Z", "2007-01-08T00:00:00Z", "2007-01-14T23:59:59Z"}),
                        lit(ct::timespan, 7 * day)}),
            (V{dt("2007-01-01"), dt("2007-01-08"), dt("2007-01-08")}));
  // Before the Unix epoch too.
  EXPECT_EQ(run("bin", {dts({"1969-12-31T23:00:00Z"}), lit(ct::timespan, day)}), (V{dt("1969-12-31")}));
  EXPECT_EQ(run("floor", {longs({-7, 7, std::nullopt}), lit(int64_t{5})}), (V{int64_t{-10}, int64_t{5}, N}));
  // A null or negative size gives null.
  EXPECT_EQ(run("bin", {longs({7}), lit(int64_t{-5})}), (V{N}));
  EXPECT_EQ(run("bin", {longs({7}), null_of(ct::long_)}), (V{N}));
  EXPECT_EQ(run("bin", {reals({7.5}), lit(0.0)}), (V{N}));
  EXPECT_NE(bind_error("bin", {dts({"2024-01-01"}), lit(int64_t{5})}), "");
}

TEST(functions, bin_at) {
  EXPECT_EQ(run("bin_at", {lit(6.5), lit(2.5), lit(7.0)}), (V{4.5}));
  EXPECT_EQ(run("bin_at", {lit(ct::timespan, 90 * second), lit(ct::timespan, 60 * second), lit(ct::timespan, 10 * second)}),
            (V{70 * second}));
  EXPECT_EQ(run("bin_at", {dts({"2017-05-15T10:20:00Z"}), lit(ct::timespan, day), lit(ct::datetime, dt("2017-05-14T12:00:00Z"))}),
            (V{dt("2017-05-14T12:00:00Z")}));
}

TEST(functions, rounding_and_math) {
  EXPECT_EQ(run("round", {reals({2.5, -2.5, 1.234, std::nullopt})}), (V{3.0, -3.0, 1.0, N}));
  EXPECT_EQ(run("round", {reals({1.235, 1.2}), lit(int64_t{2})}), (V{1.24, 1.2}));
  EXPECT_EQ(run("round", {longs({1250, -1250}), lit(int64_t{-2})}), (V{int64_t{1300}, int64_t{-1300}}));
  EXPECT_EQ(run("ceiling", {reals({1.2, -1.2})}), (V{2.0, -1.0}));
  EXPECT_EQ(run("abs", {longs({-3, std::nullopt})}), (V{int64_t{3}, N}));
  EXPECT_EQ(run("abs", {reals({-3.5})}), (V{3.5}));
  EXPECT_EQ(run("sqrt", {reals({4, -1})}), (V{2.0, N}));
  EXPECT_EQ(run("log10", {longs({100})}), (V{2.0}));
  EXPECT_EQ(run("log2", {longs({8})}), (V{3.0}));
  EXPECT_EQ(run("log", {reals({1, -1})}), (V{0.0, N}));
  EXPECT_EQ(run("exp", {longs({0})}), (V{1.0}));
  EXPECT_EQ(run("pow", {longs({2}), longs({10})}), (V{1024.0}));
  EXPECT_EQ(run("sign", {longs({-5, 0, 3})}), (V{-1.0, 0.0, 1.0}));
  EXPECT_EQ(run("isnan", {reals({NAN, 1})}), (V{true, false}));
  EXPECT_NE(bind_error("log", {texts({"1"})}), "");
}

TEST(functions, hash_is_stable_and_respects_mod) {
  auto h1 = run("hash", {texts({"abc", "abd"})});
  auto h2 = run("hash", {texts({"abc"})});
  EXPECT_EQ(h1[0], h2[0]);
  EXPECT_NE(h1[0], h1[1]);
  auto m = run("hash", {longs({1, 2, 3, 4, 5, 6, 7, 8}), lit(int64_t{3})});
  for (auto& v : m) {
    auto x = std::get<int64_t>(v);
    EXPECT_GE(x, 0);
    EXPECT_LT(x, 3);
  }
  EXPECT_EQ(run("hash", {longs({std::nullopt})}), (V{N}));
}

TEST(functions, hash_is_xxhash64_as_documented) {
  // hash-function doc: hash("World") = 1846988464401551951, hash("World", 100) = 51;
  // hash_xxhash64 doc: hash_xxhash64(datetime(2015-01-01)) = 1380966698541616202.
  EXPECT_EQ(run("hash", {texts({"World"})}), (V{int64_t{1846988464401551951}}));
  EXPECT_EQ(run("hash", {texts({"World"}), lit(int64_t{100})}), (V{int64_t{51}}));
  EXPECT_EQ(run("hash_xxhash64", {texts({"World"})}), (V{int64_t{1846988464401551951}}));
  EXPECT_EQ(run("hash_xxhash64", {dts({"2015-01-01"})}), (V{int64_t{1380966698541616202}}));
}

TEST(functions, dynamic_keeps_key_order_and_prints_reals_as_kusto) {
  // parse-json-function doc output: {"value":118.0,"count":5.0} prints {"value":118,"count":5}.
  EXPECT_EQ(run("parse_json", {texts({R"({"value":118.0,"count":5.0,"b":{"z":1,"a":2.5}})", "1e300", "[0.0,-0.0]"})}),
            (V{R"({"value":118,"count":5,"b":{"z":1,"a":2.5}})"s, "1E+300"s, "[0,-0]"s}));
  EXPECT_EQ(run("bag_keys", {texts({R"({"z":1,"a":2})"}, ct::dynamic)}), (V{R"(["z","a"])"s}));
  EXPECT_EQ(run("pack", {lit("z"), reals({1.0}), lit("a"), dts({"2017-01-01"})}),
            (V{R"({"z":1,"a":"2017-01-01T00:00:00.0000000Z"})"s}));
  EXPECT_EQ(run("pack_array", {reals({2.0, 0.5}), longs({1, 2}, ct::timespan)}),
            (V{R"([2,"00:00:00.0000001"])"s, R"([0.5,"00:00:00.0000002"])"s}));
  EXPECT_EQ(run(".member", {texts({R"({"d":{"y":1.0,"x":[2.0]}})"}, ct::dynamic), lit("d")}), (V{R"({"y":1,"x":[2]})"s}));
  EXPECT_EQ(run("todynamic", {dts({"2017-01-01 10:00:00.5"})}), (V{R"("2017-01-01T10:00:00.5000000Z")"s}));
}

TEST(functions, dynamic_text_renders_cells_as_kusto_puts_them_in_dynamic) {
  EXPECT_EQ(dynamic_text(dts({"2017-01-01"}).data, 0), R"("2017-01-01T00:00:00.0000000Z")");
  EXPECT_EQ(dynamic_text(dts({"2017-01-01 00:00:00.1234567"}).data, 0), R"("2017-01-01T00:00:00.1234567Z")");
  EXPECT_EQ(dynamic_text(dts({std::nullopt}).data, 0), "null");
  EXPECT_EQ(dynamic_text(reals({4.0}).data, 0), "4");
  EXPECT_EQ(dynamic_text(reals({10.5}).data, 0), "10.5");
  EXPECT_EQ(dynamic_text(reals({NAN}).data, 0), R"("NaN")");
  EXPECT_EQ(dynamic_text(texts({"a\"b"}).data, 0), R"("a\"b")");
  EXPECT_EQ(dynamic_text(bools({true}).data, 0), "true");
  EXPECT_EQ(dynamic_text(longs({36'000'000'000LL}, ct::timespan).data, 0), R"("01:00:00")");
  EXPECT_EQ(normalize_dynamic(R"({ "b" : 1.0, "a" : [ 2.50 ] })"), R"({"b":1,"a":[2.5]})");
  EXPECT_EQ(normalize_dynamic("not json"), R"("not json")");
}

TEST(functions, gettype_names_runtime_types) {
  // gettype-function doc examples.
  EXPECT_EQ(run("gettype", {texts({"a"})}), (V{"string"s}));
  EXPECT_EQ(run("gettype", {lit(int64_t{111})}), (V{"long"s}));
  EXPECT_EQ(run("gettype", {bools({true})}), (V{"bool"s}));
  EXPECT_EQ(run("gettype", {dts({"2017-01-01"})}), (V{"datetime"s}));
  EXPECT_EQ(run("gettype", {longs({1}, ct::timespan)}), (V{"timespan"s}));
  EXPECT_EQ(run("gettype", {reals({123.45})}), (V{"real"s}));
  EXPECT_EQ(run("gettype", {texts({"12e8b78d-55b4-46ae-b068-26d7a0080254"}, ct::guid)}), (V{"guid"s}));
  auto d = run_full("parse_json", {texts({"1", R"( "abc" )", R"( {"abc":1} )", "[1, 2, 3]", "", "1.5", "5000000000", "true"})}).data;
  EXPECT_EQ(run("gettype", {arg{d, false}}),
            (V{"int"s, "string"s, "dictionary"s, "array"s, "null"s, "real"s, "long"s, "bool"s}));
  const scalar_function* f = find_scalar_function("gettype");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->naming, result_naming::function_and_argument);
  EXPECT_EQ(f->result_prefix, "type");  // Kusto names gettype(Value) type_Value
}

TEST(functions, new_guid_and_rand_give_a_new_value_per_row) {
  auto g = run_full("new_guid", {}, 100);
  EXPECT_EQ(g.type, ct::guid);
  for (size_t r = 0; r < 100; ++r) {
    auto t = g.data.text_at(r);
    ASSERT_EQ(t.size(), 36u);
    EXPECT_EQ(t[14], '4');  // version 4
    EXPECT_NE(std::string_view("89ab").find(t[19]), std::string_view::npos);  // RFC 4122 variant
    if (r) {
      EXPECT_NE(t, g.data.text_at(r - 1));
    }
  }
  EXPECT_TRUE(find_scalar_function("new_guid")->per_row);
  EXPECT_TRUE(find_scalar_function("rand")->per_row);
  auto u = run_full("rand", {}, 1000);
  EXPECT_EQ(u.type, ct::real);
  double lo = 1, hi = 0;
  for (double v : u.data.reals) lo = std::min(lo, v), hi = std::max(hi, v);
  EXPECT_GE(lo, 0.0);
  EXPECT_LT(hi, 1.0);
  EXPECT_LT(lo, 0.1);
  EXPECT_GT(hi, 0.9);
  auto n = run("rand", {lit(int64_t{3})}, 300);
  std::vector<int> seen(3);
  for (auto& v : n) {
    auto x = std::get<int64_t>(v);
    ASSERT_GE(x, 0);
    ASSERT_LT(x, 3);
    ++seen[static_cast<size_t>(x)];
  }
  EXPECT_GT(*std::min_element(seen.begin(), seen.end()), 50);
  EXPECT_NE(bind_error("rand", {texts({"x"})}), "");
}

}  // namespace
}  // namespace tributary::query
