// Kusto's string, regex and datetime functions (query/functions_text_time.cpp), bound and run
// the way the executor does: bind on argument types and constants, eval over columns.
// Expected values are Kusto's documented outputs where the docs print one.

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "ingest/convert.hpp"
#include "query/functions.hpp"

namespace tributary::query {
namespace {

using model::column_data;
using model::column_type;

// The list is searched directly (not through find_scalar_function) so that these tests only
// need this file's functions.
const scalar_function* lookup(std::string_view name) {
  static const std::vector<scalar_function> list = text_and_time_functions();
  for (const auto& f : list)
    if (f.name == name) return &f;
  return nullptr;
}

int64_t dt(std::string_view text) {
  int64_t t = 0;
  EXPECT_TRUE(ingest::detail::parse_datetime(text, t).empty()) << text;
  return t;
}
int64_t ts(std::string_view text) {
  int64_t t = 0;
  EXPECT_TRUE(ingest::detail::parse_timespan(text, t).empty()) << text;
  return t;
}

column_data ints(column_type t, std::vector<std::optional<int64_t>> v) {
  column_data c;
  c.type = t;
  for (auto x : v) x ? c.append_int(*x) : c.append_null();
  return c;
}
column_data S(std::string_view s) {
  column_data c;
  c.type = column_type::string;
  c.append_text(s);
  return c;
}
column_data strings(std::vector<std::string> v) {
  column_data c;
  c.type = column_type::string;
  for (auto& s : v) c.append_text(s);
  return c;
}
column_data L(std::optional<int64_t> v) { return ints(column_type::long_, {v}); }
column_data I(std::optional<int64_t> v) { return ints(column_type::int_, {v}); }
column_data B(bool v) { return ints(column_type::bool_, {int64_t{v}}); }
column_data DT(std::string_view s) { return ints(column_type::datetime, {dt(s)}); }
column_data TS(std::string_view s) { return ints(column_type::timespan, {ts(s)}); }
column_data null_of(column_type t) { return ints(t, {std::nullopt}); }
column_data R(double v) {
  column_data c;
  c.type = column_type::real;
  c.append_real(v);
  return c;
}
column_data D(std::string_view json) {
  column_data c;
  c.type = column_type::dynamic;
  c.append_text(json);
  return c;
}

std::vector<arg_info> infos(const std::vector<column_data>& args) {
  std::vector<arg_info> out;
  for (const auto& a : args) {
    arg_info i;
    i.type = a.type;
    if (a.size() == 1) i.constant = a.at(0);  // 1-row columns stand for constants
    out.push_back(i);
  }
  return out;
}

std::variant<bound_function, std::string> bind_fn(std::string_view name, const std::vector<column_data>& args) {
  const scalar_function* f = lookup(name);
  if (!f) return std::string("unknown function");
  const auto info = infos(args);
  return f->bind(info);
}

std::string bind_error(std::string_view name, std::vector<column_data> args) {
  auto b = bind_fn(name, args);
  if (auto* e = std::get_if<std::string>(&b)) return *e;
  return "(bound)";
}

constexpr int64_t test_now = 15'000'000'000'000'000;  // 2017-07-14T02:40:00Z

column_data run(std::string_view name, std::vector<column_data> args, size_t rows = 1, column_type* type = nullptr) {
  auto b = bind_fn(name, args);
  if (auto* e = std::get_if<std::string>(&b)) {
    ADD_FAILURE() << name << ": " << *e;
    return {};
  }
  auto& f = std::get<bound_function>(b);
  if (type) *type = f.result;
  std::vector<const column_data*> ptrs;
  for (auto& a : args) ptrs.push_back(&a);
  eval_context ctx;
  ctx.now_ticks = test_now;
  column_data out = f.eval(ptrs, rows, ctx);
  EXPECT_FALSE(ctx.error) << *ctx.error;
  EXPECT_EQ(out.size(), rows) << name;
  EXPECT_EQ(out.type, f.result) << name;
  return out;
}

std::string str(std::string_view name, std::vector<column_data> args) {
  column_data c = run(name, std::move(args));
  if (c.size() != 1) return "(no row)";
  EXPECT_FALSE(c.is_null(0));
  return std::string(c.text_at(0));
}
std::optional<int64_t> num(std::string_view name, std::vector<column_data> args) {
  column_data c = run(name, std::move(args));
  if (c.size() != 1 || c.is_null(0)) return std::nullopt;
  return c.ints[0];
}

TEST(TextFunctions, strlen_counts_code_points) {
  EXPECT_EQ(num("strlen", {S("hello")}), 5);
  EXPECT_EQ(num("strlen", {S("")}), 0);
  EXPECT_EQ(num("strlen", {S("日本語")}), 3);
  EXPECT_EQ(num("strlen", {S("C\xCC\xA7" "edilla")}), 8);  // doc: a base letter plus a combining mark
  EXPECT_EQ(num("strlen", {D("\"abc\"")}), 3);
  EXPECT_EQ(lookup("strlen")->naming, result_naming::function_and_argument);
  EXPECT_EQ(bind_error("strlen", {L(1)}), "argument 1 must be a string or dynamic, found long");
  EXPECT_EQ(bind_error("strlen", {S("a"), S("b")}), "expects 1 argument, found 2");
  EXPECT_EQ(num("string_size", {S("⒦⒰⒮⒯⒪")}), 15);
}

TEST(TextFunctions, case_mapping_covers_latin1_and_more) {
  EXPECT_EQ(str("tolower", {S("Hello ÀÉÎÕÜ Ÿ ΑΒΓ АБВ")}), "hello àéîõü ÿ αβγ абв");
  EXPECT_EQ(str("toupper", {S("hello àéîõü ÿ straße αβγ абв")}), "HELLO ÀÉÎÕÜ Ÿ STRAßE ΑΒΓ АБВ");
  EXPECT_EQ(str("toupper", {S("×÷")}), "×÷");
  EXPECT_EQ(str("tolower", {L(5)}), "5");
  EXPECT_EQ(str("toupper", {B(true)}), "TRUE");
  EXPECT_EQ(str("tolower", {S("bad \xFF byte")}), "bad \xFF byte");
}

TEST(TextFunctions, substring_counts_from_zero_and_from_the_end) {
  EXPECT_EQ(str("substring", {S("123456"), L(1)}), "23456");
  EXPECT_EQ(str("substring", {S("123456"), L(2), L(2)}), "34");
  EXPECT_EQ(str("substring", {S("ABCD"), L(0), L(2)}), "AB");
  EXPECT_EQ(str("substring", {S("123456"), L(-2), L(2)}), "56");
  EXPECT_EQ(str("substring", {S("123456"), L(-10)}), "123456");
  EXPECT_EQ(str("substring", {S("123456"), L(6)}), "");
  EXPECT_EQ(str("substring", {S("123456"), L(1), L(100)}), "23456");
  EXPECT_EQ(str("substring", {S("123456"), L(1), L(-1)}), "");
  EXPECT_EQ(str("substring", {S("日本語テキスト"), L(2), L(2)}), "語テ");
  EXPECT_EQ(str("substring", {S("abc"), null_of(column_type::long_)}), "");
  EXPECT_EQ(str("substring", {L(12345), I(1), I(2)}), "23");
  EXPECT_EQ(bind_error("substring", {S("a"), R(1.5)}), "argument 2 must be an integer (int or long), found real");
  // A column against constant arguments.
  column_data out = run("substring", {strings({"abcdef", "xy", ""}), L(1), L(3)}, 3);
  EXPECT_EQ(out.text_at(0), "bcd");
  EXPECT_EQ(out.text_at(1), "y");
  EXPECT_EQ(out.text_at(2), "");
}

TEST(TextFunctions, strcat_converts_every_type) {
  EXPECT_EQ(str("strcat", {S("a"), L(1), R(2.5), B(true), null_of(column_type::long_), DT("2015-12-14 02:03:04"),
                           TS("1.00:00:01.5")}),
            "a12.5true2015-12-14T02:03:04Z1.00:00:01.5000000");
  EXPECT_EQ(str("strcat", {R(1e20), R(1.0), R(0.0001), R(1e-7)}), "1E+2010.00011E-07");
  EXPECT_EQ(str("strcat", {D("\"x\""), D("[1,2]"), D("null")}), "x[1,2]");
  EXPECT_EQ(bind_error("strcat", {}), "expects between 1 and 64 arguments, found 0");
  EXPECT_EQ(bind_error("strcat", std::vector<column_data>(65, S("a"))), "expects between 1 and 64 arguments, found 65");
  EXPECT_EQ(str("strcat_delim", {S("-"), S("a"), S("b"), L(1)}), "a-b-1");
  EXPECT_EQ(str("strcat_delim", {S("::"), S(""), S("b")}), "::b");
  EXPECT_EQ(bind_error("strcat_delim", {S("-"), S("a")}), "expects between 3 and 65 arguments, found 2");
  EXPECT_EQ(num("strcmp", {S("abc"), S("abd")}), -1);
  EXPECT_EQ(num("strcmp", {S("abc"), S("abc")}), 0);
  EXPECT_EQ(num("strcmp", {S("b"), S("a")}), 1);
}

TEST(TextFunctions, split_returns_a_dynamic_array) {
  column_type t{};
  column_data c = run("split", {S("aa_bb"), S("_")}, 1, &t);
  EXPECT_EQ(t, column_type::dynamic);
  EXPECT_EQ(c.text_at(0), R"(["aa","bb"])");
  EXPECT_EQ(str("split", {S("aaa_bbb_ccc"), S("_"), L(1)}), R"(["bbb"])");
  EXPECT_EQ(str("split", {S("aabbcc"), S("bb")}), R"(["aa","cc"])");
  EXPECT_EQ(str("split", {S("a__b"), S("_")}), R"(["a","","b"])");
  EXPECT_EQ(str("split", {S(""), S("_")}), R"([""])");
  EXPECT_EQ(str("split", {S("abc"), S("")}), R"(["abc"])");
  EXPECT_EQ(str("split", {S("a_b"), S("_"), L(5)}), "[]");
  EXPECT_EQ(str("split", {S("q\"x\\,y"), S(",")}), R"(["q\"x\\","y"])");
  EXPECT_EQ(str("split", {L(1020304), S("0")}), R"(["1","2","3","4"])");
  EXPECT_EQ(lookup("split")->naming, result_naming::first_argument);
}

TEST(TextFunctions, replace_string_and_replace_regex) {
  EXPECT_EQ(str("replace_string", {S("A magic trick can turn a cat into a dog"), S("cat"), S("hamster")}),
            "A magic trick can turn a hamster into a dog");
  EXPECT_EQ(str("replace_string", {S("aaa"), S("a"), S("bb")}), "bbbbbb");
  EXPECT_EQ(str("replace_string", {S("abc"), S(""), S("x")}), "abc");
  EXPECT_EQ(bind_error("replace_string", {L(1), S("a"), S("b")}), "argument 1 must be a string, found long");
  EXPECT_EQ(str("replace_regex", {S("abc123def456"), S("[0-9]+"), S("#")}), "abc#def#");
  EXPECT_EQ(str("replace_regex", {S("Hello World"), S("(\\w+) (\\w+)"), S("\\2 \\1")}), "World Hello");
  EXPECT_EQ(str("replace_regex", {S("abc"), S("x"), S("y")}), "abc");
  EXPECT_EQ(str("replace", {S("[0-9]"), S("N"), S("a1b2")}), "aNbN");
  const std::string err = bind_error("replace_regex", {S("x"), S("(a"), S("b")});
  EXPECT_NE(err.find("'(a'"), std::string::npos) << err;
  EXPECT_NE(err.find("missing )"), std::string::npos) << err;
  EXPECT_NE(bind_error("replace_regex", {S("x"), S("(a)"), S("\\2")}).find("not a valid rewrite"), std::string::npos);
  // A pattern that is not a constant is refused: it would be compiled per row.
  column_data two = strings({"a", "b"});
  EXPECT_NE(bind_error("replace_regex", {S("x"), two, S("y")}).find("must be a constant"), std::string::npos);
}

TEST(TextFunctions, trim_removes_repeated_matches) {
  EXPECT_EQ(str("trim", {S("--"), S("--https://bing.com--")}), "https://bing.com");
  EXPECT_EQ(str("trim_start", {S("[^\\w]+"), S("-  Te st1// $")}), "Te st1// $");
  EXPECT_EQ(str("trim_end", {S("[^\\w]+"), S("-  Te st1// $")}), "-  Te st1");
  EXPECT_EQ(str("trim", {S(" "), S("   ")}), "");
  EXPECT_EQ(str("trim", {S("x"), S("abc")}), "abc");
  EXPECT_EQ(str("trim_start", {S("ab"), S("ababXab")}), "Xab");
  EXPECT_NE(bind_error("trim", {S("[a"), S("x")}).find("'[a'"), std::string::npos);
}

TEST(TextFunctions, extract_and_extract_all) {
  EXPECT_EQ(str("extract", {S("x=([0-9.]+)"), L(1), S("hello x=45.6|wo")}), "45.6");
  EXPECT_EQ(str("extract", {S("x=([0-9.]+)"), L(0), S("hello x=45.6|wo")}), "x=45.6");
  EXPECT_EQ(str("extract", {S("User: ([^,]+), Email: ([^@]+@[^,]+)"), L(2), S("User: David, Age: 35")}), "");
  EXPECT_EQ(str("extract", {S("(a)"), L(5), S("a")}), "");
  EXPECT_EQ(str("extract", {S("(a)"), null_of(column_type::long_), S("a")}), "");
  EXPECT_NE(bind_error("extract", {S("a"), L(1), S("a"), S("long")}).find("typeof"), std::string::npos);
  EXPECT_EQ(bind_error("extract", {S("a"), L(1), L(1)}), "argument 3 must be a string, found long");
  const std::string err = bind_error("extract", {S("a(b"), L(1), S("x")});
  EXPECT_NE(err.find("'a(b'"), std::string::npos) << err;

  EXPECT_EQ(str("extract_all", {S("(\\d+)"), S("a1b22c333")}), R"(["1","22","333"])");
  EXPECT_EQ(str("extract_all", {S("(\\w)(\\d)"), S("a1b2")}), R"([["a","1"],["b","2"]])");
  EXPECT_EQ(str("extract_all", {S("(\\w)(\\d)"), D("[2]"), S("a1b2")}), R"(["1","2"])");
  column_data none = run("extract_all", {S("(\\d)"), S("abc")});
  EXPECT_TRUE(none.is_null(0));
  EXPECT_NE(bind_error("extract_all", {S("\\d"), S("x")}).find("capture groups"), std::string::npos);
}

TEST(TextFunctions, indexof_follows_the_doc_examples) {
  EXPECT_EQ(num("indexof", {S("abcdefg"), S("cde")}), 2);
  EXPECT_EQ(num("indexof", {S("abcdefg"), S("cde"), L(1), L(4)}), 2);
  EXPECT_EQ(num("indexof", {S("abcdefg"), S("cde"), L(1), L(2)}), -1);
  EXPECT_EQ(num("indexof", {S("abcdefg"), S("cde"), L(3), L(4)}), -1);
  EXPECT_EQ(num("indexof", {S("abcdefg"), S("cde"), L(-5)}), 2);
  EXPECT_EQ(num("indexof", {L(1234567), L(5), L(1), L(4)}), 4);
  EXPECT_EQ(num("indexof", {S("abcdefg"), S("cde"), L(2), L(-1)}), 2);
  EXPECT_EQ(num("indexof", {S("abcdefgabcdefg"), S("cde"), L(1), L(10), L(2)}), 9);
  EXPECT_EQ(num("indexof", {S("abcdefgabcdefg"), S("cde"), L(1), L(-1), L(3)}), -1);
  EXPECT_EQ(num("indexof", {S("abc"), S("c"), L(0), L(-2)}), std::nullopt);
  EXPECT_EQ(num("indexof", {S("abc"), S("c"), L(0), L(-1), L(0)}), std::nullopt);
  EXPECT_EQ(num("indexof", {S("abc"), S("c"), null_of(column_type::long_)}), std::nullopt);
  EXPECT_EQ(num("indexof", {S("日本語テキスト"), S("テ")}), 3);
  EXPECT_EQ(num("indexof", {S("abc"), S("x")}), -1);
  EXPECT_EQ(num("indexof", {S("abc"), S("")}), 0);
  EXPECT_EQ(num("indexof", {S("ab"), S(""), L(0), L(-1), L(5)}), -1);
  EXPECT_EQ(num("indexof", {S("日本日本"), S("本"), L(0), L(-1), L(2)}), 3);
}

TEST(TextFunctions, reverse_strrep_countof) {
  EXPECT_EQ(str("reverse", {S("ABCDEF")}), "FEDCBA");
  EXPECT_EQ(str("reverse", {L(123)}), "321");
  EXPECT_EQ(str("reverse", {S("日本x")}), "x本日");
  EXPECT_EQ(str("reverse", {S("")}), "");

  EXPECT_EQ(str("strrep", {S("ABC"), L(2)}), "ABCABC");
  EXPECT_EQ(str("strrep", {S("ABC"), L(2), S(",")}), "ABC,ABC");
  EXPECT_EQ(str("strrep", {L(123), L(3), S("+")}), "123+123+123");
  EXPECT_EQ(str("strrep", {S("a"), L(0)}), "");
  EXPECT_EQ(str("strrep", {S("a"), L(5000)}).size(), 1024u);
  EXPECT_EQ(bind_error("strrep", {S("a"), R(2)}), "argument 2 must be an integer (int or long), found real");

  EXPECT_EQ(num("countof", {S("aaa"), S("a")}), 3);
  EXPECT_EQ(num("countof", {S("aaaa"), S("aa")}), 3);
  EXPECT_EQ(num("countof", {S("aaaa"), S("aa"), S("regex")}), 2);
  EXPECT_EQ(num("countof", {S("ababa"), S("ab"), S("normal")}), 2);
  EXPECT_EQ(num("countof", {S("ababa"), S("aba")}), 2);
  EXPECT_EQ(num("countof", {S("ababa"), S("aba"), S("regex")}), 1);
  EXPECT_EQ(num("countof", {S("abcabc"), S("a.c"), S("regex")}), 2);
  EXPECT_EQ(num("countof", {S("abc"), S("")}), 0);
  EXPECT_NE(bind_error("countof", {S("a"), S("a"), S("fuzzy")}).find("\"normal\" or \"regex\""), std::string::npos);
  // A regex that varies by row.
  column_data per_row = run("countof", {S("a1b22"), strings({"[0-9]", "[a-z]", "2"}), S("regex")}, 3);
  EXPECT_EQ(per_row.ints, (std::vector<int64_t>{3, 2, 2}));
}

TEST(TextFunctions, url_base64_tohex) {
  EXPECT_EQ(str("url_encode", {S("https://www.bing.com/")}), "https%3a%2f%2fwww.bing.com%2f");
  EXPECT_EQ(str("url_encode", {S("a b")}), "a+b");
  EXPECT_EQ(str("url_encode_component", {S("https://www.bing.com/hello world/")}),
            "https%3a%2f%2fwww.bing.com%2fhello%20world%2f");
  EXPECT_EQ(str("url_decode", {S("https%3a%2f%2fwww.bing.com%2f")}), "https://www.bing.com/");
  EXPECT_EQ(str("url_decode", {S("a+b%20c%zz%")}), "a b c%zz%");
  EXPECT_EQ(str("url_decode", {S("%C3%A9")}), "é");
  EXPECT_EQ(str("url_decode", {S("%FF")}), "");

  EXPECT_EQ(str("base64_encode_tostring", {S("Kusto")}), "S3VzdG8=");
  EXPECT_EQ(str("base64_encode_tostring", {S("Kusto1")}), "S3VzdG8x");
  EXPECT_EQ(str("base64_encode_tostring", {S("Ku")}), "S3U=");
  EXPECT_EQ(str("base64_decode_tostring", {S("S3VzdG8=")}), "Kusto");
  EXPECT_EQ(str("base64_decode_tostring", {S("S3VzdG8x")}), "Kusto1");
  EXPECT_EQ(str("base64_decode_tostring", {S("@@")}), "");
  EXPECT_EQ(str("base64_decode_tostring", {S("/w==")}), "");  // 0xFF is not UTF-8

  EXPECT_EQ(str("tohex", {L(256)}), "100");
  EXPECT_EQ(str("tohex", {L(-546)}), "fffffffffffffdde");
  EXPECT_EQ(str("tohex", {I(-546)}), "fffffdde");
  EXPECT_EQ(str("tohex", {L(546), L(8)}), "00000222");
  EXPECT_EQ(str("tohex", {null_of(column_type::long_)}), "");
  EXPECT_EQ(lookup("tohex")->naming, result_naming::first_argument);
}

// -- datetime and timespan ---------------------------------------------------------------------

TEST(TimeFunctions, now_and_ago_use_one_instant) {
  column_data n = run("now", {}, 3);
  EXPECT_EQ(n.ints, (std::vector<int64_t>{test_now, test_now, test_now}));
  EXPECT_EQ(num("now", {TS("-1d")}), test_now - ts("1d"));
  EXPECT_EQ(num("ago", {TS("1h")}), test_now - ts("1h"));
  EXPECT_EQ(num("ago", {null_of(column_type::timespan)}), std::nullopt);
  EXPECT_EQ(bind_error("ago", {L(5)}), "argument 1 must be a timespan, found long");
  EXPECT_EQ(bind_error("ago", {}), "expects 1 argument, found 0");
}

TEST(TimeFunctions, datetime_add_clamps_to_month_end) {
  const auto add = [](std::string_view part, int64_t n, std::string_view d) {
    return num("datetime_add", {S(part), L(n), DT(d)});
  };
  // Doc examples (datetime_add with make_datetime(2017,1,1)).
  EXPECT_EQ(add("year", -5, "2017-01-01"), dt("2012-01-01"));
  EXPECT_EQ(add("quarter", 1, "2017-01-01"), dt("2017-04-01"));
  EXPECT_EQ(add("month", 1, "2017-01-01"), dt("2017-02-01"));
  EXPECT_EQ(add("week", -5, "2017-01-01"), dt("2016-11-27"));
  EXPECT_EQ(add("day", 1, "2017-01-01"), dt("2017-01-02"));
  EXPECT_EQ(add("hour", 1, "2017-01-01"), dt("2017-01-01 01:00"));
  EXPECT_EQ(add("minute", 1, "2017-01-01"), dt("2017-01-01 00:01"));
  EXPECT_EQ(add("second", 1, "2017-01-01"), dt("2017-01-01 00:00:01"));
  EXPECT_EQ(add("millisecond", 1, "2017-01-01"), dt("2017-01-01 00:00:00.001"));
  EXPECT_EQ(add("microsecond", 1, "2017-01-01"), dt("2017-01-01 00:00:00.000001"));
  EXPECT_EQ(add("nanosecond", 100, "2017-01-01"), dt("2017-01-01 00:00:00.0000001"));
  EXPECT_EQ(add("Month", 1, "2017-01-31 10:00"), dt("2017-02-28 10:00"));
  EXPECT_EQ(add("month", 1, "2016-01-31"), dt("2016-02-29"));
  EXPECT_EQ(add("year", 1, "2016-02-29"), dt("2017-02-28"));
  EXPECT_EQ(add("quarter", 1, "2017-01-31"), dt("2017-04-30"));
  EXPECT_EQ(add("month", -1, "1970-03-31"), dt("1970-02-28"));
  EXPECT_EQ(add("day", 1, "9999-12-31"), std::nullopt);
  EXPECT_EQ(add("year", -1, "0001-06-01"), std::nullopt);
  EXPECT_EQ(add("second", INT64_MAX, "2017-01-01"), std::nullopt);
  EXPECT_EQ(num("datetime_add", {S("day"), null_of(column_type::long_), DT("2017-01-01")}), std::nullopt);
  EXPECT_NE(bind_error("datetime_add", {S("weekday"), L(1), DT("2017-01-01")}).find("unknown part 'weekday'"),
            std::string::npos);
  EXPECT_EQ(bind_error("datetime_add", {S("day"), R(1.5), DT("2017-01-01")}),
            "argument 2 must be an integer (int or long), found real");
}

TEST(TimeFunctions, datetime_diff_counts_boundaries) {
  const auto diff = [](std::string_view part, std::string_view a, std::string_view b) {
    return num("datetime_diff", {S(part), DT(a), DT(b)});
  };
  // Doc examples.
  EXPECT_EQ(diff("year", "2017-01-01", "2000-12-31"), 17);
  EXPECT_EQ(diff("quarter", "2017-07-01", "2017-03-30"), 2);
  EXPECT_EQ(diff("month", "2017-01-01", "2015-12-30"), 13);
  EXPECT_EQ(diff("week", "2017-10-29 00:00", "2017-09-30 23:59"), 5);
  EXPECT_EQ(diff("day", "2017-10-29 00:00", "2017-09-30 23:59"), 29);
  EXPECT_EQ(diff("hour", "2017-10-31 01:00", "2017-10-30 23:59"), 2);
  EXPECT_EQ(diff("minute", "2017-10-30 23:05:01", "2017-10-30 23:00:59"), 5);
  EXPECT_EQ(diff("second", "2017-10-30 23:00:10.100", "2017-10-30 23:00:00.900"), 10);
  EXPECT_EQ(diff("millisecond", "2017-10-30 23:00:00.200100", "2017-10-30 23:00:00.100900"), 100);
  EXPECT_EQ(diff("microsecond", "2017-10-30 23:00:00.1009001", "2017-10-30 23:00:00.1008009"), 100);
  EXPECT_EQ(diff("nanosecond", "2017-10-30 23:00:00.0000000", "2017-10-30 23:00:00.0000007"), -700);
  // Before the Unix epoch (negative ticks) and across a year boundary.
  EXPECT_EQ(diff("day", "1969-12-31 00:00", "1969-12-30 23:59"), 1);
  EXPECT_EQ(diff("year", "0001-01-01", "9999-12-31"), -9998);
  EXPECT_EQ(diff("week", "1970-01-04", "1970-01-03"), 1);  // Sunday against Saturday
}

TEST(TimeFunctions, datetime_part_of_every_part) {
  const auto part = [](std::string_view p) { return num("datetime_part", {S(p), DT("2017-10-30 01:02:03.7654321")}); };
  EXPECT_EQ(part("year"), 2017);
  EXPECT_EQ(part("Quarter"), 4);
  EXPECT_EQ(part("month"), 10);
  EXPECT_EQ(part("week_of_year"), 44);
  EXPECT_EQ(part("day"), 30);
  EXPECT_EQ(part("DayOfYear"), 303);
  EXPECT_EQ(part("hour"), 1);
  EXPECT_EQ(part("minute"), 2);
  EXPECT_EQ(part("second"), 3);
  EXPECT_EQ(part("millisecond"), 765);
  EXPECT_EQ(part("microsecond"), 765432);
  EXPECT_EQ(part("nanosecond"), 765432100);
  EXPECT_NE(bind_error("datetime_part", {S("week"), DT("2017-01-01")}).find("week_of_year"), std::string::npos);
  EXPECT_EQ(num("datetime_part", {S("day"), null_of(column_type::datetime)}), std::nullopt);
  column_type t{};
  run("datetime_part", {S("day"), DT("2017-01-01")}, 1, &t);
  EXPECT_EQ(t, column_type::int_);
  // A part that is not a constant.
  EXPECT_NE(bind_error("datetime_part", {strings({"day", "year"}), DT("2017-01-01")}).find("string literal"),
            std::string::npos);
}

TEST(TimeFunctions, calendar_parts) {
  EXPECT_EQ(num("dayofmonth", {DT("2015-12-14")}), 14);
  EXPECT_EQ(num("dayofyear", {DT("2015-12-14")}), 348);
  EXPECT_EQ(num("dayofyear", {DT("2016-12-31")}), 366);
  EXPECT_EQ(num("dayofyear", {DT("2015-12-31")}), 365);
  EXPECT_EQ(num("monthofyear", {DT("2015-12-14")}), 12);
  EXPECT_EQ(num("getmonth", {DT("2015-10-12")}), 10);
  EXPECT_EQ(num("getyear", {DT("2015-10-12")}), 2015);
  EXPECT_EQ(num("getyear", {DT("0001-01-01")}), 1);
  EXPECT_EQ(num("getyear", {DT("9999-12-31 23:59:59.9999999")}), 9999);
  EXPECT_EQ(num("hourofday", {DT("2015-12-14 18:54:00")}), 18);
  EXPECT_EQ(num("hourofday", {DT("1969-12-31 23:00")}), 23);
  EXPECT_EQ(num("dayofmonth", {DT("1969-12-31 23:00")}), 31);
  // ISO 8601 weeks (doc examples of week_of_year).
  EXPECT_EQ(num("week_of_year", {DT("2020-12-31")}), 53);
  EXPECT_EQ(num("week_of_year", {DT("2020-06-15")}), 25);
  EXPECT_EQ(num("week_of_year", {DT("1970-01-01")}), 1);
  EXPECT_EQ(num("week_of_year", {DT("2000-01-01")}), 52);
  EXPECT_EQ(num("weekofyear", {DT("2021-01-03")}), 53);
  EXPECT_EQ(num("weekofyear", {DT("2021-01-04")}), 1);
  EXPECT_EQ(num("weekofyear", {DT("2019-12-30")}), 1);
  EXPECT_EQ(num("getmonth", {null_of(column_type::datetime)}), std::nullopt);
  EXPECT_EQ(bind_error("getyear", {L(1)}), "argument 1 must be a datetime, found long");
}

TEST(TimeFunctions, dayofweek_is_a_timespan_since_sunday) {
  EXPECT_EQ(num("dayofweek", {DT("1947-11-30 10:00:05")}), 0);  // doc: a Sunday
  EXPECT_EQ(num("dayofweek", {DT("1970-05-11")}), ts("1d"));   // doc: Monday, 1.00:00:00
  EXPECT_EQ(num("dayofweek", {DT("0001-01-01")}), ts("1d"));   // 0001-01-01 was a Monday
  EXPECT_EQ(num("dayofweek", {DT("2024-03-02 23:59")}), ts("6d"));
  column_type t{};
  run("dayofweek", {DT("2017-01-01")}, 1, &t);
  EXPECT_EQ(t, column_type::timespan);
}

TEST(TimeFunctions, start_and_end_of_periods) {
  const auto at = [](std::string_view f, std::string_view d, std::optional<int64_t> off = std::nullopt) {
    std::vector<column_data> args{DT(d)};
    if (off) args.push_back(L(*off));
    return num(f, args);
  };
  EXPECT_EQ(at("startofday", "2017-01-01 10:10:17"), dt("2017-01-01"));
  EXPECT_EQ(at("startofday", "2017-01-01 10:10:17", -1), dt("2016-12-31"));
  EXPECT_EQ(at("startofday", "2017-01-01 10:10:17", 1), dt("2017-01-02"));
  EXPECT_EQ(at("startofday", "1969-12-31 10:00"), dt("1969-12-31"));
  EXPECT_EQ(at("startofweek", "2017-01-01 10:10:17"), dt("2017-01-01"));
  EXPECT_EQ(at("startofweek", "2017-01-04 10:10:17", 1), dt("2017-01-08"));
  EXPECT_EQ(at("startofweek", "2017-01-01 10:10:17", -1), dt("2016-12-25"));
  EXPECT_EQ(at("startofmonth", "2017-01-01 10:10:17", -1), dt("2016-12-01"));
  EXPECT_EQ(at("startofmonth", "2016-02-29 10:10:17"), dt("2016-02-01"));
  EXPECT_EQ(at("startofyear", "2017-01-01 10:10:17", -1), dt("2016-01-01"));
  EXPECT_EQ(at("startofyear", "2017-05-01"), dt("2017-01-01"));
  EXPECT_EQ(at("endofday", "2017-01-01 10:10:17"), dt("2017-01-01 23:59:59.9999999"));
  EXPECT_EQ(at("endofday", "2017-01-01 10:10:17", -1), dt("2016-12-31 23:59:59.9999999"));
  EXPECT_EQ(at("endofweek", "2017-01-01 10:10:17"), dt("2017-01-07 23:59:59.9999999"));
  EXPECT_EQ(at("endofmonth", "2016-02-10"), dt("2016-02-29 23:59:59.9999999"));
  EXPECT_EQ(at("endofmonth", "2017-02-10"), dt("2017-02-28 23:59:59.9999999"));
  EXPECT_EQ(at("endofmonth", "2017-01-01", 1), dt("2017-02-28 23:59:59.9999999"));
  EXPECT_EQ(at("endofyear", "2017-01-01 10:10:17"), dt("2017-12-31 23:59:59.9999999"));
  EXPECT_EQ(at("endofyear", "9999-06-01"), dt("9999-12-31 23:59:59.9999999"));
  EXPECT_EQ(at("endofday", "9999-12-31 12:00"), dt("9999-12-31 23:59:59.9999999"));
  EXPECT_EQ(at("startofmonth", "0001-01-15", -1), std::nullopt);
  EXPECT_EQ(at("startofyear", "9999-01-15", 1), std::nullopt);
  EXPECT_EQ(at("startofday", "2017-01-01", INT64_MAX), std::nullopt);
  EXPECT_EQ(at("endofweek", "2017-01-01", INT64_MAX), std::nullopt);
  EXPECT_EQ(num("startofday", {null_of(column_type::datetime)}), std::nullopt);
  EXPECT_EQ(num("startofday", {DT("2017-01-01"), null_of(column_type::long_)}), std::nullopt);
  EXPECT_EQ(lookup("startofday")->naming, result_naming::first_argument);
  EXPECT_EQ(lookup("startofweek")->naming, result_naming::column_n);
  // A column of datetimes with a constant offset.
  column_data col = ints(column_type::datetime, {dt("2017-03-15 10:00"), std::nullopt, dt("2016-02-29")});
  column_data out = run("startofmonth", {col, L(1)}, 3);
  EXPECT_EQ(out.ints[0], dt("2017-04-01"));
  EXPECT_TRUE(out.is_null(1));
  EXPECT_EQ(out.ints[2], dt("2016-03-01"));
}

TEST(TimeFunctions, format_datetime_dotnet_specifiers) {
  const auto f = [](std::string_view d, std::string_view format) { return str("format_datetime", {DT(d), S(format)}); };
  EXPECT_EQ(f("2015-12-14 02:03:04.12345", "y-M-d h:m:s.fffffff"), "15-12-14 2:3:4.1234500");  // doc
  EXPECT_EQ(f("2017-01-29 09:00:05", "yy-MM-dd [HH:mm:ss]"), "17-01-29 [09:00:05]");
  EXPECT_EQ(f("2017-01-29 09:00:05", "yyyy-M-dd [H:mm:ss]"), "2017-1-29 [9:00:05]");
  EXPECT_EQ(f("2017-01-29 09:00:05", "yy-MM-dd [hh:mm:ss tt]"), "17-01-29 [09:00:05 AM]");
  EXPECT_EQ(f("2017-01-29 21:00:05", "h tt"), "9 PM");
  EXPECT_EQ(f("2017-01-29 00:00:05", "hh"), "12");
  EXPECT_EQ(f("2017-01-29 09:00:05.5", "HH:mm:ss.FFF"), "09:00:05.5");
  EXPECT_EQ(f("2017-01-29 09:00:05", "HH:mm:ss.FFF"), "09:00:05");
  EXPECT_EQ(f("2017-01-29 09:00:05.123", "fff|ff|f"), "123|12|1");
  EXPECT_EQ(f("0001-02-03", "yyyy/MM/dd"), "0001/02/03");
  EXPECT_EQ(str("format_datetime", {null_of(column_type::datetime), S("yyyy")}), "");
  EXPECT_EQ(lookup("format_datetime")->naming, result_naming::first_argument);
  EXPECT_NE(bind_error("format_datetime", {DT("2017-01-01"), S("yyyy-QQ")}).find("'QQ'"), std::string::npos);
  EXPECT_NE(bind_error("format_datetime", {DT("2017-01-01"), strings({"a", "b"})}).find("literal"),
            std::string::npos);
}

TEST(TimeFunctions, format_timespan) {
  const auto f = [](std::string_view t, std::string_view format) { return str("format_timespan", {TS(t), S(format)}); };
  EXPECT_EQ(f("14.02:03:04.12345", "h:m:s.fffffff"), "2:3:4.1234500");  // doc
  EXPECT_EQ(f("29.09:00:05.12345", "dd.hh:mm:ss [fffffff]"), "29.09:00:05 [1234500]");
  EXPECT_EQ(f("29.09:00:05.12345", "ddd.h:mm:ss [fffffff]"), "029.9:00:05 [1234500]");
  EXPECT_EQ(f("-01:30:00", "hh:mm"), "-01:30");
  EXPECT_EQ(f("00:00:01", "ss.FFF"), "01");
  EXPECT_EQ(str("format_timespan", {null_of(column_type::timespan), S("hh")}), "");
  EXPECT_NE(bind_error("format_timespan", {TS("1d"), S("yyyy")}).find("'yyyy'"), std::string::npos);
}

TEST(TimeFunctions, make_datetime_and_make_timespan) {
  EXPECT_EQ(num("make_datetime", {L(2017), L(10), L(1)}), dt("2017-10-01"));
  EXPECT_EQ(num("make_datetime", {L(2017), L(10), L(1), L(12), L(10)}), dt("2017-10-01 12:10"));
  EXPECT_EQ(num("make_datetime", {L(2017), L(10), L(1), L(12), L(11), R(0.1234567)}),
            dt("2017-10-01 12:11:00.1234567"));
  EXPECT_EQ(num("make_datetime", {I(2016), I(2), I(29)}), dt("2016-02-29"));
  EXPECT_EQ(num("make_datetime", {L(2017), L(2), L(29)}), std::nullopt);
  EXPECT_EQ(num("make_datetime", {L(0), L(1), L(1)}), std::nullopt);
  EXPECT_EQ(num("make_datetime", {L(10000), L(1), L(1)}), std::nullopt);
  EXPECT_EQ(num("make_datetime", {L(1), L(1), L(1)}), dt("0001-01-01"));
  EXPECT_EQ(num("make_datetime", {L(9999), L(12), L(31), L(23), L(59), R(59.9999999)}),
            dt("9999-12-31 23:59:59.9999999"));
  EXPECT_EQ(num("make_datetime", {L(2017), L(13), L(1)}), std::nullopt);
  EXPECT_EQ(num("make_datetime", {L(2017), L(1), L(1), L(24), L(0)}), std::nullopt);
  EXPECT_EQ(num("make_datetime", {L(2017), null_of(column_type::long_), L(1)}), std::nullopt);
  EXPECT_EQ(bind_error("make_datetime", {L(2017), L(1)}), "expects between 3 and 6 arguments, found 2");
  EXPECT_EQ(bind_error("make_datetime", {L(2017), L(1), S("1")}),
            "argument 3 must be a number (int, long or real), found string");

  EXPECT_EQ(num("make_timespan", {L(12), L(30)}), ts("12:30:00"));
  EXPECT_EQ(num("make_timespan", {L(12), L(30), L(15)}), ts("12:30:15"));
  EXPECT_EQ(num("make_timespan", {L(1), L(12), L(30), R(55.123)}), ts("1.12:30:55.123"));
  EXPECT_EQ(num("make_timespan", {L(1), null_of(column_type::long_)}), std::nullopt);
  EXPECT_EQ(bind_error("make_timespan", {L(1)}), "expects between 2 and 4 arguments, found 1");
  EXPECT_EQ(bind_error("make_timespan", {R(1.5), L(1)}), "argument 1 must be an integer (int or long), found real");
}

TEST(TimeFunctions, unixtime_conversions) {
  EXPECT_EQ(num("unixtime_seconds_todatetime", {L(1546300800)}), dt("2019-01-01"));
  EXPECT_EQ(num("unixtime_seconds_todatetime", {R(1546300800.5)}), dt("2019-01-01 00:00:00.5"));
  EXPECT_EQ(num("unixtime_seconds_todatetime", {L(-1)}), dt("1969-12-31 23:59:59"));
  EXPECT_EQ(num("unixtime_milliseconds_todatetime", {L(1546300800123)}), dt("2019-01-01 00:00:00.123"));
  EXPECT_EQ(num("unixtime_microseconds_todatetime", {L(1546300800123456)}), dt("2019-01-01 00:00:00.123456"));
  EXPECT_EQ(num("unixtime_nanoseconds_todatetime", {L(1546300800123456789)}), dt("2019-01-01 00:00:00.1234567"));
  EXPECT_EQ(num("unixtime_seconds_todatetime", {null_of(column_type::long_)}), std::nullopt);
  EXPECT_EQ(num("unixtime_seconds_todatetime", {L(INT64_MAX)}), std::nullopt);
  EXPECT_EQ(bind_error("unixtime_seconds_todatetime", {S("1")}),
            "argument 1 must be a number (int, long or real), found string");
}

TEST(Functions, every_function_names_itself_once) {
  std::vector<std::string_view> names;
  for (const auto& f : text_and_time_functions()) names.push_back(f.name);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(std::adjacent_find(names.begin(), names.end()), names.end());
  EXPECT_GE(names.size(), 50u);
}

TEST(Functions, the_registry_finds_these_functions) {
  for (const auto& f : text_and_time_functions()) {
    const scalar_function* found = find_scalar_function(f.name);
    ASSERT_NE(found, nullptr) << f.name;
    EXPECT_EQ(found->naming, f.naming) << f.name;
  }
}

}  // namespace
}  // namespace tributary::query
