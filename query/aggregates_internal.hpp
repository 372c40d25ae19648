#pragma once
/// Private to query/: what aggregates.cpp (the registry and the simple aggregates) and
/// aggregates_sketch.cpp (dcount, percentiles, make_list/make_set) share.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "model/batch.hpp"
#include "query/aggregates.hpp"

namespace tributary::query::agg {

/// Where a type's values live in model::column_data.
inline bool in_ints(model::column_type t) {
  using enum model::column_type;
  return t == bool_ || t == int_ || t == long_ || t == datetime || t == timespan;
}
inline bool in_text(model::column_type t) {
  using enum model::column_type;
  return t == string || t == decimal || t == guid || t == dynamic;
}

/// 0 for a constant (1-row) argument, 1 otherwise: row r reads value r * stride.
inline size_t stride(const model::column_data& c) { return c.size() == 1 ? 0 : 1; }

/// Calls f(group, row) for every row whose predicate is true (every row when `pred` is null).
/// A null predicate counts as false, as `where` does. Templated so the loop body inlines: no
/// per-row indirect call.
template <class F>
inline void each_row(const uint32_t* group_of_row, size_t rows, const model::column_data* pred, F&& f) {
  if (pred && pred->size() == 1) {
    if (pred->is_null(0) || pred->ints[0] == 0) return;
    pred = nullptr;
  }
  if (!pred) {
    for (size_t r = 0; r < rows; ++r) f(group_of_row[r], r);
    return;
  }
  const uint8_t* pn = pred->nulls.data();
  const int64_t* pv = pred->ints.data();
  for (size_t r = 0; r < rows; ++r)
    if (!pn[r] && pv[r]) f(group_of_row[r], r);
}

/// Appends row `row` of `c` as one JSON value, as Kusto's dynamic shows it: numbers, bools,
/// strings escaped, datetimes and timespans as strings, dynamic as its JSON text, null as null.
void append_json(std::string& out, const model::column_data& c, size_t row);

std::unique_ptr<aggregator> make_dcount(model::column_type type, int accuracy, int pred_arg);
/// `percents` are 0..100; one output column per percent, or one dynamic array when `as_array`
/// (percentiles_array). `weight_arg` >= 0: argument holding each value's integer weight
/// (percentilew, percentilesw).
std::unique_ptr<aggregator> make_percentiles(model::column_type type, std::vector<double> percents, int weight_arg = -1,
                                             bool as_array = false);
/// count_distinct (exact) and count_distinctif.
std::unique_ptr<aggregator> make_count_distinct(int pred_arg);
/// make_bag / make_bag_if: the merge of a group's property bags, at most `max_keys` keys.
std::unique_ptr<aggregator> make_bag(int pred_arg, size_t max_keys);
/// make_list / make_set and their _if forms; `with_nulls` keeps nulls as JSON null.
std::unique_ptr<aggregator> make_collect(int pred_arg, size_t max_size, bool set, bool with_nulls);

}  // namespace tributary::query::agg
