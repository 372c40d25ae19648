#pragma once
/// How the node's actors are spawned. Protocols: actors/interfaces.hpp.

#include <caf/fwd.hpp>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>

#include "actors/interfaces.hpp"

namespace tributary::storage {
class store;
class rowstore_writer;
struct table_recovery;
}  // namespace tributary::storage
namespace tributary::monitoring {
class command_probe;
class catalog_probe;
class ingest_probe;
}  // namespace tributary::monitoring

namespace tributary::actors {

class directory;
class data_operations;

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
  /// This node's rowstore bytes, kept by the table actors (read by the controller).
  std::atomic<int64_t>& rowstore_bytes;
  /// Ingest is refused (Throttling, transient) while the rowstore holds this much; 0 = no quota.
  /// Movers get a guaranteed rate well before (the controller), so the rowstore drains.
  uint64_t rowstore_quota_bytes = 0;
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
/// for a new table).
table_actor spawn_table(caf::local_actor* parent, const node_env& env, std::string database_name,
                        table_update initial,
                        std::shared_ptr<const storage::table_recovery> recovered);

}  // namespace tributary::actors
