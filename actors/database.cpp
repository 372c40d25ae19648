#include <caf/all.hpp>
#include <fmt/format.h>
#include <unordered_map>

#include "actors/actors.hpp"
#include "actors/directory.hpp"
#include "monitoring/metrics.hpp"

namespace tributary::actors {
namespace {

struct database_st {
  const node_env* env = nullptr;
  std::string database_name;
  database_update current;
  std::unordered_map<uint64_t, table_actor> tables;  // by table_id
  std::unordered_map<uint64_t, std::string> names;   // table_id -> table name
  static inline const char* name = "database";

  model::error not_found(const std::string& table) const {
    return {"BadRequest_TableNotExist",
            fmt::format("Table '{}' does not exist in database '{}'; create it with .create table {} "
                        "(<column>:<type>, ...), or list the tables with .show tables",
                        table, database_name, table),
            true};
  }

  const table_actor* find(const std::string& table) const {
    for (const auto& [id, n] : names)
      if (n == table) return &tables.at(id);
    return nullptr;
  }
};

using database_ptr = database_actor::stateful_pointer<database_st>;

database_actor::behavior_type database_impl(database_ptr self, const node_env* env,
                                            std::string name, database_update init) {
  auto& st = self->state;
  st.env = env;
  st.database_name = std::move(name);
  st.current = std::move(init);
  env->catalog_probe.actors("database", +1);
  self->attach_functor([env] { env->catalog_probe.actors("database", -1); });
  return {
      [self](update_atom, database_update& d) {
        self->state.current = std::move(d);
        for (auto& [id, t] : self->state.tables) self->send(t, update_atom::value, self->state.current);
      },
      [self](update_atom, table_update& u) {
        auto& st = self->state;
        u.database = st.current;
        auto id = static_cast<uint64_t>(u.table.id);
        auto it = st.tables.find(id);
        if (it != st.tables.end()) {
          self->send(it->second, update_atom::value, std::move(u));
          return;
        }
        auto table_name = u.table.name;
        auto recovered = u.recovered;
        auto actor = spawn_table(self, *st.env, st.database_name, std::move(u), std::move(recovered));
        st.env->tables.put(st.database_name, table_name, actor);
        st.names[id] = std::move(table_name);
        st.tables.emplace(id, std::move(actor));
      },
      [self](drop_atom, model::table_id tid) {
        auto& st = self->state;
        auto id = static_cast<uint64_t>(tid);
        auto it = st.tables.find(id);
        if (it == st.tables.end()) return;
        st.env->tables.erase(st.database_name, st.names[id]);
        // The table finishes its pending commits, deletes its data and stops by itself; unlink so
        // that its exit does not concern us.
        self->unlink_from(it->second);
        self->send(it->second, drop_atom::value);
        st.tables.erase(it);
        st.names.erase(id);
      },
      [self](drop_atom) {
        // The database was dropped: its tables leave the directory, delete their data and stop.
        auto& st = self->state;
        for (auto& [id, t] : st.tables) {
          st.env->tables.erase(st.database_name, st.names[id]);
          self->unlink_from(t);
          self->send(t, drop_atom::value);
        }
        st.tables.clear();
        st.names.clear();
        self->quit();
      },
      [self](extents_atom, const std::string& table) -> caf::result<model::outcome> {
        if (const auto* a = self->state.find(table)) return self->delegate(*a, extents_atom::value);
        return model::outcome{self->state.not_found(table)};
      },
      [self](details_atom, const std::string& table, model::result_table& row) -> caf::result<model::outcome> {
        if (const auto* a = self->state.find(table)) return self->delegate(*a, details_atom::value, std::move(row));
        return model::outcome{self->state.not_found(table)};
      },
      [self](clear_atom, const std::string& table) -> caf::result<model::outcome> {
        if (const auto* a = self->state.find(table)) return self->delegate(*a, clear_atom::value);
        return model::outcome{self->state.not_found(table)};
      },
      [self](resolve_atom, const std::string& table) -> resolved_table {
        if (const auto* a = self->state.find(table)) return *a;
        return self->state.not_found(table);
      },
  };
}

}  // namespace

database_actor spawn_database(caf::local_actor* parent, const node_env& env, std::string name,
                              database_update initial) {
  return parent->spawn<caf::linked>(database_impl, &env, std::move(name), std::move(initial));
}

}  // namespace tributary::actors
