#include "actors/gateway.hpp"

#include <atomic>
#include <mutex>
#include <caf/all.hpp>
#include <chrono>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "actors/directory.hpp"
#include "actors/query_log.hpp"
#include "actors/query_pool.hpp"
#include "actors/table_query.hpp"
#include "monitoring/metrics.hpp"
#include "query/engine.hpp"

namespace tributary::actors {
namespace {

using model::now_ticks;
using model::ticks_per_second;

struct reply_to {
  gateway::reply fn;
  std::shared_ptr<const std::atomic<bool>> cancelled;  ///< queries: set once the caller went away
  bool shard = false;  ///< a shard part another node sent: this node's rows alone
  query_overrides overrides;
};

// The other nodes of a cluster, set once the RPC layer serves (gateway::set_remote_shards).
struct remote_slot {
  std::shared_ptr<const remote_shards> get() const {
    std::lock_guard lock(mutex);
    return remote;
  }
  mutable std::mutex mutex;
  std::shared_ptr<const remote_shards> remote;
};

}  // namespace
}  // namespace tributary::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tributary::actors::reply_to)

namespace tributary::actors {
namespace {

using bridge_actor =
    caf::typed_actor<caf::reacts_to<command_atom, std::string, std::string, reply_to>,
                     caf::reacts_to<query_atom, std::string, std::string, reply_to>,
                     caf::reacts_to<ingest_atom, ingest_call, ingest_reply>,
                     caf::reacts_to<claim_atom, std::string, std::string, std::string, claim_reply>>;

// Catalog commands fsync; ingests wait for one group commit; queries scan one table. All finish
// far sooner unless the node is wedged. A timed-out ingest may still commit: clients retry with
// the same request id, which makes the retry safe. A timed-out command may have committed too,
// and nothing makes its retry safe: see outcome_unknown.
constexpr auto call_timeout = std::chrono::seconds(60);


model::error internal(caf::actor_system& sys, const caf::error& e, const char* what) {
  return {"InternalServerError",
          fmt::format("the {} did not complete inside the node: {}; retry", what, sys.render(e)), false};
}

// The coordinator may have committed the command and lost only its answer (or be committing it
// still). Permanent, so that no retry loop re-runs it blindly: `.create` would then fail with
// "already exists" and `.clear table T data` would delete the rows ingested in between.
model::error outcome_unknown(caf::actor_system& sys, const caf::error& e, const std::string& text) {
  constexpr size_t shown = 120;
  return {"CommandOutcomeUnknown",
          fmt::format("the command '{}{}' got no answer ({}); it may or may not have been applied. Check the "
                      "state before retrying: .show databases, .show tables, .show table T, .show table T "
                      "ingestion mappings, .show table T policy streamingingestion, .show cluster policy "
                      "streamingingestion",
                      text.substr(0, shown), text.size() > shown ? "..." : "", sys.render(e)),
          true};
}

struct bridge_env {
  coordinator_actor coordinator;
  const directory* tables = nullptr;
  std::chrono::milliseconds command_timeout{};
  gateway::query_settings queries;
  std::shared_ptr<remote_slot> remote;
};

using bridge_ptr = bridge_actor::pointer;

// Finds the table's actor (directory first, else the coordinator) and calls `then` with it, or
// `fail` with the reason there is none.
template <class Then, class Fail>
void with_table(bridge_ptr self, const bridge_env& env, const std::string& database, const std::string& table,
                Then then, Fail fail) {
  if (auto a = env.tables->find(database, table)) return then(*a);
  self->request(env.coordinator, call_timeout, resolve_atom::value, database, table)
      .then(
          [then, fail](resolved_table& r) mutable {
            if (auto* a = std::get_if<table_actor>(&r)) then(*a);
            else fail(std::get<model::error>(r));
          },
          [self, fail](caf::error& e) { fail(internal(self->system(), e, "table lookup")); });
}

// A query's statistics as Kusto's QueryStats extended property (JSON).
std::string stats_json(const query::query_statistics& s) {
  return fmt::format(
      "{{\"ExtentsScanned\":{},\"ExtentsPruned\":{},\"BlocksScanned\":{},\"BlocksPruned\":{},"
      "\"RowsScanned\":{},\"RowstoreRows\":{},\"BytesRead\":{},\"ResultRows\":{},\"CpuMs\":{:.3f},"
      "\"ElapsedMs\":{:.3f},\"PeakMemoryBytes\":{}}}",
      s.scan.extents_scanned, s.scan.extents_pruned, s.scan.blocks_scanned, s.scan.blocks_pruned, s.scan.rows_scanned,
      s.scan.rowstore_rows, s.scan.bytes_read, s.result_rows, std::chrono::duration<double, std::milli>(s.cpu).count(),
      std::chrono::duration<double, std::milli>(s.elapsed).count(), s.peak_memory);
}

// `.show queries` (Kusto's; answered from the gateway's query log, not the catalog).
bool is_show_queries(std::string_view text) {
  const auto b = text.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return false;
  const auto e = text.find_last_not_of(" \t\r\n");
  return text.substr(b, e - b + 1) == ".show queries";
}

// Runs a query over its snapshots (on the query pool unless there is none) and answers it.
void run_query(const bridge_env& env, std::string db, std::string text, std::shared_ptr<snapshot_source> source,
               reply_to r, uint64_t log_id) {
  source->database = std::move(db);
  if (!r.shard) source->remote = env.remote->get();
  auto run = [env, text = std::move(text), source, r, log_id]() mutable {
    query::query_options options;
    options.memory_limit = env.queries.memory_limit;
    const auto& o = r.overrides;
    options.deadline = std::chrono::steady_clock::now() + o.timeout.value_or(env.queries.timeout);
    if (o.truncation_max_records) options.truncation_max_records = *o.truncation_max_records;
    if (o.truncation_max_size) options.truncation_max_size = *o.truncation_max_size;
    if (o.no_truncation) options.no_truncation = *o.no_truncation;
    if (r.cancelled) options.cancelled = [flag = r.cancelled] { return flag->load(); };
    if (options.cancelled && options.cancelled()) {
      // Its caller went away while it waited for a thread: nothing to run.
      source.reset();
      if (env.queries.log) {
        model::error gone{"QueryCancelled", "the query was cancelled (its client went away)", false};
        env.queries.log->finished(log_id, &gone, {}, 0, 0, 0);
      }
      return r.fn(model::error{"QueryCancelled", "the query was cancelled (its client went away)", false});
    }
    model::outcome outcome;
    query::query_statistics stats;
    try {
      auto prepared = query::prepare(text, *source, now_ticks(), options);
      if (auto* e = std::get_if<model::error>(&prepared)) {
        outcome = std::move(*e);
      } else {
        auto result = std::get<std::unique_ptr<query::prepared_query>>(prepared)->execute(*source);
        if (auto* e = std::get_if<model::error>(&result)) {
          outcome = std::move(*e);
        } else {
          auto& done = std::get<query::query_result>(result);
          stats = done.stats;
          if (!done.visualization.empty()) done.table.properties.emplace_back("Visualization", done.visualization);
          done.table.properties.emplace_back("QueryStats", stats_json(stats));
          // The RPC layer answers these as the call's warnings.
          for (auto& w : done.warnings) done.table.properties.emplace_back("Warning", std::move(w));
          outcome = std::move(done.table);
        }
      }
    } catch (const std::exception& e) {
      outcome = model::error{"InternalServerError",
                             fmt::format("the query's scan failed inside the node ({}); retry the query", e.what()),
                             false};
    }
    const auto* error = std::get_if<model::error>(&outcome);
    if (error && error->code == "StorageCorruption") {
      // Corrupt data found by a scan: an error in the log and the metric; the node keeps serving.
      spdlog::error("query: {}", error->message);
      if (env.queries.probe) env.queries.probe->corruption(error->message.starts_with("extent ") ? "extent" : "rowstore");
    }
    if (env.queries.metrics)
      env.queries.metrics->finished({.result = error ? std::string_view(error->code) : std::string_view("ok"),
                                     .elapsed = stats.elapsed,
                                     .cpu = stats.cpu,
                                     .rows_scanned = stats.scan.rows_scanned,
                                     .bytes_read = stats.scan.bytes_read,
                                     .extents_scanned = stats.scan.extents_scanned,
                                     .extents_pruned = stats.scan.extents_pruned,
                                     .blocks_scanned = stats.scan.blocks_scanned,
                                     .blocks_pruned = stats.scan.blocks_pruned,
                                     .peak_memory = stats.peak_memory});
    if (env.queries.log)
      env.queries.log->finished(log_id, error, stats.cpu, stats.peak_memory, stats.scan.rows_scanned, stats.result_rows);
    source.reset();  // the snapshots go back to their tables before the answer leaves
    r.fn(std::move(outcome));
  };
  auto* pool = r.shard && env.queries.shard_pool ? env.queries.shard_pool : env.queries.pool;
  if (!pool) return run();
  if (!pool->submit(run)) {
    model::error busy{"Throttling", "too many queries are waiting on this node; retry after a short backoff", false};
    if (env.queries.log) env.queries.log->finished(log_id, &busy, {}, 0, 0, 0);
    r.fn(std::move(busy));
  }
}

// One query: a snapshot of every table it names (found in the directory, else through the
// coordinator), then run_query. A table that does not exist is the answer as the database
// tells it (BadRequest_TableNotExist, or the database's own error).
void gather_snapshots(caf::event_based_actor* self, bridge_env env, std::string db, std::string text, reply_to r) {
  struct pending {
    std::shared_ptr<snapshot_source> source = std::make_shared<snapshot_source>();
    size_t outstanding = 0;
    bool failed = false;
  };
  auto names = query::referenced_tables(text);
  auto p = std::make_shared<pending>();
  p->outstanding = names.size();
  const uint64_t log_id = env.queries.log ? env.queries.log->started(db, text) : 0;
  if (names.empty()) return run_query(env, db, std::move(text), p->source, r, log_id), self->quit();
  auto fail = [self, p, r, env, log_id](model::error e) {
    if (p->failed) return;
    p->failed = true;
    if (env.queries.log) env.queries.log->finished(log_id, &e, {}, 0, 0, 0);
    r.fn(std::move(e));
    self->quit();
  };
  auto arrived = [self, p, env, db, text, r, fail, log_id](const table_snapshot_ptr& s, const std::string& name,
                                                        const std::string& database) {
    if (p->failed) return;
    if (!s) return fail(model::error{"BadRequest_TableNotExist",
                                     fmt::format("Table '{}' does not exist in database '{}' (it is being dropped)",
                                                 name, database),
                                     true});
    p->source->add(s);
    if (--p->outstanding > 0) return;
    run_query(env, db, text, p->source, r, log_id);
    self->quit();
  };
  auto skip = [self, p, env, db, text, r, log_id] {
    if (p->failed || --p->outstanding > 0) return;
    run_query(env, db, text, p->source, r, log_id);
    self->quit();
  };
  auto ask = [self, arrived, fail, db](const table_actor& t, const std::string& name) {
    self->request(t, call_timeout, query_atom::value)
        .then([arrived, name, db](table_snapshot_ptr& s) { arrived(s, name, db); },
              [self, fail](caf::error& e) { fail(internal(self->system(), e, "query")); });
  };
  for (const auto& name : names) {
    if (auto t = env.tables->find(db, name)) {
      ask(*t, name);
      continue;
    }
    self->request(env.coordinator, call_timeout, resolve_atom::value, db, name)
        .then(
            [ask, fail, skip, name](resolved_table& resolved) {
              if (auto* t = std::get_if<table_actor>(&resolved)) return ask(*t, name);
              auto& e = std::get<model::error>(resolved);
              // A name that is no table (a column in `x in (a, b)`, a missing leg of union
              // isfuzzy=true): the binder says whether the query needed it.
              if (e.code == "BadRequest_TableNotExist") return skip();
              fail(std::move(e));
            },
            [self, fail](caf::error& e) { fail(internal(self->system(), e, "table lookup")); });
  }
}

bridge_actor::behavior_type bridge_impl(bridge_ptr self, coordinator_actor coordinator, const directory* tables,
                                        std::chrono::milliseconds command_timeout, gateway::query_settings queries,
                                        std::shared_ptr<remote_slot> remote) {
  bridge_env env{std::move(coordinator), tables, command_timeout, queries, std::move(remote)};
  return {
      [self, env](command_atom, std::string& db, std::string& text, reply_to& r) {
        if (is_show_queries(text)) {
          if (!env.queries.log) return r.fn(model::error{"BadRequest_SyntaxError", ".show queries is not served here", true});
          return r.fn(env.queries.log->show());
        }
        self->request(env.coordinator, env.command_timeout, command_atom::value, std::move(db), text)
            .then([r](model::outcome& o) { r.fn(std::move(o)); },
                  [self, r, text](caf::error& e) {
                    // A .show changes nothing: retrying it is safe.
                    const bool show = text.find_first_not_of(" \t\r\n") == text.find(".show");
                    r.fn(show ? internal(self->system(), e, "command") : outcome_unknown(self->system(), e, text));
                  });
      },
      [self, env](query_atom, std::string& db, std::string& text, reply_to& r) {
        // An actor per query gathers its tables' snapshots, then hands it to the query pool:
        // this bridge, which every command and query passes through, never waits for one.
        self->spawn(gather_snapshots, env, std::move(db), std::move(text), r);
      },
      // The slow path: the directory did not know the table (yet).
      [self, env](ingest_atom, ingest_call& call, ingest_reply& r) {
        auto db = call.database;
        auto table = call.table;
        with_table(
            self, env, db, table,
            [self, call = std::move(call), r](const table_actor& t) mutable {
              self->send(t, ingest_atom::value, std::move(call), std::move(r));
            },
            [r](model::error e) { r.fn(std::move(e)); });
      },
      // The slow path of a claim. A table this node does not have takes no ingest here either
      // (a permanent lookup error: no such table or database); a transient one (restarting) is
      // no answer.
      [self, env](claim_atom, std::string& db, std::string& table, std::string& request_id, claim_reply& r) {
        with_table(
            self, env, db, table,
            [self, request_id, r](const table_actor& t) mutable {
              self->send(t, claim_atom::value, std::move(request_id), std::move(r));
            },
            [r](model::error e) {
              if (e.permanent) r.fn(claim_unknown{});
              else r.fn(std::move(e));
            });
      },
  };
}

model::error catalog_not_current(const directory& tables) {
  if (!tables.metadata_reachable())
    return {"ClusterMetadataUnavailable",
            "this node cannot reach the cluster's metadata store (etcd), so it cannot know its catalog is current "
            "and ingests nothing; retry shortly or at another node, and check etcd (tributaryd's log names the "
            "endpoints)",
            false};
  return {"CatalogSyncing",
          "this node is catching up with the cluster's catalog (a schema change, a restart, or a pause); retry "
          "shortly or at another node",
          false};
}

model::error shutting_down() {
  return {"ShuttingDown", "the node is shutting down; retry on another node or after restart", false};
}

}  // namespace

struct gateway::impl {
  bridge_actor bridge;
  const directory* tables = nullptr;
  std::shared_ptr<remote_slot> remote = std::make_shared<remote_slot>();
  std::atomic<bool> stopped{false};
};

gateway::gateway(caf::actor_system& sys, coordinator_actor coordinator, const directory& tables,
                 std::chrono::milliseconds command_timeout, query_settings queries)
    : impl_(new impl) {
  impl_->bridge = sys.spawn(bridge_impl, std::move(coordinator), &tables, command_timeout, queries, impl_->remote);
  impl_->tables = &tables;
}

gateway::~gateway() { stop(); }

void gateway::command(std::string database, std::string text, reply done) const {
  if (impl_->stopped) return done(shutting_down());
  caf::anon_send(impl_->bridge, command_atom::value, std::move(database), std::move(text),
                 reply_to{std::move(done), nullptr, false, {}});
}

void gateway::query(std::string database, std::string text, reply done,
                    std::shared_ptr<const std::atomic<bool>> cancelled, query_overrides overrides) const {
  if (impl_->stopped) return done(shutting_down());
  caf::anon_send(impl_->bridge, query_atom::value, std::move(database), std::move(text),
                 reply_to{std::move(done), std::move(cancelled), false, std::move(overrides)});
}

void gateway::query_shard(std::string database, std::string text, reply done) const {
  if (impl_->stopped) return done(shutting_down());
  caf::anon_send(impl_->bridge, query_atom::value, std::move(database), std::move(text),
                 reply_to{std::move(done), nullptr, /*shard=*/true, {}});
}

void gateway::set_remote_shards(std::shared_ptr<const remote_shards> remote) const {
  std::lock_guard lock(impl_->remote->mutex);
  impl_->remote->remote = std::move(remote);
}

void gateway::ingest(ingest_call call, ingest_reply_fn done) const {
  if (impl_->stopped) return done(shutting_down());
  // Cluster mode: nothing is parsed, acknowledged or even deduplicated on a catalog that may be
  // stale (a retry answered "duplicate" here could hide a table dropped elsewhere).
  if (!impl_->tables->catalog_current()) return done(catalog_not_current(*impl_->tables));
  // The fast path goes straight to the table actor, which answers through `done` itself. The
  // table checks the switch too, after its request ids: a retry of an acknowledged request is a
  // duplicate even once streaming is off.
  if (auto t = impl_->tables->find(call.database, call.table)) {
    caf::anon_send(*t, ingest_atom::value, std::move(call), ingest_reply{std::move(done)});
    return;
  }
  // Switched off, a request naming an unknown table hears about the switch first.
  if (!impl_->tables->streaming_on()) return done(streaming_disabled());
  caf::anon_send(impl_->bridge, ingest_atom::value, std::move(call), ingest_reply{std::move(done)});
}

void gateway::claim(std::string database, std::string table, std::string request_id, claim_reply_fn done) const {
  if (impl_->stopped) return done(shutting_down());
  // A stale catalog may not know a table created elsewhere yet, and "unknown" would then leave
  // no tombstone behind for a late original to meet once the table arrives.
  if (!impl_->tables->catalog_current()) return done(catalog_not_current(*impl_->tables));
  if (auto t = impl_->tables->find(database, table)) {
    caf::anon_send(*t, claim_atom::value, std::move(request_id), claim_reply{std::move(done)});
    return;
  }
  caf::anon_send(impl_->bridge, claim_atom::value, std::move(database), std::move(table), std::move(request_id),
                 claim_reply{std::move(done)});
}

void gateway::stop() {
  if (!impl_ || impl_->stopped.exchange(true)) return;
  caf::anon_send_exit(impl_->bridge, caf::exit_reason::user_shutdown);
}

}  // namespace tributary::actors
