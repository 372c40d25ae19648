#pragma once
/// The node's recent data operations (`.show data operations`): one entry per extent move.
/// Written by table actors, read by the coordinator; thread-safe, bounded (oldest dropped).

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "model/types.hpp"

namespace tributary::actors {

struct data_operation {
  int64_t timestamp_ticks = 0;  ///< when the operation completed
  std::string database;
  std::string table;
  std::string kind;             ///< Kusto's OperationKind, e.g. "RowStoreSeal"
  uint64_t original_bytes = 0;
  uint64_t extent_bytes = 0;
  uint64_t rows = 0;
  uint64_t extents = 0;
  int64_t duration_ticks = 0;
  std::string result = "Completed";  ///< "Completed" or "Failed" (then `details` says why)
  std::string details;
};

class data_operations {
 public:
  explicit data_operations(size_t capacity = 10'000) : capacity_(capacity) {}
  void add(data_operation op);
  /// Kusto's columns: Timestamp, Database, Table, ClientActivityId, OperationKind, OriginalSize,
  /// ExtentSize, RowCount, ExtentCount, Duration; then Result (Completed, Failed) and Details
  /// (why it failed); newest first.
  model::result_table show() const;

 private:
  size_t capacity_;
  mutable std::mutex mutex_;
  std::deque<data_operation> ops_;
};

}  // namespace tributary::actors
