#include <caf/all.hpp>
#include <chrono>
#include <thread>

#include "actors/actors.hpp"
#include "storage/extent.hpp"
#include "storage/rowstore.hpp"

namespace tributary::actors {
namespace {

using model::now_ticks;
using model::ticks_per_second;


// Runs on the mover's own thread (detached): reads, writes and fsyncs block only it.
seal_result move(const node_env& env, const seal_job& job) {
  auto path = storage::extent_path(env.data_dir, job.table, storage::extent_id{job.from_sequence});
  auto created = storage::extent_writer::create(path, job.schema);
  if (auto* e = std::get_if<model::error>(&created)) return *e;
  auto& writer = std::get<storage::extent_writer>(created);
  std::optional<model::error> failure;
  auto read = storage::read_batches(env.store, job.table, job.from_sequence, job.to_sequence,
                                    [&](uint64_t, const model::column_batch& b) {
                                      failure = writer.append(b);
                                      if (job.pause_us)
                                        std::this_thread::sleep_for(std::chrono::microseconds(job.pause_us));
                                      return !failure;
                                    });
  if (read) return *read;
  if (failure) return *failure;
  auto finished = writer.finish();  // fsyncs the file and its directory
  if (auto* e = std::get_if<model::error>(&finished)) return *e;
  const auto& stats = std::get<storage::extent_stats>(finished);
  storage::extent_record r;
  r.table = job.table;
  r.id = job.from_sequence;
  r.from_sequence = job.from_sequence;
  r.to_sequence = job.to_sequence;
  r.rows = stats.rows;
  r.file_bytes = stats.file_bytes;
  r.min_ingestion_ticks = stats.min_ingestion_ticks;
  r.max_ingestion_ticks = stats.max_ingestion_ticks;
  r.created_ticks = now_ticks();
  return r;
}

mover_actor::behavior_type mover_impl(mover_actor::pointer self, const node_env* env) {
  return {
      [self, env](seal_atom, const seal_job& job) -> seal_result {
        auto result = move(*env, job);
        self->quit();
        return result;
      },
  };
}

}  // namespace

mover_actor spawn_mover(caf::local_actor* parent, const node_env& env) {
  return parent->spawn<caf::detached>(mover_impl, &env);
}

}  // namespace tributary::actors
