#include <caf/all.hpp>
#include <chrono>
#include <spdlog/spdlog.h>
#include <unordered_map>

#include "actors/actors.hpp"
#include "commands/commands.hpp"
#include "monitoring/metrics.hpp"
#include "storage/store.hpp"

namespace tributary::actors {
namespace {

int64_t now_ticks() {
  using ticks = std::chrono::duration<int64_t, std::ratio<1, 10'000'000>>;
  return std::chrono::duration_cast<ticks>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct coordinator_st {
  model::catalog cat;
  storage::store* store = nullptr;
  std::optional<actors::probes> probes;
  std::unordered_map<uint64_t, database_actor> databases;  // by database_id
  static inline const char* name = "coordinator";

  bool streaming_on() const { return cat.streaming == model::switch_state::enabled; }

  database_update update_for(const model::database& db) const {
    return {db.policy, streaming_on()};
  }

  void report() {
    size_t tables = 0;
    for (const auto& [name, db] : cat.databases) tables += db.tables.size();
    probes->catalog.version(cat.version);
    probes->catalog.objects(cat.databases.size(), tables);
  }
};

using coordinator_ptr = coordinator_actor::stateful_pointer<coordinator_st>;

void spawn_database_with_tables(coordinator_ptr self, const model::database& db) {
  auto& st = self->state;
  auto actor = spawn_database(self, st.probes->catalog, st.update_for(db));
  for (const auto& [name, t] : db.tables) self->send(actor, update_atom::value, table_update{t, {}});
  st.databases[static_cast<uint64_t>(db.id)] = actor;
}

void stop_database(coordinator_ptr self, model::database_id id) {
  auto& dbs = self->state.databases;
  auto it = dbs.find(static_cast<uint64_t>(id));
  if (it == dbs.end()) return;
  self->unlink_from(it->second);
  self->send_exit(it->second, caf::exit_reason::user_shutdown);
  dbs.erase(it);
}

// Brings the actor tree in line with the catalog after a committed command.
void follow(coordinator_ptr self, const std::vector<model::change>& changes) {
  auto& st = self->state;
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
          spawn_database_with_tables(self, *db);
        break;
      }
      case model::change::kind::delete_database:
        stop_database(self, c.database);
        break;
      case model::change::kind::put_table: {
        const auto* db = st.cat.find_database(c.database_name);
        if (!db) break;
        auto t = db->tables.find(c.table_name);
        const auto* a = database_actor_of(db->id);
        if (t != db->tables.end() && a) self->send(*a, update_atom::value, table_update{t->second, {}});
        break;
      }
      case model::change::kind::delete_table:
        if (const auto* a = database_actor_of(c.database)) self->send(*a, drop_atom::value, c.table);
        break;
      case model::change::kind::put_cluster:
        for (const auto& [name, db] : st.cat.databases)
          if (const auto* a = database_actor_of(db.id)) self->send(*a, update_atom::value, st.update_for(db));
        break;
    }
  }
}

coordinator_actor::behavior_type coordinator_impl(coordinator_ptr self, model::catalog cat,
                                                  storage::store* store, probes p) {
  auto& st = self->state;
  st.cat = std::move(cat);
  st.store = store;
  st.probes.emplace(p);
  for (const auto& [name, db] : st.cat.databases) spawn_database_with_tables(self, db);
  st.report();
  return {
      [self](command_atom, const std::string& database, const std::string& text) -> model::outcome {
        auto& st = self->state;
        auto ex = commands::execute(st.cat, {database, now_ticks()}, text);
        if (!ex.changes.empty()) {
          if (auto err = st.store->commit_catalog(st.cat, ex.changes)) {
            spdlog::error("catalog commit failed, reloading the durable catalog: {}", err->message);
            // The in-memory catalog is ahead of the disk; fall back to what is durable.
            auto durable = st.store->load_catalog();
            if (auto* c = std::get_if<model::catalog>(&durable)) {
              st.cat = std::move(*c);
            } else {
              spdlog::critical("cannot reload the catalog: {}", std::get<model::error>(durable).message);
              self->quit(caf::sec::runtime_error);
            }
            st.probes->commands.executed(ex.kind, false);
            return *err;
          }
          follow(self, ex.changes);
          st.report();
          spdlog::info("catalog v{}: {}", st.cat.version, ex.kind);
        }
        st.probes->commands.executed(ex.kind, std::holds_alternative<model::result_table>(ex.outcome));
        return std::move(ex.outcome);
      },
      [](query_atom, const std::string&, const std::string&) -> model::outcome {
        return model::error{"BadRequest_SyntaxError",
                            "this node answers management commands only; queries over ingested "
                            "data arrive with streaming ingest",
                            true};
      },
  };
}

}  // namespace

std::variant<coordinator_actor, model::error> spawn_coordinator(caf::actor_system& sys,
                                                                 storage::store& store,
                                                                 probes probes,
                                                                 coordinator_config config) {
  auto loaded = store.load_catalog();
  if (auto* e = std::get_if<model::error>(&loaded)) return *e;
  auto cat = std::move(std::get<model::catalog>(loaded));
  if (cat.version == 0 && config.streaming_on_first_start) {
    cat.streaming = model::switch_state::enabled;
    cat.version = 1;
    model::change c;
    c.what = model::change::kind::put_cluster;
    if (auto e = store.commit_catalog(cat, {c})) return *e;
    spdlog::info("new data dir: cluster streaming ingestion switch turned on");
  }
  return sys.spawn<caf::detached>(coordinator_impl, std::move(cat), &store, probes);
}

}  // namespace tributary::actors
