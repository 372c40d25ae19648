#pragma once
/// Ingest admission by queueing delay: the node refuses (Throttling) the requests it cannot serve
/// in time, judged by how long each waited before its table actor took it up, not by a count of
/// requests in flight. Group commit makes concurrent requests cheap, so a count chosen for one
/// machine (Kusto's six per core) throttles a node that is far from busy; what runs out is CPU for
/// parsing and the writer's time, and both show up as waiting.
///
/// This is CoDel as servers apply it to request queues ("Fail at Scale", Maurer, ACM Queue 2015):
/// while some request in the last `interval` waited less than `target`, the queue is only
/// bursting and a request is refused only once it waited a whole `interval`; once none has for
/// an `interval`, the node is overloaded and every request that waited more than `target` is
/// refused before it is parsed. The queue then drains to about `target` and stays there, and
/// the parse CPU goes to requests that can still be answered in time.

#include <atomic>
#include <chrono>

namespace tributary::actors {

class ingest_admission {
 public:
  using clock = std::chrono::steady_clock;

  ingest_admission(clock::duration target, clock::duration interval)
      : target_(target), interval_(interval), last_good_(clock::now().time_since_epoch().count()) {}

  /// Called as a request's work starts, with when the node received it (thread-safe). True: the
  /// request waited too long, refuse it.
  bool shed(clock::time_point received, clock::time_point now) {
    const auto waited = now - received;
    if (waited < target_) {
      last_good_.store(now.time_since_epoch().count(), std::memory_order_relaxed);
      return false;
    }
    return waited > (overloaded(now) ? target_ : interval_);
  }

  /// No request started within `target` of arriving during the last `interval`.
  bool overloaded(clock::time_point now) const {
    return now - clock::time_point(clock::duration(last_good_.load(std::memory_order_relaxed))) > interval_;
  }

  clock::duration target() const { return target_; }
  clock::duration interval() const { return interval_; }

 private:
  const clock::duration target_;
  const clock::duration interval_;
  std::atomic<clock::rep> last_good_;  ///< when the last request that waited under target started
};

}  // namespace tributary::actors
