#pragma once
/// Ingest ack latencies (receive → durable answer) in buckets, for the backpressure controller's
/// ack-latency signal: lock-free counters that table actors add to and the controller reads,
/// taking the p99 of what arrived since its last sample. Buckets grow by √2 from 100 µs, so a
/// p99 is known within 41%, enough to tell 1.5x from 3x its base.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <vector>

namespace tributary::actors {

class ack_histogram {
 public:
  /// Upper bounds of the buckets in µs; a last bucket takes everything slower.
  static constexpr std::array<double, 17> upper_us = {100,  141,  200,  283,  400,   566,   800,   1131, 1600,
                                                      2263, 3200, 4525, 6400, 9051, 12800, 18102, 25600};

  void record(std::chrono::nanoseconds latency) {
    const double us = static_cast<double>(latency.count()) / 1e3;
    size_t i = 0;
    while (i < upper_us.size() && us > upper_us[i]) ++i;
    counts_[i].fetch_add(1, std::memory_order_relaxed);
  }

  /// The counts so far, per bucket (cumulative since start).
  std::vector<uint64_t> snapshot() const {
    std::vector<uint64_t> out(counts_.size());
    for (size_t i = 0; i < counts_.size(); ++i) out[i] = counts_[i].load(std::memory_order_relaxed);
    return out;
  }

  /// Fewer acks than this between two samples make no p99: one slow ack of three is no tail.
  static constexpr uint64_t min_acks = 20;

  /// The p99 (a bucket's upper bound; the slowest bucket counts as twice the last bound) of the
  /// acks between two snapshots; 0 when there were fewer than min_acks.
  static double p99_us(const std::vector<uint64_t>& before, const std::vector<uint64_t>& after) {
    uint64_t total = 0;
    std::vector<uint64_t> delta(after.size());
    for (size_t i = 0; i < after.size(); ++i) {
      delta[i] = after[i] - (i < before.size() ? before[i] : 0);
      total += delta[i];
    }
    if (total < min_acks) return 0;
    const double rank = 0.99 * static_cast<double>(total);
    uint64_t seen = 0;
    for (size_t i = 0; i < delta.size(); ++i) {
      seen += delta[i];
      if (static_cast<double>(seen) >= rank) return i < upper_us.size() ? upper_us[i] : 2 * upper_us.back();
    }
    return 2 * upper_us.back();
  }

 private:
  std::array<std::atomic<uint64_t>, upper_us.size() + 1> counts_{};
};

}  // namespace tributary::actors
