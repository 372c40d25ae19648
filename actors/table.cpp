#include <caf/all.hpp>
#include <fmt/format.h>
#include <unordered_map>

#include "actors/actors.hpp"
#include "actors/directory.hpp"
#include "monitoring/metrics.hpp"
#include "storage/rowstore.hpp"

namespace tributary::actors {
namespace {

using clock = std::chrono::steady_clock;
constexpr int64_t ticks_per_second = 10'000'000;

int64_t now_ticks() {
  using ticks = std::chrono::duration<int64_t, std::ratio<1, ticks_per_second>>;
  return std::chrono::duration_cast<ticks>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// A batch handed to the writer. Its own answer leaves from the writer thread; retries of the
// same request id that arrive meanwhile wait here for it.
struct pending_commit {
  std::vector<ingest_reply> retries;
  std::string request_id;
  uint32_t rows = 0;
  int64_t ingestion_ticks = 0;
  uint32_t bytes = 0;
  uint64_t input_bytes = 0;
  clock::time_point start;
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
  // Batches handed to the writer and not yet committed, by sequence.
  std::unordered_map<uint64_t, pending_commit> pending;
  std::unordered_map<std::string, uint64_t> pending_ids;
  bool dropping = false;
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

  void add_batch(const storage::table_recovery::batch_info& b) {
    batches.push_back(b);
    total_rows += b.rows;
    total_bytes += b.bytes;
  }
};

using table_ptr = table_actor::stateful_pointer<table_st>;

model::error check_allowed(const table_st& st, const ingest_call& call) {
  const auto& t = st.state.table;
  if (!st.state.streaming_on) return streaming_disabled();
  if (!st.state.effective_policy || !st.state.effective_policy->is_enabled)
    return {"BadRequest_StreamingIngestionPolicyNotEnabled",
            fmt::format("table '{}' in database '{}' has no enabled streaming ingestion policy; run\n"
                        "  .alter table {} policy streamingingestion enable",
                        t.name, st.database_name, t.name),
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

void ingest(table_ptr self, ingest_call& call, ingest_reply& reply) {
  auto& st = self->state;
  auto& probe = st.env->ingest_probe;
  const auto start = clock::now();
  auto fail = [&](model::error e) {
    probe.finished(st.database_name, e.code, call.data.size(), 0, clock::now() - start);
    reply.fn(ingest_outcome{std::move(e)});
  };
  if (st.dropping) return fail(st.not_found());
  if (auto e = check_allowed(st, call); !e.code.empty()) return fail(std::move(e));
  auto mapping = find_mapping(st, call);
  if (auto* e = std::get_if<model::error>(&mapping)) return fail(std::move(*e));
  if (auto e = ingest::check_properties(call.properties)) return fail(std::move(*e));

  const auto now = now_ticks();
  if (!call.request_id.empty()) {
    if (auto it = st.pending_ids.find(call.request_id); it != st.pending_ids.end()) {
      st.pending.at(it->second).retries.push_back(std::move(reply));
      return;
    }
    auto earlier = storage::find_request(st.env->store, st.state.table.id, call.request_id,
                                         now - st.env->dedup_window.count() * ticks_per_second);
    if (auto* e = std::get_if<model::error>(&earlier)) return fail(std::move(*e));
    if (const auto& r = std::get<std::optional<storage::request_record>>(earlier)) {
      probe.finished(st.database_name, "duplicate", call.data.size(), 0, clock::now() - start);
      return reply.fn(ingest_outcome{ingest_ack{r->consumed_records, true}});
    }
  }

  auto data = ingest::decompress(call.data);
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
  if (!call.request_id.empty()) w.request = storage::request_record{call.request_id, now, batch.rows, seq};
  pending_commit p;
  p.request_id = call.request_id;
  p.rows = batch.rows;
  p.ingestion_ticks = now;
  p.bytes = static_cast<uint32_t>(w.batch.size());
  p.input_bytes = call.data.size();
  p.start = start;
  // The writer thread answers the client itself, right after the synced write, skipping a hop
  // through this actor. Visibility still holds: `committed` is enqueued to this actor before the
  // answer leaves, so any query the client sends after the answer queues behind it.
  auto answer = std::make_shared<ingest_reply>(std::move(reply));
  w.done = [h = caf::actor_cast<table_actor>(self), seq, rows = batch.rows,
            answer](std::optional<model::error> e) {
    auto outcome = e ? ingest_outcome{*e} : ingest_outcome{ingest_ack{rows, false}};
    caf::anon_send(h, committed_atom::value, seq, std::move(e));
    answer->fn(std::move(outcome));
  };
  if (!st.env->writer.submit(std::move(w))) {
    probe.throttled();
    reply = std::move(*answer);
    return fail({"Throttling",
                 "the node's rowstore write queue is full; retry after a short backoff", false});
  }
  if (!p.request_id.empty()) st.pending_ids.emplace(p.request_id, seq);
  st.pending.emplace(seq, std::move(p));
}

void finish_drop(table_ptr self) {
  storage::rowstore_write w;
  w.table = self->state.state.table.id;
  w.drop_table = true;
  if (!self->state.env->writer.submit(std::move(w))) {
    // The queue is full: try again shortly rather than leave the data behind.
    self->delayed_send(self, std::chrono::milliseconds(100), drop_atom::value);
    return;
  }
  self->state.env->ingest_probe.rowstore(self->state.database_name, -static_cast<int64_t>(self->state.total_bytes),
                                         -static_cast<int64_t>(self->state.total_rows));
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
  } else {
    st.add_batch({seq, p.rows, p.ingestion_ticks, p.bytes});
    probe.rowstore(st.database_name, p.bytes, p.rows);
    probe.finished(st.database_name, "ok", p.input_bytes, p.rows, clock::now() - p.start);
    for (auto& r : p.retries) r.fn(ingest_outcome{ingest_ack{p.rows, true}});
  }
  if (st.dropping && st.pending.empty()) finish_drop(self);
}

model::result_table count_result(uint64_t n) {
  model::result_table t;
  t.columns.push_back({"Count", model::column_type::long_});
  t.rows.push_back({static_cast<int64_t>(n)});
  return t;
}

model::outcome run_query(table_ptr self, const table_query& q) {
  auto& st = self->state;
  if (st.dropping) return st.not_found();
  const bool filtered = q.ingested_after_ticks != INT64_MIN;
  if (q.what == table_query::op::count && !filtered) return count_result(st.total_rows);
  model::result_table result;
  result.columns = st.state.table.columns;
  uint64_t counted = 0;
  if (st.batches.empty()) return q.what == table_query::op::count ? count_result(0) : model::outcome{result};
  if (q.what == table_query::op::count) {
    for (const auto& b : st.batches)
      if (b.ingestion_ticks > q.ingested_after_ticks) counted += b.rows;
    return count_result(counted);
  }
  // take: read committed batches only (up to the last acknowledged sequence).
  const auto from = st.batches.front().sequence;
  const auto to = st.batches.back().sequence;
  const size_t width = result.columns.size();
  auto failure = storage::read_batches(
      st.env->store, st.state.table.id, from, to, [&](uint64_t, const model::column_batch& b) {
        if (b.ingestion_ticks <= q.ingested_after_ticks) return true;
        for (uint32_t r = 0; r < b.rows && result.rows.size() < q.take; ++r) {
          std::vector<model::value> row(width);
          for (size_t c = 0; c < width && c < b.columns.size(); ++c) row[c] = b.columns[c].at(r);
          result.rows.push_back(std::move(row));
        }
        return result.rows.size() < q.take;
      });
  if (failure) return *failure;
  return result;
}

table_actor::behavior_type table_impl(table_ptr self, const node_env* env, table_update init,
                                      std::shared_ptr<const storage::table_recovery> recovered,
                                      std::string database_name) {
  auto& st = self->state;
  st.env = env;
  st.database_name = std::move(database_name);
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
    for (const auto& b : recovered->batches) st.add_batch(b);
    st.next_sequence = recovered->last_sequence + 1;
    env->ingest_probe.rowstore(st.database_name, static_cast<int64_t>(st.total_bytes),
                               static_cast<int64_t>(st.total_rows));
  }
  return {
      [self, apply_database](update_atom, table_update& u) {
        self->state.state.table = std::move(u.table);
        apply_database(u.database);
      },
      [apply_database](update_atom, const database_update& d) { apply_database(d); },
      [self](describe_atom) { return self->state.state; },
      [self](ingest_atom, ingest_call& call, ingest_reply& reply) { ingest(self, call, reply); },
      [self](committed_atom, uint64_t seq, std::optional<model::error>& e) { committed(self, seq, e); },
      [self](query_atom, const table_query& q) { return run_query(self, q); },
      [self](drop_atom) {
        self->state.dropping = true;
        if (self->state.pending.empty()) finish_drop(self);
      },
  };
}

}  // namespace

table_actor spawn_table(caf::local_actor* parent, const node_env& env, std::string database_name,
                        table_update initial,
                        std::shared_ptr<const storage::table_recovery> recovered) {
  return parent->spawn<caf::linked>(table_impl, &env, std::move(initial), std::move(recovered),
                                    std::move(database_name));
}

}  // namespace tributary::actors
