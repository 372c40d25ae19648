#pragma once
/// The bridge between the RPC layer and the actors (DESIGN.md §1): RPC threads hand a call to
/// the actor system and get the answer through a callback, never blocking and never touching
/// actor state. Header free of CAF internals so the RPC glue stays light.

#include <caf/fwd.hpp>
#include <chrono>
#include <atomic>
#include <cstdint>
#include <memory>
#include <functional>
#include <optional>
#include <string>

#include "actors/interfaces.hpp"

namespace tributary::actors {

class directory;
class query_pool;
class query_log;
class remote_shards;

}  // namespace tributary::actors
namespace tributary::monitoring {
class ingest_probe;
class query_probe;
}  // namespace tributary::monitoring
namespace tributary::actors {

/// Where and how a gateway runs queries.
struct gateway_query_settings {
  query_pool* pool = nullptr;                     ///< null: on the gathering actor (tests)
  /// Shard parts other nodes send (query_shard): threads of their own, so that queries waiting
  /// for other nodes' shards never hold up the shards they wait for. Null: `pool`.
  query_pool* shard_pool = nullptr;
  monitoring::ingest_probe* probe = nullptr;      ///< counts corrupt data a query meets
  monitoring::query_probe* metrics = nullptr;     ///< what each query did
  query_log* log = nullptr;                       ///< `.show queries`; null: the command is refused
  uint64_t memory_limit = uint64_t{1} << 30;      ///< --query-memory-limit
  std::chrono::milliseconds timeout = std::chrono::minutes(4);  ///< --query-timeout (Kusto's)
};

/// A query's client request properties (Kusto's `properties.Options` over REST): each, when set,
/// replaces the node's default; the query's own `set` statements still come last.
struct query_overrides {
  std::optional<std::chrono::milliseconds> timeout;  ///< servertimeout
  std::optional<uint64_t> truncation_max_records;
  std::optional<uint64_t> truncation_max_size;
  std::optional<bool> no_truncation;
};

class gateway {
 public:
  /// Called exactly once with the answer, from a CAF worker thread. A failure inside the actor
  /// system (timeout, actor down) arrives as an error with permanent=false.
  using reply = std::function<void(model::outcome)>;
  using ingest_reply_fn = std::function<void(ingest_outcome)>;
  using claim_reply_fn = std::function<void(claim_outcome)>;

  using query_settings = gateway_query_settings;

  /// Spawns the bridge actor; `coordinator` must be alive and `tables` must outlive the gateway.
  /// A command not answered within `command_timeout` is answered CommandOutcomeUnknown.
  gateway(caf::actor_system& sys, coordinator_actor coordinator, const directory& tables,
          std::chrono::milliseconds command_timeout = std::chrono::seconds(60), query_settings queries = {});
  ~gateway();

  /// Runs a management command. Thread-safe; returns at once. When the command's answer is
  /// lost (timeout, coordinator down) it may still have been applied: the error is then
  /// CommandOutcomeUnknown (permanent: not to be retried blindly), telling to check the state.
  void command(std::string database, std::string text, reply done) const;
  /// Runs a query. Thread-safe; returns at once. `done` is called from an actor of its own, so
  /// the caller may do heavy work in it (build a large answer) without holding up other calls.
  /// Once `cancelled` is set (its caller went away), the query stops at its next chunk (or does
  /// not start) and answers QueryCancelled. `overrides` (a REST client's request properties)
  /// replace the node's timeout and truncation defaults. In a cluster (set_remote_shards) the
  /// query's shard parts also run on every other node.
  void query(std::string database, std::string text, reply done,
             std::shared_ptr<const std::atomic<bool>> cancelled = nullptr, query_overrides overrides = {}) const;
  /// Runs the part of a query that another node sent for this node's shard (Peer.queryShard):
  /// over this node's rows alone, on the shard pool.
  void query_shard(std::string database, std::string text, reply done) const;
  /// In a cluster: the other nodes, whose shards every query also reads from now on (null: this
  /// node's rows are all there are). Thread-safe.
  void set_remote_shards(std::shared_ptr<const remote_shards> remote) const;
  /// Ingests one request into its table. Thread-safe; returns at once.
  void ingest(ingest_call call, ingest_reply_fn done) const;
  /// Peer.claimIngest: asks table `table` of `database` for request `request_id` (table_actor's
  /// claim), in its order with ingests. A table or database that does not exist answers
  /// claim_unknown (nothing can be ingested into it here); a catalog that may be stale, a table
  /// restarting, or a failure inside the node an error. Thread-safe; returns at once.
  void claim(std::string database, std::string table, std::string request_id, claim_reply_fn done) const;
  /// Stops the bridge; calls after this are answered with a "ShuttingDown" error.
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace tributary::actors
