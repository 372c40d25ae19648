// The metadata store's contract (cluster/metadata_store.hpp), run against both implementations:
// the in-process fake and a real etcd on loopback. Then what only etcd has: endpoints that are
// down, paused or rotated, and a 3-member cluster losing a member.

#include "cluster/metadata_store.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "tests/support/etcd_process.hpp"

namespace tributary::cluster {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using tributary::testing::etcd_process;

template <class T>
T must(result<T> r, const std::string& what) {
  if (auto* e = std::get_if<model::error>(&r))
    throw std::runtime_error(what + ": " + e->code + ": " + e->message);
  return std::get<T>(std::move(r));
}

template <class T>
model::error must_fail(result<T> r, const std::string& what) {
  if (!std::holds_alternative<model::error>(r))
    throw std::runtime_error(what + ": succeeded, expected an error");
  return std::get<model::error>(std::move(r));
}

std::vector<std::string> keys_of(const std::vector<key_value>& kvs) {
  std::vector<std::string> out;
  for (const auto& kv : kvs) out.push_back(kv.key);
  return out;
}

/// A loopback port on which nothing listens (bound, then released).
uint16_t dead_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

/// A watch running on its own thread, collecting what it delivers.
class background_watch {
 public:
  background_watch(metadata_store& store, std::string prefix, int64_t from,
                   std::chrono::milliseconds silence) {
    thread_ = std::thread([this, &store, prefix, from, silence] {
      auto end = store.watch(
          prefix, from,
          [this](const watch_batch& b) {
            std::lock_guard lock(mutex_);
            if (b.events.empty()) {
              ++progress_;
            } else {
              batches_.push_back(b);
            }
            changed_.notify_all();
          },
          stop_, silence);
      std::lock_guard lock(mutex_);
      end_ = end;
      changed_.notify_all();
    });
  }
  ~background_watch() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

  /// Waits until `n` batches with events arrived (or the watch ended); what arrived so far.
  std::vector<watch_batch> wait_for(size_t n, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, timeout, [&] { return batches_.size() >= n || end_; });
    return batches_;
  }
  int progress() {
    std::lock_guard lock(mutex_);
    return progress_;
  }
  std::optional<watch_end> ended() {
    std::lock_guard lock(mutex_);
    return end_;
  }
  /// Sets the stop flag and waits for the watch to return.
  watch_end finish() {
    stop_ = true;
    thread_.join();
    return *end_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<watch_batch> batches_;
  int progress_ = 0;
  std::optional<watch_end> end_;
  std::thread thread_;
};

/// Runs a watch on the calling thread until `n` batches with events arrived; then stops it.
std::pair<std::vector<watch_batch>, watch_end> watch_until(metadata_store& store,
                                                           const std::string& prefix, int64_t from,
                                                           size_t n) {
  std::vector<watch_batch> got;
  std::atomic<bool> stop{false};
  auto end = store.watch(
      prefix, from,
      [&](const watch_batch& b) {
        if (b.events.empty()) return;
        got.push_back(b);
        if (got.size() >= n) stop = true;
      },
      stop, 5s);
  return {got, end};
}

// --- the conformance suite, for "memory" and "etcd" ---

class store_test : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "memory") {
      auto offset = clock_offset_;
      store_ = make_memory_store(
          [offset] { return steady::now() + std::chrono::milliseconds(offset->load()); });
    } else {
      store_ = must(open_etcd(shared_etcd().url(), 2s), "open_etcd");
    }
    // The etcd is shared by the suite: each test works under keys of its own.
    static int serial = 0;
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    prefix_ = "/t/" + std::to_string(++serial) + "-" + name.substr(0, name.find('/')) + "/";
  }
  static void TearDownTestSuite() { etcd_slot().reset(); }

  static std::unique_ptr<etcd_process>& etcd_slot() {
    static std::unique_ptr<etcd_process> etcd;
    return etcd;
  }
  static etcd_process& shared_etcd() {
    if (!etcd_slot()) etcd_slot() = std::make_unique<etcd_process>();
    return *etcd_slot();
  }

  bool etcd() const { return GetParam() == "etcd"; }
  /// Lets `d` pass for leases: the fake clock moves for the memory store, real time for etcd.
  void advance(std::chrono::milliseconds d) {
    if (etcd()) {
      std::this_thread::sleep_for(d);
    } else {
      *clock_offset_ += d.count();
    }
  }
  std::string key(const std::string& name) const { return prefix_ + name; }

  txn_result put(const std::string& k, const std::string& value, int64_t lease = 0) {
    return must(store_->txn({}, {operation{operation::kind::put, k, value, lease}}), "put " + k);
  }
  std::optional<key_value> get(const std::string& k) {
    auto r = must(store_->range(k, false), "range " + k);
    if (r.kvs.empty()) return std::nullopt;
    return r.kvs.front();
  }
  int64_t revision() { return must(store_->range(prefix_, true), "range").revision; }

  std::shared_ptr<std::atomic<int64_t>> clock_offset_ = std::make_shared<std::atomic<int64_t>>(0);
  std::unique_ptr<metadata_store> store_;
  std::string prefix_;
};

TEST_P(store_test, put_then_range_reads_value_and_revisions) {
  auto first = put(key("a"), "1");
  ASSERT_TRUE(first.succeeded);
  auto kv = get(key("a"));
  ASSERT_TRUE(kv);
  EXPECT_EQ(kv->value, "1");
  EXPECT_EQ(kv->create_revision, first.revision);
  EXPECT_EQ(kv->mod_revision, first.revision);
  EXPECT_EQ(kv->lease, 0);

  auto second = put(key("a"), "2");
  EXPECT_GT(second.revision, first.revision);
  kv = get(key("a"));
  ASSERT_TRUE(kv);
  EXPECT_EQ(kv->value, "2");
  EXPECT_EQ(kv->create_revision, first.revision);
  EXPECT_EQ(kv->mod_revision, second.revision);

  auto missing = must(store_->range(key("none"), false), "range");
  EXPECT_TRUE(missing.kvs.empty());
  EXPECT_GE(missing.revision, second.revision);
}

TEST_P(store_test, keys_and_values_are_raw_bytes) {
  const std::string k = key(std::string("bin\0\xff\x80", 6));
  const std::string value = std::string("\0\x01\xfe\xff", 4) + "text with \"quotes\" and \n";
  put(k, value);
  auto kv = get(k);
  ASSERT_TRUE(kv);
  EXPECT_EQ(kv->key, k);
  EXPECT_EQ(kv->value, value);
  put(key("empty"), "");
  kv = get(key("empty"));
  ASSERT_TRUE(kv);
  EXPECT_EQ(kv->value, "");
}

TEST_P(store_test, prefix_range_returns_only_keys_under_the_prefix_in_order) {
  for (auto k : {"p/b", "p/a", "p/c/d", "p", "p0", "o"}) put(key(k), k);
  auto r = must(store_->range(key("p/"), true), "range");
  EXPECT_EQ(keys_of(r.kvs), (std::vector<std::string>{key("p/a"), key("p/b"), key("p/c/d")}));
  EXPECT_EQ(r.kvs[1].value, "p/b");

  // A prefix ending in 0xff: its range ends after the last byte below 0xff.
  for (auto k : {std::string("q\xff"), std::string("q\xff\x01"), std::string("r")})
    put(key(k), "x");
  r = must(store_->range(key("q\xff"), true), "range");
  EXPECT_EQ(keys_of(r.kvs), (std::vector<std::string>{key("q\xff"), key("q\xff\x01")}));
}

TEST_P(store_test, compare_and_swap_on_mod_revision) {
  auto first = put(key("k"), "v1");
  auto swapped = must(store_->txn({compare{key("k"), compare::target::mod, first.revision}},
                                  {operation{operation::kind::put, key("k"), "v2", 0},
                                   operation{operation::kind::put, key("log/1"), "l", 0}}),
                      "cas");
  ASSERT_TRUE(swapped.succeeded);
  EXPECT_TRUE(swapped.current.empty());
  EXPECT_EQ(get(key("log/1"))->mod_revision, swapped.revision);  // one revision for the whole txn

  auto stale = must(store_->txn({compare{key("k"), compare::target::mod, first.revision}},
                                {operation{operation::kind::put, key("k"), "v3", 0}}),
                    "stale cas");
  EXPECT_FALSE(stale.succeeded);
  EXPECT_EQ(stale.revision, swapped.revision);
  ASSERT_EQ(stale.current.size(), 1u);
  EXPECT_EQ(stale.current[0].key, key("k"));
  EXPECT_EQ(stale.current[0].value, "v2");
  EXPECT_EQ(stale.current[0].mod_revision, swapped.revision);
  EXPECT_EQ(stale.current[0].create_revision, first.revision);
  EXPECT_EQ(get(key("k"))->value, "v2");
}

TEST_P(store_test, create_if_absent_and_current_of_missing_keys) {
  auto created = must(store_->txn({compare{key("n"), compare::target::create, 0}},
                                  {operation{operation::kind::put, key("n"), "first", 0}}),
                      "create");
  ASSERT_TRUE(created.succeeded);
  auto again = must(store_->txn({compare{key("n"), compare::target::create, 0},
                                 compare{key("absent"), compare::target::mod, 0}},
                                {operation{operation::kind::put, key("n"), "second", 0}}),
                    "create again");
  EXPECT_FALSE(again.succeeded);
  ASSERT_EQ(again.current.size(), 1u);  // the missing key is absent
  EXPECT_EQ(again.current[0].value, "first");
  EXPECT_EQ(again.current[0].create_revision, created.revision);
  EXPECT_EQ(get(key("n"))->value, "first");

  // A compare on a missing key with a non-zero revision fails and reports nothing.
  auto missing = must(store_->txn({compare{key("absent"), compare::target::mod, created.revision}},
                                  {operation{operation::kind::put, key("absent"), "x", 0}}),
                      "compare missing");
  EXPECT_FALSE(missing.succeeded);
  EXPECT_TRUE(missing.current.empty());
}

TEST_P(store_test, erase_and_erase_prefix) {
  for (auto k : {"x/1", "x/2", "x/3/4", "x0", "y"}) put(key(k), "v");
  auto erased = must(store_->txn({}, {operation{operation::kind::erase_prefix, key("x/"), "", 0},
                                      operation{operation::kind::erase, key("y"), "", 0}}),
                     "erase");
  ASSERT_TRUE(erased.succeeded);
  EXPECT_TRUE(must(store_->range(key("x/"), true), "range").kvs.empty());
  EXPECT_FALSE(get(key("y")));
  EXPECT_TRUE(get(key("x0")));

  // Erasing what is not there changes nothing, so it makes no revision.
  auto nothing =
      must(store_->txn({}, {operation{operation::kind::erase, key("y"), "", 0}}), "erase again");
  EXPECT_TRUE(nothing.succeeded);
  EXPECT_EQ(nothing.revision, erased.revision);
}

TEST_P(store_test, leases_keep_alive_and_revoke) {
  const int64_t lease = must(store_->grant_lease(2s), "grant");
  EXPECT_GT(lease, 0);
  put(key("member"), "node-1", lease);
  EXPECT_EQ(get(key("member"))->lease, lease);
  EXPECT_EQ(must(store_->keep_alive(lease), "keep_alive"), 2);
  auto ttl = must(store_->lease_ttl(lease), "ttl");
  EXPECT_GE(ttl, 1);
  EXPECT_LE(ttl, 2);

  EXPECT_FALSE(store_->revoke_lease(lease));
  EXPECT_FALSE(get(key("member")));
  EXPECT_EQ(must(store_->keep_alive(lease), "keep_alive after revoke"), 0);
  EXPECT_EQ(must(store_->lease_ttl(lease), "ttl after revoke"), 0);
  EXPECT_FALSE(store_->revoke_lease(lease)) << "revoking a gone lease is not an error";

  auto refused =
      must_fail(store_->txn({}, {operation{operation::kind::put, key("member"), "again", lease}}),
                "put with a revoked lease");
  EXPECT_EQ(refused.code, "ClusterLeaseNotFound");
  EXPECT_TRUE(refused.permanent);
  EXPECT_NE(refused.message.find("grant a new lease"), std::string::npos) << refused.message;
  EXPECT_FALSE(get(key("member")));
}

TEST_P(store_test, a_lease_expires_after_its_ttl_and_takes_its_keys) {
  const int64_t lease = must(store_->grant_lease(2s), "grant");  // etcd's minimum TTL
  const int64_t kept = must(store_->grant_lease(30s), "grant");
  put(key("gone"), "v", lease);
  put(key("stays"), "v", kept);
  advance(2500ms);
  // etcd checks expiry every 500 ms and revokes through raft.
  auto deadline = steady::now() + 10s;
  while (get(key("gone")) && steady::now() < deadline) std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(get(key("gone")));
  EXPECT_TRUE(get(key("stays")));
  EXPECT_EQ(must(store_->lease_ttl(lease), "ttl"), 0);
  EXPECT_EQ(must(store_->keep_alive(lease), "keep_alive"), 0);
  EXPECT_GT(must(store_->keep_alive(kept), "keep_alive"), 0);
  store_->revoke_lease(kept);
}

TEST_P(store_test, watch_from_a_revision_replays_one_batch_per_transaction) {
  const int64_t from = revision() + 1;
  auto t1 = must(store_->txn({}, {operation{operation::kind::put, key("w/a"), "1", 0},
                                  operation{operation::kind::put, key("w/b"), "2", 0}}),
                 "t1");
  put(key("elsewhere"), "not watched");
  auto t2 = must(store_->txn({}, {operation{operation::kind::put, key("w/c"), "3", 0},
                                  operation{operation::kind::erase, key("w/a"), "", 0}}),
                 "t2");
  auto [batches, end] = watch_until(*store_, key("w/"), from, 2);
  EXPECT_EQ(end.why, watch_end::reason::stopped);
  ASSERT_EQ(batches.size(), 2u);

  EXPECT_EQ(batches[0].revision, t1.revision);
  ASSERT_EQ(batches[0].events.size(), 2u);
  EXPECT_EQ(batches[0].events[0].what, watch_event::kind::put);
  EXPECT_EQ(batches[0].events[0].kv.key, key("w/a"));
  EXPECT_EQ(batches[0].events[0].kv.value, "1");
  EXPECT_EQ(batches[0].events[0].kv.create_revision, t1.revision);
  EXPECT_EQ(batches[0].events[0].kv.mod_revision, t1.revision);
  EXPECT_EQ(batches[0].events[1].kv.key, key("w/b"));

  EXPECT_EQ(batches[1].revision, t2.revision);
  ASSERT_EQ(batches[1].events.size(), 2u);
  EXPECT_EQ(batches[1].events[0].what, watch_event::kind::put);
  EXPECT_EQ(batches[1].events[0].kv.key, key("w/c"));
  EXPECT_EQ(batches[1].events[1].what, watch_event::kind::erase);
  EXPECT_EQ(batches[1].events[1].kv.key, key("w/a"));
  EXPECT_EQ(batches[1].events[1].kv.mod_revision, t2.revision);

  // From the second transaction's revision on, only it.
  auto [later, later_end] = watch_until(*store_, key("w/"), t2.revision, 1);
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0].revision, t2.revision);
}

TEST_P(store_test, watch_sees_live_puts_and_erases) {
  put(key("w/old"), "before the watch");
  background_watch watch(*store_, key("w/"), revision() + 1, 5s);
  std::this_thread::sleep_for(200ms);
  auto p1 = put(key("w/x"), "1");
  auto p2 = put(key("w/y"), "2");
  auto erased =
      must(store_->txn({}, {operation{operation::kind::erase_prefix, key("w/"), "", 0}}), "erase");
  auto batches = watch.wait_for(3);
  auto end = watch.finish();
  EXPECT_EQ(end.why, watch_end::reason::stopped) << end.message;
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[0].revision, p1.revision);
  EXPECT_EQ(batches[1].revision, p2.revision);
  EXPECT_EQ(batches[2].revision, erased.revision);
  ASSERT_EQ(batches[2].events.size(), 3u);  // one transaction: old, x and y, in key order
  std::vector<std::string> erased_keys;
  for (const auto& e : batches[2].events) {
    EXPECT_EQ(e.what, watch_event::kind::erase);
    EXPECT_EQ(e.kv.mod_revision, erased.revision);
    erased_keys.push_back(e.kv.key);
  }
  EXPECT_EQ(erased_keys, (std::vector<std::string>{key("w/old"), key("w/x"), key("w/y")}));
}

TEST_P(store_test, watch_from_before_a_compaction_ends_compacted) {
  auto r1 = put(key("c"), "1");
  put(key("c"), "2");
  auto r3 = put(key("c"), "3");
  EXPECT_FALSE(store_->compact(r3.revision));
  EXPECT_FALSE(store_->compact(r1.revision))
      << "compacting to an older revision again is not an error";

  std::atomic<bool> stop{false};
  auto end = store_->watch(
      key(""), r1.revision, [](const watch_batch&) {}, stop, 5s);
  EXPECT_EQ(end.why, watch_end::reason::compacted);
  EXPECT_EQ(end.compact_revision, r3.revision);

  // From the compaction point itself the history is still there.
  auto [batches, from_point] = watch_until(*store_, key(""), r3.revision, 1);
  EXPECT_EQ(from_point.why, watch_end::reason::stopped);
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0].events[0].kv.value, "3");

  auto future = store_->compact(revision() + 1000);
  ASSERT_TRUE(future);
  EXPECT_TRUE(future->permanent);
}

TEST_P(store_test, a_quiet_watch_gets_progress_notices_and_stops_promptly) {
  background_watch watch(*store_, key("quiet/"), revision() + 1, 2500ms);
  std::this_thread::sleep_for(3500ms);  // longer than `silence`: notices must keep it open
  EXPECT_FALSE(watch.ended()) << watch.ended()->message;
  EXPECT_GE(watch.progress(), 1);
  auto asked = steady::now();
  auto end = watch.finish();
  EXPECT_EQ(end.why, watch_end::reason::stopped) << end.message;
  EXPECT_LT(steady::now() - asked, 1s) << "stop is checked every silence/4";
}

TEST_P(store_test, a_progress_notice_names_a_revision_with_everything_before_it_delivered) {
  auto p = put(key("pn/a"), "1");
  std::vector<watch_batch> got;
  std::atomic<bool> stop{false};
  store_->watch(
      key("pn/"), p.revision,
      [&](const watch_batch& b) {
        got.push_back(b);
        if (b.events.empty()) stop = true;
      },
      stop, 3s);
  ASSERT_GE(got.size(), 2u);
  EXPECT_EQ(got.front().revision, p.revision);
  EXPECT_TRUE(got.back().events.empty());
  EXPECT_GE(got.back().revision, p.revision);
}

INSTANTIATE_TEST_SUITE_P(stores, store_test, ::testing::Values("memory", "etcd"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

// --- etcd only ---

TEST(etcd_store, a_bad_url_is_a_permanent_error_naming_the_syntax) {
  for (std::string url : {"http://127.0.0.1:2379", "etcd://", "etcd://host", "etcd://host:0",
                          "etcd://host:99999", "etcd://a:1,", "etcd://a:1,b"}) {
    auto e = must_fail(open_etcd(url), url);
    EXPECT_EQ(e.code, "BadRequest_InvalidClusterUrl") << url;
    EXPECT_TRUE(e.permanent);
    EXPECT_NE(e.message.find("etcd://host:port"), std::string::npos) << e.message;
  }
  auto store = must(open_etcd("etcd://h1:1,h2:2"), "two members");
  EXPECT_EQ(store->describe(), "etcd://h1:1,h2:2");
}

TEST(etcd_store, an_unreachable_endpoint_is_unavailable_quickly) {
  const std::string endpoint = "127.0.0.1:" + std::to_string(dead_port());
  auto store = must(open_etcd("etcd://" + endpoint, 1s), "open");
  auto check = [&](const model::error& e, const char* call) {
    EXPECT_EQ(e.code, "ClusterMetadataUnavailable") << call;
    EXPECT_FALSE(e.permanent) << call;
    EXPECT_NE(e.message.find(endpoint), std::string::npos) << call << ": " << e.message;
    EXPECT_NE(e.message.find("check that etcd is running and reachable"), std::string::npos)
        << e.message;
  };
  auto start = steady::now();
  check(must_fail(store->range("/k", false), "range"), "range");
  check(must_fail(store->txn({}, {operation{operation::kind::put, "/k", "v", 0}}), "txn"), "txn");
  check(must_fail(store->grant_lease(10s), "grant"), "grant");
  check(must_fail(store->keep_alive(1), "keep_alive"), "keep_alive");
  auto compacted = store->compact(1);
  ASSERT_TRUE(compacted);
  check(*compacted, "compact");
  std::atomic<bool> stop{false};
  auto end = store->watch(
      "/", 0, [](const watch_batch&) {}, stop, 2s);
  EXPECT_EQ(end.why, watch_end::reason::failed);
  EXPECT_NE(end.message.find(endpoint), std::string::npos) << end.message;
  EXPECT_LT(steady::now() - start, 1s) << "a refused connection fails at once";
}

TEST(etcd_store, a_paused_member_fails_calls_within_the_call_timeout) {
  etcd_process etcd;
  auto store = must(open_etcd(etcd.url(), 700ms), "open");
  ASSERT_TRUE(
      must(store->txn({}, {operation{operation::kind::put, "/k", "v", 0}}), "put").succeeded);
  etcd.pause();
  auto start = steady::now();
  auto e = must_fail(store->range("/k", false), "range on a paused member");
  auto took = steady::now() - start;
  EXPECT_EQ(e.code, "ClusterMetadataUnavailable");
  EXPECT_NE(e.message.find(etcd.endpoint()), std::string::npos) << e.message;
  EXPECT_GE(took, 600ms);
  EXPECT_LT(took, 1500ms);

  // Connected, but no line comes: the silence timer ends the watch.
  std::atomic<bool> stop{false};
  start = steady::now();
  auto end = store->watch(
      "/", 0, [](const watch_batch&) {}, stop, 1s);
  took = steady::now() - start;
  EXPECT_EQ(end.why, watch_end::reason::failed);
  EXPECT_NE(end.message.find("no watch message"), std::string::npos) << end.message;
  EXPECT_LT(took, 2500ms);

  etcd.resume();
  EXPECT_EQ(must(store->range("/k", false), "range after resume").kvs.size(), 1u);
}

TEST(etcd_store, calls_move_on_from_a_dead_first_endpoint) {
  etcd_process etcd;
  const std::string url = "etcd://127.0.0.1:" + std::to_string(dead_port()) +
                          ",127.0.0.1:" + std::to_string(etcd.client_port());
  // A watch as the very first call: it too tries the next endpoint.
  auto fresh = must(open_etcd(url, 1s), "open");
  std::atomic<bool> stop{false};
  int progress = 0;
  auto end = fresh->watch(
      "/", 0,
      [&](const watch_batch& b) {
        if (b.events.empty() && ++progress == 1) stop = true;
      },
      stop, 3s);
  EXPECT_EQ(end.why, watch_end::reason::stopped) << end.message;

  auto store = must(open_etcd(url, 1s), "open");
  EXPECT_EQ(store->describe(), url);
  auto put = must(store->txn({}, {operation{operation::kind::put, "/r", "v", 0}}), "txn");
  EXPECT_TRUE(put.succeeded);
  EXPECT_EQ(must(store->range("/r", false), "range").kvs.at(0).value, "v");
  const int64_t lease = must(store->grant_lease(5s), "grant");
  EXPECT_GT(must(store->keep_alive(lease), "keep_alive"), 0);
}

TEST(etcd_store, a_three_member_cluster_keeps_serving_when_one_member_dies) {
  auto members = etcd_process::start_cluster(3);
  auto store = must(open_etcd(etcd_process::url(members), 2s), "open");
  auto first = must(store->txn({}, {operation{operation::kind::put, "/c/k", "1", 0}}), "put");
  ASSERT_TRUE(first.succeeded);

  members[0]->kill();  // the member calls start at
  // A failover may take an election (1-2 s) if it was the leader; calls may fail meanwhile.
  std::optional<txn_result> second;
  auto deadline = steady::now() + 15s;
  while (!second && steady::now() < deadline) {
    auto r = store->txn({compare{"/c/k", compare::target::mod, first.revision}},
                        {operation{operation::kind::put, "/c/k", "2", 0}});
    if (auto* t = std::get_if<txn_result>(&r)) {
      second = *t;
    } else {
      EXPECT_FALSE(std::get<model::error>(r).permanent) << std::get<model::error>(r).message;
      std::this_thread::sleep_for(200ms);
    }
  }
  ASSERT_TRUE(second);
  // The first try may have committed with its answer lost: then the compare fails on our write.
  auto now = must(store->range("/c/k", false), "range");
  ASSERT_EQ(now.kvs.size(), 1u);
  EXPECT_EQ(now.kvs[0].value, "2");

  auto [batches, end] = watch_until(*store, "/c/", first.revision, 2);
  EXPECT_EQ(end.why, watch_end::reason::stopped) << end.message;
  EXPECT_EQ(batches.size(), 2u);

  members[0]->restart();
  EXPECT_TRUE(members[0]->healthy());
}

TEST(etcd_store, a_watch_on_a_member_that_lost_its_quorum_ends_failed) {
  auto members = etcd_process::start_cluster(3);
  auto store = must(open_etcd(members[2]->url(), 1s), "open");
  background_watch watch(*store, "/", 0, 10s);
  std::this_thread::sleep_for(300ms);
  members[0]->kill();
  members[1]->kill();
  // Without the hasleader header the stream would stay open and silent until `silence` (§1.9).
  auto deadline = steady::now() + 9s;
  while (!watch.ended() && steady::now() < deadline) std::this_thread::sleep_for(100ms);
  ASSERT_TRUE(watch.ended()) << "no end within 9 s of losing the quorum";
  EXPECT_EQ(watch.ended()->why, watch_end::reason::failed);
  EXPECT_NE(watch.ended()->message.find("no leader"), std::string::npos) << watch.ended()->message;
  EXPECT_NE(watch.ended()->message.find(members[2]->endpoint()), std::string::npos);
}

}  // namespace
}  // namespace tributary::cluster
