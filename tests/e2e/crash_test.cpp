// Crash test: a load generator sends requests with request ids and records which were
// acknowledged; the node is killed with SIGKILL at random moments, restarted, and requests whose
// answer was lost are retried with the same id. In the end every acknowledged request's rows are
// present exactly once and no request is half-present. TRIBUTARY_CRASH_ROUNDS sets the number of
// kills (default 5; bench/crash.sh runs more).

#include <gtest/gtest.h>
#include <csignal>
#include <random>
#include <set>
#include <thread>

#include "client/client.hpp"
#include "tests/support/acked_requests.hpp"
#include "tests/support/node_process.hpp"

namespace tributary::testing {
namespace {

// A round waiting for its kill (a crash point the node is slow to reach on a loaded machine)
// stops sending new requests here, so that the final check reads a bounded table.
constexpr int max_new_per_round = 3000;

// Without `crash_points`, the test kills the node at a random moment of each round; with them,
// round r arms crash_points[r % size] (TRIBUTARY_CRASH_AT, storage/crash_point.hpp) on a random
// pass, and the node kills itself there.
void run_crash_rounds(std::vector<std::string> node_args, unsigned seed, bool expect_extents,
                      const std::vector<std::string>& crash_points = {}) {
  const char* env_rounds = std::getenv("TRIBUTARY_CRASH_ROUNDS");
  const int rounds = crash_points.empty() ? (env_rounds ? std::atoi(env_rounds) : 5)
                                          : static_cast<int>(crash_points.size()) * 2;
  std::mt19937 rng(seed);
  temp_dir dir;
  node_process node(dir.path() / "data", std::move(node_args));
  ASSERT_NO_FATAL_FAILURE(create_request_table(node));
  auto arm = [&](int round) {
    if (crash_points.empty()) return;
    if (round >= rounds) return node.set_env({});
    const auto pass = std::uniform_int_distribution<int>(1, 4)(rng);
    node.set_env({"TRIBUTARY_CRASH_AT=" + crash_points[round % crash_points.size()] + ":" + std::to_string(pass)});
  };
  arm(0);
  node.restart();
  std::set<int> acked;     // acknowledged at least once
  std::set<int> in_doubt;  // sent, answer lost
  int next_request = 0;
  for (int round = 0; round <= rounds; ++round) {
    const bool last = round == rounds;
    std::atomic<bool> dead{false};
    std::mutex m;
    std::vector<int> to_send(in_doubt.begin(), in_doubt.end());  // retries first, same ids
    std::set<int> sent_this_round;
    int new_this_round = 0;
    std::thread load([&] {
      client::connection c(node.rpc_address());
      size_t retry_pos = 0;
      c.ingest_pipelined(
          8,
          [&]() -> std::optional<client::ingest_request> {
            if (dead) return std::nullopt;
            std::lock_guard lock(m);
            int i;
            if (retry_pos < to_send.size()) i = to_send[retry_pos++];
            else if (last && next_request >= 50 * (rounds + 1)) return std::nullopt;
            else if (++new_this_round > max_new_per_round) return std::nullopt;  // waits for the kill
            else i = next_request++;
            sent_this_round.insert(i);
            in_doubt.insert(i);
            return numbered_request(i);
          },
          [&](const client::ingest_request& r, const client::ingest_outcome& o)
              -> std::optional<std::chrono::milliseconds> {
            int i = request_number(r);
            if (const auto* e = std::get_if<model::error>(&o)) {
              // Overloaded (a slow machine, a sanitizer build): a client retries the same id.
              if (e->code == "Throttling") return std::chrono::milliseconds(5);
              EXPECT_TRUE(e->code == "ConnectionFailed" || e->code == "ShuttingDown") << e->code << ": " << e->message;
              dead = true;
              return std::nullopt;
            }
            const auto& ack = std::get<client::ingest_ack>(o);
            EXPECT_EQ(ack.consumed_records, static_cast<uint64_t>(rows_per_request));
            std::lock_guard lock(m);
            acked.insert(i);
            in_doubt.erase(i);
            return std::nullopt;
          });
    });
    if (!last && crash_points.empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(50, 400)(rng)));
      node.kill();
      dead = true;
    } else if (!last) {
      const auto status = node.wait_exit(std::chrono::seconds(30));
      EXPECT_EQ(status, 128 + SIGKILL) << "the node did not die at crash point "
                                       << crash_points[round % crash_points.size()];
      node.kill();
      dead = true;
    }
    load.join();
    arm(round + 1);
    node.restart();
  }
  EXPECT_TRUE(in_doubt.empty()) << in_doubt.size() << " requests never got an answer after the last round";
  // No request is in doubt any more (the last round answered every one, checked above): every
  // request present must have been acknowledged.
  ASSERT_NO_FATAL_FAILURE(
      expect_acknowledged_rows(node, acked, /*in_doubt=*/{}, "after " + std::to_string(rounds) + " kills"));
  EXPECT_GT(acked.size(), 50u);
  client::connection c(node.rpc_address());
  auto extents = c.command("Db", ".show table T extents");
  ASSERT_TRUE(std::holds_alternative<model::result_table>(extents));
  const auto extent_count = std::get<model::result_table>(extents).rows.size();
  if (expect_extents) {
    EXPECT_GT(extent_count, 0u) << "the test meant to kill the node during extent moves";
  }
  std::printf("crash test: %zu extents at the end\n", extent_count);
  std::printf("crash test: %d kills, %zu requests acknowledged, %zu rows checked\n", rounds, acked.size(),
              static_cast<size_t>(acked.size() * rows_per_request));
}

TEST(crash, acknowledged_rows_survive_sigkill_exactly_once) {
  run_crash_rounds({"--streaming-ingestion=on"}, 20261130, false);
}

// Extent moves run all the time (a seal every few requests), so kills land between an extent's
// write, its fsync and its registration: still nothing lost or doubled.
TEST(crash, acknowledged_rows_survive_sigkill_during_extent_moves) {
  run_crash_rounds({"--streaming-ingestion=on", "--seal-after-bytes", "4000"}, 20261201, true);
}

// The node kills itself at each step of the durability protocol in turn (twice each, on a random
// pass): after an extent's data is written, after its fsync, after its directory's fsync, after
// the registration commits, after an ingest group commits but before its acks.
TEST(crash, acknowledged_rows_survive_kills_at_injected_points_of_moves_and_commits) {
  run_crash_rounds({"--streaming-ingestion=on", "--seal-after-bytes", "4000"}, 20261130, true,
                   {"extent.data_written", "extent.file_synced", "extent.synced", "rowstore.seal_committed",
                    "rowstore.group_committed"});
}

}  // namespace
}  // namespace tributary::testing
