#pragma once
/// The QUERY POOL: threads that run table scans (extent files, rowstore reads) so that a long
/// query never blocks the actor scheduler's workers, which ingest needs. Bounded: past
/// `max_queued` waiting scans, submit() refuses and the query is throttled.

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace tributary::actors {

class query_pool {
 public:
  /// Starts `threads` threads (at least 1).
  query_pool(unsigned threads, size_t max_queued);
  /// Runs what is queued, then joins.
  ~query_pool();
  query_pool(const query_pool&) = delete;
  query_pool& operator=(const query_pool&) = delete;

  /// Queues `task`; false (and `task` dropped) when `max_queued` tasks already wait or the pool
  /// is stopping. Thread-safe.
  bool submit(std::function<void()> task);

 private:
  void run();
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> queue_;
  size_t max_queued_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace tributary::actors
