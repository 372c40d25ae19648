/// Kusto's string, regex and datetime/timespan scalar functions (functions.hpp). Every eval is
/// one typed loop over the chunk; a 1-row argument is a constant read at row 0 (vec::at).
/// Patterns, parts and formats that Kusto requires to be constants are compiled at bind time,
/// so a bad one is a bind error and the loops never parse them again.
///
/// Datetimes are ticks since the Unix epoch; the calendar is proleptic Gregorian over Kusto's
/// range 0001-01-01 .. 9999-12-31 (std::chrono::year_month_day); a result outside it is null.
/// Strings count Unicode code points where Kusto counts characters.

#include <re2/re2.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "ingest/convert.hpp"
#include "query/functions.hpp"
#include "query/functions_internal.hpp"

namespace tributary::query {
namespace {

using model::column_data;
using model::column_type;
using args_t = std::span<const column_data* const>;
using bind_result = std::variant<bound_function, std::string>;
using bind_fn = std::function<bind_result(std::span<const arg_info>)>;
using json = nlohmann::ordered_json;  // dynamic keeps its key order (functions_internal.hpp)
json parse_json_text(std::string_view text) { return json::parse(text, nullptr, false); }

constexpr int64_t tick_us = 10;
constexpr int64_t tick_ms = 10'000;
constexpr int64_t tick_s = 10'000'000;
constexpr int64_t tick_min = 60 * tick_s;
constexpr int64_t tick_h = 60 * tick_min;
constexpr int64_t tick_day = 24 * tick_h;
/// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.9999999Z in ticks since the Unix epoch.
constexpr int64_t min_datetime = -621'355'968'000'000'000;
constexpr int64_t max_datetime = 2'534'023'007'999'999'999;

bool in_range(int64_t t) { return t >= min_datetime && t <= max_datetime; }

// ---------------------------------------------------------------------------------------------
// Columns. Local rather than vec::make/vec::nulls so that this file does not wait on
// functions.cpp; the layout is model::column_data's, nothing more.

column_data make(column_type t, size_t rows) {
  column_data c;
  c.type = t;
  c.nulls.reserve(rows);
  switch (t) {
    case column_type::real: c.reals.reserve(rows); break;
    case column_type::string:
    case column_type::decimal:
    case column_type::guid:
    case column_type::dynamic: c.offsets.reserve(rows + 1); break;
    default: c.ints.reserve(rows); break;
  }
  return c;
}

/// Ends a text row whose bytes were appended to out.text directly.
void end_text(column_data& out) {
  out.nulls.push_back(0);
  out.offsets.push_back(static_cast<uint32_t>(out.text.size()));
}

bool is_integer(column_type t) { return t == column_type::int_ || t == column_type::long_; }
bool is_number(column_type t) { return is_integer(t) || t == column_type::real; }

// ---------------------------------------------------------------------------------------------
// tostring() of any value, for the functions that take any type as text (strcat, substring...).

std::string format_real(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  if (v == 0) return "0";
  // Shortest round-trip digits, laid out as .NET does: scientific from 1E+15 and below 1E-05.
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string_view s(buf, static_cast<size_t>(r.ptr - buf));
  std::string out;
  if (s.front() == '-') {
    out += '-';
    s.remove_prefix(1);
  }
  const size_t e = s.find('e');
  int exp = 0;
  std::from_chars(s.data() + e + 1 + (s[e + 1] == '+'), s.data() + s.size(), exp);
  std::string digits;
  for (char c : s.substr(0, e))
    if (c != '.') digits += c;
  if (exp >= 15 || exp < -5) {
    out += digits[0];
    if (digits.size() > 1) out += '.' + digits.substr(1);
    out += exp < 0 ? "E-" : "E+";
    const int a = exp < 0 ? -exp : exp;
    if (a < 10) out += '0';
    out += std::to_string(a);
    return out;
  }
  if (exp < 0) {
    out += "0." + std::string(static_cast<size_t>(-exp - 1), '0') + digits;
    return out;
  }
  const auto whole = static_cast<size_t>(exp) + 1;
  if (digits.size() <= whole) return out + digits + std::string(whole - digits.size(), '0');
  return out + digits.substr(0, whole) + '.' + digits.substr(whole);
}

void append_2(std::string& out, int64_t v) {
  out += static_cast<char>('0' + v / 10 % 10);
  out += static_cast<char>('0' + v % 10);
}

std::string format_timespan_text(int64_t ticks) {
  std::string out;
  uint64_t t = static_cast<uint64_t>(ticks);
  if (ticks < 0) {
    out += '-';
    t = 0 - t;
  }
  const uint64_t days = t / tick_day;
  if (days) out += std::to_string(days) + '.';
  const uint64_t rem = t % tick_day;
  append_2(out, static_cast<int64_t>(rem / tick_h));
  out += ':';
  append_2(out, static_cast<int64_t>(rem / tick_min % 60));
  out += ':';
  append_2(out, static_cast<int64_t>(rem / tick_s % 60));
  if (const uint64_t frac = rem % tick_s) {
    char buf[8];
    uint64_t f = frac;
    for (int i = 6; i >= 0; --i, f /= 10) buf[i] = static_cast<char>('0' + f % 10);
    out += '.';
    out.append(buf, 7);
  }
  return out;
}

/// Appends tostring() of row `r` of `c` (a null appends nothing: tostring(null) is "").
void append_as_text(const column_data& c, size_t r, std::string& out) {
  if (c.is_null(r)) return;
  switch (c.type) {
    case column_type::bool_: out += c.ints[r] ? "true" : "false"; return;
    case column_type::int_:
    case column_type::long_: {
      char buf[24];
      auto res = std::to_chars(buf, buf + sizeof buf, c.ints[r]);
      out.append(buf, res.ptr);
      return;
    }
    case column_type::real: out += format_real(c.reals[r]); return;
    case column_type::datetime: out += ingest::detail::format_datetime(c.ints[r]); return;
    case column_type::timespan: out += format_timespan_text(c.ints[r]); return;
    case column_type::dynamic: {
      const std::string_view j = c.text_at(r);
      // A dynamic string's text is the string itself, not its JSON quoting.
      if (!j.empty() && j.front() == '"') {
        auto v = parse_json_text(j);
        if (v.is_string()) {
          out += v.get_ref<const std::string&>();
          return;
        }
      }
      if (j != "null") out += j;
      return;
    }
    default: out += c.text_at(r); return;
  }
}

/// Row `r` of `c` as text: a view into the column for strings, else formatted into `scratch`.
std::string_view text_of(const column_data& c, size_t r, std::string& scratch) {
  if (c.type == column_type::string || c.type == column_type::decimal || c.type == column_type::guid)
    return c.text_at(r);
  scratch.clear();
  append_as_text(c, r, scratch);
  return scratch;
}

// ---------------------------------------------------------------------------------------------
// UTF-8.

bool is_continuation(unsigned char b) { return (b & 0xC0) == 0x80; }

int64_t code_points(std::string_view s) {
  int64_t n = 0;
  for (unsigned char b : s) n += !is_continuation(b);
  return n;
}

/// Byte offset of code point `cp` (clamped to the end).
size_t byte_of(std::string_view s, int64_t cp) {
  size_t i = 0;
  for (; i < s.size() && cp > 0; --cp) {
    ++i;
    while (i < s.size() && is_continuation(static_cast<unsigned char>(s[i]))) ++i;
  }
  return i;
}

/// Decodes the code point at s[i] and advances i; a malformed byte is returned as itself
/// (cp < 0x100 marked by `raw`) so that the bytes pass through unchanged.
uint32_t next_cp(std::string_view s, size_t& i, bool& raw) {
  const auto b = static_cast<unsigned char>(s[i]);
  raw = false;
  size_t len = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
  if (len == 0 || i + len > s.size()) {
    raw = true;
    ++i;
    return b;
  }
  uint32_t cp = len == 1 ? b : len == 2 ? (b & 0x1F) : len == 3 ? (b & 0x0F) : (b & 0x07);
  for (size_t k = 1; k < len; ++k) {
    const auto c = static_cast<unsigned char>(s[i + k]);
    if (!is_continuation(c)) {
      raw = true;
      ++i;
      return b;
    }
    cp = cp << 6 | (c & 0x3F);
  }
  i += len;
  return cp;
}

void append_cp(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | cp >> 6);
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | cp >> 12);
    out += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | cp >> 18);
    out += static_cast<char>(0x80 | (cp >> 12 & 0x3F));
    out += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

/// .NET's invariant simple case mapping for ASCII, Latin-1, Latin Extended-A, Greek and
/// Cyrillic: what log text needs in practice, without a Unicode table.
uint32_t lower_cp(uint32_t c) {
  if (c < 0x80) return c >= 'A' && c <= 'Z' ? c + 32 : c;
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;
  if (c == 0x130) return 'i';
  if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) return c % 2 == 0 ? c + 1 : c;
  if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return c % 2 == 1 ? c + 1 : c;
  if (c == 0x178) return 0xFF;
  if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 32;
  if (c == 0x386) return 0x3AC;
  if (c >= 0x388 && c <= 0x38A) return c + 37;
  if (c == 0x38C) return 0x3CC;
  if (c == 0x38E || c == 0x38F) return c + 63;
  if (c >= 0x410 && c <= 0x42F) return c + 32;
  if (c >= 0x400 && c <= 0x40F) return c + 80;
  return c;
}

uint32_t upper_cp(uint32_t c) {
  if (c < 0x80) return c >= 'a' && c <= 'z' ? c - 32 : c;
  if (c >= 0xE0 && c <= 0xFE && c != 0xF7) return c - 32;
  if (c == 0xFF) return 0x178;
  if (c == 0xB5) return 0x39C;
  if (c == 0x131) return 'I';
  if (c == 0x17F) return 'S';
  if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) return c % 2 == 1 ? c - 1 : c;
  if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return c % 2 == 0 ? c - 1 : c;
  if (c == 0x3C2) return 0x3A3;
  if (c >= 0x3B1 && c <= 0x3C9) return c - 32;
  if (c == 0x3AC) return 0x386;
  if (c >= 0x3AD && c <= 0x3AF) return c - 37;
  if (c == 0x3CC) return 0x38C;
  if (c == 0x3CD || c == 0x3CE) return c - 63;
  if (c >= 0x430 && c <= 0x44F) return c - 32;
  if (c >= 0x450 && c <= 0x45F) return c - 80;
  return c;
}

template <bool Upper>
void append_case(std::string_view s, std::string& out) {
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      out += static_cast<char>(Upper ? (b >= 'a' && b <= 'z' ? b - 32 : b) : (b >= 'A' && b <= 'Z' ? b + 32 : b));
      ++i;
      continue;
    }
    bool raw = false;
    const size_t from = i;
    const uint32_t cp = next_cp(s, i, raw);
    if (raw)
      out.append(s.substr(from, i - from));
    else
      append_cp(out, Upper ? upper_cp(cp) : lower_cp(cp));
  }
}


bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    bool raw = false;
    const uint32_t cp = next_cp(s, i, raw);
    if ((raw && cp >= 0x80) || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Binding: argument counts and types, constants.

std::string count_error(size_t lo, size_t hi, size_t found) {
  std::string expected;
  if (lo == hi)
    expected = std::to_string(lo) + (lo == 1 ? " argument" : " arguments");
  else if (hi == lo + 1)
    expected = std::to_string(lo) + " or " + std::to_string(hi) + " arguments";
  else
    expected = "between " + std::to_string(lo) + " and " + std::to_string(hi) + " arguments";
  return "expects " + expected + ", found " + std::to_string(found);
}

enum class want : uint8_t { any, string, string_or_dynamic, integer, number, datetime, timespan };

std::string_view describe(want w) {
  switch (w) {
    case want::any: return "a value";
    case want::string: return "a string";
    case want::string_or_dynamic: return "a string or dynamic";
    case want::integer: return "an integer (int or long)";
    case want::number: return "a number (int, long or real)";
    case want::datetime: return "a datetime";
    case want::timespan: return "a timespan";
  }
  return "";
}

bool accepts(want w, column_type t) {
  switch (w) {
    case want::any: return true;
    case want::string: return t == column_type::string;
    case want::string_or_dynamic: return t == column_type::string || t == column_type::dynamic;
    case want::integer: return is_integer(t);
    case want::number: return is_number(t);
    case want::datetime: return t == column_type::datetime;
    case want::timespan: return t == column_type::timespan;
  }
  return false;
}

/// Checks the count (lo..hi) and each argument's type (`wants[i]`, the last repeating).
std::optional<std::string> check(std::span<const arg_info> args, size_t lo, size_t hi,
                                 std::initializer_list<want> wants) {
  if (args.size() < lo || args.size() > hi) return count_error(lo, hi, args.size());
  const std::vector<want> w(wants);
  for (size_t i = 0; i < args.size(); ++i) {
    const want expect = w[std::min(i, w.size() - 1)];
    if (!accepts(expect, args[i].type))
      return "argument " + std::to_string(i + 1) + " must be " + std::string(describe(expect)) + ", found " +
             std::string(model::to_string(args[i].type));
  }
  return std::nullopt;
}

std::optional<std::string> constant_text(const arg_info& a) {
  if (!a.constant) return std::nullopt;
  if (const auto* s = std::get_if<std::string>(&*a.constant)) return *s;
  if (std::holds_alternative<std::monostate>(*a.constant)) return std::string();
  return std::nullopt;
}

std::string lower_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  return out;
}

/// A pattern compiled once per bind; shared by the copies std::function makes of the eval.
using regex_ptr = std::shared_ptr<const RE2>;

std::variant<regex_ptr, std::string> compile(std::string_view pattern, size_t arg_index) {
  RE2::Options options;
  options.set_log_errors(false);
  auto re = std::make_shared<const RE2>(re2::StringPiece(pattern.data(), pattern.size()), options);
  if (!re->ok())
    return "argument " + std::to_string(arg_index + 1) + " is not a valid regular expression: '" +
           std::string(pattern) + "': " + re->error();
  return regex_ptr(std::move(re));
}

/// The constant regex of argument `i`, compiled; or the bind error.
std::variant<regex_ptr, std::string> constant_regex(std::span<const arg_info> args, size_t i) {
  auto text = constant_text(args[i]);
  if (!text)
    return "argument " + std::to_string(i + 1) +
           " (the regular expression) must be a constant, e.g. a string literal or a let of one";
  return compile(*text, i);
}

template <class F>
scalar_function fn(std::string_view name, result_naming naming, F bind) {
  return scalar_function{name, naming, bind_fn(std::move(bind))};
}

bound_function bound(column_type t, scalar_eval e) { return bound_function{t, std::move(e)}; }

// ---------------------------------------------------------------------------------------------
// Eval loops.

/// Unary text → text: f(view, out.text) appends the row's result.
template <class F>
scalar_eval text_to_text(F f) {
  return [f](args_t a, size_t rows, eval_context&) {
    column_data out = make(column_type::string, rows);
    const column_data& c = *a[0];
    std::string scratch;
    for (size_t r = 0; r < rows; ++r) {
      f(text_of(c, vec::at(c, r), scratch), out.text);
      end_text(out);
    }
    return out;
  };
}

/// Unary text → long.
template <class F>
scalar_eval text_to_long(F f) {
  return [f](args_t a, size_t rows, eval_context&) {
    column_data out = make(column_type::long_, rows);
    const column_data& c = *a[0];
    std::string scratch;
    for (size_t r = 0; r < rows; ++r) out.append_int(f(text_of(c, vec::at(c, r), scratch)));
    return out;
  };
}

/// Unary datetime → `type`: f(ticks, result&) returns false for null.
template <class F>
scalar_eval ticks_map(column_type type, F f) {
  return [type, f](args_t a, size_t rows, eval_context&) {
    column_data out = make(type, rows);
    const column_data& c = *a[0];
    for (size_t r = 0; r < rows; ++r) {
      const size_t i = vec::at(c, r);
      int64_t v = 0;
      if (c.is_null(i) || !f(c.ints[i], v))
        out.append_null();
      else
        out.append_int(v);
    }
    return out;
  };
}

/// Binary (datetime, long offset) → datetime: f(ticks, offset, result&); a missing offset is 0.
template <class F>
scalar_eval ticks_offset_map(F f) {
  return [f](args_t a, size_t rows, eval_context&) {
    column_data out = make(column_type::datetime, rows);
    const column_data& c = *a[0];
    const column_data* off = a.size() > 1 ? a[1] : nullptr;
    for (size_t r = 0; r < rows; ++r) {
      const size_t i = vec::at(c, r);
      int64_t offset = 0;
      if (off) {
        const size_t j = vec::at(*off, r);
        if (off->is_null(j)) {
          out.append_null();
          continue;
        }
        offset = off->ints[j];
      }
      int64_t v = 0;
      if (c.is_null(i) || !f(c.ints[i], offset, v))
        out.append_null();
      else
        out.append_int(v);
    }
    return out;
  };
}

// ---------------------------------------------------------------------------------------------
// Calendar.

int64_t floor_div(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

struct civil {
  int y;
  unsigned m, d;
  int64_t day_number;  ///< days since 1970-01-01
  int64_t time;        ///< ticks into the day
};

civil civil_of(int64_t ticks) {
  const int64_t dn = floor_div(ticks, tick_day);
  const std::chrono::year_month_day ymd{std::chrono::sys_days{std::chrono::days{dn}}};
  return civil{static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
               dn, ticks - dn * tick_day};
}

int64_t days_from(int y, unsigned m, unsigned d) {
  return std::chrono::sys_days{std::chrono::year{y} / std::chrono::month{m} / std::chrono::day{d}}
      .time_since_epoch()
      .count();
}

unsigned days_in_month(int y, unsigned m) {
  return static_cast<unsigned>(
      (std::chrono::year{y} / std::chrono::month{m} / std::chrono::last).day());
}

/// 0 = Sunday .. 6 = Saturday (1970-01-01 was a Thursday).
int64_t weekday_of(int64_t day_number) { return ((day_number + 4) % 7 + 7) % 7; }

int64_t day_of_year(const civil& c) { return c.day_number - days_from(c.y, 1, 1) + 1; }

/// ISO 8601 week number: the week (Monday first) holding the year's first Thursday is week 1.
int64_t iso_week(const civil& c) {
  const int64_t iso_wd = (weekday_of(c.day_number) + 6) % 7;  // Monday 0
  const int64_t thursday = c.day_number - iso_wd + 3;
  const civil t = civil_of(thursday * tick_day);
  return (day_of_year(t) - 1) / 7 + 1;
}

/// The first tick of month index `mi` (year * 12 + month - 1), if within range.
std::optional<int64_t> month_start(int64_t mi) {
  if (mi < 12 || mi > 9999 * 12 + 11) return std::nullopt;
  return days_from(static_cast<int>(mi / 12), static_cast<unsigned>(mi % 12 + 1), 1) * tick_day;
}

/// .NET's AddMonths: the day clamped to the target month's length, the time kept.
bool add_months(int64_t ticks, int64_t months, int64_t& out) {
  if (months > 120'000 || months < -120'000) return false;
  const civil c = civil_of(ticks);
  const int64_t mi = int64_t{c.y} * 12 + (c.m - 1) + months;
  if (mi < 12 || mi > 9999 * 12 + 11) return false;
  const int y = static_cast<int>(mi / 12);
  const auto m = static_cast<unsigned>(mi % 12 + 1);
  out = days_from(y, m, std::min(c.d, days_in_month(y, m))) * tick_day + c.time;
  return in_range(out);
}

bool add_ticks(int64_t ticks, int64_t amount, int64_t unit, int64_t& out) {
  int64_t delta = 0;
  if (__builtin_mul_overflow(amount, unit, &delta) || __builtin_add_overflow(ticks, delta, &out)) return false;
  return in_range(out);
}

enum class part : uint8_t {
  year, quarter, month, week, week_of_year, day, dayofyear, hour, minute, second, millisecond, microsecond,
  nanosecond
};

std::optional<part> parse_part(std::string_view text, bool for_datetime_part) {
  static constexpr std::pair<std::string_view, part> names[] = {
      {"year", part::year},           {"quarter", part::quarter},       {"month", part::month},
      {"week", part::week},           {"week_of_year", part::week_of_year}, {"day", part::day},
      {"dayofyear", part::dayofyear}, {"hour", part::hour},             {"minute", part::minute},
      {"second", part::second},       {"millisecond", part::millisecond}, {"microsecond", part::microsecond},
      {"nanosecond", part::nanosecond}};
  const std::string l = lower_ascii(text);
  for (auto [n, p] : names) {
    if (n != l) continue;
    // datetime_part knows week_of_year and dayofyear; datetime_add and datetime_diff know week.
    if (for_datetime_part ? p == part::week : (p == part::week_of_year || p == part::dayofyear)) return std::nullopt;
    return p;
  }
  return std::nullopt;
}

constexpr std::string_view add_diff_parts =
    "year, quarter, month, week, day, hour, minute, second, millisecond, microsecond or nanosecond";
constexpr std::string_view datetime_part_parts =
    "year, quarter, month, week_of_year, day, dayofyear, hour, minute, second, millisecond, microsecond or "
    "nanosecond";

std::variant<part, std::string> constant_part(std::span<const arg_info> args, bool for_datetime_part) {
  const auto parts = for_datetime_part ? datetime_part_parts : add_diff_parts;
  const auto text = constant_text(args[0]);
  if (!text) return "argument 1 (the part) must be a string literal, one of: " + std::string(parts);
  if (auto p = parse_part(*text, for_datetime_part)) return *p;
  return "argument 1: unknown part '" + *text + "'; use one of: " + std::string(parts);
}

// ---------------------------------------------------------------------------------------------
// format_datetime / format_timespan: the format is parsed once into tokens.

struct format_token {
  char spec = 0;  ///< 0 for a literal
  int count = 0;
  std::string literal;
};

std::variant<std::vector<format_token>, std::string> parse_format(std::string_view f, bool timespan) {
  std::vector<format_token> out;
  // Letters and their longest run: the .NET custom specifiers Kusto documents.
  auto max_run = [timespan](char c) -> int {
    switch (c) {
      case 'd': return timespan ? 8 : 2;
      case 'f':
      case 'F': return 7;
      case 'h':
      case 'H':
      case 'm':
      case 's': return 2;
      case 'y': return timespan ? 0 : 4;
      case 'M': return timespan ? 0 : 2;
      case 't': return timespan ? 0 : 2;
      default: return 0;
    }
  };
  for (size_t i = 0; i < f.size();) {
    const char c = f[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (!letter) {
      if (out.empty() || out.back().spec != 0) out.push_back({});
      out.back().literal += c;
      ++i;
      continue;
    }
    size_t j = i;
    while (j < f.size() && f[j] == c) ++j;
    const int run = static_cast<int>(j - i);
    if (run > max_run(c))
      return "unsupported specifier '" + std::string(f.substr(i, j - i)) + "' in format '" + std::string(f) +
             (timespan ? "'; use d..dddddddd, h, hh, H, HH, m, mm, s, ss, f..fffffff, F..FFFFFFF and separators"
                       : "'; use yyyy, yy, y, MM, M, dd, d, HH, H, hh, h, mm, m, ss, s, f..fffffff, F..FFFFFFF, tt "
                         "and separators");
    out.push_back({c, run, {}});
    i = j;
  }
  return out;
}

void append_padded(std::string& out, int64_t v, int width) {
  const std::string s = std::to_string(v);
  if (static_cast<int>(s.size()) < width) out.append(static_cast<size_t>(width) - s.size(), '0');
  out += s;
}

/// f/F: the first `count` digits of the 7-digit fraction; F drops trailing zeros, and with them
/// a separator right before when nothing is left (.NET).
void append_fraction(std::string& out, int64_t frac, char spec, int count) {
  char digits[8];
  int64_t f = frac;
  for (int i = 6; i >= 0; --i, f /= 10) digits[i] = static_cast<char>('0' + f % 10);
  int n = count;
  if (spec == 'F') {
    while (n > 0 && digits[n - 1] == '0') --n;
    if (n == 0) {
      if (!out.empty() && out.back() == '.') out.pop_back();
      return;
    }
  }
  out.append(digits, static_cast<size_t>(n));
}

void format_datetime_into(int64_t ticks, const std::vector<format_token>& tokens, std::string& out) {
  const civil c = civil_of(ticks);
  const int64_t hour = c.time / tick_h, minute = c.time / tick_min % 60, second = c.time / tick_s % 60;
  const int64_t frac = c.time % tick_s;
  for (const auto& t : tokens) {
    switch (t.spec) {
      case 0: out += t.literal; break;
      case 'y':
        if (t.count <= 2)
          append_padded(out, c.y % 100, t.count);
        else
          append_padded(out, c.y, t.count);
        break;
      case 'M': append_padded(out, c.m, t.count); break;
      case 'd': append_padded(out, c.d, t.count); break;
      case 'H': append_padded(out, hour, t.count); break;
      case 'h': append_padded(out, hour % 12 == 0 ? 12 : hour % 12, t.count); break;
      case 'm': append_padded(out, minute, t.count); break;
      case 's': append_padded(out, second, t.count); break;
      case 'f':
      case 'F': append_fraction(out, frac, t.spec, t.count); break;
      case 't': out += t.count == 1 ? (hour < 12 ? "A" : "P") : (hour < 12 ? "AM" : "PM"); break;
    }
  }
}

void format_timespan_into(int64_t ticks, const std::vector<format_token>& tokens, std::string& out) {
  uint64_t t = static_cast<uint64_t>(ticks);
  if (ticks < 0) {
    out += '-';
    t = 0 - t;
  }
  const auto days = static_cast<int64_t>(t / tick_day);
  const auto rem = static_cast<int64_t>(t % tick_day);
  for (const auto& k : tokens) {
    switch (k.spec) {
      case 0: out += k.literal; break;
      case 'd': append_padded(out, days, k.count); break;
      case 'h':
      case 'H': append_padded(out, rem / tick_h, k.count); break;
      case 'm': append_padded(out, rem / tick_min % 60, k.count); break;
      case 's': append_padded(out, rem / tick_s % 60, k.count); break;
      case 'f':
      case 'F': append_fraction(out, rem % tick_s, k.spec, k.count); break;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The string functions.

std::vector<scalar_function> string_functions() {
  std::vector<scalar_function> f;

  f.push_back(fn("strlen", result_naming::function_and_argument, [](std::span<const arg_info> a) -> bind_result {
    if (auto e = check(a, 1, 1, {want::string_or_dynamic})) return *e;
    return bound(column_type::long_, text_to_long([](std::string_view s) { return code_points(s); }));
  }));
  // string_size counts UTF-8 bytes (Kusto: "the size, in bytes").
  f.push_back(fn("string_size", result_naming::function_and_argument, [](std::span<const arg_info> a) -> bind_result {
    if (auto e = check(a, 1, 1, {want::string})) return *e;
    return bound(column_type::long_, text_to_long([](std::string_view s) { return static_cast<int64_t>(s.size()); }));
  }));
  f.push_back(fn("tolower", result_naming::column_n, [](std::span<const arg_info> a) -> bind_result {
    if (auto e = check(a, 1, 1, {want::any})) return *e;
    return bound(column_type::string, text_to_text([](std::string_view s, std::string& out) { append_case<false>(s, out); }));
  }));
  f.push_back(fn("toupper", result_naming::column_n, [](std::span<const arg_info> a) -> bind_result {
    if (auto e = check(a, 1, 1, {want::any})) return *e;
    return bound(column_type::string, text_to_text([](std::string_view s, std::string& out) { append_case<true>(s, out); }));
  }));
  f.push_back(fn("reverse", result_naming::column_n, [](std::span<const arg_info> a) -> bind_result {
    if (auto e = check(a, 1, 1, {want::any})) return *e;
    return bound(column_type::string, text_to_text([](std::string_view s, std::string& out) {
      // Code point by code point from the end, so multi-byte characters stay whole.
      size_t end = s.size();
      while (end > 0) {
        size_t begin = end - 1;
        while (begin > 0 && is_continuation(static_cast<unsigned char>(s[begin]))) --begin;
        out.append(s.substr(begin, end - begin));
        end = begin;
      }
    }));
  }));

  f.push_back(fn("substring", result_naming::column_n, [](std::span<const arg_info> a) -> bind_result {
    if (auto e = check(a, 2, 3, {want::any, want::integer})) return *e;
    return bound(column_type::string, [](args_t x, size_t rows, eval_context&) {
      column_data out = make(column_type::string, rows);
      const column_data& src = *x[0];
      const column_data& start = *x[1];
      const column_data* len = x.size() > 2 ? x[2] : nullptr;
      std::string scratch;
      for (size_t r = 0; r < rows; ++r) {
        const size_t si = vec::at(start, r);
        const size_t li = len ? vec::at(*len, r) : 0;
        if (start.is_null(si) || (len && len->is_null(li))) {
          end_text(out);
          continue;
        }
        const std::string_view s = text_of(src, vec::at(src, r), scratch);
        const int64_t n = code_points(s);
        int64_t b = start.ints[si];
        if (b < 0) b = std::max<int64_t>(0, n + b);
        if (b >= n) {
          end_text(out);
          continue;
        }
        int64_t count = len ? len->ints[li] : n - b;
        if (count < 0) count = 0;
        count = std::min(count, n - b);
        const size_t from = byte_of(s, b);
        const size_t to = from + byte_of(s.substr(from), count);
        out.text.append(s.substr(from, to - from));
        end_text(out);
      }
      return out;
    });
  }));

  auto strcat_eval = [](bool delimited) -> scalar_eval {
    return [delimited](args_t x, size_t rows, eval_context&) {
      column_data out = make(column_type::string, rows);
      const size_t first = delimited ? 1 : 0;
      for (size_t r = 0; r < rows; ++r) {
        for (size_t k = first; k < x.size(); ++k) {
          if (delimited && k > first) append_as_text(*x[0], vec::at(*x[0], r), out.text);
          append_as_text(*x[k], vec::at(*x[k], r), out.text);
        }
        end_text(out);
      }
      return out;
    };
  };
  f.push_back(fn("strcat", result_naming::column_n, [strcat_eval](std::span<const arg_info> a) -> bind_result {
    if (auto e = check(a, 1, 64, {want::any})) return *e;
    return bound(column_type::string, strcat_eval(false));
  }));
  f.push_back(fn("strcat_delim", result_naming::column_n, [strcat_eval](std::span<const arg_info> a) -> bind_result {
    if (auto e = check(a, 3, 65, {want::any})) return *e;
    return bound(column_type::string, strcat_eval(true));
  }));

  f.push_back(fn("strcmp", result_naming::column_n, [](std::span<const arg_info> a) -> bind_result {
    if (auto e = check(a, 2, 2, {want::string})) return *e;
    return bound(column_type::long_, [](args_t x, size_t rows, eval_context&) {
      column_data out = make(column_type::long_, rows);
      for (size_t r = 0; r < rows; ++r) {
        const int c = x[0]->text_at(vec::at(*x[0], r)).compare(x[1]->text_at(vec::at(*x[1], r)));
        out.append_int(c < 0 ? -1 : c > 0 ? 1 : 0);
      }
      return out;
    });
  }));

  // split(source, delimiter[, index]) → a dynamic array of the parts (String.Split: an empty
  // delimiter leaves the source whole); with an index, the part at it alone, or [] if none.
  f.push_back(fn("split", result_naming::first_argument, [](std::span<const arg_info> a) -> bind_result {
    if (auto e = check(a, 2, 3, {want::any, want::string, want::integer})) return *e;
    return bound(column_type::dynamic, [](args_t x, size_t rows, eval_context&) {
      column_data out = make(column_type::dynamic, rows);
      const column_data* index = x.size() > 2 ? x[2] : nullptr;
      std::string scratch;
      for (size_t r = 0; r < rows; ++r) {
        const std::string_view s = text_of(*x[0], vec::at(*x[0], r), scratch);
        const std::string_view d = x[1]->text_at(vec::at(*x[1], r));
        int64_t want_index = -1;
        if (index) {
          const size_t i = vec::at(*index, r);
          if (index->is_null(i)) {
            out.append_null();
            continue;
          }
          want_index = index->ints[i];
          if (want_index < 0) {
            out.text += "[]";
            end_text(out);
            continue;
          }
        }
        out.text += '[';
        int64_t part_no = 0;
        bool wrote = false;
        size_t pos = 0;
        while (true) {
          const size_t next = d.empty() ? std::string_view::npos : s.find(d, pos);
          const std::string_view piece = s.substr(pos, next == std::string_view::npos ? s.npos : next - pos);
          if (!index || part_no == want_index) {
            if (wrote) out.text += ',';
            detail::append_json_quoted(piece, out.text);
            wrote = true;
          }
          ++part_no;
          if (next == std::string_view::npos || (index && part_no > want_index)) break;
          pos = next + d.size();
        }
        out.text += ']';
        end_text(out);
      }
      return out;
    });
  }));

  f.push_back(fn("replace_string", result_naming::column_n, [](std::span<const arg_info> a) -> bind_result {
    if (auto e = check(a, 3, 3, {want::string})) return *e;
    return bound(column_type::string, [](args_t x, size_t rows, eval_context&) {
      column_data out = make(column_type::string, rows);
      for (size_t r = 0; r < rows; ++r) {
        const std::string_view s = x[0]->text_at(vec::at(*x[0], r));
        const std::string_view look = x[1]->text_at(vec::at(*x[1], r));
        const std::string_view with = x[2]->text_at(vec::at(*x[2], r));
        if (look.empty()) {
          out.text.append(s);
        } else {
          size_t pos = 0;
          for (size_t hit; (hit = s.find(look, pos)) != std::string_view::npos; pos = hit + look.size()) {
            out.text.append(s.substr(pos, hit - pos));
            out.text.append(with);
          }
          out.text.append(s.substr(pos));
        }
        end_text(out);
      }
      return out;
    });
  }));

  // replace_regex(source, regex, rewrite); replace(regex, rewrite, source) is its deprecated
  // form with the arguments in another order. \0 is the match, \1.. the groups (RE2's syntax).
  auto bind_replace_regex = [](std::span<const arg_info> a, size_t src, size_t pat, size_t rw) -> bind_result {
    if (auto e = check(a, 3, 3, {want::string})) return *e;
    auto re = constant_regex(a, pat);
    if (auto* err = std::get_if<std::string>(&re)) return *err;
    regex_ptr regex = std::get<regex_ptr>(re);
    if (auto rewrite = constant_text(a[rw])) {
      std::string why;
      if (!regex->CheckRewriteString(*rewrite, &why))
        return "argument " + std::to_string(rw + 1) + " is not a valid rewrite for '" + regex->pattern() +
               "': " + why + " (use \\0 for the match, \\1..\\9 for its groups, \\\\ for a backslash)";
    }
    return bound(column_type::string, [regex, src, rw](args_t x, size_t rows, eval_context&) {
      column_data out = make(column_type::string, rows);
      std::string s;
      for (size_t r = 0; r < rows; ++r) {
        s.assign(x[src]->text_at(vec::at(*x[src], r)));
        const std::string_view with = x[rw]->text_at(vec::at(*x[rw], r));
        RE2::GlobalReplace(&s, *regex, re2::StringPiece(with.data(), with.size()));
        out.text += s;
        end_text(out);
      }
      return out;
    });
  };
  f.push_back(fn("replace_regex", result_naming::column_n,
                 [bind_replace_regex](std::span<const arg_info> a) { return bind_replace_regex(a, 0, 1, 2); }));
  f.push_back(fn("replace", result_naming::column_n,
                 [bind_replace_regex](std::span<const arg_info> a) { return bind_replace_regex(a, 2, 0, 1); }));

  // trim(regex, source): removes every leading and trailing match, as ^(?:regex)+ and (?:regex)+$.
  auto bind_trim = [](bool start, bool end) {
    return [start, end](std::span<const arg_info> a) -> bind_result {
      if (auto e = check(a, 2, 2, {want::string})) return *e;
      auto text = constant_text(a[0]);
      if (!text) return std::string("argument 1 (the regular expression) must be a constant");
      auto plain = compile(*text, 0);
      if (auto* err = std::get_if<std::string>(&plain)) return *err;
      regex_ptr head, tail;
      if (start) head = std::get<regex_ptr>(compile("^(?:" + *text + ")+", 0));
      if (end) tail = std::get<regex_ptr>(compile("(?:" + *text + ")+$", 0));
      return bound(column_type::string, [head, tail](args_t x, size_t rows, eval_context&) {
        column_data out = make(column_type::string, rows);
        for (size_t r = 0; r < rows; ++r) {
          std::string_view s = x[1]->text_at(vec::at(*x[1], r));
          re2::StringPiece m;
          if (head && head->Match(re2::StringPiece(s.data(), s.size()), 0, s.size(), RE2::ANCHOR_START, &m, 1))
            s.remove_prefix(m.size());
          if (tail && !s.empty() &&
              tail->Match(re2::StringPiece(s.data(), s.size()), 0, s.size(), RE2::UNANCHORED, &m, 1))
            s = s.substr(0, static_cast<size_t>(m.data() - s.data()));
          out.text.append(s);
          end_text(out);
        }
        return out;
      });
    };
  };
  f.push_back(fn("trim", result_naming::column_n, bind_trim(true, true)));
  f.push_back(fn("trim_start", result_naming::column_n, bind_trim(true, false)));
  f.push_back(fn("trim_end", result_naming::column_n, bind_trim(false, true)));

  // extract(regex, group, source): the group of the first match, "" when there is none.
  f.push_back(fn("extract", result_naming::column_n, [](std::span<const arg_info> a) -> bind_result {
    if (a.size() == 4)
      return std::string(
          "the typeof(T) argument is not supported yet; convert the string instead, e.g. "
          "tolong(extract(regex, group, source))");
    if (auto e = check(a, 3, 3, {want::string, want::integer, want::string})) return *e;
    auto re = constant_regex(a, 0);
    if (auto* err = std::get_if<std::string>(&re)) return *err;
    regex_ptr regex = std::get<regex_ptr>(re);
    return bound(column_type::string, [regex](args_t x, size_t rows, eval_context&) {
      column_data out = make(column_type::string, rows);
      const int groups = regex->NumberOfCapturingGroups();
      std::vector<re2::StringPiece> m(static_cast<size_t>(groups) + 1);
      for (size_t r = 0; r < rows; ++r) {
        const size_t gi = vec::at(*x[1], r);
        const std::string_view s = x[2]->text_at(vec::at(*x[2], r));
        const int64_t g = x[1]->is_null(gi) ? -1 : x[1]->ints[gi];
        if (g >= 0 && g <= groups &&
            regex->Match(re2::StringPiece(s.data(), s.size()), 0, s.size(), RE2::UNANCHORED, m.data(),
                         static_cast<int>(g) + 1))
          out.text.append(m[static_cast<size_t>(g)].data(), m[static_cast<size_t>(g)].size());
        end_text(out);
      }
      return out;
    });
  }));

  // extract_all(regex, [groups,] source): every match's groups as a dynamic array; one group
  // gives ["a","b"], several [["a","1"],["b","2"]]; no match gives null.
  f.push_back(fn("extract_all", result_naming::column_n, [](std::span<const arg_info> a) -> bind_result {
    if (auto e = check(a, 2, 3, {want::string, a.size() == 3 ? want::any : want::string, want::string})) return *e;
    if (a.size() == 3 && a[1].type != column_type::dynamic)
      return "argument 2 (the capture groups) must be a dynamic array of group numbers, found " +
             std::string(model::to_string(a[1].type));
    auto re = constant_regex(a, 0);
    if (auto* err = std::get_if<std::string>(&re)) return *err;
    regex_ptr regex = std::get<regex_ptr>(re);
    const int groups = regex->NumberOfCapturingGroups();
    if (groups < 1 || groups > 16)
      return "argument 1: the regular expression '" + regex->pattern() + "' must have between 1 and 16 capture groups";
    std::vector<int> selected;
    if (a.size() == 3) {
      auto text = constant_text(a[1]);
      auto j = text ? parse_json_text(*text) : json();
      if (!j.is_array() || j.empty())
        return std::string("argument 2 (the capture groups) must be a constant dynamic array, e.g. dynamic([1, 3])");
      for (const auto& g : j) {
        if (!g.is_number_integer() || g.get<int64_t>() < 1 || g.get<int64_t>() > groups)
          return "argument 2: capture group " + g.dump() + " is not a group of '" + regex->pattern() + "' (1.." +
                 std::to_string(groups) + ")";
        selected.push_back(g.get<int>());
      }
    } else {
      for (int g = 1; g <= groups; ++g) selected.push_back(g);
    }
    const size_t src = a.size() - 1;
    return bound(column_type::dynamic, [regex, selected, src, groups](args_t x, size_t rows, eval_context&) {
      column_data out = make(column_type::dynamic, rows);
      std::vector<re2::StringPiece> m(static_cast<size_t>(groups) + 1);
      for (size_t r = 0; r < rows; ++r) {
        const std::string_view s = x[src]->text_at(vec::at(*x[src], r));
        const re2::StringPiece text(s.data(), s.size());
        size_t pos = 0;
        bool any = false;
        while (pos <= s.size() &&
               regex->Match(text, pos, s.size(), RE2::UNANCHORED, m.data(), groups + 1)) {
          out.text += any ? ',' : '[';
          any = true;
          if (selected.size() > 1) out.text += '[';
          for (size_t k = 0; k < selected.size(); ++k) {
            if (k) out.text += ',';
            const auto& g = m[static_cast<size_t>(selected[k])];
            detail::append_json_quoted(std::string_view(g.data() ? g.data() : "", g.size()), out.text);
          }
          if (selected.size() > 1) out.text += ']';
          const size_t end = static_cast<size_t>(m[0].data() - s.data()) + m[0].size();
          pos = m[0].empty() ? end + 1 : end;
        }
        if (any) {
          out.text += ']';
          end_text(out);
        } else {
          out.append_null();
        }
      }
      return out;
    });
  }));

  // indexof(source, lookup[, start[, length[, occurrence]]]): the code point index of the
  // occurrence-th match at or after start within length code points (-1 unlimited); -1 when
  // not found; null for a length below -1 or an occurrence below 1. A negative start counts
  // from the end.
  f.push_back(fn("indexof", result_naming::column_n, [](std::span<const arg_info> a) -> bind_result {
    if (auto e = check(a, 2, 5, {want::any, want::any, want::integer})) return *e;
    return bound(column_type::long_, [](args_t x, size_t rows, eval_context&) {
      column_data out = make(column_type::long_, rows);
      std::string s1, s2;
      for (size_t r = 0; r < rows; ++r) {
        int64_t opt[3] = {0, -1, 1};
        bool null = false;
        for (size_t k = 2; k < x.size(); ++k) {
          const size_t i = vec::at(*x[k], r);
          if (x[k]->is_null(i))
            null = true;
          else
            opt[k - 2] = x[k]->ints[i];
        }
        if (null || opt[1] < -1 || opt[2] < 1) {
          out.append_null();
          continue;
        }
        const std::string_view s = text_of(*x[0], vec::at(*x[0], r), s1);
        const std::string_view look = text_of(*x[1], vec::at(*x[1], r), s2);
        const int64_t n = code_points(s);
        int64_t start = opt[0];
        if (start < 0) start = std::max<int64_t>(0, n + start);
        if (start > n) {
          out.append_int(-1);
          continue;
        }
        // Each further occurrence is looked for in `length` code points from just after the
        // previous one (the docs' indexof("abcdefgabcdefg", "cde", 1, 10, 2) is 9).
        size_t from = byte_of(s, start), hit = std::string_view::npos;
        for (int64_t k = 0; k < opt[2]; ++k) {
          if (from > s.size()) {  // an empty lookup found at the very end
            hit = std::string_view::npos;
            break;
          }
          const size_t to = opt[1] == -1 ? s.size() : from + byte_of(s.substr(from), opt[1]);
          const size_t at = s.substr(from, to - from).find(look);
          if (at == std::string_view::npos) {
            hit = at;
            break;
          }
          hit = from + at;
          from = hit + 1;
          while (from < s.size() && is_continuation(static_cast<unsigned char>(s[from]))) ++from;
        }
        out.append_int(hit == std::string_view::npos ? -1 : code_points(s.substr(0, hit)));
      }
      return out;
    });
  }));

  // strrep(value, multiplier[, delimiter]): Kusto caps the multiplier at 1024.
  f.push_back(fn("strrep", result_naming::column_n, [](std::span<const arg_info> a) -> bind_result {
    if (auto e = check(a, 2, 3, {want::any, want::integer, want::any})) return *e;
    return bound(column_type::string, [](args_t x, size_t rows, eval_context&) {
      column_data out = make(column_type::string, rows);
      std::string s1, s2;
      for (size_t r = 0; r < rows; ++r) {
        const size_t ni = vec::at(*x[1], r);
        const int64_t times = x[1]->is_null(ni) ? 0 : std::min<int64_t>(x[1]->ints[ni], 1024);
        const std::string_view s = text_of(*x[0], vec::at(*x[0], r), s1);
        const std::string_view d = x.size() > 2 ? text_of(*x[2], vec::at(*x[2], r), s2) : std::string_view();
        for (int64_t k = 0; k < times; ++k) {
          if (k) out.text.append(d);
          out.text.append(s);
        }
        end_text(out);
      }
      return out;
    });
  }));

  // countof(text, search[, kind]): "normal" counts overlapping occurrences ("aaaa", "aa" → 3),
  // "regex" non-overlapping matches.
  f.push_back(fn("countof", result_naming::column_n, [](std::span<const arg_info> a) -> bind_result {
    if (auto e = check(a, 2, 3, {want::string})) return *e;
    bool regex_kind = false;
    if (a.size() == 3) {
      const auto kind = constant_text(a[2]);
      if (!kind || (lower_ascii(*kind) != "normal" && lower_ascii(*kind) != "regex"))
        return std::string("argument 3 (the kind) must be the literal \"normal\" or \"regex\"");
      regex_kind = lower_ascii(*kind) == "regex";
    }
    if (!regex_kind) {
      return bound(column_type::long_, [](args_t x, size_t rows, eval_context&) {
        column_data out = make(column_type::long_, rows);
        for (size_t r = 0; r < rows; ++r) {
          const std::string_view s = x[0]->text_at(vec::at(*x[0], r));
          const std::string_view look = x[1]->text_at(vec::at(*x[1], r));
          int64_t n = 0;
          if (!look.empty())
            for (size_t p = s.find(look); p != std::string_view::npos; p = s.find(look, p + 1)) ++n;
          out.append_int(n);
        }
        return out;
      });
    }
    regex_ptr fixed;
    if (a[1].constant) {
      auto re = constant_regex(a, 1);
      if (auto* err = std::get_if<std::string>(&re)) return *err;
      fixed = std::get<regex_ptr>(re);
    }
    return bound(column_type::long_, [fixed](args_t x, size_t rows, eval_context& ctx) {
      column_data out = make(column_type::long_, rows);
      regex_ptr current = fixed;
      std::string current_pattern;
      for (size_t r = 0; r < rows; ++r) {
        const std::string_view s = x[0]->text_at(vec::at(*x[0], r));
        if (!fixed) {
          // A pattern that varies by row: compiled when it changes.
          const std::string_view p = x[1]->text_at(vec::at(*x[1], r));
          if (!current || p != current_pattern) {
            auto re = compile(p, 1);
            if (auto* err = std::get_if<std::string>(&re)) {
              ctx.error = "countof(): " + *err;
              return out;
            }
            current = std::get<regex_ptr>(re);
            current_pattern = p;
          }
        }
        const re2::StringPiece text(s.data(), s.size());
        re2::StringPiece m;
        int64_t n = 0;
        size_t pos = 0;
        while (pos <= s.size() && current->Match(text, pos, s.size(), RE2::UNANCHORED, &m, 1)) {
          ++n;
          const size_t end = static_cast<size_t>(m.data() - s.data()) + m.size();
          pos = m.empty() ? end + 1 : end;
        }
        out.append_int(n);
      }
      return out;
    });
  }));

  // url_encode follows .NET's HttpUtility.UrlEncode (Kusto's documented output is lower-case
  // hex, space as '+'); url_encode_component writes a space as %20.
  auto url_encoder = [](bool component) {
    return [component](std::string_view s, std::string& out) {
      static constexpr char hex[] = "0123456789abcdef";
      for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
            c == '.' || c == '!' || c == '*' || c == '(' || c == ')') {
          out += ch;
        } else if (c == ' ' && !component) {
          out += '+';
        } else {
          out += '%';
          out += hex[c >> 4];
          out += hex[c & 15];
        }
      }
    };
  };
  f.push_back(fn("url_encode", result_naming::column_n, [url_encoder](std::span<const arg_info> a) -> bind_result {
    if (auto e = check(a, 1, 1, {want::string})) return *e;
    return bound(column_type::string, text_to_text(url_encoder(false)));
  }));
  f.push_back(fn("url_encode_component", result_naming::column_n, [url_encoder](std::span<const arg_info> a) -> bind_result {
    if (auto e = check(a, 1, 1, {want::string})) return *e;
    return bound(column_type::string, text_to_text(url_encoder(true)));
  }));
  f.push_back(fn("url_decode", result_naming::column_n, [](std::span<const arg_info> a) -> bind_result {
    if (auto e = check(a, 1, 1, {want::string})) return *e;
    return bound(column_type::string, text_to_text([](std::string_view s, std::string& out) {
      auto hexval = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
      };
      const size_t start = out.size();
      for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+') {
          out += ' ';
        } else if (s[i] == '%' && i + 2 < s.size() && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
          out += static_cast<char>(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
          i += 2;
        } else {
          out += s[i];
        }
      }
      // Decoded bytes that are not UTF-8 cannot be a Kusto string: "" (Kusto shows an empty cell).
      if (!valid_utf8(std::string_view(out).substr(start))) out.resize(start);
    }));
  }));

  f.push_back(fn("base64_encode_tostring", result_naming::column_n, [](std::span<const arg_info> a) -> bind_result {
    if (auto e = check(a, 1, 1, {want::string})) return *e;
    return bound(column_type::string, text_to_text([](std::string_view s, std::string& out) {
      static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
      size_t i = 0;
      for (; i + 3 <= s.size(); i += 3) {
        const uint32_t v = static_cast<uint32_t>(static_cast<unsigned char>(s[i])) << 16 |
                           static_cast<uint32_t>(static_cast<unsigned char>(s[i + 1])) << 8 |
                           static_cast<unsigned char>(s[i + 2]);
        for (int k = 18; k >= 0; k -= 6) out += alphabet[v >> k & 63];
      }
      if (const size_t rest = s.size() - i) {
        uint32_t v = static_cast<uint32_t>(static_cast<unsigned char>(s[i])) << 16;
        if (rest == 2) v |= static_cast<uint32_t>(static_cast<unsigned char>(s[i + 1])) << 8;
        out += alphabet[v >> 18 & 63];
        out += alphabet[v >> 12 & 63];
        out += rest == 2 ? alphabet[v >> 6 & 63] : '=';
        out += '=';
      }
    }));
  }));
  f.push_back(fn("base64_decode_tostring", result_naming::column_n, [](std::span<const arg_info> a) -> bind_result {
    if (auto e = check(a, 1, 1, {want::string})) return *e;
    return bound(column_type::string, text_to_text([](std::string_view s, std::string& out) {
      auto val = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '+') return 62;
        if (c == '/') return 63;
        return -1;
      };
      const size_t start = out.size();
      while (!s.empty() && s.back() == '=') s.remove_suffix(1);
      uint32_t acc = 0;
      int bits = 0;
      for (char c : s) {
        const int v = val(c);
        if (v < 0) {
          out.resize(start);
          return;
        }
        acc = acc << 6 | static_cast<uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
          bits -= 8;
          out += static_cast<char>(acc >> bits & 0xFF);
        }
      }
      if (bits >= 6 || !valid_utf8(std::string_view(out).substr(start))) out.resize(start);
    }));
  }));

  // tohex(value[, min_length]): two's complement of the value's own width (int 32, long 64 bits).
  f.push_back(fn("tohex", result_naming::first_argument, [](std::span<const arg_info> a) -> bind_result {
    if (auto e = check(a, 1, 2, {want::integer})) return *e;
    const bool narrow = a[0].type == column_type::int_;
    return bound(column_type::string, [narrow](args_t x, size_t rows, eval_context&) {
      column_data out = make(column_type::string, rows);
      for (size_t r = 0; r < rows; ++r) {
        const size_t i = vec::at(*x[0], r);
        if (!x[0]->is_null(i)) {
          const auto v = narrow ? uint64_t{static_cast<uint32_t>(x[0]->ints[i])} : static_cast<uint64_t>(x[0]->ints[i]);
          char buf[24];
          auto res = std::to_chars(buf, buf + sizeof buf, v, 16);
          int64_t width = 0;
          if (x.size() > 1) {
            const size_t w = vec::at(*x[1], r);
            if (!x[1]->is_null(w)) width = std::min<int64_t>(x[1]->ints[w], 64);
          }
          const auto len = static_cast<int64_t>(res.ptr - buf);
          if (width > len) out.text.append(static_cast<size_t>(width - len), '0');
          out.text.append(buf, res.ptr);
        }
        end_text(out);
      }
      return out;
    });
  }));
  return f;
}

// ---------------------------------------------------------------------------------------------
// The datetime and timespan functions.

/// startof*/endof*: the period's first tick of `ticks` moved by `offset` periods.
using period_start = bool (*)(int64_t ticks, int64_t offset, int64_t& out);

bool start_of_day(int64_t t, int64_t off, int64_t& out) {
  return add_ticks(floor_div(t, tick_day) * tick_day, off, tick_day, out);
}
bool start_of_week(int64_t t, int64_t off, int64_t& out) {
  const int64_t day = floor_div(t, tick_day);
  return add_ticks((day - weekday_of(day)) * tick_day, off, 7 * tick_day, out);
}
bool start_of_month(int64_t t, int64_t off, int64_t& out) {
  if (off > 120'000 || off < -120'000) return false;
  const civil c = civil_of(t);
  auto s = month_start(int64_t{c.y} * 12 + (c.m - 1) + off);
  if (!s) return false;
  out = *s;
  return true;
}
bool start_of_year(int64_t t, int64_t off, int64_t& out) {
  if (off > 10'000 || off < -10'000) return false;
  const civil c = civil_of(t);
  auto s = month_start((int64_t{c.y} + off) * 12);
  if (!s) return false;
  out = *s;
  return true;
}

std::vector<scalar_function> time_functions() {
  std::vector<scalar_function> f;

  // now([offset]) and ago(span): one instant per query (eval_context::now_ticks).
  f.push_back(fn("now", result_naming::column_n, [](std::span<const arg_info> a) -> bind_result {
    if (auto e = check(a, 0, 1, {want::timespan})) return *e;
    return bound(column_type::datetime, [](args_t x, size_t rows, eval_context& ctx) {
      column_data out = make(column_type::datetime, rows);
      for (size_t r = 0; r < rows; ++r) {
        int64_t v = ctx.now_ticks;
        if (!x.empty()) {
          const size_t i = vec::at(*x[0], r);
          if (x[0]->is_null(i) || !add_ticks(ctx.now_ticks, x[0]->ints[i], 1, v)) {
            out.append_null();
            continue;
          }
        }
        out.append_int(v);
      }
      return out;
    });
  }));
  f.push_back(fn("ago", result_naming::column_n, [](std::span<const arg_info> a) -> bind_result {
    if (auto e = check(a, 1, 1, {want::timespan})) return *e;
    return bound(column_type::datetime, [](args_t x, size_t rows, eval_context& ctx) {
      column_data out = make(column_type::datetime, rows);
      const column_data& span = *x[0];
      for (size_t r = 0; r < rows; ++r) {
        const size_t i = vec::at(span, r);
        int64_t v = 0;
        if (span.is_null(i) || __builtin_sub_overflow(ctx.now_ticks, span.ints[i], &v) || !in_range(v))
          out.append_null();
        else
          out.append_int(v);
      }
      return out;
    });
  }));

  f.push_back(fn("datetime_add", result_naming::column_n, [](std::span<const arg_info> a) -> bind_result {
    if (auto e = check(a, 3, 3, {want::string, want::integer, want::datetime})) return *e;
    auto p = constant_part(a, false);
    if (auto* err = std::get_if<std::string>(&p)) return *err;
    const part which = std::get<part>(p);
    return bound(column_type::datetime, [which](args_t x, size_t rows, eval_context&) {
      column_data out = make(column_type::datetime, rows);
      for (size_t r = 0; r < rows; ++r) {
        const size_t ai = vec::at(*x[1], r), ti = vec::at(*x[2], r);
        if (x[1]->is_null(ai) || x[2]->is_null(ti)) {
          out.append_null();
          continue;
        }
        const int64_t n = x[1]->ints[ai], t = x[2]->ints[ti];
        int64_t v = 0;
        bool ok = false;
        switch (which) {
          case part::year: ok = n >= -10'000 && n <= 10'000 && add_months(t, n * 12, v); break;
          case part::quarter: ok = n >= -40'000 && n <= 40'000 && add_months(t, n * 3, v); break;
          case part::month: ok = add_months(t, n, v); break;
          case part::week: ok = add_ticks(t, n, 7 * tick_day, v); break;
          case part::day: ok = add_ticks(t, n, tick_day, v); break;
          case part::hour: ok = add_ticks(t, n, tick_h, v); break;
          case part::minute: ok = add_ticks(t, n, tick_min, v); break;
          case part::second: ok = add_ticks(t, n, tick_s, v); break;
          case part::millisecond: ok = add_ticks(t, n, tick_ms, v); break;
          case part::microsecond: ok = add_ticks(t, n, tick_us, v); break;
          case part::nanosecond: ok = add_ticks(t, n / 100, 1, v); break;
          default: break;
        }
        if (ok)
          out.append_int(v);
        else
          out.append_null();
      }
      return out;
    });
  }));

  // datetime_diff(part, dt1, dt2): how many period boundaries lie between dt2 and dt1 (weeks
  // start on Sunday), positive when dt1 is later.
  f.push_back(fn("datetime_diff", result_naming::column_n, [](std::span<const arg_info> a) -> bind_result {
    if (auto e = check(a, 3, 3, {want::string, want::datetime, want::datetime})) return *e;
    auto p = constant_part(a, false);
    if (auto* err = std::get_if<std::string>(&p)) return *err;
    const part which = std::get<part>(p);
    return bound(column_type::long_, [which](args_t x, size_t rows, eval_context&) {
      column_data out = make(column_type::long_, rows);
      auto index = [which](int64_t t) -> int64_t {
        switch (which) {
          case part::year: return civil_of(t).y;
          case part::quarter: {
            const civil c = civil_of(t);
            return int64_t{c.y} * 4 + (c.m - 1) / 3;
          }
          case part::month: {
            const civil c = civil_of(t);
            return int64_t{c.y} * 12 + (c.m - 1);
          }
          case part::week: {
            const int64_t day = floor_div(t, tick_day);
            return floor_div(day - weekday_of(day), 7);
          }
          case part::day: return floor_div(t, tick_day);
          case part::hour: return floor_div(t, tick_h);
          case part::minute: return floor_div(t, tick_min);
          case part::second: return floor_div(t, tick_s);
          case part::millisecond: return floor_div(t, tick_ms);
          case part::microsecond: return floor_div(t, tick_us);
          default: return t;
        }
      };
      for (size_t r = 0; r < rows; ++r) {
        const size_t i1 = vec::at(*x[1], r), i2 = vec::at(*x[2], r);
        if (x[1]->is_null(i1) || x[2]->is_null(i2)) {
          out.append_null();
          continue;
        }
        const int64_t d = index(x[1]->ints[i1]) - index(x[2]->ints[i2]);
        int64_t v = d;
        if (which == part::nanosecond && __builtin_mul_overflow(d, int64_t{100}, &v)) {
          out.append_null();
          continue;
        }
        out.append_int(v);
      }
      return out;
    });
  }));

  f.push_back(fn("datetime_part", result_naming::column_n, [](std::span<const arg_info> a) -> bind_result {
    if (auto e = check(a, 2, 2, {want::string, want::datetime})) return *e;
    auto p = constant_part(a, true);
    if (auto* err = std::get_if<std::string>(&p)) return *err;
    const part which = std::get<part>(p);
    return bound(column_type::int_, [which](args_t x, size_t rows, eval_context&) {
      column_data out = make(column_type::int_, rows);
      const column_data& c = *x[1];
      for (size_t r = 0; r < rows; ++r) {
        const size_t i = vec::at(c, r);
        if (c.is_null(i)) {
          out.append_null();
          continue;
        }
        const int64_t t = c.ints[i];
        const int64_t time = t - floor_div(t, tick_day) * tick_day;
        int64_t v = 0;
        switch (which) {
          case part::year: v = civil_of(t).y; break;
          case part::quarter: v = (civil_of(t).m - 1) / 3 + 1; break;
          case part::month: v = civil_of(t).m; break;
          case part::week_of_year: v = iso_week(civil_of(t)); break;
          case part::day: v = civil_of(t).d; break;
          case part::dayofyear: v = day_of_year(civil_of(t)); break;
          case part::hour: v = time / tick_h; break;
          case part::minute: v = time / tick_min % 60; break;
          case part::second: v = time / tick_s % 60; break;
          case part::millisecond: v = time % tick_s / tick_ms; break;
          case part::microsecond: v = time % tick_s / tick_us; break;
          case part::nanosecond: v = time % tick_s * 100; break;
          default: break;
        }
        out.append_int(v);
      }
      return out;
    });
  }));

  // Unary datetime → int parts.
  auto int_part = [](std::string_view name, auto get) {
    return fn(name, result_naming::column_n, [get](std::span<const arg_info> a) -> bind_result {
      if (auto e = check(a, 1, 1, {want::datetime})) return *e;
      return bound(column_type::int_, ticks_map(column_type::int_, [get](int64_t t, int64_t& v) {
        v = get(t);
        return true;
      }));
    });
  };
  f.push_back(int_part("dayofmonth", [](int64_t t) -> int64_t { return civil_of(t).d; }));
  f.push_back(int_part("dayofyear", [](int64_t t) { return day_of_year(civil_of(t)); }));
  f.push_back(int_part("monthofyear", [](int64_t t) -> int64_t { return civil_of(t).m; }));
  f.push_back(int_part("getmonth", [](int64_t t) -> int64_t { return civil_of(t).m; }));
  f.push_back(int_part("getyear", [](int64_t t) -> int64_t { return civil_of(t).y; }));
  f.push_back(int_part("hourofday", [](int64_t t) { return (t - floor_div(t, tick_day) * tick_day) / tick_h; }));
  f.push_back(int_part("weekofyear", [](int64_t t) { return iso_week(civil_of(t)); }));
  f.push_back(int_part("week_of_year", [](int64_t t) { return iso_week(civil_of(t)); }));

  // dayofweek(dt): the timespan since the last Sunday midnight (Monday is 1.00:00:00).
  f.push_back(fn("dayofweek", result_naming::column_n, [](std::span<const arg_info> a) -> bind_result {
    if (auto e = check(a, 1, 1, {want::datetime})) return *e;
    return bound(column_type::timespan, ticks_map(column_type::timespan, [](int64_t t, int64_t& v) {
      v = weekday_of(floor_div(t, tick_day)) * tick_day;
      return true;
    }));
  }));

  // startof*(dt[, offset]) and endof*(dt[, offset]): the period's first (last) tick, moved by
  // offset periods. Kusto names startofday after its argument, the others Column1...
  struct period {
    std::string_view start_name, end_name;
    period_start start;
    result_naming naming;
  };
  const period periods[] = {
      {"startofday", "endofday", start_of_day, result_naming::first_argument},
      {"startofweek", "endofweek", start_of_week, result_naming::column_n},
      {"startofmonth", "endofmonth", start_of_month, result_naming::column_n},
      {"startofyear", "endofyear", start_of_year, result_naming::column_n},
  };
  for (const period& p : periods) {
    const period_start start = p.start;
    f.push_back(fn(p.start_name, p.naming, [start](std::span<const arg_info> a) -> bind_result {
      if (auto e = check(a, 1, 2, {want::datetime, want::integer})) return *e;
      return bound(column_type::datetime, ticks_offset_map([start](int64_t t, int64_t off, int64_t& v) {
        return start(t, off, v) && in_range(v);
      }));
    }));
    f.push_back(fn(p.end_name, result_naming::column_n, [start](std::span<const arg_info> a) -> bind_result {
      if (auto e = check(a, 1, 2, {want::datetime, want::integer})) return *e;
      return bound(column_type::datetime, ticks_offset_map([start](int64_t t, int64_t off, int64_t& v) {
        // The last tick before the next period; 9999-12-31's period ends at the range's end.
        if (off == INT64_MAX) return false;
        if (start(t, off + 1, v)) {
          --v;
          return in_range(v);
        }
        int64_t first = 0;
        if (!start(t, off, first) || !in_range(first)) return false;
        v = max_datetime;
        return true;
      }));
    }));
  }

  // format_datetime(dt, 'yyyy-MM-dd') and format_timespan(ts, 'd.hh:mm'): the format parsed once.
  auto format_function = [](const char* name, want value, bool timespan, const char* example) {
    return fn(name, result_naming::first_argument,
              [value, timespan, example](std::span<const arg_info> a) -> bind_result {
                if (auto e = check(a, 2, 2, {value, want::string})) return *e;
                const auto text = constant_text(a[1]);
                if (!text)
                  return std::string("argument 2 (the format) must be a string literal, e.g. '") + example + "'";
                auto tokens = parse_format(*text, timespan);
                if (auto* err = std::get_if<std::string>(&tokens)) return "argument 2: " + *err;
                auto shared = std::make_shared<const std::vector<format_token>>(std::get<0>(std::move(tokens)));
                return bound(column_type::string, [shared, timespan](args_t x, size_t rows, eval_context&) {
                  column_data out = make(column_type::string, rows);
                  for (size_t r = 0; r < rows; ++r) {
                    const size_t i = vec::at(*x[0], r);
                    if (!x[0]->is_null(i)) {
                      if (timespan) format_timespan_into(x[0]->ints[i], *shared, out.text);
                      else format_datetime_into(x[0]->ints[i], *shared, out.text);
                    }
                    end_text(out);
                  }
                  return out;
                });
              });
  };
  f.push_back(format_function("format_datetime", want::datetime, false, "yyyy-MM-dd HH:mm:ss"));
  f.push_back(format_function("format_timespan", want::timespan, true, "d.hh:mm:ss"));

  // make_datetime(year, month, day[, hour, minute, second]): null when any part is null or
  // out of its range; the seconds may carry a fraction.
  f.push_back(fn("make_datetime", result_naming::column_n, [](std::span<const arg_info> a) -> bind_result {
    if (auto e = check(a, 3, 6, {want::number})) return *e;
    return bound(column_type::datetime, [](args_t x, size_t rows, eval_context&) {
      column_data out = make(column_type::datetime, rows);
      for (size_t r = 0; r < rows; ++r) {
        double v[6] = {0, 0, 0, 0, 0, 0};
        bool null = false;
        for (size_t k = 0; k < x.size(); ++k) {
          const column_data& c = *x[k];
          const size_t i = vec::at(c, r);
          if (c.is_null(i)) {
            null = true;
            break;
          }
          v[k] = c.type == column_type::real ? c.reals[i] : static_cast<double>(c.ints[i]);
        }
        const bool whole = std::all_of(v, v + 5, [](double d) { return std::isfinite(d) && d == std::trunc(d); });
        if (null || !whole || !std::isfinite(v[5]) || v[0] < 1 || v[0] > 9999 || v[1] < 1 || v[1] > 12 ||
            v[2] < 1 || v[3] < 0 || v[3] > 23 || v[4] < 0 || v[4] > 59 || v[5] < 0 || v[5] >= 60) {
          out.append_null();
          continue;
        }
        const int y = static_cast<int>(v[0]);
        const auto m = static_cast<unsigned>(v[1]);
        if (v[2] > days_in_month(y, m)) {
          out.append_null();
          continue;
        }
        const int64_t sec_ticks = std::llround(v[5] * tick_s);
        out.append_int(days_from(y, m, static_cast<unsigned>(v[2])) * tick_day + static_cast<int64_t>(v[3]) * tick_h +
                       static_cast<int64_t>(v[4]) * tick_min + std::min(sec_ticks, 60 * tick_s - 1));
      }
      return out;
    });
  }));

  // make_timespan(hour, minute), (hour, minute, second), (day, hour, minute, second).
  f.push_back(fn("make_timespan", result_naming::column_n, [](std::span<const arg_info> a) -> bind_result {
    if (auto e = check(a, 2, 4, {want::integer})) {
      // The seconds may be real (1.5 seconds); the other parts are integers.
      if (a.size() < 2 || a.size() > 4) return *e;
      for (size_t k = 0; k + 1 < a.size(); ++k)
        if (!is_integer(a[k].type)) return *e;
      if (!is_number(a.back().type)) return *e;
    }
    return bound(column_type::timespan, [](args_t x, size_t rows, eval_context&) {
      column_data out = make(column_type::timespan, rows);
      static constexpr int64_t units4[] = {tick_day, tick_h, tick_min, tick_s};
      const int64_t* units = units4 + (x.size() == 4 ? 0 : 1);
      for (size_t r = 0; r < rows; ++r) {
        double total = 0;
        bool null = false;
        for (size_t k = 0; k < x.size(); ++k) {
          const column_data& c = *x[k];
          const size_t i = vec::at(c, r);
          if (c.is_null(i)) {
            null = true;
            break;
          }
          total += (c.type == column_type::real ? c.reals[i] : static_cast<double>(c.ints[i])) *
                   static_cast<double>(units[k]);
        }
        if (null || !std::isfinite(total) || std::fabs(total) >= 9.2e18)
          out.append_null();
        else
          out.append_int(std::llround(total));
      }
      return out;
    });
  }));

  using ingest::detail::unix_unit;
  const std::pair<std::string_view, unix_unit> unix_functions[] = {
      {"unixtime_seconds_todatetime", unix_unit::seconds},
      {"unixtime_milliseconds_todatetime", unix_unit::milliseconds},
      {"unixtime_microseconds_todatetime", unix_unit::microseconds},
      {"unixtime_nanoseconds_todatetime", unix_unit::nanoseconds},
  };
  for (auto [name, unit] : unix_functions) {
    f.push_back(fn(name, result_naming::column_n, [unit](std::span<const arg_info> a) -> bind_result {
      if (auto e = check(a, 1, 1, {want::number})) return *e;
      return bound(column_type::datetime, [unit](args_t x, size_t rows, eval_context&) {
        column_data out = make(column_type::datetime, rows);
        const column_data& c = *x[0];
        const bool real = c.type == column_type::real;
        for (size_t r = 0; r < rows; ++r) {
          const size_t i = vec::at(c, r);
          int64_t t = 0;
          if (!c.is_null(i) && (real ? ingest::detail::unix_time_to_ticks(c.reals[i], unit, t)
                                     : ingest::detail::unix_time_to_ticks(c.ints[i], unit, t)))
            out.append_int(t);
          else
            out.append_null();
        }
        return out;
      });
    }));
  }
  return f;
}

}  // namespace

std::vector<scalar_function> text_and_time_functions() {
  std::vector<scalar_function> all = string_functions();
  for (auto& f : time_functions()) all.push_back(std::move(f));
  return all;
}

}  // namespace tributary::query
