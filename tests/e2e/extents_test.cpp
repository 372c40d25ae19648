// Extents through a real node: the rowstore seals into extent files by size and when the policy
// goes; queries see both without missing or doubling a row; registrations survive restarts and
// kill -9; orphan files are removed at start-up; drops remove files; a corrupt extent is an error.

#include <gtest/gtest.h>
#include <atomic>
#include <fstream>
#include <set>
#include <thread>

#include "client/client.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/exposition.hpp"
#include "tests/support/node_process.hpp"
#include "tests/support/outcomes.hpp"
#include "tests/support/run_process.hpp"

namespace tributary::testing {
namespace {

namespace fs = std::filesystem;

client::ingest_request csv(int from, int n) {
  client::ingest_request r;
  r.database = "Db";
  r.table = "T";
  r.fmt = client::format::csv;
  for (int i = from; i < from + n; ++i) r.data += std::to_string(i) + ",row " + std::to_string(i) + "\n";
  return r;
}

int64_t scalar(const model::outcome& o) {
  auto t = ok(o);
  if (t.rows.size() != 1) return -1;
  return std::get<int64_t>(t.rows[0][0]);
}

int64_t extent_rows(client::connection& c) {
  auto t = ok(c.command("Db", ".show table T extents"));
  int64_t n = 0;
  for (const auto& row : t.rows) n += std::get<int64_t>(row[6]);
  return n;
}

// Waits (up to 10 s) until the extents hold `rows` rows.
bool wait_for_extent_rows(client::connection& c, int64_t rows) {
  for (int i = 0; i < 1000; ++i) {
    if (extent_rows(c) == rows) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// The value of `series` (name, or name{labels}) on the node's /metrics; -1 when absent.
double gauge(node_process& node, const std::string& series) {
  return sample(http_get(node.metrics_port(), "/metrics"), series).value_or(-1);
}

// Overwrites four bytes of every extent file under `data_dir` (inside the header: the reader's
// checks fail).
void corrupt_extent_files(const fs::path& data_dir) {
  for (const auto& d : fs::recursive_directory_iterator(data_dir / "extents")) {
    if (!d.is_regular_file()) continue;
    std::fstream f(d.path(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(12);
    f.write("\xff\xff\xff\xff", 4);
  }
}

// Ingests rows 0..n-1 into T and waits until they are all in extents: whether both happened.
bool ingest_sealed(client::connection& c, int n) {
  return std::holds_alternative<client::ingest_ack>(c.ingest(csv(0, n))) && wait_for_extent_rows(c, n);
}

void setup(client::connection& c) {
  ok(c.command("", ".create database Db"));
  ok(c.command("Db", ".create table T (n:long, s:string)"));
  ok(c.command("Db", ".alter table T policy streamingingestion enable"));
}

TEST(extents, seal_by_size_keeps_every_row_exactly_once_across_restarts) {
  temp_dir dir;
  node_process node(dir.path() / "data", {"--streaming-ingestion=on", "--seal-after-bytes", "1"});
  {
    client::connection c(node.rpc_address());
    setup(c);
    for (int i = 0; i < 30; ++i) {
      auto out = c.ingest(csv(i * 10, 10));
      ASSERT_TRUE(std::holds_alternative<client::ingest_ack>(out));
      // Moves run concurrently with ingest and queries: the count never misses or doubles.
      EXPECT_EQ(scalar(c.query("Db", "T | count")), (i + 1) * 10);
    }
    EXPECT_TRUE(wait_for_extent_rows(c, 300)) << "every row ends up in extents, got " << extent_rows(c);
    EXPECT_EQ(scalar(c.query("Db", "T | count")), 300);
    auto rows = ok(c.query("Db", "T | take 1000")).rows;
    ASSERT_EQ(rows.size(), 300u);
    for (int i = 0; i < 300; ++i) EXPECT_EQ(std::get<int64_t>(rows[static_cast<size_t>(i)][0]), i);
    EXPECT_EQ(scalar(c.query("Db", "T | where ingestion_time() > ago(1h) | count")), 300);
    auto ops = ok(c.command("", ".show data operations"));
    ASSERT_EQ(ops.columns[4].name, "OperationKind");
    int64_t sealed_rows = 0;
    for (const auto& row : ops.rows) {
      EXPECT_EQ(std::get<std::string>(row[4]), "RowStoreSeal");
      EXPECT_EQ(std::get<std::string>(row[2]), "T");
      sealed_rows += std::get<int64_t>(row[7]);
    }
    EXPECT_EQ(sealed_rows, 300) << "one RowStoreSeal row per move, covering every row";
  }
  EXPECT_EQ(node.stop(), 0);
  node.restart();
  {
    client::connection c(node.rpc_address());
    EXPECT_EQ(extent_rows(c), 300);
    EXPECT_EQ(scalar(c.query("Db", "T | count")), 300);
    ASSERT_TRUE(std::holds_alternative<client::ingest_ack>(c.ingest(csv(300, 10))));
    EXPECT_TRUE(wait_for_extent_rows(c, 310));
  }
  node.kill();
  node.restart();
  client::connection c(node.rpc_address());
  EXPECT_EQ(scalar(c.query("Db", "T | count")), 310);
  EXPECT_EQ(ok(c.query("Db", "T | take 1000")).rows.size(), 310u);
}

TEST(extents, deleting_the_policy_moves_the_rowstore_to_extents) {
  temp_dir dir;
  node_process node(dir.path() / "data", {"--streaming-ingestion=on"});
  client::connection c(node.rpc_address());
  setup(c);
  ASSERT_TRUE(std::holds_alternative<client::ingest_ack>(c.ingest(csv(0, 10))));
  EXPECT_EQ(extent_rows(c), 0) << "under the default thresholds 10 rows stay in the rowstore";
  ok(c.command("Db", ".delete table T policy streamingingestion"));
  EXPECT_TRUE(wait_for_extent_rows(c, 10));
  EXPECT_EQ(scalar(c.query("Db", "T | count")), 10);
  auto e = std::get<model::error>(c.ingest(csv(10, 1)));
  EXPECT_EQ(e.code, "BadRequest_StreamingIngestionPolicyNotEnabled");
}

TEST(extents, orphans_are_removed_at_start_up_and_drops_remove_files) {
  temp_dir dir;
  node_process node(dir.path() / "data", {"--streaming-ingestion=on", "--seal-after-bytes", "1"});
  {
    client::connection c(node.rpc_address());
    setup(c);
    ASSERT_TRUE(ingest_sealed(c, 10));
  }
  node.stop();
  const auto extents = dir.path() / "data" / "extents";
  fs::path table_dir;
  for (const auto& d : fs::directory_iterator(extents)) table_dir = d.path();
  ASSERT_FALSE(table_dir.empty());
  std::ofstream(table_dir / "999999.trx") << "half-written";
  fs::create_directories(extents / "424242");
  std::ofstream(extents / "424242" / "1.trx") << "of a dropped table";
  node.restart();
  EXPECT_FALSE(fs::exists(table_dir / "999999.trx"));
  EXPECT_FALSE(fs::exists(extents / "424242"));
  client::connection c(node.rpc_address());
  EXPECT_EQ(scalar(c.query("Db", "T | count")), 10);
  ok(c.command("Db", ".drop table T"));
  for (int i = 0; i < 500 && fs::exists(table_dir); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_FALSE(fs::exists(table_dir)) << "a dropped table's extent files are removed";
}

TEST(extents, a_corrupt_extent_is_an_error_and_the_node_keeps_serving) {
  temp_dir dir;
  node_process node(dir.path() / "data", {"--streaming-ingestion=on", "--seal-after-bytes", "1"});
  client::connection c(node.rpc_address());
  setup(c);
  ok(c.command("Db", ".create table U (n:long, s:string)"));
  ok(c.command("Db", ".alter table U policy streamingingestion enable"));
  ASSERT_TRUE(ingest_sealed(c, 10));
  corrupt_extent_files(dir.path() / "data");
  auto e = failed(c.query("Db", "T | take 5"));
  EXPECT_EQ(e.code, "StorageCorruption");
  EXPECT_NE(e.message.find(".trx"), std::string::npos) << e.message;
  EXPECT_EQ(gauge(node, R"(tributary_storage_corruptions_total{what="extent"})"), 1);
  EXPECT_EQ(scalar(c.query("Db", "T | count")), 10) << "counts come from the registry";
  auto u = csv(0, 3);
  u.table = "U";
  EXPECT_TRUE(std::holds_alternative<client::ingest_ack>(c.ingest(u)));
  EXPECT_EQ(ok(c.query("Db", "U | take 5")).rows.size(), 3u);
  EXPECT_TRUE(node.running());
}

TEST(extents, clear_table_data_deletes_rowstore_and_extents_durably) {
  temp_dir dir;
  node_process node(dir.path() / "data", {"--streaming-ingestion=on", "--seal-after-bytes", "300"});
  client::connection c(node.rpc_address());
  setup(c);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(std::holds_alternative<client::ingest_ack>(c.ingest(csv(i * 10, 10))));
  for (int i = 0; i < 200 && extent_rows(c) == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_GT(extent_rows(c), 0);
  // Moves may still run: compare the details with the extents around them once both agree.
  model::result_table details;
  int64_t extents_before = -1, rows_before = -1;
  for (int i = 0; i < 200; ++i) {
    extents_before = static_cast<int64_t>(ok(c.command("Db", ".show table T extents")).rows.size());
    rows_before = extent_rows(c);
    details = ok(c.command("Db", ".show table T details"));
    if (static_cast<int64_t>(ok(c.command("Db", ".show table T extents")).rows.size()) == extents_before &&
        extent_rows(c) == rows_before)
      break;
  }
  EXPECT_EQ(long_cell(details, "TotalExtents"), extents_before);
  EXPECT_EQ(long_cell(details, "TotalRowCount"), rows_before) << "extents only, as Kusto";
  EXPECT_GT(std::get<double>(cell(details, "TotalExtentSize")), 0.0);
  EXPECT_EQ(long_cell(details, "HotRowCount"), long_cell(details, "TotalRowCount"));
  EXPECT_TRUE(std::holds_alternative<int64_t>(cell(details, "MinExtentsCreationTime")));
  auto cleared = ok(c.command("Db", ".clear table T data"));
  ASSERT_EQ(cleared.rows.size(), 1u);
  EXPECT_EQ(std::get<int64_t>(cleared.rows[0][2]), 50) << "ClearedRows";
  EXPECT_EQ(scalar(c.query("Db", "T | count")), 0);
  EXPECT_EQ(extent_rows(c), 0);
  EXPECT_EQ(long_cell(ok(c.command("Db", ".show table T details")), "TotalExtents"), 0);
  size_t files = 0;
  for (const auto& f : fs::recursive_directory_iterator(dir.path() / "data" / "extents")) files += f.is_regular_file();
  EXPECT_EQ(files, 0u) << "the cleared extents' files are removed";
  ASSERT_TRUE(std::holds_alternative<client::ingest_ack>(c.ingest(csv(100, 3))));
  EXPECT_EQ(scalar(c.query("Db", "T | count")), 3);
  node.kill();
  node.restart();
  client::connection c2(node.rpc_address());
  EXPECT_EQ(scalar(c2.query("Db", "T | count")), 3) << "the clear is durable, later rows stay";
  EXPECT_EQ(failed(c2.command("Db", ".clear table Nope data")).code, "BadRequest_TableNotExist");
}

std::string streaming_state(client::connection& c, int64_t* rowstore_bytes = nullptr) {
  auto t = ok(c.command("", ".show cluster streamingingestion"));
  if (t.rows.size() != 1) return "";
  if (rowstore_bytes) *rowstore_bytes = long_cell(t, "RowstoreBytes");
  return std::get<std::string>(cell(t, "State"));
}

TEST(extents, switching_streaming_off_drains_the_rowstore_then_reports_disabled) {
  temp_dir dir;
  node_process node(dir.path() / "data", {"--streaming-ingestion=on", "--max-concurrent-moves", "2"});
  client::connection c(node.rpc_address());
  setup(c);
  ASSERT_TRUE(std::holds_alternative<client::ingest_ack>(c.ingest(csv(0, 10))));
  int64_t rowstore = 0;
  EXPECT_EQ(streaming_state(c, &rowstore), "Enabled");
  // The writer acknowledges before the table accounts the batch in the node's rowstore total
  // (queries stay ordered after it; this total is not): it shows shortly after the ack.
  EXPECT_TRUE(eventually([&] {
    streaming_state(c, &rowstore);
    return rowstore > 0;
  }, std::chrono::seconds(5)));
  auto t = ok(c.command("", ".show cluster streamingingestion"));
  EXPECT_EQ(long_cell(t, "MoversAllowed"), 2) << "an idle node allows --max-concurrent-moves movers";
  EXPECT_EQ(long_cell(t, "RowstoreTablesLeft"), 0) << "counted while disabling";
  EXPECT_EQ(failed(c.command("", ".alter cluster policy streamingingestion disable")).code,
            "BadRequest_StreamingIngestionPoliciesExist");
  ok(c.command("Db", ".delete table T policy streamingingestion"));
  ok(c.command("", ".alter cluster policy streamingingestion disable"));
  auto state = streaming_state(c, &rowstore);
  EXPECT_TRUE(state == "Disabling" || state == "Disabled") << state;
  if (state == "Disabling") {
    auto progress = ok(c.command("", ".show cluster streamingingestion"));
    if (long_cell(progress, "RowstoreBytes") > 0) {
      EXPECT_EQ(long_cell(progress, "RowstoreTablesLeft"), 1);
    }
  }
  for (int i = 0; i < 500 && streaming_state(c, &rowstore) != "Disabled"; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(streaming_state(c, &rowstore), "Disabled");
  EXPECT_EQ(rowstore, 0);
  EXPECT_EQ(extent_rows(c), 10) << "the rowstore moved into extents";
  EXPECT_EQ(scalar(c.query("Db", "T | count")), 10);
}

// Queries running while extent moves switch ranges from the rowstore to extents: every answer is
// one consistent view — at least every row acknowledged before the query was sent, at most every
// row sent, never a row twice. One writer sends keys 0, 1, 2, ... in order, so a consistent view
// holds exactly the keys 0..k-1: aggregates must agree with that (sum = k(k-1)/2, dcount = k),
// and a self-join reads the one snapshot of T on both sides.
TEST(extents, queries_during_moves_neither_miss_nor_double_count_a_row) {
  temp_dir dir;
  node_process node(dir.path() / "data",
                    {"--streaming-ingestion=on", "--seal-after-bytes", "2000", "--max-concurrent-moves", "4"});
  {
    client::connection c(node.rpc_address());
    setup(c);
  }
  constexpr int requests = 300, rows = 10;
  std::atomic<int64_t> acked{0}, sent{0};
  std::atomic<bool> done{false};
  std::thread writer([&] {
    client::connection c(node.rpc_address());
    for (int i = 0; i < requests; ++i) {
      sent += rows;
      if (std::holds_alternative<client::ingest_ack>(c.ingest(csv(i * rows, rows)))) acked += rows;
    }
    done = true;
  });
  client::connection q(node.rpc_address());
  int checks = 0, bad_counts = 0, duplicates = 0, missing = 0, bad_aggregates = 0;
  while (!done) {
    const int64_t before = acked;
    const int64_t n = scalar(q.query("Db", "T | count"));
    bad_counts += n < before || n > sent;
    auto all = ok(q.query("Db", "T | take 100000"));
    std::set<int64_t> keys;
    for (const auto& row : all.rows) duplicates += !keys.insert(std::get<int64_t>(row[0])).second;
    missing += static_cast<int64_t>(keys.size()) < before;
    for (const char* query : {"T | summarize c = count(), s = sum(n), d = dcount(n, 4)",
                              "T | join kind=inner (T | project n) on n | summarize c = count(), s = sum(n), d = dcount(n, 4)"}) {
      const int64_t floor = acked;
      auto t = ok(q.query("Db", query));
      ASSERT_EQ(t.rows.size(), 1u) << query;
      const int64_t c = std::get<int64_t>(t.rows[0][0]), sum = std::get<int64_t>(t.rows[0][1]),
                    distinct = std::get<int64_t>(t.rows[0][2]);
      bad_aggregates += c < floor || c > sent || sum != c * (c - 1) / 2 || distinct != c;
    }
    ++checks;
  }
  writer.join();
  EXPECT_GT(checks, 10);
  EXPECT_EQ(bad_counts, 0) << "a count outside [acknowledged before, sent]";
  EXPECT_EQ(duplicates, 0) << "a row read twice";
  EXPECT_EQ(missing, 0) << "an acknowledged row missing";
  EXPECT_EQ(bad_aggregates, 0) << "an aggregate or a self-join that does not match one view of keys 0..k-1";
  EXPECT_EQ(acked.load(), requests * rows);
  EXPECT_GT(extent_rows(q), 0) << "moves ran during the queries";
  EXPECT_EQ(scalar(q.query("Db", "T | count")), requests * rows);
}

// `where ingestion_time() > ago(...)` skips extents (and blocks) whose ingestion times are all
// older without reading them: a corrupt old extent does not disturb a query of recent rows.
TEST(extents, recent_row_queries_prune_older_extents_unread) {
  temp_dir dir;
  node_process node(dir.path() / "data", {"--streaming-ingestion=on", "--seal-after-bytes", "1"});
  client::connection c(node.rpc_address());
  setup(c);
  ASSERT_TRUE(ingest_sealed(c, 10));
  corrupt_extent_files(dir.path() / "data");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  ASSERT_TRUE(std::holds_alternative<client::ingest_ack>(c.ingest(csv(10, 5))));
  EXPECT_EQ(ok(c.query("Db", "T | where ingestion_time() > ago(1s) | take 100")).rows.size(), 5u);
  EXPECT_EQ(scalar(c.query("Db", "T | where ingestion_time() > ago(1s) | count")), 5);
  EXPECT_EQ(failed(c.query("Db", "T | where ingestion_time() > ago(1h) | take 100")).code, "StorageCorruption")
      << "the old extent is read when the predicate needs it";
}

// Ingests `n` requests of `rows` rows, retrying Throttling; stops at the first other error.
struct ingest_tally {
  int64_t acked_rows = 0;
  int throttled = 0;
  std::optional<model::error> error;
};

ingest_tally ingest_until_error(client::connection& c, int requests, int rows, int from = 0) {
  ingest_tally t;
  for (int i = 0; i < requests; ++i) {
    auto r = c.ingest(csv(from + i * rows, rows));
    if (std::holds_alternative<client::ingest_ack>(r)) {
      t.acked_rows += rows;
      continue;
    }
    auto e = std::get<model::error>(r);
    if (e.code != "Throttling") {
      t.error = e;
      return t;
    }
    ++t.throttled;
    --i;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (t.throttled > 2000) {
      t.error = e;
      return t;
    }
  }
  return t;
}

TEST(disk_budget, extents_past_their_capacity_refuse_ingest_clearly_until_space_is_freed) {
  temp_dir dir;
  node_process node(dir.path() / "data", {"--streaming-ingestion=on", "--seal-after-bytes", "1",
                                          "--disk-budget", "60KB", "--rowstore-reserve", "20000"});
  client::connection c(node.rpc_address());
  setup(c);
  auto t = ok(c.command("", ".show cluster streamingingestion"));
  EXPECT_EQ(long_cell(t, "DiskBudgetBytes"), 60000);
  EXPECT_EQ(long_cell(t, "RowstoreReserveBytes"), 20000);
  EXPECT_EQ(long_cell(t, "ExtentCapacityBytes"), 40000) << "the reserve shrinks what extents may use";
  EXPECT_EQ(long_cell(t, "ExtentBytes"), 0);
  EXPECT_EQ(gauge(node, "tributary_disk_budget_bytes"), 60000);
  EXPECT_EQ(gauge(node, "tributary_extent_capacity_bytes"), 40000);
  EXPECT_EQ(gauge(node, "tributary_rowstore_quota_bytes"), 20000);

  auto tally = ingest_until_error(c, 1000, 100);
  ASSERT_TRUE(tally.error) << "1000 requests of 100 rows fit in 40 kB of extents";
  EXPECT_EQ(tally.error->code, "DiskBudgetExceeded");
  EXPECT_TRUE(tally.error->permanent) << "retrying does not help until space is freed";
  EXPECT_NE(tally.error->message.find("--disk-budget"), std::string::npos) << tally.error->message;
  EXPECT_NE(tally.error->message.find("table 'T'"), std::string::npos) << tally.error->message;
  EXPECT_EQ(scalar(c.query("Db", "T | count")), tally.acked_rows) << "every acknowledged row, nothing refused";
  t = ok(c.command("", ".show cluster streamingingestion"));
  EXPECT_GE(long_cell(t, "ExtentBytes"), 40000);

  ok(c.command("Db", ".clear table T data"));
  EXPECT_EQ(long_cell(ok(c.command("", ".show cluster streamingingestion")), "ExtentBytes"), 0);
  EXPECT_TRUE(std::holds_alternative<client::ingest_ack>(c.ingest(csv(0, 10)))) << "freed space takes ingest again";

  ok(c.command("Db", ".delete table T policy streamingingestion"));
  ok(c.command("", ".alter cluster policy streamingingestion disable"));
  t = ok(c.command("", ".show cluster streamingingestion"));
  EXPECT_EQ(long_cell(t, "RowstoreReserveBytes"), 0);
  EXPECT_EQ(long_cell(t, "ExtentCapacityBytes"), 60000) << "streaming off gives the reserve back to extents";
  EXPECT_EQ(gauge(node, "tributary_extent_capacity_bytes"), 60000);
}

TEST(disk_budget, a_full_rowstore_reserve_throttles_ingest_and_drains_without_waiting_for_thresholds) {
  temp_dir dir;
  // Size and age thresholds far away: only the reserve makes the tables seal.
  node_process node(dir.path() / "data", {"--streaming-ingestion=on", "--seal-after-bytes", "1GB",
                                          "--seal-after-seconds", "3600", "--rowstore-reserve", "30000"});
  client::connection c(node.rpc_address());
  setup(c);
  ok(c.command("Db", ".create table U (n:long, s:string)"));
  ok(c.command("Db", ".alter table U policy streamingingestion enable"));
  auto tally = ingest_until_error(c, 100, 50);
  ASSERT_FALSE(tally.error) << tally.error->code << ": " << tally.error->message;
  EXPECT_GT(tally.throttled, 0) << "100 requests of ~1 kB pass a 30 kB reserve";
  auto t = ok(c.command("", ".show cluster streamingingestion"));
  EXPECT_LE(long_cell(t, "RowstoreBytes"), 30000);
  EXPECT_GT(extent_rows(c), 0) << "the full reserve sealed the table";
  EXPECT_EQ(scalar(c.query("Db", "T | count")), tally.acked_rows);
  EXPECT_EQ(tally.acked_rows, 5000);
}

TEST(disk_budget, a_reserve_not_below_the_budget_is_refused_at_start_up) {
  temp_dir dir;
  auto r = run_process({binary_path("tributaryd").string(), "--data-dir", (dir.path() / "data").string(), "--disk-budget",
                        "10MB", "--rowstore-reserve", "10MB"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("must be less than --disk-budget"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace tributary::testing
