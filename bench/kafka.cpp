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

#include <algorithm>
#include <atomic>
#include <thread>

#include "bench/scenarios.hpp"
#include "tests/support/kafka_mock.hpp"
#include "tests/support/node_process.hpp"
#include "tests/support/run_process.hpp"

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
  // A query counting the rows of every table, or of `some`.
  std::string count_query(std::vector<int> some = {}) const {
    if (some.empty())
      for (int t = 0; t < tables; ++t) some.push_back(t);
    if (some.size() == 1) return table(some[0]) + " | count";
    std::string q = "union ";
    for (size_t i = 0; i < some.size(); ++i) q += (i ? ", " : "") + table(some[i]);
    return q + " | count";
  }
  // The tables whose latency is measured, in order: all up to 10, else 10 spread evenly.
  std::vector<int> sample() const {
    std::vector<int> out;
    const int step = std::max(1, tables / 10);
    for (int t = 0; t < tables && out.size() < 10; t += step) out.push_back(t);
    return out;
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

// Produces `sent.size()` messages at the steady rate, x = first_x + i, keeping each one's send
// time in `sent[i]` and how many have gone in `produced`. The producer has produced to every
// topic already: a new one's first second (connecting, each topic's metadata) is not latency of
// what consumes.
void feed_steadily(testing::kafka_producer& producer, const layout& l, uint64_t first_x,
                   std::vector<clock::time_point>& sent, std::atomic<uint64_t>& produced) {
  const auto start = clock::now();
  for (uint64_t i = 0; i < sent.size(); ++i) {
    std::this_thread::sleep_until(start + std::chrono::microseconds(i * 1'000'000 / steady_rate));
    sent[i] = clock::now();
    produced = i + 1;
    const auto [topic, partition] = l.place(i);
    producer.produce(topic, partition, "", message(first_x + i));
  }
  producer.flush(std::chrono::minutes(1));
}

// The latency's limit: one bare consumer per topic (as many librdkafka instances as the node
// runs), each on its own thread, from the topics' ends; produce-to-consume per message under the
// steady rate. x in the messages is first_x + their index.
latency_summary bare_consumers_latency(const std::string& bootstrap, testing::kafka_producer& producer, const layout& l,
                                       uint64_t first_x) {
  std::vector<std::unique_ptr<RdKafka::KafkaConsumer>> consumers;
  for (int t = 0; t < l.tables; ++t) {
    std::vector<RdKafka::TopicPartition*> mine;
    for (int p = 0; p < l.partitions_each; ++p)
      mine.push_back(RdKafka::TopicPartition::create(l.topic(t), p, RdKafka::Topic::OFFSET_END));
    consumers.push_back(bare_consumer(bootstrap, std::move(mine)));
  }
  // Each consumer starts at its partitions' ends as the broker has them now, before anything
  // is produced (OFFSET_END would be resolved later, past messages produced meanwhile).
  for (int t = 0; t < l.tables; ++t) {
    std::vector<RdKafka::TopicPartition*> at;
    for (int p = 0; p < l.partitions_each; ++p) {
      int64_t low = 0, high = 0;
      if (const auto e = consumers[static_cast<size_t>(t)]->query_watermark_offsets(l.topic(t), p, &low, &high, 10'000);
          e != RdKafka::ERR_NO_ERROR)
        throw std::runtime_error("kafka: the end of " + l.topic(t) + ": " + RdKafka::err2str(e));
      at.push_back(RdKafka::TopicPartition::create(l.topic(t), p, high));
    }
    consumers[static_cast<size_t>(t)]->assign(at);
    RdKafka::TopicPartition::destroy(at);
  }
  const uint64_t steady = steady_rate * static_cast<uint64_t>(steady_time.count());
  std::vector<clock::time_point> sent(steady), got(steady);
  std::atomic<uint64_t> produced{0}, consumed{0};
  std::atomic<bool> done{false};
  std::vector<std::thread> threads;
  for (auto& k : consumers)
    threads.emplace_back([&, k = k.get()] {
      while (!done) {
        std::unique_ptr<RdKafka::Message> m(k->consume(50));
        if (m->err() != RdKafka::ERR_NO_ERROR) continue;
        const auto now = clock::now();
        const std::string_view text(static_cast<const char*>(m->payload()), m->len());
        const uint64_t x = std::stoull(std::string(text.substr(5, text.find(',') - 5)));
        if (x >= first_x && x - first_x < steady) got[x - first_x] = now;
        ++consumed;
      }
      k->close();
    });
  feed_steadily(producer, l, first_x, sent, produced);
  const auto deadline = clock::now() + std::chrono::seconds(30);
  while (consumed < steady && clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  done = true;
  for (auto& th : threads) th.join();
  std::vector<double> latencies;
  for (uint64_t i = 0; i < steady; ++i)
    if (got[i] != clock::time_point{}) latencies.push_back(std::chrono::duration<double, std::micro>(got[i] - sent[i]).count());
  if (latencies.size() < steady)
    throw std::runtime_error(fmt::format("kafka: the bare consumers read {} of {} messages", latencies.size(), steady));
  return summarize(std::move(latencies));
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
  testing::kafka_producer producer(kafka.bootstrap());  // the run's one producer
  {
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

  progress(fmt::format("kafka: produce-to-consume of {} bare consumer(s), one per topic, at {} messages/s for {} s",
                       l.tables, steady_rate, steady_time.count()));
  const auto bare_latency = bare_consumers_latency(kafka.bootstrap(), producer, l, 10 * messages + 1);

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

  // Produce-to-queryable: a steady rate, each message's send time kept; a poller counts the rows
  // of a sample of the tables (every table up to 10; with more, 10 spread over them: a count
  // over 100 tables takes ~70 ms under this load, which would blur what it measures and load
  // the node measured). The first `visible` of the sample's messages, in the order produced, are
  // queryable by then: an upper bound, within the poll's period and its query's time.
  progress(fmt::format("kafka: produce-to-queryable at {} messages/s for {} s", steady_rate, steady_time.count()));
  const uint64_t steady = steady_rate * static_cast<uint64_t>(steady_time.count());
  const auto sample = l.sample();
  std::vector<uint64_t> in_sample;  // the steady messages of the sampled tables, in order
  for (uint64_t i = 0; i < steady; ++i)
    if (std::binary_search(sample.begin(), sample.end(), l.slot(i) / l.partitions_each)) in_sample.push_back(i);
  const std::string sample_query = l.count_query(sample);
  const int64_t sample_backlog = scalar(c, db, sample_query);
  std::vector<clock::time_point> sent(steady);
  std::atomic<uint64_t> produced{0};
  // The node's own view of the steady phase: its produce-to-queryable histogram and the mean of
  // each stage of an ingest's way.
  auto* process = node.process();
  auto scrape = [&] { return process ? testing::http_get(process->metrics_port(), "/metrics") : std::string(); };
  const auto metrics_before = scrape();
  std::thread feeder([&] { feed_steadily(producer, l, messages + 1, sent, produced); });
  std::vector<double> latencies;
  latencies.reserve(in_sample.size());
  // Every 5 ms: each count still costs the node a query (a snapshot of 10 tables and a round on
  // the query pool); a shorter period would load the node it measures more than it sharpens the
  // figure.
  const auto sample_poll = std::chrono::milliseconds(5);
  const auto deadline = clock::now() + steady_time + std::chrono::seconds(60);
  while (latencies.size() < in_sample.size() && clock::now() < deadline) {
    std::this_thread::sleep_for(sample_poll);
    const int64_t visible = scalar(c, db, sample_query) - sample_backlog;
    const auto now = clock::now();
    const uint64_t sent_so_far = produced.load();
    for (size_t k = latencies.size(); k < static_cast<size_t>(std::max<int64_t>(visible, 0)) && k < in_sample.size() &&
                                      in_sample[k] < sent_so_far;
         ++k)
      latencies.push_back(std::chrono::duration<double, std::micro>(now - sent[in_sample[k]]).count());
  }
  feeder.join();
  const auto metrics_after = scrape();
  const auto stages = process ? ingest_stage_means_us(metrics_before, metrics_after) : json::object();
  const std::string node_histogram = "tributary_connection_produce_to_queryable_seconds";
  const auto p2q = summarize(std::move(latencies));

  scenario_result r;
  r.scenario = "kafka";
  r.work = fmt::format(
      "{} JSON messages of ~1 KiB in {} topic(s) of {} partition(s) (librdkafka {}'s mock cluster), read by {} "
      "data connection(s) into as many tables with a json mapping (joined, paused, the backlog produced, "
      "resumed), rows/s from the first row visible to the last (all tables counted every {} ms); then {} "
      "messages/s for {} s, produce-to-queryable per message of {} table(s) (their rows counted every {} ms)",
      messages, l.tables, l.partitions_each, RdKafka::version_str(), l.tables, poll_every.count(), steady_rate,
      steady_time.count(), sample.size(), sample_poll.count());
  r.limit_work = "a bare librdkafka consumer assigned every partition from the start, reading the same messages "
                 "and storing nothing";
  r.figures = {{"rows_per_s", rounded(node_rate)},
               {"limit_messages_per_s", rounded(limit)},
               {"ratio_to_limit", rounded(node_rate / limit, 3)},
               {"bare_consumers_one_per_topic_messages_per_s", rounded(per_topic)},
               {"produce_to_queryable_p50_ms", rounded(p2q.p50_us / 1000, 2)},
               {"produce_to_queryable_p99_ms", rounded(p2q.p99_us / 1000, 2)},
               {"produce_to_queryable_max_ms", rounded(p2q.max_us / 1000, 2)},
               {"steady_messages_measured", p2q.count},
               {"bare_consumers_produce_to_consume_p50_ms", rounded(bare_latency.p50_us / 1000, 2)},
               {"bare_consumers_produce_to_consume_p99_ms", rounded(bare_latency.p99_us / 1000, 2)},
               {"node_histogram_p50_ms", rounded(histogram_quantile(metrics_before, metrics_after, node_histogram, 0.5) * 1000, 1)},
               {"node_histogram_p99_ms", rounded(histogram_quantile(metrics_before, metrics_after, node_histogram, 0.99) * 1000, 1)}};
  r.extra["node"] = node.describe();
  r.extra["steady_phase_ingest_stage_means_us"] = stages;
  return r;
}

}  // namespace tributary::bench
