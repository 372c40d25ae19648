// The query pool: runs what it is given, refuses past its bound, and finishes what is queued
// when destroyed (the node destroys it once no actor submits any more).

#include <gtest/gtest.h>

#include <atomic>
#include <future>

#include "actors/query_pool.hpp"

namespace tributary::actors {
namespace {

TEST(query_pool, runs_tasks_on_its_threads) {
  query_pool pool(2, 16);
  std::promise<std::thread::id> ran;
  ASSERT_TRUE(pool.submit([&] { ran.set_value(std::this_thread::get_id()); }));
  auto id = ran.get_future().get();
  EXPECT_NE(id, std::this_thread::get_id());
}

TEST(query_pool, refuses_past_its_queue_bound_and_drains_on_destruction) {
  std::atomic<int> done{0};
  std::promise<void> release;
  auto gate = release.get_future().share();
  {
    query_pool pool(1, 2);
    std::promise<void> started;
    ASSERT_TRUE(pool.submit([&, gate] {
      started.set_value();
      gate.wait();
      ++done;
    }));
    started.get_future().wait();  // the only thread is busy: what follows queues
    EXPECT_TRUE(pool.submit([&] { ++done; }));
    EXPECT_TRUE(pool.submit([&] { ++done; }));
    EXPECT_FALSE(pool.submit([&] { ++done; })) << "a third waiting task is one too many";
    release.set_value();
  }
  EXPECT_EQ(done.load(), 3) << "the running task and both queued ones ran; the refused one did not";
}

}  // namespace
}  // namespace tributary::actors
