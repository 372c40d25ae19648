#pragma once
/// Private to query/functions*.cpp (and aggregates_sketch.cpp, for dynamic text): the column readers, loops and conversions the scalar
/// functions are built from. Nothing here is part of the engine's interface.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "query/functions.hpp"

namespace tributary::query::detail {

using model::column_data;
using model::column_type;
using args_t = std::span<const column_data* const>;
using bind_result = std::variant<bound_function, std::string>;

/// Readers over one argument. A constant (size 1) has stride 0, so the loops read row r
/// without a branch per row.
struct int_in {
  const int64_t* v;
  const uint8_t* n;
  size_t s;
  explicit int_in(const column_data& c) : v(c.ints.data()), n(c.nulls.data()), s(c.size() == 1 ? 0 : 1) {}
  int64_t operator[](size_t r) const { return v[r * s]; }
  bool null(size_t r) const { return n[r * s] != 0; }
};
struct real_in {
  const double* v;
  const uint8_t* n;
  size_t s;
  explicit real_in(const column_data& c) : v(c.reals.data()), n(c.nulls.data()), s(c.size() == 1 ? 0 : 1) {}
  double operator[](size_t r) const { return v[r * s]; }
  bool null(size_t r) const { return n[r * s] != 0; }
};
struct text_in {
  const column_data* c;
  size_t s;
  explicit text_in(const column_data& col) : c(&col), s(col.size() == 1 ? 0 : 1) {}
  std::string_view operator[](size_t r) const { return c->text_at(r * s); }
  bool null(size_t r) const { return c->nulls[r * s] != 0; }
};
/// The reader for a value representation: int64_t (ints), double (reals), string_view (text).
template <class T>
using in_t = std::conditional_t<std::is_same_v<T, int64_t>, int_in,
                                std::conditional_t<std::is_same_v<T, double>, real_in, text_in>>;

enum class storage : uint8_t { ints, reals, text };
storage storage_of(column_type t);
bool is_integer(column_type t);  ///< int, long
bool is_numeric(column_type t);  ///< int, long, real
/// int < long < real; nullopt unless both are numeric.
std::optional<column_type> widest(column_type a, column_type b);
/// The type every argument converts to: all equal, or all numeric (the widest). nullopt else.
std::optional<column_type> common_type(std::span<const column_type> types);

/// A size-1 (constant) column repeated to `rows` rows; other columns unchanged.
column_data expand(column_data c, size_t rows);

/// `rows` zero values, none null, for writes through out.ints[r] / out.reals[r].
column_data fixed(column_type t, size_t rows);

/// Runs `f(r)` for each row: it returns the value (int64_t/bool/double) or std::optional of one
/// (nullopt → null). Rows where `skip_null(r)` are null without calling f.
template <class F, class N>
column_data map_rows(column_type out_type, size_t rows, N skip_null, F f) {
  column_data out = fixed(out_type, rows);
  const bool real = out_type == column_type::real;
  for (size_t r = 0; r < rows; ++r) {
    if (skip_null(r)) {
      out.nulls[r] = 1;
      continue;
    }
    auto v = f(r);
    using V = decltype(v);
    if constexpr (std::is_same_v<V, std::optional<int64_t>> || std::is_same_v<V, std::optional<double>> ||
                  std::is_same_v<V, std::optional<bool>>) {
      if (!v) {
        out.nulls[r] = 1;
        continue;
      }
      if (real)
        out.reals[r] = static_cast<double>(*v);
      else
        out.ints[r] = static_cast<int64_t>(*v);
    } else {
      if (real)
        out.reals[r] = static_cast<double>(v);
      else
        out.ints[r] = static_cast<int64_t>(v);
    }
  }
  return out;
}

/// Converts a column to `to` with the to*() functions' rules (null when a value does not
/// convert; tostring never null). The size is kept, so a constant stays a constant.
column_data convert(const column_data& c, column_type to);
/// Wraps `inner` so that argument i is first converted to conversions[i] (when set).
scalar_eval with_conversions(scalar_eval inner, std::vector<std::optional<column_type>> conversions);

/// tostring() of one non-null value appended to `out`.
void append_text_of(const column_data& c, size_t row, std::string& out);
/// Kusto's text of a real: shortest round-trip digits, .NET's layout ("2", "1.5", "1E+15",
/// "NaN", "Infinity").
std::string format_real(double v);
/// Kusto's text of a timespan: [-][d.]hh:mm:ss[.fffffff].
std::string format_timespan(int64_t ticks);

/// Dynamic values are JSON text; every function that parses one uses ordered_json, so a property
/// bag keeps its keys in their input order, as Kusto prints them.
using json = nlohmann::ordered_json;
/// Parses JSON text: a discarded value (is_discarded()) when it is not JSON.
json parse_json_text(std::string_view text);
/// The text of a dynamic value as Kusto prints it: compact, keys in order, whole reals without
/// ".0" (118.0 prints 118, as .NET does), NaN and infinities as the strings "NaN", "Infinity".
std::string dump_json(const json& j);
void append_dump_json(const json& j, std::string& out);
/// A JSON string literal of `s` (quotes and escapes), appended to `out`.
void append_json_quoted(std::string_view s, std::string& out);
/// The JSON number of a real as Kusto writes it inside a dynamic value.
void append_json_real(double v, std::string& out);

/// A dynamic value's kind, read from its JSON text.
enum class json_kind : uint8_t { null, string, number, boolean, array, object, invalid };
/// Classifies JSON text; for a string, `str` receives the unescaped value.
json_kind classify_json(std::string_view text, std::string& str);
/// The JSON text of one non-null value of any type (what todynamic() makes of it).
std::string to_json_text(const column_data& c, size_t row);

/// ASCII lower case (Kusto folds Unicode; see functions.cpp for the choice).
void append_lower(std::string_view s, std::string& out);
bool equals_ci(std::string_view a, std::string_view b);

/// "argument N must be X, found Y" and friends, completing "<name>(): ...".
std::string arg_error(size_t index, std::string_view expected, column_type found);
std::string count_error(size_t min, size_t max, size_t found);

/// The constant of argument `a` as text / integer, when it is one.
std::optional<std::string> constant_text(const arg_info& a);
std::optional<int64_t> constant_int(const arg_info& a);

/// Function lists of functions_core.cpp (conversions, conditionals, math, dynamic), gathered
/// into operator_and_core_functions() by functions.cpp.
std::vector<scalar_function> core_functions();

}  // namespace tributary::query::detail
