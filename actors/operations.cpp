#include "actors/operations.hpp"

#include <fmt/format.h>

namespace tributary::actors {

void data_operations::add(data_operation op) {
  std::lock_guard lock(mutex_);
  ops_.push_back(std::move(op));
  while (ops_.size() > capacity_) ops_.pop_front();
}

model::result_table data_operations::show() const {
  using ct = model::column_type;
  model::result_table t;
  t.columns = {{"Timestamp", ct::datetime},  {"Database", ct::string},     {"Table", ct::string},
               {"ClientActivityId", ct::string}, {"OperationKind", ct::string}, {"OriginalSize", ct::long_},
               {"ExtentSize", ct::long_},    {"RowCount", ct::long_},      {"ExtentCount", ct::long_},
               {"Duration", ct::timespan},   {"Result", ct::string},       {"Details", ct::string}};
  std::lock_guard lock(mutex_);
  for (auto it = ops_.rbegin(); it != ops_.rend(); ++it) {
    t.rows.push_back({it->timestamp_ticks, it->database, it->table,
                      fmt::format("tributary.{};{}", it->kind, it->timestamp_ticks), it->kind,
                      static_cast<int64_t>(it->original_bytes), static_cast<int64_t>(it->extent_bytes),
                      static_cast<int64_t>(it->rows), static_cast<int64_t>(it->extents), it->duration_ticks,
                      it->result, it->details});
  }
  return t;
}

}  // namespace tributary::actors
