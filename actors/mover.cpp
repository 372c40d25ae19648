#include <caf/all.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <sched.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <thread>
#include <unistd.h>

#include "actors/actors.hpp"
#include "storage/crash_point.hpp"
#include "storage/extent.hpp"
#include "storage/rowstore.hpp"

namespace tributary::actors {
namespace {

using model::now_ticks;
using model::ticks_per_second;


// The controller is asked again after every this many input bytes, and its pause (if any) taken
// then: a move follows the pressure while it runs, and the pause is per amount of data, not per
// (possibly tiny) rowstore batch.
constexpr size_t bytes_between_budget_checks = 4u << 20;
constexpr auto yield_every = std::chrono::microseconds(200);
constexpr unsigned max_compression_threads = 4;

// The controller's current pause; a blocking ask, fine on the mover's own thread.
std::chrono::microseconds current_pause(caf::actor_system& sys, const node_env& env, uint32_t fallback_us) {
  if (!env.controller) return std::chrono::microseconds(fallback_us);
  caf::scoped_actor self{sys};
  auto pause = std::chrono::microseconds(fallback_us);
  self->request(env.controller, std::chrono::seconds(1), budget_atom::value)
      .receive([&](const mover_budget& b) { pause = std::chrono::microseconds(b.pause_us); },
               [](const caf::error&) {});
  return pause;
}

// Compression threads for a move: every core while the machine has room; one under pressure (the
// controller asks for pauses), so the move's CPU share shrinks with its rate.
unsigned compression_threads(std::chrono::microseconds pause) {
  return pause.count() > 0 ? 1u : std::clamp(std::thread::hardware_concurrency(), 1u, max_compression_threads);
}

// Paces a move between its steps of work (the extent writer's between_steps, each batch read).
// The mover runs at the lowest priority, but a CPU-bound thread once picked runs until the next
// scheduler tick (4 ms at HZ=250), and a CPU busy with it never goes idle, so the scheduler does
// not pull a request's thread waiting elsewhere over to it. Every yield_every of work the mover
// therefore gives the CPU up: a yield while the controller asks for no pause; under pressure a
// sleep, sized so that the sleeps over the next 4 MiB add up to the controller's pause for it,
// spread thinly instead of taken in one block. Thread-safe (compression threads step too).
class pacer {
 public:
  explicit pacer(std::chrono::microseconds pause) : window_start_(clock::now()) {
    set_sleep(pause, assumed_work_per_check);
  }

  void step() {
    thread_local auto last = clock::now();
    if (clock::now() - last < yield_every) return;
    if (const auto nap = std::chrono::nanoseconds(step_sleep_ns_.load(std::memory_order_relaxed)); nap.count() > 0) {
      std::this_thread::sleep_for(nap);
      slept_ns_.fetch_add(nap.count(), std::memory_order_relaxed);
    } else {
      sched_yield();
    }
    last = clock::now();
  }

  // The controller was asked again after bytes_between_budget_checks: `pause` is for the next ones.
  void checked(std::chrono::microseconds pause) {
    const auto now = clock::now();
    const auto work = (now - window_start_) - std::chrono::nanoseconds(slept_ns_.exchange(0));
    window_start_ = now;
    set_sleep(pause, std::max<clock::duration>(work, yield_every));
  }

 private:
  using clock = std::chrono::steady_clock;
  static constexpr auto assumed_work_per_check = std::chrono::milliseconds(40);  // 4 MiB at 100 MiB/s
  static constexpr auto max_step_sleep = std::chrono::milliseconds(50);

  void set_sleep(std::chrono::microseconds pause, clock::duration work) {
    const auto nap = std::chrono::duration_cast<std::chrono::nanoseconds>(pause) * yield_every.count() /
                     std::chrono::duration_cast<std::chrono::microseconds>(work).count();
    step_sleep_ns_.store(std::min<std::chrono::nanoseconds>(nap, max_step_sleep).count(), std::memory_order_relaxed);
  }

  clock::time_point window_start_;
  std::atomic<int64_t> step_sleep_ns_{0};
  std::atomic<int64_t> slept_ns_{0};
};

// Runs on the mover's own thread (detached): reads, writes and fsyncs block only it.
seal_result move(caf::actor_system& sys, const node_env& env, const seal_job& job) {
  // Moves yield the CPU to ingest and queries: this thread (a detached actor's own; compression
  // helpers inherit from it) runs at a low priority (--mover-priority: SCHED_IDLE by default, which
  // only gets CPU nothing else wants, or a niceness), and its disk I/O in the idle class, behind
  // the group commit's fsyncs. A move started while the controller guarantees movers a rate (the
  // rowstore nears its reserve) keeps the normal priority: the rowstore must drain whatever else
  // runs. (Linux applies both to one thread; leaving SCHED_IDLE would need a privilege, so the
  // choice is made once per move.)
  if (!job.guaranteed) {
    sched_param idle{};
    if (env.mover_nice != node_env::mover_idle || sched_setscheduler(::gettid(), SCHED_IDLE, &idle) != 0)
      setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()),
                  env.mover_nice == node_env::mover_idle ? 19 : env.mover_nice);
    constexpr int ioprio_class_idle = 3, ioprio_class_shift = 13, ioprio_who_process = 1;
    syscall(SYS_ioprio_set, ioprio_who_process, ::gettid(), ioprio_class_idle << ioprio_class_shift);
  }
  auto path = storage::extent_path(env.data_dir, job.table, storage::extent_id{job.from_sequence});
  pacer pace(std::chrono::microseconds(job.pause_us));
  auto between_steps = [&pace] { pace.step(); };
  storage::extent_options options;
  options.between_steps = between_steps;
  // A move compresses a group's columns on every core: its threads (helpers inherit this one's
  // class) only get what ingest and queries leave idle.
  options.compression_threads = compression_threads(std::chrono::microseconds(job.pause_us));
  auto created = storage::extent_writer::create(path, job.schema, options);
  if (auto* e = std::get_if<model::error>(&created)) return *e;
  auto& writer = std::get<storage::extent_writer>(created);
  std::optional<model::error> failure;
  auto pause = std::chrono::microseconds(job.pause_us);
  size_t since_check = 0;
  auto read = storage::read_batches(env.store, job.table, job.from_sequence, job.to_sequence,
                                    [&](uint64_t, const model::column_batch& b) {
                                      if (job.cancelled && job.cancelled->load(std::memory_order_relaxed)) {
                                        failure = model::error{"Cancelled", "the move was cancelled", false};
                                        return false;
                                      }
                                      between_steps();
                                      failure = writer.append(b);
                                      since_check += b.byte_size();
                                      if (since_check >= bytes_between_budget_checks) {
                                        since_check = 0;
                                        pause = current_pause(sys, env, job.pause_us);
                                        writer.set_compression_threads(compression_threads(pause));
                                        pace.checked(pause);
                                      }
                                      return !failure;
                                    },
                                    {.bulk = true});
  if (read) return *read;
  if (failure) return *failure;
  auto finished = writer.finish();  // fsyncs the file and its directory
  if (auto* e = std::get_if<model::error>(&finished)) return *e;
  storage::crash_point("extent.synced");
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
        auto result = move(self->system(), *env, job);
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
