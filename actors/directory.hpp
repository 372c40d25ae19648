#pragma once
/// The gateway's fast path to table actors: (database, table) → actor. Written by database actors
/// as they spawn and stop table actors; read by the gateway on every ingest and query. A miss is
/// not an answer: the gateway then asks the coordinator, which knows every committed table.

#include <atomic>
#include <chrono>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "actors/interfaces.hpp"

namespace tributary::actors {

class directory {
 public:
  /// Thread-safe.
  std::optional<table_actor> find(std::string_view database, std::string_view table) const;
  void put(const std::string& database, const std::string& table, table_actor actor);
  void erase(const std::string& database, const std::string& table);

  /// The cluster streaming-ingestion switch as the coordinator last committed it, so that a
  /// request to a switched-off cluster is refused first, whatever table it names.
  bool streaming_on() const { return streaming_on_.load(std::memory_order_acquire); }
  void set_streaming_on(bool on) { streaming_on_.store(on, std::memory_order_release); }

  /// Cluster mode's fence (reference/cluster.md §5.4): the node ingests only until
  /// `fresh_until`, which the cluster module extends each time the metadata store confirms that
  /// no newer catalog exists than the one applied. Single-node: always fresh.
  using clock = std::chrono::steady_clock;
  bool catalog_current() const {
    return clock::now().time_since_epoch().count() < fresh_until_.load(std::memory_order_acquire);
  }
  void set_fresh_until(clock::time_point t) {
    fresh_until_.store(t.time_since_epoch().count(), std::memory_order_release);
  }
  /// Whether the last attempt to reach the metadata store failed (the error code then differs).
  bool metadata_reachable() const { return metadata_reachable_.load(std::memory_order_relaxed); }
  void set_metadata_reachable(bool r) { metadata_reachable_.store(r, std::memory_order_relaxed); }

 private:
  static std::string key(std::string_view database, std::string_view table);
  mutable std::shared_mutex mutex_;
  std::unordered_map<std::string, table_actor> tables_;
  std::atomic<bool> streaming_on_{false};
  std::atomic<clock::rep> fresh_until_{clock::time_point::max().time_since_epoch().count()};
  std::atomic<bool> metadata_reachable_{true};
};

}  // namespace tributary::actors
