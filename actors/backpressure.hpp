#pragma once
/// The BACKPRESSURE CONTROLLER: how fast extent movers may run, and the mover slots they hold.
/// Protocol: `controller_actor` in actors/interfaces.hpp.
///
/// Policy (`decide`), from smoothed readings:
///  - No pressure: `max_movers` may run, no pause between blocks.
///  - CPU pressure (system CPU above `cpu_high`) or memory pressure (RSS above `memory_high`
///    of the limit, memtables above `memtable_high_bytes`) is a level p in [0, 1], the worst
///    of the three: p = 0 at the `*_high` mark, 1 at the `*_full` mark (twice the bound for
///    memtables). Movers allowed = ceil(max_movers * (1 - p)) (0 = paused, only at p = 1);
///    pause per 4 MiB moved = p * max_pause (movers spread it over the 4 MiB in short sleeps).
///  - The budget falls at once but rises by one mover per sample at most, and only when the
///    readings are `hysteresis` below the marks that lowered it: a reading hovering at a mark
///    does not flap.
///  - Rowstore at `rowstore_guarantee` of its quota or more: at least `guaranteed_movers` may
///    run, with no pause, whatever the pressure — the rowstore always drains. From
///    `rowstore_throttle` on, ingest is throttled too, until the rowstore is back under
///    `rowstore_resume`. The rowstore reading is not smoothed: the guarantee acts at once.
///  - Ack-latency pressure: acks slower than their recent best. The p99 of the time from
///    receiving an ingest to its durable answer over the last sample, against the lowest such
///    p99 of the last `latency_window` (the node's own unloaded speed, as TCP Vegas measures its
///    base RTT):
///    pressure 0 at `latency_high` times the base, 1 at `latency_full`. A move competes with
///    ingest for CPU and for the disk's syncs; this is the signal that says requests have
///    started to wait, whatever the cause, so movers back off before the CPU reading moves.
///  - Process CPU is reported, not decided on: system CPU already includes it.

#include <caf/fwd.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>

#include "actors/ack_histogram.hpp"
#include "actors/interfaces.hpp"

namespace tributary::monitoring {
class controller_probe;
}

namespace tributary::actors {

/// One sample of what the controller watches.
struct pressure_readings {
  double system_cpu = 0;   ///< busy fraction of all cores, 0..1
  double process_cpu = 0;  ///< this process's share of all cores, 0..1
  uint64_t rss_bytes = 0;
  uint64_t memtable_bytes = 0;
  uint64_t rowstore_bytes = 0;
  double ack_latency_us = 0;       ///< p99 receive → durable answer of the sample's acks; 0 = none
  double ack_latency_base_us = 0;  ///< lowest sample p99 of the recent window; 0 = unknown
};

/// The controller's settings. Fractions are of 1 (0.85 = 85%).
struct controller_config {
  uint32_t max_movers = 4;            ///< --max-concurrent-moves
  uint64_t memory_limit_bytes = 0;    ///< --memory-limit; 0 = no RSS pressure
  uint64_t rowstore_quota_bytes = 0;  ///< the rowstore's quota; 0 = no guarantee, no throttling
  uint64_t memtable_high_bytes = uint64_t{256} << 20;  ///< memtable pressure from here; 0 = never
  double cpu_high = 0.85;     ///< smoothed system CPU where pressure starts
  double cpu_full = 0.98;     ///< ... and where movers pause
  double memory_high = 0.85;  ///< RSS / memory limit where pressure starts
  double memory_full = 0.95;  ///< ... and where movers pause
  double latency_high = 1.5;  ///< ack latency / its recent base where pressure starts
  double latency_full = 3.0;  ///< ... and where movers pause
  std::chrono::seconds latency_window{30};  ///< how far back the base (lowest mean) reaches
  /// Ack p99s under this are no pressure whatever their ratio (a base of 100 µs doubling to
  /// 200 µs is noise, not waiting).
  std::chrono::microseconds latency_floor{1000};
  double hysteresis = 0.05;   ///< how far below a mark readings must fall to raise the budget
  double rowstore_guarantee = 0.80;  ///< rowstore / quota from which movers are guaranteed
  uint32_t guaranteed_movers = 1;    ///< (never more than max_movers)
  double rowstore_throttle = 0.95;   ///< rowstore / quota from which ingest is throttled ...
  double rowstore_resume = 0.90;     ///< ... until it is below this
  std::chrono::microseconds max_pause{250'000};  ///< pause between blocks at full pressure
  std::chrono::milliseconds sample_interval{250};
  double smoothing = 0.3;  ///< EWMA weight of a new sample; 1 = no smoothing
};

/// The budget for readings `r` (already smoothed). `previous` is the last decision, for the
/// hysteresis and the slow rise; without it the budget is the plain target. Fills the readings,
/// limit and quota of the answer; leaves movers_running 0. Pure: no clock, no I/O.
mover_budget decide(const pressure_readings& r, const controller_config& c,
                    const std::optional<mover_budget>& previous = std::nullopt);

/// Exponentially weighted moving average of readings, so that a single spike does not move the
/// budget. The rowstore reading passes through unsmoothed.
class pressure_smoother {
 public:
  /// `weight` of a new sample in (0, 1]; 1 passes samples through.
  explicit pressure_smoother(double weight);
  /// Adds a sample; returns the smoothed readings (the sample itself the first time).
  pressure_readings update(const pressure_readings& sample);

 private:
  double weight_;
  std::optional<pressure_readings> smoothed_;
};

/// Where the controller reads its figures, and whom it tells its decisions. The functions are called on the controller actor's
/// thread; they must be thread-safe and cheap. An empty function reads 0.
struct pressure_sources {
  std::function<uint64_t()> memtable_bytes;   ///< RocksDB memtables, all column families
  std::function<uint64_t()> rowstore_bytes;   ///< bytes in this node's rowstore
  /// Ack latencies so far (receive → durable answer), ack_histogram::snapshot()'s buckets.
  std::function<std::vector<uint64_t>()> acks;
  std::filesystem::path proc_root = "/proc";  ///< procfs (tests point it elsewhere)
  /// Told every decision (on the controller's thread): where the node publishes the ingest
  /// throttle and the rowstore pressure to its table actors.
  std::function<void(const mover_budget&)> decided;
};

/// Reads CPU and RSS from procfs (`<proc_root>/stat`, `<proc_root>/self/stat`,
/// `<proc_root>/self/statm`) and the rest from the sources. CPU fractions are over the time
/// since the previous sample (0 on the first). A file that cannot be read gives 0 for its
/// readings, never an error. Not thread-safe: one owner.
class pressure_sampler {
 public:
  explicit pressure_sampler(pressure_sources sources);
  /// Takes one sample.
  pressure_readings sample();

 private:
  pressure_sources sources_;
  uint64_t last_total_ticks_ = 0;  ///< all cores, /proc/stat
  uint64_t last_busy_ticks_ = 0;
  uint64_t last_process_ticks_ = 0;  ///< utime + stime
  bool primed_ = false;
  std::vector<uint64_t> last_acks_;
  double system_cpu_ = 0;  ///< last computed fractions
  double process_cpu_ = 0;
};

/// Spawns the controller: samples every `config.sample_interval`, decides, reports to `probe`
/// and hands out mover slots in FIFO order. A slot belongs to the actor that sent `acquire`;
/// only that actor's `release` frees it (a release from an actor holding none is ignored), and
/// all its slots free when it terminates, so a crashed mover or table never leaks one. A waiting
/// acquire is answered when a slot frees or the budget rises; a lowered budget takes effect as
/// running moves end (they slow down at once through pause_us). On an exit message, waiting
/// acquires are answered with `sec::request_receiver_down`; the actor keeps itself alive with
/// its timer, so the node must stop it (`anon_send_exit`). `probe` must outlive the actor.
controller_actor spawn_controller(caf::actor_system& sys, controller_config config,
                                  pressure_sources sources, monitoring::controller_probe& probe);

}  // namespace tributary::actors
