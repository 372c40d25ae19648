// Streaming ingest through a real node: acknowledged means durable and visible, checks in order
// with their own codes, idempotent retries across restarts, drops delete data, overload is
// throttled, and the CLI's ingest splits, retries and reports.

#include <gtest/gtest.h>
#include <fstream>
#include <thread>
#include <zlib.h>

#include "client/client.hpp"
#include "client/render.hpp"
#include "tests/support/exposition.hpp"
#include "tests/support/node_process.hpp"
#include "tests/support/outcomes.hpp"
#include "tests/support/run_process.hpp"

namespace tributary::testing {
namespace {

using client::format;

int64_t count(client::connection& c, const std::string& db, const std::string& query) {
  auto t = ok(c.query(db, query));
  if (t.rows.size() != 1 || t.rows[0].size() != 1) {
    ADD_FAILURE() << "count query returned " << t.rows.size() << " rows";
    return -1;
  }
  return std::get<int64_t>(t.rows[0][0]);
}

client::ingest_ack acked(const client::ingest_outcome& o) {
  if (const auto* e = std::get_if<model::error>(&o)) {
    ADD_FAILURE() << e->code << ": " << e->message;
    return {};
  }
  return std::get<client::ingest_ack>(o);
}

model::error refused(const client::ingest_outcome& o) {
  if (const auto* e = std::get_if<model::error>(&o)) return *e;
  ADD_FAILURE() << "expected an error, got an ack of " << std::get<client::ingest_ack>(o).consumed_records;
  return {};
}

client::ingest_request csv(std::string table, std::string data, std::string id = "") {
  client::ingest_request r;
  r.database = "Db";
  r.table = std::move(table);
  r.fmt = format::csv;
  r.data = std::move(data);
  r.request_id = std::move(id);
  return r;
}

std::string rows(int from, int n) {
  std::string s;
  for (int i = from; i < from + n; ++i)
    s += "2024-05-01T12:00:" + std::to_string(10 + i % 50) + "Z,name " + std::to_string(i) + "," +
         std::to_string(i) + ".5," + std::to_string(i) + "\n";
  return s;
}

class ingest : public ::testing::Test {
 protected:
  void SetUp() override {
    node_ = std::make_unique<node_process>(dir_.path() / "data", std::vector<std::string>{"--streaming-ingestion=on"});
    client::connection c(node_->rpc_address());
    ok(c.command("", ".create database Db"));
    ok(c.command("Db", ".create table T (ts:datetime, name:string, v:real, n:long)"));
    ok(c.command("Db", ".alter table T policy streamingingestion enable"));
  }
  temp_dir dir_;
  std::unique_ptr<node_process> node_;
};

TEST_F(ingest, acknowledged_rows_are_visible_to_the_very_next_query) {
  client::connection c(node_->rpc_address());
  for (int i = 0; i < 50; ++i) {
    auto ack = acked(c.ingest(csv("T", rows(i * 10, 10))));
    EXPECT_EQ(ack.consumed_records, 10u);
    EXPECT_FALSE(ack.duplicate);
    EXPECT_EQ(count(c, "Db", "T | count"), (i + 1) * 10);
  }
  auto t = ok(c.query("Db", "T | take 3"));
  ASSERT_EQ(t.columns.size(), 4u);
  EXPECT_EQ(t.columns[0].type, model::column_type::datetime);
  ASSERT_EQ(t.rows.size(), 3u);
  EXPECT_EQ(client::render_csv(t),
            "ts,name,v,n\n2024-05-01T12:00:10Z,name 0,0.5,0\n2024-05-01T12:00:11Z,name 1,1.5,1\n"
            "2024-05-01T12:00:12Z,name 2,2.5,2\n");
  EXPECT_EQ(count(c, "Db", "T | where ingestion_time() > ago(5m) | count"), 500);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(count(c, "Db", "T | where ingestion_time() > ago(250ms) | count"), 0);
  acked(c.ingest(csv("T", rows(500, 10))));
  EXPECT_EQ(count(c, "Db", "T | where ingestion_time() > ago(250ms) | count"), 10);
  EXPECT_EQ(ok(c.query("Db", "T | where ingestion_time() > ago(250ms) | take 100")).rows.size(), 10u);
}

// Like Kusto, a query result holds at most 500,000 records: one past it is an error that says
// what to do, not a truncated answer nor a message too large for the wire.
TEST_F(ingest, a_result_past_the_record_limit_fails_with_the_fix) {
  client::connection c(node_->rpc_address());
  ok(c.command("Db", ".create table Small (n:long)"));
  ok(c.command("Db", ".alter table Small policy streamingingestion enable"));
  client::ingest_request r;
  r.database = "Db";
  r.table = "Small";
  r.fmt = client::format::csv;
  for (int i = 0; i < 250'001; ++i) r.data += std::to_string(i % 10) + "\n";
  acked(c.ingest(r));
  acked(c.ingest(r));
  EXPECT_EQ(count(c, "Db", "Small | count"), 500'002);
  auto e = failed(c.query("Db", "Small | take 10000000"));
  EXPECT_EQ(e.code, "QueryResultSetTooLarge");
  EXPECT_TRUE(e.permanent);
  EXPECT_NE(e.message.find("500000"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("| count"), std::string::npos) << e.message;
  EXPECT_EQ(ok(c.query("Db", "Small | take 1000")).rows.size(), 1000u);
}

TEST_F(ingest, refuses_in_order_with_codes_that_say_what_to_do) {
  client::connection c(node_->rpc_address());
  ok(c.command("Db", ".create table NoPolicy (a:int)"));
  ok(c.command("Db", ".create table Off (a:int)"));
  ok(c.command("Db", ".alter table Off policy streamingingestion disable"));
  ok(c.command("Db", R"(.create table T ingestion json mapping 'j' '[{"Column":"n","Properties":{"Path":"$.n"}}]')"));

  auto r = csv("Nope", "1\n");
  auto e = refused(c.ingest(r));
  EXPECT_EQ(e.code, "BadRequest_TableNotExist");
  EXPECT_NE(e.message.find("Nope"), std::string::npos);
  r.database = "NoDb";
  EXPECT_EQ(refused(c.ingest(r)).code, "BadRequest_DatabaseNotExist");
  e = refused(c.ingest(csv("NoPolicy", "1\n")));
  EXPECT_EQ(e.code, "BadRequest_StreamingIngestionPolicyNotEnabled");
  EXPECT_NE(e.message.find(".alter table NoPolicy policy streamingingestion enable"), std::string::npos) << e.message;
  EXPECT_EQ(refused(c.ingest(csv("Off", "1\n"))).code, "BadRequest_StreamingIngestionPolicyNotEnabled");
  r = csv("T", rows(0, 1));
  r.mapping_name = "missing";
  EXPECT_EQ(refused(c.ingest(r)).code, "BadRequest_MappingReferenceWasNotFound");
  r.mapping_name = "j";  // a json mapping for csv data
  EXPECT_EQ(refused(c.ingest(r)).code, "BadRequest_InconsistentMapping");
  r = csv("T", rows(0, 1));
  r.properties = {{"ignoreFirstRecord", "true"}};
  e = refused(c.ingest(r));
  EXPECT_NE(e.message.find("ignoreFirstRecord"), std::string::npos) << e.message;
  e = refused(c.ingest(csv("T", std::string(4 * 1024 * 1024 + 1, 'x'))));
  EXPECT_TRUE(e.permanent);
  e = refused(c.ingest(csv("T", "2024-05-01,a,1.5,1\nnot a date,b,2.5,2\n")));
  EXPECT_NE(e.message.find("record 2"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("ts"), std::string::npos) << e.message;
  EXPECT_EQ(count(c, "Db", "T | count"), 0) << "a request with one bad record ingests nothing";

  r = csv("T", R"({"n": 7})" "\n");
  r.fmt = format::json;
  r.mapping_name = "j";
  EXPECT_EQ(acked(c.ingest(r)).consumed_records, 1u);
  ok(c.command("Db", ".delete table T policy streamingingestion"));
  EXPECT_EQ(refused(c.ingest(csv("T", rows(0, 1)))).code, "BadRequest_StreamingIngestionPolicyNotEnabled");
  ok(c.command("Db", ".delete table Off policy streamingingestion"));
  ok(c.command("", ".alter cluster policy streamingingestion disable"));
  EXPECT_EQ(refused(c.ingest(csv("T", rows(0, 1)))).code, "StreamingIngestionFunctionalityDisabled");
  // The switch is checked first, whatever the request names.
  EXPECT_EQ(refused(c.ingest(csv("Nope", rows(0, 1)))).code, "StreamingIngestionFunctionalityDisabled");
  EXPECT_EQ(count(c, "Db", "T | count"), 1);
}

TEST_F(ingest, a_retried_request_id_ingests_nothing_twice_even_across_kill_9) {
  client::connection c(node_->rpc_address());
  EXPECT_FALSE(acked(c.ingest(csv("T", rows(0, 10), "req-1"))).duplicate);
  auto again = acked(c.ingest(csv("T", rows(0, 10), "req-1")));
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.consumed_records, 10u);
  EXPECT_EQ(count(c, "Db", "T | count"), 10);
  node_->kill();
  node_->restart();
  client::connection c2(node_->rpc_address());
  EXPECT_EQ(count(c2, "Db", "T | count"), 10) << "acknowledged rows survive kill -9";
  EXPECT_TRUE(acked(c2.ingest(csv("T", rows(0, 10), "req-1"))).duplicate);
  EXPECT_FALSE(acked(c2.ingest(csv("T", rows(10, 5), "req-2"))).duplicate);
  EXPECT_EQ(count(c2, "Db", "T | count"), 15);
  EXPECT_EQ(node_->stop(), 0);
  node_->restart();
  client::connection c3(node_->rpc_address());
  EXPECT_EQ(count(c3, "Db", "T | count"), 15);
  EXPECT_EQ(ok(c3.query("Db", "T | take 100")).rows.size(), 15u);
}

TEST_F(ingest, dropping_a_table_or_database_deletes_its_rows) {
  client::connection c(node_->rpc_address());
  acked(c.ingest(csv("T", rows(0, 10))));
  ok(c.command("Db", ".drop table T"));
  ok(c.command("Db", ".create table T (ts:datetime, name:string, v:real, n:long)"));
  ok(c.command("Db", ".alter table T policy streamingingestion enable"));
  EXPECT_EQ(count(c, "Db", "T | count"), 0);
  acked(c.ingest(csv("T", rows(0, 3))));
  node_->restart();
  client::connection c2(node_->rpc_address());
  EXPECT_EQ(count(c2, "Db", "T | count"), 3);
  ok(c2.command("", ".drop database Db"));
  ok(c2.command("", ".create database Db"));
  ok(c2.command("Db", ".create table T (ts:datetime, name:string, v:real, n:long)"));
  EXPECT_EQ(count(c2, "Db", "T | count"), 0);
  node_->kill();
  node_->restart();
  client::connection c3(node_->rpc_address());
  EXPECT_EQ(count(c3, "Db", "T | count"), 0);
}

TEST(ingest_overload, is_throttled_at_once_and_loses_nothing) {
  temp_dir dir;
  node_process node(dir.path() / "data", {"--streaming-ingestion=on", "--max-ingests-in-flight", "2"});
  client::connection c(node.rpc_address());
  ok(c.command("", ".create database Db"));
  ok(c.command("Db", ".create table T (ts:datetime, name:string, v:real, n:long)"));
  ok(c.command("Db", ".alter table T policy streamingingestion enable"));
  int sent = 0, throttled = 0, retries_ok = 0;
  c.ingest_pipelined(
      32,
      [&]() -> std::optional<client::ingest_request> {
        if (sent == 400) return std::nullopt;
        auto r = csv("T", rows(sent * 10, 10), "r" + std::to_string(sent));
        ++sent;
        return r;
      },
      [&](const client::ingest_request&, const client::ingest_outcome& o) -> std::optional<std::chrono::milliseconds> {
        if (const auto* e = std::get_if<model::error>(&o)) {
          EXPECT_EQ(e->code, "Throttling");
          EXPECT_FALSE(e->permanent);
          ++throttled;
          return std::chrono::milliseconds(2);
        }
        ++retries_ok;
        return std::nullopt;
      });
  EXPECT_GT(throttled, 0) << "32 in flight against a limit of 2 must throttle";
  EXPECT_EQ(retries_ok, 400);
  EXPECT_EQ(count(c, "Db", "T | count"), 4000);
}

// Without a count limit (the default), overload is judged by queueing delay: 64 large requests in
// flight into one table queue behind each other far past a 1 ms target, so the node refuses
// some of them before parsing (Throttling, transient, naming the flag), and every request is
// ingested exactly once in the end through retries with the same id.
TEST(ingest_overload, requests_waiting_past_the_queue_target_are_refused_and_retries_lose_nothing) {
  temp_dir dir;
  node_process node(dir.path() / "data",
                    {"--streaming-ingestion=on", "--ingest-queue-target=1ms", "--ingest-queue-interval=5ms"});
  client::connection c(node.rpc_address());
  ok(c.command("", ".create database Db"));
  ok(c.command("Db", ".create table T (ts:datetime, name:string, v:real, n:long)"));
  ok(c.command("Db", ".alter table T policy streamingingestion enable"));
  constexpr int requests = 200, per_request = 2000;
  int sent = 0, shed = 0, acks = 0;
  std::string message;
  c.ingest_pipelined(
      64,
      [&]() -> std::optional<client::ingest_request> {
        if (sent == requests) return std::nullopt;
        auto r = csv("T", rows(sent * per_request, per_request), "q" + std::to_string(sent));
        ++sent;
        return r;
      },
      [&](const client::ingest_request&, const client::ingest_outcome& o) -> std::optional<std::chrono::milliseconds> {
        if (const auto* e = std::get_if<model::error>(&o)) {
          EXPECT_EQ(e->code, "Throttling") << e->message;
          EXPECT_FALSE(e->permanent);
          message = e->message;
          ++shed;
          return std::chrono::milliseconds(2);
        }
        EXPECT_FALSE(std::get<client::ingest_ack>(o).duplicate);
        ++acks;
        return std::nullopt;
      });
  EXPECT_GT(shed, 0) << "64 requests of 2,000 rows queued behind each other must wait past 1 ms";
  EXPECT_NE(message.find("--ingest-queue-target"), std::string::npos) << message;
  EXPECT_EQ(acks, requests);
  EXPECT_EQ(count(c, "Db", "T | count"), int64_t{requests} * per_request);
  const auto exposition = http_get(node.metrics_port(), "/metrics");
  EXPECT_EQ(sample(exposition, "tributary_ingest_shed_total"), double(shed));
  EXPECT_GT(sample(exposition, "tributary_ingest_queue_seconds_count").value_or(0), 0);
}

// Kusto's count (six per core) stays available; a count that is no number is refused at start.
TEST(ingest_overload, the_kusto_count_limit_is_an_option) {
  temp_dir dir;
  auto bad = run_process({binary_path("tributaryd").string(), "--data-dir", (dir.path() / "bad").string(),
                          "--max-ingests-in-flight=lots"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("'lots' is not a count"), std::string::npos) << bad.err;
  node_process node(dir.path() / "data", {"--streaming-ingestion=on", "--max-ingests-in-flight=kusto"});
  client::connection c(node.rpc_address());
  ok(c.command("", ".create database Db"));
  ok(c.command("Db", ".create table T (ts:datetime, name:string, v:real, n:long)"));
  ok(c.command("Db", ".alter table T policy streamingingestion enable"));
  const int limit = 6 * static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int sent = 0, throttled = 0, by_count = 0;
  c.ingest_pipelined(
      limit * 4,
      [&]() -> std::optional<client::ingest_request> {
        if (sent == limit * 20) return std::nullopt;
        auto r = csv("T", rows(sent * 1000, 1000), "k" + std::to_string(sent));
        ++sent;
        return r;
      },
      [&](const client::ingest_request&, const client::ingest_outcome& o) -> std::optional<std::chrono::milliseconds> {
        if (const auto* e = std::get_if<model::error>(&o)) {
          // The count refuses at once; a slow machine (a sanitizer build) may also queue the
          // admitted ones past the queueing-delay target.
          EXPECT_EQ(e->code, "Throttling") << e->message;
          if (e->message.find("limit of " + std::to_string(limit) + " ingest requests in flight") != std::string::npos)
            ++by_count;
          else if (e->message.find("--ingest-queue-target") == std::string::npos)
            ADD_FAILURE() << e->message;
          ++throttled;
          return std::chrono::milliseconds(2);
        }
        return std::nullopt;
      });
  EXPECT_GT(by_count, 0) << throttled << " Throttling answers, none for the count";
  EXPECT_EQ(count(c, "Db", "T | count"), int64_t{limit} * 20 * 1000);
}

void write_gzip(const std::filesystem::path& p, const std::string& data) {
  gzFile f = gzopen(p.c_str(), "wb");
  gzwrite(f, data.data(), static_cast<unsigned>(data.size()));
  gzclose(f);
}

TEST_F(ingest, cli_splits_files_on_record_boundaries_and_reports) {
  std::string data;
  for (int i = 0; i < 5000; ++i)
    data += "2024-05-01T00:00:00Z,\"quoted, with comma\nand newline " + std::to_string(i) + "\",1.5," + std::to_string(i) + "\n";
  auto plain = dir_.path() / "rows.csv";
  std::ofstream(plain) << data;
  auto gz = dir_.path() / "rows.csv.gz";
  write_gzip(gz, data);
  auto cli = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {binary_path("tributary").string(), "--node", node_->rpc_address(), "-d", "Db"});
    return run_process(args);
  };
  auto r = cli({"ingest", "--table", "T", "--format", "csv", "--max-request-bytes", "10000", plain.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("5000 rows"), std::string::npos) << r.err;
  r = cli({"ingest", "--table", "T", "--format", "csv", gz.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  client::connection c(node_->rpc_address());
  EXPECT_EQ(count(c, "Db", "T | count"), 10000);
  r = cli({"ingest", "--table", "NoSuchTable", "--format", "csv", plain.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("BadRequest_TableNotExist"), std::string::npos) << r.err;
  r = cli({"query", "T | count"});
  EXPECT_NE(r.out.find("10000"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace tributary::testing
