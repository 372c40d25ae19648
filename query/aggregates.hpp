#pragma once
/// Kusto's aggregation functions (summarize, make-series): typed by `bind`, run by an
/// `aggregator` over every group of one summarize at once, a chunk of rows at a time.
///
/// Partial states merge and serialize: the part of a plan next to each table shard aggregates
/// its rows, and the merging part combines shards' states (merge) after they cross the network
/// (save/load). count, sum, avg, min/max, dcount's HyperLogLog, percentile's t-digest,
/// make_list/make_set, arg_max/arg_min and any are all mergeable.

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "model/batch.hpp"
#include "query/functions.hpp"

namespace tributary::query {

/// One aggregate call's state for every group of a summarize. Groups are numbered 0.. in the
/// order they were first seen; `resize` only grows.
class aggregator {
 public:
  virtual ~aggregator() = default;
  virtual void resize(size_t groups) = 0;
  /// Adds rows: row r belongs to group `group_of_row[r]`; `args[i]` has `rows` values (or 1
  /// for a constant argument, model::column_data convention of functions.hpp).
  virtual void update(const uint32_t* group_of_row, size_t rows, std::span<const model::column_data* const> args) = 0;
  /// Adds `other`'s groups into this one's: other's group g goes into group `group_map[g]`.
  /// `other` comes from the same aggregate_function with the same bound arguments.
  virtual void merge(const aggregator& other, std::span<const uint32_t> group_map) = 0;
  /// Appends the final value of every group, in group order, to `out` (one column per output
  /// column of the aggregate, in bound order: arg_max(x, *) and percentiles(x, 50, 90) have
  /// several).
  virtual void finish(std::span<model::column_data> out) const = 0;
  /// A group's partial state as bytes, and back (into a group of this aggregator, which must
  /// be empty). Portable: fixed little-endian integers, doubles as IEEE bits.
  virtual void save(size_t group, std::string& out) const = 0;
  virtual bool load(size_t group, std::string_view in) = 0;
};

/// One output column of an aggregate call.
struct aggregate_output {
  std::string name;  ///< Kusto's name (count_, sum_x, percentile_x_95, list_x; arg_max's columns)
  model::column_type type = model::column_type::long_;
};

/// An argument of an aggregate call as the binder knows it: its type and constant value (like a
/// scalar function's), and the name Kusto derives result names from ("x" for a column x, "d_a"
/// for d.a, "" for other expressions: sum(Value*2) is sum_).
struct aggregate_arg {
  arg_info info;
  std::string name_part;
  bool star = false;  ///< a column that arg_max(x, *)'s `*` stands for
};

struct bound_aggregate {
  std::vector<aggregate_output> outputs;
  std::function<std::unique_ptr<aggregator>()> make;
};

struct aggregate_function {
  std::string_view name;
  /// Types the call: its outputs (named by Kusto's rules) and a factory, or an error message
  /// that completes "<name>(): ...". For arg_max/arg_min's `*`, the binder has already expanded
  /// the star into the columns it stands for (every input column but the first argument's and
  /// the `by` keys), each an argument with star = true and its column name as name_part.
  std::function<std::variant<bound_aggregate, std::string>(std::span<const aggregate_arg> args)> bind;
};

/// The aggregate named `name` (case-sensitive), aliases included (take_any/any, countif...);
/// nullptr when unknown.
const aggregate_function* find_aggregate_function(std::string_view name);
std::vector<std::string_view> aggregate_function_names();

}  // namespace tributary::query
