// Deterministic tests of the TABLE actor's state machine (ingest, seal, clear, drop and move
// interleavings) and of the DATABASE actor's supervision of its tables, on CAF's test_coordinator:
// every actor job runs on the test thread, one message at a time when a test steps, and timers
// (seal checks, the registration backoff, restarts) fire only when a test triggers them. What is
// not an actor runs for real: RocksDB in a temporary directory, the rowstore writer's thread and
// the extent movers' threads. A test orders the writer by holding it (a write whose `done` blocks
// the writer thread) and waits for a mover by its `movers` count; it never sleeps to let time pass.

#include <gtest/gtest.h>
#include <unistd.h>

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "actors/actors.hpp"
#include "actors/directory.hpp"
#include "actors/interfaces.hpp"
#include "actors/operations.hpp"
#include "actors/table_query.hpp"
#include "monitoring/metrics.hpp"
#include "storage/crash_point.hpp"
#include "storage/rowstore.hpp"
#include "storage/store.hpp"

namespace tributary::actors {
namespace {

namespace fs = std::filesystem;
using model::table_id;

// The bound on any wait for another thread (the writer, a mover): a hang fails the test instead of
// stalling CI. Never a condition of success: every wait is for an event, not for time to pass.
constexpr auto patience = std::chrono::seconds(60);

// CAF's test_coordinator keeps its job queue in a plain std::deque that only the test thread may
// touch, but the rowstore writer and the extent movers send to actors from their own threads, and
// the first message to an idle actor puts the actor on that queue from the sending thread. This
// coordinator parks such jobs until the test thread takes them (take_arrivals), so the deque stays
// single-threaded. Loaded as the actor system's scheduler module (see the fixture).
class test_scheduler final : public caf::scheduler::test_coordinator {
 public:
  explicit test_scheduler(caf::actor_system& sys) : test_coordinator(sys), owner_(std::this_thread::get_id()) {}

  /// Moves the jobs other threads queued onto the job queue; true when there were any.
  bool take_arrivals() {
    std::lock_guard lock(mutex_);
    if (arrivals_.empty()) return false;
    for (auto* job : arrivals_) jobs.push_back(job);
    arrivals_.clear();
    return true;
  }

  /// Waits up to `d` for another thread to queue a job.
  void await_arrival(std::chrono::milliseconds d) {
    std::unique_lock lock(mutex_);
    arrived_.wait_for(lock, d, [this] { return !arrivals_.empty(); });
  }

 protected:
  void enqueue(caf::resumable* job) override {
    if (std::this_thread::get_id() == owner_) return test_coordinator::enqueue(job);
    {
      std::lock_guard lock(mutex_);
      arrivals_.push_back(job);
    }
    arrived_.notify_all();
  }

  // The actor system's shutdown (on the test thread): run what is left, arrivals included.
  void stop() override {
    take_arrivals();
    test_coordinator::stop();
    while (take_arrivals()) test_coordinator::stop();
  }

 private:
  const std::thread::id owner_;
  std::mutex mutex_;
  std::condition_variable arrived_;
  std::vector<caf::resumable*> arrivals_;
};

// Every ingest answer, by the label the test gave the request (answers come from the writer
// thread for acknowledgements, from the test thread for errors).
struct reply_log {
  std::mutex mutex;
  std::map<std::string, std::vector<ingest_outcome>> by_label;

  void put(const std::string& label, ingest_outcome o) {
    std::lock_guard lock(mutex);
    by_label[label].push_back(std::move(o));
  }
  bool answered(const std::string& label) {
    std::lock_guard lock(mutex);
    return by_label.count(label) > 0;
  }
  // The one answer of `label` (a second answer to one request is a failure).
  std::optional<ingest_outcome> only(const std::string& label) {
    std::lock_guard lock(mutex);
    auto it = by_label.find(label);
    if (it == by_label.end()) {
      ADD_FAILURE() << "request '" << label << "' has no answer";
      return std::nullopt;
    }
    EXPECT_EQ(it->second.size(), 1u) << "request '" << label << "' was answered more than once";
    return it->second.front();
  }
};

std::string describe(const ingest_outcome& o) {
  if (const auto* e = std::get_if<model::error>(&o)) return e->code + ": " + e->message;
  const auto& a = std::get<ingest_ack>(o);
  return "ack of " + std::to_string(a.consumed_records) + " records" + (a.duplicate ? " (duplicate)" : "");
}

void expect_ack(const std::optional<ingest_outcome>& o, uint64_t records, bool duplicate, std::string_view label) {
  ASSERT_TRUE(o) << label;
  const auto* a = std::get_if<ingest_ack>(&*o);
  ASSERT_TRUE(a) << label << ": " << describe(*o);
  EXPECT_EQ(a->consumed_records, records) << label;
  EXPECT_EQ(a->duplicate, duplicate) << label;
}

void expect_error(const std::optional<ingest_outcome>& o, std::string_view code, std::string_view label) {
  ASSERT_TRUE(o) << label;
  const auto* e = std::get_if<model::error>(&*o);
  ASSERT_TRUE(e) << label << ": " << describe(*o);
  EXPECT_EQ(e->code, code) << label << ": " << e->message;
}

// The cell of column `column` in the only row of a successful outcome.
model::value cell(const model::outcome& o, std::string_view column) {
  if (const auto* e = std::get_if<model::error>(&o)) {
    ADD_FAILURE() << "expected a result, got " << e->code << ": " << e->message;
    return {};
  }
  const auto& t = std::get<model::result_table>(o);
  if (t.rows.size() != 1) {
    ADD_FAILURE() << "expected one row, got " << t.rows.size();
    return {};
  }
  for (size_t c = 0; c < t.columns.size(); ++c)
    if (t.columns[c].name == column) return t.rows[0][c];
  ADD_FAILURE() << "no column " << column;
  return {};
}

int64_t long_cell(const std::optional<model::outcome>& o, std::string_view column) {
  if (!o) return -1;  // no answer (already reported)
  const auto v = cell(*o, column);
  const auto* n = std::get_if<int64_t>(&v);
  if (!n) {
    ADD_FAILURE() << "column " << column << " holds no long";
    return -1;
  }
  return *n;
}

model::table table_def(uint64_t id, std::string name) {
  model::table t;
  t.id = table_id{id};
  t.name = std::move(name);
  t.columns = {{"n", model::column_type::long_}, {"s", model::column_type::string}};
  return t;
}

// The database's policy (enabled) and the switch (on): every table may ingest.
database_update database_on() { return {model::streaming_policy{true, std::nullopt}, true}; }

// The answer to one request, once there is one.
template <class R>
struct asked {
  std::optional<R> value;
  std::string failure;  // the request itself failed (CAF error)
  bool done() const { return value || !failure.empty(); }
};

// A write whose `done` holds the writer thread until release(): whatever is submitted meanwhile is
// neither committed nor answered before it (the writer commits and answers in submission order).
struct writer_gate {
  std::promise<void> opened;
  std::shared_future<void> open = opened.get_future().share();
  std::atomic<bool> entered{false};
  bool released = false;
  void release() {
    if (!std::exchange(released, true)) opened.set_value();
  }
};

class table_actor_test : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tributary-actors-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    auto opened = storage::store::open(dir_);
    if (auto* e = std::get_if<model::error>(&opened)) FAIL() << e->code << ": " << e->message;
    store_ = std::move(std::get<std::unique_ptr<storage::store>>(opened));
    writer_ = std::make_unique<storage::rowstore_writer>(*store_, storage::writer_options{});
    tables_.emplace();
    // No controller (moves run without a slot) and no query pool (scans run on the table actor).
    // Nothing seals by size or age; a test starts a move with usage_.rowstore_pressed. Movers at
    // nice 0: SCHED_IDLE could starve them on a busy CI machine.
    env_.emplace(node_env{.store = *store_,
                          .writer = *writer_,
                          .tables = *tables_,
                          .operations = operations_,
                          .command_probe = command_probe_,
                          .catalog_probe = catalog_probe_,
                          .ingest_probe = ingest_probe_,
                          .data_dir = dir_,
                          .seal_after_bytes = uint64_t{1} << 40,
                          .seal_after_age = std::chrono::hours(24),
                          .controller = {},
                          .usage = usage_,
                          .disk = {},
                          .mover_nice = 0,
                          .queries = nullptr,
                          .cluster = nullptr,
                          .node_id = "test",
                          .catalog_applied = {},
                          .complete_data_connections = {},
                          .ingestion_failures = {}});
    cfg_.set("scheduler.policy", caf::atom("testing"));
    cfg_.set("logger.file-verbosity", caf::atom("quiet"));
    cfg_.set("logger.console-verbosity", caf::atom("quiet"));
    cfg_.set("logger.inline-output", true);
    cfg_.module_factories.push_back(
        [](caf::actor_system& sys) -> caf::actor_system::module* { return new test_scheduler(sys); });
    sys_.emplace(cfg_);
    // TearDown stops every actor itself; a test that failed half-way must not hang the shutdown.
    sys_->await_actors_before_shutdown(false);
    sched_ = &dynamic_cast<test_scheduler&>(sys_->scheduler());
    parent_.emplace(*sys_);
  }

  void TearDown() override {
    storage::arm_fail_points("");
    usage_.rowstore_pressed = false;
    if (sys_) {
      for (auto& g : gates_) g->release();
      for (const auto& a : spawned_) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
      wait_until([this] { return movers_idle(); }, "every extent mover to end");
      writer_->stop();  // commits what is queued; its answers find no actor
      run_all();
      spawned_.clear();
      tables_.reset();  // the last handles of dead actors go while the system lives
      parent_.reset();
      sys_.reset();
    }
    writer_.reset();
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // --- driving the scheduler ---

  // Runs every job, including those other threads queued meanwhile, until none is left.
  void run_all() {
    do sched_->run();
    while (sched_->take_arrivals());
  }

  // Lets `t` handle exactly one message (the next in its mailbox), and nothing else run.
  void step(const table_actor& t) {
    ASSERT_TRUE(sched_->prioritize(t)) << "the table actor has no message to handle";
    sched_->run_once();
  }

  // Runs actor jobs until `done()` holds, taking in what other threads send meanwhile.
  bool wait_until(const std::function<bool()>& done, std::string_view what) {
    const auto deadline = std::chrono::steady_clock::now() + patience;
    for (;;) {
      run_all();
      if (done()) {
        // What another thread sent before `done()` became true (the writer enqueues `committed`
        // before it answers an ingest) is handled too.
        run_all();
        return true;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "gave up waiting for " << what;
        return false;
      }
      sched_->await_arrival(std::chrono::milliseconds(5));
    }
  }

  // Waits for another thread without running any actor: what it sends stays in the mailboxes.
  bool await(const std::function<bool()>& done, std::string_view what) {
    const auto deadline = std::chrono::steady_clock::now() + patience;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "gave up waiting for " << what;
        return false;
      }
      sched_->await_arrival(std::chrono::milliseconds(5));
    }
    return true;
  }

  // --- the rowstore writer ---

  // Returns once every write submitted before has been committed (or failed) and answered, and
  // the actors have handled those answers.
  void fence() {
    auto done = std::make_shared<std::atomic<bool>>(false);
    storage::rowstore_write w;
    w.table = table_id{999'999};
    w.barrier = true;
    w.done = [done](std::optional<model::error>) { done->store(true); };
    ASSERT_TRUE(writer_->submit(std::move(w)));
    wait_until([&] { return done->load(); }, "the rowstore writer to answer what was queued");
  }

  // Holds the writer thread until the gate is released (TearDown releases every gate).
  writer_gate& hold_writer() {
    auto g = std::make_shared<writer_gate>();
    storage::rowstore_write w;
    w.table = table_id{999'999};
    w.barrier = true;
    w.done = [g](std::optional<model::error>) {
      g->entered = true;
      g->open.wait();
    };
    gates_.push_back(g);
    EXPECT_TRUE(writer_->submit(std::move(w)));
    await([&] { return g->entered.load(); }, "the rowstore writer to reach the gate");
    return *g;
  }

  // --- actors ---

  std::shared_ptr<std::atomic<int>> new_movers() {
    movers_.push_back(std::make_shared<std::atomic<int>>(0));
    return movers_.back();
  }

  bool movers_idle() const {
    for (const auto& m : movers_)
      if (m->load() != 0) return false;
    return true;
  }

  // A table actor on its own (the parent is a scoped actor, not a database: nothing restarts it).
  table_actor spawn_alone(const model::table& def, std::shared_ptr<std::atomic<int>> movers,
                          std::shared_ptr<const storage::table_recovery> shard = nullptr) {
    auto t = spawn_table(parent_->ptr(), *env_, "Db", table_update{def, database_on(), shard}, shard,
                         std::move(movers));
    spawned_.push_back(caf::actor_cast<caf::actor>(t));
    run_all();
    return t;
  }

  database_actor spawn_db() {
    auto db = spawn_database(parent_->ptr(), *env_, "Db", database_on());
    spawned_.push_back(caf::actor_cast<caf::actor>(db));
    run_all();
    return db;
  }

  // Set (on the thread where the actor ends) once `h` has terminated.
  template <class Handle>
  std::shared_ptr<std::atomic<bool>> on_exit(const Handle& h) {
    auto down = std::make_shared<std::atomic<bool>>(false);
    h->attach_functor([down] { down->store(true); });
    return down;
  }

  // Sends `xs` as a request to `dest` now (it is in `dest`'s mailbox before anything the test
  // sends next); the answer is set once the actors have run.
  template <class R, class Handle, class... Ts>
  std::shared_ptr<asked<R>> ask(const Handle& dest, Ts... xs) {
    auto out = std::make_shared<asked<R>>();
    auto* sys = &*sys_;
    auto asker = sys_->spawn([=](caf::event_based_actor* self) {
      self->request(dest, caf::infinite, xs...)
          .then([out](R& r) { out->value = std::move(r); },
                [out, sys](caf::error& e) { out->failure = "the request failed: " + sys->render(e); });
    });
    spawned_.push_back(asker);
    EXPECT_TRUE(sched_->prioritize(asker));
    sched_->run_once();
    return out;
  }

  // The answer to a request (nullopt, and a failure, when there is none).
  template <class R>
  std::optional<R> answer(const std::shared_ptr<asked<R>>& out, std::string_view what) {
    if (!wait_until([&] { return out->done(); }, what)) return std::nullopt;
    if (!out->failure.empty()) ADD_FAILURE() << what << ": " << out->failure;
    return out->value;
  }

  // A query over a snapshot of the table, as the gateway runs it (here, on the test thread):
  // the table, then `operators` (" | count").
  model::outcome query(const table_actor& t, const std::string& operators) {
    auto snapshot = answer(ask<table_snapshot_ptr>(t, query_atom::value), "a snapshot");
    if (!snapshot || !*snapshot) return model::error{"NoSnapshot", "the table gave no snapshot", true};
    snapshot_source source;
    source.add(*snapshot);
    auto prepared = query::prepare("['" + (*snapshot)->name + "']" + operators, source, model::now_ticks());
    if (auto* e = std::get_if<model::error>(&prepared)) return *e;
    auto result = std::get<std::unique_ptr<query::prepared_query>>(prepared)->execute(source);
    if (auto* e = std::get_if<model::error>(&result)) return *e;
    return std::move(std::get<query::query_result>(result).table);
  }

  int64_t count(const table_actor& t) { return long_cell(query(t, " | count"), "Count"); }

  // The rows a scan reads (rowstore and extent files), not the table's counters.
  size_t scanned_rows(const table_actor& t) {
    auto o = query(t, " | take 10000");
    if (const auto* e = std::get_if<model::error>(&o)) {
      ADD_FAILURE() << e->code << ": " << e->message;
      return 0;
    }
    return std::get<model::result_table>(o).rows.size();
  }

  size_t extent_rows_shown(const table_actor& t) {
    auto o = answer(ask<model::outcome>(t, extents_atom::value), ".show table extents");
    if (!o) return 0;
    if (const auto* e = std::get_if<model::error>(&*o)) {
      ADD_FAILURE() << e->code << ": " << e->message;
      return 0;
    }
    return std::get<model::result_table>(*o).rows.size();
  }

  // Sends one CSV request of `rows` rows; its answer is recorded under `label`.
  void ingest(const table_actor& t, const std::string& label, std::string_view table, int rows,
              std::string request_id = {}) {
    ingest_call c;
    c.database = "Db";
    c.table = std::string(table);
    c.format = ingest::format::csv;
    for (int i = 0; i < rows; ++i) c.data += std::to_string(i) + "," + label + "\n";
    c.request_id = std::move(request_id);
    ingest_reply r{[log = replies_, label](ingest_outcome o) { log->put(label, std::move(o)); }};
    caf::anon_send(t, ingest_atom::value, std::move(c), std::move(r));
  }

  bool wait_for_replies(std::initializer_list<std::string> labels) {
    return wait_until(
        [&] {
          for (const auto& l : labels)
            if (!replies_->answered(l)) return false;
          return true;
        },
        "ingest answers");
  }

  // Lets the table handle the seal check next in its mailbox while the node's rowstore counts
  // as pressed (everything seals): a mover starts.
  void step_seal(const table_actor& t) {
    usage_.rowstore_pressed = true;
    step(t);
    usage_.rowstore_pressed = false;
  }

  // Sends an idle table a seal check and lets it handle just that.
  void start_move(const table_actor& t) {
    caf::anon_send(t, seal_atom::value);
    step_seal(t);
  }

  // --- storage ---

  // What start-up recovery finds of table `id` now.
  storage::table_recovery shard_of(uint64_t id) {
    auto all = storage::recover(*store_);
    if (auto* e = std::get_if<model::error>(&all)) {
      ADD_FAILURE() << e->code << ": " << e->message;
      return {};
    }
    auto& tables = std::get<std::unordered_map<uint64_t, storage::table_recovery>>(all);
    auto it = tables.find(id);
    return it == tables.end() ? storage::table_recovery{} : it->second;
  }

  static uint64_t rows_of(const storage::table_recovery& r) {
    uint64_t n = 0;
    for (const auto& b : r.batches) n += b.rows;
    return n;
  }

  // Regular files under <data>/extents/<id>.
  size_t files_of(uint64_t id) const {
    const auto dir = dir_ / "extents" / std::to_string(id);
    std::error_code ec;
    if (!fs::exists(dir, ec)) return 0;
    size_t n = 0;
    for (const auto& e : fs::recursive_directory_iterator(dir, ec))
      if (e.is_regular_file()) ++n;
    return n;
  }

  // Stops `old` and starts the table again from the store as the node's start-up does: recovery,
  // the removal of extent files no registered extent claims (expected: none), a new actor.
  table_actor restart_from_disk(const table_actor& old, const model::table& def,
                                std::shared_ptr<std::atomic<int>> movers) {
    auto down = on_exit(old);
    caf::anon_send_exit(old, caf::exit_reason::user_shutdown);
    wait_until([&] { return down->load(); }, "the table actor to stop");
    fence();
    auto all = storage::recover(*store_);
    std::unordered_map<uint64_t, storage::table_recovery> tables;
    if (auto* e = std::get_if<model::error>(&all))
      ADD_FAILURE() << e->code << ": " << e->message;
    else
      tables = std::move(std::get<std::unordered_map<uint64_t, storage::table_recovery>>(all));
    const std::unordered_map<uint64_t, bool> known{{static_cast<uint64_t>(def.id), true}};
    EXPECT_EQ(storage::remove_orphan_extents(dir_, tables, known), 0u)
        << "extent files that no registered extent claims were left behind";
    std::shared_ptr<const storage::table_recovery> shard;
    if (auto it = tables.find(static_cast<uint64_t>(def.id)); it != tables.end())
      shard = std::make_shared<const storage::table_recovery>(it->second);
    return spawn_alone(def, std::move(movers), shard);
  }

  // `.show data operations`: (Result, Details) per operation, newest first.
  std::vector<std::pair<std::string, std::string>> operations() const {
    auto t = operations_.show();
    size_t result = 0, details = 0;
    for (size_t c = 0; c < t.columns.size(); ++c) {
      if (t.columns[c].name == "Result") result = c;
      if (t.columns[c].name == "Details") details = c;
    }
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& row : t.rows)
      out.emplace_back(std::get<std::string>(row[result]), std::get<std::string>(row[details]));
    return out;
  }

  fs::path dir_;
  std::unique_ptr<storage::store> store_;
  std::unique_ptr<storage::rowstore_writer> writer_;
  monitoring::command_probe command_probe_;
  monitoring::catalog_probe catalog_probe_;
  monitoring::ingest_probe ingest_probe_;
  data_operations operations_;
  storage_usage usage_;
  std::optional<directory> tables_;
  std::optional<node_env> env_;
  std::vector<std::shared_ptr<std::atomic<int>>> movers_;
  std::vector<std::shared_ptr<writer_gate>> gates_;
  std::shared_ptr<reply_log> replies_ = std::make_shared<reply_log>();
  caf::actor_system_config cfg_;
  std::optional<caf::actor_system> sys_;
  test_scheduler* sched_ = nullptr;
  std::optional<caf::scoped_actor> parent_;  // parent of the actors under test; receives their exits
  std::vector<caf::actor> spawned_;
};

// --- clear ---

TEST_F(table_actor_test, a_failed_clear_changes_nothing_and_the_next_clear_keeps_rows_sent_after_it) {
  const auto def = table_def(1, "T");
  auto t = spawn_alone(def, new_movers());
  ingest(t, "first", "T", 2);
  ingest(t, "second", "T", 3);
  ASSERT_TRUE(wait_for_replies({"first", "second"}));

  storage::arm_fail_points("rowstore.clear:1");
  const auto failed = answer(ask<model::outcome>(t, clear_atom::value), "the failing clear");
  ASSERT_TRUE(failed && std::holds_alternative<model::error>(*failed));
  EXPECT_EQ(std::get<model::error>(*failed).code, "StorageError");
  EXPECT_FALSE(std::get<model::error>(*failed).permanent);
  EXPECT_EQ(count(t), 5) << "a failed clear must not change what queries see";
  EXPECT_EQ(scanned_rows(t), 5u);
  EXPECT_EQ(rows_of(shard_of(1)), 5u) << "a failed clear must not change the store";

  // The next clear, between two ingests, all three held behind the writer: queries see every row
  // until the delete is durable; the rows sent before the clear go, those sent after it stay.
  auto& gate = hold_writer();
  ingest(t, "before", "T", 4);
  auto cleared = ask<model::outcome>(t, clear_atom::value);
  ingest(t, "after", "T", 1);
  run_all();
  EXPECT_EQ(count(t), 5) << "the clear is not durable yet";
  gate.release();
  const auto out = answer(cleared, "the clear");
  EXPECT_EQ(long_cell(out, "ClearedRows"), 9);
  EXPECT_EQ(long_cell(out, "ClearedExtents"), 0);
  ASSERT_TRUE(wait_for_replies({"before", "after"}));
  expect_ack(replies_->only("before"), 4, false, "before");
  expect_ack(replies_->only("after"), 1, false, "after");
  EXPECT_EQ(count(t), 1);
  EXPECT_EQ(scanned_rows(t), 1u);
  fence();
  const auto shard = shard_of(1);
  EXPECT_EQ(shard.batches.size(), 1u);
  EXPECT_EQ(rows_of(shard), 1u);
}

// The clear is handled while the move runs (its delete held behind the writer); the move's answer
// comes while the clear is on its way to disk.
TEST_F(table_actor_test, a_clear_during_a_move_discards_the_moved_extent) {
  const auto def = table_def(1, "T");
  auto movers = new_movers();
  auto t = spawn_alone(def, movers);
  ingest(t, "a", "T", 2);
  ingest(t, "b", "T", 3);
  ingest(t, "c", "T", 4);
  ASSERT_TRUE(wait_for_replies({"a", "b", "c"}));

  // The clear is queued right behind the seal check, so the table handles it before it can hear
  // of the move's end, however fast the mover is.
  auto& gate = hold_writer();
  caf::anon_send(t, seal_atom::value);
  auto cleared = ask<model::outcome>(t, clear_atom::value);
  step_seal(t);  // a mover starts
  step(t);       // the clear: its delete waits behind the held writer
  ASSERT_TRUE(await([&] { return movers->load() == 0; }, "the extent mover to end"));
  EXPECT_EQ(files_of(1), 1u) << "the mover wrote its extent";
  run_all();  // the table hears of the finished move while its clear is pending
  EXPECT_EQ(files_of(1), 0u) << "the move's extent must be discarded: its rows are being cleared";
  EXPECT_EQ(count(t), 9) << "the clear is not durable yet";
  EXPECT_EQ(extent_rows_shown(t), 0u);
  EXPECT_FALSE(cleared->done());

  gate.release();
  const auto out = answer(cleared, "the clear");
  EXPECT_EQ(long_cell(out, "ClearedRows"), 9);
  EXPECT_EQ(long_cell(out, "ClearedExtents"), 0);
  EXPECT_EQ(count(t), 0);
  fence();
  const auto shard = shard_of(1);
  EXPECT_TRUE(shard.batches.empty());
  EXPECT_TRUE(shard.extents.empty());
  EXPECT_EQ(files_of(1), 0u);

  // Nothing cleared comes back from the store.
  auto again = restart_from_disk(t, def, movers);
  EXPECT_EQ(count(again), 0);
  EXPECT_EQ(scanned_rows(again), 0u);
  EXPECT_EQ(extent_rows_shown(again), 0u);
}

// The move ended and its registration is on its way to disk when the clear arrives.
TEST_F(table_actor_test, a_clear_during_a_registration_removes_the_registered_extent) {
  const auto def = table_def(1, "T");
  auto movers = new_movers();
  auto t = spawn_alone(def, movers);
  ingest(t, "a", "T", 2);
  ingest(t, "b", "T", 3);
  ASSERT_TRUE(wait_for_replies({"a", "b"}));

  start_move(t);
  ASSERT_TRUE(await([&] { return movers->load() == 0; }, "the extent mover to end"));
  auto& gate = hold_writer();
  run_all();  // the table takes the extent and registers it (held behind the writer)
  EXPECT_EQ(extent_rows_shown(t), 1u);
  EXPECT_EQ(count(t), 5);
  auto cleared = ask<model::outcome>(t, clear_atom::value);
  run_all();
  gate.release();
  const auto out = answer(cleared, "the clear");
  EXPECT_EQ(long_cell(out, "ClearedRows"), 5);
  EXPECT_EQ(long_cell(out, "ClearedExtents"), 1);
  EXPECT_EQ(count(t), 0);
  EXPECT_EQ(extent_rows_shown(t), 0u);
  fence();
  const auto shard = shard_of(1);
  EXPECT_TRUE(shard.batches.empty());
  EXPECT_TRUE(shard.extents.empty());
  EXPECT_EQ(files_of(1), 0u);

  auto again = restart_from_disk(t, def, movers);
  EXPECT_EQ(count(again), 0);
  EXPECT_EQ(scanned_rows(again), 0u);
}

// --- drop ---

TEST_F(table_actor_test, a_drop_during_a_move_stops_the_table_only_after_the_move_and_leaves_no_file) {
  auto movers = new_movers();
  auto t = spawn_alone(table_def(1, "T"), movers);
  for (int i = 0; i < 8; ++i) ingest(t, "batch" + std::to_string(i), "T", 50);
  ASSERT_TRUE(wait_for_replies({"batch0", "batch1", "batch2", "batch3", "batch4", "batch5", "batch6", "batch7"}));
  const auto down = on_exit(t);

  // The drop is queued right behind the seal check, so the table handles it before it can hear
  // of the move's end, however fast the mover is.
  caf::anon_send(t, seal_atom::value);
  caf::anon_send(t, drop_atom::value);
  step_seal(t);  // a mover starts
  step(t);       // the drop
  EXPECT_FALSE(down->load()) << "the table stopped while its move was still running";

  ASSERT_TRUE(await([&] { return movers->load() == 0; }, "the extent mover to end"));
  EXPECT_FALSE(down->load());
  ASSERT_TRUE(wait_until([&] { return down->load(); }, "the dropped table to stop"));
  fence();  // the drop's delete, then the removal of the table's extent directory
  EXPECT_EQ(files_of(1), 0u) << "a file of the dropped table is left under extents/1";
  EXPECT_FALSE(fs::exists(dir_ / "extents" / "1"));
  const auto shard = shard_of(1);
  EXPECT_TRUE(shard.batches.empty());
  EXPECT_TRUE(shard.extents.empty());
}

// --- extent registration ---

TEST_F(table_actor_test, a_failed_registration_is_retried_only_after_its_backoff) {
  auto movers = new_movers();
  auto t = spawn_alone(table_def(1, "T"), movers);
  ingest(t, "a", "T", 2);
  ingest(t, "b", "T", 3);
  ASSERT_TRUE(wait_for_replies({"a", "b"}));

  storage::arm_fail_points("rowstore.seal:1");
  start_move(t);
  ASSERT_TRUE(await([&] { return movers->load() == 0; }, "the extent mover to end"));
  run_all();  // the table takes the extent; the writer fails its registration
  fence();    // ... and the table hears of it
  // Queries read the extent already; on disk its rows are still in the rowstore.
  EXPECT_EQ(count(t), 5);
  EXPECT_EQ(scanned_rows(t), 5u);
  EXPECT_EQ(extent_rows_shown(t), 1u);
  auto shard = shard_of(1);
  EXPECT_TRUE(shard.extents.empty());
  EXPECT_EQ(rows_of(shard), 5u);
  auto ops = operations();
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].first, "Failed");
  EXPECT_NE(ops[0].second.find("registering extent"), std::string::npos) << ops[0].second;

  // No retry until the backoff's timer fires: nothing is registered meanwhile.
  fence();
  EXPECT_TRUE(shard_of(1).extents.empty()) << "the registration was retried before its backoff ended";
  EXPECT_EQ(operations().size(), 1u);

  sched_->trigger_timeouts();
  run_all();
  fence();
  shard = shard_of(1);
  ASSERT_EQ(shard.extents.size(), 1u);
  EXPECT_EQ(shard.extents[0].rows, 5u);
  EXPECT_TRUE(shard.batches.empty());
  ops = operations();
  ASSERT_EQ(ops.size(), 2u);
  EXPECT_EQ(ops[0].first, "Completed");
  EXPECT_EQ(count(t), 5);
  EXPECT_EQ(scanned_rows(t), 5u);
  EXPECT_EQ(files_of(1), 1u);
}

TEST_F(table_actor_test, a_clear_is_never_overtaken_by_a_retried_registration) {
  const auto def = table_def(1, "T");
  auto movers = new_movers();
  auto t = spawn_alone(def, movers);
  ingest(t, "a", "T", 2);
  ingest(t, "b", "T", 3);
  ASSERT_TRUE(wait_for_replies({"a", "b"}));
  storage::arm_fail_points("rowstore.seal:1");
  start_move(t);
  ASSERT_TRUE(await([&] { return movers->load() == 0; }, "the extent mover to end"));
  run_all();
  fence();  // the registration failed; its retry waits for the backoff's timer
  ASSERT_TRUE(shard_of(1).extents.empty());

  // The clear's delete is on its way (held behind the writer) when the backoff ends.
  auto& gate = hold_writer();
  auto cleared = ask<model::outcome>(t, clear_atom::value);
  run_all();
  sched_->trigger_timeouts();
  run_all();
  gate.release();
  fence();
  // Whatever is still pending (a registration deferred behind the clear) gets its turn.
  sched_->trigger_timeouts();
  run_all();
  const auto out = answer(cleared, "the clear");
  EXPECT_EQ(long_cell(out, "ClearedRows"), 5);
  EXPECT_EQ(long_cell(out, "ClearedExtents"), 1);
  fence();
  sched_->trigger_timeouts();
  run_all();
  fence();
  const auto shard = shard_of(1);
  EXPECT_TRUE(shard.extents.empty()) << "a registration committed after the clear brought cleared rows back";
  EXPECT_TRUE(shard.batches.empty());
  EXPECT_EQ(files_of(1), 0u);
  EXPECT_EQ(count(t), 0);

  auto again = restart_from_disk(t, def, movers);
  EXPECT_EQ(count(again), 0);
  EXPECT_EQ(scanned_rows(again), 0u);
}

TEST_F(table_actor_test, a_clear_during_a_registration_backoff_is_answered_without_waiting_for_it) {
  const auto def = table_def(1, "T");
  auto movers = new_movers();
  auto t = spawn_alone(def, movers);
  ingest(t, "a", "T", 4);
  ASSERT_TRUE(wait_for_replies({"a"}));
  storage::arm_fail_points("rowstore.seal:1");
  start_move(t);
  ASSERT_TRUE(await([&] { return movers->load() == 0; }, "the extent mover to end"));
  run_all();
  fence();  // the registration failed; its retry waits for the backoff's timer (never fired here)
  auto cleared = ask<model::outcome>(t, clear_atom::value);
  run_all();
  fence();
  const auto out = answer(cleared, "the clear (no timer fired)");
  EXPECT_EQ(long_cell(out, "ClearedRows"), 4);
  EXPECT_EQ(long_cell(out, "ClearedExtents"), 1);
  EXPECT_EQ(files_of(1), 0u);
  // The backoff's timer finds nothing left to register.
  sched_->trigger_timeouts();
  run_all();
  fence();
  EXPECT_TRUE(shard_of(1).extents.empty());
  EXPECT_EQ(count(t), 0);
}

// --- request ids ---

TEST_F(table_actor_test, a_retry_of_an_acknowledged_request_is_a_duplicate_after_the_policy_is_disabled) {
  auto def = table_def(1, "T");
  auto movers = new_movers();
  auto t = spawn_alone(def, movers);
  ingest(t, "first", "T", 3, "req-1");
  ASSERT_TRUE(wait_for_replies({"first"}));
  expect_ack(replies_->only("first"), 3, false, "first");

  def.policy = model::streaming_policy{false, std::nullopt};
  caf::anon_send(t, update_atom::value, table_update{def, database_on(), nullptr});
  run_all();  // (a disabled policy also moves the rowstore to an extent)
  ingest(t, "retry", "T", 3, "req-1");
  ingest(t, "new", "T", 3, "req-2");
  ASSERT_TRUE(wait_for_replies({"retry", "new"}));
  expect_ack(replies_->only("retry"), 3, true, "retry");
  expect_error(replies_->only("new"), "BadRequest_StreamingIngestionPolicyNotEnabled", "new");

  // The switch off too.
  caf::anon_send(t, update_atom::value, database_update{std::nullopt, false});
  ingest(t, "retry-off", "T", 3, "req-1");
  ingest(t, "new-off", "T", 3, "req-3");
  ASSERT_TRUE(wait_for_replies({"retry-off", "new-off"}));
  expect_ack(replies_->only("retry-off"), 3, true, "retry-off");
  expect_error(replies_->only("new-off"), "StreamingIngestionFunctionalityDisabled", "new-off");
  ASSERT_TRUE(wait_until([&] { return movers->load() == 0; }, "the extent mover to end"));
  EXPECT_EQ(count(t), 3);
}

// --- supervision ---

TEST_F(table_actor_test, a_failing_table_is_restarted_alone_with_every_committed_row) {
  auto db = spawn_db();
  const auto db_down = on_exit(db);
  caf::anon_send(db, update_atom::value, table_update{table_def(1, "T"), {}, nullptr});
  caf::anon_send(db, update_atom::value, table_update{table_def(2, "U"), {}, nullptr});
  run_all();
  const auto t0 = tables_->find("Db", "T");
  const auto u0 = tables_->find("Db", "U");
  ASSERT_TRUE(t0 && u0);
  const auto t0_down = on_exit(*t0);
  ingest(*t0, "r1", "T", 2, "req-1");
  ingest(*u0, "u1", "U", 3, "req-u1");
  ASSERT_TRUE(wait_for_replies({"r1", "u1"}));

  // r2 reaches the writer (held there); its retry waits on the same request id; r3 makes the
  // table throw (the second pass through the fail point since it was armed: r2, r3).
  storage::arm_fail_points("table.ingest@T:2");
  auto& gate = hold_writer();
  ingest(*t0, "r2", "T", 4, "req-2");
  ingest(*t0, "r2-retry", "T", 4, "req-2");
  ingest(*t0, "r3", "T", 5, "req-3");
  run_all();
  EXPECT_TRUE(t0_down->load()) << "the table should have failed";
  expect_error(replies_->only("r3"), "TableRestarting", "r3");
  expect_error(replies_->only("r2-retry"), "TableRestarting", "r2-retry");
  EXPECT_FALSE(replies_->answered("r2")) << "r2 is answered by the writer once durable";
  EXPECT_FALSE(tables_->find("Db", "T")) << "a failed table must leave the directory";
  const auto resolved = answer(ask<resolved_table>(db, resolve_atom::value, std::string("T")), "resolve T");
  ASSERT_TRUE(resolved && std::holds_alternative<model::error>(*resolved));
  EXPECT_EQ(std::get<model::error>(*resolved).code, "TableRestarting");

  // The restart waits for a barrier through the writer: T stays away while the writer is held.
  sched_->trigger_timeouts();
  run_all();
  EXPECT_FALSE(tables_->find("Db", "T")) << "restarted before its earlier writes were settled";
  // The other table is untouched.
  EXPECT_EQ(tables_->find("Db", "U"), u0);
  EXPECT_EQ(count(*u0), 3);
  ingest(*u0, "u2", "U", 1, "req-u2");

  gate.release();
  ASSERT_TRUE(wait_until([&] { return tables_->find("Db", "T").has_value(); }, "T to be restarted"));
  ASSERT_TRUE(wait_for_replies({"r2", "u2"}));
  expect_ack(replies_->only("r2"), 4, false, "r2");
  expect_ack(replies_->only("u2"), 1, false, "u2");
  const auto t1 = tables_->find("Db", "T");
  ASSERT_TRUE(t1);
  EXPECT_NE(*t1, *t0) << "the directory must point to the new actor";
  const auto now_resolved = answer(ask<resolved_table>(db, resolve_atom::value, std::string("T")), "resolve T");
  ASSERT_TRUE(now_resolved && std::holds_alternative<table_actor>(*now_resolved));
  EXPECT_EQ(std::get<table_actor>(*now_resolved), *t1);
  EXPECT_EQ(count(*t1), 6) << "r1 and r2 were committed";
  EXPECT_EQ(scanned_rows(*t1), 6u);

  // Retries: r2 was acknowledged (duplicate), r3 never committed (ingested now).
  ingest(*t1, "r2-again", "T", 4, "req-2");
  ingest(*t1, "r3-again", "T", 5, "req-3");
  ASSERT_TRUE(wait_for_replies({"r2-again", "r3-again"}));
  expect_ack(replies_->only("r2-again"), 4, true, "r2-again");
  expect_ack(replies_->only("r3-again"), 5, false, "r3-again");
  EXPECT_EQ(count(*t1), 11);
  EXPECT_EQ(count(*u0), 4);
  EXPECT_EQ(tables_->find("Db", "U"), u0);
  EXPECT_FALSE(db_down->load()) << "a failing table must not take its database down";
}

}  // namespace
}  // namespace tributary::actors
