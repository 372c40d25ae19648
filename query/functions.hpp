#pragma once
/// Kusto's scalar functions: how each is typed (bind) and how it runs over a column of values
/// at a time (eval). The binder looks functions up by name; the executor calls `eval` once per
/// chunk (about a thousand rows), never per row through this table.
///
/// Values at execution are model::column_data (model/batch.hpp): bool, int, long, datetime,
/// timespan in `ints`; real in `reals`; string, decimal, guid, dynamic as text (dynamic as JSON
/// text). A null row has nulls[i] == 1. Strings are never null in Kusto: a string column's rows
/// are all non-null ("" stands for missing), and a function returning string never sets a null.

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "model/batch.hpp"

namespace tributary::query {

/// An argument as the binder knows it before running: its type, and its value when it is a
/// constant (a literal, a let scalar, now(), or an expression of constants).
struct arg_info {
  model::column_type type = model::column_type::long_;
  /// Set for constants; monostate inside for a typed null (`int(null)`).
  std::optional<model::value> constant;
};

/// How an unnamed `project`/`extend`/`summarize by` expression of this function is named
/// (Binder_Projection.cs): after its first argument (`tostring(d.host)` → `d_host`), after the
/// function and its first argument (`strlen(Message)` → `strlen_Message`), or `Column1`...
enum class result_naming : uint8_t { column_n, first_argument, function_and_argument };

/// What the executor hands `eval`: the query's fixed instant (now() and ago() use one value per
/// query), and a place for errors that end the query (e.g. an invalid regex pattern). Functions
/// that cannot convert a value return null for that row, as Kusto does, never an error.
struct eval_context {
  int64_t now_ticks = 0;  ///< ticks since the Unix epoch
  std::optional<std::string> error;
};

/// Runs a function over `rows` rows. `args[i]` has `rows` values, or exactly 1 when the
/// argument is a constant (read row 0 for every row). Returns `rows` values of the bound type.
using scalar_eval = std::function<model::column_data(std::span<const model::column_data* const> args, size_t rows,
                                                     eval_context& ctx)>;

/// A function bound to its argument types.
struct bound_function {
  model::column_type result = model::column_type::long_;
  scalar_eval eval;
};

struct scalar_function {
  std::string_view name;
  result_naming naming = result_naming::column_n;
  /// Types `args` (the binder has already checked nothing else): the bound function, or an
  /// error message that completes "<name>(): ...", e.g. "argument 1 must be a string, found
  /// long" or "expects 2 or 3 arguments, found 1".
  std::function<std::variant<bound_function, std::string>(std::span<const arg_info> args)> bind;
  /// With function_and_argument naming: the word the name starts with when it is not the
  /// function's own (Kusto names gettype(Value) type_Value); empty: the function's name.
  std::string_view result_prefix;
  /// A new value on every call (rand(), new_guid()): never folded into a constant, even when
  /// every argument is one.
  bool per_row = false;
};

/// The function named `name` (case-sensitive, as Kusto), aliases included (iif/iff,
/// toreal/todouble, todynamic/parse_json/parsejson, floor/bin...). nullptr when unknown.
///
/// Operators are functions too, so that every type rule and null rule lives here. The binder
/// binds them by these names (never reachable from query text: they are not identifiers):
///   binary  "+" "-" "*" "/" "%" "<" "<=" ">" ">=" "==" "!=" "and" "or"
///           "=~" "!~" "has" "!has" "has_cs" "!has_cs" "hasprefix" "!hasprefix" "hasprefix_cs"
///           "!hasprefix_cs" "hassuffix" "!hassuffix" "hassuffix_cs" "!hassuffix_cs" "contains"
///           "!contains" "contains_cs" "!contains_cs" "startswith" "!startswith"
///           "startswith_cs" "!startswith_cs" "endswith" "!endswith" "endswith_cs"
///           "!endswith_cs" "matches regex"   (args: left, right)
///   unary   "-u" "+u"                                      (args: operand)
///   lists   "in" "!in" "in~" "!in~" "has_any" "has_all"    (args: left, then every element)
///   range   "between" "!between"                          (args: value, low, high)
///   access  ".member" (args: dynamic, string constant key); "[]" (args: dynamic, long or
///           string index: d[0], d[-1], d['x'])
const scalar_function* find_scalar_function(std::string_view name);
/// Every scalar function name users can write, for "did you mean" suggestions.
std::vector<std::string_view> scalar_function_names();

/// The function lists the registry is made of, one per source file (functions.cpp holds the
/// registry, the operators, conversions, conditionals, math and dynamic; functions_text_time.cpp
/// strings, regex and datetime/timespan functions).
std::vector<scalar_function> operator_and_core_functions();
std::vector<scalar_function> text_and_time_functions();

/// Row `row` of `c` as one JSON value, the way Kusto puts a value into a dynamic (make_list,
/// pack, make-series arrays): null as null, numbers and bools as JSON, reals without a trailing
/// ".0" (NaN and infinities as the strings "NaN"/"Infinity"), datetimes as strings with seven
/// fraction digits ("2017-01-01T00:00:00.0000000Z"), timespans, strings and guids as strings,
/// a dynamic cell as its own JSON.
std::string dynamic_text(const model::column_data& c, size_t row);
/// JSON text re-printed as Kusto prints a dynamic value (keys in their order, 118.0 as 118);
/// text that is not JSON comes back as a JSON string of itself.
std::string normalize_dynamic(std::string_view json_text);

/// Helpers for writing functions and the executor alike.
namespace vec {
/// `rows` nulls of `type` (strings: `rows` empty strings, never null).
model::column_data nulls(model::column_type type, size_t rows);
/// An empty column of `type` with room for `rows`.
model::column_data make(model::column_type type, size_t rows);
/// Row `r` of `c`, honouring the constant convention (size 1 → row 0).
inline size_t at(const model::column_data& c, size_t r) { return c.size() == 1 ? 0 : r; }
/// One constant value as a 1-row column of `type`.
model::column_data constant(model::column_type type, const model::value& v);
/// Appends `v` (a result cell) to `c`, converted to c's type (null where it has none; a
/// string's null is "").
void append_value(model::column_data& c, const model::value& v);
}  // namespace vec

}  // namespace tributary::query
