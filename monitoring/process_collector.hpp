#pragma once
/// Internal to monitoring/: the standard Prometheus process metrics, read from /proc/self at
/// every scrape (prometheus-cpp 1.0.1 has no process collector).

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <vector>

namespace tributary::monitoring {

/// Emits process_cpu_seconds_total, process_resident_memory_bytes,
/// process_virtual_memory_bytes, process_open_fds, process_max_fds,
/// process_start_time_seconds and process_threads, with the meanings client_golang gives them.
/// A value that cannot be read is left out of the scrape rather than reported as 0.
/// Thread-safe: Collect() keeps no state.
class process_collector final : public prometheus::Collectable {
 public:
  process_collector();
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  double start_time_seconds_ = -1;  ///< -1 when /proc/stat or /proc/self/stat was unreadable
};

}  // namespace tributary::monitoring
