#include "actors/query_log.hpp"

#include <fmt/format.h>

namespace tributary::actors {

uint64_t query_log::started(std::string database, std::string text) {
  std::lock_guard lock(mutex_);
  entry e;
  e.id = next_++;
  e.database = std::move(database);
  constexpr size_t shown = 4096;  // a query's text, as Kusto shows it, within reason
  e.text = text.size() > shown ? text.substr(0, shown) + "..." : std::move(text);
  e.started_ticks = model::now_ticks();
  e.started = std::chrono::steady_clock::now();
  const uint64_t id = e.id;
  running_.emplace(id, std::move(e));
  return id;
}

void query_log::finished(uint64_t id, const model::error* failure, std::chrono::nanoseconds cpu,
                         uint64_t peak_memory, uint64_t rows_scanned, uint64_t result_rows) {
  std::lock_guard lock(mutex_);
  auto it = running_.find(id);
  if (it == running_.end()) return;
  auto e = std::move(it->second);
  running_.erase(it);
  e.duration = std::chrono::steady_clock::now() - e.started;
  e.state = failure ? "Failed" : "Completed";
  if (failure) e.failure = fmt::format("{}: {}", failure->code, failure->message);
  e.cpu = cpu;
  e.peak_memory = peak_memory;
  e.rows_scanned = rows_scanned;
  e.result_rows = result_rows;
  done_.push_front(std::move(e));
  while (done_.size() > recent_) done_.pop_back();
}

model::result_table query_log::show() const {
  using ct = model::column_type;
  model::result_table t;
  t.columns = {{"ClientActivityId", ct::string}, {"Text", ct::string},       {"Database", ct::string},
               {"StartedOn", ct::datetime},      {"Duration", ct::timespan}, {"State", ct::string},
               {"FailureReason", ct::string},    {"TotalCpu", ct::timespan}, {"MemoryPeak", ct::long_},
               {"ScannedRows", ct::long_},       {"ResultRows", ct::long_}};
  auto ticks = [](std::chrono::nanoseconds d) { return static_cast<int64_t>(d.count() / 100); };
  auto row = [&](const entry& e, std::chrono::nanoseconds duration) {
    t.rows.push_back({fmt::format("tributary;query;{}", e.id), e.text, e.database, e.started_ticks, ticks(duration),
                      e.state, e.failure, ticks(e.cpu), static_cast<int64_t>(e.peak_memory),
                      static_cast<int64_t>(e.rows_scanned), static_cast<int64_t>(e.result_rows)});
  };
  std::lock_guard lock(mutex_);
  const auto now = std::chrono::steady_clock::now();
  for (auto it = running_.rbegin(); it != running_.rend(); ++it) row(it->second, now - it->second.started);
  for (const auto& e : done_) row(e, e.duration);
  return t;
}

}  // namespace tributary::actors
