// Failure isolation and retries that never double, through a real node: a table that fails is
// restarted alone from its durable state; a failing coordinator stops the node non-zero; a failed
// query scan, extent registration or clear leaves memory and disk agreeing; request ids are
// looked up before admission and survive a clear; sequences (and so extent ids) never repeat
// after a clear and a restart; a drop waits for its table's running move. Failures are injected
// with TRIBUTARY_FAIL_AT (storage/crash_point.hpp).

#include <gtest/gtest.h>
#include <set>
#include <thread>

#include "client/client.hpp"
#include "tests/support/exposition.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/node_process.hpp"
#include "tests/support/outcomes.hpp"
#include "tests/support/run_process.hpp"

namespace tributary::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

client::ingest_request csv(const std::string& table, int from, int n, std::string request_id = {}) {
  client::ingest_request r;
  r.database = "Db";
  r.table = table;
  r.fmt = client::format::csv;
  r.request_id = std::move(request_id);
  for (int i = from; i < from + n; ++i) r.data += std::to_string(i) + ",row " + std::to_string(i) + "\n";
  return r;
}

bool acked(const client::ingest_outcome& o) { return std::holds_alternative<client::ingest_ack>(o); }

model::error error_of(const client::ingest_outcome& o) {
  if (const auto* e = std::get_if<model::error>(&o)) return *e;
  ADD_FAILURE() << "expected an error, got an ack";
  return {};
}

int64_t count(client::connection& c, const std::string& table) {
  auto o = c.query("Db", table + " | count");
  if (std::holds_alternative<model::error>(o)) return -1;
  auto t = std::get<model::result_table>(o);
  return t.rows.size() == 1 ? std::get<int64_t>(t.rows[0][0]) : -1;
}


void create_table(client::connection& c, const std::string& table) {
  ok(c.command("Db", ".create table " + table + " (n:long, s:string)"));
  ok(c.command("Db", ".alter table " + table + " policy streamingingestion enable"));
}

void setup(client::connection& c, std::initializer_list<const char*> tables = {"T"}) {
  ok(c.command("", ".create database Db"));
  for (const char* t : tables) create_table(c, t);
}

double metric(node_process& node, const std::string& series) {
  return sample(http_get(node.metrics_port(), "/metrics"), series).value_or(-1);
}

model::result_table extents(client::connection& c, const std::string& table) {
  return ok(c.command("Db", ".show table " + table + " extents"));
}

int64_t extent_rows(client::connection& c, const std::string& table) {
  int64_t n = 0;
  for (const auto& row : extents(c, table).rows) n += std::get<int64_t>(row[6]);
  return n;
}

TEST(hardening, a_failing_table_is_restarted_alone_and_loses_nothing_acknowledged) {
  temp_dir dir;
  node_process node(dir.path() / "data", {"--streaming-ingestion=on"});
  // The second ingest into Bad throws inside its table actor (std::bad_alloc while parsing).
  node.set_env({"TRIBUTARY_FAIL_AT=table.ingest@Bad:2"});
  node.restart();
  client::connection c(node.rpc_address());
  setup(c, {"Bad", "Good"});
  ASSERT_TRUE(acked(c.ingest(csv("Bad", 0, 10, "bad-1"))));
  ASSERT_TRUE(acked(c.ingest(csv("Good", 0, 10))));

  auto failed_ingest = c.ingest(csv("Bad", 10, 10, "bad-2"));
  auto e = error_of(failed_ingest);
  EXPECT_EQ(e.code, "TableRestarting") << e.message;
  EXPECT_FALSE(e.permanent) << "a failure inside the node is worth a retry";
  EXPECT_NE(e.message.find("Bad"), std::string::npos) << e.message;

  // The other table never noticed; the coordinator still serves commands.
  ASSERT_TRUE(acked(c.ingest(csv("Good", 10, 10))));
  EXPECT_EQ(count(c, "Good"), 20);
  EXPECT_EQ(ok(c.command("Db", ".show tables")).rows.size(), 2u);

  // Bad comes back from its durable state with what was acknowledged, and takes the retry.
  EXPECT_TRUE(eventually([&] { return count(c, "Bad") == 10; })) << count(c, "Bad");
  EXPECT_TRUE(eventually([&] { return acked(c.ingest(csv("Bad", 10, 10, "bad-2"))); }));
  EXPECT_EQ(count(c, "Bad"), 20);
  auto dup = c.ingest(csv("Bad", 0, 10, "bad-1"));
  ASSERT_TRUE(acked(dup));
  EXPECT_TRUE(std::get<client::ingest_ack>(dup).duplicate) << "request ids are durable: a restart keeps them";
  EXPECT_EQ(metric(node, "tributary_actor_restarts_total{kind=\"table\"}"), 1);
  EXPECT_EQ(metric(node, "tributary_actors{kind=\"table\"}"), 2) << "one actor per table, the failed one replaced";
  EXPECT_TRUE(node.running());

  EXPECT_EQ(node.stop(), 0);
  node.set_env({});
  node.restart();
  client::connection again(node.rpc_address());
  EXPECT_EQ(count(again, "Bad"), 20);
  EXPECT_EQ(count(again, "Good"), 20);
}

TEST(hardening, a_failing_coordinator_stops_the_node_with_a_non_zero_status) {
  temp_dir dir;
  node_process node(dir.path() / "data", {"--streaming-ingestion=on"});
  {
    client::connection c(node.rpc_address());
    setup(c);
    ASSERT_TRUE(acked(c.ingest(csv("T", 0, 10))));
  }
  EXPECT_EQ(node.stop(), 0);
  node.set_env({"TRIBUTARY_FAIL_AT=coordinator.command@Db"});
  node.restart();
  {
    client::connection c(node.rpc_address());
    auto o = c.command("Db", ".show tables");
    EXPECT_TRUE(std::holds_alternative<model::error>(o)) << "the command that failed is not answered with a table";
  }
  const int status = node.wait_exit(20s);
  EXPECT_NE(status, -1) << "the node stops by itself instead of serving errors forever";
  EXPECT_NE(status, 0) << "a non-zero status tells the supervisor to restart it";
  node.set_env({});
  node.restart();
  client::connection c(node.rpc_address());
  EXPECT_EQ(count(c, "T"), 10);
}

TEST(hardening, a_failing_scan_answers_its_query_and_the_table_goes_on) {
  temp_dir dir;
  node_process node(dir.path() / "data", {"--streaming-ingestion=on"});
  node.set_env({"TRIBUTARY_FAIL_AT=query.scan@T:1"});
  node.restart();
  client::connection c(node.rpc_address());
  setup(c);
  ASSERT_TRUE(acked(c.ingest(csv("T", 0, 10))));
  auto first = c.query("Db", "T | take 5");
  auto e = failed(first);
  EXPECT_EQ(e.code, "InternalServerError") << e.message;
  EXPECT_FALSE(e.permanent);
  EXPECT_EQ(ok(c.query("Db", "T | take 5")).rows.size(), 5u);
  // The table waited for that scan before it could remove files or finish a drop.
  ok(c.command("Db", ".drop table T"));
  EXPECT_TRUE(node.running());
  EXPECT_TRUE(eventually([&] { return metric(node, "tributary_actors{kind=\"table\"}") == 0; }));
}

TEST(hardening, a_failed_registration_backs_off_and_shows_in_data_operations) {
  temp_dir dir;
  // The first three group commits holding an extent registration fail.
  node_process node(dir.path() / "data", {"--streaming-ingestion=on"});
  node.set_env({"TRIBUTARY_FAIL_AT=rowstore.seal:1-3"});
  node.restart();
  client::connection c(node.rpc_address());
  setup(c);
  ASSERT_TRUE(acked(c.ingest(csv("T", 0, 100))));
  ok(c.command("Db", ".delete table T policy streamingingestion"));  // seals at once
  EXPECT_TRUE(eventually([&] { return extent_rows(c, "T") == 100; }));
  EXPECT_TRUE(eventually([&] {
    auto ops = ok(c.command("", ".show data operations"));
    return !ops.rows.empty() && std::get<std::string>(cell(ops, "Result", 0)) == "Completed";
  }));
  auto ops = ok(c.command("", ".show data operations"));
  std::vector<int64_t> failures;  // timestamps, newest first
  for (size_t r = 0; r < ops.rows.size(); ++r) {
    if (std::get<std::string>(cell(ops, "Result", r)) != "Failed") continue;
    failures.push_back(std::get<int64_t>(cell(ops, "Timestamp", r)));
    EXPECT_NE(std::get<std::string>(cell(ops, "Details", r)).find("registering extent"), std::string::npos);
  }
  ASSERT_EQ(failures.size(), 3u) << client::render_table(ops);
  // Backed off (100 ms, then 200 ms), not retried in a hot loop.
  EXPECT_GE(failures[1] - failures[2], 1'000'000) << "100 ms in 100-ns ticks";
  EXPECT_GE(failures[0] - failures[1], 2'000'000);
  EXPECT_EQ(metric(node, "tributary_extent_moves_total{kind=\"seal\",result=\"error\"}"), 3);
  EXPECT_EQ(count(c, "T"), 100);
  EXPECT_EQ(node.stop(), 0);
  node.set_env({});
  node.restart();
  client::connection again(node.rpc_address());
  EXPECT_EQ(count(again, "T"), 100);
  EXPECT_EQ(extent_rows(again, "T"), 100);
}

TEST(hardening, a_failed_clear_changes_nothing_and_a_second_one_clears) {
  temp_dir dir;
  node_process node(dir.path() / "data", {"--streaming-ingestion=on"});
  node.set_env({"TRIBUTARY_FAIL_AT=rowstore.clear:1"});
  node.restart();
  client::connection c(node.rpc_address());
  setup(c);
  ASSERT_TRUE(acked(c.ingest(csv("T", 0, 50))));
  ok(c.command("Db", ".delete table T policy streamingingestion"));
  ASSERT_TRUE(eventually([&] { return extent_rows(c, "T") == 50; }));
  ok(c.command("Db", ".alter table T policy streamingingestion enable"));
  ASSERT_TRUE(acked(c.ingest(csv("T", 50, 10))));  // in the rowstore

  auto e = failed(c.command("Db", ".clear table T data"));
  EXPECT_EQ(e.code, "StorageError") << e.message;
  EXPECT_EQ(count(c, "T"), 60) << "a failed clear deletes nothing, in memory as on disk";
  EXPECT_EQ(extent_rows(c, "T"), 50);
  EXPECT_EQ(node.stop(), 0);
  node.set_env({});
  node.restart();
  {
    client::connection again(node.rpc_address());
    EXPECT_EQ(count(again, "T"), 60) << "memory and disk agreed";
    auto cleared = ok(again.command("Db", ".clear table T data"));
    EXPECT_EQ(long_cell(cleared, "ClearedRows"), 60);
    EXPECT_EQ(count(again, "T"), 0);
    EXPECT_EQ(extents(again, "T").rows.size(), 0u);
  }
  node.kill();
  node.restart();
  client::connection last(node.rpc_address());
  EXPECT_EQ(count(last, "T"), 0);
}

TEST(hardening, request_ids_survive_a_clear_and_sequences_never_repeat) {
  temp_dir dir;
  node_process node(dir.path() / "data", {"--streaming-ingestion=on"});
  std::string first_extent;
  {
    client::connection c(node.rpc_address());
    setup(c);
    ASSERT_TRUE(acked(c.ingest(csv("T", 0, 10, "req-1"))));
    ok(c.command("Db", ".delete table T policy streamingingestion"));
    ASSERT_TRUE(eventually([&] { return extent_rows(c, "T") == 10; }));
    first_extent = std::get<std::string>(extents(c, "T").rows.at(0).at(0));
    ok(c.command("Db", ".alter table T policy streamingingestion enable"));
    ok(c.command("Db", ".clear table T data"));
    EXPECT_EQ(count(c, "T"), 0);
    auto retry = c.ingest(csv("T", 0, 10, "req-1"));
    ASSERT_TRUE(acked(retry));
    EXPECT_TRUE(std::get<client::ingest_ack>(retry).duplicate) << "the retry of an acknowledged request is a duplicate";
    EXPECT_EQ(count(c, "T"), 0) << "and ingests nothing twice";
  }
  EXPECT_EQ(node.stop(), 0);
  node.restart();
  client::connection c(node.rpc_address());
  auto retry = c.ingest(csv("T", 0, 10, "req-1"));
  ASSERT_TRUE(acked(retry));
  EXPECT_TRUE(std::get<client::ingest_ack>(retry).duplicate) << "also after a restart";
  ASSERT_TRUE(acked(c.ingest(csv("T", 100, 10, "req-2"))));
  ok(c.command("Db", ".delete table T policy streamingingestion"));
  ASSERT_TRUE(eventually([&] { return extent_rows(c, "T") == 10; }));
  EXPECT_NE(std::get<std::string>(extents(c, "T").rows.at(0).at(0)), first_extent)
      << "a new extent never takes a cleared extent's id (sequences continue after clear + restart)";
  EXPECT_EQ(count(c, "T"), 10);
}

TEST(hardening, a_retry_of_an_acknowledged_request_is_a_duplicate_whatever_changed) {
  temp_dir dir;
  node_process node(dir.path() / "data", {"--streaming-ingestion=on"});
  client::connection c(node.rpc_address());
  setup(c);
  ASSERT_TRUE(acked(c.ingest(csv("T", 0, 10, "req-1"))));
  ok(c.command("Db", ".alter table T policy streamingingestion disable"));
  auto retry = c.ingest(csv("T", 0, 10, "req-1"));
  ASSERT_TRUE(acked(retry)) << error_of(retry).code;
  EXPECT_TRUE(std::get<client::ingest_ack>(retry).duplicate);
  // A new request is refused, permanently, as before.
  EXPECT_EQ(error_of(c.ingest(csv("T", 10, 10, "req-2"))).code, "BadRequest_StreamingIngestionPolicyNotEnabled");

  ok(c.command("Db", ".delete table T policy streamingingestion"));
  ok(c.command("", ".alter cluster policy streamingingestion disable"));
  retry = c.ingest(csv("T", 0, 10, "req-1"));
  ASSERT_TRUE(acked(retry)) << error_of(retry).code << ": " << error_of(retry).message;
  EXPECT_TRUE(std::get<client::ingest_ack>(retry).duplicate);
  EXPECT_EQ(error_of(c.ingest(csv("T", 10, 10, "req-3"))).code, "StreamingIngestionFunctionalityDisabled");
  EXPECT_EQ(count(c, "T"), 10);
}

TEST(hardening, a_drop_waits_for_its_tables_running_move_and_leaves_no_file) {
  temp_dir dir;
  const auto data = dir.path() / "data";
  node_process node(data, {"--streaming-ingestion=on"});
  client::connection c(node.rpc_address());
  setup(c);
  // Enough rows that the move takes a while (several MiB).
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(acked(c.ingest(csv("T", i * 40'000, 40'000))));
  ok(c.command("Db", ".delete table T policy streamingingestion"));  // the move starts
  ok(c.command("Db", ".drop table T"));
  EXPECT_TRUE(eventually([&] { return metric(node, "tributary_actors{kind=\"table\"}") == 0; }));
  // Once the dropped table's actor is gone, nothing of it writes any more: no file is left.
  std::this_thread::sleep_for(200ms);
  size_t files = 0;
  std::error_code ec;
  for (const auto& f : fs::recursive_directory_iterator(data / "extents", ec)) files += f.is_regular_file();
  EXPECT_EQ(files, 0u) << "a mover finishing after the drop left its extent behind";
  EXPECT_EQ(metric(node, "tributary_movers_running"), 0);
}

}  // namespace
}  // namespace tributary::testing
