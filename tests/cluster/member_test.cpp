// cluster::member and cluster::diff over the in-process metadata store: joining rules, one
// compare-and-swap per command, versions reaching every member, acknowledgements and fencing.

#include <gtest/gtest.h>

#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "cluster/member.hpp"
#include "tests/support/node_process.hpp"

namespace tributary::cluster {
namespace {

using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;

// Several members over one store, as several nodes over one etcd.
class shared_store final : public metadata_store {
 public:
  explicit shared_store(std::shared_ptr<metadata_store> s) : s_(std::move(s)) {}
  result<range_result> range(const std::string& k, bool p) override { return s_->range(k, p); }
  result<txn_result> txn(const std::vector<compare>& c, const std::vector<operation>& o) override { return s_->txn(c, o); }
  result<int64_t> grant_lease(std::chrono::seconds t) override { return s_->grant_lease(t); }
  result<int64_t> keep_alive(int64_t l) override { return s_->keep_alive(l); }
  std::optional<model::error> revoke_lease(int64_t l) override { return s_->revoke_lease(l); }
  result<int64_t> lease_ttl(int64_t l) override { return s_->lease_ttl(l); }
  watch_end watch(const std::string& p, int64_t f, const std::function<void(const watch_batch&)>& d,
                  const std::atomic<bool>& stop, std::chrono::milliseconds silence) override {
    return s_->watch(p, f, d, stop, silence);
  }
  std::optional<model::error> compact(int64_t r) override { return s_->compact(r); }
  std::string describe() const override { return "memory"; }

 private:
  std::shared_ptr<metadata_store> s_;
};

// What a member's callbacks saw; `applied` mimics the coordinator (report after each version).
struct node {
  testing::temp_dir dir;
  std::unique_ptr<member> m;
  std::mutex mu;
  std::condition_variable cv;
  catalog_version last;
  clock::time_point fresh_until{};
  bool report = true;
  // Applies each version this long after receiving it (a node busy applying), from a thread of
  // its own so that the lag stays constant however fast versions come.
  std::chrono::milliseconds apply_lag{0};
  std::mutex lag_mu;
  std::vector<std::thread> lagged;

  ~node() {
    for (auto& t : lagged) t.join();
  }

  void start() {
    m->start("127.0.0.1:1", [this](catalog_version v) {
      {
        std::lock_guard l(mu);
        last = v;
      }
      if (report && apply_lag.count() > 0) {
        std::lock_guard l(lag_mu);
        lagged.emplace_back([this, version = v.catalog->version] {
          std::this_thread::sleep_for(apply_lag);
          m->report_applied(version);
        });
      } else if (report) {
        m->report_applied(v.catalog->version);
      }
      cv.notify_all();
    }, [this](clock::time_point t) {
      std::lock_guard l(mu);
      fresh_until = t;
    }, [](bool) {}, [] { return uint64_t{0}; });
  }
  bool wait_version(uint64_t v, std::chrono::milliseconds limit = 5s) {
    std::unique_lock l(mu);
    return cv.wait_for(l, limit, [&] { return last.catalog && last.catalog->version >= v; });
  }
};

options opts(const std::filesystem::path& dir, const std::string& id) {
  options o;
  o.cluster_name = "t";
  o.node_id = id;
  o.data_dir = dir;
  o.staleness_bound = 400ms;
  o.sync_timeout = 800ms;
  o.lease_ttl = 2s;
  return o;
}

std::unique_ptr<node> join(const std::shared_ptr<metadata_store>& store, const std::string& id,
                           const model::catalog& local = {}) {
  auto n = std::make_unique<node>();
  auto r = member::open(opts(n->dir.path(), id), local, std::make_unique<shared_store>(store));
  if (auto* e = std::get_if<model::error>(&r)) {
    ADD_FAILURE() << e->code << ": " << e->message;
    return nullptr;
  }
  n->m = std::move(std::get<std::unique_ptr<member>>(r));
  return n;
}

model::catalog with_database(model::catalog c, const std::string& name) {
  model::database db;
  db.id = model::database_id{c.next_id++};
  db.name = name;
  c.databases[name] = db;
  ++c.version;
  return c;
}

std::vector<model::change> created(const model::catalog& c, const std::string& name) {
  return {{model::change::kind::put_database, c.databases.at(name).id, {}, name, {}}};
}

TEST(cluster_member, a_command_commits_once_and_reaches_every_member_which_acknowledges_it) {
  std::shared_ptr<metadata_store> store = make_memory_store();
  auto a = join(store, "a"), b = join(store, "b");
  ASSERT_TRUE(a && b);
  a->start();
  b->start();
  const auto& seed = a->m->seeded();
  auto next = with_database(*seed.catalog, "Db");
  auto c = a->m->commit(seed.revision, next, created(next, "Db"), ".create database Db");
  ASSERT_TRUE(std::holds_alternative<commit_result>(c));
  ASSERT_TRUE(std::get<commit_result>(c).committed);
  ASSERT_TRUE(a->wait_version(next.version));
  ASSERT_TRUE(b->wait_version(next.version));
  EXPECT_TRUE(b->last.catalog->find_database("Db"));

  // The same compare again loses: the catalog moved on.
  auto again = with_database(*seed.catalog, "Other");
  auto lost = a->m->commit(seed.revision, again, created(again, "Other"), ".create database Other");
  ASSERT_TRUE(std::holds_alternative<commit_result>(lost));
  EXPECT_FALSE(std::get<commit_result>(lost).committed);

  std::promise<std::vector<node_ack>> acks;
  a->m->await_acks(next.version, std::get<commit_result>(c).at, [&](std::vector<node_ack> x) { acks.set_value(x); });
  auto f = acks.get_future();
  ASSERT_EQ(f.wait_for(3s), std::future_status::ready);
  auto got = f.get();
  ASSERT_EQ(got.size(), 2u);
  for (const auto& x : got) EXPECT_EQ(x.state, node_ack::status::applied) << x.node_id;
  EXPECT_EQ(a->m->nodes().size(), 2u);
}

TEST(cluster_member, a_member_that_does_not_apply_is_fenced_after_the_sync_timeout) {
  std::shared_ptr<metadata_store> store = make_memory_store();
  auto a = join(store, "a"), b = join(store, "b");
  ASSERT_TRUE(a && b);
  b->report = false;  // b receives versions but never applies them
  a->start();
  b->start();
  const auto& seed = a->m->seeded();
  auto next = with_database(*seed.catalog, "Db");
  auto c = a->m->commit(seed.revision, next, created(next, "Db"), ".create database Db");
  ASSERT_TRUE(std::get<commit_result>(c).committed);
  ASSERT_TRUE(a->wait_version(next.version));
  const auto start = clock::now();
  std::promise<std::vector<node_ack>> acks;
  a->m->await_acks(next.version, std::get<commit_result>(c).at, [&](std::vector<node_ack> x) { acks.set_value(x); });
  auto f = acks.get_future();
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
  EXPECT_GE(clock::now() - start, 700ms) << "a live member is waited for up to the sync timeout";
  for (const auto& x : f.get())
    EXPECT_EQ(x.state, x.node_id == "b" ? node_ack::status::fenced_behind : node_ack::status::applied) << x.node_id;
  // b never confirmed the new version: its freshness bound stops growing.
  std::this_thread::sleep_for(500ms);
  std::lock_guard l(b->mu);
  EXPECT_LT(b->fresh_until, clock::now()) << "a member behind the store stays fenced";
}

TEST(cluster_member, a_stopped_member_is_reported_unreachable_after_the_staleness_bound) {
  std::shared_ptr<metadata_store> store = make_memory_store();
  auto a = join(store, "a"), b = join(store, "b");
  ASSERT_TRUE(a && b);
  a->start();
  b->start();
  b->m->stop();  // revokes its lease: gone at once
  const auto& seed = a->m->seeded();
  auto next = with_database(*seed.catalog, "Db");
  auto c = a->m->commit(seed.revision, next, created(next, "Db"), ".create database Db");
  ASSERT_TRUE(std::get<commit_result>(c).committed);
  std::promise<std::vector<node_ack>> acks;
  a->m->await_acks(next.version, std::get<commit_result>(c).at, [&](std::vector<node_ack> x) { acks.set_value(x); });
  auto f = acks.get_future();
  ASSERT_EQ(f.wait_for(3s), std::future_status::ready);
  for (const auto& x : f.get())
    if (x.node_id == "b") {
      EXPECT_EQ(x.state, node_ack::status::fenced_unreachable);
    }
  bool listed_down = false;
  for (const auto& n : a->m->nodes())
    if (n.id == "b") listed_down = !n.live;
  EXPECT_TRUE(listed_down);
}

TEST(cluster_member, a_data_dir_with_a_catalog_joins_only_as_first_node) {
  std::shared_ptr<metadata_store> store = make_memory_store();
  auto local = with_database(model::catalog{}, "Mine");
  auto first = join(store, "a", local);
  ASSERT_TRUE(first);
  EXPECT_TRUE(first->m->seeded().catalog->find_database("Mine")) << "the first node's catalog is uploaded";
  auto other = std::make_unique<node>();
  auto r = member::open(opts(other->dir.path(), "b"), with_database(model::catalog{}, "Theirs"),
                        std::make_unique<shared_store>(store));
  ASSERT_TRUE(std::holds_alternative<model::error>(r));
  EXPECT_EQ(std::get<model::error>(r).code, "ClusterJoinRefused");
  EXPECT_NE(std::get<model::error>(r).message.find("empty --data-dir"), std::string::npos);
  // The same data dir under another node id is refused too: its shards are keyed by its id.
  auto again = member::open(opts(first->dir.path(), "z"), {}, std::make_unique<shared_store>(store));
  ASSERT_TRUE(std::holds_alternative<model::error>(again));
  EXPECT_NE(std::get<model::error>(again).message.find("--node-id a"), std::string::npos);
}

// Under a stream of commands most reads of the version show one not yet applied (here b applies
// each 150 ms late, a command comes every ~30 ms): the bound must still advance once the version
// read is applied, or every node would stop ingesting while schemas change.
TEST(cluster_member, the_freshness_bound_keeps_advancing_while_commands_stream_in) {
  std::shared_ptr<metadata_store> store = make_memory_store();
  auto a = join(store, "a"), b = join(store, "b");
  ASSERT_TRUE(a && b);
  b->apply_lag = 150ms;
  a->start();
  b->start();
  auto current = *a->m->seeded().catalog;
  int64_t revision = a->m->seeded().revision;
  const auto b_fresh = [&] {
    std::lock_guard l(b->mu);
    return b->fresh_until > clock::now();
  };
  for (auto until = clock::now() + 3s; clock::now() < until && !b_fresh();) std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(b_fresh()) << "b confirmed its catalog after joining";
  const auto end = clock::now() + 2s;
  int fresh_samples = 0, samples = 0;
  for (int i = 0; clock::now() < end; ++i) {
    auto next = with_database(current, "Db" + std::to_string(i));
    auto c = a->m->commit(revision, next, created(next, "Db" + std::to_string(i)), ".create database");
    ASSERT_TRUE(std::holds_alternative<commit_result>(c));
    ASSERT_TRUE(std::get<commit_result>(c).committed);
    ASSERT_TRUE(a->wait_version(next.version));
    {
      std::lock_guard l(a->mu);
      revision = a->last.revision;
    }
    current = next;
    std::this_thread::sleep_for(30ms);
    ++samples;
    fresh_samples += b_fresh();
  }
  EXPECT_GT(samples, 20);
  EXPECT_GE(fresh_samples, samples - 2) << "b was fresh in " << fresh_samples << " of " << samples << " samples";
}

// A member whose lease expired (a long pause, a partition) registers again and reads the whole
// catalog again; it is listed live once more.
TEST(cluster_member, a_lost_lease_is_registered_again_and_the_catalog_reseeded) {
  std::atomic<int64_t> skew_ms{0};
  std::shared_ptr<metadata_store> store =
      make_memory_store([&] { return clock::now() + std::chrono::milliseconds(skew_ms.load()); });
  auto a = join(store, "a");
  ASSERT_TRUE(a);
  a->start();
  const auto live = [&] {
    for (const auto& n : a->m->nodes())
      if (n.id == "a") return n.live;
    return false;
  };
  const auto eventually_live = [&] {
    for (auto end = clock::now() + 5s; clock::now() < end; std::this_thread::sleep_for(20ms))
      if (live()) return true;
    return false;
  };
  ASSERT_TRUE(eventually_live());
  {
    std::lock_guard l(a->mu);
    a->last = {};
  }
  skew_ms = 60'000;  // the store's clock jumps past the lease's TTL: the lease and members/a go
  // The next keepalive (every TTL/3) finds the lease gone: registered again, catalog read again.
  EXPECT_TRUE(a->wait_version(1, 5s)) << "the catalog was delivered again after the lease was lost";
  EXPECT_TRUE(eventually_live()) << "registered again under a new lease";
}

// Data connections' partition records: a topic of more partitions than etcd takes operations in
// one transaction (128) is written all the same, and read back whole.
TEST(cluster_member, partition_records_of_a_large_topic_are_written_and_read_back) {
  std::shared_ptr<metadata_store> store = make_memory_store();
  auto a = join(store, "a");
  ASSERT_TRUE(a);
  std::map<std::string, std::string> records;
  for (int p = 0; p < 300; ++p) records[std::to_string(p)] = p % 2 ? "held" : "released " + std::to_string(p * 10);
  ASSERT_EQ(a->m->put_source_records(7, records), std::nullopt);
  using record_map = std::map<std::string, std::string>;
  auto read = a->m->source_records(7);
  ASSERT_TRUE(std::holds_alternative<record_map>(read));
  const auto& got = std::get<record_map>(read);
  ASSERT_EQ(got.size(), 300u);
  EXPECT_EQ(got.at("4/a"), "released 40");
  EXPECT_EQ(got.at("299/a"), "held");
  auto other = a->m->source_records(8);
  ASSERT_TRUE(std::holds_alternative<record_map>(other));
  EXPECT_TRUE(std::get<record_map>(other).empty()) << "another connection's records are apart";
  // A dropped connection's records go, every node's, and only its own.
  auto b = join(store, "b");
  ASSERT_TRUE(b);
  ASSERT_EQ(b->m->put_source_records(7, {{"3", "held"}}), std::nullopt);
  ASSERT_EQ(b->m->put_source_records(8, {{"0", "released 5"}}), std::nullopt);
  ASSERT_EQ(a->m->erase_source_records(7), std::nullopt);
  auto gone = b->m->source_records(7);
  ASSERT_TRUE(std::holds_alternative<record_map>(gone));
  EXPECT_TRUE(std::get<record_map>(gone).empty());
  auto kept = a->m->source_records(8);
  ASSERT_TRUE(std::holds_alternative<record_map>(kept));
  EXPECT_EQ(std::get<record_map>(kept), (record_map{{"0/b", "released 5"}}));
}

TEST(cluster_diff, names_every_object_that_changed) {
  auto a = with_database(model::catalog{}, "Db");
  model::table t;
  t.id = model::table_id{a.next_id++};
  t.name = "T";
  t.columns = {{"x", model::column_type::long_}};
  a.databases["Db"].tables["T"] = t;
  auto b = a;
  b.databases["Db"].tables["T"].columns.push_back({"y", model::column_type::string});
  auto d = diff(a, b);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].what, model::change::kind::put_table);
  b.databases["Db"].tables.erase("T");
  b.streaming = model::switch_state::enabled;
  d = diff(a, b);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].what, model::change::kind::put_cluster);
  EXPECT_EQ(d[1].what, model::change::kind::delete_table);
  d = diff(a, model::catalog{});
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].what, model::change::kind::delete_database);
  d = diff(model::catalog{}, a);
  ASSERT_EQ(d.size(), 2u) << "a new database and its table";
  EXPECT_TRUE(diff(a, a).empty());
  // A data connection lives in its database's record: created, paused or dropped, the database
  // is put again (a node following the store persists it, and has it after a restart).
  auto c = a;
  model::data_connection dc;
  dc.id = a.next_id;
  dc.name = "dc";
  c.databases["Db"].data_connections["dc"] = dc;
  d = diff(a, c);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].what, model::change::kind::put_database);
  auto paused = c;
  paused.databases["Db"].data_connections["dc"].paused = true;
  d = diff(c, paused);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].what, model::change::kind::put_database);
  EXPECT_EQ(diff(c, a).size(), 1u);
}

}  // namespace
}  // namespace tributary::cluster
