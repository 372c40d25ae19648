#pragma once
/// How the node's actors are spawned. Protocols: actors/interfaces.hpp.

#include <caf/fwd.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>

#include "actors/ack_histogram.hpp"
#include "actors/interfaces.hpp"

namespace tributary::storage {
class store;
class rowstore_writer;
struct table_recovery;
}  // namespace tributary::storage
namespace tributary::cluster {
class member;
}
namespace tributary::monitoring {
class command_probe;
class catalog_probe;
class ingest_probe;
}  // namespace tributary::monitoring

namespace tributary::actors {

class directory;
class data_operations;
class query_pool;
class ingest_admission;

/// The node's disk use, kept by its table actors and read by the controller, the ingest
/// checks and `.show cluster streamingingestion`. Lock-free counters.
struct storage_usage {
  std::atomic<int64_t> rowstore_bytes{0};  ///< all tables' rowstore (batch) bytes
  std::atomic<int64_t> extent_bytes{0};    ///< all registered extent files' bytes
  std::atomic<int64_t> tables_with_rowstore{0};  ///< tables whose rowstore holds data
  /// The controller's decisions: ingest refused while the rowstore drains (Throttling) ...
  std::atomic<bool> ingest_throttled{false};
  /// ... and every table seals what it holds, whatever its thresholds, so the rowstore drains
  /// even when the data is spread thinly over many tables.
  std::atomic<bool> rowstore_pressed{false};
  /// Ingest acks' latencies (receive → durable answer), for the controller's ack-latency signal.
  ack_histogram acks;

  uint64_t rowstore() const { return static_cast<uint64_t>(std::max<int64_t>(0, rowstore_bytes.load(std::memory_order_relaxed))); }
  uint64_t extents() const { return static_cast<uint64_t>(std::max<int64_t>(0, extent_bytes.load(std::memory_order_relaxed))); }
};

/// The node's disk budget (--disk-budget) and, while streaming is on, the part of it reserved
/// for the rowstore (--rowstore-reserve); what is left is the extents' capacity (Kusto's "hot
/// cache", which streaming ingestion shrinks the same way). 0 = none.
struct disk_budget {
  uint64_t budget_bytes = 0;
  uint64_t rowstore_reserve_bytes = 0;

  /// Bytes extents may use; 0 = unlimited.
  uint64_t extent_capacity(bool streaming_on) const {
    if (!budget_bytes) return 0;
    const uint64_t reserve = streaming_on ? rowstore_reserve_bytes : 0;
    return budget_bytes > reserve ? budget_bytes - reserve : 1;
  }
};

/// What every actor of the node shares. Owned by main(); outlives the actor system.
struct node_env {
  storage::store& store;
  storage::rowstore_writer& writer;
  directory& tables;
  data_operations& operations;
  monitoring::command_probe& command_probe;
  monitoring::catalog_probe& catalog_probe;
  monitoring::ingest_probe& ingest_probe;
  /// A retried request id within this window is answered from the first result.
  std::chrono::seconds dedup_window{600};
  /// Turn the cluster switch on when the data dir is new (catalog version 0).
  bool streaming_on_first_start = false;
  /// Where extents live (`<data_dir>/extents`).
  std::filesystem::path data_dir;
  /// A table's rowstore is sealed into an extent once it holds this many bytes (raised by the
  /// policy's HintAllocatedRate: five minutes of the hinted rate) ...
  uint64_t seal_after_bytes = 16u << 20;
  /// ... or once its oldest row is this old.
  std::chrono::seconds seal_after_age{60};
  /// Hands out mover slots; when invalid, moves run without one (tests of the table alone).
  controller_actor controller;
  /// This node's rowstore and extent bytes, and the controller's throttle decisions.
  storage_usage& usage;
  /// Ingest is refused (Throttling, transient) while the rowstore holds its reserve, and
  /// (DiskBudgetExceeded) while extents fill their capacity. Movers get a guaranteed rate well
  /// before the reserve fills (the controller), so the rowstore drains.
  disk_budget disk;
  /// Priority of extent movers' threads: `mover_idle` (SCHED_IDLE: only CPU nothing else wants)
  /// or a niceness 0..19. A move the controller guarantees runs at normal priority whatever
  /// this says, so the rowstore drains even on a saturated machine.
  static constexpr int mover_idle = -1;
  int mover_nice = mover_idle;
  /// Where table scans run; null = on the table actor itself (tests of the actor alone).
  query_pool* queries = nullptr;
  /// Refuses ingests that waited too long before their table took them up (actors/admission.hpp);
  /// null: none is refused for waiting (tests of the table alone).
  ingest_admission* admission = nullptr;
  /// Cluster mode: the node's membership and the catalog's source; null when alone.
  cluster::member* cluster = nullptr;
  /// This node's id (--node-id in a cluster, --node-name alone), for per-node answers.
  std::string node_id;
  /// Called by the coordinator, on its thread, with the catalog once it starts and after every
  /// change it follows (the data connections run from it: connectors/data_connections.hpp).
  /// Copy what is needed and return.
  std::function<void(const model::catalog&)> catalog_applied;
  /// The node's data connections as they run: completes the rows of `.show database D data
  /// connections` (State, Reason, counts, offsets) and answers `.show ingestion failures`;
  /// null: none run here.
  std::function<void(model::result_table&)> complete_data_connections;
  std::function<model::outcome()> ingestion_failures;
};

/// Spawns the COORDINATOR (detached): loads the catalog and recovers the rowstore from the
/// store, spawns a database actor per database and a table actor per table, then serves
/// commands. Fails with the storage error when the catalog or rowstore cannot be read.
std::variant<coordinator_actor, model::error> spawn_coordinator(caf::actor_system& sys,
                                                                 const node_env& env);

/// Spawns a DATABASE actor linked to `parent`; it spawns and owns its table actors.
database_actor spawn_database(caf::local_actor* parent, const node_env& env, std::string name,
                              database_update initial);

/// Spawns an EXTENT MOVER (detached) for one move.
mover_actor spawn_mover(caf::local_actor* parent, const node_env& env);

/// Spawns a TABLE actor linked to `parent`, recovering its shard from `recovered` (may be null
/// for a new table). `movers` counts the table's running extent movers and outlives the actor
/// (its parent keeps it across restarts): a restarted table starts no move while a mover of its
/// failed predecessor still runs.
table_actor spawn_table(caf::local_actor* parent, const node_env& env, std::string database_name,
                        table_update initial,
                        std::shared_ptr<const storage::table_recovery> recovered,
                        std::shared_ptr<std::atomic<int>> movers);

/// The transient error a table answers while it restarts after a failure.
model::error table_restarting(const std::string& database, const std::string& table, const std::string& why);

}  // namespace tributary::actors
