#pragma once
/// Every actor protocol of the node, in one place (STYLE.md): read top to bottom, this file is
/// the node's message flow.
///
///   gateway (RPC bridge) ──command/query──► coordinator ──update──► database ──update──► table
///
/// The coordinator owns the catalog and is its only writer; database actors own their table
/// actors; a table actor owns its table's effective streaming policy (and, from the ingest
/// issue on, this node's rowstore shard of the table).

#include <optional>
#include <string>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "model/catalog.hpp"

namespace tributary::actors {

using command_atom = caf::atom_constant<caf::atom("command")>;
using query_atom = caf::atom_constant<caf::atom("query")>;
using update_atom = caf::atom_constant<caf::atom("update")>;
using drop_atom = caf::atom_constant<caf::atom("drop")>;
using describe_atom = caf::atom_constant<caf::atom("describe")>;

/// What a database actor tells its tables when the database's policy or the switch changes.
struct database_update {
  std::optional<model::streaming_policy> policy;  ///< the database's own policy
  bool streaming_on = false;                      ///< the cluster switch
};

/// A table's definition as the catalog has it now, plus what the table needs from above.
struct table_update {
  model::table table;
  database_update database;
};

/// What a table actor currently holds (diagnostics and tests).
struct table_state {
  model::table table;
  std::optional<model::streaming_policy> effective_policy;
  bool streaming_on = false;
};

/// TABLE: one per table of the catalog on this node.
using table_actor = caf::typed_actor<
    /// The table's definition changed (columns, mappings, own policy).
    caf::reacts_to<update_atom, table_update>,
    /// Its database's policy or the switch changed.
    caf::reacts_to<update_atom, database_update>,
    /// Returns the table's current state.
    caf::replies_to<describe_atom>::with<table_state>>;

/// DATABASE: one per database; spawns, updates and stops its table actors.
using database_actor = caf::typed_actor<
    /// The database's own policy or the switch changed; forwarded to every table.
    caf::reacts_to<update_atom, database_update>,
    /// A table was created or changed: spawn or update its actor.
    caf::reacts_to<update_atom, table_update>,
    /// A table was dropped: stop its actor.
    caf::reacts_to<drop_atom, model::table_id>,
    /// Returns the state of table `name`; caf error if it has no actor.
    caf::replies_to<describe_atom, std::string>::with<table_state>>;

/// COORDINATOR: one per node; owns the catalog (persisted through storage::store) and the
/// cluster switch. Runs detached: it fsyncs catalog changes.
using coordinator_actor = caf::typed_actor<
    /// Runs a management command in a database context; always answers with an outcome.
    caf::replies_to<command_atom, std::string, std::string>::with<model::outcome>,
    /// Runs a query in a database context.
    caf::replies_to<query_atom, std::string, std::string>::with<model::outcome>>;

}  // namespace tributary::actors

// Local-only messages for now: they never cross a node boundary until the cluster issue gives
// them inspect() overloads.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tributary::model::outcome)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tributary::model::table_id)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tributary::actors::database_update)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tributary::actors::table_update)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tributary::actors::table_state)
