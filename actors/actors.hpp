#pragma once
/// How the node's actors are spawned. Protocols: actors/interfaces.hpp.

#include <caf/fwd.hpp>

#include "actors/interfaces.hpp"

namespace tributary::storage {
class store;
}
namespace tributary::monitoring {
class command_probe;
class catalog_probe;
}  // namespace tributary::monitoring

namespace tributary::actors {

/// Probes the actors report to; owned by the caller, must outlive the actor system.
struct probes {
  monitoring::command_probe& commands;
  monitoring::catalog_probe& catalog;
};

struct coordinator_config {
  /// Turn the cluster switch on when the data dir is new (catalog version 0).
  bool streaming_on_first_start = false;
};

/// Spawns the COORDINATOR (detached): loads the catalog from `store`, spawns a database actor
/// per database and a table actor per table, then serves commands. `store` and `probes` must
/// outlive the actor system. Fails with the storage error when the catalog cannot be loaded.
std::variant<coordinator_actor, model::error> spawn_coordinator(caf::actor_system& sys,
                                                                 storage::store& store,
                                                                 probes probes,
                                                                 coordinator_config config);

/// Spawns a DATABASE actor linked to `parent`; it spawns and owns its table actors.
database_actor spawn_database(caf::local_actor* parent, monitoring::catalog_probe& probe,
                              database_update initial);

/// Spawns a TABLE actor linked to `parent`.
table_actor spawn_table(caf::local_actor* parent, monitoring::catalog_probe& probe,
                        table_update initial);

}  // namespace tributary::actors
