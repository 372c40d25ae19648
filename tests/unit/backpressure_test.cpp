// The backpressure controller: the decision policy (pure), the smoother, the /proc sampler on a
// fake procfs, and the actor's FIFO slot granting.

#include "actors/backpressure.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <caf/all.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>

#include "monitoring/controller_probe.hpp"

namespace tributary::actors {
namespace {

using namespace std::chrono_literals;

controller_config config_4() {
  controller_config c;
  c.max_movers = 4;
  c.memory_limit_bytes = 1000;
  c.rowstore_quota_bytes = 1000;
  c.memtable_high_bytes = 100;
  return c;
}

pressure_readings cpu(double system) {
  pressure_readings r;
  r.system_cpu = system;
  return r;
}

// --- decide() ---

TEST(backpressure_decide, no_pressure_allows_max_movers_without_pause) {
  auto b = decide(cpu(0.5), config_4());
  EXPECT_EQ(b.movers_allowed, 4u);
  EXPECT_EQ(b.pause_us, 0u);
  EXPECT_FALSE(b.throttle_ingest);
}

TEST(backpressure_decide, reports_readings_limit_and_quota) {
  pressure_readings r{0.4, 0.1, 300, 20, 50};
  auto b = decide(r, config_4());
  EXPECT_DOUBLE_EQ(b.system_cpu, 0.4);
  EXPECT_DOUBLE_EQ(b.process_cpu, 0.1);
  EXPECT_EQ(b.rss_bytes, 300u);
  EXPECT_EQ(b.memtable_bytes, 20u);
  EXPECT_EQ(b.rowstore_bytes, 50u);
  EXPECT_EQ(b.memory_limit_bytes, 1000u);
  EXPECT_EQ(b.rowstore_quota_bytes, 1000u);
  EXPECT_EQ(b.movers_running, 0u);
}

TEST(backpressure_decide, cpu_pressure_reduces_movers_and_adds_pause_then_pauses) {
  auto c = config_4();
  auto mild = decide(cpu(0.90), c);
  EXPECT_LT(mild.movers_allowed, 4u);
  EXPECT_GE(mild.movers_allowed, 1u);
  EXPECT_GT(mild.pause_us, 0u);
  auto hard = decide(cpu(0.96), c);
  EXPECT_LT(hard.movers_allowed, mild.movers_allowed);
  EXPECT_GT(hard.pause_us, mild.pause_us);
  auto full = decide(cpu(0.99), c);
  EXPECT_EQ(full.movers_allowed, 0u);
  EXPECT_EQ(full.pause_us, static_cast<uint32_t>(c.max_pause.count()));
  EXPECT_FALSE(full.throttle_ingest);
}

pressure_readings acks(double mean_us, double base_us) {
  pressure_readings r;
  r.ack_latency_us = mean_us;
  r.ack_latency_base_us = base_us;
  return r;
}

TEST(backpressure_decide, acks_slower_than_their_recent_base_slow_movers_down_then_pause_them) {
  auto c = config_4();
  EXPECT_EQ(decide(acks(1400, 1000), c).movers_allowed, 4u);  // under 1.5x the base
  auto half = decide(acks(2250, 1000), c);                    // halfway from 1.5x to 3x
  EXPECT_EQ(half.movers_allowed, 2u);
  EXPECT_EQ(half.pause_us, static_cast<uint32_t>(c.max_pause.count() / 2));
  EXPECT_EQ(decide(acks(3000, 1000), c).movers_allowed, 0u);
  // Under the floor (1 ms) a ratio is noise; no acks or no base yet is no reading.
  EXPECT_EQ(decide(acks(900, 100), c).movers_allowed, 4u);
  EXPECT_EQ(decide(acks(0, 1000), c).movers_allowed, 4u);
  EXPECT_EQ(decide(acks(5000, 0), c).movers_allowed, 4u);
  // The rowstore's guarantee still holds: it must drain whatever the latency.
  auto r = acks(5000, 1000);
  r.rowstore_bytes = 900;
  auto guaranteed = decide(r, c);
  EXPECT_EQ(guaranteed.movers_allowed, 1u);
  EXPECT_EQ(guaranteed.pause_us, 0u);
}

TEST(backpressure_sampler, ack_latency_is_the_p99_of_the_acks_since_the_last_sample) {
  ack_histogram acks;
  pressure_sampler s({{}, {}, [&] { return acks.snapshot(); }, "/nonexistent/proc", {}});
  EXPECT_EQ(s.sample().ack_latency_us, 0);  // none yet
  for (int i = 0; i < 10; ++i) acks.record(std::chrono::microseconds(300));
  EXPECT_EQ(s.sample().ack_latency_us, 0);  // too few to have a p99: they wait for more
  for (int i = 0; i < 10; ++i) acks.record(std::chrono::microseconds(300));
  EXPECT_DOUBLE_EQ(s.sample().ack_latency_us, 400);  // 20 acks of 300 µs (the bucket up to 400)
  for (int i = 0; i < 197; ++i) acks.record(std::chrono::microseconds(150));
  for (int i = 0; i < 3; ++i) acks.record(std::chrono::milliseconds(3));
  EXPECT_DOUBLE_EQ(s.sample().ack_latency_us, 3200);  // the slowest 1.5% of this sample's 200
  EXPECT_EQ(s.sample().ack_latency_us, 0);            // none since
}

TEST(backpressure_decide, rss_pressure_against_the_memory_limit) {
  auto c = config_4();
  pressure_readings r;
  r.rss_bytes = 800;  // under 85%
  EXPECT_EQ(decide(r, c).movers_allowed, 4u);
  r.rss_bytes = 900;  // halfway from 85% to 95%
  auto half = decide(r, c);
  EXPECT_EQ(half.movers_allowed, 2u);
  EXPECT_EQ(half.pause_us, static_cast<uint32_t>(c.max_pause.count() / 2));
  r.rss_bytes = 960;
  EXPECT_EQ(decide(r, c).movers_allowed, 0u);
  c.memory_limit_bytes = 0;  // no limit: RSS alone is never pressure
  EXPECT_EQ(decide(r, c).movers_allowed, 4u);
}

TEST(backpressure_decide, memtable_pressure_above_its_bound) {
  auto c = config_4();
  pressure_readings r;
  r.memtable_bytes = 100;
  EXPECT_EQ(decide(r, c).movers_allowed, 4u);
  r.memtable_bytes = 150;
  EXPECT_EQ(decide(r, c).movers_allowed, 2u);
  r.memtable_bytes = 200;
  EXPECT_EQ(decide(r, c).movers_allowed, 0u);
}

TEST(backpressure_decide, rowstore_near_quota_guarantees_a_mover_without_pause_under_pressure) {
  auto c = config_4();
  auto r = cpu(0.99);
  r.rss_bytes = 990;
  r.rowstore_bytes = 700;  // under 80%: pressure wins
  EXPECT_EQ(decide(r, c).movers_allowed, 0u);
  EXPECT_FALSE(decide(r, c).rowstore_pressed);
  r.rowstore_bytes = 850;
  auto b = decide(r, c);
  EXPECT_GE(b.movers_allowed, 1u);
  EXPECT_EQ(b.pause_us, 0u);
  EXPECT_FALSE(b.throttle_ingest);
  EXPECT_TRUE(b.rowstore_pressed) << "tables seal whatever they hold from the guarantee mark on";
}

TEST(backpressure_decide, guarantee_never_exceeds_max_movers) {
  auto c = config_4();
  c.guaranteed_movers = 10;
  auto r = cpu(0.99);
  r.rowstore_bytes = 900;
  EXPECT_EQ(decide(r, c).movers_allowed, 4u);
}

TEST(backpressure_decide, rowstore_above_95_percent_throttles_ingest_with_hysteresis) {
  auto c = config_4();
  auto r = cpu(0.99);
  r.rowstore_bytes = 940;
  EXPECT_FALSE(decide(r, c).throttle_ingest);
  r.rowstore_bytes = 960;
  auto on = decide(r, c);
  EXPECT_TRUE(on.throttle_ingest);
  EXPECT_GE(on.movers_allowed, 1u);
  EXPECT_EQ(on.pause_us, 0u);
  r.rowstore_bytes = 920;  // draining, still above the resume mark
  auto still = decide(r, c, on);
  EXPECT_TRUE(still.throttle_ingest);
  EXPECT_FALSE(decide(r, c).throttle_ingest);  // without the history it would not start here
  r.rowstore_bytes = 890;
  EXPECT_FALSE(decide(r, c, still).throttle_ingest);
}

TEST(backpressure_decide, no_quota_means_no_guarantee_and_no_throttling) {
  auto c = config_4();
  c.rowstore_quota_bytes = 0;
  auto r = cpu(0.99);
  r.rowstore_bytes = uint64_t{1} << 40;
  auto b = decide(r, c);
  EXPECT_EQ(b.movers_allowed, 0u);
  EXPECT_FALSE(b.throttle_ingest);
  EXPECT_FALSE(b.rowstore_pressed);
}

TEST(backpressure_decide, budget_falls_at_once_and_rises_one_mover_per_sample) {
  auto c = config_4();
  auto b = decide(cpu(0.5), c);
  ASSERT_EQ(b.movers_allowed, 4u);
  b = decide(cpu(0.99), c, b);
  EXPECT_EQ(b.movers_allowed, 0u);
  for (uint32_t expected : {1u, 2u, 3u, 4u, 4u}) {
    b = decide(cpu(0.3), c, b);
    EXPECT_EQ(b.movers_allowed, expected);
  }
}

TEST(backpressure_decide, reading_hovering_at_the_mark_does_not_flap) {
  auto c = config_4();
  auto b = decide(cpu(0.90), c);
  uint32_t lowered = b.movers_allowed;
  ASSERT_LT(lowered, 4u);
  // Just under the mark: no pressure now, but within the hysteresis band, so no rise.
  for (int i = 0; i < 5; ++i) {
    b = decide(cpu(i % 2 ? 0.84 : 0.86), c, b);
    EXPECT_EQ(b.movers_allowed, lowered) << "sample " << i;
  }
  b = decide(cpu(0.70), c, b);  // clear of the band
  EXPECT_EQ(b.movers_allowed, lowered + 1);
}

// --- smoother ---

TEST(backpressure_smoother, a_single_spike_does_not_cause_pressure_a_sustained_load_does) {
  auto c = config_4();
  pressure_smoother s(0.3);
  std::optional<mover_budget> b;
  for (int i = 0; i < 10; ++i) b = decide(s.update(cpu(0.5)), c, b);
  b = decide(s.update(cpu(1.0)), c, b);
  EXPECT_EQ(b->movers_allowed, 4u);
  EXPECT_EQ(b->pause_us, 0u);
  int samples = 1;
  while (b->movers_allowed == 4u && samples < 20) {
    b = decide(s.update(cpu(1.0)), c, b);
    ++samples;
  }
  EXPECT_LT(b->movers_allowed, 4u);
  EXPECT_GE(samples, 3);
  EXPECT_LE(samples, 8);
}

TEST(backpressure_smoother, rowstore_passes_through_unsmoothed) {
  pressure_smoother s(0.3);
  pressure_readings r;
  r.rowstore_bytes = 10;
  r.rss_bytes = 1000;
  s.update(r);
  r.rowstore_bytes = 900;
  r.rss_bytes = 2000;
  auto out = s.update(r);
  EXPECT_EQ(out.rowstore_bytes, 900u);
  EXPECT_EQ(out.rss_bytes, 1300u);
}

// --- sampler ---

class fake_proc {
 public:
  fake_proc()
      : root_(std::filesystem::temp_directory_path() /
              ("tributary-proc-" + std::to_string(::getpid()) + "-" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name())) {
    std::filesystem::create_directories(root_ / "self");
  }
  ~fake_proc() { std::filesystem::remove_all(root_); }
  const std::filesystem::path& root() const { return root_; }

  // busy and idle ticks over all cores; the process's utime + stime.
  void write(uint64_t user, uint64_t idle, uint64_t iowait, uint64_t process_ticks,
             uint64_t rss_pages) {
    std::ofstream(root_ / "stat") << "cpu  " << user << " 0 0 " << idle << " " << iowait
                                  << " 0 0 0 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n";
    std::ofstream(root_ / "self" / "stat")
        << "4242 (tributary) d) S 1 4242 4242 0 -1 4194560 100 0 0 0 " << process_ticks
        << " 0 0 0 20 0 9 0 12345 1000000 " << rss_pages << " 18446744073709551615\n";
    std::ofstream(root_ / "self" / "statm") << "1000 " << rss_pages << " 50 10 0 200 0\n";
  }

 private:
  std::filesystem::path root_;
};

TEST(backpressure_sampler, cpu_fractions_from_tick_deltas_and_rss_from_statm) {
  fake_proc proc;
  std::atomic<uint64_t> memtables{77}, rowstore{88};
  pressure_sampler s(
      {[&] { return memtables.load(); }, [&] { return rowstore.load(); }, {}, proc.root(), {}});
  proc.write(1000, 1000, 0, 100, 10);
  auto first = s.sample();
  EXPECT_EQ(first.system_cpu, 0);  // no interval yet
  EXPECT_EQ(first.rss_bytes, 10u * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE)));
  EXPECT_EQ(first.memtable_bytes, 77u);
  EXPECT_EQ(first.rowstore_bytes, 88u);
  // 400 ticks passed: 300 busy, 50 idle, 50 iowait; the process used 100 of them.
  proc.write(1300, 1050, 50, 200, 10);
  auto second = s.sample();
  EXPECT_DOUBLE_EQ(second.system_cpu, 0.75);
  EXPECT_DOUBLE_EQ(second.process_cpu, 0.25);
}

TEST(backpressure_sampler, missing_proc_reads_zero) {
  pressure_sampler s({{}, {}, {}, "/nonexistent/proc", {}});
  for (int i = 0; i < 2; ++i) {
    auto r = s.sample();
    EXPECT_EQ(r.system_cpu, 0);
    EXPECT_EQ(r.process_cpu, 0);
    EXPECT_EQ(r.rss_bytes, 0u);
    EXPECT_EQ(r.memtable_bytes, 0u);
    EXPECT_EQ(r.rowstore_bytes, 0u);
  }
}

TEST(backpressure_sampler, real_proc_gives_plausible_readings) {
  pressure_sampler s({});
  s.sample();
  std::this_thread::sleep_for(50ms);
  auto r = s.sample();
  EXPECT_GE(r.system_cpu, 0.0);
  EXPECT_LE(r.system_cpu, 1.0);
  EXPECT_LE(r.process_cpu, 1.0);
  EXPECT_GT(r.rss_bytes, 1u << 20);
}

// --- the actor ---

// An actor system with a controller on a fake (missing) procfs: no CPU or RSS pressure, so the
// budget is max_movers unless a memtable reading says otherwise.
class controller_fixture : public ::testing::Test {
 protected:
  controller_fixture() : sys_(make_config(cfg_)) {}
  ~controller_fixture() override {
    if (controller_) caf::anon_send_exit(controller_, caf::exit_reason::user_shutdown);
  }

  static caf::actor_system_config& make_config(caf::actor_system_config& cfg) {
    cfg.set("scheduler.max-threads", 2);
    return cfg;
  }

  void start(uint32_t max_movers) {
    controller_config c;
    c.max_movers = max_movers;
    c.memtable_high_bytes = 100;
    c.sample_interval = 10ms;
    c.smoothing = 1;
    controller_ = spawn_controller(
        sys_, c,
        {[this] { return memtables_.load(); }, {}, {}, "/nonexistent/proc",
         [this](const mover_budget& b) { published_movers_.store(static_cast<int>(b.movers_allowed)); }},
        probe_);
  }

  mover_budget budget(caf::scoped_actor& a) {
    mover_budget out;
    a->request(controller_, 5s, budget_atom::value)
        .receive([&](const mover_budget& b) { out = b; },
                 [&](const caf::error& e) { ADD_FAILURE() << sys_.render(e); });
    return out;
  }

  // Sends acquire without waiting: the grant arrives in `a`'s mailbox as a mover_budget.
  void acquire(caf::scoped_actor& a) { a->send(controller_, acquire_atom::value); }

  // Whether `a` holds a grant (waiting up to `wait` for it).
  std::optional<mover_budget> granted(caf::scoped_actor& a, std::chrono::milliseconds wait) {
    std::optional<mover_budget> out;
    a->receive([&](const mover_budget& b) { out = b; },
               [&](const caf::error& e) { ADD_FAILURE() << sys_.render(e); },
               caf::after(wait) >> [] {});
    return out;
  }

  // Declared before the system, whose destructor waits for the controller: the controller
  // reads them until it has stopped.
  caf::actor_system_config cfg_;
  monitoring::controller_probe probe_;
  std::atomic<uint64_t> memtables_{0};
  std::atomic<int> published_movers_{-1};
  caf::actor_system sys_;
  controller_actor controller_;
};

TEST_F(controller_fixture, publishes_every_decision_to_the_node) {
  start(3);
  for (int i = 0; i < 500 && published_movers_.load() < 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(published_movers_.load(), 3) << "no pressure: every mover";
  memtables_ = 1000;  // far past the memtable mark: paused
  for (int i = 0; i < 500 && published_movers_.load() != 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(published_movers_.load(), 0);
}

TEST_F(controller_fixture, grants_slots_in_order_and_the_third_only_after_a_release) {
  start(2);
  caf::scoped_actor a1{sys_}, a2{sys_}, a3{sys_}, observer{sys_};
  acquire(a1);
  ASSERT_TRUE(granted(a1, 5s));
  acquire(a2);
  auto second = granted(a2, 5s);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->movers_running, 2u);
  EXPECT_EQ(second->movers_allowed, 2u);
  acquire(a3);
  // The observer's request is queued behind a3's acquire, so a grant to a3 would already be
  // in a3's mailbox when this answer arrives.
  EXPECT_EQ(budget(observer).movers_running, 2u);
  EXPECT_FALSE(granted(a3, 50ms));
  a1->send(controller_, release_atom::value);
  auto third = granted(a3, 5s);
  ASSERT_TRUE(third);
  EXPECT_EQ(third->movers_running, 2u);
  a2->send(controller_, release_atom::value);
  a3->send(controller_, release_atom::value);
  EXPECT_EQ(budget(observer).movers_running, 0u);
}

TEST_F(controller_fixture, waiters_are_served_first_come_first_served) {
  start(1);
  caf::scoped_actor holder{sys_}, w1{sys_}, w2{sys_}, observer{sys_};
  acquire(holder);
  ASSERT_TRUE(granted(holder, 5s));
  acquire(w1);
  budget(observer);
  acquire(w2);
  budget(observer);
  holder->send(controller_, release_atom::value);
  EXPECT_TRUE(granted(w1, 5s));
  EXPECT_FALSE(granted(w2, 50ms));
  w1->send(controller_, release_atom::value);
  EXPECT_TRUE(granted(w2, 5s));
}

TEST_F(controller_fixture, release_from_an_actor_holding_no_slot_is_ignored) {
  start(1);
  caf::scoped_actor holder{sys_}, stranger{sys_}, waiter{sys_};
  acquire(holder);
  ASSERT_TRUE(granted(holder, 5s));
  acquire(waiter);
  stranger->send(controller_, release_atom::value);
  EXPECT_EQ(budget(stranger).movers_running, 1u);
  EXPECT_FALSE(granted(waiter, 50ms));
}

TEST_F(controller_fixture, a_holder_that_dies_frees_its_slot) {
  start(1);
  caf::scoped_actor waiter{sys_}, observer{sys_};
  {
    caf::scoped_actor doomed{sys_};
    acquire(doomed);
    ASSERT_TRUE(granted(doomed, 5s));
    acquire(waiter);
    EXPECT_EQ(budget(observer).movers_running, 1u);
    EXPECT_FALSE(granted(waiter, 50ms));
  }  // terminates without release
  auto b = granted(waiter, 5s);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->movers_running, 1u);
}

TEST_F(controller_fixture, a_rising_budget_grants_waiters_without_a_release) {
  memtables_ = 1000;  // full memtable pressure: paused
  start(2);
  caf::scoped_actor waiter{sys_}, observer{sys_};
  EXPECT_EQ(budget(observer).movers_allowed, 0u);
  acquire(waiter);
  EXPECT_FALSE(granted(waiter, 50ms));
  memtables_ = 0;
  auto b = granted(waiter, 5s);
  ASSERT_TRUE(b);
  EXPECT_GE(b->movers_allowed, 1u);
  EXPECT_EQ(b->movers_running, 1u);
}

TEST_F(controller_fixture, stopping_answers_waiters_with_an_error) {
  memtables_ = 1000;
  start(1);
  caf::scoped_actor waiter{sys_}, observer{sys_};
  acquire(waiter);
  budget(observer);
  caf::anon_send_exit(controller_, caf::exit_reason::user_shutdown);
  bool failed = false;
  waiter->receive([&](const mover_budget&) { ADD_FAILURE() << "granted while stopping"; },
                  [&](const caf::error&) { failed = true; },
                  caf::after(std::chrono::seconds(5)) >> [] {});
  EXPECT_TRUE(failed);
}

}  // namespace
}  // namespace tributary::actors
