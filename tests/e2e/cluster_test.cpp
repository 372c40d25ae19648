// Cluster mode through real processes: one real etcd on loopback (free ports, data on tmpfs) and
// three tributaryd nodes sharing its catalog. Commands at any node reach every node before they
// return; ingest lands at any node; queries at any node fan out over the Peer interface; a node
// that is paused or killed is fenced and reported, and catches up when it returns.

#include <gtest/gtest.h>

#include <thread>

#include "client/client.hpp"
#include "tests/support/etcd_process.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/node_process.hpp"
#include "tests/support/outcomes.hpp"

namespace tributary::testing {
namespace {

using namespace std::chrono_literals;

bool acked(const client::ingest_outcome& o) { return std::holds_alternative<client::ingest_ack>(o); }

std::string error_code(const client::ingest_outcome& o) {
  if (const auto* e = std::get_if<model::error>(&o)) return e->code;
  return "ack";
}

client::ingest_request csv(const std::string& table, int from, int n, std::string request_id = {}) {
  client::ingest_request r;
  r.database = "Db";
  r.table = table;
  r.request_id = std::move(request_id);
  for (int i = from; i < from + n; ++i) r.data += std::to_string(i) + ",row " + std::to_string(i) + "\n";
  return r;
}


// Three nodes of cluster "c" on one etcd, each with its own data dir.
struct cluster_fixture {
  explicit cluster_fixture(size_t n = 3, std::vector<std::string> extra = {}) {
    for (size_t i = 0; i < n; ++i) {
      dirs.push_back(std::make_unique<temp_dir>());
      nodes.push_back(std::make_unique<node_process>(dirs.back()->path(), args(i, extra)));
    }
  }
  std::vector<std::string> args(size_t i, const std::vector<std::string>& extra) const {
    std::vector<std::string> a{"--metadata",   etcd.url(), "--cluster-name", "c", "--node-id", "node-" + std::to_string(i + 1),
                               "--streaming-ingestion", "on", "--catalog-staleness-bound", "1s", "--catalog-sync-timeout", "3s"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  client::connection connect(size_t i) { return client::connection(nodes[i]->rpc_address()); }

  etcd_process etcd;
  std::vector<std::unique_ptr<temp_dir>> dirs;
  std::vector<std::unique_ptr<node_process>> nodes;
};

void create_table(client::connection& c, const std::string& table) {
  ok(c.command("Db", ".create table " + table + " (n:long, s:string)"));
  ok(c.command("Db", ".alter table " + table + " policy streamingingestion enable"));
}

int64_t count(client::connection& c, const std::string& query) {
  auto t = ok(c.query("Db", query));
  return t.rows.size() == 1 ? std::get<int64_t>(t.rows[0][0]) : -1;
}

// The scenario of README's "Cluster" section: tables created at one node, ingest at every node,
// every row counted at any node.
TEST(cluster, a_table_created_at_one_node_takes_ingest_at_every_node_and_counts_everywhere) {
  cluster_fixture f;
  auto a = f.connect(0), b = f.connect(1), c = f.connect(2);
  ok(a.command("", ".create database Db"));
  create_table(a, "T");
  // The command returned: every node applied it, so ingest anywhere succeeds at once.
  ASSERT_TRUE(acked(b.ingest(csv("T", 0, 10))));
  ASSERT_TRUE(acked(c.ingest(csv("T", 10, 20))));
  ASSERT_TRUE(acked(a.ingest(csv("T", 30, 5))));
  for (auto* x : {&a, &b, &c}) EXPECT_EQ(count(*x, "T | count"), 35);
  EXPECT_EQ(ok(b.query("Db", "T | take 100")).rows.size(), 35u);
  auto nodes = ok(c.command("", ".show cluster"));
  ASSERT_EQ(nodes.rows.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(std::get<std::string>(cell(nodes, "State", i)), "Live");
  // Each node holds its shard: a clear of one node's rows is refused rather than partial.
  EXPECT_EQ(failed(a.command("Db", ".clear table T data")).code, "BadRequest_NotSupportedInCluster");
  auto acks = ok(b.command("Db", ".clear table T cache streamingingestion schema"));
  ASSERT_EQ(acks.rows.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(std::get<std::string>(cell(acks, "Status", i)), "Succeeded");
}

// Reference §5.8: create at A and ingest at B at once, many times: never "not found".
TEST(cluster, create_at_one_node_then_ingest_at_another_at_once_never_fails) {
  cluster_fixture f(2);
  auto a = f.connect(0), b = f.connect(1);
  ok(a.command("", ".create database Db"));
  for (int i = 0; i < 20; ++i) {
    const auto t = "T" + std::to_string(i);
    create_table(a, t);
    auto r = b.ingest(csv(t, 0, 3));
    EXPECT_TRUE(acked(r)) << t << ": " << error_code(r);
  }
}

// Commands race at every node: each one commits exactly once, none is lost.
TEST(cluster, concurrent_commands_at_every_node_all_commit) {
  cluster_fixture f;
  ok(f.connect(0).command("", ".create database Db"));
  std::vector<std::thread> threads;
  for (size_t n = 0; n < 3; ++n)
    threads.emplace_back([&, n] {
      auto c = f.connect(n);
      for (int i = 0; i < 8; ++i)
        ok(c.command("Db", ".create table N" + std::to_string(n) + "_" + std::to_string(i) + " (a:long)"));
    });
  for (auto& t : threads) t.join();
  for (size_t n = 0; n < 3; ++n) EXPECT_EQ(ok(f.connect(n).command("Db", ".show tables")).rows.size(), 24u);
}

// A single-node data dir with a catalog joins a cluster only as its first node, never merged into
// an existing one.
TEST(cluster, a_single_node_data_dir_uploads_its_catalog_as_first_node_and_is_refused_later) {
  etcd_process etcd;
  temp_dir alone;
  {
    node_process n(alone.path(), {"--streaming-ingestion", "on"});
    client::connection c(n.rpc_address());
    ok(c.command("", ".create database Db"));
    create_table(c, "Old");
    ASSERT_TRUE(acked(c.ingest(csv("Old", 0, 7))));
    EXPECT_EQ(n.stop(), 0);
  }
  {
    node_process first(alone.path(), {"--metadata", etcd.url(), "--cluster-name", "up", "--node-id", "a"});
    client::connection c(first.rpc_address());
    EXPECT_TRUE(eventually([&] { return count(c, "Old | count") == 7; }, 15s));
    temp_dir other;
    node_process second(other.path(), {"--metadata", etcd.url(), "--cluster-name", "up", "--node-id", "b"});
    client::connection c2(second.rpc_address());
    EXPECT_EQ(ok(c2.command("Db", ".show tables")).rows.size(), 1u);
  }
  // Another single-node catalog is refused by the now existing cluster.
  temp_dir late;
  {
    node_process n(late.path(), {});
    client::connection c(n.rpc_address());
    ok(c.command("", ".create database Late"));
    EXPECT_EQ(n.stop(), 0);
  }
  EXPECT_THROW(node_process(late.path(), {"--metadata", etcd.url(), "--cluster-name", "up", "--node-id", "c"}),
               std::runtime_error);
}

// Reference §5.8: a paused node (SIGSTOP) does not hold a command up past the sync timeout; it is
// reported and refuses ingest while stale; resumed, it catches up and takes ingest again.
TEST(cluster, a_paused_node_is_fenced_reported_and_catches_up) {
  cluster_fixture f;
  auto a = f.connect(0);
  ok(a.command("", ".create database Db"));
  create_table(a, "T");
  ::kill(f.nodes[2]->pid(), SIGSTOP);
  const auto start = std::chrono::steady_clock::now();
  ok(a.command("Db", ".create-merge table T (extra:string)"));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, 6s) << "the command waited for the paused node past the sync timeout";
  auto acks = ok(a.command("Db", ".clear table T cache streamingingestion schema"));
  bool reported = false;
  for (size_t i = 0; i < acks.rows.size(); ++i)
    if (std::get<std::string>(cell(acks, "NodeId", i)) == "node-3")
      reported = std::get<std::string>(cell(acks, "Status", i)) == "Failed";
  EXPECT_TRUE(reported) << "the paused node is reported Failed";
  ::kill(f.nodes[2]->pid(), SIGCONT);
  auto c = f.connect(2);
  std::string last;
  auto three_columns = csv("T", 0, 0);
  three_columns.data = "1,one,extra\n";
  EXPECT_TRUE(eventually([&] {
    last = error_code(c.ingest(three_columns));
    return last == "ack";
  }, 15s)) << last;
  auto schema = ok(c.command("Db", ".show table T"));
  EXPECT_EQ(schema.rows.size(), 3u) << "the resumed node has the column added while it was paused";
}

// A stopped metadata store: ingest stops within the staleness bound (transient error) and resumes
// when it returns; nothing acknowledged is lost.
TEST(cluster, ingest_stops_without_the_metadata_store_and_resumes_with_it) {
  cluster_fixture f(1);
  auto a = f.connect(0);
  ok(a.command("", ".create database Db"));
  create_table(a, "T");
  ASSERT_TRUE(acked(a.ingest(csv("T", 0, 5))));
  f.etcd.pause();
  std::string code;
  EXPECT_TRUE(eventually([&] {
    code = error_code(a.ingest(csv("T", 100, 1)));
    return code != "ack";
  }, 5s));
  EXPECT_TRUE(code == "ClusterMetadataUnavailable" || code == "CatalogSyncing") << code;
  f.etcd.resume();
  EXPECT_TRUE(eventually([&] { return acked(a.ingest(csv("T", 5, 5))); }, 15s));
  EXPECT_GE(count(a, "T | count"), 10);
}

}  // namespace
}  // namespace tributary::testing

namespace tributary::testing {
namespace {

// A clean stop exits 0 and revokes the node's lease: the others see it Down at once, not after
// the lease's 10 s; it comes back Live with its rows.
TEST(cluster, a_clean_stop_leaves_at_once_and_a_restart_rejoins) {
  cluster_fixture f(2);
  auto a = f.connect(0);
  ok(a.command("", ".create database Db"));
  create_table(a, "T");
  {
    auto b = f.connect(1);
    ASSERT_TRUE(acked(b.ingest(csv("T", 0, 4))));
  }
  const auto stopped = std::chrono::steady_clock::now();
  EXPECT_EQ(f.nodes[1]->stop(), 0) << "SIGTERM ends a cluster node cleanly";
  auto state_of_b = [&] {
    auto t = ok(a.command("", ".show cluster"));
    for (size_t i = 0; i < t.rows.size(); ++i)
      if (std::get<std::string>(cell(t, "NodeId", i)) == "node-2") return std::get<std::string>(cell(t, "State", i));
    return std::string("missing");
  };
  EXPECT_TRUE(eventually([&] { return state_of_b() == "Down"; }, 3s)) << state_of_b();
  EXPECT_LT(std::chrono::steady_clock::now() - stopped, 8s) << "seen down through its revoked lease";
  f.nodes[1]->restart();
  EXPECT_TRUE(eventually([&] { return state_of_b() == "Live"; }, 15s));
  EXPECT_EQ(count(a, "T | count"), 4);
}

}  // namespace
}  // namespace tributary::testing
