#include <fmt/format.h>

#include <array>
#include <cmath>

#include "ingest/convert.hpp"

namespace tributary::ingest::detail {
namespace {

constexpr problem bad_datetime =
    "is not a valid datetime; expected ISO 8601 such as 2024-05-01T12:00:00Z";
constexpr problem datetime_range = "is out of range for datetime (years 0001 to 9999)";
constexpr problem bad_timespan =
    "is not a valid timespan; expected [-][d.]hh:mm[:ss[.fffffff]] or a number with a unit such as "
    "1.5h, 30m, "
    "100ms";
constexpr problem timespan_range = "is out of range for timespan";

constexpr int64_t ticks_per_minute = 60 * ticks_per_second;
constexpr int64_t ticks_per_hour = 60 * ticks_per_minute;
constexpr int64_t ticks_per_day = 24 * ticks_per_hour;
// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.9999999Z in ticks since the Unix epoch.
constexpr int64_t min_datetime_ticks = -62135596800LL * ticks_per_second;
constexpr int64_t max_datetime_ticks = 253402300800LL * ticks_per_second - 1;

__extension__ using int128 = __int128;

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

int days_in_month(int64_t y, int64_t m) {
  static constexpr std::array<int, 12> days{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : days[static_cast<size_t>(m - 1)];
}

// A left-to-right reader over the text being parsed.
struct reader {
  std::string_view s;
  size_t i = 0;

  bool done() const { return i == s.size(); }
  char peek() const { return i < s.size() ? s[i] : '\0'; }
  bool eat(char c) {
    if (peek() != c) return false;
    ++i;
    return true;
  }
  // Between `min` and `max` digits as a number; false if fewer than `min`.
  bool digits(size_t min, size_t max, int64_t& out) {
    size_t start = i;
    out = 0;
    while (i < s.size() && i - start < max && is_digit(s[i])) out = out * 10 + (s[i++] - '0');
    return i - start >= min;
  }
  std::string_view word() {
    size_t start = i;
    while (i < s.size() && is_alpha(s[i])) ++i;
    return s.substr(start, i - start);
  }
  void spaces() {
    while (peek() == ' ') ++i;
  }
  // Fraction digits after the point, scaled to ticks: the first 7 count, later ones are
  // truncated (100-ns resolution). False if there is no digit.
  bool fraction(int64_t& ticks) {
    size_t start = i;
    ticks = 0;
    int64_t scale = ticks_per_second;
    while (i < s.size() && is_digit(s[i])) {
      scale /= 10;
      ticks += (s[i++] - '0') * scale;
    }
    return i > start;
  }
};

// A zone designator at the reader's position (possibly after spaces): its offset from UTC in
// minutes. True also when there is none.
bool zone(reader& r, int64_t& offset_minutes) {
  offset_minutes = 0;
  if (r.done()) return true;
  if (r.eat('Z') || r.eat('z')) return r.done();
  r.spaces();
  if (r.peek() == '+' || r.peek() == '-') {
    const int64_t sign = r.s[r.i++] == '-' ? -1 : 1;
    int64_t h = 0, m = 0;
    if (!r.digits(2, 2, h)) return false;
    if (r.eat(':')) {
      if (!r.digits(2, 2, m)) return false;
    } else if (!r.done() && !r.digits(2, 2, m)) {
      return false;
    }
    if (h > 14 || m > 59) return false;
    offset_minutes = sign * (h * 60 + m);
    return r.done();
  }
  static constexpr std::array<std::pair<std::string_view, int>, 12> names{{
      {"Z", 0},
      {"GMT", 0},
      {"UTC", 0},
      {"UT", 0},
      {"EST", -300},
      {"EDT", -240},
      {"CST", -360},
      {"CDT", -300},
      {"MST", -420},
      {"MDT", -360},
      {"PST", -480},
      {"PDT", -420},
  }};
  std::string_view w = r.word();
  for (const auto& [name, minutes] : names) {
    if (iequals(w, name)) {
      offset_minutes = minutes;
      return r.done();
    }
  }
  return false;
}

// hh:mm[:ss[.fffffff]] → ticks into the day.
bool time_of_day(reader& r, int64_t& ticks) {
  int64_t h = 0, m = 0, sec = 0, frac = 0;
  if (!r.digits(1, 2, h) || !r.eat(':') || !r.digits(2, 2, m)) return false;
  if (r.eat(':')) {
    if (!r.digits(2, 2, sec)) return false;
    if ((r.eat('.') || r.eat(',')) && !r.fraction(frac)) return false;
  }
  if (h > 23 || m > 59 || sec > 59) return false;
  ticks = h * ticks_per_hour + m * ticks_per_minute + sec * ticks_per_second + frac;
  return true;
}

problem finish(int64_t y, int64_t mo, int64_t d, int64_t day_ticks, int64_t offset_minutes,
               int64_t& ticks) {
  if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo)) return bad_datetime;
  if (y < 1 || y > 9999) return datetime_range;
  ticks = days_from_civil(y, mo, d) * ticks_per_day + day_ticks - offset_minutes * ticks_per_minute;
  if (ticks < min_datetime_ticks || ticks > max_datetime_ticks) return datetime_range;
  return {};
}

// ISO 8601 and Kusto's "sortable" forms: yyyy-M-d[(T| )H:mm[:ss[.f]]][zone].
problem iso(reader& r, int64_t& ticks) {
  int64_t y = 0, mo = 0, d = 0, day_ticks = 0, offset = 0;
  if (!r.digits(4, 4, y) || !r.eat('-') || !r.digits(1, 2, mo) || !r.eat('-') || !r.digits(1, 2, d))
    return bad_datetime;
  if (!r.done()) {
    if (!(r.eat('T') || r.eat('t') || r.eat(' '))) return bad_datetime;
    if (!time_of_day(r, day_ticks) || !zone(r, offset)) return bad_datetime;
  }
  return finish(y, mo, d, day_ticks, offset, ticks);
}

int month_number(std::string_view w) {
  static constexpr std::array<std::string_view, 12> names{
      "january", "february", "march",     "april",   "may",      "june",
      "july",    "august",   "september", "october", "november", "december"};
  for (size_t i = 0; i < names.size(); ++i)
    if (iequals(w, names[i].substr(0, 3)) || iequals(w, names[i]) || (i == 8 && iequals(w, "sept")))
      return static_cast<int>(i) + 1;
  return 0;
}

bool is_weekday(std::string_view w) {
  static constexpr std::array<std::string_view, 7> names{
      "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"};
  for (auto n : names)
    if (iequals(w, n.substr(0, 3)) || iequals(w, n)) return true;
  return false;
}

// RFC 822 and RFC 850: [Weekday, ]d(-| )Mon(-| )yy[yy] hh:mm[:ss][ zone].
problem rfc(reader& r, int64_t& ticks) {
  if (is_alpha(r.peek())) {
    if (!is_weekday(r.word()) || !r.eat(',')) return bad_datetime;
    r.spaces();
  }
  int64_t d = 0, y = 0, day_ticks = 0, offset = 0;
  if (!r.digits(1, 2, d)) return bad_datetime;
  const char sep = r.peek();
  if (sep != ' ' && sep != '-') return bad_datetime;
  ++r.i;
  const int mo = month_number(r.word());
  if (mo == 0 || !r.eat(sep)) return bad_datetime;
  const size_t year_start = r.i;
  if (!r.digits(2, 4, y) || r.i - year_start == 3) return bad_datetime;
  // Two-digit years follow .NET's TwoDigitYearMax of 2049.
  if (r.i - year_start == 2) y += y < 50 ? 2000 : 1900;
  if (!r.eat(' ') || !time_of_day(r, day_ticks) || !zone(r, offset)) return bad_datetime;
  return finish(y, mo, d, day_ticks, offset, ticks);
}

int64_t unit_ticks(std::string_view unit) {
  struct entry {
    std::string_view name;
    int64_t ticks;
  };
  static constexpr std::array<entry, 28> units{{
      {"d", ticks_per_day},
      {"day", ticks_per_day},
      {"days", ticks_per_day},
      {"h", ticks_per_hour},
      {"hr", ticks_per_hour},
      {"hrs", ticks_per_hour},
      {"hour", ticks_per_hour},
      {"hours", ticks_per_hour},
      {"m", ticks_per_minute},
      {"min", ticks_per_minute},
      {"mins", ticks_per_minute},
      {"minute", ticks_per_minute},
      {"minutes", ticks_per_minute},
      {"s", ticks_per_second},
      {"sec", ticks_per_second},
      {"secs", ticks_per_second},
      {"second", ticks_per_second},
      {"seconds", ticks_per_second},
      {"ms", 10'000},
      {"milli", 10'000},
      {"millis", 10'000},
      {"millisecond", 10'000},
      {"milliseconds", 10'000},
      {"microsecond", 10},
      {"microseconds", 10},
      {"tick", 1},
      {"ticks", 1},
      {"", ticks_per_day},
  }};
  for (const auto& u : units)
    if (iequals(unit, u.name)) return u.ticks;
  return 0;
}

}  // namespace

problem parse_datetime(std::string_view s, int64_t& ticks) {
  s = trim_space(s);
  reader r{s};
  if (s.size() > 4 && s[4] == '-' && is_digit(s[0])) return iso(r, ticks);
  return rfc(r, ticks);
}

problem parse_timespan(std::string_view s, int64_t& ticks) {
  s = trim_space(s);
  reader r{s};
  int64_t sign = 1;
  if (r.eat('-'))
    sign = -1;
  else
    r.eat('+');
  const size_t start = r.i;
  int64_t whole = 0;
  if (!r.digits(1, 18, whole) || is_digit(r.peek()))
    return r.i - start >= 18 ? timespan_range : bad_timespan;

  int64_t total = 0;
  if (s.find(':') != std::string_view::npos) {
    // [d.]hh:mm[:ss[.fffffff]], as .NET's TimeSpan.Parse.
    int64_t days = 0, h = whole, m = 0, sec = 0, frac = 0;
    if (r.eat('.')) {
      days = whole;
      if (!r.digits(1, 2, h)) return bad_timespan;
    }
    if (!r.eat(':') || !r.digits(2, 2, m)) return bad_timespan;
    if (r.eat(':')) {
      if (!r.digits(2, 2, sec)) return bad_timespan;
      if (r.eat('.')) {
        const size_t fs = r.i;
        if (!r.fraction(frac) || r.i - fs > 7) return bad_timespan;
      }
    }
    if (!r.done() || h > 23 || m > 59 || sec > 59) return bad_timespan;
    if (days > 10'675'199) return timespan_range;
    total = days * ticks_per_day + h * ticks_per_hour + m * ticks_per_minute +
            sec * ticks_per_second + frac;
  } else {
    // A number with a unit (Kusto's 1.5h, 100ms, 10microsecond, 1tick); a bare integer is days.
    int64_t frac_value = 0, frac_scale = 1;
    const bool has_point = r.eat('.');
    if (has_point) {
      const size_t fs = r.i;
      while (is_digit(r.peek())) {
        if (frac_scale < 1'000'000'000'000'000LL) {
          frac_value = frac_value * 10 + (r.peek() - '0');
          frac_scale *= 10;
        }
        ++r.i;
      }
      if (r.i == fs) return bad_timespan;
    }
    r.spaces();
    const std::string_view unit = r.word();
    if (!r.done() || (has_point && unit.empty())) return bad_timespan;
    const int64_t per = unit_ticks(unit);
    if (per == 0) return bad_timespan;
    if (__builtin_mul_overflow(whole, per, &total)) return timespan_range;
    // frac_value < frac_scale ≤ 10^18 and per ≤ 8.64e11: the product needs 128 bits.
    const auto part = static_cast<int64_t>(static_cast<int128>(frac_value) * per / frac_scale);
    if (__builtin_add_overflow(total, part, &total)) return timespan_range;
  }
  ticks = sign * total;
  return {};
}

std::string format_datetime(int64_t ticks) {
  int64_t days = ticks / ticks_per_day;
  int64_t rem = ticks % ticks_per_day;
  if (rem < 0) {
    rem += ticks_per_day;
    --days;
  }
  // civil_from_days (H. Hinnant).
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const int64_t doe = days - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;
  const int64_t y = yoe + era * 400 + (m <= 2);
  const int64_t secs = rem / ticks_per_second;
  const int64_t frac = rem % ticks_per_second;
  std::string out = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", y, m, d, secs / 3600,
                                secs / 60 % 60, secs % 60);
  if (frac != 0) {
    out += fmt::format(".{:07}", frac);
    while (out.back() == '0') out.pop_back();
  }
  out += 'Z';
  return out;
}

bool unix_time_to_ticks(int64_t value, unix_unit unit, int64_t& ticks) {
  switch (unit) {
    case unix_unit::seconds:
      if (__builtin_mul_overflow(value, ticks_per_second, &ticks)) return false;
      break;
    case unix_unit::milliseconds:
      if (__builtin_mul_overflow(value, int64_t{10'000}, &ticks)) return false;
      break;
    case unix_unit::microseconds:
      if (__builtin_mul_overflow(value, int64_t{10}, &ticks)) return false;
      break;
    case unix_unit::nanoseconds:
      ticks = value / 100;
      break;
  }
  return ticks >= min_datetime_ticks && ticks <= max_datetime_ticks;
}

bool unix_time_to_ticks(double value, unix_unit unit, int64_t& ticks) {
  static constexpr std::array<double, 4> per{1e7, 1e4, 10, 0.01};
  const double t = std::trunc(value * per[static_cast<size_t>(unit)]);
  if (!(t >= static_cast<double>(min_datetime_ticks) &&
        t <= static_cast<double>(max_datetime_ticks)))
    return false;
  ticks = static_cast<int64_t>(t);
  return true;
}

}  // namespace tributary::ingest::detail
