// Conversions (to*), conditionals, math and dynamic helpers, and the shared column helpers of
// functions_internal.hpp.
//
// Choices where Kusto is not documented (or Tributary simplifies):
// - tolong()/todouble() of a datetime give .NET ticks (since 0001-01-01), as Kusto; of a
//   timespan its ticks. todatetime()/totimespan() of a number are null.
// - toint()/tolong() of text accept integers only ("2.5" is null, like .NET's TryParse).
// - hash() is xxhash64 as Kusto's (see kusto_hash for the encodings the docs pin down and the
//   ones inferred).

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fmt/format.h>
#include <limits>
#include <random>
#include <nlohmann/json.hpp>
#include <xxhash.h>

#include "ingest/convert.hpp"
#include "query/functions_internal.hpp"

namespace tributary::query::detail {

using ct = column_type;
namespace ing = ingest::detail;

namespace {
/// 0001-01-01 in ticks before the Unix epoch: Kusto's datetime origin.
constexpr int64_t dotnet_epoch_offset = 621355968000000000;
constexpr double int64_limit = 9223372036854775808.0;  // 2^63
bool is_time(ct t) { return t == ct::datetime || t == ct::timespan; }
}  // namespace

// ---------------------------------------------------------------------------------------------
// Shared helpers

storage storage_of(ct t) {
  switch (t) {
    case ct::real: return storage::reals;
    case ct::string:
    case ct::decimal:
    case ct::guid:
    case ct::dynamic: return storage::text;
    default: return storage::ints;
  }
}

bool is_integer(ct t) { return t == ct::int_ || t == ct::long_; }
bool is_numeric(ct t) { return is_integer(t) || t == ct::real; }

std::optional<ct> widest(ct a, ct b) {
  if (!is_numeric(a) || !is_numeric(b)) return std::nullopt;
  if (a == ct::real || b == ct::real) return ct::real;
  if (a == ct::long_ || b == ct::long_) return ct::long_;
  return ct::int_;
}

std::optional<ct> common_type(std::span<const ct> types) {
  if (types.empty()) return std::nullopt;
  ct t = types[0];
  for (ct u : types.subspan(1)) {
    if (u == t) continue;
    auto w = widest(t, u);
    if (!w) return std::nullopt;
    t = *w;
  }
  return t;
}

column_data fixed(ct t, size_t rows) {
  column_data c;
  c.type = t;
  c.nulls.assign(rows, 0);
  if (t == ct::real)
    c.reals.assign(rows, 0);
  else
    c.ints.assign(rows, 0);
  return c;
}

column_data expand(column_data c, size_t rows) {
  if (c.size() != 1 || rows == 1) return c;
  column_data out = vec::make(c.type, rows);
  out.nulls.assign(rows, c.nulls[0]);
  switch (storage_of(c.type)) {
    case storage::ints: out.ints.assign(rows, c.ints[0]); break;
    case storage::reals: out.reals.assign(rows, c.reals[0]); break;
    case storage::text: {
      auto v = c.text_at(0);
      out.text.reserve(v.size() * rows);
      for (size_t r = 0; r < rows; ++r) {
        out.text.append(v);
        out.offsets.push_back(static_cast<uint32_t>(out.text.size()));
      }
      break;
    }
  }
  return out;
}

scalar_eval with_conversions(scalar_eval inner, std::vector<std::optional<ct>> conversions) {
  return [inner = std::move(inner), conv = std::move(conversions)](args_t args, size_t rows, eval_context& ctx) {
    std::vector<column_data> converted(args.size());
    std::vector<const column_data*> ptrs(args.begin(), args.end());
    for (size_t i = 0; i < args.size() && i < conv.size(); ++i) {
      if (conv[i] && args[i]->type != *conv[i]) {
        converted[i] = convert(*args[i], *conv[i]);
        ptrs[i] = &converted[i];
      }
    }
    return inner(ptrs, rows, ctx);
  };
}

void append_lower(std::string_view s, std::string& out) {
  size_t start = out.size();
  out.resize(start + s.size());
  auto* dst = reinterpret_cast<unsigned char*>(out.data() + start);
  auto* src = reinterpret_cast<const unsigned char*>(s.data());
  // Eight bytes at a time (SWAR): a byte is upper case when it is ASCII, >= 'A' and <= 'Z';
  // its 0x20 bit is then set. Whole chunks of text are lowered at once, so this is hot.
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, src + i, 8);
    uint64_t low7 = w & 0x7f7f7f7f7f7f7f7fULL;
    uint64_t ge_a = low7 + 0x3f3f3f3f3f3f3f3fULL;  // bit 7 set when >= 'A' (0x41)
    uint64_t gt_z = low7 + 0x2525252525252525ULL;  // bit 7 set when > 'Z' (0x5A)
    uint64_t upper = ~w & (ge_a ^ gt_z) & 0x8080808080808080ULL;
    w |= upper >> 2;
    std::memcpy(dst + i, &w, 8);
  }
  for (; i < s.size(); ++i) {
    unsigned char c = src[i];
    dst[i] = static_cast<unsigned char>(c + ((static_cast<unsigned char>(c - 'A') < 26) << 5));
  }
}

bool equals_ci(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + ('a' - 'A'));
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y + ('a' - 'A'));
    if (x != y) return false;
  }
  return true;
}

std::string arg_error(size_t index, std::string_view expected, ct found) {
  return fmt::format("argument {} must be {}, found {}", index, expected, model::to_string(found));
}

std::string count_error(size_t min, size_t max, size_t found) {
  if (min == max) return fmt::format("expects {} argument{}, found {}", min, min == 1 ? "" : "s", found);
  if (max == std::numeric_limits<size_t>::max())
    return fmt::format("expects at least {} arguments, found {}", min, found);
  return fmt::format("expects {} to {} arguments, found {}", min, max, found);
}

std::optional<std::string> constant_text(const arg_info& a) {
  if (!a.constant) return std::nullopt;
  if (auto* s = std::get_if<std::string>(&*a.constant)) return *s;
  return std::nullopt;
}

std::optional<int64_t> constant_int(const arg_info& a) {
  if (!a.constant) return std::nullopt;
  if (auto* i = std::get_if<int64_t>(&*a.constant)) return *i;
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Text of values

std::string format_real(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  if (v == 0) return std::signbit(v) ? "-0" : "0";
  // Shortest round-trip digits, laid out as .NET Core does: scientific from 1E+15 up and from
  // 1E-05 down, fixed otherwise.
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string_view s(buf, static_cast<size_t>(res.ptr - buf));
  std::string out;
  if (s[0] == '-') {
    out += '-';
    s.remove_prefix(1);
  }
  size_t e = s.find('e');
  std::string digits(1, s[0]);
  if (s.size() > 1 && s[1] == '.') digits.append(s.substr(2, e - 2));
  int exp = 0;
  std::string_view es = s.substr(e + 1);
  bool neg_exp = es[0] == '-';
  if (es[0] == '-' || es[0] == '+') es.remove_prefix(1);
  std::from_chars(es.data(), es.data() + es.size(), exp);
  if (neg_exp) exp = -exp;
  if (exp >= 15 || exp < -4) {
    out += digits[0];
    if (digits.size() > 1) {
      out += '.';
      out.append(digits, 1);
    }
    out += fmt::format("E{}{:02}", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
  } else if (exp >= 0) {
    size_t int_digits = static_cast<size_t>(exp) + 1;
    if (digits.size() <= int_digits) {
      out += digits;
      out.append(int_digits - digits.size(), '0');
    } else {
      out.append(digits, 0, int_digits);
      out += '.';
      out.append(digits, int_digits);
    }
  } else {
    out += "0.";
    out.append(static_cast<size_t>(-exp - 1), '0');
    out += digits;
  }
  return out;
}

std::string format_timespan(int64_t ticks) {
  uint64_t u = ticks < 0 ? 0 - static_cast<uint64_t>(ticks) : static_cast<uint64_t>(ticks);
  constexpr uint64_t per_day = 864000000000ULL, per_hour = 36000000000ULL, per_minute = 600000000ULL,
                     per_second = 10000000ULL;
  uint64_t days = u / per_day;
  u %= per_day;
  uint64_t h = u / per_hour, m = u % per_hour / per_minute, s = u % per_minute / per_second, f = u % per_second;
  std::string out = ticks < 0 ? "-" : "";
  if (days) out += fmt::format("{}.", days);
  out += fmt::format("{:02}:{:02}:{:02}", h, m, s);
  if (f) out += fmt::format(".{:07}", f);
  return out;
}

json_kind classify_json(std::string_view text, std::string& str) {
  text = ing::trim_space(text);
  if (text.empty()) return json_kind::invalid;
  switch (text[0]) {
    case '"': {
      auto j = parse_json_text(text);
      if (!j.is_string()) return json_kind::invalid;
      str = j.get<std::string>();
      return json_kind::string;
    }
    case '{': return json_kind::object;
    case '[': return json_kind::array;
    case 't':
    case 'f': return text == "true" || text == "false" ? json_kind::boolean : json_kind::invalid;
    case 'n': return text == "null" ? json_kind::null : json_kind::invalid;
    default: return json_kind::number;
  }
}

void append_text_of(const column_data& c, size_t row, std::string& out) {
  switch (c.type) {
    case ct::bool_: out += c.ints[row] ? "true" : "false"; break;
    case ct::int_:
    case ct::long_: out += std::to_string(c.ints[row]); break;
    case ct::real: out += format_real(c.reals[row]); break;
    case ct::datetime: out += ing::format_datetime(c.ints[row]); break;
    case ct::timespan: out += format_timespan(c.ints[row]); break;
    case ct::dynamic: {
      std::string s;
      auto text = c.text_at(row);
      if (classify_json(text, s) == json_kind::string)
        out += s;
      else
        out += text;
      break;
    }
    default: out += c.text_at(row); break;
  }
}

std::string to_json_text(const column_data& c, size_t row) {
  if (c.type == ct::string) {
    // parse_json(): valid JSON is kept (re-printed as Kusto prints it); anything else becomes a
    // JSON string.
    return normalize_dynamic(c.text_at(row));
  }
  return dynamic_text(c, row);
}

json parse_json_text(std::string_view text) { return json::parse(text, nullptr, false); }

void append_json_quoted(std::string_view s, std::string& out) { model::append_json_quoted(s, out); }

void append_json_real(double v, std::string& out) {
  // JSON has no NaN or infinities: Kusto writes them as strings. Finite reals take tostring()'s
  // .NET layout, which is valid JSON ("118", "1.5", "1E+15", "1E-05").
  if (std::isnan(v)) {
    out += "\"NaN\"";
  } else if (std::isinf(v)) {
    out += v > 0 ? "\"Infinity\"" : "\"-Infinity\"";
  } else {
    out += format_real(v);
  }
}

void append_dump_json(const json& j, std::string& out) {
  switch (j.type()) {
    case json::value_t::object: {
      out += '{';
      bool first = true;
      for (auto it = j.begin(); it != j.end(); ++it) {
        if (!first) out += ',';
        first = false;
        append_json_quoted(it.key(), out);
        out += ':';
        append_dump_json(it.value(), out);
      }
      out += '}';
      return;
    }
    case json::value_t::array: {
      out += '[';
      bool first = true;
      for (const auto& e : j) {
        if (!first) out += ',';
        first = false;
        append_dump_json(e, out);
      }
      out += ']';
      return;
    }
    case json::value_t::string: append_json_quoted(j.get_ref<const std::string&>(), out); return;
    case json::value_t::boolean: out += j.get<bool>() ? "true" : "false"; return;
    case json::value_t::number_integer: out += std::to_string(j.get<int64_t>()); return;
    case json::value_t::number_unsigned: out += std::to_string(j.get<uint64_t>()); return;
    case json::value_t::number_float: append_json_real(j.get<double>(), out); return;
    default: out += "null"; return;  // null, discarded, binary (never made from text)
  }
}

std::string dump_json(const json& j) {
  std::string out;
  append_dump_json(j, out);
  return out;
}

}  // namespace tributary::query::detail

namespace tributary::query {

using detail::ct;

std::string dynamic_text(const model::column_data& c, size_t row) {
  if (c.type != ct::string && c.is_null(row)) return "null";
  std::string out;
  switch (c.type) {
    case ct::bool_: return c.ints[row] ? "true" : "false";
    case ct::int_:
    case ct::long_: return std::to_string(c.ints[row]);
    case ct::real: detail::append_json_real(c.reals[row], out); return out;
    case ct::datetime: {
      // Inside dynamic, Kusto writes .NET's round-trip form: always seven fraction digits.
      std::string t = ingest::detail::format_datetime(c.ints[row]);
      const size_t z = t.size() - 1;
      const size_t dot = t.rfind('.');
      if (dot == std::string::npos || dot < t.rfind(':'))
        t.insert(z, ".0000000");
      else
        t.insert(z, 7 - (z - dot - 1), '0');
      detail::append_json_quoted(t, out);
      return out;
    }
    case ct::timespan: detail::append_json_quoted(detail::format_timespan(c.ints[row]), out); return out;
    case ct::decimal:
    case ct::dynamic: {
      auto text = c.text_at(row);
      return text.empty() ? "null" : std::string(text);
    }
    default: detail::append_json_quoted(c.text_at(row), out); return out;  // string, guid
  }
}

std::string normalize_dynamic(std::string_view json_text) {
  auto j = detail::parse_json_text(json_text);
  std::string out;
  if (j.is_discarded())
    detail::append_json_quoted(json_text, out);
  else
    detail::append_dump_json(j, out);
  return out;
}

}  // namespace tributary::query

namespace tributary::query::detail {

// ---------------------------------------------------------------------------------------------
// Conversions, one value at a time. The switch on the column's type is the same for every row
// of a loop (always predicted); conversions are not the hot path of a scan.

namespace {

std::optional<int64_t> real_to_long(double v) {
  if (!(v > -int64_limit && v < int64_limit)) return std::nullopt;
  return static_cast<int64_t>(v);  // truncation, as toint(2.7) = 2
}

std::optional<int64_t> long_at(const column_data& c, size_t r) {
  switch (c.type) {
    case ct::bool_:
    case ct::int_:
    case ct::long_:
    case ct::timespan: return c.ints[r];
    case ct::datetime: return c.ints[r] + dotnet_epoch_offset;
    case ct::real: return real_to_long(c.reals[r]);
    case ct::string: {
      int64_t v;
      auto t = c.text_at(r);
      if (ing::trim_space(t).empty() || !ing::parse_long(t, v).empty()) return std::nullopt;
      return v;
    }
    case ct::decimal: {
      double d;
      if (!ing::parse_real(c.text_at(r), d).empty()) return std::nullopt;
      return real_to_long(d);
    }
    case ct::dynamic: {
      std::string s;
      auto text = c.text_at(r);
      switch (classify_json(text, s)) {
        case json_kind::boolean: return text.find("true") != std::string_view::npos ? 1 : 0;
        case json_kind::string: text = s; break;
        case json_kind::number: {
          int64_t v;
          if (ing::parse_long(text, v).empty()) return v;
          double d;
          if (!ing::parse_real(text, d).empty()) return std::nullopt;
          return real_to_long(d);
        }
        default: return std::nullopt;
      }
      int64_t v;
      if (ing::trim_space(text).empty() || !ing::parse_long(text, v).empty()) return std::nullopt;
      return v;
    }
    default: return std::nullopt;
  }
}

std::optional<int64_t> int_at(const column_data& c, size_t r) {
  auto v = long_at(c, r);
  if (!v || *v < std::numeric_limits<int32_t>::min() || *v > std::numeric_limits<int32_t>::max())
    return std::nullopt;
  return v;
}

std::optional<double> real_at(const column_data& c, size_t r) {
  switch (c.type) {
    case ct::bool_:
    case ct::int_:
    case ct::long_:
    case ct::timespan: return static_cast<double>(c.ints[r]);
    case ct::datetime: return static_cast<double>(c.ints[r] + dotnet_epoch_offset);
    case ct::real: return c.reals[r];
    case ct::string:
    case ct::decimal: {
      double d;
      auto t = c.text_at(r);
      if (ing::trim_space(t).empty() || !ing::parse_real(t, d).empty()) return std::nullopt;
      return d;
    }
    case ct::dynamic: {
      std::string s;
      auto text = c.text_at(r);
      switch (classify_json(text, s)) {
        case json_kind::boolean: return text.find("true") != std::string_view::npos ? 1.0 : 0.0;
        case json_kind::string: text = s; break;
        case json_kind::number: break;
        default: return std::nullopt;
      }
      double d;
      if (ing::trim_space(text).empty() || !ing::parse_real(text, d).empty()) return std::nullopt;
      return d;
    }
    default: return std::nullopt;
  }
}

std::optional<bool> bool_at(const column_data& c, size_t r) {
  switch (c.type) {
    case ct::bool_:
    case ct::int_:
    case ct::long_: return c.ints[r] != 0;
    case ct::real:
      if (std::isnan(c.reals[r])) return std::nullopt;
      return c.reals[r] != 0;
    case ct::string: {
      bool b;
      auto t = c.text_at(r);
      if (ing::trim_space(t).empty() || !ing::parse_bool(t, b).empty()) return std::nullopt;
      return b;
    }
    case ct::dynamic: {
      std::string s;
      auto text = c.text_at(r);
      switch (classify_json(text, s)) {
        case json_kind::boolean: return ing::trim_space(text) == "true";
        case json_kind::number: {
          double d;
          if (!ing::parse_real(text, d).empty()) return std::nullopt;
          return d != 0;
        }
        case json_kind::string: {
          bool b;
          if (s.empty() || !ing::parse_bool(s, b).empty()) return std::nullopt;
          return b;
        }
        default: return std::nullopt;
      }
    }
    default: return std::nullopt;
  }
}

// Text of a string or a dynamic string value, for the text parsers.
std::optional<std::string_view> parseable_text(const column_data& c, size_t r, std::string& buf) {
  if (c.type == ct::string) return c.text_at(r);
  if (c.type == ct::dynamic && classify_json(c.text_at(r), buf) == json_kind::string) return std::string_view(buf);
  return std::nullopt;
}

template <class Parse>
std::optional<int64_t> ticks_at(const column_data& c, size_t r, ct same, Parse parse) {
  if (c.type == same) return c.ints[r];
  std::string buf;
  auto t = parseable_text(c, r, buf);
  int64_t ticks;
  if (!t || ing::trim_space(*t).empty() || !parse(*t, ticks).empty()) return std::nullopt;
  return ticks;
}

bool text_value(const column_data& c, size_t r, ct to, std::string& out) {
  std::string buf;
  switch (to) {
    case ct::string: append_text_of(c, r, out); return true;
    case ct::dynamic:
      // parse_json('') is null (gettype-function doc: gettype(parse_json('')) is "null").
      if (c.type == ct::string && ing::trim_space(c.text_at(r)).empty()) return false;
      out += to_json_text(c, r);
      return true;
    case ct::guid: {
      if (c.type == ct::guid) {
        out += c.text_at(r);
        return true;
      }
      auto t = parseable_text(c, r, buf);
      std::array<char, 36> g;
      if (!t || ing::trim_space(*t).empty() || !ing::parse_guid(*t, g).empty()) return false;
      out.append(g.data(), g.size());
      return true;
    }
    case ct::decimal: {
      std::string text;
      switch (c.type) {
        case ct::int_:
        case ct::long_:
        case ct::real: append_text_of(c, r, text); break;
        case ct::bool_: text = c.ints[r] ? "1" : "0"; break;
        case ct::string: text = c.text_at(r); break;
        case ct::dynamic: {
          auto k = classify_json(c.text_at(r), buf);
          if (k == json_kind::string)
            text = buf;
          else if (k == json_kind::number)
            text = c.text_at(r);
          else
            return false;
          break;
        }
        default: return false;
      }
      std::string dec;
      if (ing::trim_space(text).empty() || !ing::parse_decimal(text, dec).empty()) return false;
      out += dec;
      return true;
    }
    default: return false;
  }
}

}  // namespace

column_data convert(const column_data& c, ct to) {
  if (c.type == to) return c;
  const size_t n = c.size();
  auto is_null = [&](size_t r) { return c.is_null(r); };
  switch (to) {
    case ct::bool_: return map_rows(to, n, is_null, [&](size_t r) { return bool_at(c, r); });
    case ct::int_: return map_rows(to, n, is_null, [&](size_t r) { return int_at(c, r); });
    case ct::long_: return map_rows(to, n, is_null, [&](size_t r) { return long_at(c, r); });
    case ct::real: return map_rows(to, n, is_null, [&](size_t r) { return real_at(c, r); });
    case ct::datetime:
      return map_rows(to, n, is_null, [&](size_t r) { return ticks_at(c, r, ct::datetime, ing::parse_datetime); });
    case ct::timespan:
      return map_rows(to, n, is_null, [&](size_t r) { return ticks_at(c, r, ct::timespan, ing::parse_timespan); });
    default: {
      column_data out = vec::make(to, n);
      std::string buf;
      for (size_t r = 0; r < n; ++r) {
        buf.clear();
        if (!c.is_null(r) && text_value(c, r, to, buf))
          out.append_text(buf);
        else if (to == ct::string)
          out.append_text("");  // strings are never null: tostring(null) is ""
        else
          out.append_null();
      }
      return out;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The functions

namespace {

using rn = result_naming;
using span_args = std::span<const arg_info>;

scalar_function make_fn(std::string_view name, rn naming, std::function<bind_result(span_args)> bind,
                        std::string_view result_prefix = {}, bool per_row = false) {
  return scalar_function{name, naming, std::move(bind), result_prefix, per_row};
}

bool any_set(const std::vector<std::optional<ct>>& conv) {
  return std::any_of(conv.begin(), conv.end(), [](const auto& c) { return c.has_value(); });
}

bound_function finish(ct result, scalar_eval e, std::vector<std::optional<ct>> conv) {
  if (any_set(conv)) e = with_conversions(std::move(e), std::move(conv));
  return bound_function{result, std::move(e)};
}

scalar_function conversion(std::string_view name, ct to) {
  return make_fn(name, rn::first_argument, [to](span_args args) -> bind_result {
    if (args.size() != 1) return count_error(1, 1, args.size());
    return bound_function{to, [to](args_t a, size_t rows, eval_context&) { return expand(convert(*a[0], to), rows); }};
  });
}

// Copies row r of values[choose(r)] for every row: iff, case, coalesce.
template <class Choose>
column_data pick(ct type, size_t rows, const std::vector<const column_data*>& values, Choose choose) {
  if (storage_of(type) == storage::text) {
    column_data out = vec::make(type, rows);
    for (size_t r = 0; r < rows; ++r) {
      const column_data& v = *values[choose(r)];
      size_t vr = vec::at(v, r);
      if (v.is_null(vr) && type != ct::string)
        out.append_null();
      else
        out.append_text(v.text_at(vr));
    }
    return out;
  }
  column_data out = fixed(type, rows);
  const bool real = type == ct::real;
  for (size_t r = 0; r < rows; ++r) {
    const column_data& v = *values[choose(r)];
    size_t vr = vec::at(v, r);
    out.nulls[r] = v.nulls[vr];
    if (real)
      out.reals[r] = v.reals[vr];
    else
      out.ints[r] = v.ints[vr];
  }
  return out;
}

// The common type of args[first], args[first + step], ...: conversions recorded in `conv`.
std::variant<ct, std::string> unify(span_args args, size_t first, size_t step, std::vector<std::optional<ct>>& conv,
                                    std::string_view what) {
  std::vector<ct> types;
  for (size_t i = first; i < args.size(); i += step) types.push_back(args[i].type);
  auto t = common_type(types);
  if (!t) {
    std::string list;
    for (size_t i = 0; i < types.size(); ++i) list += (i ? ", " : "") + std::string(model::to_string(types[i]));
    return fmt::format("{} must have one type (or all be numbers), found {}; convert them with a to*() function",
                       what, list);
  }
  for (size_t i = first; i < args.size(); i += step)
    if (args[i].type != *t) conv[i] = *t;
  return *t;
}

// A bool argument (a dynamic is read as bool).
std::optional<std::string> want_bool(span_args args, size_t i, std::vector<std::optional<ct>>& conv) {
  if (args[i].type == ct::dynamic)
    conv[i] = ct::bool_;
  else if (args[i].type != ct::bool_)
    return arg_error(i + 1, "bool", args[i].type);
  return std::nullopt;
}

bool is_true(const column_data& c, size_t r) {
  size_t cr = vec::at(c, r);
  return !c.is_null(cr) && c.ints[cr] != 0;
}

bind_result bind_iff(span_args args) {
  if (args.size() != 3) return count_error(3, 3, args.size());
  std::vector<std::optional<ct>> conv(3);
  if (auto e = want_bool(args, 0, conv)) return *e;
  auto t = unify(args, 1, 1, conv, "the branches");
  if (auto* e = std::get_if<std::string>(&t)) return *e;
  ct type = std::get<ct>(t);
  return finish(type,
                [type](args_t a, size_t rows, eval_context&) {
                  std::vector<const column_data*> v{a[1], a[2]};
                  const column_data& c = *a[0];
                  // A null condition takes the else branch.
                  return pick(type, rows, v, [&](size_t r) -> size_t { return is_true(c, r) ? 0 : 1; });
                },
                std::move(conv));
}

bind_result bind_case(span_args args) {
  if (args.size() < 3 || args.size() % 2 == 0)
    return fmt::format("expects predicate, value pairs and an else value (an odd number, at least 3), found {}",
                       args.size());
  std::vector<std::optional<ct>> conv(args.size());
  for (size_t i = 0; i + 1 < args.size(); i += 2)
    if (auto e = want_bool(args, i, conv)) return *e;
  // The values: 1, 3, ..., and the else at the end.
  std::vector<ct> types;
  for (size_t i = 1; i < args.size(); i += 2) types.push_back(args[i].type);
  types.push_back(args.back().type);
  auto t = common_type(types);
  if (!t) return "the values must have one type (or all be numbers); convert them with a to*() function";
  for (size_t i = 1; i < args.size(); i += 2)
    if (args[i].type != *t) conv[i] = *t;
  if (args.back().type != *t) conv.back() = *t;
  ct type = *t;
  return finish(type,
                [type](args_t a, size_t rows, eval_context&) {
                  std::vector<const column_data*> values;
                  for (size_t i = 1; i < a.size(); i += 2) values.push_back(a[i]);
                  values.push_back(a.back());
                  const size_t pairs = a.size() / 2;
                  return pick(type, rows, values, [&](size_t r) -> size_t {
                    for (size_t p = 0; p < pairs; ++p)
                      if (is_true(*a[2 * p], r)) return p;
                    return pairs;
                  });
                },
                std::move(conv));
}

bind_result bind_coalesce(span_args args) {
  if (args.empty() || args.size() > 64) return count_error(1, 64, args.size());
  std::vector<std::optional<ct>> conv(args.size());
  auto t = unify(args, 0, 1, conv, "the arguments");
  if (auto* e = std::get_if<std::string>(&t)) return *e;
  ct type = std::get<ct>(t);
  return finish(type,
                [type](args_t a, size_t rows, eval_context&) {
                  std::vector<const column_data*> values(a.begin(), a.end());
                  const bool text = type == ct::string;
                  return pick(type, rows, values, [&](size_t r) -> size_t {
                    for (size_t i = 0; i < values.size(); ++i) {
                      const column_data& v = *values[i];
                      size_t vr = vec::at(v, r);
                      // For strings the first non-empty one: strings are never null.
                      if (text ? !v.text_at(vr).empty() : !v.is_null(vr)) return i;
                    }
                    return values.size() - 1;
                  });
                },
                std::move(conv));
}

// max_of / min_of: nulls are skipped; null only when every argument is null.
bind_result bind_extreme(bool max, span_args args) {
  if (args.empty() || args.size() > 64) return count_error(1, 64, args.size());
  std::vector<std::optional<ct>> conv(args.size());
  auto t = unify(args, 0, 1, conv, "the arguments");
  if (auto* e = std::get_if<std::string>(&t)) return *e;
  ct type = std::get<ct>(t);
  if (type == ct::bool_ || type == ct::dynamic || type == ct::guid || type == ct::decimal)
    return arg_error(1, "a number, datetime, timespan or string", type);
  return finish(type,
                [type, max](args_t a, size_t rows, eval_context&) {
                  std::vector<const column_data*> values(a.begin(), a.end());
                  auto better = [max](const auto& x, const auto& y) { return max ? y < x : x < y; };
                  return pick(type, rows, values, [&](size_t r) -> size_t {
                    size_t best = values.size() - 1;
                    bool found = false;
                    for (size_t i = 0; i < values.size(); ++i) {
                      const column_data& v = *values[i];
                      size_t vr = vec::at(v, r);
                      if (v.is_null(vr)) continue;
                      if (found) {
                        const column_data& b = *values[best];
                        size_t br = vec::at(b, r);
                        bool take;
                        switch (storage_of(type)) {
                          case storage::ints: take = better(v.ints[vr], b.ints[br]); break;
                          case storage::reals: take = better(v.reals[vr], b.reals[br]); break;
                          default: take = better(v.text_at(vr), b.text_at(br)); break;
                        }
                        if (!take) continue;
                      }
                      best = i;
                      found = true;
                    }
                    return best;
                  });
                },
                std::move(conv));
}

// isnull / isnotnull / isempty / isnotempty: strings are never null, and empty when "".
scalar_function null_test(std::string_view name, bool empty_test, bool negated) {
  return make_fn(name, rn::column_n, [empty_test, negated](span_args args) -> bind_result {
    if (args.size() != 1) return count_error(1, 1, args.size());
    return bound_function{ct::bool_, [empty_test, negated](args_t a, size_t rows, eval_context&) {
                            const column_data& c = *a[0];
                            const bool text = c.type == ct::string || (empty_test && storage_of(c.type) == storage::text);
                            column_data out = fixed(ct::bool_, rows);
                            for (size_t r = 0; r < rows; ++r) {
                              size_t cr = vec::at(c, r);
                              bool v = c.is_null(cr);
                              if (text) v = empty_test ? (v || c.text_at(cr).empty()) : false;
                              out.ints[r] = v != negated;
                            }
                            return out;
                          }};
  });
}

bind_result bind_not(span_args args) {
  if (args.size() != 1) return count_error(1, 1, args.size());
  std::vector<std::optional<ct>> conv(1);
  if (auto e = want_bool(args, 0, conv)) return *e;
  return finish(ct::bool_,
                [](args_t a, size_t rows, eval_context&) {
                  int_in x(*a[0]);
                  return map_rows(
                      ct::bool_, rows, [&](size_t r) { return x.null(r); }, [&](size_t r) { return x[r] == 0; });
                },
                std::move(conv));
}

// ---------------------------------------------------------------------------------------------
// Math

// A number argument read as real (dynamic and decimal converted).
std::optional<std::string> want_number(span_args args, size_t i, std::vector<std::optional<ct>>& conv,
                                       bool to_real) {
  ct t = args[i].type;
  if (t == ct::dynamic || t == ct::decimal || (to_real && is_integer(t)))
    conv[i] = ct::real;
  else if (!is_numeric(t))
    return arg_error(i + 1, "a number", t);
  return std::nullopt;
}

// f: double -> double, or -> std::optional<double> (nullopt → null).
template <class F>
scalar_function real_function(std::string_view name, rn naming, F f) {
  return make_fn(name, naming, [f](span_args args) -> bind_result {
    if (args.size() != 1) return count_error(1, 1, args.size());
    std::vector<std::optional<ct>> conv(1);
    if (auto e = want_number(args, 0, conv, true)) return *e;
    return finish(ct::real,
                  [f](args_t a, size_t rows, eval_context&) {
                    real_in x(*a[0]);
                    return map_rows(
                        ct::real, rows, [&](size_t r) { return x.null(r); }, [&](size_t r) { return f(x[r]); });
                  },
                  std::move(conv));
  });
}

template <class F>
scalar_function real_function2(std::string_view name, rn naming, F f) {
  return make_fn(name, naming, [f](span_args args) -> bind_result {
    if (args.size() != 2) return count_error(2, 2, args.size());
    std::vector<std::optional<ct>> conv(2);
    for (size_t i = 0; i < 2; ++i)
      if (auto e = want_number(args, i, conv, true)) return *e;
    return finish(ct::real,
                  [f](args_t a, size_t rows, eval_context&) {
                    real_in x(*a[0]), y(*a[1]);
                    return map_rows(
                        ct::real, rows, [&](size_t r) { return x.null(r) || y.null(r); },
                        [&](size_t r) { return f(x[r], y[r]); });
                  },
                  std::move(conv));
  });
}

template <class F>
scalar_function bool_of_real(std::string_view name, F f) {
  return make_fn(name, rn::column_n, [f](span_args args) -> bind_result {
    if (args.size() != 1) return count_error(1, 1, args.size());
    std::vector<std::optional<ct>> conv(1);
    if (auto e = want_number(args, 0, conv, true)) return *e;
    return finish(ct::bool_,
                  [f](args_t a, size_t rows, eval_context&) {
                    real_in x(*a[0]);
                    return map_rows(
                        ct::bool_, rows, [&](size_t r) { return x.null(r); }, [&](size_t r) { return f(x[r]); });
                  },
                  std::move(conv));
  });
}

std::optional<double> non_negative_or_null(double x, double v) {
  if (x < 0) return std::nullopt;
  return v;
}

bind_result bind_abs(span_args args) {
  if (args.size() != 1) return count_error(1, 1, args.size());
  ct t = args[0].type;
  std::vector<std::optional<ct>> conv(1);
  if (t == ct::dynamic || t == ct::decimal) conv[0] = t = ct::real;
  if (t == ct::real)
    return finish(ct::real,
                  [](args_t a, size_t rows, eval_context&) {
                    real_in x(*a[0]);
                    return map_rows(
                        ct::real, rows, [&](size_t r) { return x.null(r); }, [&](size_t r) { return std::fabs(x[r]); });
                  },
                  std::move(conv));
  if (!is_integer(t) && t != ct::timespan) return arg_error(1, "a number or a timespan", t);
  ct out = t == ct::timespan ? t : ct::long_;
  return bound_function{out, [out](args_t a, size_t rows, eval_context&) {
                          int_in x(*a[0]);
                          return map_rows(
                              out, rows, [&](size_t r) { return x.null(r); },
                              [&](size_t r) { return x[r] < 0 ? static_cast<int64_t>(0 - uint64_t(x[r])) : x[r]; });
                        }};
}

// Half away from zero, as .NET's MidpointRounding.AwayFromZero.
bind_result bind_round(span_args args) {
  if (args.empty() || args.size() > 2) return count_error(1, 2, args.size());
  ct t = args[0].type;
  std::vector<std::optional<ct>> conv(args.size());
  if (t == ct::dynamic || t == ct::decimal) conv[0] = t = ct::real;
  if (!is_numeric(t)) return arg_error(1, "a number", t);
  if (args.size() == 2) {
    if (!is_integer(args[1].type)) return arg_error(2, "an integer (the number of digits)", args[1].type);
  }
  const bool has_digits = args.size() == 2;
  if (t == ct::real)
    return finish(ct::real,
                  [has_digits](args_t a, size_t rows, eval_context&) {
                    real_in x(*a[0]);
                    column_data zero = vec::constant(ct::long_, int64_t{0});
                    int_in d(has_digits ? *a[1] : zero);
                    return map_rows(
                        ct::real, rows, [&](size_t r) { return x.null(r) || d.null(r); },
                        [&](size_t r) {
                          int64_t digits = std::clamp<int64_t>(d[r], -308, 308);
                          if (digits == 0) return std::round(x[r]);
                          double p = std::pow(10.0, static_cast<double>(digits));
                          double v = std::round(x[r] * p) / p;
                          return std::isfinite(v) ? v : x[r];
                        });
                  },
                  std::move(conv));
  return bound_function{t, [t, has_digits](args_t a, size_t rows, eval_context&) {
                          int_in x(*a[0]);
                          column_data zero = vec::constant(ct::long_, int64_t{0});
                          int_in d(has_digits ? *a[1] : zero);
                          return map_rows(
                              t, rows, [&](size_t r) { return x.null(r) || d.null(r); },
                              [&](size_t r) -> int64_t {
                                if (d[r] >= 0) return x[r];
                                if (d[r] < -18) return 0;
                                int64_t p = 1;
                                for (int64_t i = 0; i < -d[r]; ++i) p *= 10;
                                int64_t v = x[r];
                                uint64_t mag = v < 0 ? 0 - uint64_t(v) : uint64_t(v);
                                mag = (mag + uint64_t(p) / 2) / uint64_t(p) * uint64_t(p);
                                return v < 0 ? static_cast<int64_t>(0 - mag) : static_cast<int64_t>(mag);
                              });
                        }};
}

bind_result bind_ceiling(span_args args) {
  if (args.size() != 1) return count_error(1, 1, args.size());
  ct t = args[0].type;
  std::vector<std::optional<ct>> conv(1);
  if (t == ct::dynamic || t == ct::decimal) conv[0] = t = ct::real;
  if (!is_numeric(t)) return arg_error(1, "a number", t);
  if (t != ct::real)
    return bound_function{t, [](args_t a, size_t rows, eval_context&) { return expand(*a[0], rows); }};
  return finish(ct::real,
                [](args_t a, size_t rows, eval_context&) {
                  real_in x(*a[0]);
                  return map_rows(
                      ct::real, rows, [&](size_t r) { return x.null(r); }, [&](size_t r) { return std::ceil(x[r]); });
                },
                std::move(conv));
}

// bin(value, size): rounds down to a multiple of size; a size <= 0 or null gives null.
// Datetimes are binned from 0001-01-01 (kql.md §2.6), so 7d bins start on Mondays.
struct bin_int {
  int64_t anchor = 0;
  std::optional<int64_t> operator()(int64_t v, int64_t size) const {
    if (size <= 0) return std::nullopt;
    int64_t x = static_cast<int64_t>(uint64_t(v) + uint64_t(anchor));
    int64_t q = x / size;
    if (x % size != 0 && x < 0) --q;
    return static_cast<int64_t>(uint64_t(q) * uint64_t(size) - uint64_t(anchor));
  }
};
struct bin_real {
  std::optional<double> operator()(double v, double size) const {
    if (!(size > 0)) return std::nullopt;
    return std::floor(v / size) * size;
  }
};

template <class T, class F>
scalar_eval bin_eval(ct out, F f) {
  return [out, f](args_t a, size_t rows, eval_context&) {
    in_t<T> x(*a[0]), s(*a[1]);
    return map_rows(
        out, rows, [&](size_t r) { return x.null(r) || s.null(r); }, [&](size_t r) { return f(x[r], s[r]); });
  };
}

bind_result bind_bin(span_args args) {
  if (args.size() != 2) return count_error(2, 2, args.size());
  ct v = args[0].type, s = args[1].type;
  std::vector<std::optional<ct>> conv(2);
  if (v == ct::dynamic || v == ct::decimal) conv[0] = v = ct::real;
  if (is_numeric(v) && (is_numeric(s) || s == ct::decimal)) {
    if (s == ct::decimal) conv[1] = s = ct::real;
    ct out = *widest(v, s);
    if (out == ct::real) {
      if (v != ct::real) conv[0] = ct::real;
      if (s != ct::real) conv[1] = ct::real;
      return finish(ct::real, bin_eval<double>(ct::real, bin_real{}), std::move(conv));
    }
    return finish(out, bin_eval<int64_t>(out, bin_int{}), std::move(conv));
  }
  if (v == ct::timespan && s == ct::timespan) return bound_function{v, bin_eval<int64_t>(v, bin_int{})};
  if (v == ct::datetime && s == ct::timespan)
    return bound_function{v, bin_eval<int64_t>(v, bin_int{dotnet_epoch_offset})};
  if (!is_numeric(v) && !is_time(v)) return arg_error(1, "a number, datetime or timespan", args[0].type);
  return arg_error(2, v == ct::datetime || v == ct::timespan ? "a timespan" : "a number", s);
}

// bin_at(value, size, fixed_point): bins anchored at fixed_point.
bind_result bind_bin_at(span_args args) {
  if (args.size() != 3) return count_error(3, 3, args.size());
  ct v = args[0].type, s = args[1].type, f = args[2].type;
  std::vector<std::optional<ct>> conv(3);
  if (is_numeric(v) && is_numeric(s) && is_numeric(f)) {
    ct out = *widest(*widest(v, s), f);
    if (out == ct::real) {
      for (size_t i = 0; i < 3; ++i)
        if (args[i].type != ct::real) conv[i] = ct::real;
      return finish(out,
                    [](args_t a, size_t rows, eval_context&) {
                      real_in x(*a[0]), sz(*a[1]), fp(*a[2]);
                      return map_rows(
                          ct::real, rows, [&](size_t r) { return x.null(r) || sz.null(r) || fp.null(r); },
                          [&](size_t r) -> std::optional<double> {
                            auto b = bin_real{}(x[r] - fp[r], sz[r]);
                            if (!b) return std::nullopt;
                            return *b + fp[r];
                          });
                    },
                    std::move(conv));
    }
    v = out;
  } else if (!((v == ct::timespan && s == ct::timespan && f == ct::timespan) ||
               (v == ct::datetime && s == ct::timespan && f == ct::datetime))) {
    return "expects (number, number, number), (timespan, timespan, timespan) or (datetime, timespan, datetime), "
           "found (" +
           std::string(model::to_string(v)) + ", " + std::string(model::to_string(s)) + ", " +
           std::string(model::to_string(f)) + ")";
  }
  ct out = v;
  return bound_function{out, [out](args_t a, size_t rows, eval_context&) {
                          int_in x(*a[0]), sz(*a[1]), fp(*a[2]);
                          return map_rows(
                              out, rows, [&](size_t r) { return x.null(r) || sz.null(r) || fp.null(r); },
                              [&](size_t r) { return bin_int{static_cast<int64_t>(0 - uint64_t(fp[r]))}(x[r], sz[r]); });
                        }};
}

// Kusto's hash() is xxhash64 (seed 0) of the value's own bytes. Documented values pin down two
// encodings: a string hashes its UTF-8 bytes (hash("World") = 1846988464401551951) and a
// datetime its .NET ticks as 8 little-endian bytes (hash_xxhash64(datetime(2015-01-01)) =
// 1380966698541616202). The others follow the same rule (inferred): long, timespan and real
// their 8 bytes, int its 4, bool 1, a guid .NET's 16-byte layout, dynamic its JSON text.
uint64_t xxh64_le(uint64_t v, size_t bytes) {
  unsigned char b[8];
  for (size_t i = 0; i < bytes; ++i) b[i] = static_cast<unsigned char>(v >> (8 * i));
  return XXH64(b, bytes, 0);
}

uint64_t hash_guid(std::string_view g) {
  // .NET Guid.ToByteArray(): the first three groups little-endian, the last two as written.
  unsigned char b[16] = {};
  std::string hex;
  for (char ch : g)
    if (ch != '-') hex += ch;
  if (hex.size() != 32) return XXH64(g.data(), g.size(), 0);
  auto byte = [&](size_t i) { return static_cast<unsigned char>(std::stoul(hex.substr(2 * i, 2), nullptr, 16)); };
  static constexpr size_t order[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
  for (size_t i = 0; i < 16; ++i) b[i] = byte(order[i]);
  return XXH64(b, sizeof b, 0);
}

uint64_t kusto_hash(const column_data& c, size_t r) {
  switch (c.type) {
    case ct::bool_: return xxh64_le(c.ints[r] ? 1 : 0, 1);
    case ct::int_: return xxh64_le(static_cast<uint64_t>(c.ints[r]), 4);
    case ct::long_:
    case ct::timespan: return xxh64_le(static_cast<uint64_t>(c.ints[r]), 8);
    case ct::datetime: return xxh64_le(static_cast<uint64_t>(c.ints[r] + dotnet_epoch_offset), 8);
    case ct::real: {
      const double d = c.reals[r] == 0 ? 0.0 : c.reals[r];  // -0 hashes as 0
      uint64_t bits;
      std::memcpy(&bits, &d, sizeof bits);
      return xxh64_le(bits, 8);
    }
    case ct::guid: return hash_guid(c.text_at(r));
    default: {
      auto t = c.text_at(r);
      return XXH64(t.data(), t.size(), 0);
    }
  }
}

bind_result bind_hash(span_args args) {
  if (args.empty() || args.size() > 2) return count_error(1, 2, args.size());
  if (args.size() == 2 && !is_integer(args[1].type)) return arg_error(2, "an integer (the modulo)", args[1].type);
  const bool has_mod = args.size() == 2;
  return bound_function{ct::long_, [has_mod](args_t a, size_t rows, eval_context&) {
                          const column_data& c = *a[0];
                          column_data none = vec::constant(ct::long_, int64_t{0});
                          int_in mod(has_mod ? *a[1] : none);
                          return map_rows(
                              ct::long_, rows,
                              [&](size_t r) {
                                return (c.type != ct::string && c.is_null(vec::at(c, r))) || (has_mod && mod.null(r));
                              },
                              [&](size_t r) -> std::optional<int64_t> {
                                const uint64_t h = kusto_hash(c, vec::at(c, r));
                                if (!has_mod) return static_cast<int64_t>(h);
                                if (mod[r] <= 0) return std::nullopt;
                                return static_cast<int64_t>(h % uint64_t(mod[r]));
                              });
                        }};
}

// ---------------------------------------------------------------------------------------------
// dynamic

bind_result bind_array_length(span_args args) {
  if (args.size() != 1) return count_error(1, 1, args.size());
  if (args[0].type != ct::dynamic) return arg_error(1, "dynamic (an array)", args[0].type);
  return bound_function{ct::long_, [](args_t a, size_t rows, eval_context&) {
                          text_in x(*a[0]);
                          return map_rows(
                              ct::long_, rows, [&](size_t r) { return x.null(r); },
                              [&](size_t r) -> std::optional<int64_t> {
                                auto text = ing::trim_space(x[r]);
                                if (text.empty() || text[0] != '[') return std::nullopt;
                                auto j = parse_json_text(text);
                                if (!j.is_array()) return std::nullopt;
                                return static_cast<int64_t>(j.size());
                              });
                        }};
}

bind_result bind_bag_keys(span_args args) {
  if (args.size() != 1) return count_error(1, 1, args.size());
  if (args[0].type != ct::dynamic) return arg_error(1, "dynamic (a property bag)", args[0].type);
  return bound_function{ct::dynamic, [](args_t a, size_t rows, eval_context&) {
                          text_in x(*a[0]);
                          column_data out = vec::make(ct::dynamic, rows);
                          for (size_t r = 0; r < rows; ++r) {
                            auto j = x.null(r) ? json() : parse_json_text(x[r]);
                            if (!j.is_object()) {
                              out.append_null();
                              continue;
                            }
                            auto keys = json::array();
                            for (auto it = j.begin(); it != j.end(); ++it) keys.push_back(it.key());
                            out.append_text(dump_json(keys));
                          }
                          return out;
                        }};
}

json json_of(const column_data& c, size_t r) {
  if (c.is_null(r) && c.type != ct::string) return nullptr;
  if (c.type == ct::string) return std::string(c.text_at(r));  // pack keeps strings as strings
  auto j = parse_json_text(to_json_text(c, r));
  return j.is_discarded() ? json() : j;
}

bind_result bind_pack_array(span_args args) {
  if (args.empty() || args.size() > 64) return count_error(1, 64, args.size());
  return bound_function{ct::dynamic, [](args_t a, size_t rows, eval_context&) {
                          column_data out = vec::make(ct::dynamic, rows);
                          for (size_t r = 0; r < rows; ++r) {
                            auto arr = json::array();
                            for (const column_data* c : a) arr.push_back(json_of(*c, vec::at(*c, r)));
                            out.append_text(dump_json(arr));
                          }
                          return out;
                        }};
}

bind_result bind_pack(span_args args) {
  if (args.empty() || args.size() % 2 != 0) return "expects key, value pairs, found " + std::to_string(args.size()) + " arguments";
  for (size_t i = 0; i < args.size(); i += 2)
    if (args[i].type != ct::string) return arg_error(i + 1, "a string (a key)", args[i].type);
  return bound_function{ct::dynamic, [](args_t a, size_t rows, eval_context&) {
                          column_data out = vec::make(ct::dynamic, rows);
                          for (size_t r = 0; r < rows; ++r) {
                            auto bag = json::object();
                            for (size_t i = 0; i + 1 < a.size(); i += 2) {
                              const column_data& k = *a[i];
                              const column_data& v = *a[i + 1];
                              bag[std::string(k.text_at(vec::at(k, r)))] = json_of(v, vec::at(v, r));
                            }
                            out.append_text(dump_json(bag));
                          }
                          return out;
                        }};
}

// gettype(): Kusto's runtime type names. A dynamic value answers its JSON kind, numbers as
// "int" when they fit 32 bits (gettype-function doc: gettype(parse_json('1')) is "int"), else
// "long", and "real" when they have a fraction or exponent. Tributary prints whole reals without
// ".0" inside dynamic, so a whole real stored there reads back as "int"/"long".
std::string_view type_name_of_json(std::string_view text) {
  std::string s;
  switch (classify_json(text, s)) {
    case json_kind::null: return "null";
    case json_kind::string: return "string";
    case json_kind::boolean: return "bool";
    case json_kind::array: return "array";
    case json_kind::object: return "dictionary";
    case json_kind::number: {
      int64_t v;
      if (!ing::parse_long(ing::trim_space(text), v).empty()) return "real";
      return v >= std::numeric_limits<int32_t>::min() && v <= std::numeric_limits<int32_t>::max() ? "int" : "long";
    }
    default: return "string";
  }
}

bind_result bind_gettype(span_args args) {
  if (args.size() != 1) return count_error(1, 1, args.size());
  if (args[0].type != ct::dynamic) {
    // The static type is the runtime type: one answer for every row, null or not.
    std::string name(model::to_string(args[0].type));
    return bound_function{ct::string, [name](args_t, size_t rows, eval_context&) {
                            column_data out = vec::make(ct::string, rows);
                            for (size_t r = 0; r < rows; ++r) out.append_text(name);
                            return out;
                          }};
  }
  return bound_function{ct::string, [](args_t a, size_t rows, eval_context&) {
                          text_in x(*a[0]);
                          column_data out = vec::make(ct::string, rows);
                          for (size_t r = 0; r < rows; ++r) out.append_text(x.null(r) ? "null" : type_name_of_json(x[r]));
                          return out;
                        }};
}

// new_guid() and rand(): a new value for every row. One generator per thread, seeded from the
// OS once: these are not for cryptography, as Kusto's are not.
std::mt19937_64& random_engine() {
  thread_local std::mt19937_64 engine{std::random_device{}()};
  return engine;
}

bind_result bind_new_guid(span_args args) {
  if (!args.empty()) return count_error(0, 0, args.size());
  return bound_function{ct::guid, [](args_t, size_t rows, eval_context&) {
                          column_data out = vec::make(ct::guid, rows);
                          auto& engine = random_engine();
                          for (size_t r = 0; r < rows; ++r) {
                            uint64_t hi = engine(), lo = engine();
                            // RFC 4122 version 4: the version nibble 4, the variant bits 10.
                            hi = (hi & ~0xF000ULL) | 0x4000ULL;
                            lo = (lo & ~(0xC000ULL << 48)) | (0x8000ULL << 48);
                            out.append_text(fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", hi >> 32, (hi >> 16) & 0xFFFF,
                                                        hi & 0xFFFF, lo >> 48, lo & 0xFFFFFFFFFFFFULL));
                          }
                          return out;
                        }};
}

bind_result bind_rand(span_args args) {
  if (args.size() > 1) return count_error(0, 1, args.size());
  if (args.empty())
    return bound_function{ct::real, [](args_t, size_t rows, eval_context&) {
                            column_data out = fixed(ct::real, rows);
                            std::uniform_real_distribution<double> unit(0.0, 1.0);
                            for (size_t r = 0; r < rows; ++r) out.reals[r] = unit(random_engine());
                            return out;
                          }};
  if (!is_integer(args[0].type)) return arg_error(1, "an integer (the range: rand(n) is from 0 to n-1)", args[0].type);
  return bound_function{ct::long_, [](args_t a, size_t rows, eval_context&) {
                          int_in n(*a[0]);
                          return map_rows(
                              ct::long_, rows, [&](size_t r) { return n.null(r) || n[r] <= 0; },
                              [&](size_t r) {
                                std::uniform_int_distribution<int64_t> pick(0, n[r] - 1);
                                return pick(random_engine());
                              });
                        }};
}

}  // namespace

std::vector<scalar_function> core_functions() {
  std::vector<scalar_function> f;
  // Conversions: named after their argument (tostring(d.host) → d_host).
  for (auto [name, to] : std::initializer_list<std::pair<std::string_view, ct>>{
           {"tostring", ct::string},     {"toint", ct::int_},         {"tolong", ct::long_},
           {"todouble", ct::real},       {"toreal", ct::real},        {"todecimal", ct::decimal},
           {"tobool", ct::bool_},        {"toboolean", ct::bool_},    {"todatetime", ct::datetime},
           {"totimespan", ct::timespan}, {"totime", ct::timespan},    {"toguid", ct::guid},
           {"todynamic", ct::dynamic},   {"parse_json", ct::dynamic}, {"parsejson", ct::dynamic}})
    f.push_back(conversion(name, to));

  f.push_back(make_fn("iff", rn::column_n, bind_iff));
  f.push_back(make_fn("iif", rn::column_n, bind_iff));
  f.push_back(make_fn("case", rn::column_n, bind_case));
  f.push_back(make_fn("coalesce", rn::column_n, bind_coalesce));
  f.push_back(make_fn("max_of", rn::column_n, [](span_args a) { return bind_extreme(true, a); }));
  f.push_back(make_fn("min_of", rn::column_n, [](span_args a) { return bind_extreme(false, a); }));
  f.push_back(null_test("isnull", false, false));
  f.push_back(null_test("isnotnull", false, true));
  f.push_back(null_test("isempty", true, false));
  f.push_back(null_test("isnotempty", true, true));
  f.push_back(make_fn("not", rn::column_n, bind_not));

  // Math: Kusto names most after their first argument (Functions.cs ResultNameKind).
  f.push_back(make_fn("abs", rn::first_argument, bind_abs));
  f.push_back(make_fn("round", rn::first_argument, bind_round));
  f.push_back(make_fn("ceiling", rn::first_argument, bind_ceiling));
  f.push_back(make_fn("bin", rn::first_argument, bind_bin));
  f.push_back(make_fn("floor", rn::first_argument, bind_bin));
  f.push_back(make_fn("bin_at", rn::first_argument, bind_bin_at));
  f.push_back(real_function("log", rn::first_argument, [](double x) { return non_negative_or_null(x, std::log(x)); }));
  f.push_back(
      real_function("log10", rn::first_argument, [](double x) { return non_negative_or_null(x, std::log10(x)); }));
  f.push_back(real_function("log2", rn::first_argument, [](double x) { return non_negative_or_null(x, std::log2(x)); }));
  f.push_back(real_function("sqrt", rn::first_argument, [](double x) { return non_negative_or_null(x, std::sqrt(x)); }));
  f.push_back(real_function("exp", rn::first_argument, [](double x) { return std::exp(x); }));
  f.push_back(real_function("exp2", rn::first_argument, [](double x) { return std::exp2(x); }));
  f.push_back(real_function("exp10", rn::first_argument, [](double x) { return std::pow(10.0, x); }));
  f.push_back(real_function("cos", rn::first_argument, [](double x) { return std::cos(x); }));
  f.push_back(real_function("sin", rn::first_argument, [](double x) { return std::sin(x); }));
  f.push_back(real_function("tan", rn::first_argument, [](double x) { return std::tan(x); }));
  f.push_back(real_function("acos", rn::first_argument, [](double x) { return std::acos(x); }));
  f.push_back(real_function("asin", rn::first_argument, [](double x) { return std::asin(x); }));
  f.push_back(real_function("atan", rn::first_argument, [](double x) { return std::atan(x); }));
  f.push_back(real_function("degrees", rn::column_n, [](double x) { return x * 180.0 / M_PI; }));
  f.push_back(real_function("radians", rn::column_n, [](double x) { return x * M_PI / 180.0; }));
  f.push_back(real_function("sign", rn::column_n, [](double x) { return x > 0 ? 1.0 : x < 0 ? -1.0 : x; }));
  f.push_back(real_function2("pow", rn::first_argument, [](double x, double y) { return std::pow(x, y); }));
  f.push_back(real_function2("atan2", rn::first_argument, [](double y, double x) { return std::atan2(y, x); }));
  f.push_back(bool_of_real("isnan", [](double x) { return std::isnan(x); }));
  f.push_back(bool_of_real("isinf", [](double x) { return std::isinf(x); }));
  f.push_back(bool_of_real("isfinite", [](double x) { return std::isfinite(x); }));
  f.push_back(make_fn("pi", rn::column_n, [](span_args args) -> bind_result {
    if (!args.empty()) return count_error(0, 0, args.size());
    return bound_function{ct::real, [](args_t, size_t rows, eval_context&) {
                            return expand(vec::constant(ct::real, M_PI), rows);
                          }};
  }));
  f.push_back(make_fn("hash", rn::column_n, bind_hash));
  f.push_back(make_fn("hash_xxhash64", rn::column_n, bind_hash));

  f.push_back(make_fn("gettype", rn::function_and_argument, bind_gettype, "type"));
  f.push_back(make_fn("new_guid", rn::column_n, bind_new_guid, {}, true));
  f.push_back(make_fn("rand", rn::column_n, bind_rand, {}, true));

  f.push_back(make_fn("array_length", rn::column_n, bind_array_length));
  f.push_back(make_fn("bag_keys", rn::column_n, bind_bag_keys));
  f.push_back(make_fn("pack_array", rn::column_n, bind_pack_array));
  f.push_back(make_fn("pack", rn::column_n, bind_pack));
  f.push_back(make_fn("bag_pack", rn::column_n, bind_pack));
  return f;
}

}  // namespace tributary::query::detail
