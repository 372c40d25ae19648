// KQL through a real node: queries over extents and the rowstore at once, with pruning visible in
// the result's QueryStats; render's Visualization; `.show queries`; the query metrics; the
// memory limit naming the operator; a client that goes away cancels its query.

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "client/client.hpp"
#include "tests/support/exposition.hpp"
#include "tests/support/node_process.hpp"
#include "tests/support/outcomes.hpp"
#include "tests/support/run_process.hpp"

namespace tributary::testing {
namespace {

using namespace std::chrono_literals;

// 2024-01-01 plus `seconds` (under a day), as CSV writes a datetime.
std::string timestamp(int64_t seconds) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "2024-01-01T%02lld:%02lld:%02lldZ", static_cast<long long>(seconds / 3600),
                static_cast<long long>(seconds / 60 % 60), static_cast<long long>(seconds % 60));
  return buf;
}

// Rows n = from..from+count-1 of T: (n, host "h<n % 7>", n + 0.5, 2024-01-01 plus n % 86400
// seconds).
client::ingest_request rows(int64_t from, int64_t count) {
  client::ingest_request r;
  r.database = "Db";
  r.table = "T";
  r.fmt = client::format::csv;
  for (int64_t n = from; n < from + count; ++n)
    r.data += std::to_string(n) + ",h" + std::to_string(n % 7) + "," + std::to_string(n) + ".5," +
              timestamp(n % 86400) + "\n";
  return r;
}

bool acked(const client::ingest_outcome& o) { return std::holds_alternative<client::ingest_ack>(o); }

std::string property(const model::result_table& t, const std::string& name) {
  for (const auto& [k, v] : t.properties)
    if (k == name) return v;
  return "";
}

// A number in a flat JSON object: "Key":123.
int64_t json_number(const std::string& json, const std::string& key) {
  const auto at = json.find("\"" + key + "\":");
  if (at == std::string::npos) return -1;
  return std::stoll(json.substr(at + key.size() + 3));
}

class query_test : public ::testing::Test {
 protected:
  void start(std::vector<std::string> args = {}) {
    args.insert(args.begin(), "--streaming-ingestion=on");
    node_ = std::make_unique<node_process>(dir_.path() / "data", std::move(args));
    client::connection c(node_->rpc_address());
    ok(c.command("", ".create database Db"));
    ok(c.command("Db", ".create table T (n:long, host:string, v:real, ts:datetime)"));
    ok(c.command("Db", ".alter table T policy streamingingestion enable"));
  }
  // 0..4999 sealed into extents (the policy's deletion moves them) in `moves` moves (an extent
  // each), 5000..5999 in the rowstore.
  void load(client::connection& c, int64_t moves = 1) {
    for (int64_t m = 0; m < moves; ++m) {
      const int64_t end = 5000 * (m + 1) / moves;
      for (int64_t from = 5000 * m / moves; from < end; from += 1000)
        ASSERT_TRUE(acked(c.ingest(rows(from, std::min<int64_t>(1000, end - from)))));
      ok(c.command("Db", ".delete table T policy streamingingestion"));
      for (int i = 0; i < 500; ++i) {
        auto t = ok(c.command("Db", ".show table T extents"));
        int64_t sealed = 0;
        for (const auto& row : t.rows) sealed += std::get<int64_t>(row[6]);
        if (sealed == end) break;
        std::this_thread::sleep_for(20ms);
      }
      ok(c.command("Db", ".alter table T policy streamingingestion enable"));
    }
    ASSERT_TRUE(acked(c.ingest(rows(5000, 1000))));
  }
  temp_dir dir_;
  std::unique_ptr<node_process> node_;
};

TEST_F(query_test, queries_read_extents_and_the_rowstore_as_one_table) {
  start();
  client::connection c(node_->rpc_address());
  load(c);
  EXPECT_EQ(std::get<int64_t>(ok(c.query("Db", "T | count")).rows[0][0]), 6000);
  auto by_host = ok(c.query("Db", "T | summarize n = count(), total = sum(n) by host | sort by host asc"));
  ASSERT_EQ(by_host.rows.size(), 7u);
  EXPECT_EQ(std::get<std::string>(by_host.rows[0][0]), "h0");
  EXPECT_EQ(std::get<int64_t>(by_host.rows[0][1]), 858);  // 0, 7, ..., 5999: 858 multiples of 7
  int64_t all = 0;
  for (const auto& row : by_host.rows) all += std::get<int64_t>(row[2]);
  EXPECT_EQ(all, 5999 * 6000 / 2);
  auto top = ok(c.query("Db", "T | top 3 by v | project n"));
  ASSERT_EQ(top.rows.size(), 3u);
  EXPECT_EQ(std::get<int64_t>(top.rows[0][0]), 5999);
  auto joined = ok(c.query("Db", "T | where n < 10 | join kind=inner (T | where n % 2 == 0 | project n, even = true) on n | count"));
  EXPECT_EQ(std::get<int64_t>(joined.rows[0][0]), 5);
}

TEST_F(query_test, a_filter_on_a_column_prunes_extent_blocks_and_says_so) {
  start();
  client::connection c(node_->rpc_address());
  load(c);
  // Rows 0..4999 are in the extents, 5000..5999 in the rowstore: a filter past the extents'
  // max reads no block.
  auto t = ok(c.query("Db", "T | where n > 5500 | count"));
  EXPECT_EQ(std::get<int64_t>(t.rows[0][0]), 499);
  const auto stats = property(t, "QueryStats");
  ASSERT_FALSE(stats.empty());
  EXPECT_EQ(json_number(stats, "BlocksScanned") + json_number(stats, "ExtentsScanned"), 0) << stats;
  EXPECT_EQ(json_number(stats, "RowstoreRows"), 1000) << stats;
  auto all = ok(c.query("Db", "T | where v > 0 | count"));
  EXPECT_GT(json_number(property(all, "QueryStats"), "BlocksScanned"), 0);
  EXPECT_EQ(property(ok(c.query("Db", "T | take 1 | render timechart")), "Visualization"),
            R"({"Visualization":"timechart"})");
}

// top N reads the other columns only of blocks that can beat its N-th row so far: n ascends
// through the extents' blocks, so once the first block gave the 3 smallest, no other is read.
TEST_F(query_test, top_skips_the_blocks_that_cannot_beat_its_rows_so_far) {
  start();
  client::connection c(node_->rpc_address());
  load(c, 5);
  const auto all = json_number(property(ok(c.query("Db", "T | where v > 0 | count")), "QueryStats"), "BlocksScanned");
  ASSERT_GT(all, 1) << "the extents hold one block: nothing to skip";
  auto t = ok(c.query("Db", "T | where host != 'h1' | top 3 by n asc nulls last"));
  ASSERT_EQ(t.rows.size(), 3u);
  EXPECT_EQ(std::get<int64_t>(t.rows[0][0]), 0);
  EXPECT_EQ(std::get<int64_t>(t.rows[1][0]), 2);
  EXPECT_EQ(std::get<int64_t>(t.rows[2][0]), 3);
  EXPECT_EQ(std::get<std::string>(t.rows[2][1]), "h3");
  const auto stats = property(t, "QueryStats");
  EXPECT_EQ(json_number(stats, "BlocksScanned"), 1) << stats;
  EXPECT_EQ(json_number(stats, "BlocksPruned"), all - 1) << stats;
  // Descending over the same blocks: the last block holds the largest; the answer is the same
  // with or without skipping.
  auto desc = ok(c.query("Db", "T | where n < 4990 | top 2 by v desc | project n"));
  ASSERT_EQ(desc.rows.size(), 2u);
  EXPECT_EQ(std::get<int64_t>(desc.rows[0][0]), 4989);
  EXPECT_EQ(std::get<int64_t>(desc.rows[1][0]), 4988);
}

TEST_F(query_test, show_queries_and_metrics_tell_what_ran) {
  start();
  client::connection c(node_->rpc_address());
  ASSERT_TRUE(acked(c.ingest(rows(0, 100))));
  ok(c.query("Db", "T | summarize count() by host"));
  failed(c.query("Db", "T | where nope > 1"));
  auto shown = ok(c.command("Db", ".show queries"));
  ASSERT_GE(shown.rows.size(), 2u);
  EXPECT_EQ(shown.columns[1].name, "Text");
  EXPECT_EQ(std::get<std::string>(shown.rows[0][1]), "T | where nope > 1");  // newest first
  EXPECT_EQ(std::get<std::string>(shown.rows[0][5]), "Failed");
  EXPECT_EQ(std::get<std::string>(shown.rows[1][5]), "Completed");
  const auto exposition = http_get(node_->metrics_port(), "/metrics");
  EXPECT_GE(sample(exposition, R"(tributary_query_runs_total{result="ok"})").value_or(0), 1);
  EXPECT_GE(sample(exposition, "tributary_query_rows_scanned_total").value_or(0), 100);
}

TEST_F(query_test, a_query_past_its_memory_limit_fails_naming_the_operator_and_the_node_goes_on) {
  start({"--query-memory-limit", "1MB"});
  client::connection c(node_->rpc_address());
  for (int64_t from = 0; from < 100000; from += 20000) ASSERT_TRUE(acked(c.ingest(rows(from, 20000))));
  // The sort buffers every row (about 3.5 MB here) before it can answer.
  auto e = failed(c.query("Db", "T | sort by n asc | take 1"));
  EXPECT_EQ(e.code, "QueryMemoryLimitExceeded") << e.message;
  EXPECT_NE(e.message.find("'sort'"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("--query-memory-limit"), std::string::npos) << e.message;
  EXPECT_EQ(std::get<int64_t>(ok(c.query("Db", "T | count")).rows[0][0]), 100000);
}

TEST_F(query_test, a_client_that_goes_away_cancels_its_query) {
  start();
  client::connection c(node_->rpc_address());
  for (int64_t from = 0; from < 200000; from += 20000) ASSERT_TRUE(acked(c.ingest(rows(from, 20000))));
  // A slow query: a cross product of sorts (a self-join on a coarse key) over 200,000 rows.
  const std::string slow = "T | join kind=inner (T | project host, m = n) on host | summarize count() by n % 1000";
  const auto log = dir_.path() / "cli.log";
  int pid = spawn_logged({binary_path("tributary").string(), "--node", node_->rpc_address(), "-d", "Db", "query", slow},
                         log, SIGKILL, "tributary query");
  // Wait until the node runs it, then kill the client.
  bool running = false;
  for (int i = 0; i < 500 && !running; ++i) {
    auto shown = ok(c.command("Db", ".show queries"));
    for (const auto& row : shown.rows)
      running |= std::get<std::string>(row[1]) == slow && std::get<std::string>(row[5]) == "InProgress";
    if (!running) std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(running) << "the slow query never showed as running";
  stop_process(pid, SIGKILL, 5s);
  // The node notices the closed connection and stops the query at its next chunk.
  bool cancelled = false;
  for (int i = 0; i < 1000 && !cancelled; ++i) {
    auto shown = ok(c.command("Db", ".show queries"));
    for (const auto& row : shown.rows)
      cancelled |= std::get<std::string>(row[1]) == slow &&
                   std::get<std::string>(row[6]).rfind("QueryCancelled", 0) == 0;
    if (!cancelled) std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(cancelled) << "the query went on after its client had gone";
  EXPECT_EQ(std::get<int64_t>(ok(c.query("Db", "T | count")).rows[0][0]), 200000);
}

}  // namespace
}  // namespace tributary::testing
