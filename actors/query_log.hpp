#pragma once
/// Running and recent queries, for Kusto's `.show queries`: the gateway records each query as
/// it starts and as it ends; the command answers from here. Thread-safe (queries end on query
/// pool threads); bounded (the last `recent` finished queries are kept).

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>

#include "model/types.hpp"

namespace tributary::actors {

class query_log {
 public:
  struct entry {
    uint64_t id = 0;
    std::string database;
    std::string text;
    int64_t started_ticks = 0;  ///< ticks since the Unix epoch
    std::chrono::steady_clock::time_point started;
    std::chrono::nanoseconds duration{0};
    std::string state = "InProgress";  ///< InProgress, Completed, Failed
    std::string failure;               ///< the error code and message when Failed
    std::chrono::nanoseconds cpu{0};
    uint64_t peak_memory = 0;
    uint64_t rows_scanned = 0;
    uint64_t result_rows = 0;
  };

  explicit query_log(size_t recent = 100) : recent_(recent) {}

  /// Records a query that starts; returns its id.
  uint64_t started(std::string database, std::string text);
  /// Records how query `id` ended.
  void finished(uint64_t id, const model::error* failure, std::chrono::nanoseconds cpu, uint64_t peak_memory,
                uint64_t rows_scanned, uint64_t result_rows);
  /// `.show queries`: running queries first, then the recent ones, newest first.
  model::result_table show() const;

 private:
  mutable std::mutex mutex_;
  size_t recent_;
  uint64_t next_ = 1;
  std::map<uint64_t, entry> running_;
  std::deque<entry> done_;
};

}  // namespace tributary::actors
