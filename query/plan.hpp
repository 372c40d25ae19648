#pragma once
/// Private to query/: a bound query. The binder (binder.cpp) turns the syntax tree into these
/// nodes — names resolved to column indexes, every expression typed, functions and aggregates
/// bound — and the executor (executor.cpp) runs them as a push pipeline of stages.

#include <memory>
#include <string>
#include <vector>

#include "query/aggregates.hpp"
#include "query/engine.hpp"
#include "query/functions.hpp"

namespace tributary::query {

/// A typed expression over the columns of its input.
struct bound_expr {
  enum class kind : uint8_t { column, constant, call, ingestion_time } what = kind::constant;
  model::column_type type = model::column_type::long_;
  size_t column = 0;               ///< column
  model::column_data constant;     ///< constant: one row
  scalar_eval eval;                ///< call
  std::vector<bound_expr> args;    ///< call
  bool is_constant() const { return what == kind::constant; }
};

struct bound_aggregate_call {
  bound_aggregate aggregate;
  std::vector<bound_expr> args;
};

struct bound_sort_key {
  bound_expr value;
  bool ascending = false;
  bool nulls_first = false;
};

struct plan;
using plan_ptr = std::shared_ptr<const plan>;

/// One operator of a pipeline, bound. `kind` picks the fields that matter.
struct bound_op {
  op_kind kind = op_kind::where;
  std::string name;                        ///< the operator as written, for errors
  bound_expr predicate;                    ///< where
  /// project/extend: output column i is exprs[i]; for extend, the first `keep` inputs pass
  /// through in place (replaced ones in `replace`).
  std::vector<bound_expr> exprs;
  std::vector<size_t> columns;             ///< project-away/keep/reorder/rename: input index per output column
  std::vector<bound_expr> keys;            ///< summarize/distinct/make-series by keys
  std::vector<bound_aggregate_call> aggregates;  ///< summarize/make-series
  std::vector<bound_sort_key> sort_keys;   ///< sort, top
  std::shared_ptr<runtime_bound> runtime;  ///< top right after a table's filters: its scan's bound
  uint64_t count = 0;                      ///< take, top
  plan_ptr right;                          ///< join/lookup right side; union legs in `legs`
  std::vector<plan_ptr> legs;
  std::string join_kind;                   ///< innerunique, inner, leftouter, ...
  std::vector<std::pair<size_t, size_t>> join_keys;  ///< (left column, right column)
  std::vector<size_t> right_columns;       ///< join/lookup: right columns in the output
  /// union: per leg (the piped input first), for each output column the leg's column or
  /// SIZE_MAX (null); withsource column first when set.
  std::vector<std::vector<size_t>> union_maps;
  std::vector<std::string> leg_names;      ///< union withsource values
  bool with_source = false;
  // make-series
  bound_expr series_on;
  int64_t series_from = 0, series_to = 0, series_step = 1;  ///< ticks (datetime, timespan) or integers
  bool series_has_from = false, series_has_to = false;      ///< else each series spans its data
  model::column_type series_type = model::column_type::datetime;
  std::vector<model::value> series_defaults;
  chunk literal;                           ///< getschema: the rows it answers
  // mv-expand: `exprs` are the expanded values (dynamic); `columns[i]` the output column each
  // goes to (an input column it replaces, or a new one at the end), `expand_types[i]` its
  // type (typeof(...); dynamic when not given); `count` the rows per input row at most.
  std::vector<model::column_type> expand_types;
  bool bag_as_array = false;               ///< kind=array: a bag's properties as [key, value]
  bool with_index = false;                 ///< with_itemindex: the last output column
  // parse / parse-where: `predicate` is the text (a string), `parse_regex` the pattern as one
  // regular expression with a group per column, `columns[i]`/`expand_types[i]` where each
  // group goes and its type; `parse_strict`: a value that does not convert fails the match
  // (kind=simple, regex) instead of being null (kind=relaxed).
  std::string parse_regex;
  bool parse_strict = true;
  /// summarize on a table shard (`set query_shard_partial;`): the output is the keys and each
  /// aggregate's partial state (base64 of aggregator::save), for the merging node to combine.
  bool partial = false;
  std::vector<model::column> schema;       ///< the operator's output columns
};

/// The part of a table's pipeline that runs next to each of its shards in a cluster (DESIGN.md
/// §6): the scan, the row-local operators that follow it (where, extend, project and its
/// family, parse, mv-expand) and the first operator that shrinks the rows in a mergeable way
/// (summarize in partial form, count, take, top, sort then take). The node that received the
/// query sends `text` to every node (itself included), and runs the rest over their answers:
/// `merge` says how the answers enter the pipeline.
struct shard_part {
  enum class merge_kind : uint8_t {
    rows,       ///< the answers are the rows of bound ops [0, ops); ops [ops, ...) follow
    count,      ///< each answers one count: summed
    summarize,  ///< each answers keys and partial states: ops[ops - 1] merges them
    reapply,    ///< take/top/sort+take: ops [reapply_from, ops) run again over the answers
  };
  merge_kind merge = merge_kind::rows;
  size_t ops = 0;
  size_t reapply_from = 0;
  /// A query over the one table, with the merging node's now() and the scalar lets it uses as
  /// literals; ops == 0: the columns the plan reads (`T | project a, b`).
  std::string text;
  std::vector<model::column> schema;  ///< the columns each shard answers
  /// rows: the answer's last column is each row's ingestion_time() (later operators read it).
  bool ingestion_column = false;
};

/// A pipeline: a source, then operators. `schema` is the output.
struct plan {
  source_kind source = source_kind::name;
  scan_request scan;                       ///< source name: the table and what to read
  std::vector<model::column> source_schema;
  std::vector<chunk> rows;                 ///< datatable/print/range: the rows, computed at bind time
  plan_ptr inner;                          ///< subquery / tabular let
  std::vector<bound_op> ops;
  std::vector<model::column> schema;
  shard_part shard;                        ///< source name (a table): its split for a cluster
};

}  // namespace tributary::query
