#include <caf/all.hpp>
#include <unordered_map>

#include "actors/actors.hpp"
#include "monitoring/metrics.hpp"

namespace tributary::actors {
namespace {

struct database_st {
  database_update current;
  std::unordered_map<uint64_t, table_actor> tables;  // by table_id
  std::unordered_map<std::string, uint64_t> ids;     // table name -> table_id
  static inline const char* name = "database";
};

database_actor::behavior_type database_impl(database_actor::stateful_pointer<database_st> self,
                                            monitoring::catalog_probe* probe,
                                            database_update init) {
  probe->actors("database", +1);
  self->attach_functor([probe] { probe->actors("database", -1); });
  self->state.current = std::move(init);
  return {
      [self](update_atom, database_update& d) {
        self->state.current = std::move(d);
        for (auto& [id, t] : self->state.tables) self->send(t, update_atom::value, self->state.current);
      },
      [self, probe](update_atom, table_update& u) {
        u.database = self->state.current;
        auto id = static_cast<uint64_t>(u.table.id);
        auto it = self->state.tables.find(id);
        if (it != self->state.tables.end()) {
          self->send(it->second, update_atom::value, std::move(u));
          return;
        }
        self->state.ids[u.table.name] = id;
        self->state.tables.emplace(id, spawn_table(self, *probe, std::move(u)));
      },
      [self](drop_atom, model::table_id tid) {
        auto id = static_cast<uint64_t>(tid);
        auto it = self->state.tables.find(id);
        if (it == self->state.tables.end()) return;
        // Unlink first: a linked child's exit would otherwise take this actor down with it.
        self->unlink_from(it->second);
        self->send_exit(it->second, caf::exit_reason::user_shutdown);
        self->state.tables.erase(it);
        std::erase_if(self->state.ids, [id](const auto& kv) { return kv.second == id; });
      },
      [self](describe_atom, const std::string& name) -> caf::result<table_state> {
        auto it = self->state.ids.find(name);
        if (it == self->state.ids.end())
          return caf::make_error(caf::sec::runtime_error, "no actor for table " + name);
        return self->delegate(self->state.tables.at(it->second), describe_atom::value);
      },
  };
}

}  // namespace

database_actor spawn_database(caf::local_actor* parent, monitoring::catalog_probe& probe,
                              database_update initial) {
  return parent->spawn<caf::linked>(database_impl, &probe, std::move(initial));
}

}  // namespace tributary::actors
