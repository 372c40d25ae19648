// Data connections against a real Kafka-protocol broker (librdkafka's mock cluster in its helper
// process) and a real node: JSON with a mapping and CSV topics into tables, gzip messages, a bad
// message passed over while the rest go in, a table whose policy is off holding its messages
// until it is on again, pause and resume, exactly once through kill -9 under steady produce, a
// broker down and back, and two nodes of a cluster sharing a topic's partitions through stops,
// returns and kill -9.

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <random>
#include <regex>
#include <thread>

#include "client/client.hpp"
#include "cluster/metadata_store.hpp"
#include "tests/support/etcd_process.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/exposition.hpp"
#include "tests/support/gzip.hpp"
#include "tests/support/kafka_mock.hpp"
#include "tests/support/node_process.hpp"
#include "tests/support/outcomes.hpp"
#include "tests/support/run_process.hpp"

namespace tributary::testing {
namespace {

int64_t scalar(client::connection& c, const std::string& query) {
  auto t = ok(c.query("D", query));
  if (t.rows.empty() || t.rows[0].empty()) return -1;
  if (const auto* v = std::get_if<int64_t>(&t.rows[0][0])) return *v;
  return -1;
}

// How the connections run, as .show tells (for failure messages).
std::string shown_state(client::connection& c) {
  auto t = ok(c.command("", ".show database D data connections"));
  std::string out;
  for (const auto& row : t.rows) {
    for (size_t i = 0; i < t.columns.size(); ++i) {
      const auto& name = t.columns[i].name;
      if (name != "DataConnectionName" && name != "State" && name != "Reason" && name != "Messages" &&
          name != "Records" && name != "Offsets" && name != "LastError")
        continue;
      out += name + "=";
      if (const auto* s = std::get_if<std::string>(&row[i])) out += *s;
      if (const auto* n = std::get_if<int64_t>(&row[i])) out += std::to_string(*n);
      out += " ";
    }
    out += "\n";
  }
  return out;
}

// A cell of connection `name`'s row of .show database D data connections ("" when absent).
std::string shown(client::connection& c, const std::string& name, const std::string& column) {
  auto t = ok(c.command("", ".show database D data connections"));
  size_t name_at = t.columns.size(), at = t.columns.size();
  for (size_t i = 0; i < t.columns.size(); ++i) {
    if (t.columns[i].name == "DataConnectionName") name_at = i;
    if (t.columns[i].name == column) at = i;
  }
  for (const auto& row : t.rows) {
    if (name_at == t.columns.size() || at == t.columns.size() || std::get_if<std::string>(&row[name_at]) == nullptr ||
        std::get<std::string>(row[name_at]) != name)
      continue;
    if (const auto* s = std::get_if<std::string>(&row[at])) return *s;
    if (const auto* n = std::get_if<int64_t>(&row[at])) return std::to_string(*n);
  }
  return "";
}

// The node's stored offsets of connection `name`, partition → next offset (its Offsets column).
std::map<int, int64_t> stored_offsets(client::connection& c, const std::string& name) {
  std::map<int, int64_t> out;
  const std::string json = shown(c, name, "Offsets");
  static const std::regex entry(R"re("(\d+)":(\d+))re");
  for (auto it = std::sregex_iterator(json.begin(), json.end(), entry); it != std::sregex_iterator(); ++it)
    out[std::stoi((*it)[1].str())] = std::stoll((*it)[2].str());
  return out;
}

// Produces {"x":i,"y":"k"} to topic json for i = 1, 2, ... (key i, partitions by the key's
// hash), pausing `pause` after every `burst` messages, until finish().
class steady_feeder {
 public:
  steady_feeder(const std::string& bootstrap, int burst, std::chrono::milliseconds pause)
      : thread_([this, bootstrap, burst, pause] {
          kafka_producer producer(bootstrap);
          for (int i = 1; !stop_; ++i) {
            producer.produce("json", -1, std::to_string(i), R"({"x":)" + std::to_string(i) + R"(,"y":"k"})");
            produced_ = i;
            if (i % burst == 0) std::this_thread::sleep_for(pause);
          }
          producer.flush();
        }) {}
  ~steady_feeder() { finish(); }
  /// Stops, waits until every message is acknowledged by the broker; how many were produced.
  int64_t finish() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return produced_;
  }

 private:
  std::atomic<int> produced_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Database D with tables J (a json mapping m: $.x, $.y) and C, streaming on.
void setup_tables(client::connection& c) {
  ok(c.command("", ".create database D"));
  ok(c.command("D", ".create table J (a:long, b:string)"));
  ok(c.command("D", ".create table C (a:long, b:string)"));
  ok(c.command("D", R"(.create table J ingestion json mapping "m" '[{"column":"a","Properties":{"Path":"$.x"}},)"
                    R"({"column":"b","Properties":{"Path":"$.y"}}]')"));
  ok(c.command("D", ".alter database D policy streamingingestion enable"));
}

// setup_tables, and connections js (topic json into J) and cs (topic csv, gzip, into C).
void setup(client::connection& c, const std::string& bootstrap) {
  setup_tables(c);
  ok(c.command("", ".create database D data connection js kind=kafka with (bootstrapServers='" + bootstrap +
                       "', topic='json', consumerGroup='tributary-js', table='J', format='json', mappingName='m')"));
  ok(c.command("", ".create database D data connection cs kind=kafka with (bootstrapServers='" + bootstrap +
                       "', topic='csv', consumerGroup='tributary-cs', table='C', format='csv', compression='gzip')"));
}

TEST(data_connection, json_and_csv_topics_stream_into_their_tables_and_a_bad_message_is_passed_over) {
  kafka_mock kafka({{"json", 4}, {"csv", 2}});
  temp_dir dir;
  node_process node(dir.path() / "data", {"--streaming-ingestion=on"});
  client::connection c(node.rpc_address());
  setup(c, kafka.bootstrap());
  kafka_producer producer(kafka.bootstrap());
  int64_t json_sum = 0, csv_sum = 0;
  for (int i = 1; i <= 1000; ++i) {
    // One bad message among the good ones: its x is no long.
    if (i == 500) producer.produce("json", -1, "", R"({"x":"not a number","y":"bad"})");
    // Some pretty-printed over several lines, as producers do.
    producer.produce("json", -1, std::to_string(i),
                     i % 7 == 0 ? "{\n  \"x\": " + std::to_string(i) + ",\n  \"y\": \"v\"\n}"
                                : R"({"x":)" + std::to_string(i) + R"(,"y":"v"})");
    json_sum += i;
  }
  for (int i = 1; i <= 300; ++i) {
    const std::string line = std::to_string(i) + ",row" + std::to_string(i) + "\n";
    producer.produce("csv", -1, "", i % 2 ? gzip(line) : line);  // gzip or not, per message
    csv_sum += i;
  }
  producer.flush();
  EXPECT_TRUE(eventually([&] { return scalar(c, "J | count") == 1000; }, std::chrono::seconds(30)))
      << scalar(c, "J | count");
  EXPECT_TRUE(eventually([&] { return scalar(c, "C | count") == 300; }, std::chrono::seconds(30)))
      << scalar(c, "C | count");
  EXPECT_EQ(scalar(c, "J | summarize sum(a)"), json_sum);
  EXPECT_EQ(scalar(c, "C | summarize sum(a)"), csv_sum);
  EXPECT_EQ(scalar(c, "J | summarize n = count() by a | where n > 1 | count"), 0);  // no duplicate
  // How each runs: both Running, every message read, the records stored, the offsets where the
  // topic ends.
  auto listed = ok(c.command("", ".show database D data connections"));
  ASSERT_EQ(listed.rows.size(), 2u);
  auto cell = [&](size_t row, std::string_view column) -> model::value {
    for (size_t i = 0; i < listed.columns.size(); ++i)
      if (listed.columns[i].name == column) return listed.rows[row][i];
    ADD_FAILURE() << "no column " << column;
    return {};
  };
  for (size_t r = 0; r < 2; ++r) {
    const bool js = std::get<std::string>(cell(r, "DataConnectionName")) == "js";
    EXPECT_EQ(std::get<std::string>(cell(r, "State")), "Running");
    EXPECT_EQ(std::get<int64_t>(cell(r, "Records")), js ? 1000 : 300);
    EXPECT_EQ(std::get<int64_t>(cell(r, "Messages")), js ? 1001 : 300);
    EXPECT_EQ(std::get<int64_t>(cell(r, "Failures")), js ? 1 : 0);
  }
  // The bad message, where it is and why.
  auto failures = ok(c.command("", ".show ingestion failures"));
  ASSERT_EQ(failures.rows.size(), 1u);
  auto failure = [&](std::string_view column) -> model::value {
    for (size_t i = 0; i < failures.columns.size(); ++i)
      if (failures.columns[i].name == column) return failures.rows[0][i];
    ADD_FAILURE() << "no column " << column;
    return {};
  };
  EXPECT_EQ(std::get<std::string>(failure("DataConnection")), "js");
  EXPECT_EQ(std::get<std::string>(failure("Table")), "J");
  EXPECT_EQ(std::get<std::string>(failure("Topic")), "json");
  EXPECT_NE(std::get<std::string>(failure("Details")).find("not a number"), std::string::npos)
      << std::get<std::string>(failure("Details"));
  // The same in the node's metrics, and nothing left behind on any partition (the lag is
  // measured each second).
  const std::string js = R"({connection="js",database="D")";
  auto metric = [&](const std::string& text, const std::string& series) { return sample(text, series).value_or(-1); };
  EXPECT_TRUE(eventually([&] {
    const auto text = http_get(node.metrics_port(), "/metrics");
    for (int p = 0; p < 4; ++p)
      if (metric(text, R"(tributary_connection_lag{connection="js",database="D",partition=")" + std::to_string(p) +
                           "\"}") != 0)
        return false;
    return true;
  })) << http_get(node.metrics_port(), "/metrics");
  const auto text = http_get(node.metrics_port(), "/metrics");
  EXPECT_EQ(metric(text, "tributary_connection_messages_total" + js + "}"), 1001);
  EXPECT_EQ(metric(text, "tributary_connection_records_total" + js + "}"), 1000);
  EXPECT_EQ(metric(text, "tributary_connection_records_total{connection=\"cs\",database=\"D\"}"), 300);
  EXPECT_EQ(metric(text, "tributary_connection_failures_total" + js + ",reason=\"" +
                             std::get<std::string>(failure("ErrorCode")) + "\"}"),
            1);
  EXPECT_EQ(metric(text, "tributary_connection_produce_to_queryable_seconds_count" + js + "}"), 1000)
      << "every stored message, timed from its timestamp";
  EXPECT_GT(metric(text, "tributary_connection_bytes_total" + js + "}"), 1000 * 10);
  // The failure is stored with the offset past it: after a kill -9 it is still listed, once,
  // and nothing is read again.
  node.kill();
  node.restart();
  client::connection again(node.rpc_address());
  auto after = ok(again.command("", ".show ingestion failures"));
  EXPECT_EQ(after.rows.size(), 1u);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_EQ(scalar(again, "J | count"), 1000);
  EXPECT_EQ(shown(again, "js", "Records"), "0") << "a restarted consumer finds nothing more to read";
}

TEST(data_connection, a_disabled_policy_holds_messages_and_pause_stops_reading_until_resume) {
  kafka_mock kafka({{"json", 2}, {"csv", 1}});
  temp_dir dir;
  node_process node(dir.path() / "data", {"--streaming-ingestion=on"});
  client::connection c(node.rpc_address());
  setup(c, kafka.bootstrap());
  ok(c.command("D", ".alter table C policy streamingingestion disable"));
  kafka_producer producer(kafka.bootstrap());
  for (int i = 1; i <= 50; ++i) producer.produce("csv", -1, "", std::to_string(i) + ",x\n");
  producer.flush();
  // Read, and held (not dropped): .show says why.
  EXPECT_TRUE(eventually(
      [&] {
        const auto state = shown_state(c);
        return state.find("cs State=Paused Reason=table 'C' in database 'D' has no enabled streaming") !=
                   std::string::npos &&
               state.find("Messages=50 ") != std::string::npos;
      },
      std::chrono::seconds(20)))
      << shown_state(c);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(scalar(c, "C | count"), 0);
  ok(c.command("D", ".alter table C policy streamingingestion enable"));
  EXPECT_TRUE(eventually([&] { return scalar(c, "C | count") == 50; }, std::chrono::seconds(20)))
      << scalar(c, "C | count") << "\n" << shown_state(c);

  ok(c.command("", ".pause database D data connection cs"));
  EXPECT_TRUE(eventually([&] { return shown_state(c).find("cs State=Paused Reason=.pause") != std::string::npos; }))
      << shown_state(c);
  for (int i = 51; i <= 80; ++i) producer.produce("csv", -1, "", std::to_string(i) + ",x\n");
  producer.flush();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_EQ(scalar(c, "C | count"), 50);
  ok(c.command("", ".resume database D data connection cs"));
  EXPECT_TRUE(eventually([&] { return scalar(c, "C | count") == 80; }, std::chrono::seconds(20)))
      << scalar(c, "C | count") << "\n" << shown_state(c);
  EXPECT_EQ(scalar(c, "C | summarize n = count() by a | where n > 1 | count"), 0);
}

// kill -9 at random moments while rows are arriving and a producer keeps producing: every
// produced record is in the table exactly once at the end (offsets stored in the rows' own write
// batch, the consumer resuming there).
TEST(data_connection, exactly_once_through_kill_9_under_steady_produce) {
  kafka_mock kafka({{"json", 4}, {"csv", 1}});
  temp_dir dir;
  // A consumer killed by -9 stays in its group until its session times out: short here, so that
  // the restarted node's consumer gets the partitions back soon.
  node_process node(dir.path() / "data", {"--streaming-ingestion=on", "--kafka-consumer-property=session.timeout.ms=3000",
                                          "--kafka-consumer-property=heartbeat.interval.ms=500"});
  {
    client::connection c(node.rpc_address());
    setup(c, kafka.bootstrap());
  }
  steady_feeder feeder(kafka.bootstrap(), 50, std::chrono::milliseconds(25));  // ~2,000 a second
  std::mt19937 rng(12);
  int64_t seen = 0;
  for (int kill = 0; kill < 5; ++kill) {
    // Rows are arriving (the consumer has its partitions and batches are in flight), then a
    // random moment later: kill -9.
    {
      client::connection c(node.rpc_address());
      ASSERT_TRUE(eventually([&] { return scalar(c, "J | count") > seen; }, std::chrono::seconds(30)))
          << "no progress before kill " << kill;
      seen = scalar(c, "J | count");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 300)(rng)));
    node.kill();
    node.restart();
  }
  const int64_t total = feeder.finish();
  client::connection c(node.rpc_address());
  EXPECT_TRUE(eventually([&] { return scalar(c, "J | count") >= total; }, std::chrono::seconds(60)))
      << scalar(c, "J | count") << " of " << total;
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // nothing more arrives
  EXPECT_EQ(scalar(c, "J | count"), total);
  EXPECT_EQ(scalar(c, "J | summarize n = count() by a | where n > 1 | count"), 0);  // no duplicate
  EXPECT_EQ(scalar(c, "J | summarize sum(a)"), total * (total + 1) / 2);
}

// The broker goes away and comes back: the connection says what failed meanwhile and goes on by
// itself, every message once.
TEST(data_connection, a_broker_down_and_back_is_recovered_from_by_itself) {
  kafka_mock kafka({{"json", 2}, {"csv", 1}});
  temp_dir dir;
  node_process node(dir.path() / "data", {"--streaming-ingestion=on"});
  client::connection c(node.rpc_address());
  setup(c, kafka.bootstrap());
  {
    kafka_producer producer(kafka.bootstrap());
    for (int i = 1; i <= 100; ++i) producer.produce("json", -1, "", R"({"x":)" + std::to_string(i) + "}");
    producer.flush();
  }
  ASSERT_TRUE(eventually([&] { return scalar(c, "J | count") == 100; }, std::chrono::seconds(20))) << shown_state(c);
  kafka.broker_down(1);
  // librdkafka notices the connection gone and says so (the consumer's last error).
  EXPECT_TRUE(eventually([&] { return !shown(c, "js", "LastError").empty(); }, std::chrono::seconds(20)))
      << shown_state(c);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  kafka.broker_up(1);
  {
    kafka_producer producer(kafka.bootstrap());
    for (int i = 101; i <= 200; ++i) producer.produce("json", -1, "", R"({"x":)" + std::to_string(i) + "}");
    producer.flush();
  }
  EXPECT_TRUE(eventually([&] { return scalar(c, "J | count") == 200; }, std::chrono::seconds(30)))
      << scalar(c, "J | count") << "\n" << shown_state(c);
  EXPECT_EQ(scalar(c, "J | summarize sum(a)"), 200 * 201 / 2);
  EXPECT_EQ(shown(c, "js", "State"), "Running");
}

// Two nodes of a cluster run the same connection in one consumer group, and Kafka's group
// protocol spreads the topic's partitions over them. One node stops cleanly: the other takes its
// partitions and resumes where the stopped one released them. It comes back and gets partitions
// again. The other is killed -9: the partitions it held wait (the killed node may have stored rows
// of them past any offset another node knows) until it is back. Every record produced meanwhile
// is in the table exactly once, read through either node.
TEST(data_connection, two_nodes_share_partitions_through_a_stop_a_return_and_a_kill_9_exactly_once) {
  kafka_mock kafka({{"json", 4}, {"csv", 1}});
  etcd_process etcd;
  temp_dir dir_a, dir_b;
  auto args = [&](const std::string& id) {
    return std::vector<std::string>{"--metadata", etcd.url(), "--cluster-name", "dc", "--node-id", id,
                                    "--streaming-ingestion", "on", "--kafka-consumer-property=session.timeout.ms=3000",
                                    "--kafka-consumer-property=heartbeat.interval.ms=500"};
  };
  node_process a(dir_a.path(), args("a")), b(dir_b.path(), args("b"));
  {
    client::connection c(a.rpc_address());
    setup(c, kafka.bootstrap());
  }
  steady_feeder feeder(kafka.bootstrap(), 20, std::chrono::milliseconds(20));  // ~1,000 a second
  auto records = [](node_process& n) {
    client::connection c(n.rpc_address());
    const auto r = shown(c, "js", "Records");
    return r.empty() ? int64_t{0} : std::stoll(r);
  };
  auto state = [](node_process& n) {
    client::connection c(n.rpc_address());
    return shown_state(c);
  };
  // Both nodes read some of the partitions.
  ASSERT_TRUE(eventually([&] { return records(a) > 0 && records(b) > 0; }, std::chrono::seconds(30)))
      << "a: " << state(a) << "b: " << state(b);

  // b stops cleanly: a goes on with b's partitions from where b released them.
  std::map<int, int64_t> of_b;
  {
    client::connection c(b.rpc_address());
    of_b = stored_offsets(c, "js");
  }
  ASSERT_FALSE(of_b.empty()) << state(b);
  EXPECT_EQ(b.stop(), 0);
  EXPECT_TRUE(eventually(
      [&] {
        client::connection c(a.rpc_address());
        const auto of_a = stored_offsets(c, "js");
        for (const auto& [p, next] : of_b)
          if (!of_a.contains(p) || of_a.at(p) <= next) return false;
        return true;
      },
      std::chrono::seconds(30)))
      << "b had " << of_b.size() << " partition(s); a: " << state(a);

  // b comes back and reads again.
  b.restart();
  EXPECT_TRUE(eventually([&] { return records(b) > 0; }, std::chrono::seconds(30))) << "b: " << state(b);

  // a is killed: b gets a's partitions once a's session is over, and waits for them.
  a.kill();
  EXPECT_TRUE(eventually([&] { return state(b).find("waits for node a") != std::string::npos; },
                         std::chrono::seconds(30)))
      << "b: " << state(b);
  a.restart();
  const int64_t total = feeder.finish();
  client::connection c(b.rpc_address());
  EXPECT_TRUE(eventually([&] { return scalar(c, "J | count") >= total; }, std::chrono::seconds(60)))
      << scalar(c, "J | count") << " of " << total << "\na: " << state(a) << "b: " << state(b);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // nothing more arrives
  EXPECT_EQ(scalar(c, "J | count"), total);
  EXPECT_EQ(scalar(c, "J | summarize n = count() by a | where n > 1 | count"), 0);  // no duplicate
  EXPECT_EQ(scalar(c, "J | summarize sum(a)"), total * (total + 1) / 2);           // no gap
  EXPECT_EQ(shown(c, "js", "State"), "Running") << state(b);

  // Dropped, the connections leave no partition record in etcd (each node erases them once its
  // own consumer has stopped and released).
  auto store = cluster::open_etcd(etcd.url());
  ASSERT_TRUE(std::holds_alternative<std::unique_ptr<cluster::metadata_store>>(store));
  auto& etcd_store = *std::get<std::unique_ptr<cluster::metadata_store>>(store);
  auto records_left = [&] {
    auto r = etcd_store.range("/tributary/dc/sources/", true);
    return std::holds_alternative<cluster::range_result>(r) ? std::get<cluster::range_result>(r).kvs.size() : size_t{999};
  };
  EXPECT_GT(records_left(), 0u) << "the partitions that changed hands have records";
  ok(c.command("", ".drop database D data connection js"));
  ok(c.command("", ".drop database D data connection cs"));
  EXPECT_TRUE(eventually([&] { return records_left() == 0; }, std::chrono::seconds(20)))
      << records_left() << " record(s) left";
}

// Event Hub's per-event properties Table, Format and IngestionMappingReference, as Kafka headers,
// send a message elsewhere than its connection says; a message routed to a table or mapping
// that does not exist, or with a format that is none, is listed as a failure and passed over
// (the connection's own table holds instead: the first test). Case-sensitive, as Kusto's.
TEST(data_connection, headers_route_a_message_to_another_table_format_and_mapping) {
  kafka_mock kafka({{"routed", 1}});
  temp_dir dir;
  node_process node(dir.path() / "data", {"--streaming-ingestion=on"});
  client::connection c(node.rpc_address());
  setup_tables(c);
  ok(c.command("D", R"(.create table C ingestion csv mapping "swapped" '[{"column":"a","Properties":{"Ordinal":"1"}},)"
                    R"({"column":"b","Properties":{"Ordinal":"0"}}]')"));
  ok(c.command("", ".create database D data connection rt kind=kafka with (bootstrapServers='" + kafka.bootstrap() +
                       "', topic='routed', consumerGroup='tributary-rt', table='J', format='json', mappingName='m', "
                       "startFrom='earliest')"));
  kafka_producer producer(kafka.bootstrap());
  using headers = std::vector<std::pair<std::string, std::string>>;
  producer.produce("routed", 0, "", R"({"x":1,"y":"j"})");
  producer.produce("routed", 0, "", "2,c\n", std::nullopt, headers{{"Table", "C"}, {"Format", "csv"}});
  producer.produce("routed", 0, "", "c,3\n", std::nullopt,
                   headers{{"Table", "C"}, {"Format", "CSV"}, {"IngestionMappingReference", "swapped"}});
  producer.produce("routed", 0, "", R"({"x":4,"y":"j"})", std::nullopt, headers{{"Table", "Nope"}});
  producer.produce("routed", 0, "", "5,c\n", std::nullopt, headers{{"Table", "C"}, {"Format", "parquet"}});
  producer.produce("routed", 0, "", "6,c\n", std::nullopt,
                   headers{{"Table", "C"}, {"Format", "csv"}, {"IngestionMappingReference", "missing"}});
  producer.produce("routed", 0, "", R"({"x":7,"y":"j"})", std::nullopt, headers{{"table", "C"}});  // not "Table"
  producer.produce("routed", 0, "", "8,c\n", std::nullopt, headers{{"Table", "C"}, {"Format", "csv"}});
  producer.produce("routed", 0, "", "9,c\n", std::nullopt, headers{{"Table", std::string(2000, 'T')}});
  producer.flush();
  EXPECT_TRUE(eventually([&] { return scalar(c, "J | count") == 2 && scalar(c, "C | count") == 3; },
                         std::chrono::seconds(30)))
      << "J " << scalar(c, "J | count") << ", C " << scalar(c, "C | count") << "\n" << shown_state(c);
  EXPECT_EQ(scalar(c, "J | summarize sum(a)"), 1 + 7);
  EXPECT_EQ(scalar(c, "C | summarize sum(a)"), 2 + 3 + 8);
  EXPECT_EQ(scalar(c, "C | where b == 'c' | count"), 3) << "the swapped mapping read column 1 into a";
  auto failures = ok(c.command("", ".show ingestion failures"));
  std::map<std::string, std::string> why;  // table -> error code
  for (const auto& row : failures.rows) {
    std::string table, code;
    for (size_t i = 0; i < failures.columns.size(); ++i) {
      if (failures.columns[i].name == "Table") table = std::get<std::string>(row[i]);
      if (failures.columns[i].name == "ErrorCode") code = std::get<std::string>(row[i]);
    }
    why[table + " " + code] = code;
  }
  EXPECT_EQ(failures.rows.size(), 4u);
  EXPECT_TRUE(why.contains("Nope BadRequest_TableNotExist")) << failures.rows.size();
  EXPECT_TRUE(why.contains("J BadRequest_InvalidFormat"));
  EXPECT_TRUE(why.contains("C BadRequest_MappingReferenceWasNotFound"));
  EXPECT_TRUE(why.contains("J BadRequest_InvalidArgument")) << "a 2,000-byte table name is no name";
  EXPECT_EQ(shown(c, "rt", "State"), "Running") << shown_state(c);
}

// Event Hub's system properties into columns: CSV records get them as their first fields in
// Kusto's order (whatever order the connection lists them in), JSON objects as members a mapping
// reads by path; every record of a message carries its message's.
TEST(data_connection, event_system_properties_fill_columns_in_csv_and_json) {
  kafka_mock kafka({{"props", 2}, {"jprops", 1}});
  temp_dir dir;
  node_process node(dir.path() / "data", {"--streaming-ingestion=on"});
  client::connection c(node.rpc_address());
  ok(c.command("", ".create database D"));
  ok(c.command("D", ".create table S (Enqueued:datetime, Offset:long, Partition:int, Key:string, a:long)"));
  ok(c.command("D", ".create table P (Offset:long, Key:string, a:long)"));
  ok(c.command("D", R"(.create table P ingestion json mapping "m" '[{"column":"Offset","Properties":{"Path":"$.x-opt-offset"}},)"
                    R"({"column":"Key","Properties":{"Path":"$.x-opt-partition-key"}},{"column":"a","Properties":{"Path":"$.a"}}]')"));
  ok(c.command("D", ".alter database D policy streamingingestion enable"));
  ok(c.command("", ".create database D data connection s kind=kafka with (bootstrapServers='" + kafka.bootstrap() +
                       "', topic='props', consumerGroup='g-s', table='S', format='csv', "
                       "eventSystemProperties='x-opt-partition-key,x-opt-partition,x-opt-offset,x-opt-enqueued-time')"));
  ok(c.command("", ".create database D data connection p kind=kafka with (bootstrapServers='" + kafka.bootstrap() +
                       "', topic='jprops', consumerGroup='g-p', table='P', format='json', mappingName='m', "
                       "eventSystemProperties='x-opt-offset,x-opt-partition-key')"));
  const int64_t at_ms = 1'796'640'000'123;  // 2026-12-07T10:40:00.123Z
  {
    kafka_producer producer(kafka.bootstrap());
    for (int i = 0; i < 10; ++i) producer.produce("props", 1, "key,\"" + std::to_string(i), std::to_string(i) + "\n", at_ms + i);
    producer.produce("props", 0, "", "100\n101\n", at_ms);  // two records, one message, no key
    // A 900 kB key on 5,000 short records would be 4.5 GB with the key on each: refused, listed
    // as a failure, and the partition goes on.
    std::string lines;
    for (int i = 0; i < 5000; ++i) lines += "7\n";
    producer.produce("props", 0, std::string(900'000, 'k'), lines, at_ms);
    producer.produce("props", 0, "", "102\n", at_ms);
    for (int i = 0; i < 5; ++i) producer.produce("jprops", 0, "k" + std::to_string(i), R"({"a":)" + std::to_string(i) + "}");
    producer.produce("jprops", 0, "", R"([{"a":10},{"a":11}])");
    producer.flush();
  }
  ASSERT_TRUE(eventually([&] { return scalar(c, "S | count") == 13 && scalar(c, "P | count") == 7; },
                         std::chrono::seconds(20)))
      << shown_state(c);
  auto failures = ok(c.command("", ".show ingestion failures"));
  ASSERT_EQ(failures.rows.size(), 1u);
  for (size_t i = 0; i < failures.columns.size(); ++i) {
    if (failures.columns[i].name == "ErrorCode") {
      EXPECT_EQ(std::get<std::string>(failures.rows[0][i]), "BadRequest_RequestTooLarge");
    }
  }
  // Partition 1 held the ten keyed messages at offsets 0..9, in order.
  EXPECT_EQ(scalar(c, "S | where Partition == 1 and Offset == a and Key == strcat('key,\"', a) | count"), 10);
  EXPECT_EQ(scalar(c, "S | where Partition == 1 and Enqueued == datetime(2026-12-07T10:40:00.123Z) + a * 1ms | count"), 10);
  EXPECT_EQ(scalar(c, "S | where Partition == 0 and Offset == 0 and Key == '' | count"), 2);
  EXPECT_EQ(scalar(c, "S | where Partition == 0 and Offset == 2 and a == 102 | count"), 1);
  EXPECT_EQ(scalar(c, "P | where Offset == a and Key == strcat('k', a) | count"), 5);
  EXPECT_EQ(scalar(c, "P | where Offset == 5 and Key == '' and a in (10, 11) | count"), 2);
}

// A node that throttles (its rowstore reserve full until the table's rows move to an extent):
// the connection stops fetching the partition, says why, and goes on by itself once the node
// takes rows again; every message once.
TEST(data_connection, a_throttling_node_pauses_fetching_and_resumes_by_itself) {
  kafka_mock kafka({{"json", 1}, {"csv", 1}});
  temp_dir dir;
  // Only the full reserve makes the table seal (size and age thresholds far away).
  node_process node(dir.path() / "data", {"--streaming-ingestion=on", "--seal-after-bytes", "1GB",
                                          "--seal-after-seconds", "3600", "--rowstore-reserve", "30000"});
  client::connection c(node.rpc_address());
  setup(c, kafka.bootstrap());
  {
    kafka_producer producer(kafka.bootstrap());
    for (int i = 1; i <= 3000; ++i)
      producer.produce("csv", 0, "", std::to_string(i) + "," + std::string(60, 'x') + "\n");
    producer.flush();
  }
  EXPECT_TRUE(eventually([&] { return scalar(c, "C | count") == 3000; }, std::chrono::seconds(60)))
      << scalar(c, "C | count") << "\n" << shown_state(c);
  EXPECT_EQ(scalar(c, "C | summarize n = count() by a | where n > 1 | count"), 0);
  EXPECT_EQ(scalar(c, "C | summarize sum(a)"), 3000 * 3001 / 2);
  EXPECT_NE(shown(c, "cs", "LastError").find("Throttling"), std::string::npos)
      << "~200 kB of rows through a 30 kB reserve: " << shown_state(c);
  EXPECT_TRUE(eventually([&] { return shown(c, "cs", "State") == "Running"; })) << shown_state(c);
}

}  // namespace
}  // namespace tributary::testing
