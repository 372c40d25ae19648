// Retries across nodes (cluster/README.md "Retries across nodes"), through real processes: one
// real etcd and two tributaryd nodes of one cluster. A request acknowledged at node 1 and
// retried at node 2 with `tributary.previousNodes` naming node 1 is a duplicate there; a request
// node 2 takes over can no longer be ingested at node 1 (its late original is refused); a
// previous node that cannot be asked holds the retry back; the CLI fails over without doubling.

#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "client/client.hpp"
#include "tests/support/etcd_process.hpp"
#include "tests/support/node_process.hpp"
#include "tests/support/outcomes.hpp"
#include "tests/support/run_process.hpp"

namespace tributary::testing {
namespace {

std::string csv_rows(int from, int n) {
  std::string s;
  for (int i = from; i < from + n; ++i) s += std::to_string(i) + ",row " + std::to_string(i) + "\n";
  return s;
}

client::ingest_request request(const std::string& id, int from, int n, const std::string& previous_nodes = {}) {
  client::ingest_request r;
  r.database = "Db";
  r.table = "T";
  r.request_id = id;
  r.data = csv_rows(from, n);
  if (!previous_nodes.empty()) r.properties.emplace_back("tributary.previousNodes", previous_nodes);
  return r;
}

client::ingest_ack acked(const client::ingest_outcome& o) {
  if (const auto* e = std::get_if<model::error>(&o)) {
    ADD_FAILURE() << "expected an ack, got " << e->code << ": " << e->message;
    return {};
  }
  return std::get<client::ingest_ack>(o);
}

model::error refused(const client::ingest_outcome& o) {
  if (const auto* e = std::get_if<model::error>(&o)) return *e;
  ADD_FAILURE() << "expected an error, got an ack of " << std::get<client::ingest_ack>(o).consumed_records
                << " records";
  return {};
}

// Two nodes of cluster "c" on one etcd; table Db.T (n:long, s:string) created at node 1.
class cluster_dedup_test : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* id : {"n1", "n2"}) {
      dirs_.push_back(std::make_unique<temp_dir>());
      nodes_.push_back(std::make_unique<node_process>(
          dirs_.back()->path(), std::vector<std::string>{"--metadata", etcd_.url(), "--cluster-name", "c", "--node-id",
                                                         id, "--streaming-ingestion", "on"}));
    }
    auto c = connect(0);
    ok(c.command("", ".create database Db"));
    ok(c.command("Db", ".create table T (n:long, s:string)"));
    ok(c.command("Db", ".alter table T policy streamingingestion enable"));
  }

  client::connection connect(size_t node) { return client::connection(nodes_[node]->rpc_address()); }
  std::string address(size_t node) const { return nodes_[node]->rpc_address(); }

  // `T | count` at `node`: the query fans out to both nodes' shards.
  int64_t count(size_t node, const std::string& query = "T | count") {
    auto t = ok(connect(node).query("Db", query));
    return t.rows.size() == 1 ? std::get<int64_t>(t.rows[0][0]) : -1;
  }

  etcd_process etcd_;
  std::vector<std::unique_ptr<temp_dir>> dirs_;
  std::vector<std::unique_ptr<node_process>> nodes_;
};

TEST_F(cluster_dedup_test, a_retry_at_another_node_of_a_request_acked_at_the_first_is_a_duplicate) {
  auto first = acked(connect(0).ingest(request("R", 0, 5)));
  EXPECT_EQ(first.consumed_records, 5u);
  EXPECT_FALSE(first.duplicate);
  // The ack was lost; the client retries at node 2, naming node 1.
  auto retry = acked(connect(1).ingest(request("R", 0, 5, address(0))));
  EXPECT_TRUE(retry.duplicate);
  EXPECT_EQ(retry.consumed_records, 5u) << "the duplicate carries node 1's ack";
  EXPECT_EQ(count(0), 5);
  EXPECT_EQ(count(1), 5);
}

TEST_F(cluster_dedup_test, a_request_taken_over_by_another_node_is_refused_at_the_first) {
  // Node 1 never got request F (or never finished it): node 2's claim leaves a tombstone there.
  auto at_second = acked(connect(1).ingest(request("F", 0, 3, address(0))));
  EXPECT_FALSE(at_second.duplicate);
  EXPECT_EQ(at_second.consumed_records, 3u);
  // Its original arrives at node 1 late: refused, nothing ingested.
  auto late = refused(connect(0).ingest(request("F", 0, 3)));
  EXPECT_EQ(late.code, "RequestClaimedElsewhere") << late.message;
  EXPECT_TRUE(late.permanent);
  EXPECT_NE(late.message.find("'F'"), std::string::npos) << late.message;
  // Retried at node 2 again (node 1 still answers "unknown"): node 2's own duplicate.
  EXPECT_TRUE(acked(connect(1).ingest(request("F", 0, 3, address(0)))).duplicate);
  EXPECT_EQ(count(0), 3);
  EXPECT_EQ(count(1), 3);
}

// The original and its retry race (the claim meets the original queued, in flight or committed at
// node 1, or first): whichever wins, each request's rows are counted once, and exactly one of the
// two answers is a fresh ack.
TEST_F(cluster_dedup_test, an_original_and_its_retry_racing_at_two_nodes_ingest_once) {
  constexpr int requests = 30;
  constexpr int rows = 4;
  std::vector<client::ingest_outcome> originals(requests), retries(requests);
  {
    std::thread at_first([&] {
      auto c = connect(0);
      for (int i = 0; i < requests; ++i) originals[i] = c.ingest(request("race-" + std::to_string(i), i * rows, rows));
    });
    auto c = connect(1);
    for (int i = 0; i < requests; ++i)
      retries[i] = c.ingest(request("race-" + std::to_string(i), i * rows, rows, address(0)));
    at_first.join();
  }
  for (int i = 0; i < requests; ++i) {
    int fresh = 0;
    for (const auto* o : {&originals[i], &retries[i]}) {
      if (const auto* a = std::get_if<client::ingest_ack>(o)) {
        fresh += a->duplicate ? 0 : 1;
        EXPECT_EQ(a->consumed_records, static_cast<uint64_t>(rows));
      } else {
        EXPECT_EQ(std::get<model::error>(*o).code, "RequestClaimedElsewhere") << std::get<model::error>(*o).message;
      }
    }
    EXPECT_EQ(fresh, 1) << "request race-" << i;
  }
  EXPECT_EQ(count(0), requests * rows);
}

TEST_F(cluster_dedup_test, a_retry_whose_previous_node_is_down_waits_for_it) {
  ASSERT_FALSE(acked(connect(1).ingest(request("base", 0, 2))).duplicate);
  const auto first = address(0);
  nodes_[0]->kill();
  auto held = refused(connect(1).ingest(request("D", 10, 4, first)));
  EXPECT_EQ(held.code, "PreviousNodeUnreachable") << held.message;
  EXPECT_FALSE(held.permanent) << "a retry succeeds once the node is back";
  EXPECT_NE(held.message.find(first), std::string::npos) << held.message;
  EXPECT_NE(held.message.find("'D'"), std::string::npos) << held.message;
  // Node 1's shard is missing now; node 2's holds only the first request.
  EXPECT_EQ(count(1, "set best_effort=true; T | count"), 2);
}

TEST_F(cluster_dedup_test, a_retry_naming_the_node_it_arrives_at_ingests_there) {
  // Its own advertised address is skipped, also spelt "localhost:<port>" (and a name it has under
  // another spelling would be given away by its claim's token): no tombstone refuses the request.
  const auto port = std::to_string(nodes_[1]->rpc_port());
  auto r = acked(connect(1).ingest(request("S", 0, 6, address(1) + ", localhost:" + port)));
  EXPECT_FALSE(r.duplicate);
  EXPECT_EQ(r.consumed_records, 6u);
  EXPECT_EQ(count(0), 6);
}

// Only the cluster's nodes are asked: an address that is none (a client's mistake, or a node that
// moved) is not connected to, and the retry is held as for a node that is down.
TEST_F(cluster_dedup_test, a_retry_naming_an_address_outside_the_cluster_is_held_without_a_call) {
  auto held = refused(connect(1).ingest(request("X", 0, 3, "192.0.2.1:7400")));
  EXPECT_EQ(held.code, "PreviousNodeUnreachable") << held.message;
  EXPECT_FALSE(held.permanent);
  EXPECT_NE(held.message.find("not the address of a node of this cluster"), std::string::npos) << held.message;
  EXPECT_EQ(count(0), 0);
}

TEST_F(cluster_dedup_test, a_malformed_previous_nodes_property_is_refused_by_name) {
  auto e = refused(connect(1).ingest(request("M", 0, 1, address(0) + ",nowhere")));
  EXPECT_EQ(e.code, "BadRequest_MalformedIngestionProperty") << e.message;
  EXPECT_NE(e.message.find("'nowhere'"), std::string::npos) << e.message;
  EXPECT_EQ(count(0), 0);
  // Without a request id there is nothing to claim: the property changes nothing.
  EXPECT_EQ(acked(connect(1).ingest(request("", 0, 1, address(0)))).consumed_records, 1u);
}

TEST_F(cluster_dedup_test, the_cli_fails_over_from_a_dead_node_and_ingests_once) {
  const auto file = dirs_[0]->path() / "rows.csv";
  std::ofstream(file) << csv_rows(0, 40);
  // Node 1, killed, first: the CLI never reaches it, so node 2 takes the requests without
  // naming it (which would hold them until it is back).
  const auto dead = address(0);
  nodes_[0]->kill();
  auto in = run_process({binary_path("tributary").string(), "--node", dead + "," + address(1), "-d", "Db", "ingest",
                         "--table", "T", "--max-request-bytes", "100", file.string()});
  EXPECT_EQ(in.exit_code, 0) << in.err;
  EXPECT_NE(in.err.find("cannot reach tributaryd at " + dead), std::string::npos) << in.err;
  EXPECT_EQ(count(1, "set best_effort=true; T | count"), 40);
}

// What the CLI does to a request it resends to the next node.
TEST(add_previous_node, appends_each_address_once) {
  client::ingest_request r;
  client::add_previous_node(r, "10.0.0.1:7400");
  client::add_previous_node(r, "10.0.0.2:7400");
  client::add_previous_node(r, "10.0.0.1:7400");
  ASSERT_EQ(r.properties.size(), 1u);
  EXPECT_EQ(r.properties[0].first, "tributary.previousNodes");
  EXPECT_EQ(r.properties[0].second, "10.0.0.1:7400,10.0.0.2:7400");
}

}  // namespace
}  // namespace tributary::testing
