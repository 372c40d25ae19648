#include <algorithm>
#include <caf/all.hpp>
#include <filesystem>
#include <spdlog/spdlog.h>

#include "actors/operations.hpp"
#include "actors/table_state.hpp"
#include "storage/crash_point.hpp"
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

constexpr auto min_register_backoff = std::chrono::milliseconds(100);
constexpr auto max_register_backoff = std::chrono::seconds(10);
constexpr auto move_retry_delay = std::chrono::seconds(5);

// A move (or its registration) ended. A clear answered only once no move of the cleared rows
// is left, so its extent files are gone when the client hears back; a drop finishes only then.
void seal_stopped(table_ptr self) {
  auto& st = self->state;
  st.sealing = false;
  st.move_cancelled.reset();
  if (st.clear_reply && st.clear_written) st.answer_clear(std::nullopt);
  if (st.dropping) maybe_finish_drop(self);
}

// A move or a registration failed: the metric, the log and a Failed row in .show data operations.
void report_failure(table_ptr self, const char* what, const model::error& e, std::chrono::milliseconds retry) {
  auto& st = self->state;
  st.env->ingest_probe.moved(false, 0, {});
  spdlog::warn("{} of table '{}' in database '{}' failed, retrying in {} ms: {}: {}", what, st.state.table.name,
               st.database_name, retry.count(), e.code, e.message);
  data_operation op;
  op.timestamp_ticks = now_ticks();
  op.database = st.database_name;
  op.table = st.state.table.name;
  op.kind = "RowStoreSeal";
  op.duration_ticks = now_ticks() - st.seal_started_ticks;
  op.result = "Failed";
  op.details = fmt::format("{}: {}: {}", what, e.code, e.message);
  st.env->operations.add(std::move(op));
}

void remove_extent_file(const table_st& st, const storage::extent_record& rec) {
  std::error_code ec;
  std::filesystem::remove(storage::extent_path(st.env->data_dir, rec.table, storage::extent_id{rec.id}), ec);
}

void seal_finished(table_ptr self, seal_result& result, uint64_t original_bytes, uint64_t generation) {
  auto& st = self->state;
  if (st.env->controller) self->send(st.env->controller, release_atom::value);
  if (auto* rec = std::get_if<storage::extent_record>(&result);
      rec && (generation != st.generation || st.clear_below || st.dropping)) {
    // The table was cleared (or is being cleared, or dropped) while this move ran: its rows are
    // gone, and so goes the file. Registering it now would bring cleared rows back.
    remove_extent_file(st, *rec);
    seal_stopped(self);
    return maybe_seal(self);
  }
  if (auto* e = std::get_if<model::error>(&result)) {
    if (st.dropping) return seal_stopped(self);  // cancelled by the drop: nothing to retry
    if (e->code == "StorageCorruption") st.env->ingest_probe.corruption("rowstore");
    report_failure(self, "the extent move", *e, move_retry_delay);
    seal_stopped(self);
    schedule_seal_check(self, move_retry_delay);
    return;
  }
  auto rec = std::get<storage::extent_record>(result);
  rec.original_bytes = original_bytes;
  st.move_cancelled.reset();  // the mover is done: what is left is the registration
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
    st.move_cancelled = std::make_shared<std::atomic<bool>>(false);
    seal_job job{st.state.table.id, st.state.table.columns, st.batches.front().sequence,
                 st.batches.back().sequence, pause_us, guaranteed, st.move_cancelled};
    const uint64_t original = st.total_bytes;
    const uint64_t generation = st.generation;
    auto mover = spawn_mover(self, *st.env);
    // Counted until the mover's thread is done, whatever becomes of this actor.
    st.movers->fetch_add(1);
    mover->attach_functor([movers = st.movers] { movers->fetch_sub(1); });
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
  if (storage::fail_point("table.seal", st.state.table.name)) throw std::runtime_error("injected by TRIBUTARY_FAIL_AT");
  if (st.sealing || st.dropping || st.clear_below || st.batches.empty()) return;
  // A mover of this table's failed predecessor still runs (on the same range, the same file):
  // wait for it to stop.
  if (st.movers->load() > 0) return schedule_seal_check(self, std::chrono::milliseconds(50));
  const int64_t age_limit = std::chrono::duration_cast<std::chrono::milliseconds>(st.env->seal_after_age).count() *
                            (ticks_per_second / 1000);
  const int64_t age = now_ticks() - st.batches.front().ingestion_ticks;
  if (st.policy_off() || st.total_bytes >= st.seal_threshold() || age >= age_limit) return start_seal(self);
  schedule_seal_check(self, std::chrono::milliseconds((age_limit - age) / (ticks_per_second / 1000) + 1));
}

void sealed(table_ptr self, uint64_t id, std::optional<model::error>& error) {
  auto& st = self->state;
  auto it = std::find_if(st.extents.begin(), st.extents.end(), [&](const auto& e) { return e.id == id; });
  if (error && it != st.extents.end() && !st.dropping) {
    // Queries already read the extent; its rows stay in the rowstore on disk until the
    // registration is durable. Retried with a growing backoff, never in a hot loop.
    st.register_backoff = std::clamp(st.register_backoff * 2, std::chrono::milliseconds(min_register_backoff),
                                     std::chrono::milliseconds(max_register_backoff));
    report_failure(self, fmt::format("registering extent {}", id).c_str(), *error, st.register_backoff);
    st.backing_off = id;
    self->delayed_send(self, st.register_backoff, register_atom::value, id);
    return;
  }
  if (!error) st.register_backoff = std::chrono::milliseconds(0);
  seal_stopped(self);
  if (it != st.extents.end()) {
    st.env->ingest_probe.moved(true, it->original_bytes,
                               std::chrono::nanoseconds((now_ticks() - st.seal_started_ticks) * 100));
    st.env->operations.add({now_ticks(), st.database_name, st.state.table.name, "RowStoreSeal",
                            it->original_bytes, it->file_bytes, it->rows, 1, now_ticks() - st.seal_started_ticks,
                            "Completed", ""});
  }
  spdlog::debug("table '{}': extent {} registered", st.state.table.name, id);
  maybe_seal(self);
}

void register_again(table_ptr self, uint64_t id) {
  auto& st = self->state;
  if (st.backing_off != id) return;  // given up meanwhile (cleared, dropped)
  st.backing_off.reset();
  auto it = std::find_if(st.extents.begin(), st.extents.end(), [&](const auto& e) { return e.id == id; });
  if (it == st.extents.end() || st.dropping) {
    // Cleared or dropped meanwhile: the extent's rows are gone with it.
    seal_stopped(self);
    return maybe_seal(self);
  }
  // A clear on its way to disk must not be overtaken by the registration (it would bring the
  // cleared rows back): wait for it.
  if (st.clear_below) {
    st.backing_off = id;
    self->delayed_send(self, min_register_backoff, register_atom::value, id);
    return;
  }
  register_extent(self, *it);
}

void give_up_registration(table_ptr self) {
  auto& st = self->state;
  if (!st.backing_off) return;
  st.backing_off.reset();
  seal_stopped(self);
}

}  // namespace tributary::actors::table_detail
