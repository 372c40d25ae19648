#include <algorithm>
#include <caf/all.hpp>
#include <filesystem>
#include <spdlog/spdlog.h>
#include <fmt/format.h>
#include <unordered_map>

#include "actors/actors.hpp"
#include "actors/admission.hpp"
#include "actors/directory.hpp"
#include "actors/operations.hpp"
#include "actors/query_pool.hpp"
#include "actors/table_query.hpp"
#include "actors/table_state.hpp"
#include "monitoring/metrics.hpp"
#include "storage/crash_point.hpp"
#include "storage/extent.hpp"
#include "storage/rowstore.hpp"

namespace tributary::actors {
namespace {

using model::now_ticks;
using model::ticks_per_second;
using namespace table_detail;



model::error check_allowed(const table_st& st, const ingest_call& call) {
  const auto& t = st.state.table;
  if (!st.state.streaming_on) return streaming_disabled();
  if (!st.state.effective_policy || !st.state.effective_policy->is_enabled)
    return {"BadRequest_StreamingIngestionPolicyNotEnabled",
            fmt::format("table '{}' in database '{}' has no enabled streaming ingestion policy; run\n"
                        "  .alter table {} policy streamingingestion enable",
                        t.name, st.database_name, t.name),
            true};
  const auto& usage = st.env->usage;
  const auto& disk = st.env->disk;
  const uint64_t rowstore = usage.rowstore();
  if (usage.ingest_throttled.load(std::memory_order_relaxed) ||
      (disk.rowstore_reserve_bytes && rowstore + call.data.size() > disk.rowstore_reserve_bytes))
    return {"Throttling",
            fmt::format("the node's rowstore holds {} bytes of its {}-byte reserve (--rowstore-reserve) while "
                        "extent movers drain it; retry after a short backoff",
                        rowstore, disk.rowstore_reserve_bytes),
            false};
  if (const uint64_t capacity = disk.extent_capacity(true); capacity && usage.extents() >= capacity)
    return {"DiskBudgetExceeded",
            fmt::format("the node's extents use {} bytes, the whole capacity left for them ({} bytes: "
                        "--disk-budget {} less --rowstore-reserve {}); nothing was ingested into table '{}'. "
                        "Free space with .clear table <T> data or .drop table <T>, or restart the node with "
                        "a larger --disk-budget",
                        usage.extents(), capacity, disk.budget_bytes, disk.rowstore_reserve_bytes, t.name),
            true};
  if (call.data.size() > ingest::max_request_bytes)
    return {"BadRequest_RequestTooLarge",
            fmt::format("the request carries {} bytes for table '{}'; streaming ingestion takes at "
                        "most {} bytes per request: split the data into smaller requests",
                        call.data.size(), t.name, ingest::max_request_bytes),
            true};
  return {};
}

// The mapping a request names, or an error that says which mappings exist.
std::variant<const model::mapping*, model::error> find_mapping(const table_st& st, const ingest_call& call) {
  if (call.mapping_name.empty()) return static_cast<const model::mapping*>(nullptr);
  const auto kind = ingest::mapping_kind_for(call.format);
  const model::mapping* other_kind = nullptr;
  for (const auto& m : st.state.table.mappings) {
    if (m.name != call.mapping_name) continue;
    if (m.kind == kind) return &m;
    other_kind = &m;
  }
  const auto& t = st.state.table;
  if (other_kind)
    return model::error{"BadRequest_InconsistentMapping",
                        fmt::format("mapping '{}' of table '{}' is a {} mapping, but format {} needs a {} "
                                    "mapping; create one with .create table {} ingestion {} mapping '{}' '<json>'",
                                    call.mapping_name, t.name, model::to_string(other_kind->kind),
                                    ingest::to_string(call.format), model::to_string(kind), t.name,
                                    model::to_string(kind), call.mapping_name),
                        true};
  return model::error{"BadRequest_MappingReferenceWasNotFound",
                      fmt::format("table '{}' in database '{}' has no {} mapping named '{}'; .show table {} "
                                  "ingestion mappings lists them (mappings must be pre-created)",
                                  t.name, st.database_name, model::to_string(kind), call.mapping_name, t.name),
                      true};
}

model::error claimed_elsewhere(const table_st& st, const std::string& request_id) {
  return {"RequestClaimedElsewhere",
          fmt::format("request id '{}' for table '{}' in database '{}' was retried at another node, which took it "
                      "over and ingests it (or did); nothing was ingested here. That retry's answer is this "
                      "request's answer; to send these rows again, use a new requestId",
                      request_id, st.state.table.name, st.database_name),
          true};
}

model::error overloaded(const ingest_admission& a, clock::duration waited) {
  using ms = std::chrono::duration<double, std::milli>;
  return {"Throttling",
          fmt::format("the node is overloaded: this request waited {:.1f} ms for its turn, past the node's "
                      "queueing-delay target of {:.0f} ms (--ingest-queue-target); nothing was ingested. Retry "
                      "after a short backoff with the same requestId, or spread the load over more nodes",
                      ms(waited).count(), ms(a.target()).count()),
          false};
}

// Tombstones older than the dedup window go: by then a late original is a new request anyway.
void expire_tombstones(table_st& st, int64_t now) {
  const int64_t oldest = now - st.env->dedup_window.count() * ticks_per_second;
  while (!st.tombstone_order.empty() && st.tombstone_order.front().second < oldest) {
    st.tombstones.erase(st.tombstone_order.front().first);
    st.tombstone_order.pop_front();
  }
}

void add_tombstone(table_st& st, const std::string& request_id, int64_t now) {
  if (!st.tombstones.emplace(request_id, now).second) return;
  st.tombstone_order.emplace_back(request_id, now);
  if (st.tombstone_order.size() <= max_claim_tombstones) return;
  // Full: the oldest goes, though its window has not passed; a late original of it could then
  // ingest here. Logged, since that is where the guarantee ends.
  spdlog::warn("table '{}' in database '{}' holds {} claimed request ids; the oldest ('{}') is forgotten before the "
               "dedup window ends",
               st.state.table.name, st.database_name, max_claim_tombstones, st.tombstone_order.front().first);
  st.tombstones.erase(st.tombstone_order.front().first);
  st.tombstone_order.pop_front();
}

// Peer.claimIngest, in this actor's order with ingests: either this table has the request (its
// ack), or will have its answer soon (in flight: waits), or never will (tombstone).
void claim(table_ptr self, const std::string& request_id, claim_reply& reply) {
  auto& st = self->state;
  auto answer = [&](claim_outcome o) { std::exchange(reply.fn, nullptr)(std::move(o)); };
  // Dropped: nothing is ingested into this table any more.
  if (st.dropping) return answer(claim_unknown{});
  if (auto it = st.pending_ids.find(request_id); it != st.pending_ids.end()) {
    st.pending.at(it->second).claims.push_back(std::move(reply));
    return;
  }
  const auto now = now_ticks();
  expire_tombstones(st, now);
  if (st.tombstones.contains(request_id)) return answer(claim_unknown{});
  auto earlier = storage::find_request(st.env->store, st.state.table.id, request_id,
                                       now - st.env->dedup_window.count() * ticks_per_second);
  if (auto* e = std::get_if<model::error>(&earlier)) return answer(std::move(*e));
  if (const auto& r = std::get<std::optional<storage::request_record>>(earlier))
    return answer(ingest_ack{r->consumed_records, true});
  add_tombstone(st, request_id, now);
  answer(claim_unknown{});
}

void ingest(table_ptr self, ingest_call& call, ingest_reply& reply) {
  // The caller cancelled or disconnected while this waited: nobody reads the answer, so the
  // work is dropped unparsed (the RPC layer counts it when the ticket goes).
  if (call.ticket && call.ticket->caller_gone.load(std::memory_order_relaxed)) return;
  auto& st = self->state;
  auto& probe = st.env->ingest_probe;
  const auto start = clock::now();
  // The request's data is handed to the parser (moved) below: its size is counted from here.
  const size_t input_bytes = call.data.size();
  auto fail = [&](model::error e) {
    probe.finished(st.database_name, e.code, input_bytes, 0, clock::now() - start);
    std::exchange(reply.fn, nullptr)(ingest_outcome{std::move(e)});
  };
  if (st.dropping) return fail(st.not_found());
  if (call.received != clock::time_point{}) {
    const auto waited = start - call.received;
    probe.queued(waited);
    if (st.env->admission && st.env->admission->shed(call.received, start, call.in_flight_at_receipt)) {
      // Refused before the dedup lookup and the parse, the work an overloaded node lacks time for;
      // nothing is ingested, so a retry with the same id is safe.
      probe.shed();
      probe.finished(st.database_name, "Throttling", input_bytes, 0, clock::now() - start);
      return std::exchange(reply.fn, nullptr)(ingest_outcome{overloaded(*st.env->admission, waited)});
    }
  }
  // A retry of a request that was acknowledged is answered as a duplicate whatever changed since
  // (policy disabled, switch off, disk full): an error here could make a client send the same
  // rows elsewhere and ingest them twice. So the request id is looked up before any admission.
  const auto now = now_ticks();
  if (!call.request_id.empty()) {
    if (auto it = st.pending_ids.find(call.request_id); it != st.pending_ids.end()) {
      st.pending.at(it->second).retries.push_back(std::move(reply));
      return;
    }
    // Another node took this request over (Peer.claimIngest): this is its late original, or a
    // retry that does not say where it went before.
    expire_tombstones(st, now);
    if (st.tombstones.contains(call.request_id)) return fail(claimed_elsewhere(st, call.request_id));
    auto earlier = storage::find_request(st.env->store, st.state.table.id, call.request_id,
                                         now - st.env->dedup_window.count() * ticks_per_second);
    if (auto* e = std::get_if<model::error>(&earlier)) return fail(std::move(*e));
    if (const auto& r = std::get<std::optional<storage::request_record>>(earlier)) {
      probe.finished(st.database_name, "duplicate", input_bytes, 0, clock::now() - start);
      return std::exchange(reply.fn, nullptr)(ingest_outcome{ingest_ack{r->consumed_records, true}});
    }
  }
  if (auto e = check_allowed(st, call); !e.code.empty()) {
    if (e.code == "Throttling") maybe_seal(self);  // the rowstore is full: this table gives back its part
    return fail(std::move(e));
  }
  // A data connection moving past messages that stored no rows (failures): only its position.
  if (call.source && call.data.empty()) {
    storage::rowstore_write w;
    w.table = st.state.table.id;
    w.source = call.source;
    auto answer = std::make_shared<ingest_reply>(std::move(reply));
    reply.fn = nullptr;
    w.done = [answer](std::optional<model::error> e) {
      answer->fn(e ? ingest_outcome{*e} : ingest_outcome{ingest_ack{0, false}});
    };
    if (!st.env->writer.submit(std::move(w)))
      answer->fn(ingest_outcome{
          model::error{"Throttling", "the node's rowstore write queue is full; retry after a short backoff", false}});
    return;
  }
  auto mapping = find_mapping(st, call);
  if (auto* e = std::get_if<model::error>(&mapping)) return fail(std::move(*e));
  if (auto e = ingest::check_properties(call.properties)) return fail(std::move(*e));

  if (storage::fail_point("table.ingest", st.state.table.name)) throw std::bad_alloc();
  // The request's data is not needed past here: uncompressed, it is parsed where it is, not copied.
  auto data = ingest::decompress(std::move(call.data));
  if (auto* e = std::get_if<model::error>(&data)) return fail(std::move(*e));
  auto parsed = ingest::parse(call.format, std::get<std::string>(data), st.state.table,
                              std::get<const model::mapping*>(mapping));
  if (auto* e = std::get_if<model::error>(&parsed)) return fail(std::move(*e));
  auto& batch = std::get<model::column_batch>(parsed);
  if (batch.rows == 0)
    return fail({"Stream_NoDataToIngest",
                 fmt::format("the request for table '{}' holds no records; send at least one", st.state.table.name),
                 true});
  batch.ingestion_ticks = now;

  const uint64_t seq = st.next_sequence++;
  storage::rowstore_write w;
  w.table = st.state.table.id;
  w.sequence = seq;
  w.batch = storage::encode_batch(batch);
  if (const size_t limit = st.env->writer.max_queued_bytes(); w.batch.size() > limit)
    return fail({"BadRequest_RequestTooLarge",
                 fmt::format("the request's rows for table '{}' encode to {} bytes, more than the node's whole "
                             "rowstore write queue holds (--max-queued-write-bytes {}); retrying cannot succeed: "
                             "split the data into smaller requests or raise --max-queued-write-bytes",
                             st.state.table.name, w.batch.size(), limit),
                 true});
  if (!call.request_id.empty()) w.request = storage::request_record{call.request_id, now, batch.rows, seq};
  w.source = call.source;
  pending_commit p;
  p.request_id = call.request_id;
  p.rows = batch.rows;
  p.ingestion_ticks = now;
  p.bytes = static_cast<uint32_t>(w.batch.size());
  p.input_bytes = input_bytes;
  p.start = start;
  p.received = call.received != clock::time_point{} ? call.received : start;
  // The writer thread answers the client itself, right after the synced write, skipping a hop
  // through this actor. Visibility still holds: `committed` is enqueued to this actor before the
  // answer leaves, so any query the client sends after the answer queues behind it.
  auto answer = std::make_shared<ingest_reply>(std::move(reply));
  reply.fn = nullptr;  // the writer answers from now on (the failure handler must not)
  w.done = [h = caf::actor_cast<table_actor>(self), seq, rows = batch.rows,
            answer](std::optional<model::error> e) {
    auto outcome = e ? ingest_outcome{*e} : ingest_outcome{ingest_ack{rows, false}};
    caf::anon_send(h, committed_atom::value, seq, std::move(e));
    answer->fn(std::move(outcome));
  };
  probe.prepared(clock::now() - start);
  if (!st.env->writer.submit(std::move(w))) {
    probe.throttled();
    reply = std::move(*answer);
    return fail({"Throttling",
                 "the node's rowstore write queue is full; retry after a short backoff", false});
  }
  if (!p.request_id.empty()) st.pending_ids.emplace(p.request_id, seq);
  st.pending.emplace(seq, std::move(p));
}

void remove_doomed_files(table_st& st) {
  std::error_code ec;
  for (const auto& f : st.doomed_files) std::filesystem::remove(f, ec);
  st.doomed_files.clear();
}

void finish_drop(table_ptr self) {
  if (self->state.clear_reply) self->state.answer_clear(self->state.not_found());
  storage::rowstore_write w;
  w.table = self->state.state.table.id;
  w.drop_table = true;
  // The writer thread removes the files once the registry entries are gone (a crash in between
  // leaves orphans that start-up removes).
  w.done = [dir = storage::extent_path(self->state.env->data_dir, w.table, storage::extent_id{0}).parent_path()](
               std::optional<model::error> e) {
    std::error_code ec;
    if (!e) std::filesystem::remove_all(dir, ec);
  };
  if (!self->state.env->writer.submit(std::move(w))) {
    // The queue is full: try again shortly rather than leave the data behind.
    self->delayed_send(self, std::chrono::milliseconds(100), drop_atom::value);
    return;
  }
  self->state.forget_rowstore();
  self->state.account_extents(-static_cast<int64_t>(self->state.extent_file_bytes()));
  self->state.dropped = true;
  self->quit();
}

void committed(table_ptr self, uint64_t seq, std::optional<model::error>& error) {
  auto& st = self->state;
  auto it = st.pending.find(seq);
  if (it == st.pending.end()) return;
  auto p = std::move(it->second);
  st.pending.erase(it);
  if (!p.request_id.empty()) st.pending_ids.erase(p.request_id);
  auto& probe = st.env->ingest_probe;
  if (error) {
    probe.finished(st.database_name, error->code, p.input_bytes, 0, clock::now() - p.start);
    for (auto& r : p.retries) r.fn(ingest_outcome{*error});
    // A claim waited for this request, which failed: it is the claimant's from now on.
    if (!p.claims.empty()) add_tombstone(st, p.request_id, now_ticks());
    for (auto& c : p.claims) c.fn(claim_unknown{});
  } else {
    if (seq >= st.cleared_below_sequence) {
      st.add_batch({seq, p.rows, p.ingestion_ticks, p.bytes});
      st.account(p.bytes, p.rows);
      const auto now = clock::now();
      probe.finished(st.database_name, "ok", p.input_bytes, p.rows, now - p.start);
      st.env->usage.acks.record(now - p.received);
    }
    for (auto& r : p.retries) r.fn(ingest_outcome{ingest_ack{p.rows, true}});
    for (auto& c : p.claims) c.fn(ingest_ack{p.rows, true});
  }
  if (st.dropping) maybe_finish_drop(self);
  else maybe_seal(self);
}

// Deletes everything ingested so far: one write behind every pending one (the writer keeps
// order), so rows acknowledged a moment ago go too; rows ingested after this message stay. The
// table's memory follows only once the delete is durable (cleared()): a failed clear changes
// nothing, and queries see every row until the clear has happened.
caf::result<model::outcome> clear_data(table_ptr self) {
  auto& st = self->state;
  if (st.clear_reply) return model::outcome{model::error{"Throttling", "a clear of this table is already running; retry", false}};
  storage::rowstore_write w;
  w.table = st.state.table.id;
  w.clear_below_sequence = st.next_sequence;
  w.done = [h = caf::actor_cast<table_actor>(self)](std::optional<model::error> e) {
    caf::anon_send(h, clear_atom::value, std::move(e));
  };
  if (!st.env->writer.submit(std::move(w)))
    return model::outcome{model::error{"Throttling", "the node's write queue is full; retry the clear", false}};
  st.clear_below = st.next_sequence;
  st.clear_reply = self->make_response_promise<model::outcome>();
  return *st.clear_reply;
}

void cleared(table_ptr self, std::optional<model::error>& e) {
  auto& st = self->state;
  const uint64_t below = std::exchange(st.clear_below, 0);
  if (e) {
    spdlog::warn("clearing table '{}' in database '{}' failed, nothing was deleted: {}", st.state.table.name,
                 st.database_name, e->message);
    if (st.clear_reply) st.answer_clear(e);
    return maybe_seal(self);
  }
  // Everything this table committed before the clear's delete: every batch it knows of now and
  // every extent (no move registered while the clear was on its way).
  const uint64_t rows = st.extent_rows() + st.total_rows;
  const uint64_t extents = st.extents.size();
  for (const auto& x : st.extents)
    st.doomed_files.push_back(storage::extent_path(st.env->data_dir, x.table, storage::extent_id{x.id}));
  st.forget_rowstore();
  st.account_extents(-static_cast<int64_t>(st.extent_file_bytes()));
  st.extents.clear();
  st.cleared_below_sequence = below;
  ++st.generation;
  if (st.scans.empty()) remove_doomed_files(st);
  give_up_registration(self);  // its extent is cleared: nothing is left to register
  if (!st.clear_reply) return maybe_seal(self);
  using ct = model::column_type;
  st.clear_result = model::result_table{};
  st.clear_result.columns = {{"TableName", ct::string}, {"DatabaseName", ct::string}, {"ClearedRows", ct::long_},
                             {"ClearedExtents", ct::long_}};
  st.clear_result.rows.push_back({st.state.table.name, st.database_name, static_cast<int64_t>(rows),
                                  static_cast<int64_t>(extents)});
  if (st.sealing) {
    st.clear_written = true;  // seal_stopped answers once the running move has removed its file
    return;
  }
  st.answer_clear(std::nullopt);
  maybe_seal(self);
}

// Kusto counts extents only (the rowstore is not in .show table details); every extent of a
// node is local, so "hot" is the same as "total".
model::outcome fill_details(table_ptr self, model::result_table& t) {
  const auto& st = self->state;
  int64_t extents = 0, file_bytes = 0, original_bytes = 0, rows = 0;
  std::optional<int64_t> min_created, max_created;
  for (const auto& e : st.extents) {
    ++extents;
    file_bytes += static_cast<int64_t>(e.file_bytes);
    original_bytes += static_cast<int64_t>(e.original_bytes);
    rows += static_cast<int64_t>(e.rows);
    min_created = std::min(min_created.value_or(e.created_ticks), e.created_ticks);
    max_created = std::max(max_created.value_or(e.created_ticks), e.created_ticks);
  }
  auto set = [&](std::string_view column, model::value v) {
    for (size_t c = 0; c < t.columns.size(); ++c)
      if (t.columns[c].name == column)
        for (auto& row : t.rows) row[c] = v;
  };
  for (const char* prefix : {"Total", "Hot"}) {
    set(std::string(prefix) + "Extents", extents);
    set(std::string(prefix) + "ExtentSize", static_cast<double>(file_bytes));
    set(std::string(prefix) + "OriginalSize", static_cast<double>(original_bytes));
    set(std::string(prefix) + "RowCount", rows);
  }
  if (min_created) set("MinExtentsCreationTime", *min_created);
  if (max_created) set("MaxExtentsCreationTime", *max_created);
  return std::move(t);
}

model::outcome show_extents(table_ptr self) {
  auto& st = self->state;
  model::result_table t;
  using ct = model::column_type;
  t.columns = {{"ExtentId", ct::guid},     {"DatabaseName", ct::string}, {"TableName", ct::string},
               {"MaxCreatedOn", ct::datetime}, {"OriginalSize", ct::long_}, {"ExtentSize", ct::long_},
               {"RowCount", ct::long_},    {"MinCreatedOn", ct::datetime}, {"Tags", ct::string}};
  for (const auto& e : st.extents) {
    t.rows.push_back({fmt::format("{:08x}-0000-0000-0000-{:012x}", static_cast<uint64_t>(e.table) & 0xffffffff, e.id),
                      st.database_name, st.state.table.name, e.max_ingestion_ticks,
                      static_cast<int64_t>(e.original_bytes), static_cast<int64_t>(e.file_bytes),
                      static_cast<int64_t>(e.rows), e.min_ingestion_ticks, std::string()});
  }
  return t;
}

// One consistent view: this actor's extents and committed rowstore batches at this moment (a
// seal switches a range from one to the other in a single step of the actor), for a query that
// reads it on the query pool (table_query.hpp). Until the query releases it, removed extents
// keep their files.
table_snapshot_ptr take_snapshot(table_ptr self) {
  auto& st = self->state;
  if (st.dropping) return nullptr;
  auto s = std::make_shared<table_snapshot>();
  s->store = &st.env->store;
  s->data_dir = st.env->data_dir;
  s->table = st.state.table.id;
  s->name = st.state.table.name;
  s->columns = st.state.table.columns;
  s->extents.assign(st.extents.begin(), st.extents.end());
  if (!st.batches.empty()) {
    s->rowstore_range = {st.batches.front().sequence, st.batches.back().sequence};
    s->rowstore_batches = st.batches;
    s->view = storage::read_view::take(st.env->store);
  }
  const uint64_t id = st.next_scan++;
  st.scans.insert(id);
  s->release = [h = caf::actor_cast<table_actor>(self), id] { caf::anon_send(h, scanned_atom::value, id); };
  return s;
}

// A query released its snapshot; once none is held, files that outlived their extents for the
// queries' sake go, and a drop waiting for them finishes.
void scanned(table_ptr self, uint64_t id) {
  auto& st = self->state;
  if (!st.scans.erase(id) || !st.scans.empty()) return;
  remove_doomed_files(st);
  if (st.dropping) maybe_finish_drop(self);
}

// What an exception (a bug, or memory running out) says of itself.
std::string describe(const std::exception_ptr& ep) {
  try {
    std::rethrow_exception(ep);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "an unknown exception";
  }
}

// The actor is failing: every request it holds is answered with a transient error (the writer
// still answers the batches it was handed: they are durable), its running move is cancelled and
// its share of the node's usage given back; its database restarts it from what is durable.
void fail_in_flight(table_ptr self, const std::string& why) {
  auto& st = self->state;
  const auto e = table_restarting(st.database_name, st.state.table.name, why);
  for (auto& [seq, p] : st.pending) {
    for (auto& r : p.retries) r.fn(ingest_outcome{e});
    for (auto& c : p.claims) c.fn(e);
  }
  st.pending.clear();
  st.pending_ids.clear();
  // Queries holding snapshots keep reading them; their releases reach the restarted actor's
  // predecessor and are lost, so its doomed files wait for the next start-up's orphan sweep.
  st.scans.clear();
  if (st.clear_reply) {
    auto unknown = e;
    unknown.message += fmt::format("; the clear may or may not have happened: check with .show table {} details "
                                   "before running it again",
                                   st.state.table.name);
    st.answer_clear(std::move(unknown));
  }
  if (st.move_cancelled) st.move_cancelled->store(true);
  st.forget_rowstore();
  st.account_extents(-static_cast<int64_t>(st.extent_file_bytes()));
  st.extents.clear();
}

table_actor::behavior_type table_impl(table_ptr self, const node_env* env, table_update init,
                                      std::shared_ptr<const storage::table_recovery> recovered,
                                      std::string database_name, std::shared_ptr<std::atomic<int>> movers) {
  auto& st = self->state;
  st.env = env;
  st.movers = std::move(movers);
  st.database_name = std::move(database_name);
  self->set_exception_handler([self](std::exception_ptr& ep) -> caf::error {
    const auto why = describe(ep);
    spdlog::error("table '{}' in database '{}' failed: {}; its database restarts it from its durable state",
                  self->state.state.table.name, self->state.database_name, why);
    fail_in_flight(self, why);
    return caf::make_error(caf::sec::runtime_error, why);
  });
  env->catalog_probe.actors("table", +1);
  self->attach_functor([env] { env->catalog_probe.actors("table", -1); });
  auto apply_database = [self](const database_update& d) {
    self->state.database_policy = d.policy;
    self->state.state.streaming_on = d.streaming_on;
    self->state.recompute();
  };
  st.state.table = std::move(init.table);
  apply_database(init.database);
  if (recovered) {
    st.extents = recovered->extents;
    st.account_extents(static_cast<int64_t>(st.extent_file_bytes()));
    for (const auto& b : recovered->batches) st.add_batch(b);
    st.next_sequence = recovered->last_sequence + 1;
    st.account(static_cast<int64_t>(st.total_bytes), static_cast<int64_t>(st.total_rows));
    maybe_seal(self);
  }
  return {
      // A policy deleted or disabled moves the rowstore to extents (maybe_seal checks).
      [self, apply_database](update_atom, table_update& u) {
        self->state.state.table = std::move(u.table);
        apply_database(u.database);
        maybe_seal(self);
      },
      [self, apply_database](update_atom, const database_update& d) {
        apply_database(d);
        maybe_seal(self);
      },
      [self](ingest_atom, ingest_call& call, ingest_reply& reply) {
        try {
          ingest(self, call, reply);
        } catch (const std::exception& e) {
          // The request that failed is answered too; the exception handler answers the rest.
          if (reply.fn) reply.fn(ingest_outcome{table_restarting(self->state.database_name, call.table, e.what())});
          throw;
        }
      },
      [self](claim_atom, const std::string& request_id, claim_reply& reply) { claim(self, request_id, reply); },
      [](settle_atom) { return true; },
      [self](committed_atom, uint64_t seq, std::optional<model::error>& e) { committed(self, seq, e); },
      [self](query_atom) { return take_snapshot(self); },
      [self](scanned_atom, uint64_t id) { scanned(self, id); },
      [self](drop_atom) {
        self->state.dropping = true;
        if (self->state.move_cancelled) self->state.move_cancelled->store(true);
        give_up_registration(self);
        maybe_finish_drop(self);
      },
      [self](seal_atom) {
        self->state.seal_tick_pending = false;
        maybe_seal(self);
      },
      [self](sealed_atom, uint64_t id, std::optional<model::error>& e) { sealed(self, id, e); },
      [self](register_atom, uint64_t id) { register_again(self, id); },
      [self](extents_atom) { return show_extents(self); },
      [self](details_atom, model::result_table& t) { return fill_details(self, t); },
      [self](clear_atom) { return clear_data(self); },
      [self](clear_atom, std::optional<model::error>& e) { cleared(self, e); },
  };
}

}  // namespace

void table_detail::maybe_finish_drop(table_ptr self) {
  const auto& st = self->state;
  if (st.dropping && !st.dropped && st.pending.empty() && st.scans.empty() && !st.sealing) finish_drop(self);
}

table_actor spawn_table(caf::local_actor* parent, const node_env& env, std::string database_name,
                        table_update initial,
                        std::shared_ptr<const storage::table_recovery> recovered,
                        std::shared_ptr<std::atomic<int>> movers) {
  return parent->spawn<caf::linked>(table_impl, &env, std::move(initial), std::move(recovered),
                                    std::move(database_name), std::move(movers));
}

model::error table_restarting(const std::string& database, const std::string& table, const std::string& why) {
  return {"TableRestarting",
          fmt::format("table '{}' in database '{}' failed inside the node ({}) and is being restarted from its "
                      "durable state; nothing acknowledged is lost: retry (ingests with the same requestId)",
                      table, database, why),
          false};
}

}  // namespace tributary::actors
