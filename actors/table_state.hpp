#pragma once
/// Private to the table actor (actors/table.cpp, actors/table_seal.cpp): its state and the
/// sealing steps the two files share. Protocol: `table_actor` in actors/interfaces.hpp.

#include <atomic>
#include <caf/all.hpp>
#include <chrono>
#include <deque>
#include <filesystem>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "actors/actors.hpp"
#include "monitoring/metrics.hpp"
#include "storage/rowstore.hpp"

namespace tributary::actors::table_detail {

using clock = std::chrono::steady_clock;

// A batch handed to the writer. Its own answer leaves from the writer thread; retries of the
// same request id that arrive meanwhile wait here for it.
struct pending_commit {
  std::vector<ingest_reply> retries;
  std::vector<claim_reply> claims;  // other nodes' claims of its request id, answered with it
  std::string request_id;
  uint32_t rows = 0;
  int64_t ingestion_ticks = 0;
  uint32_t bytes = 0;
  uint64_t input_bytes = 0;
  clock::time_point start;
  clock::time_point received;  // by the node (the RPC layer), or start for calls from inside
};

// What the table knows of itself: its definition, effective policy and the switch.
struct table_state {
  model::table table;
  std::optional<model::streaming_policy> effective_policy;
  bool streaming_on = false;
};

struct table_st {
  const node_env* env = nullptr;
  table_state state;
  std::optional<model::streaming_policy> database_policy;
  std::string database_name;
  uint64_t next_sequence = 1;
  // Committed batches, in sequence order: what queries see.
  std::vector<storage::table_recovery::batch_info> batches;
  uint64_t total_rows = 0;
  uint64_t total_bytes = 0;
  bool counted_in_usage = false;  // in usage.tables_with_rowstore
  // Batches handed to the writer and not yet committed, by sequence.
  std::unordered_map<uint64_t, pending_commit> pending;
  std::unordered_map<std::string, uint64_t> pending_ids;
  // Request ids another node claimed (Peer.claimIngest) that this table never committed: an
  // ingest of one is refused. In memory only (a restarted node has no connection left that could
  // still deliver the original), by claim time; `tombstone_order` is oldest first, for expiry
  // after the dedup window and the max_claim_tombstones bound.
  std::unordered_map<std::string, int64_t> tombstones;
  std::deque<std::pair<std::string, int64_t>> tombstone_order;
  // Sealed ranges, in sequence order: the rows before the rowstore's.
  std::vector<storage::extent_record> extents;
  bool sealing = false;          // a move or its registration is under way
  int64_t seal_started_ticks = 0;
  // The running move's cancel flag (set when a drop or a failure makes its result unwanted), and
  // the table's running movers, kept by the database across restarts of this actor.
  std::shared_ptr<std::atomic<bool>> move_cancelled;
  std::shared_ptr<std::atomic<int>> movers;
  // A failed registration is retried after this long, doubling up to max_register_backoff;
  // meanwhile `backing_off` holds the extent's id (no write of it is on its way).
  std::chrono::milliseconds register_backoff{0};
  std::optional<uint64_t> backing_off;
  bool seal_tick_pending = false;
  bool dropping = false;
  bool dropped = false;  // the drop's delete is submitted and the actor quits
  // .clear table T data: while its delete is on its way to disk, rows below `clear_below`
  // (0 = no clear running) are still the table's; memory follows only once the delete is
  // durable, so a failed clear changes nothing. No move starts or registers meanwhile. Moves
  // started before a committed clear are discarded (their generation is older).
  uint64_t clear_below = 0;
  uint64_t cleared_below_sequence = 0;  // the last committed clear's boundary
  uint64_t generation = 0;
  // Snapshots queries hold, by id; while any is held, removed extents keep their files.
  std::unordered_set<uint64_t> scans;
  uint64_t next_scan = 0;
  std::vector<std::filesystem::path> doomed_files;
  std::optional<caf::typed_response_promise<model::outcome>> clear_reply;
  bool clear_written = false;  // the clear's delete is durable; the reply waits for a running move
  model::result_table clear_result;

  // Answers the running clear (its result, or the error that stopped it).
  void answer_clear(std::optional<model::error> error) {
    clear_reply->deliver(error ? model::outcome{*error} : model::outcome{std::move(clear_result)});
    clear_reply.reset();
    clear_written = false;
  }
  static inline const char* name = "table";

  void recompute() {
    state.effective_policy = state.table.policy ? state.table.policy : database_policy;
  }

  model::error not_found() const {
    return {"BadRequest_TableNotExist",
            fmt::format("Table '{}' does not exist in database '{}' (it was dropped)", state.table.name,
                        database_name),
            true};
  }

  bool policy_off() const { return !state.effective_policy || !state.effective_policy->is_enabled; }

  // HintAllocatedRate (GB per hour) raises the size trigger to five minutes of that rate.
  uint64_t seal_threshold() const {
    // The node's rowstore nears its reserve: everything goes, so that thinly spread data drains.
    if (env->usage.rowstore_pressed.load(std::memory_order_relaxed)) return 1;
    uint64_t t = env->seal_after_bytes;
    if (state.effective_policy && state.effective_policy->hint_allocated_rate)
      // Bounded at parse time (commands::max_hint_allocated_rate); clamped here too, for a catalog
      // written before that bound: a double past 2^64 cast to uint64_t is undefined.
      t = std::max<uint64_t>(t, static_cast<uint64_t>(std::clamp(*state.effective_policy->hint_allocated_rate, 0.0, 1e6) * 1e9 / 12));
    return t;
  }

  uint64_t extent_file_bytes() const {
    uint64_t n = 0;
    for (const auto& e : extents) n += e.file_bytes;
    return n;
  }

  uint64_t extent_rows() const {
    uint64_t n = 0;
    for (const auto& e : extents) n += e.rows;
    return n;
  }

  // Rowstore bytes and rows changed: the per-database metric and the node total the
  // backpressure controller watches.
  // Called after total_bytes changed.
  void account(int64_t bytes, int64_t rows) {
    env->ingest_probe.rowstore(database_name, bytes, rows);
    env->usage.rowstore_bytes.fetch_add(bytes, std::memory_order_relaxed);
    if (const bool holds = total_bytes > 0; holds != counted_in_usage) {
      env->usage.tables_with_rowstore.fetch_add(holds ? 1 : -1, std::memory_order_relaxed);
      counted_in_usage = holds;
    }
  }

  // The rowstore's rows are gone (cleared, dropped).
  void forget_rowstore() {
    const auto bytes = static_cast<int64_t>(total_bytes), rows = static_cast<int64_t>(total_rows);
    batches.clear();
    total_bytes = total_rows = 0;
    account(-bytes, -rows);
  }

  // Extent file bytes changed: the metric and the node total held against the disk budget.
  void account_extents(int64_t bytes) const {
    env->ingest_probe.extent_bytes(bytes);
    env->usage.extent_bytes.fetch_add(bytes, std::memory_order_relaxed);
  }

  void add_batch(const storage::table_recovery::batch_info& b) {
    batches.push_back(b);
    total_rows += b.rows;
    total_bytes += b.bytes;
  }
};

using table_ptr = table_actor::stateful_pointer<table_st>;


// --- sealing (actors/table_seal.cpp) ---

/// Seals when the rowstore passes its size threshold, its oldest row its age threshold, or the
/// effective policy is gone or disabled; otherwise checks again when the oldest row is old enough.
void maybe_seal(table_ptr self);
/// The registration of extent `id` committed (or failed: retried after a backoff).
void sealed(table_ptr self, uint64_t id, std::optional<model::error>& error);
/// The backoff after a failed registration ended: registers extent `id` again.
void register_again(table_ptr self, uint64_t id);
/// A clear or a drop made the extent whose registration is backing off pointless: the seal ends
/// now rather than when the backoff's timer fires.
void give_up_registration(table_ptr self);
/// A dropped table stops once nothing of it runs any more: no commit pending, no scan reading
/// its files, no move writing one. Then its data is deleted and the actor quits.
void maybe_finish_drop(table_ptr self);

}  // namespace tributary::actors::table_detail
