#pragma once
/// The KQL parser: query text → query_ast (query/ast.hpp). Pure, no I/O; linear in the text,
/// nesting capped so that hostile input can neither crash nor exhaust the stack.
///
/// Accepted: `set name[=value];` and `let name = <scalar or tabular>;` statements, then one
/// tabular expression (a trailing ';' is allowed; `//` comments anywhere). Sources: a table
/// name, datatable, print, range, union, `( tabular )`. Operators: where/filter, project,
/// project-away/-keep/-rename/-reorder, extend, summarize, top, sort/order, take/limit,
/// distinct, count, union, join, lookup, as, make-series, render, getschema, mv-expand,
/// serialize. Expressions with Kusto's precedence (ast.hpp); literals decoded (timespans and
/// datetimes in 100-ns ticks, datetimes since the Unix epoch; dynamic as compact JSON text).
///
/// Representation choices a reader of the tree must know:
/// - `where Name = value` is syntactically valid Kusto (the binder then wants a bool): the
///   op's `exprs` holds {Name, value} and `predicate` is the same value.
/// - `-5`, `-1.5`, `-1h` written as a sign directly before a number are folded into a
///   negative literal (so datatable values and `long(-3)` are literals).
/// - `x in (T | project y)`: a list whose `subquery` is set and `args` holds only `x`.
/// - `distinct *`: one named_expr whose value is an expr of kind star.
/// - A tabular expression in scalar position (`toscalar(T | count)`) is an expr of kind
///   tabular; a `let` whose value is tabular by syntax fills `table`, else `scalar`.
/// - mv-expand `to typeof(T)` is kept in options as {"to_typeof:<column>", "T"}, its
///   `limit N` as {"limit", "N"}.
///
/// Not supported (a clear syntax error): user-defined functions (`let f = (x:long) {...}`),
/// views, `declare`/`alias`/`pattern`/`restrict` statements, several query statements in
/// one request, and operators outside the list above (each named in its error).

#include <string_view>
#include <variant>

#include "model/types.hpp"
#include "query/ast.hpp"

namespace tributary::query {

/// Parses `text`. On failure: model::error{"BadRequest_SyntaxError", "Syntax error at line L,
/// column C: <what was expected>, found <what was there>", permanent}; line and column are
/// 1-based, the column counts bytes from the start of the line.
std::variant<query_ast, model::error> parse_kql(std::string_view text);

/// How deep parentheses, brackets, sub-queries and operator chains may nest before the parser
/// refuses the query (the binder and the executor recurse over the tree too).
inline constexpr int max_kql_nesting = 200;

}  // namespace tributary::query
