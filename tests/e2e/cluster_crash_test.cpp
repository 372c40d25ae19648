// The crash test of a single node (crash_test.cpp), run against a 3-node cluster on one etcd with
// the load spread over every node: request i always goes to node i % 3 (its retries too, with the
// same id); each round SIGKILLs one node at a random moment while the others keep ingesting, then
// restarts it. In the end a query at any node (fanned out) reads every acknowledged request exactly
// once and nothing else. TRIBUTARY_CRASH_ROUNDS sets the number of kills (default 4).

#include <gtest/gtest.h>

#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "client/client.hpp"
#include "tests/support/acked_requests.hpp"
#include "tests/support/etcd_process.hpp"
#include "tests/support/node_process.hpp"

namespace tributary::testing {
namespace {

constexpr int nodes = 3;
constexpr int max_new_per_round = 600;   // per node: bounds the table on a slow machine

TEST(cluster_crash, acknowledged_rows_survive_sigkill_of_any_node_exactly_once) {
  const char* env_rounds = std::getenv("TRIBUTARY_CRASH_ROUNDS");
  const int rounds = env_rounds ? std::atoi(env_rounds) : 4;
  std::mt19937 rng(20261206);
  etcd_process etcd;
  std::vector<std::unique_ptr<temp_dir>> dirs;
  std::vector<std::unique_ptr<node_process>> cluster;
  for (int n = 0; n < nodes; ++n) {
    dirs.push_back(std::make_unique<temp_dir>());
    cluster.push_back(std::make_unique<node_process>(
        dirs.back()->path(), std::vector<std::string>{"--metadata", etcd.url(), "--cluster-name", "crash", "--node-id",
                                                      "node-" + std::to_string(n), "--streaming-ingestion", "on",
                                                      "--seal-after-bytes", "20000"}));
  }
  ASSERT_NO_FATAL_FAILURE(create_request_table(*cluster[0]));

  std::mutex m;
  std::set<int> acked, in_doubt;
  int next_request = 0;
  for (int round = 0; round <= rounds; ++round) {
    const bool last = round == rounds;
    const int victim = std::uniform_int_distribution<int>(0, nodes - 1)(rng);
    std::vector<std::atomic<bool>> dead(nodes);
    std::vector<std::thread> loads;
    std::vector<int> new_this_round(nodes, 0);
    std::vector<std::vector<int>> retries(nodes);
    for (int i : in_doubt) retries[i % nodes].push_back(i);
    for (int n = 0; n < nodes; ++n)
      loads.emplace_back([&, n] {
        client::connection c(cluster[n]->rpc_address());
        size_t retry_pos = 0;
        c.ingest_pipelined(
            4,
            [&]() -> std::optional<client::ingest_request> {
              if (dead[n]) return std::nullopt;
              std::lock_guard lock(m);
              int i;
              if (retry_pos < retries[n].size()) {
                i = retries[n][retry_pos++];
              } else if (new_this_round[n] >= max_new_per_round || (last && new_this_round[n] >= 60)) {
                return std::nullopt;
              } else {
                // The next number that belongs to node n.
                while (next_request % nodes != n) ++next_request;
                i = next_request++;
                ++new_this_round[n];
              }
              in_doubt.insert(i);
              return numbered_request(i);
            },
            [&](const client::ingest_request& r, const client::ingest_outcome& o)
                -> std::optional<std::chrono::milliseconds> {
              const int i = request_number(r);
              if (const auto* e = std::get_if<model::error>(&o)) {
                if (e->code == "ConnectionFailed" || e->code == "ShuttingDown") {
                  EXPECT_EQ(n, victim) << "node " << n << " was not killed: " << e->message;
                  dead[n] = true;
                  return std::nullopt;
                }
                // A restarted node is fenced until it has confirmed its catalog: retry.
                EXPECT_FALSE(e->permanent) << e->code << ": " << e->message;
                return std::chrono::milliseconds(50);
              }
              EXPECT_EQ(std::get<client::ingest_ack>(o).consumed_records, static_cast<uint64_t>(rows_per_request));
              std::lock_guard lock(m);
              acked.insert(i);
              in_doubt.erase(i);
              return std::nullopt;
            });
      });
    if (!last) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(100, 500)(rng)));
      cluster[victim]->kill();
      dead[victim] = true;
    }
    for (auto& t : loads) t.join();
    if (!last) cluster[victim]->restart();
  }
  EXPECT_TRUE(in_doubt.empty()) << in_doubt.size() << " requests never got an answer after the last round";
  for (int n = 0; n < nodes; ++n)
    ASSERT_NO_FATAL_FAILURE(expect_acknowledged_rows(*cluster[n], acked, {},
                                                     "read at node " + std::to_string(n) + " after " +
                                                         std::to_string(rounds) + " kills"));
  EXPECT_GT(acked.size(), 100u);
  std::printf("cluster crash test: %d kills, %zu requests acknowledged over %d nodes\n", rounds, acked.size(), nodes);
}

}  // namespace
}  // namespace tributary::testing
