// The scalar function registry and the operators. Conversions, conditionals, math and dynamic
// helpers are in functions_core.cpp; strings, regex functions and time in functions_text_time.cpp.
//
// Every eval is a loop over whole columns, instantiated per representation of its arguments
// (int64_t, double, string_view) at bind time: nothing inside a loop dispatches on a type.
//
// Choices where Kusto is not documented (or Tributary simplifies), kept in one place:
// - Case-insensitive operators fold ASCII letters only; Kusto folds Unicode.
// - `has` and its family: a term is a maximal run of ASCII letters and digits, where every byte
//   >= 0x80 counts as a letter (so UTF-8 words are terms). The needle is matched as a substring
//   that must begin at a term start when the needle begins with a term character, and end at a
//   term end when it ends with one. For a one-term needle that is whole-term matching; for
//   "a-b" it finds the terms a, b joined by '-'. hasprefix checks only the start, hassuffix only
//   the end. An empty needle matches.
// - Comparisons and string operators accept dynamic operands: a dynamic is converted to the
//   other side's type (to real for a number, to string when both are dynamic).
// - Arithmetic with a dynamic operand converts it to real; decimal arithmetic is not supported.

#include <re2/re2.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <unordered_map>
#include <unordered_set>

#include "query/functions_internal.hpp"

namespace tributary::query {
namespace {

using namespace detail;
using ct = column_type;

constexpr double int64_limit = 9223372036854775808.0;  // 2^63

std::optional<int64_t> real_to_ticks(double v) {
  if (!(v > -int64_limit && v < int64_limit)) return std::nullopt;  // also NaN
  return static_cast<int64_t>(v);
}

scalar_function make_fn(std::string_view name, result_naming naming,
                        std::function<bind_result(std::span<const arg_info>)> bind) {
  return scalar_function{name, naming, std::move(bind)};
}

// ---------------------------------------------------------------------------------------------
// Arithmetic

template <class A, class B, class F>
column_data binary_loop(const column_data& a, const column_data& b, size_t rows, ct out_type, const F& f) {
  in_t<A> x(a);
  in_t<B> y(b);
  return map_rows(
      out_type, rows, [&](size_t r) { return x.null(r) || y.null(r); }, [&](size_t r) { return f(x[r], y[r]); });
}

// Instantiates `make<A, B>()` for the representations of two numeric (or time) types.
template <class Make>
scalar_eval numeric2(ct a, ct b, const Make& make) {
  bool ra = a == ct::real, rb = b == ct::real;
  if (ra && rb) return make.template operator()<double, double>();
  if (ra) return make.template operator()<double, int64_t>();
  if (rb) return make.template operator()<int64_t, double>();
  return make.template operator()<int64_t, int64_t>();
}

template <class F>
scalar_eval binary_eval(ct a, ct b, ct out, F f) {
  return numeric2(a, b, [&]<class A, class B>() -> scalar_eval {
    return [out, f](args_t args, size_t rows, eval_context&) {
      return binary_loop<A, B>(*args[0], *args[1], rows, out, f);
    };
  });
}

// Integer operations wrap on overflow (as .NET's unchecked arithmetic) instead of being UB.
struct add_op {
  int64_t operator()(int64_t a, int64_t b) const { return static_cast<int64_t>(uint64_t(a) + uint64_t(b)); }
  template <class A, class B>
  double operator()(A a, B b) const { return double(a) + double(b); }
};
struct sub_op {
  int64_t operator()(int64_t a, int64_t b) const { return static_cast<int64_t>(uint64_t(a) - uint64_t(b)); }
  template <class A, class B>
  double operator()(A a, B b) const { return double(a) - double(b); }
};
struct mul_op {
  int64_t operator()(int64_t a, int64_t b) const { return static_cast<int64_t>(uint64_t(a) * uint64_t(b)); }
  template <class A, class B>
  double operator()(A a, B b) const { return double(a) * double(b); }
};
// Integer division truncates toward zero; by zero it is null (reals follow IEEE).
struct div_op {
  std::optional<int64_t> operator()(int64_t a, int64_t b) const {
    if (b == 0 || (b == -1 && a == std::numeric_limits<int64_t>::min())) return std::nullopt;
    return a / b;
  }
  template <class A, class B>
  double operator()(A a, B b) const { return double(a) / double(b); }
};
// Kusto's % is never negative: -14 % 12 = 10, 14 % -12 = 2.
struct mod_op {
  std::optional<int64_t> operator()(int64_t a, int64_t b) const {
    if (b == 0) return std::nullopt;
    if (b == -1) return 0;
    int64_t r = a % b;
    if (r < 0) r += b < 0 ? -b : b;
    return r;
  }
  template <class A, class B>
  double operator()(A a, B b) const {
    double r = std::fmod(double(a), double(b));
    if (r < 0) r += std::fabs(double(b));
    return r;
  }
};
// timespan * number and timespan / number: ticks scaled, truncated, null when out of range.
struct scale_op {
  std::optional<int64_t> operator()(int64_t ticks, int64_t n) const {
    return static_cast<int64_t>(uint64_t(ticks) * uint64_t(n));
  }
  std::optional<int64_t> operator()(int64_t ticks, double n) const { return real_to_ticks(double(ticks) * n); }
};
struct scale_rev_op {
  template <class N>
  std::optional<int64_t> operator()(N n, int64_t ticks) const { return scale_op{}(ticks, n); }
};
struct shrink_op {
  std::optional<int64_t> operator()(int64_t ticks, int64_t n) const { return div_op{}(ticks, n); }
  std::optional<int64_t> operator()(int64_t ticks, double n) const {
    if (n == 0) return std::nullopt;
    return real_to_ticks(double(ticks) / n);
  }
};
struct ratio_op {
  double operator()(int64_t a, int64_t b) const { return double(a) / double(b); }
};

bind_result bind_arith(char op, std::span<const arg_info> args) {
  if (args.size() != 2) return count_error(2, 2, args.size());
  ct a = args[0].type, b = args[1].type;
  std::vector<std::optional<ct>> conv(2);
  // A dynamic operand is read as a number.
  if (a == ct::dynamic && (is_numeric(b) || b == ct::dynamic)) conv[0] = a = ct::real;
  if (b == ct::dynamic && is_numeric(a)) conv[1] = b = ct::real;
  auto wrap = [&](ct out, scalar_eval e) -> bind_result {
    if (conv[0] || conv[1]) e = with_conversions(std::move(e), conv);
    return bound_function{out, std::move(e)};
  };
  if (is_numeric(a) && is_numeric(b)) {
    // int with int gives long (kql.md §2.9); any real makes a real.
    ct out = (a == ct::real || b == ct::real) ? ct::real : ct::long_;
    switch (op) {
      case '+': return wrap(out, binary_eval(a, b, out, add_op{}));
      case '-': return wrap(out, binary_eval(a, b, out, sub_op{}));
      case '*': return wrap(out, binary_eval(a, b, out, mul_op{}));
      case '/': return wrap(out, binary_eval(a, b, out, div_op{}));
      default: return wrap(out, binary_eval(a, b, out, mod_op{}));
    }
  }
  using I = int64_t;
  auto ints = [](ct out, auto f) -> bind_result {
    return bound_function{out, [out, f](args_t args, size_t rows, eval_context&) {
                            return binary_loop<I, I>(*args[0], *args[1], rows, out, f);
                          }};
  };
  if (op == '-' && a == ct::datetime && b == ct::datetime) return ints(ct::timespan, sub_op{});
  if ((op == '+' || op == '-') && a == ct::datetime && b == ct::timespan)
    return op == '+' ? ints(ct::datetime, add_op{}) : ints(ct::datetime, sub_op{});
  if (op == '+' && a == ct::timespan && b == ct::datetime) return ints(ct::datetime, add_op{});
  if (a == ct::timespan && b == ct::timespan) {
    switch (op) {
      case '+': return ints(ct::timespan, add_op{});
      case '-': return ints(ct::timespan, sub_op{});
      case '/': return ints(ct::real, ratio_op{});
      case '%': return ints(ct::timespan, mod_op{});
      default: break;
    }
  }
  if (a == ct::timespan && is_numeric(b) && (op == '*' || op == '/')) {
    if (op == '*') return wrap(ct::timespan, binary_eval(a, b, ct::timespan, scale_op{}));
    return wrap(ct::timespan, binary_eval(a, b, ct::timespan, shrink_op{}));
  }
  if (op == '*' && is_numeric(a) && b == ct::timespan)
    return wrap(ct::timespan, binary_eval(a, b, ct::timespan, scale_rev_op{}));
  return std::string("cannot apply '") + op + "' to " + std::string(model::to_string(args[0].type)) + " and " +
         std::string(model::to_string(args[1].type)) +
         (args[0].type == ct::decimal || args[1].type == ct::decimal
              ? "; decimal arithmetic is not supported, convert with todouble()"
              : "; convert one side with a to*() function");
}

bind_result bind_unary(bool minus, std::span<const arg_info> args) {
  if (args.size() != 1) return count_error(1, 1, args.size());
  ct t = args[0].type;
  if (!is_numeric(t) && t != ct::timespan)
    return arg_error(1, "a number or a timespan", t);
  if (!minus)
    return bound_function{t, [](args_t args, size_t rows, eval_context&) { return expand(*args[0], rows); }};
  if (t == ct::real)
    return bound_function{t, [](args_t args, size_t rows, eval_context&) {
                            real_in x(*args[0]);
                            return map_rows(
                                ct::real, rows, [&](size_t r) { return x.null(r); }, [&](size_t r) { return -x[r]; });
                          }};
  // -int is long, as int arithmetic is (Kusto.Language types -EpisodeId as long).
  if (t == ct::int_) t = ct::long_;
  return bound_function{t, [t](args_t args, size_t rows, eval_context&) {
                          int_in x(*args[0]);
                          return map_rows(
                              t, rows, [&](size_t r) { return x.null(r); },
                              [&](size_t r) { return static_cast<int64_t>(0 - uint64_t(x[r])); });
                        }};
}

// ---------------------------------------------------------------------------------------------
// Comparisons

enum class cmp_op : uint8_t { lt, le, gt, ge, eq, ne };

// Kusto's null rules (kql.md §2.2): `null == x` is false and `null != x` true when x is not
// null; null == null, null != null and any ordering with a null are null.
template <cmp_op C, class A, class B>
column_data compare_loop(const column_data& a, const column_data& b, size_t rows) {
  in_t<A> x(a);
  in_t<B> y(b);
  column_data out = fixed(ct::bool_, rows);
  for (size_t r = 0; r < rows; ++r) {
    bool na = x.null(r), nb = y.null(r);
    if (na || nb) {
      if constexpr (C == cmp_op::eq || C == cmp_op::ne) {
        if (na && nb)
          out.nulls[r] = 1;
        else
          out.ints[r] = C == cmp_op::ne;
      } else {
        out.nulls[r] = 1;
      }
      continue;
    }
    auto u = x[r];
    auto v = y[r];
    bool res;
    if constexpr (C == cmp_op::lt) res = u < v;
    if constexpr (C == cmp_op::le) res = u <= v;
    if constexpr (C == cmp_op::gt) res = u > v;
    if constexpr (C == cmp_op::ge) res = u >= v;
    if constexpr (C == cmp_op::eq) res = u == v;
    if constexpr (C == cmp_op::ne) res = u != v;
    out.ints[r] = res;
  }
  return out;
}

template <cmp_op C>
scalar_eval compare_eval(ct a, ct b) {
  if (storage_of(a) == storage::text)
    return [](args_t args, size_t rows, eval_context&) {
      return compare_loop<C, std::string_view, std::string_view>(*args[0], *args[1], rows);
    };
  return numeric2(a, b, [&]<class A, class B>() -> scalar_eval {
    return [](args_t args, size_t rows, eval_context&) { return compare_loop<C, A, B>(*args[0], *args[1], rows); };
  });
}

bind_result bind_compare(cmp_op op, std::span<const arg_info> args) {
  if (args.size() != 2) return count_error(2, 2, args.size());
  ct a = args[0].type, b = args[1].type;
  std::vector<std::optional<ct>> conv(2);
  auto dyn_target = [](ct other) { return is_numeric(other) || other == ct::decimal ? ct::real : other; };
  if (a == ct::dynamic && b == ct::dynamic) {
    conv[0] = conv[1] = a = b = ct::string;
  } else if (a == ct::dynamic) {
    conv[0] = a = dyn_target(b);
  } else if (b == ct::dynamic) {
    conv[1] = b = dyn_target(a);
  }
  // decimal is compared as real.
  if (a == ct::decimal && (is_numeric(b) || b == ct::decimal)) conv[0] = a = ct::real;
  if (b == ct::decimal && is_numeric(a)) conv[1] = b = ct::real;
  bool ok = (is_numeric(a) && is_numeric(b)) || (a == b && a != ct::dynamic && a != ct::decimal);
  // Strings have no order in Kusto's < <= > >= (KS106): strcmp() compares them.
  if (ok && a == ct::string && op != cmp_op::eq && op != cmp_op::ne)
    return "strings cannot be compared with <, <=, > or >=; use strcmp(a, b) < 0, or ==";
  if (!ok)
    return "cannot compare " + std::string(model::to_string(args[0].type)) + " with " +
           std::string(model::to_string(args[1].type)) + "; convert one side, e.g. with tostring(), todatetime() or tolong()";
  scalar_eval e;
  switch (op) {
    case cmp_op::lt: e = compare_eval<cmp_op::lt>(a, b); break;
    case cmp_op::le: e = compare_eval<cmp_op::le>(a, b); break;
    case cmp_op::gt: e = compare_eval<cmp_op::gt>(a, b); break;
    case cmp_op::ge: e = compare_eval<cmp_op::ge>(a, b); break;
    case cmp_op::eq: e = compare_eval<cmp_op::eq>(a, b); break;
    case cmp_op::ne: e = compare_eval<cmp_op::ne>(a, b); break;
  }
  if (conv[0] || conv[1]) e = with_conversions(std::move(e), conv);
  return bound_function{ct::bool_, std::move(e)};
}

// ---------------------------------------------------------------------------------------------
// and / or: three-valued logic.

bind_result bind_logic(bool is_and, std::span<const arg_info> args) {
  if (args.size() != 2) return count_error(2, 2, args.size());
  std::vector<std::optional<ct>> conv(2);
  for (size_t i = 0; i < 2; ++i) {
    if (args[i].type == ct::dynamic)
      conv[i] = ct::bool_;
    else if (args[i].type != ct::bool_)
      return arg_error(i + 1, "bool", args[i].type);
  }
  scalar_eval e = [is_and](args_t args, size_t rows, eval_context&) {
    int_in x(*args[0]), y(*args[1]);
    column_data out = fixed(ct::bool_, rows);
    // The dominant value: false for and, true for or.
    const int64_t dom = is_and ? 0 : 1;
    for (size_t r = 0; r < rows; ++r) {
      bool na = x.null(r), nb = y.null(r);
      if ((!na && x[r] == dom) || (!nb && y[r] == dom))
        out.ints[r] = dom;
      else if (na || nb)
        out.nulls[r] = 1;
      else
        out.ints[r] = 1 - dom;
    }
    return out;
  };
  if (conv[0] || conv[1]) e = with_conversions(std::move(e), conv);
  return bound_function{ct::bool_, std::move(e)};
}

// ---------------------------------------------------------------------------------------------
// String operators

bool term_char(char c) {
  auto u = static_cast<unsigned char>(c);
  return u >= 0x80 || (u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z');
}

// `needle` inside `hay` at a term start (when `at_start`) and a term end (when `at_end`).
bool find_bounded(std::string_view hay, std::string_view needle, bool at_start, bool at_end) {
  if (needle.empty()) return true;
  at_start = at_start && term_char(needle.front());
  at_end = at_end && term_char(needle.back());
  for (size_t pos = hay.find(needle); pos != std::string_view::npos; pos = hay.find(needle, pos + 1)) {
    if (at_start && pos > 0 && term_char(hay[pos - 1])) continue;
    size_t end = pos + needle.size();
    if (at_end && end < hay.size() && term_char(hay[end])) continue;
    return true;
  }
  return false;
}

enum class str_op : uint8_t { equals, has, hasprefix, hassuffix, contains, startswith, endswith };

template <str_op O>
bool string_match(std::string_view hay, std::string_view needle) {
  if constexpr (O == str_op::equals) return hay == needle;
  if constexpr (O == str_op::has) return find_bounded(hay, needle, true, true);
  if constexpr (O == str_op::hasprefix) return find_bounded(hay, needle, true, false);
  if constexpr (O == str_op::hassuffix) return find_bounded(hay, needle, false, true);
  if constexpr (O == str_op::contains) return hay.find(needle) != std::string_view::npos;
  if constexpr (O == str_op::startswith) return hay.starts_with(needle);
  if constexpr (O == str_op::endswith) return hay.ends_with(needle);
}

// Both arguments are strings here (others were converted with tostring()), so never null.
template <str_op O, bool CaseSensitive, bool Negated>
column_data string_loop(const column_data& a, const column_data& b, size_t rows) {
  text_in x(a), y(b);
  column_data out = fixed(ct::bool_, rows);
  const bool needle_constant = b.size() == 1;
  std::string hay_lower, needle_lower;
  if (!CaseSensitive && needle_constant) append_lower(y[0], needle_lower);
  // A column's text is lowered in one pass (offsets stay valid), not row by row.
  const bool lower_all = !CaseSensitive && O != str_op::equals && a.size() == rows && rows > 1;
  if (lower_all) append_lower(a.text, hay_lower);
  for (size_t r = 0; r < rows; ++r) {
    bool v;
    if constexpr (CaseSensitive) {
      v = string_match<O>(x[r], y[r]);
    } else if constexpr (O == str_op::equals) {
      v = equals_ci(x[r], y[r]);
    } else {
      std::string_view hay;
      if (lower_all) {
        hay = std::string_view(hay_lower).substr(a.offsets[r], a.offsets[r + 1] - a.offsets[r]);
      } else {
        hay_lower.clear();
        append_lower(x[r], hay_lower);
        hay = hay_lower;
      }
      if (!needle_constant) {
        needle_lower.clear();
        append_lower(y[r], needle_lower);
      }
      v = string_match<O>(hay, needle_lower);
    }
    out.ints[r] = v != Negated;
  }
  return out;
}

template <str_op O, bool CaseSensitive, bool Negated>
scalar_function string_operator(std::string_view name) {
  return make_fn(name, result_naming::column_n, [name](std::span<const arg_info> args) -> bind_result {
    if (args.size() != 2) return count_error(2, 2, args.size());
    // Kusto's string operators take strings (a dynamic value is read as its text); a number on
    // either side is a type error (KS106), not an implicit tostring().
    for (const auto& a : args)
      if (a.type != ct::string && a.type != ct::dynamic)
        return "the operator '" + std::string(name) + "' is not defined for " + std::string(model::to_string(args[0].type)) +
               " and " + std::string(model::to_string(args[1].type)) + "; convert the value with tostring()";
    std::vector<std::optional<ct>> conv(2);
    for (size_t i = 0; i < 2; ++i)
      if (args[i].type != ct::string) conv[i] = ct::string;
    scalar_eval e = [](args_t args, size_t rows, eval_context&) {
      return string_loop<O, CaseSensitive, Negated>(*args[0], *args[1], rows);
    };
    if (conv[0] || conv[1]) e = with_conversions(std::move(e), conv);
    return bound_function{ct::bool_, std::move(e)};
  });
}

// `matches regex`: RE2 (Kusto documents Rust regex syntax, which RE2 matches closely: no
// backreferences, no lookaround). A match anywhere in the text counts.
bind_result bind_matches(std::span<const arg_info> args) {
  if (args.size() != 2) return count_error(2, 2, args.size());
  if (args[1].type != ct::string) return arg_error(2, "a string (the regular expression)", args[1].type);
  std::vector<std::optional<ct>> conv(2);
  if (args[0].type != ct::string) conv[0] = ct::string;
  std::shared_ptr<const re2::RE2> fixed_re;
  if (auto pattern = constant_text(args[1])) {
    auto re = std::make_shared<re2::RE2>(*pattern, re2::RE2::Quiet);
    if (!re->ok())
      return "invalid regular expression '" + *pattern + "': " + re->error() +
             " (the syntax is RE2's: no backreferences or lookaround)";
    fixed_re = std::move(re);
  }
  scalar_eval e = [fixed_re](args_t args, size_t rows, eval_context& ctx) {
    text_in x(*args[0]), p(*args[1]);
    column_data out = fixed(ct::bool_, rows);
    std::shared_ptr<const re2::RE2> re = fixed_re;
    std::string current;
    for (size_t r = 0; r < rows; ++r) {
      if (!fixed_re && (!re || current != p[r])) {
        current = p[r];
        re = std::make_shared<re2::RE2>(current, re2::RE2::Quiet);
        if (!re->ok()) {
          ctx.error = "matches regex: invalid regular expression '" + current + "': " + re->error();
          return out;
        }
      }
      auto text = x[r];
      out.ints[r] = re2::RE2::PartialMatch(re2::StringPiece(text.data(), text.size()), *re);
    }
    return out;
  };
  if (conv[0]) e = with_conversions(std::move(e), conv);
  return bound_function{ct::bool_, std::move(e)};
}

// ---------------------------------------------------------------------------------------------
// in, !in, in~, !in~, has_any, has_all

// Looks strings up by string_view without a copy per row.
struct text_hash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// The constant elements of a list, dynamic arrays expanded: each as a one-row column.
struct list_elements {
  std::vector<column_data> constants;
  std::vector<size_t> columns;  // indexes into args of non-constant elements
};

void add_json_element(const json& j, list_elements& out) {
  column_data c;
  if (j.is_string()) {
    c = vec::constant(ct::string, j.get<std::string>());
  } else if (j.is_boolean()) {
    c = vec::constant(ct::bool_, j.get<bool>());
  } else if (j.is_number_integer()) {
    c = vec::constant(ct::long_, j.get<int64_t>());
  } else if (j.is_number()) {
    c = vec::constant(ct::real, j.get<double>());
  } else if (j.is_null()) {
    return;
  } else {
    c = vec::constant(ct::dynamic, dump_json(j));
  }
  out.constants.push_back(std::move(c));
}

std::variant<list_elements, std::string> gather_elements(std::span<const arg_info> args) {
  list_elements out;
  for (size_t i = 1; i < args.size(); ++i) {
    if (!args[i].constant) {
      out.columns.push_back(i);
      continue;
    }
    if (args[i].type == ct::dynamic && std::holds_alternative<std::string>(*args[i].constant)) {
      auto j = parse_json_text(std::get<std::string>(*args[i].constant));
      if (j.is_array()) {
        for (const auto& e : j) add_json_element(e, out);
        continue;
      }
      if (!j.is_discarded()) {
        add_json_element(j, out);
        continue;
      }
    }
    if (std::holds_alternative<std::monostate>(*args[i].constant)) continue;  // null never equals
    out.constants.push_back(vec::constant(args[i].type, *args[i].constant));
  }
  return out;
}

bind_result bind_in(bool case_sensitive, bool negated, std::span<const arg_info> args) {
  if (args.size() < 2) return "expects a value and at least one list element, found " + std::to_string(args.size()) + " arguments";
  auto gathered = gather_elements(args);
  if (auto* err = std::get_if<std::string>(&gathered)) return *err;
  auto& elems = std::get<list_elements>(gathered);
  ct left = args[0].type;
  if (left == ct::dynamic) {
    // Read the dynamic as the list's type: `d.level in ("a", "b")`.
    ct first = !elems.constants.empty() ? elems.constants[0].type
               : !elems.columns.empty() ? args[elems.columns[0]].type
                                        : ct::string;
    left = is_numeric(first) ? ct::real : first == ct::dynamic ? ct::string : first;
  }
  if (!case_sensitive) left = ct::string;
  const bool text = storage_of(left) == storage::text;
  // Checks every element's type against the left side and brings it to the comparison form.
  auto compatible = [&](ct t) { return is_numeric(left) ? is_numeric(t) : (t == left || t == ct::dynamic || !case_sensitive); };
  std::unordered_set<std::string, text_hash, std::equal_to<>> text_set;
  std::unordered_set<int64_t> int_set;
  std::vector<double> real_set;
  for (auto& c : elems.constants) {
    if (!compatible(c.type))
      return "list element of type " + std::string(model::to_string(c.type)) + " cannot be compared with " +
             std::string(model::to_string(args[0].type)) + "; convert it, e.g. with tostring() or tolong()";
    if (text) {
      column_data s = convert(c, left);
      std::string v(s.text_at(0));
      if (!case_sensitive) {
        std::string lower;
        append_lower(v, lower);
        v = std::move(lower);
      }
      text_set.insert(std::move(v));
    } else if (c.is_null(0)) {
      continue;  // null == x is never true
    } else if (c.type == ct::real) {
      real_set.push_back(c.reals[0]);
    } else if (left == ct::real) {
      real_set.push_back(double(c.ints[0]));
    } else {
      int_set.insert(c.ints[0]);  // same representation: integers, or the left's own type
    }
  }
  std::vector<size_t> columns = elems.columns;
  for (size_t i : columns)
    if (!compatible(args[i].type))
      return arg_error(i + 1, std::string("comparable with ") + std::string(model::to_string(args[0].type)),
                       args[i].type);
  std::vector<std::optional<ct>> conv(args.size());
  if (args[0].type != left) conv[0] = left;
  for (size_t i : columns)
    if (args[i].type != left && !(is_numeric(left) && is_numeric(args[i].type))) conv[i] = left;
  scalar_eval e = [=](args_t a, size_t rows, eval_context&) {
    column_data out = fixed(ct::bool_, rows);
    const column_data& l = *a[0];
    std::string lower;
    for (size_t r = 0; r < rows; ++r) {
      size_t lr = vec::at(l, r);
      bool hit = false;
      if (l.is_null(lr)) {
        hit = false;  // `in` is an or of ==: null == x is false
      } else if (text) {
        std::string_view v = l.text_at(lr);
        if (!case_sensitive) {
          lower.clear();
          append_lower(v, lower);
          v = lower;
        }
        hit = text_set.find(v) != text_set.end();
        for (size_t i = 0; !hit && i < columns.size(); ++i) {
          const column_data& c = *a[columns[i]];
          hit = case_sensitive ? c.text_at(vec::at(c, r)) == v : equals_ci(c.text_at(vec::at(c, r)), v);
        }
      } else {
        double dv = l.type == ct::real ? l.reals[lr] : double(l.ints[lr]);
        hit = (l.type != ct::real && int_set.count(l.ints[lr]) > 0) ||
              std::find(real_set.begin(), real_set.end(), dv) != real_set.end();
        for (size_t i = 0; !hit && i < columns.size(); ++i) {
          const column_data& c = *a[columns[i]];
          size_t cr = vec::at(c, r);
          if (c.is_null(cr)) continue;
          if (c.type == ct::real || l.type == ct::real)
            hit = (c.type == ct::real ? c.reals[cr] : double(c.ints[cr])) == dv;
          else
            hit = c.ints[cr] == l.ints[lr];
        }
      }
      out.ints[r] = hit != negated;
    }
    return out;
  };
  bool any_conv = std::any_of(conv.begin(), conv.end(), [](const auto& c) { return c.has_value(); });
  if (any_conv) e = with_conversions(std::move(e), conv);
  return bound_function{ct::bool_, std::move(e)};
}

bind_result bind_has_list(bool all, std::span<const arg_info> args) {
  if (args.size() < 2) return "expects a value and at least one term, found " + std::to_string(args.size()) + " arguments";
  auto gathered = gather_elements(args);
  auto& elems = std::get<list_elements>(gathered);
  std::vector<std::string> needles;
  for (auto& c : elems.constants) {
    std::string lower;
    append_lower(convert(c, ct::string).text_at(0), lower);
    needles.push_back(std::move(lower));
  }
  std::vector<size_t> columns = elems.columns;
  std::vector<std::optional<ct>> conv(args.size());
  if (args[0].type != ct::string) conv[0] = ct::string;
  for (size_t i : columns)
    if (args[i].type != ct::string) conv[i] = ct::string;
  scalar_eval e = [=](args_t a, size_t rows, eval_context&) {
    column_data out = fixed(ct::bool_, rows);
    const column_data& left = *a[0];
    text_in x(left);
    std::string lowered, needle;
    const bool lower_all = left.size() == rows && rows > 1;
    if (lower_all) append_lower(left.text, lowered);
    for (size_t r = 0; r < rows; ++r) {
      std::string_view hay;
      if (lower_all) {
        hay = std::string_view(lowered).substr(left.offsets[r], left.offsets[r + 1] - left.offsets[r]);
      } else {
        lowered.clear();
        append_lower(x[r], lowered);
        hay = lowered;
      }
      // has_any of nothing is false, has_all of nothing true.
      bool result = all;
      for (const auto& n : needles) {
        if (find_bounded(hay, n, true, true) != all) {
          result = !all;
          break;
        }
      }
      for (size_t i = 0; result == all && i < columns.size(); ++i) {
        needle.clear();
        const column_data& c = *a[columns[i]];
        append_lower(c.text_at(vec::at(c, r)), needle);
        if (find_bounded(hay, needle, true, true) != all) result = !all;
      }
      out.ints[r] = result;
    }
    return out;
  };
  bool any_conv = std::any_of(conv.begin(), conv.end(), [](const auto& c) { return c.has_value(); });
  if (any_conv) e = with_conversions(std::move(e), conv);
  return bound_function{ct::bool_, std::move(e)};
}

// ---------------------------------------------------------------------------------------------
// between / !between (both ends inclusive)

template <class T, bool HighIsSpan>
column_data between_loop(const column_data& v, const column_data& lo, const column_data& hi, size_t rows,
                         bool negated) {
  in_t<T> x(v), l(lo), h(hi);
  return map_rows(
      ct::bool_, rows, [&](size_t r) { return x.null(r) || l.null(r) || h.null(r); },
      [&](size_t r) {
        auto low = l[r];
        auto high = h[r];
        if constexpr (HighIsSpan) high = static_cast<int64_t>(uint64_t(low) + uint64_t(high));
        return (x[r] >= low && x[r] <= high) != negated;
      });
}

bind_result bind_between(bool negated, std::span<const arg_info> args) {
  if (args.size() != 3) return count_error(3, 3, args.size());
  ct v = args[0].type, lo = args[1].type, hi = args[2].type;
  std::vector<std::optional<ct>> conv(3);
  if (v == ct::dynamic && is_numeric(lo)) conv[0] = v = ct::real;
  if (is_numeric(v) && is_numeric(lo) && is_numeric(hi)) {
    bool real = v == ct::real || lo == ct::real || hi == ct::real;
    scalar_eval e;
    if (real) {
      for (size_t i = 0; i < 3; ++i)
        if (args[i].type != ct::real) conv[i] = ct::real;
      e = [negated](args_t a, size_t rows, eval_context&) {
        return between_loop<double, false>(*a[0], *a[1], *a[2], rows, negated);
      };
    } else {
      e = [negated](args_t a, size_t rows, eval_context&) {
        return between_loop<int64_t, false>(*a[0], *a[1], *a[2], rows, negated);
      };
    }
    if (conv[0] || conv[1] || conv[2]) e = with_conversions(std::move(e), conv);
    return bound_function{ct::bool_, std::move(e)};
  }
  if ((v == ct::datetime && lo == ct::datetime && (hi == ct::datetime || hi == ct::timespan)) ||
      (v == ct::timespan && lo == ct::timespan && hi == ct::timespan)) {
    bool span = v == ct::datetime && hi == ct::timespan;
    return bound_function{ct::bool_, [negated, span](args_t a, size_t rows, eval_context&) {
                            return span ? between_loop<int64_t, true>(*a[0], *a[1], *a[2], rows, negated)
                                        : between_loop<int64_t, false>(*a[0], *a[1], *a[2], rows, negated);
                          }};
  }
  return "cannot test " + std::string(model::to_string(args[0].type)) + " between " +
         std::string(model::to_string(lo)) + " and " + std::string(model::to_string(hi)) +
         "; the value and both ends must be numbers, datetimes (the upper end may be a timespan) or timespans";
}

// ---------------------------------------------------------------------------------------------
// Dynamic access: d.key, d['key'], d[0], d[-1]. The result stays JSON: a string value keeps its
// quotes. A missing key, an index out of range or a JSON null give null.

template <class Step>
column_data access_loop(const column_data& d, size_t rows, Step step) {
  column_data out = vec::make(ct::dynamic, rows);
  text_in x(d);
  for (size_t r = 0; r < rows; ++r) {
    if (x.null(r)) {
      out.append_null();
      continue;
    }
    auto j = parse_json_text(x[r]);
    const json* sub = j.is_discarded() ? nullptr : step(j, r);
    if (!sub || sub->is_null())
      out.append_null();
    else
      out.append_text(dump_json(*sub));
  }
  return out;
}

const json* json_member(const json& j, std::string_view key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

const json* json_index(const json& j, int64_t i) {
  if (!j.is_array()) return nullptr;
  auto n = static_cast<int64_t>(j.size());
  if (i < 0) i += n;
  if (i < 0 || i >= n) return nullptr;
  return &j[static_cast<size_t>(i)];
}

bind_result bind_access(bool member, std::span<const arg_info> args) {
  if (args.size() != 2) return count_error(2, 2, args.size());
  if (args[0].type != ct::dynamic)
    return arg_error(1, "dynamic (convert with parse_json() to read members and elements)", args[0].type);
  ct k = args[1].type;
  if (k == ct::string)
    return bound_function{ct::dynamic, [](args_t a, size_t rows, eval_context&) {
                            text_in key(*a[1]);
                            return access_loop(*a[0], rows, [&](const json& j, size_t r) {
                              return json_member(j, key[r]);
                            });
                          }};
  if (!member && is_integer(k))
    return bound_function{ct::dynamic, [](args_t a, size_t rows, eval_context&) {
                            int_in idx(*a[1]);
                            return access_loop(*a[0], rows, [&](const json& j, size_t r) {
                              return idx.null(r) ? nullptr : json_index(j, idx[r]);
                            });
                          }};
  return arg_error(2, member ? "a string key" : "a string key or an integer index", k);
}

std::vector<scalar_function> operator_functions() {
  using rn = result_naming;
  std::vector<scalar_function> f;
  for (char op : {'+', '-', '*', '/', '%'}) {
    static constexpr std::string_view names[] = {"+", "-", "*", "/", "%"};
    std::string_view name = names[std::string_view("+-*/%").find(op)];
    f.push_back(make_fn(name, rn::column_n, [op](std::span<const arg_info> a) { return bind_arith(op, a); }));
  }
  f.push_back(make_fn("-u", rn::column_n, [](std::span<const arg_info> a) { return bind_unary(true, a); }));
  f.push_back(make_fn("+u", rn::column_n, [](std::span<const arg_info> a) { return bind_unary(false, a); }));
  const std::pair<std::string_view, cmp_op> comparisons[] = {{"<", cmp_op::lt},  {"<=", cmp_op::le},
                                                             {">", cmp_op::gt},  {">=", cmp_op::ge},
                                                             {"==", cmp_op::eq}, {"!=", cmp_op::ne}};
  for (auto [name, op] : comparisons)
    f.push_back(make_fn(name, rn::column_n, [op](std::span<const arg_info> a) { return bind_compare(op, a); }));
  f.push_back(make_fn("and", rn::column_n, [](std::span<const arg_info> a) { return bind_logic(true, a); }));
  f.push_back(make_fn("or", rn::column_n, [](std::span<const arg_info> a) { return bind_logic(false, a); }));

  using so = str_op;
  f.push_back(string_operator<so::equals, false, false>("=~"));
  f.push_back(string_operator<so::equals, false, true>("!~"));
#define TRIBUTARY_STRING_OPERATOR(op, name)                          \
  f.push_back(string_operator<so::op, false, false>(name));          \
  f.push_back(string_operator<so::op, false, true>("!" name));       \
  f.push_back(string_operator<so::op, true, false>(name "_cs"));     \
  f.push_back(string_operator<so::op, true, true>("!" name "_cs"));
  TRIBUTARY_STRING_OPERATOR(has, "has")
  TRIBUTARY_STRING_OPERATOR(hasprefix, "hasprefix")
  TRIBUTARY_STRING_OPERATOR(hassuffix, "hassuffix")
  TRIBUTARY_STRING_OPERATOR(contains, "contains")
  TRIBUTARY_STRING_OPERATOR(startswith, "startswith")
  TRIBUTARY_STRING_OPERATOR(endswith, "endswith")
#undef TRIBUTARY_STRING_OPERATOR
  f.push_back(make_fn("matches regex", rn::column_n, bind_matches));

  f.push_back(make_fn("in", rn::column_n, [](std::span<const arg_info> a) { return bind_in(true, false, a); }));
  f.push_back(make_fn("!in", rn::column_n, [](std::span<const arg_info> a) { return bind_in(true, true, a); }));
  f.push_back(make_fn("in~", rn::column_n, [](std::span<const arg_info> a) { return bind_in(false, false, a); }));
  f.push_back(make_fn("!in~", rn::column_n, [](std::span<const arg_info> a) { return bind_in(false, true, a); }));
  f.push_back(make_fn("has_any", rn::column_n, [](std::span<const arg_info> a) { return bind_has_list(false, a); }));
  f.push_back(make_fn("has_all", rn::column_n, [](std::span<const arg_info> a) { return bind_has_list(true, a); }));
  f.push_back(make_fn("between", rn::column_n, [](std::span<const arg_info> a) { return bind_between(false, a); }));
  f.push_back(make_fn("!between", rn::column_n, [](std::span<const arg_info> a) { return bind_between(true, a); }));
  f.push_back(make_fn(".member", rn::column_n, [](std::span<const arg_info> a) { return bind_access(true, a); }));
  f.push_back(make_fn("[]", rn::column_n, [](std::span<const arg_info> a) { return bind_access(false, a); }));
  return f;
}

// Operator names are bound by the binder, never typed by users as function calls.
bool is_operator_name(std::string_view name) {
  static const std::unordered_set<std::string_view> names = [] {
    std::unordered_set<std::string_view> s;
    for (const auto& f : operator_functions()) s.insert(f.name);
    return s;
  }();
  return names.count(name) > 0;
}

const std::unordered_map<std::string_view, scalar_function>& registry() {
  static const auto map = [] {
    std::unordered_map<std::string_view, scalar_function> m;
    for (auto&& list : {operator_and_core_functions(), text_and_time_functions()})
      for (const auto& f : list) m.emplace(f.name, f);  // the first definition of a name wins
    return m;
  }();
  return map;
}

}  // namespace

std::vector<scalar_function> operator_and_core_functions() {
  auto f = operator_functions();
  for (auto& c : detail::core_functions()) f.push_back(std::move(c));
  return f;
}

const scalar_function* find_scalar_function(std::string_view name) {
  const auto& r = registry();
  auto it = r.find(name);
  return it == r.end() ? nullptr : &it->second;
}

std::vector<std::string_view> scalar_function_names() {
  std::vector<std::string_view> names;
  for (const auto& [name, f] : registry())
    if (!is_operator_name(name)) names.push_back(name);
  std::sort(names.begin(), names.end());
  return names;
}

namespace vec {

model::column_data nulls(model::column_type type, size_t rows) {
  model::column_data c = make(type, rows);
  for (size_t r = 0; r < rows; ++r) {
    if (type == model::column_type::string)
      c.append_text("");
    else
      c.append_null();
  }
  return c;
}

model::column_data make(model::column_type type, size_t rows) {
  model::column_data c;
  c.type = type;
  c.nulls.reserve(rows);
  switch (detail::storage_of(type)) {
    case detail::storage::ints: c.ints.reserve(rows); break;
    case detail::storage::reals: c.reals.reserve(rows); break;
    case detail::storage::text: c.offsets.reserve(rows + 1); break;
  }
  return c;
}

model::column_data constant(model::column_type type, const model::value& v) {
  model::column_data c = make(type, 1);
  append_value(c, v);
  return c;
}

void append_value(model::column_data& c, const model::value& v) {
  const auto type = c.type;
  switch (detail::storage_of(type)) {
    case detail::storage::ints:
      if (auto* b = std::get_if<bool>(&v))
        c.append_int(*b ? 1 : 0);
      else if (auto* i = std::get_if<int64_t>(&v))
        c.append_int(*i);
      else if (auto* d = std::get_if<double>(&v))
        c.append_int(static_cast<int64_t>(*d));
      else
        c.append_null();
      break;
    case detail::storage::reals:
      if (auto* d = std::get_if<double>(&v))
        c.append_real(*d);
      else if (auto* i = std::get_if<int64_t>(&v))
        c.append_real(static_cast<double>(*i));
      else
        c.append_null();
      break;
    case detail::storage::text:
      if (auto* s = std::get_if<std::string>(&v))
        c.append_text(*s);
      else if (type == model::column_type::string)
        c.append_text("");
      else
        c.append_null();
      break;
  }
}

}  // namespace vec

}  // namespace tributary::query
