#pragma once
/// Every actor protocol of the node, in one place (STYLE.md): read top to bottom, this file is
/// the node's message flow.
///
///   gateway (RPC bridge) ──command/query──► coordinator ──update──► database ──update──► table
///
/// The coordinator owns the catalog and is its only writer; database actors own their table
/// actors; a table actor owns its table's effective streaming policy and this node's shard of
/// the table (rowstore batches and extents).
///
/// Threads besides the scheduler's workers: the rowstore writer (group commit; answers ingests
/// itself after the fsync), extent movers (detached actors at SCHED_IDLE, asking the
/// backpressure controller for slots and pace), the query pool (table scans captured by the
/// table actor, table_query.hpp), and the coordinator (detached: catalog commits block).

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "cluster/member.hpp"
#include "ingest/ingest.hpp"
#include "model/catalog.hpp"
#include "storage/rowstore.hpp"

namespace tributary::storage {
struct table_recovery;
}

namespace tributary::actors {

using command_atom = caf::atom_constant<caf::atom("command")>;
using query_atom = caf::atom_constant<caf::atom("query")>;
using update_atom = caf::atom_constant<caf::atom("update")>;
using drop_atom = caf::atom_constant<caf::atom("drop")>;
using ingest_atom = caf::atom_constant<caf::atom("ingest")>;
using resolve_atom = caf::atom_constant<caf::atom("resolve")>;
using committed_atom = caf::atom_constant<caf::atom("committed")>;

/// The RPC layer's hold on one ingest request, carried with its call and its reply: the
/// request's in-flight accounting ends in the destructor, when the last of them is gone (on any
/// thread), not when the RPC call ends. `caller_gone` is set once the caller cancelled the call
/// or disconnected; the table then drops the request unparsed and unanswered.
struct ingest_ticket {
  virtual ~ingest_ticket() = default;
  std::atomic<bool> caller_gone{false};
};

/// One streaming ingest request as the RPC layer received it (data possibly gzip).
struct ingest_call {
  std::string database;
  std::string table;
  ingest::format format = ingest::format::csv;
  std::string mapping_name;
  std::string data;
  std::string request_id;
  std::vector<std::pair<std::string, std::string>> properties;
  std::shared_ptr<ingest_ticket> ticket;  ///< null for calls from inside the node
  /// When the node received the request (its queueing delay runs from here); unset (the epoch)
  /// for calls from inside the node.
  std::chrono::steady_clock::time_point received{};
  /// Ingests in flight in the node when this one was received (admission's queue length).
  size_t in_flight_at_receipt = 0;
  /// A data connection's position after these rows, stored in their write batch
  /// (connectors/data_connections.hpp). With empty `data`, only the position is stored.
  std::optional<model::source_position> source;
};

/// The acknowledgement of a durable, visible ingest.
struct ingest_ack {
  uint64_t consumed_records = 0;
  bool duplicate = false;  ///< answered from an earlier request with the same id
};
using ingest_outcome = std::variant<ingest_ack, model::error>;

/// The answer to any ingest while the cluster switch is off.
inline model::error streaming_disabled() {
  return {"StreamingIngestionFunctionalityDisabled",
          "Streaming ingestion is not enabled on this cluster; enable it with: .alter cluster "
          "policy streamingingestion enable",
          true};
}

/// Where a table actor sends an ingest's answer: called exactly once, from the actor's thread,
/// once the rows are durable and visible (or with the error). The RPC layer passes a
/// cross-thread fulfiller here, so the answer skips any further actor hop.
struct ingest_reply {
  std::function<void(ingest_outcome)> fn;
};

using claim_atom = caf::atom_constant<caf::atom("claim")>;

/// A claim's answer when this node holds no request with the id and now never will take one
/// (cluster/README.md "Retries across nodes").
struct claim_unknown {};
/// What a table answers a claim of a request id (Peer.claimIngest): the ack it gave the request
/// (duplicate=true), `claim_unknown`, or an error.
using claim_outcome = std::variant<ingest_ack, claim_unknown, model::error>;

/// Tombstones a table keeps at most: past it the oldest goes first (it no longer stops a late
/// original of its request from ingesting here; cluster/README.md "Retries across nodes").
/// About 100 bytes each with a GUID request id: at most ~10 MB per table.
constexpr size_t max_claim_tombstones = 100'000;

/// Where a table actor sends a claim's answer: called exactly once, from the actor's thread
/// (a cross-thread fulfiller of the RPC layer, as for ingest_reply).
struct claim_reply {
  std::function<void(claim_outcome)> fn;
};

/// A table's rows at one moment, for a query (actors/table_query.hpp); null when the table is
/// being dropped.
struct table_snapshot;
using table_snapshot_ptr = std::shared_ptr<const table_snapshot>;

/// What a database actor tells its tables when the database's policy or the switch changes.
struct database_update {
  std::optional<model::streaming_policy> policy;  ///< the database's own policy
  bool streaming_on = false;                      ///< the cluster switch
};

using seal_atom = caf::atom_constant<caf::atom("seal")>;
using sealed_atom = caf::atom_constant<caf::atom("sealed")>;
using extents_atom = caf::atom_constant<caf::atom("extents")>;
using clear_atom = caf::atom_constant<caf::atom("clear")>;
using scanned_atom = caf::atom_constant<caf::atom("scanned")>;
using details_atom = caf::atom_constant<caf::atom("details")>;
using acquire_atom = caf::atom_constant<caf::atom("acquire")>;
using release_atom = caf::atom_constant<caf::atom("release")>;
using budget_atom = caf::atom_constant<caf::atom("budget")>;
using register_atom = caf::atom_constant<caf::atom("register")>;
using restart_atom = caf::atom_constant<caf::atom("restart")>;
/// A barrier: answered once everything sent to the actor before it was handled. A management
/// command answers after its changes reached every actor they concern, so a request sent after
/// the answer finds them applied (a policy enabled a moment ago is enabled).
using settle_atom = caf::atom_constant<caf::atom("settle")>;

/// What the backpressure controller currently allows extent movers, and the readings behind it.
struct mover_budget {
  uint32_t movers_allowed = 0;       ///< movers that may run at once now (0 = paused)
  uint32_t pause_us = 0;             ///< pause per 4 MiB moved (movers spread it in short sleeps)
  bool throttle_ingest = false;      ///< the rowstore is near its quota: ingest is refused
                                     ///< (Throttling) and movers get a guaranteed minimum rate
  bool rowstore_pressed = false;     ///< the rowstore is past the guarantee mark: tables seal
                                     ///< whatever they hold
  uint32_t movers_running = 0;
  double system_cpu = 0;             ///< 0..1 over all cores, last sample
  double process_cpu = 0;            ///< 0..1 over all cores, last sample
  uint64_t rss_bytes = 0;
  uint64_t memory_limit_bytes = 0;   ///< 0 = no limit
  uint64_t memtable_bytes = 0;       ///< RocksDB memtables
  uint64_t rowstore_bytes = 0;
  uint64_t rowstore_quota_bytes = 0; ///< 0 = no quota
};

/// BACKPRESSURE CONTROLLER: one per node. Samples CPU (system and process, /proc) and memory
/// (RSS against --memory-limit, RocksDB memtables) a few times a second and decides how many
/// extent movers may run and how fast; hands out mover slots.
using controller_actor = caf::typed_actor<
    /// Answers once a mover slot is free under the current budget (possibly much later); the
    /// caller must send release when its move ends, whatever the outcome.
    caf::replies_to<acquire_atom>::with<mover_budget>,
    /// A move ended: its slot is free.
    caf::reacts_to<release_atom>,
    /// The current budget and readings (movers ask between blocks; .show commands and metrics).
    caf::replies_to<budget_atom>::with<mover_budget>>;

/// One extent move: the rows of `table` with sequence in [from_sequence, to_sequence], written
/// to one extent file.
struct seal_job {
  model::table_id table{};
  std::vector<model::column> schema;
  uint64_t from_sequence = 0;
  uint64_t to_sequence = 0;
  uint32_t pause_us = 0;  ///< per 4 MiB moved, from the controller's budget at the start (the
                          ///< mover asks again as it goes)
  bool guaranteed = false;  ///< the controller guarantees movers a rate (rowstore near its
                            ///< reserve): the move runs at normal priority
  /// Set by the table when the move's result is no longer wanted (table dropped or failed): the
  /// mover stops at its next batch, removes its file and answers "Cancelled".
  std::shared_ptr<std::atomic<bool>> cancelled;
};
/// The extent written (not yet registered), or why not (the file is then removed).
using seal_result = std::variant<storage::extent_record, model::error>;

/// EXTENT MOVER: detached (file I/O and fsync), one per move, at most as many at once as the
/// controller allows. Reads a sealed rowstore range, writes and fsyncs one extent, answers, quits.
using mover_actor = caf::typed_actor<caf::replies_to<seal_atom, seal_job>::with<seal_result>>;

/// A table's definition as the catalog has it now, plus what the table needs from above.
struct table_update {
  model::table table;
  database_update database;
  /// What start-up recovery found of the table's shard; only on the first update.
  std::shared_ptr<const storage::table_recovery> recovered;
};

/// TABLE: one per table of the catalog on this node.
using table_actor = caf::typed_actor<
    /// The table's definition changed (columns, mappings, own policy).
    caf::reacts_to<update_atom, table_update>,
    /// Its database's policy or the switch changed.
    caf::reacts_to<update_atom, database_update>,
    /// Ingests one request: checks, parses, commits through the rowstore writer, then answers
    /// through the reply (durable and visible) — or answers an error and ingests nothing.
    caf::reacts_to<ingest_atom, ingest_call, ingest_reply>,
    /// Another node retries request `id` (Peer.claimIngest): answers the ack of the request if
    /// this table committed it within the dedup window; waits for it if it is in flight; else
    /// records a tombstone (in memory, for the dedup window, at most max_claim_tombstones) that
    /// makes a later ingest of `id` fail with RequestClaimedElsewhere, and answers claim_unknown.
    caf::reacts_to<claim_atom, std::string, claim_reply>,
    /// The rowstore writer committed (or failed) the batch with this sequence.
    caf::reacts_to<committed_atom, uint64_t, std::optional<model::error>>,
    /// A snapshot of this node's shard of the table for a query (null while it is dropped):
    /// until it is released, the files it reads stay.
    caf::replies_to<query_atom>::with<table_snapshot_ptr>,
    /// A query released snapshot `id` (table_snapshot's destructor).
    caf::reacts_to<scanned_atom, uint64_t>,
    /// The table was dropped: finish pending commits, delete its data, stop.
    caf::reacts_to<drop_atom>,
    /// Checks the seal triggers (size, age, policy) and starts a move when one fires.
    caf::reacts_to<seal_atom>,
    /// The registration of extent `id` (and the deletion of its rowstore range) committed.
    caf::reacts_to<sealed_atom, uint64_t, std::optional<model::error>>,
    /// Registers extent `id` again after a failed registration (backed off).
    caf::reacts_to<register_atom, uint64_t>,
    /// `.show table T extents`: one row per extent.
    caf::replies_to<extents_atom>::with<model::outcome>,
    /// `.show table T details`: fills the extent statistics into the catalog's row.
    caf::replies_to<details_atom, model::result_table>::with<model::outcome>,
    /// `.clear table T data`: deletes every row (rowstore and extents) ingested before it;
    /// answers once the deletion is durable.
    caf::replies_to<clear_atom>::with<model::outcome>,
    /// The clear's deletion committed (from the writer).
    caf::reacts_to<clear_atom, std::optional<model::error>>,
    /// A barrier (settle_atom): every update sent before it is applied.
    caf::replies_to<settle_atom>::with<bool>>;

/// A table's actor, or why there is none.
using resolved_table = std::variant<table_actor, model::error>;

/// DATABASE: one per database; spawns, updates and stops its table actors, and supervises
/// them: a table actor that fails (an exception) has answered its in-flight requests with a
/// transient `TableRestarting` error; the database restarts it from its durable state once its
/// earlier writes are settled and its mover has stopped, without touching the other tables.
/// A failing database takes the coordinator, and so the node, down (main exits non-zero).
using database_actor = caf::typed_actor<
    /// Restart step for a failed table: `settled` false = wait for its mover and its earlier
    /// writes; true = they are durable: recover its shard and spawn it again.
    caf::reacts_to<restart_atom, model::table_id, bool>,
    /// The database's own policy or the switch changed; forwarded to every table.
    caf::reacts_to<update_atom, database_update>,
    /// A table was created or changed: spawn or update its actor.
    caf::reacts_to<update_atom, table_update>,
    /// A table was dropped: its actor deletes the table's data and stops.
    caf::reacts_to<drop_atom, model::table_id>,
    /// The database was dropped: every table deletes its data and stops, then this actor.
    caf::reacts_to<drop_atom>,
    /// Returns the actor of table `name`, or an error naming the table.
    caf::replies_to<resolve_atom, std::string>::with<resolved_table>,
    /// `.show table T extents` / `.clear table T data`, answered by the table's actor.
    caf::replies_to<extents_atom, std::string>::with<model::outcome>,
    caf::replies_to<details_atom, std::string, model::result_table>::with<model::outcome>,
    caf::replies_to<clear_atom, std::string>::with<model::outcome>,
    /// A barrier (settle_atom) through this actor and every table actor it has.
    caf::replies_to<settle_atom>::with<bool>,
    /// A barrier through this actor and the actor of one table (if it has one).
    caf::replies_to<settle_atom, model::table_id>::with<bool>>;

using catalog_atom = caf::atom_constant<caf::atom("catalog")>;
using acked_atom = caf::atom_constant<caf::atom("acked")>;

/// Cluster mode: a catalog version as the metadata store's watch delivered it.
struct catalog_message {
  cluster::catalog_version version;
};

/// Cluster mode: every node's answer to a version a command of this node committed.
struct acks_message {
  std::vector<cluster::node_ack> acks;
};

/// COORDINATOR: one per node; owns the catalog (persisted through storage::store) and the
/// cluster switch. Runs detached: it fsyncs catalog changes. In cluster mode the catalog's
/// source is the metadata store: a command commits there (cluster::member::commit), and every
/// node's coordinator applies each version the watch delivers, then reports it applied.
using coordinator_actor = caf::typed_actor<
    /// Cluster mode: apply a catalog version (diffed against the current one).
    caf::reacts_to<catalog_atom, catalog_message>,
    /// Cluster mode: the acknowledgements of the command waiting under `token`.
    caf::reacts_to<acked_atom, uint64_t, acks_message>,
    /// Runs a management command in a database context; always answers with an outcome.
    caf::replies_to<command_atom, std::string, std::string>::with<model::outcome>,
    /// Finds the actor of table `table` in database `database` (the gateway's slow path when
    /// its directory does not know the table yet).
    caf::replies_to<resolve_atom, std::string, std::string>::with<resolved_table>>;

}  // namespace tributary::actors

// Local-only messages: they never cross a node boundary (nodes talk over Cap'n Proto, the Peer
// interface in schema/tributary.capnp, not CAF remote actors), so they need no inspect().
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tributary::model::outcome)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tributary::actors::catalog_message)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tributary::actors::acks_message)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tributary::model::result_table)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tributary::model::table_id)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tributary::actors::database_update)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tributary::actors::table_update)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tributary::actors::ingest_call)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tributary::actors::ingest_outcome)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tributary::actors::ingest_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tributary::actors::claim_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tributary::actors::mover_budget)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tributary::actors::seal_job)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tributary::actors::seal_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tributary::actors::table_snapshot_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tributary::actors::resolved_table)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::optional<tributary::model::error>)
