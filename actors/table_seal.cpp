#include <algorithm>
#include <caf/all.hpp>
#include <filesystem>
#include <spdlog/spdlog.h>

#include "actors/operations.hpp"
#include "actors/table_state.hpp"
#include "storage/extent.hpp"

namespace tributary::actors::table_detail {

using model::now_ticks;
using model::ticks_per_second;

namespace {


void schedule_seal_check(table_ptr self, std::chrono::milliseconds delay) {
  auto& st = self->state;
  if (st.seal_tick_pending) return;
  st.seal_tick_pending = true;
  self->delayed_send(self, delay, seal_atom::value);
}

void register_extent(table_ptr self, const storage::extent_record& e) {
  storage::rowstore_write w;
  w.table = e.table;
  w.seal = e;
  w.done = [h = caf::actor_cast<table_actor>(self), id = e.id](std::optional<model::error> err) {
    caf::anon_send(h, sealed_atom::value, id, std::move(err));
  };
  if (!self->state.env->writer.submit(std::move(w)))
    self->delayed_send(self, std::chrono::milliseconds(100), sealed_atom::value, e.id,
                       std::optional<model::error>(model::error{"Throttling", "write queue full", false}));
}

// A move (or its registration) ended. A clear answered only once no move of the cleared rows
// is left, so its extent files are gone when the client hears back.
void seal_stopped(table_ptr self) {
  auto& st = self->state;
  st.sealing = false;
  if (st.clear_reply && st.clear_written) st.answer_clear(std::nullopt);
}

void seal_finished(table_ptr self, seal_result& result, uint64_t original_bytes, uint64_t generation) {
  auto& st = self->state;
  if (st.env->controller) self->send(st.env->controller, release_atom::value);
  if (auto* rec = std::get_if<storage::extent_record>(&result); rec && generation != st.generation) {
    // The table was cleared while this move ran: its rows are gone, and so goes the file.
    std::error_code ec;
    std::filesystem::remove(storage::extent_path(st.env->data_dir, rec->table, storage::extent_id{rec->id}), ec);
    seal_stopped(self);
    return maybe_seal(self);
  }
  if (auto* e = std::get_if<model::error>(&result)) {
    st.env->ingest_probe.moved(false, 0, {});
    if (e->code == "StorageCorruption") st.env->ingest_probe.corruption("rowstore");
    spdlog::warn("extent move of table '{}' failed, retrying in 5 s: {}: {}", st.state.table.name, e->code, e->message);
    seal_stopped(self);
    schedule_seal_check(self, std::chrono::seconds(5));
    return;
  }
  auto rec = std::get<storage::extent_record>(result);
  rec.original_bytes = original_bytes;
  if (st.dropping) {
    std::error_code ec;
    std::filesystem::remove(storage::extent_path(st.env->data_dir, rec.table, storage::extent_id{rec.id}), ec);
    seal_stopped(self);
    return;
  }
  // One step of this actor moves the range from the rowstore to the extent for every query
  // after it; the registration (and the rowstore delete) becomes durable next. A crash before it
  // leaves an orphan file that start-up removes, and the rows still in the rowstore.
  uint64_t rows = 0, bytes = 0;
  auto end = std::find_if(st.batches.begin(), st.batches.end(),
                          [&](const auto& b) { return b.sequence > rec.to_sequence; });
  for (auto it = st.batches.begin(); it != end; ++it) {
    rows += it->rows;
    bytes += it->bytes;
  }
  st.batches.erase(st.batches.begin(), end);
  st.total_rows -= rows;
  st.total_bytes -= bytes;
  st.extents.push_back(rec);
  st.account(-static_cast<int64_t>(bytes), -static_cast<int64_t>(rows));
  st.account_extents(static_cast<int64_t>(rec.file_bytes));
  register_extent(self, rec);
}

void start_seal(table_ptr self) {
  auto& st = self->state;
  st.sealing = true;
  st.seal_started_ticks = now_ticks();
  auto run = [self](uint32_t pause_us, bool guaranteed) {
    auto& st = self->state;
    if (st.dropping || st.batches.empty()) {
      if (st.env->controller) self->send(st.env->controller, release_atom::value);
      seal_stopped(self);
      return;
    }
    seal_job job{st.state.table.id, st.state.table.columns, st.batches.front().sequence,
                 st.batches.back().sequence, pause_us, guaranteed};
    const uint64_t original = st.total_bytes;
    const uint64_t generation = st.generation;
    auto mover = spawn_mover(self, *st.env);
    self->request(mover, caf::infinite, seal_atom::value, std::move(job))
        .then([self, original, generation](seal_result& r) { seal_finished(self, r, original, generation); },
              [self, original, generation](caf::error& e) {
                seal_result r = model::error{"InternalServerError", self->system().render(e), false};
                seal_finished(self, r, original, generation);
              });
  };
  if (!st.env->controller) return run(0, false);
  self->request(st.env->controller, caf::infinite, acquire_atom::value)
      .then([run](mover_budget& b) { run(b.pause_us, b.rowstore_pressed); },
            [self](caf::error&) {
              seal_stopped(self);
              schedule_seal_check(self, std::chrono::seconds(5));
            });
}

}  // namespace

// Seals when the rowstore passes its size threshold, its oldest row its age threshold, or the
// table's effective policy is gone or disabled (Kusto moves the data then); otherwise checks
// again when the oldest row will be old enough.
void maybe_seal(table_ptr self) {
  auto& st = self->state;
  if (st.sealing || st.dropping || st.batches.empty()) return;
  const int64_t age_limit = std::chrono::duration_cast<std::chrono::milliseconds>(st.env->seal_after_age).count() *
                            (ticks_per_second / 1000);
  const int64_t age = now_ticks() - st.batches.front().ingestion_ticks;
  if (st.policy_off() || st.total_bytes >= st.seal_threshold() || age >= age_limit) return start_seal(self);
  schedule_seal_check(self, std::chrono::milliseconds((age_limit - age) / (ticks_per_second / 1000) + 1));
}

void sealed(table_ptr self, uint64_t id, std::optional<model::error>& error) {
  auto& st = self->state;
  auto it = std::find_if(st.extents.begin(), st.extents.end(), [&](const auto& e) { return e.id == id; });
  if (error && it != st.extents.end()) {
    spdlog::warn("registering extent {} of table '{}' failed, retrying: {}", id, st.state.table.name, error->message);
    auto rec = *it;
    self->delayed_send(self, std::chrono::milliseconds(100), seal_atom::value);
    register_extent(self, rec);
    return;
  }
  seal_stopped(self);
  if (it != st.extents.end()) {
    st.env->ingest_probe.moved(true, it->original_bytes,
                               std::chrono::nanoseconds((now_ticks() - st.seal_started_ticks) * 100));
    st.env->operations.add({now_ticks(), st.database_name, st.state.table.name, "RowStoreSeal",
                            it->original_bytes, it->file_bytes, it->rows, 1, now_ticks() - st.seal_started_ticks});
  }
  spdlog::debug("table '{}': extent {} registered", st.state.table.name, id);
  maybe_seal(self);
}

}  // namespace tributary::actors::table_detail
