// The rowstore writer (group commit, order, bounds, stop) and find_request, on a real store in a
// temporary directory. No timing: a write's `done` (called on the writer thread) holds the writer
// until the test has queued what it needs behind it.

#include <gtest/gtest.h>
#include <unistd.h>

#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "storage/rowstore.hpp"
#include "storage/store.hpp"
#include "tests/storage/extent_fixtures.hpp"

namespace tributary::storage {
namespace {

using extent_testing::make_batch;
using extent_testing::must;
using model::column_type;
using model::table_id;

constexpr table_id table_a{11};
constexpr table_id table_b{12};

// A one-column batch whose single row's value is `value`: what a read tells the writes apart by.
std::string batch_of(int64_t value) {
  return encode_batch(make_batch({{"v", column_type::long_}}, 1, {{value}}));
}

// What the writer did, in the order its `done` calls came (the writer thread's order).
struct journal {
  std::mutex mutex;
  std::vector<std::string> done;  // "<name>" or "<name>: <error code>"
  std::vector<commit_stats> commits;

  std::function<void(std::optional<model::error>)> record(std::string name) {
    return [this, name](std::optional<model::error> e) {
      std::lock_guard lock(mutex);
      done.push_back(e ? name + ": " + e->code : name);
    };
  }
  commit_observer observer() {
    return [this](const commit_stats& s) {
      std::lock_guard lock(mutex);
      commits.push_back(s);
    };
  }
  std::vector<std::string> done_calls() {
    std::lock_guard lock(mutex);
    return done;
  }
};

// A write whose `done` blocks the writer thread until release(): everything submitted meanwhile
// queues behind it and goes into the next group.
struct gate {
  std::promise<void> entered;
  std::promise<void> opened;
  std::shared_future<void> open_future = opened.get_future().share();

  rowstore_write write(table_id table, uint64_t sequence) {
    rowstore_write w;
    w.table = table;
    w.sequence = sequence;
    w.batch = batch_of(-1);
    w.done = [this](std::optional<model::error>) {
      entered.set_value();
      open_future.wait();
    };
    return w;
  }
  void release() { opened.set_value(); }
};

rowstore_write row(table_id table, uint64_t sequence, int64_t value, journal& j, std::string name = {}) {
  rowstore_write w;
  w.table = table;
  w.sequence = sequence;
  w.batch = batch_of(value);
  w.done = j.record(name.empty() ? std::to_string(value) : name);
  return w;
}

request_record request(std::string id, int64_t committed_ticks, uint64_t sequence, uint64_t consumed = 1) {
  return {std::move(id), committed_ticks, consumed, sequence};
}

// sequence → the value of its single row, for every batch of `table` in the rowstore.
std::map<uint64_t, int64_t> rows_of(const store& s, table_id table) {
  std::map<uint64_t, int64_t> out;
  auto e = read_batches(s, table, 0, UINT64_MAX, [&](uint64_t seq, const model::column_batch& b) {
    EXPECT_EQ(b.rows, 1u);
    out[seq] = b.rows ? b.columns.at(0).ints.at(0) : 0;
    return true;
  });
  if (e) ADD_FAILURE() << e->code << ": " << e->message;
  return out;
}

std::optional<request_record> found(const store& s, table_id table, std::string_view id, int64_t not_before) {
  return must(find_request(s, table, id, not_before));
}

class rowstore_writer_test : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("tributary-rowstore-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    store_ = must(store::open(dir_));
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void reopen() {
    store_.reset();
    store_ = must(store::open(dir_));
  }
  std::filesystem::path dir_;
  std::unique_ptr<store> store_;
};

TEST_F(rowstore_writer_test, commits_writes_queued_meanwhile_as_one_group) {
  journal j;
  rowstore_writer writer(*store_, {}, j.observer());
  gate g;
  ASSERT_TRUE(writer.submit(g.write(table_a, 1)));
  g.entered.get_future().wait();
  for (int i = 2; i <= 6; ++i) ASSERT_TRUE(writer.submit(row(i % 2 ? table_a : table_b, i, i, j)));
  EXPECT_EQ(writer.queued_bytes(), 5 * batch_of(0).size());
  g.release();
  writer.stop();
  ASSERT_EQ(j.commits.size(), 2u);
  EXPECT_EQ(j.commits[0].writes, 1u);
  EXPECT_EQ(j.commits[1].writes, 5u);
  EXPECT_EQ(j.commits[1].bytes, 5 * batch_of(0).size());
  EXPECT_EQ(writer.queued_bytes(), 0u);
  EXPECT_EQ(j.done_calls(), (std::vector<std::string>{"2", "3", "4", "5", "6"}));
  reopen();  // synced: a new store sees every write
  EXPECT_EQ(rows_of(*store_, table_a), (std::map<uint64_t, int64_t>{{1, -1}, {3, 3}, {5, 5}}));
  EXPECT_EQ(rows_of(*store_, table_b), (std::map<uint64_t, int64_t>{{2, 2}, {4, 4}, {6, 6}}));
}

TEST_F(rowstore_writer_test, splits_groups_at_max_commit_bytes_in_order) {
  journal j;
  const auto one = batch_of(0).size();
  rowstore_writer writer(*store_, {.max_queued_bytes = 256u << 20, .max_commit_bytes = 3 * one}, j.observer());
  gate g;
  ASSERT_TRUE(writer.submit(g.write(table_b, 1)));
  g.entered.get_future().wait();
  std::vector<std::string> want;
  for (int i = 1; i <= 10; ++i) {
    ASSERT_TRUE(writer.submit(row(table_a, i, 100 + i, j)));
    want.push_back(std::to_string(100 + i));
  }
  g.release();
  writer.stop();
  std::vector<size_t> sizes;
  for (const auto& c : j.commits) sizes.push_back(c.writes);
  EXPECT_EQ(sizes, (std::vector<size_t>{1, 3, 3, 3, 1}));
  EXPECT_EQ(j.done_calls(), want);
  EXPECT_EQ(rows_of(*store_, table_a).size(), 10u);
}

TEST_F(rowstore_writer_test, keeps_the_order_of_a_tables_writes) {
  journal j;
  rowstore_writer writer(*store_, {}, j.observer());
  gate g;
  ASSERT_TRUE(writer.submit(g.write(table_b, 1)));
  g.entered.get_future().wait();
  // The same key twice in one group: the later write wins, as it would in two commits.
  ASSERT_TRUE(writer.submit(row(table_a, 1, 10, j, "first")));
  ASSERT_TRUE(writer.submit(row(table_a, 1, 20, j, "second")));
  ASSERT_TRUE(writer.submit(row(table_a, 2, 30, j, "third")));
  g.release();
  writer.stop();
  EXPECT_EQ(j.done_calls(), (std::vector<std::string>{"first", "second", "third"}));
  EXPECT_EQ(rows_of(*store_, table_a), (std::map<uint64_t, int64_t>{{1, 20}, {2, 30}}));
}

TEST_F(rowstore_writer_test, orders_drop_table_after_earlier_writes_of_the_table) {
  journal j;
  rowstore_writer writer(*store_, {}, j.observer());
  // Committed before: a row and a request id of each table.
  auto w = row(table_a, 1, 1, j);
  w.request = request("a-1", model::now_ticks(), 1);
  ASSERT_TRUE(writer.submit(std::move(w)));
  w = row(table_b, 1, 1, j);
  w.request = request("b-1", model::now_ticks(), 1);
  ASSERT_TRUE(writer.submit(std::move(w)));
  gate g;
  ASSERT_TRUE(writer.submit(g.write(table_b, 2)));
  g.entered.get_future().wait();
  // One group: more of table A, its drop, then writes after the drop.
  w = row(table_a, 2, 2, j);
  w.request = request("a-2", model::now_ticks(), 2);
  ASSERT_TRUE(writer.submit(std::move(w)));
  rowstore_write drop;
  drop.table = table_a;
  drop.drop_table = true;
  drop.done = j.record("drop");
  ASSERT_TRUE(writer.submit(std::move(drop)));
  ASSERT_TRUE(writer.submit(row(table_b, 3, 3, j)));
  g.release();
  writer.stop();
  ASSERT_FALSE(j.commits.empty());
  EXPECT_EQ(j.commits.back().writes, 3u) << "the drop shared the group with the writes around it";
  EXPECT_EQ(j.done_calls(), (std::vector<std::string>{"1", "1", "2", "drop", "3"}));
  reopen();
  EXPECT_TRUE(rows_of(*store_, table_a).empty());
  EXPECT_FALSE(found(*store_, table_a, "a-1", 0));
  EXPECT_FALSE(found(*store_, table_a, "a-2", 0));
  EXPECT_EQ(rows_of(*store_, table_b), (std::map<uint64_t, int64_t>{{1, 1}, {2, -1}, {3, 3}}));
  EXPECT_TRUE(found(*store_, table_b, "b-1", 0)) << "a drop of A touched B's request ids";
  // The dropped table has no remembered high-water mark either.
  auto recovered = must(recover(*store_));
  EXPECT_FALSE(recovered.count(static_cast<uint64_t>(table_a)));
  EXPECT_EQ(recovered.at(static_cast<uint64_t>(table_b)).last_sequence, 3u);
}

TEST_F(rowstore_writer_test, refuses_past_max_queued_bytes_without_calling_done) {
  journal j;
  const auto one = batch_of(0).size();
  rowstore_writer writer(*store_, {.max_queued_bytes = 2 * one, .max_commit_bytes = 32u << 20}, j.observer());
  gate g;
  ASSERT_TRUE(writer.submit(g.write(table_a, 1)));
  g.entered.get_future().wait();
  EXPECT_EQ(writer.queued_bytes(), 0u) << "the group in progress is no longer queued";
  EXPECT_TRUE(writer.submit(row(table_a, 2, 2, j)));
  EXPECT_TRUE(writer.submit(row(table_a, 3, 3, j)));
  EXPECT_EQ(writer.queued_bytes(), 2 * one);
  EXPECT_FALSE(writer.submit(row(table_a, 4, 4, j, "refused")));
  EXPECT_EQ(writer.queued_bytes(), 2 * one);
  g.release();
  writer.stop();
  EXPECT_EQ(j.done_calls(), (std::vector<std::string>{"2", "3"})) << "done called for a refused write";
  EXPECT_EQ(rows_of(*store_, table_a), (std::map<uint64_t, int64_t>{{1, -1}, {2, 2}, {3, 3}}));
}

TEST_F(rowstore_writer_test, stop_commits_what_is_queued_and_refuses_later_submits) {
  journal j;
  rowstore_writer writer(*store_, {}, j.observer());
  gate g;
  ASSERT_TRUE(writer.submit(g.write(table_a, 1)));
  g.entered.get_future().wait();
  std::vector<std::string> want;
  for (int i = 2; i <= 5; ++i) {
    ASSERT_TRUE(writer.submit(row(table_a, i, i, j)));
    want.push_back(std::to_string(i));
  }
  std::thread stopper([&] { writer.stop(); });
  // Until the stop is seen, a submit is one more queued write (committed like the others).
  for (int i = 6; writer.submit(row(table_a, i, i, j)); ++i) {
    want.push_back(std::to_string(i));
    std::this_thread::yield();
  }
  g.release();
  stopper.join();
  EXPECT_EQ(j.done_calls(), want);
  EXPECT_FALSE(writer.submit(row(table_a, 1000, 1000, j, "after stop")));
  writer.stop();  // a second stop is harmless
  EXPECT_EQ(j.done_calls(), want) << "done called for a write refused after stop";
  reopen();
  EXPECT_EQ(rows_of(*store_, table_a).size(), want.size() + 1);
}

class find_request_test : public rowstore_writer_test {
 protected:
  // Commits row `sequence` of `table` with request id `id`, committed at `ticks`.
  void commit(table_id table, uint64_t sequence, std::string id, int64_t ticks, uint64_t consumed = 1) {
    rowstore_writer writer(*store_, {});
    std::promise<std::optional<model::error>> done;
    rowstore_write w;
    w.table = table;
    w.sequence = sequence;
    w.batch = batch_of(static_cast<int64_t>(sequence));
    w.request = request(std::move(id), ticks, sequence, consumed);
    w.done = [&done](std::optional<model::error> e) { done.set_value(std::move(e)); };
    ASSERT_TRUE(writer.submit(std::move(w)));
    auto e = done.get_future().get();
    ASSERT_FALSE(e) << e->code << ": " << e->message;
  }
};

TEST_F(find_request_test, finds_a_committed_request_within_the_window) {
  const int64_t t = model::now_ticks();
  commit(table_a, 7, "req-7", t, 42);
  auto r = found(*store_, table_a, "req-7", t - 600 * model::ticks_per_second);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->request_id, "req-7");
  EXPECT_EQ(r->committed_ticks, t);
  EXPECT_EQ(r->consumed_records, 42u);
  EXPECT_EQ(r->sequence, 7u);
  EXPECT_TRUE(found(*store_, table_a, "req-7", t)) << "committed exactly at the window's start";
  EXPECT_FALSE(found(*store_, table_a, "req-8", 0));
  EXPECT_FALSE(found(*store_, table_a, "req-", 0)) << "a prefix of an id is another id";
  EXPECT_FALSE(found(*store_, table_a, "req-77", 0));
  reopen();
  EXPECT_TRUE(found(*store_, table_a, "req-7", t));
}

TEST_F(find_request_test, does_not_find_a_request_committed_before_the_window) {
  const int64_t t = model::now_ticks();
  commit(table_a, 1, "old", t - 3600 * model::ticks_per_second);
  EXPECT_FALSE(found(*store_, table_a, "old", t - 600 * model::ticks_per_second));
  EXPECT_FALSE(found(*store_, table_a, "old", t - 3600 * model::ticks_per_second + 1));
  EXPECT_TRUE(found(*store_, table_a, "old", t - 3600 * model::ticks_per_second));
}

TEST_F(find_request_test, keeps_request_ids_per_table) {
  const int64_t t = model::now_ticks();
  commit(table_a, 1, "same-id", t, 3);
  EXPECT_FALSE(found(*store_, table_b, "same-id", 0));
  EXPECT_FALSE(found(*store_, table_id{static_cast<uint64_t>(table_a) - 1}, "same-id", 0));
  commit(table_b, 5, "same-id", t + 1, 9);
  auto a = found(*store_, table_a, "same-id", 0);
  auto b = found(*store_, table_b, "same-id", 0);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->consumed_records, 3u);
  EXPECT_EQ(a->sequence, 1u);
  EXPECT_EQ(b->consumed_records, 9u);
  EXPECT_EQ(b->sequence, 5u);
}

TEST_F(find_request_test, ids_with_any_bytes_are_distinct) {
  const int64_t t = model::now_ticks();
  const std::string binary("\0\xff\x01", 3);
  const std::string long_id(4096, 'x');
  commit(table_a, 1, binary, t, 1);
  commit(table_a, 2, long_id, t, 2);
  commit(table_a, 3, "", t, 3);
  EXPECT_EQ(found(*store_, table_a, binary, 0).value_or(request_record{}).sequence, 1u);
  EXPECT_EQ(found(*store_, table_a, long_id, 0).value_or(request_record{}).sequence, 2u);
  EXPECT_EQ(found(*store_, table_a, "", 0).value_or(request_record{}).sequence, 3u);
  EXPECT_FALSE(found(*store_, table_a, std::string("\0", 1), 0));
}

TEST_F(find_request_test, is_gone_after_a_drop_table_write) {
  const int64_t t = model::now_ticks();
  commit(table_a, 1, "r1", t);
  commit(table_b, 1, "r1", t);
  {
    rowstore_writer writer(*store_, {});
    std::promise<void> done;
    rowstore_write drop;
    drop.table = table_a;
    drop.drop_table = true;
    drop.done = [&done](std::optional<model::error>) { done.set_value(); };
    ASSERT_TRUE(writer.submit(std::move(drop)));
    done.get_future().wait();
  }
  EXPECT_FALSE(found(*store_, table_a, "r1", 0));
  EXPECT_TRUE(found(*store_, table_b, "r1", 0));
  reopen();
  EXPECT_FALSE(found(*store_, table_a, "r1", 0));
}

}  // namespace
}  // namespace tributary::storage
