#pragma once
/// The syntax tree of a KQL query, as parser.cpp builds it from text and binder.cpp checks and
/// types it. Plain data: names are as written (quoted names unquoted), literals already decoded
/// (datetime ticks since the Unix epoch, timespan ticks, strings unescaped), every node with the
/// position of its first token for errors.
///
/// Grammar covered (Kusto's; precedence from grammar/Kql.g4, tightest first):
///   unary + -; string operators (=~ !~ has contains startswith endswith hasprefix hassuffix
///   matches regex, their ! and _cs forms); * / %; + -; < > <= >=; == != <> in !in in~ !in~
///   has_any has_all between !between; and; or.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "model/types.hpp"

namespace tributary::query {

/// Where a node starts: byte offset into the text, and 1-based line and column (columns count
/// bytes).
struct position {
  uint32_t offset = 0;
  uint32_t line = 1;
  uint32_t column = 1;
};

struct expr;
struct tabular;
using expr_ptr = std::shared_ptr<const expr>;
using tabular_ptr = std::shared_ptr<const tabular>;

enum class unary_op : uint8_t { negate, plus };

enum class binary_op : uint8_t {
  add, subtract, multiply, divide, modulo,
  less, less_equal, greater, greater_equal,
  equal, not_equal,  // `<>` is not_equal
  and_, or_,
  // string operators; `_cs` = case-sensitive, `not_` = the `!` form
  equal_ci, not_equal_ci,  // =~ !~
  has, not_has, has_cs, not_has_cs,
  hasprefix, not_hasprefix, hasprefix_cs, not_hasprefix_cs,
  hassuffix, not_hassuffix, hassuffix_cs, not_hassuffix_cs,
  contains, not_contains, contains_cs, not_contains_cs,
  startswith, not_startswith, startswith_cs, not_startswith_cs,
  endswith, not_endswith, endswith_cs, not_endswith_cs,
  matches_regex,
};

enum class list_op : uint8_t { in, not_in, in_ci, not_in_ci, has_any, has_all };

enum class expr_kind : uint8_t {
  literal,   ///< `value`/`type`; a typed null (`int(null)`, `datetime(null)`) has monostate value
  name,      ///< `name`: a column, a let name or a table (the binder decides); `[ 'x' ]` unquoted
  member,    ///< `operand.name` (dynamic access, `d.a`)
  index,     ///< `operand[args[0]]` (`d['x']`, `d[0]`)
  unary,     ///< `unary` applied to `operand`
  binary,    ///< `left binary right` (left = args[0], right = args[1])
  list,      ///< `args[0] list_op (args[1..])`; a tabular list is `subquery`
  between,   ///< `args[0] between (args[1] .. args[2])`; `negated` for !between
  call,      ///< `name(args)`; a `*` argument is an expr of kind star
  star,      ///< `*` as a function argument (arg_max(x, *), count(*)?)
  tabular,   ///< a tabular expression in scalar position (`x in (T | project y)`, toscalar(T))
};

struct expr {
  expr_kind kind = expr_kind::literal;
  position pos;
  // literal
  model::value value;
  model::column_type type = model::column_type::long_;
  // name, member, call
  std::string name;
  // unary/binary/list
  unary_op unary = unary_op::negate;
  binary_op binary = binary_op::add;
  list_op list = list_op::in;
  bool negated = false;  ///< between: !between
  expr_ptr operand;      ///< unary, member, index
  std::vector<expr_ptr> args;
  tabular_ptr subquery;  ///< kind tabular, or a list whose right side is `(T | ...)`
  /// Named arguments of a call, e.g. `bin_at(...)`; kept for functions that take them.
  std::vector<std::pair<std::string, expr_ptr>> named_args;
};

/// `name = expr`, or just `expr` (name empty); `(a, b) = arg_max(...)` style multiple names are
/// in `names`.
struct named_expr {
  std::string name;
  std::vector<std::string> names;
  expr_ptr value;
  position pos;
};

struct sort_key {
  expr_ptr value;
  bool ascending = false;           ///< Kusto's default: desc
  std::optional<bool> nulls_first;  ///< unset: Kusto's default for the direction
};

enum class op_kind : uint8_t {
  where,            ///< predicate (also `filter`)
  project,          ///< exprs
  project_away,     ///< patterns (names, `*` wildcards)
  project_keep,     ///< patterns
  project_rename,   ///< renames: new = old
  project_reorder,  ///< patterns, with per-pattern asc/desc ignored
  extend,           ///< exprs
  summarize,        ///< exprs = aggregates, by
  top,              ///< count, keys (one key)
  sort,             ///< keys (also `order`)
  take,             ///< count (also `limit`)
  distinct,         ///< exprs (names or `*` as a star expr)
  count,            ///< (no arguments)
  union_,           ///< legs; options: kind, withsource, isfuzzy
  join,             ///< right, options: kind; join_on
  lookup,           ///< right, options: kind; join_on
  as,               ///< alias
  make_series,      ///< exprs = aggregates (each may have a default), series_*, by
  render,           ///< alias = chart kind, options = with(...) properties as text
  getschema,
  mv_expand,        ///< exprs (the columns to expand, named or not)
  serialize,        ///< exprs (optional new columns)
  parse,            ///< predicate = the text; parse_pattern; options: kind (simple, regex, relaxed)
  parse_where,      ///< as parse, keeping only the rows the pattern matches
};

/// One piece of a `parse ... with` pattern: text to find, `*` (skip), or a column to extract
/// (`name` or `name:type`).
struct parse_element {
  enum class kind : uint8_t { text, wildcard, column } what = kind::text;
  std::string text;  ///< text: the literal (a regular expression for kind=regex); column: its name
  std::optional<model::column_type> type;  ///< column: `:type` when written (string otherwise)
  position pos;
};

/// A `join`/`lookup` condition: `on a` (left == right == "a") or `$left.a == $right.b`.
struct join_key {
  std::string left;
  std::string right;
  position pos;
};

struct tab_op {
  op_kind kind = op_kind::where;
  position pos;
  uint32_t end = 0;                   ///< offset just past the operator's last token
  expr_ptr predicate;                 ///< where
  std::vector<named_expr> exprs;      ///< project/extend/summarize/distinct/make-series/mv-expand
  std::vector<named_expr> by;         ///< summarize, make-series
  std::vector<std::string> patterns;  ///< project-away/keep/reorder
  std::vector<std::pair<std::string, std::string>> renames;  ///< project-rename: {new, old}
  std::vector<sort_key> keys;         ///< sort, top
  expr_ptr count;                     ///< take, top
  std::vector<tabular_ptr> legs;      ///< union (besides the piped input)
  tabular_ptr right;                  ///< join, lookup
  std::vector<join_key> join_on;
  /// Operator options as written: `kind=leftouter`, `withsource=Src`, `isfuzzy=true`,
  /// `hint.strategy=...`; for render, `with (title="x")` properties. Values as text.
  std::vector<std::pair<std::string, std::string>> options;
  std::string alias;  ///< as NAME; render CHART
  // make-series: `on series_on from series_from to series_to step series_step`
  expr_ptr series_on, series_from, series_to, series_step;
  /// make-series: `agg() default=value`, one entry per exprs entry (null when not given)
  std::vector<expr_ptr> series_defaults;
  std::vector<parse_element> parse_pattern;  ///< parse, parse-where
};

enum class source_kind : uint8_t {
  name,       ///< a table or tabular let: `name`
  datatable,  ///< schema + values (row-major, literals or `int(null)` style typed nulls)
  print,      ///< exprs
  range,      ///< range_column from range_from to range_to step range_step
  union_,     ///< `union [options] legs` as the first operator
  subquery,   ///< `( tabular )`
};

struct tabular {
  source_kind source = source_kind::name;
  position pos;
  std::string name;                     ///< name; range: the column
  std::vector<model::column> schema;    ///< datatable
  std::vector<expr_ptr> values;         ///< datatable, row-major
  std::vector<named_expr> exprs;        ///< print
  expr_ptr range_from, range_to, range_step;
  std::vector<tabular_ptr> legs;        ///< union
  std::vector<std::pair<std::string, std::string>> options;  ///< union options
  tabular_ptr inner;                    ///< subquery
  std::vector<tab_op> ops;              ///< `| op` in order
};

/// `set name[=value];`
struct set_statement {
  std::string name;
  std::string value;  ///< as written (unquoted if a string); "true" when absent
  position pos;
};

/// `let name = value;` — a scalar (`scalar`) or a tabular expression (`table`), decided by the
/// parser where the syntax says (a pipe, datatable, print, range, union, a parenthesised
/// query); a bare name or other expression is scalar, and the binder reads a bare name that
/// names a table or tabular let as tabular.
struct let_statement {
  std::string name;
  expr_ptr scalar;
  tabular_ptr table;
  position pos;
};

struct query_ast {
  std::vector<set_statement> sets;
  std::vector<let_statement> lets;  ///< in order; each sees the ones before
  tabular_ptr body;                 ///< the last statement
  /// The text parsed (positions index it): the binder cuts the part of a plan that runs next to
  /// each table shard out of it (query/plan.hpp, shard_part).
  std::string text;
};

}  // namespace tributary::query
