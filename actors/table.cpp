#include <caf/all.hpp>

#include "actors/actors.hpp"
#include "monitoring/metrics.hpp"

namespace tributary::actors {
namespace {

struct table_st {
  table_state state;
  std::optional<model::streaming_policy> database_policy;
  static inline const char* name = "table";

  void recompute() {
    state.effective_policy = state.table.policy ? state.table.policy : database_policy;
  }
};

table_actor::behavior_type table_impl(table_actor::stateful_pointer<table_st> self,
                                      monitoring::catalog_probe* probe, table_update init) {
  probe->actors("table", +1);
  self->attach_functor([probe] { probe->actors("table", -1); });
  auto apply_database = [self](const database_update& d) {
    self->state.database_policy = d.policy;
    self->state.state.streaming_on = d.streaming_on;
    self->state.recompute();
  };
  self->state.state.table = std::move(init.table);
  apply_database(init.database);
  return {
      [self, apply_database](update_atom, table_update& u) {
        self->state.state.table = std::move(u.table);
        apply_database(u.database);
      },
      [apply_database](update_atom, const database_update& d) { apply_database(d); },
      [self](describe_atom) { return self->state.state; },
  };
}

}  // namespace

table_actor spawn_table(caf::local_actor* parent, monitoring::catalog_probe& probe,
                        table_update initial) {
  return parent->spawn<caf::linked>(table_impl, &probe, std::move(initial));
}

}  // namespace tributary::actors
