#pragma once
/// Tributary's metrics: probe objects the domain code calls, and the Prometheus `/metrics`
/// endpoint that serves them. Only monitoring/ sees prometheus-cpp; this header does not.
///
/// Every probe is thread-safe: any thread or actor may call it concurrently. A probe obtained
/// from `metrics` lives as long as that `metrics`. A default-constructed probe is detached:
/// every call is a no-op (for tests of code that takes a probe).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "monitoring/controller_probe.hpp"

namespace tributary::monitoring {

/// Management commands, by kind and outcome.
/// Series: tributary_commands_total{kind, result="ok|error"}.
class command_probe {
 public:
  /// A detached probe: calls do nothing.
  command_probe();
  ~command_probe();
  command_probe(const command_probe&) = delete;
  command_probe& operator=(const command_probe&) = delete;

  /// Counts one executed command. `kind` is commands::executed::kind ("create_table",
  /// "invalid", ...): a small fixed set, never user text, since each value is a series.
  void executed(std::string_view kind, bool ok);

 private:
  friend class metrics;
  struct state;
  std::unique_ptr<state> state_;
};

/// Cap'n Proto RPC calls, by method ("command", "query", "ingest", "query_shard"), and the
/// calls a node makes to the others for query fan-out.
/// Series: tributary_rpc_requests_total{method, result="ok|error"},
/// tributary_rpc_latency_seconds{method} (histogram, buckets 50us..10s),
/// tributary_rpc_in_flight (gauge), tributary_rpc_throttled_total{method},
/// tributary_peer_calls_total{result}, tributary_peer_call_seconds (histogram),
/// tributary_query_partial_failures_total{best_effort}.
class rpc_probe {
 public:
  /// How a queryShard call to another node ended: `ok` it answered (a table, or an error it
  /// returned); `error` the call failed (refused, disconnected); `timeout` no answer within the
  /// peer timeout; `unavailable` no call made: the node is down (no lease) or this node has
  /// its limit of calls to it outstanding.
  enum class peer_result : uint8_t { ok, error, timeout, unavailable };
  /// Which front end a call came through (the `protocol` label): Cap'n Proto or Kusto's REST API.
  enum class protocol : uint8_t { capnp, http };

  /// A detached probe: calls do nothing.
  rpc_probe();
  ~rpc_probe();
  rpc_probe(const rpc_probe&) = delete;
  rpc_probe& operator=(const rpc_probe&) = delete;

  /// Counts one answered call and records its latency (request received → answer sent).
  /// `ok` is false when the answer is an error. The known methods cost no lock or lookup.
  void finished(std::string_view method, bool ok, std::chrono::nanoseconds latency,
                protocol through = protocol::capnp);
  /// Adds `delta` (+1 on arrival, -1 on answer) to the number of calls being served.
  void in_flight(int delta);
  /// A command or query refused at once with Throttling: the node had its limit of them in
  /// flight (ingests count in tributary_ingest_throttled_total).
  void throttled(std::string_view method, protocol through = protocol::capnp);
  /// Adds `delta` to tributary_rpc_connections{protocol}: connections open now.
  void connections(protocol through, int delta);
  /// Counts one call to another node in tributary_peer_calls_total{result}; calls made (all
  /// but `unavailable`) also record `latency` (call → answer, connecting included) in
  /// tributary_peer_call_seconds.
  void peer_call(peer_result result, std::chrono::nanoseconds latency);
  /// tributary_query_partial_failures_total{best_effort}: a fanned-out query missed the shards
  /// of one or more nodes, and failed with PartialQueryFailure (best_effort="false") or was
  /// answered with the other nodes' rows and a warning (best_effort="true").
  void partial_query_failure(bool best_effort);

 private:
  friend class metrics;
  struct state;
  std::unique_ptr<state> state_;
};

/// The catalog and the actors spawned from it.
/// Series: tributary_catalog_version, tributary_catalog_databases, tributary_catalog_tables,
/// tributary_actors{kind="database|table"} (all gauges).
class catalog_probe {
 public:
  /// A detached probe: calls do nothing.
  catalog_probe();
  ~catalog_probe();
  catalog_probe(const catalog_probe&) = delete;
  catalog_probe& operator=(const catalog_probe&) = delete;

  /// Sets the catalog version this node has applied.
  void version(uint64_t v);
  /// Sets the number of databases and tables in the catalog.
  void objects(size_t databases, size_t tables);
  /// Adds `delta` to the number of live actors of `kind` ("database", "table").
  void actors(std::string_view kind, int64_t delta);
  /// tributary_actor_restarts_total{kind}: an actor of `kind` failed and was restarted by its
  /// supervisor.
  void restarted(std::string_view kind);
  /// Cluster mode: tributary_cluster_command_propagation_seconds (commit → every node applied).
  void propagated(std::chrono::nanoseconds took);
  /// Cluster mode: tributary_cluster_watch_reseeds_total.
  void reseeded();
  /// Cluster mode: tributary_cluster_lease_held (1 while the node holds its lease).
  void lease(bool held);
  /// Cluster mode: tributary_cluster_nodes_fenced_total{reason="unreachable|behind"}.
  void fenced(std::string_view reason);

 private:
  friend class metrics;
  struct state;
  std::unique_ptr<state> state_;
};

/// Streaming ingest: requests, bytes, rows, latency, in-flight, throttling, rowstore size and
/// group commits. Per-database series (bounded by the label cache); no per-table series.
class ingest_probe {
 public:
  ingest_probe();
  ~ingest_probe();
  ingest_probe(const ingest_probe&) = delete;
  ingest_probe& operator=(const ingest_probe&) = delete;

  /// One request answered: `result` is "ok", "duplicate" or the error code.
  ///   tributary_ingest_requests_total{database,result}, tributary_ingest_bytes_total{database},
  ///   tributary_ingest_rows_total{database}, tributary_ingest_latency_seconds (histogram)
  void finished(std::string_view database, std::string_view result, uint64_t input_bytes,
                uint64_t rows, std::chrono::nanoseconds latency);
  /// tributary_ingest_throttled_total: requests refused at once because the node was full (bytes or
  /// count in flight, write queue); shed() counts here too.
  void throttled();
  /// tributary_ingest_in_flight: requests received and not yet finished inside the node.
  void in_flight(int delta);
  /// tributary_ingest_in_flight_bytes: request bytes (data and every other field) held by them.
  void in_flight_bytes(int64_t delta);
  /// tributary_ingest_abandoned_total: requests dropped unparsed and unanswered because their
  /// caller had cancelled them or disconnected.
  void abandoned();
  /// tributary_rowstore_bytes{database}, tributary_rowstore_rows{database}.
  void rowstore(std::string_view database, int64_t bytes_delta, int64_t rows_delta);
  /// One group commit: tributary_group_commit_writes (histogram of requests per commit),
  /// tributary_group_commit_seconds (histogram), tributary_group_commit_bytes_total,
  /// tributary_group_commit_wait_seconds (the longest queue wait of a write in the group).
  void group_commit(size_t writes, size_t bytes, std::chrono::nanoseconds duration,
                    std::chrono::nanoseconds longest_wait);
  /// tributary_ingest_prepare_seconds: the table actor's share of one ingest, until queued.
  void prepared(std::chrono::nanoseconds duration);
  /// tributary_ingest_queue_seconds: from the RPC layer receiving a request to its table actor
  /// taking it up (the queueing delay that admission judges, actors/admission.hpp).
  void queued(std::chrono::nanoseconds duration);
  /// tributary_ingest_answer_seconds: from the writer answering an ingest (its group commit
  /// done, or an error) to the RPC thread taking the answer up to send it.
  void answer_handed_over(std::chrono::nanoseconds duration);
  /// tributary_ingest_shed_total: requests refused (Throttling) because they waited past the
  /// queueing-delay target while the node was overloaded; counted in throttled_total as well.
  void shed();
  /// One extent move ended: tributary_extent_moves_total{result="ok|error"},
  /// tributary_extent_moved_bytes_total (rowstore bytes), tributary_extent_move_seconds.
  void moved(bool ok, uint64_t rowstore_bytes, std::chrono::nanoseconds duration);
  /// tributary_extent_bytes: bytes of this node's registered extent files.
  void extent_bytes(int64_t delta);
  /// tributary_storage_corruptions_total{what="extent|rowstore"}: a read found corrupt data (the
  /// request failed with StorageCorruption; the node keeps serving).
  void corruption(std::string_view what);
  /// tributary_disk_budget_bytes and tributary_extent_capacity_bytes (0 = none / unlimited).
  void disk_budget(uint64_t budget_bytes, uint64_t extent_capacity_bytes);

 private:
  friend class metrics;
  struct state;
  std::unique_ptr<state> state_;
};

/// What queries did (query/engine.hpp's statistics).
class query_probe {
 public:
  query_probe();
  ~query_probe();
  query_probe(const query_probe&) = delete;
  query_probe& operator=(const query_probe&) = delete;

  /// What one query run by the engine did:
  ///   tributary_query_runs_total{result="ok|<error code>"},
  ///   tributary_query_run_seconds (histogram of the engine's time, snapshots to result),
  ///   tributary_query_cpu_seconds_total, tributary_query_rows_scanned_total,
  ///   tributary_query_bytes_read_total (compressed extent bytes),
  ///   tributary_query_extents_total{outcome="scanned|pruned"},
  ///   tributary_query_blocks_total{outcome="scanned|pruned"},
  ///   tributary_query_peak_memory_bytes (histogram).
  struct run {
    std::string_view result;  ///< "ok" or the error code
    std::chrono::nanoseconds elapsed{0}, cpu{0};
    uint64_t rows_scanned = 0, bytes_read = 0, extents_scanned = 0, extents_pruned = 0, blocks_scanned = 0,
             blocks_pruned = 0, peak_memory = 0;
  };
  void finished(const run& r);

 private:
  friend class metrics;
  struct state;
  std::unique_ptr<state> state_;
};

/// Data connections (connectors/data_connections.hpp). Each running connection opens its own
/// series, labelled by database and connection (names users chose: one small set per
/// connection, removed when it stops):
///   tributary_connection_messages_total{database, connection}, ..._bytes_total (as consumed),
///   tributary_connection_records_total (stored), ..._failures_total{..., reason} (the error
///   code of a message passed over), tributary_connection_lag{..., partition} (messages between
///   the stored offset and the partition's end, as last fetched), and
///   tributary_connection_produce_to_queryable_seconds (histogram, message timestamp → stored).
class connection_probe {
 public:
  /// One connection's series. Not thread-safe: its consumer's thread alone calls it.
  class series {
   public:
    ~series();
    series(const series&) = delete;
    series& operator=(const series&) = delete;
    void consumed(uint64_t messages, uint64_t bytes);
    /// A batch stored: its records, and each message's time from produce to stored, in seconds.
    void stored(uint64_t records, const std::vector<double>& produce_to_queryable);
    void failed(std::string_view reason);
    /// Messages of `partition` not stored yet; a negative value removes the partition's series.
    void lag(int32_t partition, int64_t messages);

   private:
    friend class connection_probe;
    series();
    struct state;
    std::unique_ptr<state> state_;
  };

  connection_probe();
  ~connection_probe();
  connection_probe(const connection_probe&) = delete;
  connection_probe& operator=(const connection_probe&) = delete;

  /// The series of one connection (of a detached probe: a series whose calls do nothing); they
  /// go when it is destroyed, which must be before this probe.
  std::unique_ptr<series> open(const std::string& database, const std::string& connection);

 private:
  friend class metrics;
  struct state;
  std::unique_ptr<state> state_;
};

/// Owns the metric registry, the probes and the HTTP exposer. Also serves process metrics
/// (process_cpu_seconds_total, process_resident_memory_bytes, ... read from /proc at each
/// scrape) and tributary_build_info{version, node} = 1. Built once in the composition root
/// (node/main.cpp) and passed by reference to whoever needs a probe; must outlive them.
class metrics {
 public:
  /// Serves `/metrics` on `listen` ("127.0.0.1:9400"; port 0 picks an ephemeral port; an
  /// empty string serves nothing, for tests). `node_name` labels tributary_build_info.
  /// Throws std::runtime_error naming the address if it cannot bind.
  metrics(const std::string& listen, std::string node_name);
  /// Stops serving (waits for a scrape in progress), then releases the probes.
  ~metrics();
  metrics(const metrics&) = delete;
  metrics& operator=(const metrics&) = delete;

  /// The port `/metrics` is served on (the real one when `listen` asked for port 0);
  /// 0 when nothing is served.
  uint16_t port() const;

  /// The probes; references valid for the life of this object.
  command_probe& commands();
  rpc_probe& rpc();
  catalog_probe& catalog();
  ingest_probe& ingest();
  controller_probe& controller();
  query_probe& queries();
  connection_probe& connections();

  /// The exposition text a scrape of `/metrics` would return now (Prometheus text format
  /// 0.0.4), without the exposer's own exposer_* series. Works when nothing is served.
  std::string scrape() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace tributary::monitoring
