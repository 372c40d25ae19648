#pragma once
/// Ingest admission by queueing delay: the node refuses (Throttling) the requests it cannot serve
/// in time, judged by how long each waited before its table actor took it up, not by a count of
/// requests in flight. Group commit makes concurrent requests cheap, so a count chosen for one
/// machine (Kusto's six per core) throttles a node that is far from busy; what runs out is CPU for
/// parsing and the writer's time, and both show up as waiting.
///
/// This is CoDel as servers apply it to request queues ("Fail at Scale", Maurer, ACM Queue 2015):
/// the node is overloaded once every request for a whole `interval` waited `target` or longer;
/// then each request that waited longer than `target` is refused before it is parsed, and the
/// queue drains to about `target`. Otherwise the queue is only bursting, and a request is refused
/// only once it waited a whole `interval`. Two things are not overload, and refusing would not
/// shorten anyone's wait: a node that was idle (nothing started for an `interval`), and a wait
/// with fewer than `min_queue` requests in flight (a slow or starved machine, not a queue).

#include <atomic>
#include <chrono>
#include <cstddef>

namespace tributary::actors {

class ingest_admission {
 public:
  using clock = std::chrono::steady_clock;
  /// Requests in flight (when one was received) below which its wait is never a queue to shed.
  static constexpr size_t min_queue = 8;

  ingest_admission(clock::duration target, clock::duration interval) : target_(target), interval_(interval) {}

  /// Called as a request's work starts (thread-safe), with when the node received it and how
  /// many ingests were in flight then. True: refuse it.
  bool shed(clock::time_point received, clock::time_point now, size_t in_flight_at_receipt) {
    const auto waited = now - received;
    const auto previous = last_start_.exchange(rep(now), std::memory_order_relaxed);
    if (waited < target_ || in_flight_at_receipt < min_queue) {
      above_since_.store(0, std::memory_order_relaxed);
      return false;
    }
    auto since = above_since_.load(std::memory_order_relaxed);
    if (since == 0 || rep(now) - previous > interval_.count()) {
      // The first wait above target, or the first after an idle spell: overload starts counting.
      above_since_.store(rep(now), std::memory_order_relaxed);
      since = rep(now);
    }
    const bool overloaded = rep(now) - since >= interval_.count();
    return waited > (overloaded ? target_ : interval_);
  }

  clock::duration target() const { return target_; }
  clock::duration interval() const { return interval_; }

 private:
  static clock::rep rep(clock::time_point t) { return t.time_since_epoch().count(); }

  const clock::duration target_;
  const clock::duration interval_;
  std::atomic<clock::rep> above_since_{0};  ///< since when every request waited target or longer; 0 = not
  std::atomic<clock::rep> last_start_{0};   ///< when the last request started
};

}  // namespace tributary::actors
