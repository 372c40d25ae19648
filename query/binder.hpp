#pragma once
/// Private to query/: binds a syntax tree against a data source's schemas (binder.cpp).

#include <functional>
#include <variant>

#include "query/plan.hpp"

namespace tributary::query {

struct bound_query {
  plan_ptr root;
  std::vector<std::string> tables;  ///< every table read, once each
  std::string visualization;        ///< render's, as Kusto reports it; empty when none
  query_options options;            ///< the defaults with the query's set statements applied
  int64_t now_ticks = 0;
};

/// Runs a bound subquery (`x in (T | ...)`, toscalar(...)) while binding: its rows become
/// constants of the outer query (Kusto evaluates them once per query too).
using subquery_runner = std::function<std::variant<model::result_table, model::error>(const plan&)>;

std::variant<bound_query, model::error> bind(const query_ast& ast, const data_source& source, int64_t now_ticks,
                                             query_options options, subquery_runner run_subquery);

}  // namespace tributary::query
