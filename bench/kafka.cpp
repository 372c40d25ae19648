// `kafka`: a data connection reading a 16-partition topic of 1 KiB JSON messages (librdkafka's
// mock cluster, in its helper process) into a table, against a bare librdkafka consumer reading
// the same messages and storing nothing (the limit); then produce-to-queryable latency under a
// steady 10,000 messages a second. The mock broker keeps the last 5 MiB of each partition (and
// drops older messages), which bounds the backlog to ~70,000 such messages.
//
// With `tables` > 1: that many topics of 16 / tables partitions (at least one), one table and
// one data connection (one consumer) each, the messages spread evenly over the topics; the bare
// consumer reads every topic's partitions alone.

#include <fmt/format.h>
#include <librdkafka/rdkafkacpp.h>

#include <atomic>
#include <thread>

#include "bench/scenarios.hpp"
#include "tests/support/kafka_mock.hpp"

namespace tributary::bench {
namespace {

using clock = std::chrono::steady_clock;
constexpr int partitions = 16;
constexpr size_t steady_rate = 10'000;       // messages a second
constexpr auto steady_time = std::chrono::seconds(5);

// About 1 KiB: {"x":<n>,"host":"h<k>","msg":"<filler>"}.
std::string message(uint64_t n) {
  static const std::string filler(960, 'm');
  return fmt::format(R"({{"x":{},"host":"h{}","msg":"{}"}})", n, n % 97, filler);
}

int64_t scalar(client::connection& c, const std::string& database, const std::string& query) {
  auto t = expect_ok(c.query(database, query), query);
  if (t.rows.empty() || t.rows[0].empty() || !std::holds_alternative<int64_t>(t.rows[0][0])) return 0;
  return std::get<int64_t>(t.rows[0][0]);
}

// The topics of a run, and their partitions each.
struct layout {
  int tables = 1;
  int partitions_each = partitions;
  std::string topic(int t) const { return tables == 1 ? std::string("bench") : fmt::format("bench{}", t); }
  std::string table(int t) const { return tables == 1 ? std::string("K") : fmt::format("K{}", t); }
  // Message i's topic and partition: round robin over every partition of every topic.
  int slot(uint64_t i) const { return static_cast<int>(i % static_cast<uint64_t>(tables * partitions_each)); }
  std::pair<std::string, int> place(uint64_t i) const {
    return {topic(slot(i) / partitions_each), slot(i) % partitions_each};
  }
  // A query counting the rows of every table.
  std::string count_query() const {
    if (tables == 1) return "K | count";
    std::string q = "union ";
    for (int t = 0; t < tables; ++t) q += (t ? ", " : "") + table(t);
    return q + " | count";
  }
};

// A bare librdkafka consumer assigned `partitions` from their beginning, set as the node's are.
std::unique_ptr<RdKafka::KafkaConsumer> bare_consumer(const std::string& bootstrap,
                                                      std::vector<RdKafka::TopicPartition*> partitions) {
  std::string error;
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  conf->set("bootstrap.servers", bootstrap, error);
  conf->set("group.id", "bench-bare", error);
  conf->set("enable.auto.commit", "false", error);
  conf->set("queued.max.messages.kbytes", "16384", error);  // as the node's consumers
  conf->set("fetch.wait.max.ms", "50", error);
  std::unique_ptr<RdKafka::KafkaConsumer> k(RdKafka::KafkaConsumer::create(conf.get(), error));
  if (!k) throw std::runtime_error("kafka: bare consumer: " + error);
  k->assign(partitions);
  RdKafka::TopicPartition::destroy(partitions);
  return k;
}

// Reads `expected` messages, storing nothing.
void drain(RdKafka::KafkaConsumer& k, uint64_t expected) {
  const auto start = clock::now();
  for (uint64_t seen = 0; seen < expected;) {
    std::unique_ptr<RdKafka::Message> m(k.consume(1000));
    if (m->err() == RdKafka::ERR_NO_ERROR) ++seen;
    else if (m->err() != RdKafka::ERR__TIMED_OUT && m->err() != RdKafka::ERR__PARTITION_EOF)
      throw std::runtime_error("kafka: bare consumer: " + m->errstr());
    if (clock::now() - start > std::chrono::minutes(5)) throw std::runtime_error("kafka: bare consumer stalled");
  }
  k.close();
}

// The limit: librdkafka alone, every partition from the start, nothing stored. Messages a second.
double bare_consumer_rate(const std::string& bootstrap, uint64_t messages, const layout& l) {
  std::vector<RdKafka::TopicPartition*> all;
  for (int t = 0; t < l.tables; ++t)
    for (int p = 0; p < l.partitions_each; ++p)
      all.push_back(RdKafka::TopicPartition::create(l.topic(t), p, RdKafka::Topic::OFFSET_BEGINNING));
  auto k = bare_consumer(bootstrap, std::move(all));
  const auto start = clock::now();
  drain(*k, messages);
  return static_cast<double>(messages) / std::chrono::duration<double>(clock::now() - start).count();
}

// The same messages read by one bare consumer per topic at once, each on its own thread: what
// as many librdkafka instances as the node runs (one per connection) cost here, storing nothing.
double bare_consumers_rate(const std::string& bootstrap, uint64_t messages, const layout& l) {
  std::vector<std::unique_ptr<RdKafka::KafkaConsumer>> consumers;
  std::vector<uint64_t> expected(static_cast<size_t>(l.tables), 0);
  for (uint64_t i = 1; i <= messages; ++i) ++expected[static_cast<size_t>(l.slot(i) / l.partitions_each)];
  for (int t = 0; t < l.tables; ++t) {
    std::vector<RdKafka::TopicPartition*> mine;
    for (int p = 0; p < l.partitions_each; ++p)
      mine.push_back(RdKafka::TopicPartition::create(l.topic(t), p, RdKafka::Topic::OFFSET_BEGINNING));
    consumers.push_back(bare_consumer(bootstrap, std::move(mine)));
  }
  std::vector<std::thread> threads;
  std::vector<std::exception_ptr> failed(consumers.size());
  const auto start = clock::now();
  for (size_t t = 0; t < consumers.size(); ++t)
    threads.emplace_back([&, t] {
      try {
        drain(*consumers[t], expected[t]);
      } catch (...) {
        failed[t] = std::current_exception();
      }
    });
  for (auto& th : threads) th.join();
  const double seconds = std::chrono::duration<double>(clock::now() - start).count();
  for (auto& f : failed)
    if (f) std::rethrow_exception(f);
  return static_cast<double>(messages) / seconds;
}

}  // namespace

scenario_result run_kafka(const options& o, uint64_t messages, int tables) {
  layout l;
  l.tables = std::max(1, tables);
  l.partitions_each = std::max(1, partitions / l.tables);
  // The mock broker drops a partition's oldest messages past 5 MiB: the backlog must fit.
  if (messages > static_cast<uint64_t>(l.tables * l.partitions_each) * 4'400)
    throw std::runtime_error(fmt::format("kafka: {} messages of ~1 KiB do not fit in {} partition(s) of the mock "
                                         "broker (5 MiB each); pass --kafka-messages {} or fewer",
                                         messages, l.tables * l.partitions_each, l.tables * l.partitions_each * 4'400));
  progress(fmt::format("kafka: a mock cluster with {} topic(s) of {} partition(s), {} messages of ~1 KiB", l.tables,
                       l.partitions_each, messages));
  std::vector<std::pair<std::string, int>> topics;
  for (int t = 0; t < l.tables; ++t) topics.emplace_back(l.topic(t), l.partitions_each);
  testing::kafka_mock kafka(topics);
  {
    testing::kafka_producer producer(kafka.bootstrap());
    for (uint64_t i = 1; i <= messages; ++i) {
      const auto [topic, partition] = l.place(i);
      producer.produce(topic, partition, "", message(i));
    }
    producer.flush(std::chrono::minutes(5));
  }
  progress("kafka: the bare librdkafka consumer (the limit)");
  const double limit = bare_consumer_rate(kafka.bootstrap(), messages, l);
  double per_topic = 0;
  if (l.tables > 1) {
    progress(fmt::format("kafka: {} bare consumers, one per topic (for comparison)", l.tables));
    per_topic = bare_consumers_rate(kafka.bootstrap(), messages, l);
  }

  node_under_test node(o, "kafka");
  client::connection c(node.address());
  const auto& db = node.database();
  create_database(c, db, true);
  for (int t = 0; t < l.tables; ++t) {
    expect_ok(c.command(db, fmt::format(".create table {} (x:long, host:string, msg:string)", l.table(t))),
              "create table");
    expect_ok(c.command(db, fmt::format(R"(.create table {} ingestion json mapping "m" '[{{"column":"x","Properties":{{"Path":"$.x"}}}},)"
                                        R"({{"column":"host","Properties":{{"Path":"$.host"}}}},{{"column":"msg","Properties":{{"Path":"$.msg"}}}}]')",
                                        l.table(t))),
              "create mapping");
  }
  // The consumers join their groups first (~3 s each on the mock, staggered over many groups: not
  // the node's work), starting at the topics' ends; once each has its partitions (its Lag known),
  // all are paused, a backlog like the limit's is produced, and all resumed: rows/s from the
  // first row visible to the last.
  progress(fmt::format("kafka: {} data connection(s) joining their groups", l.tables));
  const auto created = clock::now();
  for (int t = 0; t < l.tables; ++t)
    expect_ok(c.command("", fmt::format(".create database {} data connection bench{} kind=kafka with (bootstrapServers='{}', "
                                        "topic='{}', consumerGroup='bench-node-{}', table='{}', format='json', "
                                        "mappingName='m', startFrom='latest')",
                                        db, t, kafka.bootstrap(), l.topic(t), t, l.table(t))),
              "create data connection");
  auto all_assigned = [&] {
    auto shown = expect_ok(c.command("", fmt::format(".show database {} data connections", db)), "show data connections");
    size_t lag = shown.columns.size();
    for (size_t i = 0; i < shown.columns.size(); ++i)
      if (shown.columns[i].name == "Lag") lag = i;
    if (lag == shown.columns.size() || shown.rows.size() != static_cast<size_t>(l.tables)) return false;
    for (const auto& row : shown.rows) {
      const auto* text = std::get_if<std::string>(&row[lag]);
      if (!text || text->size() <= 2) return false;  // "{}": no partition fetched yet
    }
    return true;
  };
  while (!all_assigned()) {
    if (clock::now() - created > std::chrono::minutes(5)) throw std::runtime_error("kafka: the consumers did not join");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  for (int t = 0; t < l.tables; ++t)
    expect_ok(c.command("", fmt::format(".pause database {} data connection bench{}", db, t)), "pause");
  progress("kafka: the backlog, then the data connections resumed");
  {
    testing::kafka_producer producer(kafka.bootstrap());
    for (uint64_t i = 1; i <= messages; ++i) {
      const auto [topic, partition] = l.place(i);
      producer.produce(topic, partition, "", message(i));
    }
    producer.flush(std::chrono::minutes(5));
  }
  const std::string count_query = l.count_query();
  // With many tables the count reads all of them: polled less often, so that polling does not
  // load the node it measures.
  const auto poll_every = std::chrono::milliseconds(std::max(2, l.tables / 5));
  const auto resumed = clock::now();
  for (int t = 0; t < l.tables; ++t)
    expect_ok(c.command("", fmt::format(".resume database {} data connection bench{}", db, t)), "resume");
  // From the first row visible: a resumed consumer's first fetch (tens to hundreds of
  // milliseconds after the command) is not part of its rate.
  clock::time_point first{};
  int64_t first_count = 0, count = 0;
  while (count < static_cast<int64_t>(messages)) {
    std::this_thread::sleep_for(poll_every);
    count = scalar(c, db, count_query);
    if (count > 0 && first == clock::time_point{}) {
      first = clock::now();
      first_count = count;
    }
    if (clock::now() - resumed > std::chrono::minutes(10)) throw std::runtime_error("kafka: the node stalled");
  }
  const double node_seconds = std::chrono::duration<double>(clock::now() - first).count();
  const double node_rate = static_cast<double>(messages - static_cast<uint64_t>(first_count)) / node_seconds;

  // Produce-to-queryable: a steady rate, each message's send time kept; a poller sees the largest x
  // visible every 2 ms, and every message up to it is queryable by then (an upper bound, within the
  // poll's period and its query's time).
  progress(fmt::format("kafka: produce-to-queryable at {} messages/s for {} s", steady_rate, steady_time.count()));
  const uint64_t steady = steady_rate * static_cast<uint64_t>(steady_time.count());
  std::vector<clock::time_point> sent(steady);
  std::atomic<uint64_t> produced{0};
  std::thread feeder([&] {
    testing::kafka_producer producer(kafka.bootstrap());
    const auto start = clock::now();
    for (uint64_t i = 0; i < steady; ++i) {
      std::this_thread::sleep_until(start + std::chrono::microseconds(i * 1'000'000 / steady_rate));
      sent[i] = clock::now();
      produced = i + 1;
      const auto [topic, partition] = l.place(i);
      producer.produce(topic, partition, "", message(messages + 1 + i));
    }
    producer.flush(std::chrono::minutes(1));
  });
  std::vector<double> latencies;
  latencies.reserve(steady);
  uint64_t seen = 0;  // messages of the steady phase known queryable
  const auto deadline = clock::now() + steady_time + std::chrono::seconds(60);
  while (seen < steady && clock::now() < deadline) {
    std::this_thread::sleep_for(poll_every);
    // The steady messages are x = messages+1 ...; with 16 partitions they land out of order, so
    // count them instead of taking the largest x: the first `visible` in order are not certain.
    const int64_t visible = scalar(c, db, count_query) - static_cast<int64_t>(messages);
    const auto now = clock::now();
    const uint64_t upto = std::min<uint64_t>(static_cast<uint64_t>(std::max<int64_t>(visible, 0)), produced.load());
    for (; seen < upto; ++seen) latencies.push_back(std::chrono::duration<double, std::micro>(now - sent[seen]).count());
  }
  feeder.join();
  const auto p2q = summarize(std::move(latencies));

  scenario_result r;
  r.scenario = "kafka";
  r.work = fmt::format(
      "{} JSON messages of ~1 KiB in {} topic(s) of {} partition(s) (librdkafka {}'s mock cluster), read by {} "
      "data connection(s) into as many tables with a json mapping (joined, paused, the backlog produced, "
      "resumed), rows/s from the first row visible to the last; then {} messages/s for {} s, "
      "produce-to-queryable per message (count visible every {} ms)",
      messages, l.tables, l.partitions_each, RdKafka::version_str(), l.tables, steady_rate, steady_time.count(),
      poll_every.count());
  r.limit_work = "a bare librdkafka consumer assigned every partition from the start, reading the same messages "
                 "and storing nothing";
  r.figures = {{"rows_per_s", rounded(node_rate)},
               {"limit_messages_per_s", rounded(limit)},
               {"ratio_to_limit", rounded(node_rate / limit, 3)},
               {"bare_consumers_one_per_topic_messages_per_s", rounded(per_topic)},
               {"produce_to_queryable_p50_ms", rounded(p2q.p50_us / 1000, 2)},
               {"produce_to_queryable_p99_ms", rounded(p2q.p99_us / 1000, 2)},
               {"produce_to_queryable_max_ms", rounded(p2q.max_us / 1000, 2)},
               {"steady_messages_measured", p2q.count}};
  r.extra = {{"node", node.describe()}};
  return r;
}

}  // namespace tributary::bench
