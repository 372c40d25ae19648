#include <algorithm>
#include <caf/all.hpp>
#include <chrono>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unordered_map>

#include "actors/actors.hpp"
#include "actors/directory.hpp"
#include "monitoring/metrics.hpp"
#include "storage/rowstore.hpp"

namespace tributary::actors {
namespace {

using clock = std::chrono::steady_clock;

// A table restarted again within this long of its last failure waits before it restarts, twice
// as long each time up to max_restart_delay: a table that fails on every message does not spin.
constexpr auto failure_memory = std::chrono::minutes(1);
constexpr auto first_restart_delay = std::chrono::milliseconds(100);
constexpr auto max_restart_delay = std::chrono::seconds(10);
constexpr auto mover_wait = std::chrono::milliseconds(50);

// One table of the database: its actor (none while it restarts) and what a restart needs.
struct table_entry {
  std::optional<table_actor> actor;
  model::table definition;  // as the catalog has it now
  std::shared_ptr<std::atomic<int>> movers = std::make_shared<std::atomic<int>>(0);
  bool dropped = false;  // dropped while restarting: its data is deleted once it is recovered
  std::string last_failure;
  clock::time_point failed_at{};
  std::chrono::milliseconds restart_delay{0};
};

struct database_st {
  const node_env* env = nullptr;
  std::string database_name;
  database_update current;
  std::unordered_map<uint64_t, table_entry> tables;  // by table_id
  static inline const char* name = "database";

  model::error not_found(const std::string& table) const {
    return {"BadRequest_TableNotExist",
            fmt::format("Table '{}' does not exist in database '{}'; create it with .create table {} "
                        "(<column>:<type>, ...), or list the tables with .show tables",
                        table, database_name, table),
            true};
  }

  table_entry* find(const std::string& table) {
    for (auto& [id, e] : tables)
      if (e.definition.name == table) return &e;
    return nullptr;
  }

  // The table's actor, or why there is none (unknown, or restarting after a failure).
  std::variant<table_actor, model::error> actor_of(const std::string& table) {
    auto* e = find(table);
    if (!e) return not_found(table);
    if (!e->actor) return table_restarting(database_name, table, e->last_failure);
    return *e->actor;
  }
};

using database_ptr = database_actor::stateful_pointer<database_st>;

void spawn_table_of(database_ptr self, table_entry& e, std::shared_ptr<const storage::table_recovery> recovered) {
  auto& st = self->state;
  auto actor = spawn_table(self, *st.env, st.database_name, table_update{e.definition, st.current, recovered},
                           recovered, e.movers);
  st.env->tables.put(st.database_name, e.definition.name, actor);
  e.actor = std::move(actor);
}

// A table actor failed (its exception handler has answered what it held). It is restarted from
// its durable state, once nothing of the failed one can still write: see restart().
void table_failed(database_ptr self, uint64_t id, table_entry& e, const caf::error& reason) {
  auto& st = self->state;
  st.env->tables.erase(st.database_name, e.definition.name);
  e.actor.reset();
  e.last_failure = self->system().render(reason);
  const auto now = clock::now();
  e.restart_delay = now - e.failed_at < failure_memory
                        ? std::clamp(e.restart_delay * 2, std::chrono::milliseconds(first_restart_delay),
                                     std::chrono::milliseconds(max_restart_delay))
                        : std::chrono::milliseconds(0);
  e.failed_at = now;
  st.env->catalog_probe.restarted("table");
  spdlog::warn("database '{}': table '{}' failed ({}); restarting it in {} ms", st.database_name, e.definition.name,
               e.last_failure, e.restart_delay.count());
  self->delayed_send(self, e.restart_delay, restart_atom::value, model::table_id{id}, false);
}

// Restarts a failed table in two steps. First, once its mover (writing a file of the same name
// a new move would write) has stopped, a barrier through the rowstore writer: the batches,
// registrations and clears the failed actor handed over are then durable (or failed). Second,
// its shard is recovered from storage as at start-up, its files that no registered extent
// claims are removed, and a new actor is spawned. Other tables are not touched.
void restart(database_ptr self, model::table_id tid, bool settled) {
  auto& st = self->state;
  const auto id = static_cast<uint64_t>(tid);
  auto it = st.tables.find(id);
  if (it == st.tables.end() || it->second.actor) return;
  auto& e = it->second;
  if (!settled) {
    if (e.movers->load() > 0) return self->delayed_send(self, mover_wait, restart_atom::value, tid, false);
    storage::rowstore_write barrier;
    barrier.table = tid;
    barrier.barrier = true;
    barrier.done = [h = caf::actor_cast<database_actor>(self), tid](std::optional<model::error>) {
      caf::anon_send(h, restart_atom::value, tid, true);
    };
    if (!st.env->writer.submit(std::move(barrier)))
      self->delayed_send(self, mover_wait, restart_atom::value, tid, false);
    return;
  }
  auto recovered = storage::recover_table(st.env->store, tid);
  if (auto* err = std::get_if<model::error>(&recovered)) {
    spdlog::error("database '{}': cannot recover table '{}' ({}); trying again", st.database_name,
                  e.definition.name, err->message);
    return self->delayed_send(self, max_restart_delay, restart_atom::value, tid, false);
  }
  auto shard = std::make_shared<const storage::table_recovery>(std::move(std::get<storage::table_recovery>(recovered)));
  if (auto n = storage::remove_orphan_extents_of(st.env->data_dir, tid, *shard))
    spdlog::info("database '{}': removed {} unregistered extent file(s) of table '{}'", st.database_name, n,
                 e.definition.name);
  spawn_table_of(self, e, std::move(shard));
  spdlog::info("database '{}': table '{}' restarted from its durable state", st.database_name, e.definition.name);
  if (e.dropped) {
    // Dropped while it restarted: the new actor deletes what it recovered and stops.
    st.env->tables.erase(st.database_name, e.definition.name);
    self->unlink_from(*e.actor);
    self->send(*e.actor, drop_atom::value);
    st.tables.erase(it);
  }
}

// The table leaves the directory, deletes its data and stops by itself; unlinked, so that its
// exit does not concern this actor.
void drop_table(database_ptr self, table_entry& e) {
  auto& st = self->state;
  st.env->tables.erase(st.database_name, e.definition.name);
  self->unlink_from(*e.actor);
  self->send(*e.actor, drop_atom::value);
}

database_actor::behavior_type database_impl(database_ptr self, const node_env* env,
                                            std::string name, database_update init) {
  auto& st = self->state;
  st.env = env;
  st.database_name = std::move(name);
  st.current = std::move(init);
  env->catalog_probe.actors("database", +1);
  self->attach_functor([env] { env->catalog_probe.actors("database", -1); });
  // Supervision: a linked table that exits has failed (a dropped one is unlinked first); any
  // other exit is the coordinator's, which this actor follows.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    for (auto& [id, e] : self->state.tables)
      if (e.actor && e.actor->address() == msg.source) return table_failed(self, id, e, msg.reason);
    self->quit(msg.reason);
  });
  return {
      [self](restart_atom, model::table_id id, bool settled) { restart(self, id, settled); },
      [self](update_atom, database_update& d) {
        self->state.current = std::move(d);
        for (auto& [id, e] : self->state.tables)
          if (e.actor) self->send(*e.actor, update_atom::value, self->state.current);
      },
      [self](update_atom, table_update& u) {
        auto& st = self->state;
        u.database = st.current;
        auto id = static_cast<uint64_t>(u.table.id);
        auto it = st.tables.find(id);
        if (it != st.tables.end()) {
          it->second.definition = u.table;
          if (it->second.actor) self->send(*it->second.actor, update_atom::value, std::move(u));
          return;
        }
        auto& e = st.tables[id];
        e.definition = u.table;
        spawn_table_of(self, e, u.recovered);
      },
      [self](drop_atom, model::table_id tid) {
        auto& st = self->state;
        auto it = st.tables.find(static_cast<uint64_t>(tid));
        if (it == st.tables.end()) return;
        if (!it->second.actor) {
          it->second.dropped = true;  // restart() drops it once recovered
          return;
        }
        drop_table(self, it->second);
        st.tables.erase(it);
      },
      [self](drop_atom) {
        // The database was dropped: its tables delete their data and stop. A table restarting
        // right now leaves its rows to the start-up cleanup of dropped tables.
        auto& st = self->state;
        for (auto& [id, e] : st.tables)
          if (e.actor) drop_table(self, e);
        st.tables.clear();
        self->quit();
      },
      [self](extents_atom, const std::string& table) -> caf::result<model::outcome> {
        auto a = self->state.actor_of(table);
        if (auto* t = std::get_if<table_actor>(&a)) return self->delegate(*t, extents_atom::value);
        return model::outcome{std::get<model::error>(a)};
      },
      [self](details_atom, const std::string& table, model::result_table& row) -> caf::result<model::outcome> {
        auto a = self->state.actor_of(table);
        if (auto* t = std::get_if<table_actor>(&a)) return self->delegate(*t, details_atom::value, std::move(row));
        return model::outcome{std::get<model::error>(a)};
      },
      [self](clear_atom, const std::string& table) -> caf::result<model::outcome> {
        auto a = self->state.actor_of(table);
        if (auto* t = std::get_if<table_actor>(&a)) return self->delegate(*t, clear_atom::value);
        return model::outcome{std::get<model::error>(a)};
      },
      [self](settle_atom) -> caf::result<bool> {
        auto rp = self->make_response_promise<bool>();
        auto pending = std::make_shared<size_t>(1);
        auto one_done = [rp, pending]() mutable {
          if (--*pending == 0) rp.deliver(true);
        };
        for (auto& [id, e] : self->state.tables) {
          if (!e.actor) continue;
          ++*pending;
          // An actor that fails meanwhile answers with an error: nothing of it is left to wait for.
          self->request(*e.actor, caf::infinite, settle_atom::value)
              .then([one_done](bool) mutable { one_done(); }, [one_done](caf::error&) mutable { one_done(); });
        }
        one_done();
        return rp;
      },
      [self](settle_atom, model::table_id tid) -> caf::result<bool> {
        auto it = self->state.tables.find(static_cast<uint64_t>(tid));
        if (it == self->state.tables.end() || !it->second.actor) return true;
        return self->delegate(*it->second.actor, settle_atom::value);
      },
      [self](resolve_atom, const std::string& table) -> resolved_table {
        auto a = self->state.actor_of(table);
        if (auto* t = std::get_if<table_actor>(&a)) return *t;
        return std::get<model::error>(a);
      },
  };
}

}  // namespace

database_actor spawn_database(caf::local_actor* parent, const node_env& env, std::string name,
                              database_update initial) {
  return parent->spawn<caf::linked>(database_impl, &env, std::move(name), std::move(initial));
}

}  // namespace tributary::actors
