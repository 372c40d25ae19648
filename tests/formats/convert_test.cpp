// Conversion edge cases of the ingest library's private text → value functions, and properties
// checked over many values rather than a few examples.

#include "ingest/convert.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "ingest/json_text.hpp"

namespace tributary::testing {
namespace {

using namespace ingest::detail;

TEST(convert, datetime_text_round_trips_over_the_whole_range) {
  std::mt19937_64 rng(42);
  // 0001-01-01 to 9999-12-31 in ticks since the Unix epoch.
  std::uniform_int_distribution<int64_t> ticks(-62135596800LL * 10'000'000,
                                               253402300800LL * 10'000'000 - 1);
  for (int i = 0; i < 20000; ++i) {
    const int64_t t = ticks(rng);
    const std::string text = format_datetime(t);
    int64_t back = 0;
    ASSERT_TRUE(parse_datetime(text, back).empty()) << text;
    ASSERT_EQ(back, t) << text;
  }
}

TEST(convert, datetime_offsets_move_to_utc) {
  int64_t plain = 0, shifted = 0;
  ASSERT_TRUE(parse_datetime("2024-03-01T01:00:00Z", plain).empty());
  ASSERT_TRUE(parse_datetime("2024-02-29T23:00:00-02:00", shifted).empty());
  EXPECT_EQ(plain, shifted);
  ASSERT_TRUE(parse_datetime("2024-03-01T03:00:00+0200", shifted).empty());
  EXPECT_EQ(plain, shifted);
}

TEST(convert, datetime_unix_epoch_is_zero) {
  int64_t t = -1;
  ASSERT_TRUE(parse_datetime("1970-01-01T00:00:00Z", t).empty());
  EXPECT_EQ(t, 0);
  ASSERT_TRUE(parse_datetime("1970-01-01 00:00:00.0000001", t).empty());
  EXPECT_EQ(t, 1);
}

TEST(convert, timespan_clock_form_round_trips) {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int64_t> ticks(-10'675'199LL * 864'000'000'000,
                                               10'675'199LL * 864'000'000'000);
  for (int i = 0; i < 20000; ++i) {
    const int64_t t = ticks(rng);
    const uint64_t a = t < 0 ? -static_cast<uint64_t>(t) : static_cast<uint64_t>(t);
    const uint64_t secs = a / 10'000'000;
    const std::string text = (t < 0 ? "-" : "") + std::to_string(secs / 86400) + "." +
                             std::to_string(secs % 86400 / 3600) + ":" +
                             (secs % 3600 / 60 < 10 ? "0" : "") + std::to_string(secs % 3600 / 60) +
                             ":" + (secs % 60 < 10 ? "0" : "") + std::to_string(secs % 60) + "." +
                             std::to_string(10'000'000 + a % 10'000'000).substr(1);
    int64_t back = 0;
    ASSERT_TRUE(parse_timespan(text, back).empty()) << text;
    ASSERT_EQ(back, t) << text;
  }
}

TEST(convert, timespan_units_agree_with_each_other) {
  auto ticks = [](std::string_view s) {
    int64_t t = 0;
    EXPECT_TRUE(parse_timespan(s, t).empty()) << s;
    return t;
  };
  EXPECT_EQ(ticks("1d"), ticks("24h"));
  EXPECT_EQ(ticks("1h"), ticks("60m"));
  EXPECT_EQ(ticks("1m"), ticks("60s"));
  EXPECT_EQ(ticks("1s"), ticks("1000ms"));
  EXPECT_EQ(ticks("1ms"), ticks("1000microsecond"));
  EXPECT_EQ(ticks("1microsecond"), ticks("10tick"));
  EXPECT_EQ(ticks("1.5h"), ticks("90m"));
  EXPECT_EQ(ticks("0.0000001s"), ticks("1tick"));
  EXPECT_EQ(ticks("2"), ticks("2d"));
  EXPECT_EQ(ticks("-1.5d"), -ticks("36h"));
}

TEST(convert, int_limits) {
  int64_t v = 0;
  EXPECT_TRUE(parse_int("2147483647", v).empty());
  EXPECT_EQ(v, std::numeric_limits<int32_t>::max());
  EXPECT_FALSE(parse_int("2147483648", v).empty());
  EXPECT_FALSE(parse_int("99999999999999999999999", v).empty());
  EXPECT_TRUE(parse_long("-9223372036854775808", v).empty());
  EXPECT_EQ(v, std::numeric_limits<int64_t>::min());
  EXPECT_FALSE(parse_long("", v).empty());
  EXPECT_FALSE(parse_long("+", v).empty());
  EXPECT_FALSE(parse_long("1 2", v).empty());
}

TEST(convert, real_special_values_and_range) {
  double d = 0;
  EXPECT_TRUE(parse_real("-Infinity", d).empty());
  EXPECT_TRUE(std::isinf(d) && d < 0);
  EXPECT_TRUE(parse_real("+inf", d).empty());
  EXPECT_TRUE(std::isinf(d) && d > 0);
  EXPECT_TRUE(parse_real("NAN", d).empty());
  EXPECT_TRUE(std::isnan(d));
  EXPECT_TRUE(parse_real("4.9e-324", d).empty());
  EXPECT_GT(d, 0);
  EXPECT_TRUE(
      parse_real(
          "0.000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
          "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
          "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
          "00000000000000000000000000000000000000000000000000000000000000000000000000001",
          d)
          .empty());
  EXPECT_EQ(d, 0);
  EXPECT_FALSE(parse_real("1" + std::string(400, '0'), d).empty());
  EXPECT_FALSE(parse_real("--1", d).empty());
  EXPECT_FALSE(parse_real("1e", d).empty());
}

TEST(convert, decimal_normal_form) {
  std::string out;
  auto norm = [&](std::string_view s) {
    out.clear();
    EXPECT_TRUE(parse_decimal(s, out).empty()) << s;
    return out;
  };
  EXPECT_EQ(norm("000"), "0");
  EXPECT_EQ(norm("-0"), "0");
  EXPECT_EQ(norm("+0.10"), "0.10");
  EXPECT_EQ(norm("-.5"), "-0.5");
  EXPECT_EQ(norm("12.5e-3"), "0.0125");
  EXPECT_EQ(norm("12.5e3"), "12500");
  EXPECT_EQ(norm("0.5e1"), "5");
  EXPECT_EQ(norm("9.99999999999999999999999999995"), "10.000000000000000000000000000");
  EXPECT_EQ(norm("1e-28"), "0.0000000000000000000000000001");
  EXPECT_EQ(norm("1e-29"), "0.0000000000000000000000000000");
  EXPECT_FALSE(parse_decimal("1e999999999999", out).empty());
  EXPECT_FALSE(parse_decimal("-", out).empty());
  EXPECT_FALSE(parse_decimal(".", out).empty());
  EXPECT_FALSE(parse_decimal("1e+", out).empty());
}

TEST(convert, guid_normal_form) {
  std::array<char, 36> g{};
  ASSERT_TRUE(parse_guid("{ABCDEF01-2345-6789-ABCD-EF0123456789}", g).empty());
  EXPECT_EQ(std::string(g.data(), g.size()), "abcdef01-2345-6789-abcd-ef0123456789");
  EXPECT_FALSE(parse_guid("{abcdef01-2345-6789-abcd-ef0123456789)", g).empty());
  EXPECT_FALSE(parse_guid("abcdef01-2345-6789-abcd-ef012345678", g).empty());
  EXPECT_FALSE(parse_guid("abcdef01x2345-6789-abcd-ef0123456789", g).empty());
}

TEST(convert, unix_times) {
  int64_t t = 0;
  ASSERT_TRUE(unix_time_to_ticks(int64_t{1}, unix_unit::seconds, t));
  EXPECT_EQ(t, 10'000'000);
  ASSERT_TRUE(unix_time_to_ticks(int64_t{-1}, unix_unit::milliseconds, t));
  EXPECT_EQ(t, -10'000);
  ASSERT_TRUE(unix_time_to_ticks(int64_t{250}, unix_unit::nanoseconds, t));
  EXPECT_EQ(t, 2);
  EXPECT_FALSE(unix_time_to_ticks(std::numeric_limits<int64_t>::max(), unix_unit::seconds, t));
  EXPECT_FALSE(unix_time_to_ticks(std::nan(""), unix_unit::seconds, t));
  EXPECT_FALSE(unix_time_to_ticks(1e300, unix_unit::seconds, t));
}

TEST(convert, json_strings_escape_what_json_requires) {
  std::string out;
  append_json_string(out, std::string_view("a\"b\\c\n\x01\x7f\xc3\xa9", 10));
  EXPECT_EQ(out, "\"a\\\"b\\\\c\\n\\u0001\x7f\xc3\xa9\"");
}

TEST(convert, utf8_validation_finds_the_first_bad_byte) {
  EXPECT_EQ(first_invalid_utf8("plain ascii"), std::string_view::npos);
  EXPECT_EQ(first_invalid_utf8("caf\xc3\xa9 \xf0\x9f\x98\x80"), std::string_view::npos);
  EXPECT_EQ(first_invalid_utf8("ab\xc3"), 2u);
  EXPECT_EQ(first_invalid_utf8("ab\xe0\x80\x80"), 2u);     // overlong
  EXPECT_EQ(first_invalid_utf8("\xed\xa0\x80"), 0u);       // surrogate
  EXPECT_EQ(first_invalid_utf8("x\xf4\x90\x80\x80"), 1u);  // past U+10FFFF
  EXPECT_EQ(first_invalid_utf8(std::string(100, 'a') + "\x80"), 100u);
}

TEST(convert, dynamic_text_follows_parse_json) {
  dynamic_text d;
  std::string out;
  ASSERT_TRUE(d.to_json(" {\"a\" : [ 1 ] } ", out));
  EXPECT_EQ(out, "{\"a\":[1]}");
  ASSERT_TRUE(d.to_json("not json", out));
  EXPECT_EQ(out, "\"not json\"");
  ASSERT_TRUE(d.to_json("{\"a\":", out));
  EXPECT_EQ(out, "\"{\\\"a\\\":\"");
  EXPECT_FALSE(d.to_json("null", out));
  ASSERT_TRUE(d.to_json(std::string(10000, '[') + std::string(10000, ']'), out));
  EXPECT_EQ(out.front(), '"');  // too deep for JSON: kept as a string, not a crash
}

}  // namespace
}  // namespace tributary::testing
