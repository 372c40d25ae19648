// Ingest admission by queueing delay (actors/admission.hpp), on a clock the test moves.

#include "actors/admission.hpp"

#include <gtest/gtest.h>

namespace tributary::actors {
namespace {

using namespace std::chrono_literals;
using clock = ingest_admission::clock;

struct admission_test : ::testing::Test {
  ingest_admission a{5ms, 100ms};
  clock::time_point now = clock::now();
  static constexpr size_t queued = 64;  // requests in flight: a real queue

  // A request that started now after waiting `waited`.
  bool start(clock::duration waited, size_t in_flight = queued) { return a.shed(now - waited, now, in_flight); }
};

TEST_F(admission_test, a_burst_is_served_and_only_a_wait_of_a_whole_interval_is_refused) {
  for (int i = 0; i < 10; ++i, now += 5ms) EXPECT_FALSE(start(20ms));  // 45 ms of waits over target
  EXPECT_TRUE(start(150ms));                                           // but this one waited past the interval
}

TEST_F(admission_test, waits_over_target_for_an_interval_are_overload_and_refused_until_one_is_under) {
  for (int i = 0; i < 20; ++i, now += 5ms) EXPECT_FALSE(start(20ms));  // 100 ms above target: now overloaded
  EXPECT_TRUE(start(6ms));
  EXPECT_TRUE(start(20ms));
  EXPECT_FALSE(start(1ms));  // one under target: the queue drained, overload ends
  EXPECT_FALSE(start(20ms));
}

TEST_F(admission_test, an_idle_spell_is_not_overload) {
  EXPECT_FALSE(start(20ms));
  now += 5s;  // nothing started meanwhile
  EXPECT_FALSE(start(20ms));
  now += 50ms;
  EXPECT_FALSE(start(20ms));
}

TEST_F(admission_test, a_lone_request_is_never_refused_for_waiting) {
  // A starved machine (a CPU hog, a sanitizer build) delays every request; with nothing queued
  // behind it, refusing it would shorten nobody's wait.
  for (int i = 0; i < 40; ++i, now += 5ms) EXPECT_FALSE(start(20ms, 1));
  EXPECT_FALSE(start(500ms, ingest_admission::min_queue - 1));
  EXPECT_TRUE(start(500ms, ingest_admission::min_queue));
}

}  // namespace
}  // namespace tributary::actors
