#include "ingest/convert.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>

namespace tributary::ingest::detail {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != b[i]) return false;
  return true;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = lower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// An optional sign and decimal digits, into [min, max]. Hand-written: this is the hot path of
// every integer field, and std::from_chars costs twice as much here.
enum class int_result : uint8_t { ok, invalid, out_of_range };
int_result parse_integer(std::string_view s, int64_t min, int64_t max, int64_t& out) {
  size_t i = 0;
  bool negative = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    i = 1;
  }
  if (i == s.size()) return int_result::invalid;
  uint64_t v = 0;
  bool overflow = false;
  for (; i < s.size(); ++i) {
    const auto d = static_cast<unsigned>(static_cast<unsigned char>(s[i]) - '0');
    if (d > 9) return int_result::invalid;
    overflow =
        overflow || __builtin_mul_overflow(v, uint64_t{10}, &v) || __builtin_add_overflow(v, d, &v);
  }
  const uint64_t limit =
      negative ? static_cast<uint64_t>(-(min + 1)) + 1 : static_cast<uint64_t>(max);
  if (overflow || v > limit) return int_result::out_of_range;
  // Modular negation is exact in C++20, including for the most negative value.
  out = negative ? static_cast<int64_t>(uint64_t{0} - v) : static_cast<int64_t>(v);
  return int_result::ok;
}

// The largest System.Decimal mantissa, 2^96 - 1.
constexpr std::string_view max_mantissa = "79228162514264337593543950335";
constexpr size_t max_scale = 28;

bool mantissa_too_large(std::string_view digits) {
  return digits.size() > max_mantissa.size() ||
         (digits.size() == max_mantissa.size() && digits > max_mantissa);
}

// Drops the last `n` digits of `digits`, rounding half away from zero (System.Decimal's
// rounding when a parsed value has more digits than it can hold).
void round_off(std::string& digits, size_t n) {
  if (n == 0) return;
  if (n > digits.size()) {
    digits = "0";
    return;
  }
  const bool up = digits[digits.size() - n] >= '5';
  digits.resize(digits.size() - n);
  if (!up) return;
  size_t i = digits.size();
  while (i > 0 && digits[i - 1] == '9') digits[--i] = '0';
  if (i == 0)
    digits.insert(digits.begin(), '1');
  else
    ++digits[i - 1];
}

// The power of ten of the first significant digit of a syntactically valid decimal number,
// e.g. 2 for "123.4", -3 for "0.00123e0"; only its sign matters to the caller.
int64_t decimal_order(std::string_view s) {
  size_t e = s.find_first_of("eE");
  int64_t exponent = 0;
  if (e != std::string_view::npos) {
    bool negative = e + 1 < s.size() && s[e + 1] == '-';
    for (size_t i = e + 1; i < s.size(); ++i)
      if (is_digit(s[i]) && exponent < 1'000'000) exponent = exponent * 10 + (s[i] - '0');
    if (negative) exponent = -exponent;
  }
  std::string_view m = s.substr(0, e);
  size_t point = std::min(m.find('.'), m.size());
  size_t first = m.find_first_not_of("0.");
  if (first == std::string_view::npos) return -1;
  int64_t order = first < point ? static_cast<int64_t>(point - first) - 1
                                : -static_cast<int64_t>(first - point);
  return order + exponent;
}

}  // namespace

std::string_view trim_space(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

problem parse_bool(std::string_view s, bool& out) {
  s = trim_space(s);
  if (iequals(s, "true") || s == "1") {
    out = true;
    return {};
  }
  if (iequals(s, "false") || s == "0") {
    out = false;
    return {};
  }
  return "is not a valid bool; expected true, false, 1 or 0";
}

problem parse_long(std::string_view s, int64_t& out) {
  switch (parse_integer(trim_space(s), INT64_MIN, INT64_MAX, out)) {
    case int_result::ok:
      return {};
    case int_result::out_of_range:
      return "is out of range for long (-9223372036854775808 to 9223372036854775807)";
    case int_result::invalid:
      break;
  }
  return "is not a valid long; expected an integer such as -42";
}

problem parse_int(std::string_view s, int64_t& out) {
  switch (parse_integer(trim_space(s), INT32_MIN, INT32_MAX, out)) {
    case int_result::ok:
      return {};
    case int_result::out_of_range:
      return "is out of range for int (-2147483648 to 2147483647)";
    case int_result::invalid:
      break;
  }
  return "is not a valid int; expected an integer such as -42";
}

problem parse_real(std::string_view s, double& out) {
  constexpr problem invalid =
      "is not a valid real; expected a number such as 1.5, 2e-3, NaN or -Infinity";
  s = trim_space(s);
  bool negative = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  // from_chars takes no sign of its own here, so "--1" and "+-1" stay invalid.
  if (s.empty() || s[0] == '+' || s[0] == '-') return invalid;
  if (lower(s[0]) == 'n' && !iequals(s, "nan")) return invalid;  // from_chars accepts nan(...)
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, std::chars_format::general);
  if (p != s.data() + s.size()) return invalid;
  if (ec == std::errc::result_out_of_range) {
    // Out of range is either overflow or underflow; underflow parses as zero, as in .NET.
    if (decimal_order(s) >= 0) return "is out of range for real (about ±1.8e308)";
    v = 0;
  } else if (ec != std::errc{}) {
    return invalid;
  }
  out = negative ? -v : v;
  return {};
}

problem parse_decimal(std::string_view s, std::string& out) {
  constexpr problem invalid = "is not a valid decimal; expected a number such as -12.345 or 1e5";
  constexpr problem range = "is out of range for decimal (at most 29 digits before the point)";
  s = trim_space(s);
  size_t i = 0;
  bool negative = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
  std::string digits;
  size_t int_start = i;
  while (i < s.size() && is_digit(s[i])) ++i;
  digits.assign(s.substr(int_start, i - int_start));
  size_t frac_digits = 0;
  if (i < s.size() && s[i] == '.') {
    size_t start = ++i;
    while (i < s.size() && is_digit(s[i])) ++i;
    frac_digits = i - start;
    digits.append(s.substr(start, frac_digits));
  }
  if (digits.empty()) return invalid;
  int64_t exponent = 0;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    bool exp_negative = false;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) exp_negative = s[i++] == '-';
    size_t start = i;
    while (i < s.size() && is_digit(s[i])) {
      if (exponent < 100000) exponent = exponent * 10 + (s[i] - '0');
      ++i;
    }
    if (i == start) return invalid;
    if (exp_negative) exponent = -exponent;
  }
  if (i != s.size()) return invalid;

  int64_t scale = static_cast<int64_t>(frac_digits) - exponent;
  size_t first = digits.find_first_not_of('0');
  if (first == std::string::npos) {
    // Zero keeps its scale (0.00 stays 0.00), within System.Decimal's limits.
    scale = std::clamp<int64_t>(scale, 0, max_scale);
    out = scale > 0 ? "0." + std::string(static_cast<size_t>(scale), '0') : "0";
    return {};
  }
  digits.erase(0, first);
  const int64_t int_digits = static_cast<int64_t>(digits.size()) - scale;
  if (int_digits > static_cast<int64_t>(max_mantissa.size())) return range;
  if (scale < 0) {
    digits.append(static_cast<size_t>(-scale), '0');
    scale = 0;
  }
  if (scale > static_cast<int64_t>(max_scale) + static_cast<int64_t>(digits.size()) + 1) {
    out = "0." + std::string(max_scale, '0');
    return {};
  }
  if (scale > static_cast<int64_t>(max_scale)) {
    round_off(digits, static_cast<size_t>(scale) - max_scale);
    scale = max_scale;
  }
  while (mantissa_too_large(digits) && scale > 0) {
    round_off(digits, 1);
    --scale;
  }
  if (mantissa_too_large(digits)) return range;

  out.clear();
  const size_t sc = static_cast<size_t>(scale);
  if (digits.size() <= sc) digits.insert(0, sc - digits.size() + 1, '0');
  if (negative && digits.find_first_not_of('0') != std::string::npos) out += '-';
  out.append(digits, 0, digits.size() - sc);
  if (sc > 0) {
    out += '.';
    out.append(digits, digits.size() - sc, sc);
  }
  return {};
}

problem parse_guid(std::string_view s, std::array<char, 36>& out) {
  constexpr problem invalid =
      "is not a valid guid; expected 8-4-4-4-12 hex digits such as "
      "74be27de-1e4e-49d9-b579-fe0b331d3642";
  s = trim_space(s);
  if (s.size() == 38 &&
      ((s.front() == '{' && s.back() == '}') || (s.front() == '(' && s.back() == ')')))
    s = s.substr(1, 36);
  const bool hyphens = s.size() == 36;
  if (!hyphens && s.size() != 32) return invalid;
  constexpr std::array<size_t, 4> dash_at{8, 13, 18, 23};
  size_t in = 0;
  for (size_t o = 0; o < out.size(); ++o) {
    if (o == dash_at[0] || o == dash_at[1] || o == dash_at[2] || o == dash_at[3]) {
      if (hyphens && s[in++] != '-') return invalid;
      out[o] = '-';
      continue;
    }
    if (hex_value(s[in]) < 0) return invalid;
    out[o] = lower(s[in++]);
  }
  return {};
}

}  // namespace tributary::ingest::detail
