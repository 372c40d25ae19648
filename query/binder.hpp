#pragma once
/// Private to query/: binds a syntax tree against a data source's schemas (binder.cpp).

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

std::variant<bound_query, model::error> bind(const query_ast& ast, const data_source& source, int64_t now_ticks,
                                             query_options options);

}  // namespace tributary::query
