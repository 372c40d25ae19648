#pragma once
/// The backpressure controller's probe (actors/backpressure.hpp). Part of the metrics front
/// door: included by metrics.hpp, obtained from `metrics::controller()`. Thread-safe; a
/// default-constructed probe is detached (every call a no-op).

#include <chrono>
#include <cstdint>
#include <memory>

namespace tributary::monitoring {

/// One decision of the controller and the readings behind it.
struct controller_reading {
  uint32_t movers_allowed = 0;
  std::chrono::microseconds pause{0};
  bool ingest_throttled = false;  ///< ingest refused because the rowstore is near its quota
  double system_cpu = 0;          ///< 0..1 over all cores
  double process_cpu = 0;         ///< 0..1 over all cores
  uint64_t rss_bytes = 0;
  uint64_t memory_limit_bytes = 0;  ///< 0 = none
  uint64_t memtable_bytes = 0;
  uint64_t rowstore_bytes = 0;
  uint64_t rowstore_quota_bytes = 0;  ///< 0 = none
};

/// Extent-mover budget and pressure readings, all gauges:
///   tributary_movers_allowed, tributary_movers_running, tributary_mover_pause_seconds,
///   tributary_ingest_throttled_by_rowstore (0/1), tributary_pressure_system_cpu_ratio,
///   tributary_pressure_process_cpu_ratio, tributary_pressure_rss_bytes,
///   tributary_pressure_memory_limit_bytes, tributary_pressure_memtable_bytes,
///   tributary_rowstore_total_bytes, tributary_rowstore_quota_bytes.
class controller_probe {
 public:
  /// A detached probe: calls do nothing.
  controller_probe();
  ~controller_probe();
  controller_probe(const controller_probe&) = delete;
  controller_probe& operator=(const controller_probe&) = delete;

  /// Sets every gauge but tributary_movers_running from one decision.
  void decided(const controller_reading& r);
  /// Sets tributary_movers_running: slots held now.
  void running(uint32_t movers);

 private:
  friend class metrics;
  struct state;
  std::unique_ptr<state> state_;
};

}  // namespace tributary::monitoring
