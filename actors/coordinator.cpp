#include <caf/all.hpp>
#include <chrono>
#include <functional>
#include <set>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <unordered_map>

#include "actors/actors.hpp"
#include "actors/directory.hpp"
#include "actors/operations.hpp"
#include "cluster/member.hpp"
#include "commands/commands.hpp"
#include "monitoring/metrics.hpp"
#include "storage/crash_point.hpp"
#include "storage/rowstore.hpp"
#include "storage/store.hpp"

namespace tributary::actors {
namespace {

using model::now_ticks;
using model::ticks_per_second;


using recovery_map = std::unordered_map<uint64_t, storage::table_recovery>;

// Cluster mode: a command committed to the metadata store, answered once every node applied it
// (or is fenced).
struct awaiting_acks {
  uint64_t version = 0;
  std::chrono::steady_clock::time_point committed;
  caf::typed_response_promise<model::outcome> rp;
  model::outcome outcome;
  std::string kind;
  bool asked = false;  // await_acks was called (this node applied the version)
  bool per_node = false;  // the answer is the acks themselves (NodeId, Status, Details)
};

model::result_table acks_table(const std::vector<cluster::node_ack>& acks) {
  using ct = model::column_type;
  model::result_table t;
  t.columns = {{"NodeId", ct::string}, {"Status", ct::string}, {"Details", ct::string}};
  for (const auto& a : acks)
    t.rows.push_back({a.node_id, std::string(a.state == cluster::node_ack::status::applied ? "Succeeded" : "Failed"),
                      cluster::describe(a)});
  return t;
}

// Cluster mode: a command whose transaction lost a race with another node's command; it runs
// again against the next catalog version this node applies.
struct rerun {
  std::string database;
  std::string text;
  caf::typed_response_promise<model::outcome> rp;
  int attempts = 0;
};

// Cluster mode: a table lookup that missed while the store holds a newer catalog than this
// node's; answered once the node applies `version` (the watch brings it within moments).
struct held_resolve {
  std::string database;
  std::string table;
  uint64_t version = 0;
  caf::typed_response_promise<resolved_table> rp;
};

struct coordinator_st {
  model::catalog cat;
  const node_env* env = nullptr;
  std::unordered_map<uint64_t, database_actor> databases;  // by database_id
  static inline const char* name = "coordinator";
  // Cluster mode.
  int64_t revision = 0;  // of the applied version's key: the next command's compare
  uint64_t next_token = 1;
  std::unordered_map<uint64_t, awaiting_acks> awaiting;  // by token
  std::vector<rerun> reruns;
  std::vector<held_resolve> held;
  // Versions whose changes are still on their way to the actors (see settle()); a version is
  // reported applied only once it and every earlier one have settled.
  std::multiset<uint64_t> settling;
  uint64_t settled = 0;

  bool streaming_on() const { return cat.streaming == model::switch_state::enabled; }

  database_update update_for(const model::database& db) const {
    return {db.policy, streaming_on()};
  }

  void report() {
    env->tables.set_streaming_on(streaming_on());
    env->ingest_probe.disk_budget(env->disk.budget_bytes, env->disk.extent_capacity(streaming_on()));
    size_t tables = 0;
    for (const auto& [name, db] : cat.databases) tables += db.tables.size();
    env->catalog_probe.version(cat.version);
    env->catalog_probe.objects(cat.databases.size(), tables);
  }
};

using coordinator_ptr = coordinator_actor::stateful_pointer<coordinator_st>;

void spawn_database_with_tables(coordinator_ptr self, const model::database& db,
                                recovery_map* recovered) {
  auto& st = self->state;
  auto actor = spawn_database(self, *st.env, db.name, st.update_for(db));
  for (const auto& [name, t] : db.tables) {
    std::shared_ptr<const storage::table_recovery> r;
    if (recovered) {
      if (auto it = recovered->find(static_cast<uint64_t>(t.id)); it != recovered->end())
        r = std::make_shared<const storage::table_recovery>(std::move(it->second));
    }
    self->send(actor, update_atom::value, table_update{t, {}, std::move(r)});
  }
  st.databases[static_cast<uint64_t>(db.id)] = actor;
}

// An actor a change was sent to: a database (all of its tables) or one table of it.
struct settle_target {
  database_actor database;
  std::optional<model::table_id> table;
};

// Calls `then` once every target has handled what was sent to it before (a barrier through the
// database and on to its tables). CAF keeps the order of messages from one sender to one
// receiver, and a database forwards before it answers, so the barrier arrives after the updates.
void settle(coordinator_ptr self, const std::vector<settle_target>& targets, std::function<void()> then) {
  if (targets.empty()) return then();
  auto pending = std::make_shared<size_t>(targets.size());
  auto one_done = [pending, then = std::make_shared<std::function<void()>>(std::move(then))]() {
    if (--*pending == 0) (*then)();
  };
  for (const auto& t : targets) {
    // A database dropped meanwhile answers with an error: it has nothing left to apply.
    if (t.table)
      self->request(t.database, caf::infinite, settle_atom::value, *t.table)
          .then([one_done](bool) { one_done(); }, [one_done](caf::error&) { one_done(); });
    else
      self->request(t.database, caf::infinite, settle_atom::value)
          .then([one_done](bool) { one_done(); }, [one_done](caf::error&) { one_done(); });
  }
}

// Brings the actor tree in line with the catalog after a committed command; returns the actors
// the changes went to (to settle() before the command answers).
std::vector<settle_target> follow(coordinator_ptr self, const std::vector<model::change>& changes) {
  auto& st = self->state;
  std::vector<settle_target> targets;
  auto database_actor_of = [&](model::database_id id) -> const database_actor* {
    auto it = st.databases.find(static_cast<uint64_t>(id));
    return it == st.databases.end() ? nullptr : &it->second;
  };
  for (const auto& c : changes) {
    switch (c.what) {
      case model::change::kind::put_database: {
        const auto* db = st.cat.find_database(c.database_name);
        if (!db) break;
        if (const auto* a = database_actor_of(db->id))
          self->send(*a, update_atom::value, st.update_for(*db));
        else
          spawn_database_with_tables(self, *db, nullptr);
        targets.push_back({*database_actor_of(db->id), std::nullopt});
        break;
      }
      case model::change::kind::delete_database:
        if (auto it = st.databases.find(static_cast<uint64_t>(c.database)); it != st.databases.end()) {
          self->unlink_from(it->second);
          self->send(it->second, drop_atom::value);
          targets.push_back({it->second, std::nullopt});
          st.databases.erase(it);
        }
        break;
      case model::change::kind::put_table: {
        const auto* db = st.cat.find_database(c.database_name);
        if (!db) break;
        auto t = db->tables.find(c.table_name);
        const auto* a = database_actor_of(db->id);
        if (t != db->tables.end() && a) {
          self->send(*a, update_atom::value, table_update{t->second, {}, {}});
          targets.push_back({*a, t->second.id});
        }
        break;
      }
      case model::change::kind::delete_table:
        if (const auto* a = database_actor_of(c.database)) {
          self->send(*a, drop_atom::value, c.table);
          targets.push_back({*a, c.table});
        }
        break;
      case model::change::kind::put_cluster:
        for (const auto& [name, db] : st.cat.databases)
          if (const auto* a = database_actor_of(db.id)) {
            self->send(*a, update_atom::value, st.update_for(db));
            targets.push_back({*a, std::nullopt});
          }
        break;
    }
  }
  if (st.env->catalog_applied) st.env->catalog_applied(st.cat);
  return targets;
}

// `.show cluster streamingingestion`: the switch's state (Enabled, Disabling while the rowstore
// drains into extents after it was turned off, Disabled), what is left, and the backpressure
// controller's readings and decision.
caf::result<model::outcome> show_streaming_state(coordinator_ptr self) {
  auto& st = self->state;
  const auto& usage = st.env->usage;
  const auto& disk = st.env->disk;
  int64_t rowstore = static_cast<int64_t>(usage.rowstore());
  // Cluster mode: the switch is Disabled once every node's rowstore is drained; a node that is
  // down keeps it Disabling (its rows are still in its rowstore as far as anyone knows). Each
  // node's last report (every few seconds) is in Nodes.
  bool node_down = false;
  nlohmann::json nodes = nlohmann::json::array();
  if (st.env->cluster) {
    for (const auto& n : st.env->cluster->nodes()) {
      const auto bytes = n.self ? rowstore : static_cast<int64_t>(n.rowstore_bytes);
      if (!n.self) rowstore += bytes;
      node_down = node_down || !n.live;
      nodes.push_back({{"NodeId", n.id}, {"State", n.live ? "Live" : "Down"}, {"RowstoreBytes", bytes}});
    }
  } else {
    nodes.push_back({{"NodeId", st.env->node_id}, {"State", "Live"}, {"RowstoreBytes", rowstore}});
  }
  const char* state = st.streaming_on() ? "Enabled" : rowstore > 0 || node_down ? "Disabling" : "Disabled";
  auto nodes_text = nodes.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  // While disabling: the tables whose rowstore still holds data.
  int64_t tables_left = 0;
  if (!st.streaming_on() && rowstore > 0) tables_left = usage.tables_with_rowstore.load(std::memory_order_relaxed);
  const auto reserve = static_cast<int64_t>(st.streaming_on() ? disk.rowstore_reserve_bytes : 0);
  const auto extents = static_cast<int64_t>(usage.extents());
  const auto capacity = static_cast<int64_t>(disk.extent_capacity(st.streaming_on()));
  using ct = model::column_type;
  auto table = [=, budget = static_cast<int64_t>(disk.budget_bytes)](const mover_budget* b) {
    // `rowstore` here is the cluster's (all nodes) and the rest this node's.
    model::result_table t;
    t.columns = {{"State", ct::string},           {"RowstoreBytes", ct::long_},    {"RowstoreTablesLeft", ct::long_},
                 {"DiskBudgetBytes", ct::long_},  {"RowstoreReserveBytes", ct::long_},
                 {"ExtentBytes", ct::long_},      {"ExtentCapacityBytes", ct::long_},
                 {"MoversAllowed", ct::long_},    {"MoversRunning", ct::long_},    {"MoverPause", ct::timespan},
                 {"IngestThrottled", ct::bool_},  {"SystemCpu", ct::real},         {"ProcessCpu", ct::real},
                 {"RssBytes", ct::long_},         {"MemoryLimitBytes", ct::long_}, {"MemtableBytes", ct::long_},
                 {"Nodes", ct::dynamic}};
    mover_budget none;
    const auto& x = b ? *b : none;
    t.rows.push_back({std::string(state), rowstore, tables_left, budget, reserve, extents, capacity,
                      static_cast<int64_t>(x.movers_allowed), static_cast<int64_t>(x.movers_running),
                      static_cast<int64_t>(x.pause_us) * 10, x.throttle_ingest, x.system_cpu, x.process_cpu,
                      static_cast<int64_t>(x.rss_bytes), static_cast<int64_t>(x.memory_limit_bytes),
                      static_cast<int64_t>(x.memtable_bytes), nodes_text});
    return t;
  };
  if (!st.env->controller) return model::outcome{table(nullptr)};
  auto rp = self->make_response_promise<model::outcome>();
  self->request(st.env->controller, std::chrono::seconds(5), budget_atom::value)
      .then([rp, table](mover_budget& b) mutable { rp.deliver(model::outcome{table(&b)}); },
            [rp, table](caf::error&) mutable { rp.deliver(model::outcome{table(nullptr)}); });
  return rp;
}

// Every lost race means another command committed, so the cluster progresses; the bound only
// stops one node's command from starving forever behind a stream of others.
constexpr int max_command_attempts = 100;

void commit_to_cluster(coordinator_ptr self, model::catalog after, commands::executed ex, const std::string& database,
                       const std::string& text, caf::typed_response_promise<model::outcome> rp, int attempts);

// Cluster mode: runs a command against a copy of the catalog; one with changes commits to the
// metadata store and is answered later (acknowledged by every node); reads answer at once.
void run_cluster_command(coordinator_ptr self, const std::string& database, const std::string& text,
                         caf::typed_response_promise<model::outcome> rp, int attempts) {
  auto& st = self->state;
  model::catalog after = st.cat;
  auto ex = commands::execute(after, {database, now_ticks()}, text);
  if (ex.changes.empty()) {
    st.env->command_probe.executed(ex.kind, std::holds_alternative<model::result_table>(ex.outcome));
    rp.deliver(std::move(ex.outcome));
    return;
  }
  commit_to_cluster(self, std::move(after), std::move(ex), database, text, std::move(rp), attempts);
}

void commit_to_cluster(coordinator_ptr self, model::catalog after, commands::executed ex, const std::string& database,
                       const std::string& text, caf::typed_response_promise<model::outcome> rp, int attempts) {
  auto& st = self->state;
  auto committed = st.env->cluster->commit(st.revision, after, ex.changes, text);
  if (auto* e = std::get_if<model::error>(&committed)) {
    st.env->command_probe.executed(ex.kind, false);
    if (e->code != "ClusterMetadataOutcomeUnknown") {
      // Never reached the store (or refused by it): nothing was applied.
      rp.deliver(model::outcome{model::error{e->code, "the command was not applied: " + e->message, e->permanent}});
      return;
    }
    // The transaction reached the store and its answer was lost: it may still commit.
    rp.deliver(model::outcome{model::error{
        "CommandOutcomeUnknown",
        "the cluster's metadata store did not confirm the command (" + e->message +
            "); it may or may not have been applied. Check the state (.show ...) before retrying",
        true}});
    return;
  }
  const auto& c = std::get<cluster::commit_result>(committed);
  if (!c.committed) {
    if (attempts + 1 >= max_command_attempts) {
      st.env->command_probe.executed(ex.kind, false);
      rp.deliver(model::outcome{model::error{
          "Throttling",
          "other nodes changed the catalog " + std::to_string(max_command_attempts) +
              " times while this command ran; retry it",
          false}});
      return;
    }
    // Another node's command won: run this one again on the version the watch brings.
    st.reruns.push_back({database, text, std::move(rp), attempts + 1});
    return;
  }
  const auto token = st.next_token++;
  st.awaiting[token] = {c.version, c.at, std::move(rp), std::move(ex.outcome), ex.kind, false};
  spdlog::info("catalog v{} committed to the cluster: {}", c.version, ex.kind);
}

// Cluster mode: asks for the acknowledgements of every committed command this node has now applied.
void ask_for_acks(coordinator_ptr self) {
  auto& st = self->state;
  for (auto& [token, a] : st.awaiting) {
    if (a.asked || a.version > st.settled) continue;
    a.asked = true;
    st.env->cluster->await_acks(a.version, a.committed,
                                [me = caf::actor_cast<coordinator_actor>(self), t = token](std::vector<cluster::node_ack> acks) {
                                  caf::anon_send(me, acked_atom::value, t, acks_message{std::move(acks)});
                                });
  }
}

// Cluster mode: publishes the newest version whose changes every actor has (and every earlier
// version's), and asks for the acknowledgements of the commands waiting for it.
void settled(coordinator_ptr self) {
  auto& st = self->state;
  const uint64_t v = st.settling.empty() ? st.cat.version : *st.settling.begin() - 1;
  if (v < st.settled) return;
  st.settled = v;
  st.env->cluster->report_applied(v);
  ask_for_acks(self);
}

// Cluster mode: brings the node to a catalog version from the metadata store.
void apply_version(coordinator_ptr self, const cluster::catalog_version& v) {
  auto& st = self->state;
  if (v.catalog->version < st.cat.version) return;  // an older delivery overtaken by a reseed
  auto changes = cluster::diff(st.cat, *v.catalog);
  const bool newer = v.catalog->version != st.cat.version || !changes.empty();
  st.cat = *v.catalog;
  st.revision = v.revision;
  if (newer) {
    // Not synced: the cluster's catalog is the durable one, read again at every start; a later
    // synced write (any ingest) makes this one durable too.
    if (auto err = st.env->store.commit_catalog(st.cat, changes, /*sync=*/false)) {
      // The local copy is a cache of the cluster's; the node cannot follow the cluster without it.
      spdlog::critical("cannot persist catalog v{} locally: {}", st.cat.version, err->message);
      self->quit(caf::sec::runtime_error);
      return;
    }
    const auto version = st.cat.version;
    st.settling.insert(version);
    settle(self, follow(self, changes), [self, version] {
      auto& st = self->state;
      st.settling.erase(st.settling.find(version));
      settled(self);
    });
    st.report();
    spdlog::info("catalog v{} applied ({} change(s))", st.cat.version, changes.size());
  }
  settled(self);
  for (auto it = st.held.begin(); it != st.held.end();) {
    if (it->version > st.cat.version) {
      ++it;
      continue;
    }
    const auto* db = st.cat.find_database(it->database);
    if (db)
      it->rp.delegate(st.databases.at(static_cast<uint64_t>(db->id)), resolve_atom::value, it->table);
    else
      it->rp.deliver(resolved_table{model::error{"BadRequest_DatabaseNotExist",
                                                 "Database '" + it->database + "' does not exist; create it with .create database " + it->database,
                                                 true}});
    it = st.held.erase(it);
  }
  auto again = std::move(st.reruns);
  st.reruns.clear();
  for (auto& r : again) run_cluster_command(self, r.database, r.text, std::move(r.rp), r.attempts);
}

// `.show cluster`: the nodes, their state, address, applied catalog version, lease time left
// and rowstore bytes. Alone, the node is the cluster's only row.
model::outcome show_cluster(coordinator_ptr self) {
  auto& st = self->state;
  using ct = model::column_type;
  model::result_table t;
  t.columns = {{"NodeId", ct::string},         {"State", ct::string},      {"Address", ct::string},
               {"AppliedVersion", ct::long_}, {"LeaseLeft", ct::timespan}, {"RowstoreBytes", ct::long_},
               {"IsSelf", ct::bool_}};
  if (!st.env->cluster) {
    t.rows.push_back({st.env->node_id, std::string("Live"), std::string(""), static_cast<int64_t>(st.cat.version),
                      model::value{}, static_cast<int64_t>(st.env->usage.rowstore()), true});
    return t;
  }
  for (const auto& n : st.env->cluster->nodes()) {
    const int64_t rowstore = n.self ? static_cast<int64_t>(st.env->usage.rowstore()) : static_cast<int64_t>(n.rowstore_bytes);
    t.rows.push_back({n.id, std::string(n.live ? "Live" : "Down"), n.rpc_address, static_cast<int64_t>(n.applied_version),
                      n.live && n.lease_ttl_ms >= 0 ? model::value{n.lease_ttl_ms * 10'000} : model::value{}, rowstore,
                      n.self});
  }
  return t;
}

// Kusto's `.clear table T cache streamingingestion schema` (and the database form): answers once
// every node applied the current catalog, or is fenced: one row per node, NodeId and Status.
caf::result<model::outcome> schema_acks(coordinator_ptr self) {
  auto& st = self->state;
  if (!st.env->cluster)
    return model::outcome{acks_table({{st.env->node_id, cluster::node_ack::status::applied, st.cat.version}})};
  auto rp = self->make_response_promise<model::outcome>();
  const auto token = st.next_token++;
  awaiting_acks a;
  a.version = st.cat.version;
  a.committed = std::chrono::steady_clock::now();
  a.rp = rp;
  a.kind = "clear_schema_cache";
  a.outcome = model::result_table{};  // filled from the acks
  a.per_node = true;
  st.awaiting[token] = std::move(a);
  ask_for_acks(self);
  return rp;
}

caf::result<model::outcome> run_command(coordinator_ptr self, const std::string& database,
                                        const std::string& text) {
  auto& st = self->state;
  if (storage::fail_point("coordinator.command", database)) throw std::runtime_error("injected by TRIBUTARY_FAIL_AT");
  commands::executed ex;
  if (st.env->cluster) {
    // The store decides: the command's changes apply here when the watch brings them back.
    model::catalog after = st.cat;
    ex = commands::execute(after, {database, now_ticks()}, text);
    if (!ex.changes.empty()) {
      auto rp = self->make_response_promise<model::outcome>();
      commit_to_cluster(self, std::move(after), std::move(ex), database, text, rp, 0);
      return rp;
    }
  } else {
    ex = commands::execute(st.cat, {database, now_ticks()}, text);
  }
  if (ex.forward) {
    st.env->command_probe.executed(ex.kind, true);
    if (ex.forward->what == commands::table_request::what_kind::show_data_operations)
      return model::outcome{st.env->operations.show()};
    if (ex.forward->what == commands::table_request::what_kind::show_cluster_state) return show_streaming_state(self);
    if (ex.forward->what == commands::table_request::what_kind::show_data_connections) {
      if (st.env->complete_data_connections) st.env->complete_data_connections(std::get<model::result_table>(ex.outcome));
      return std::move(ex.outcome);
    }
    if (ex.forward->what == commands::table_request::what_kind::show_ingestion_failures)
      return st.env->ingestion_failures ? st.env->ingestion_failures() : model::outcome{model::result_table{}};
    if (ex.forward->what == commands::table_request::what_kind::show_cluster_nodes) return show_cluster(self);
    if (ex.forward->what == commands::table_request::what_kind::drop_cluster_node) {
      if (!st.env->cluster)
        return model::outcome{model::error{"BadRequest_NotInClusterMode",
                                           "this node runs alone (no --metadata): it has no other nodes to drop", true}};
      if (auto e = st.env->cluster->drop_node(ex.forward->table)) return model::outcome{*e};
      return show_cluster(self);
    }
    if (ex.forward->what == commands::table_request::what_kind::clear_schema_cache) return schema_acks(self);
    const auto* db = st.cat.find_database(ex.forward->database);
    const auto& actor = st.databases.at(static_cast<uint64_t>(db->id));
    if (ex.forward->what == commands::table_request::what_kind::clear_data && st.env->cluster)
      // Each node holds its own shard; clearing one would leave the others' rows, silently.
      return model::outcome{model::error{
          "BadRequest_NotSupportedInCluster",
          ".clear table " + ex.forward->table +
              " data is not supported in cluster mode yet: it would clear only this node's shard. To remove "
              "every row, drop the table and create it again (.drop table " + ex.forward->table + ")",
          true}};
    if (ex.forward->what == commands::table_request::what_kind::clear_data)
      return self->delegate(actor, clear_atom::value, ex.forward->table);
    if (ex.forward->what == commands::table_request::what_kind::show_details)
      return self->delegate(actor, details_atom::value, ex.forward->table, std::get<model::result_table>(ex.outcome));
    return self->delegate(actor, extents_atom::value, ex.forward->table);
  }
  if (!ex.changes.empty()) {
    if (auto err = st.env->store.commit_catalog(st.cat, ex.changes)) {
      spdlog::error("catalog commit failed, reloading the durable catalog: {}", err->message);
      // The in-memory catalog is ahead of the disk; fall back to what is durable.
      auto durable = st.env->store.load_catalog();
      if (auto* c = std::get_if<model::catalog>(&durable)) {
        st.cat = std::move(*c);
      } else {
        spdlog::critical("cannot reload the catalog: {}", std::get<model::error>(durable).message);
        self->quit(caf::sec::runtime_error);
      }
      st.env->command_probe.executed(ex.kind, false);
      return model::outcome{*err};
    }
    auto targets = follow(self, ex.changes);
    st.report();
    spdlog::info("catalog v{}: {}", st.cat.version, ex.kind);
    st.env->command_probe.executed(ex.kind, std::holds_alternative<model::result_table>(ex.outcome));
    // Answered once the actors have the changes: an ingest sent after the answer sees them.
    auto rp = self->make_response_promise<model::outcome>();
    settle(self, targets, [rp, outcome = std::move(ex.outcome)]() mutable { rp.deliver(std::move(outcome)); });
    return rp;
  }
  st.env->command_probe.executed(ex.kind, std::holds_alternative<model::result_table>(ex.outcome));
  return std::move(ex.outcome);
}

coordinator_actor::behavior_type coordinator_impl(coordinator_ptr self, model::catalog cat,
                                                  const node_env* env,
                                                  std::shared_ptr<recovery_map> recovered) {
  auto& st = self->state;
  st.cat = std::move(cat);
  st.env = env;
  st.settled = st.cat.version;
  if (env->cluster) st.revision = env->cluster->seeded().revision;
  for (const auto& [name, db] : st.cat.databases) spawn_database_with_tables(self, db, recovered.get());
  if (env->catalog_applied) env->catalog_applied(st.cat);
  st.report();
  return {
      [self](catalog_atom, const catalog_message& m) { apply_version(self, m.version); },
      [self](acked_atom, uint64_t token, const acks_message& m) {
        auto& st = self->state;
        auto it = st.awaiting.find(token);
        if (it == st.awaiting.end()) return;
        for (const auto& a : m.acks)
          if (a.state != cluster::node_ack::status::applied) {
            spdlog::warn("catalog v{}: node '{}' {}", it->second.version, a.node_id, cluster::describe(a));
            st.env->catalog_probe.fenced(a.state == cluster::node_ack::status::fenced_unreachable ? "unreachable"
                                                                                                  : "behind");
          }
        if (!it->second.per_node)
          st.env->catalog_probe.propagated(std::chrono::steady_clock::now() - it->second.committed);
        if (it->second.per_node) it->second.outcome = acks_table(m.acks);
        st.env->command_probe.executed(it->second.kind, std::holds_alternative<model::result_table>(it->second.outcome));
        it->second.rp.deliver(std::move(it->second.outcome));
        st.awaiting.erase(it);
      },
      [self](command_atom, const std::string& database, const std::string& text) {
        return run_command(self, database, text);
      },
      [self](resolve_atom, const std::string& database, const std::string& table) -> caf::result<resolved_table> {
        auto& st = self->state;
        const auto* db = st.cat.find_database(database);
        if (st.env->cluster && (!db || !db->tables.count(table))) {
          // Not found here. In a cluster that is an answer only once the node knows its catalog
          // is current: a table created at another node a moment ago is on its way.
          auto current = st.env->cluster->store_version();
          if (auto* e = std::get_if<model::error>(&current)) return resolved_table{*e};
          const auto v = std::get<uint64_t>(current);
          if (v > st.cat.version) {
            auto rp = self->make_response_promise<resolved_table>();
            st.held.push_back({database, table, v, rp});
            return rp;
          }
        }
        if (!db)
          return resolved_table{model::error{
              "BadRequest_DatabaseNotExist",
              database.empty() ? "no database in context; pass the database of the table (for example "
                                 "tributary --database <name> ...)"
                               : "Database '" + database + "' does not exist; create it with .create database " + database,
              true}};
        // Same sender, same receiver: this arrives after every update sent before it, so a table
        // committed before this request already has its actor.
        return self->delegate(st.databases.at(static_cast<uint64_t>(db->id)), resolve_atom::value, table);
      },
  };
}

}  // namespace

std::variant<coordinator_actor, model::error> spawn_coordinator(caf::actor_system& sys,
                                                                 const node_env& env) {
  auto loaded = env.store.load_catalog();
  if (auto* e = std::get_if<model::error>(&loaded)) return *e;
  auto cat = std::move(std::get<model::catalog>(loaded));
  if (cat.version == 0 && env.streaming_on_first_start && !env.cluster) {
    cat.streaming = model::switch_state::enabled;
    cat.version = 1;
    model::change c;
    c.what = model::change::kind::put_cluster;
    if (auto e = env.store.commit_catalog(cat, {c})) return *e;
    spdlog::info("new data dir: cluster streaming ingestion switch turned on");
  }
  auto start = std::chrono::steady_clock::now();
  auto recovered = storage::recover(env.store);
  if (auto* e = std::get_if<model::error>(&recovered)) return *e;
  auto tables = std::make_shared<recovery_map>(std::move(std::get<recovery_map>(recovered)));
  // Rows of tables the catalog no longer has (a crash between a drop's commit and its data
  // deletion) are deleted now.
  std::unordered_map<uint64_t, bool> known;
  for (const auto& [n, db] : cat.databases)
    for (const auto& [tn, t] : db.tables) known[static_cast<uint64_t>(t.id)] = true;
  if (auto n = storage::remove_orphan_extents(env.data_dir, *tables, known))
    spdlog::info("removed {} orphan extent file(s) left by a crash or a drop", n);
  size_t rows = 0;
  for (const auto& [id, r] : *tables) {
    for (const auto& b : r.batches) rows += b.rows;
    if (known.count(id)) continue;
    storage::rowstore_write w;
    w.table = model::table_id{id};
    w.drop_table = true;
    env.writer.submit(std::move(w));
    spdlog::info("deleting rowstore data of dropped table id {}", id);
  }
  spdlog::info("recovered {} rows of {} tables from the rowstore in {} ms", rows, tables->size(),
               std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count());
  // Before the RPC server starts: the gateway checks the switch on its own thread, and must not
  // see the default (off) while the coordinator is still starting.
  env.tables.set_streaming_on(cat.streaming == model::switch_state::enabled);
  return sys.spawn<caf::detached>(coordinator_impl, std::move(cat), &env, std::move(tables));
}

}  // namespace tributary::actors
