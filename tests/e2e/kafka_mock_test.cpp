// The Kafka test support itself (tests/support/kafka_mock): the mock cluster helper process serves
// real Kafka clients — what the producer helper writes, a plain librdkafka consumer reads back,
// each message once, on its partition — and a broker taken down and up again is a real outage
// that idempotent retries ride out without duplicates.

#include <gtest/gtest.h>

#include <librdkafka/rdkafkacpp.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "tests/support/kafka_mock.hpp"

namespace tributary::testing {
namespace {

using namespace std::chrono_literals;

struct record {
  int partition = -1;
  int64_t offset = -1;
  std::string key;
  std::string value;
  int64_t timestamp_ms = -1;
};

/// Every message of `partitions` partitions of `topic`, from the beginning to the end each had
/// when reached. assign() rather than subscribe(): a group join costs ~3 s on the mock.
std::vector<record> consume_all(const std::string& bootstrap, const std::string& topic, int partitions,
                                std::chrono::milliseconds timeout = 10s) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string err;
  for (const auto& [name, value] : std::map<std::string, std::string>{{"bootstrap.servers", bootstrap},
                                                                      {"group.id", "kafka-mock-test"},
                                                                      {"enable.auto.commit", "false"},
                                                                      {"enable.partition.eof", "true"}})
    if (conf->set(name, value, err) != RdKafka::Conf::CONF_OK) throw std::runtime_error(name + ": " + err);
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!consumer) throw std::runtime_error("consumer: " + err);
  std::vector<RdKafka::TopicPartition*> assignment;
  for (int p = 0; p < partitions; ++p)
    assignment.push_back(RdKafka::TopicPartition::create(topic, p, RdKafka::Topic::OFFSET_BEGINNING));
  const auto assigned = consumer->assign(assignment);
  RdKafka::TopicPartition::destroy(assignment);
  if (assigned != RdKafka::ERR_NO_ERROR) throw std::runtime_error("assign: " + RdKafka::err2str(assigned));

  std::vector<record> out;
  std::set<int> at_end;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (static_cast<int>(at_end.size()) < partitions && std::chrono::steady_clock::now() < deadline) {
    std::unique_ptr<RdKafka::Message> m(consumer->consume(100));
    if (m->err() == RdKafka::ERR__PARTITION_EOF) {
      at_end.insert(m->partition());
    } else if (m->err() == RdKafka::ERR_NO_ERROR) {
      out.push_back({m->partition(), m->offset(), m->key() ? *m->key() : std::string(),
                     std::string(static_cast<const char*>(m->payload()), m->len()), m->timestamp().timestamp});
    } else if (m->err() != RdKafka::ERR__TIMED_OUT) {
      ADD_FAILURE() << "consume: " << m->errstr();
    }
  }
  EXPECT_EQ(static_cast<int>(at_end.size()), partitions) << "partitions read to their end within the timeout";
  consumer->close();
  return out;
}

TEST(kafka_mock, produced_messages_are_consumed_once_each_on_their_partition) {
  const auto started = std::chrono::steady_clock::now();
  kafka_mock mock({{"ingest", 4}});
  ASSERT_NE(mock.bootstrap().find("127.0.0.1:"), std::string::npos) << mock.bootstrap();
  constexpr int messages = 1000;
  constexpr int64_t base_ms = 1'700'000'000'000;
  kafka_producer producer(mock.bootstrap());
  for (int i = 0; i < messages; ++i)
    producer.produce("ingest", i % 4, "k" + std::to_string(i), "value-" + std::to_string(i), base_ms + i);
  producer.flush();
  EXPECT_EQ(producer.delivered(), static_cast<uint64_t>(messages));

  const auto got = consume_all(mock.bootstrap(), "ingest", 4);
  ASSERT_EQ(got.size(), static_cast<size_t>(messages));
  std::map<std::string, record> by_key;
  std::map<int, int64_t> next_offset;
  for (const auto& r : got) {
    EXPECT_TRUE(by_key.emplace(r.key, r).second) << "key " << r.key << " consumed twice";
    // Offsets per partition run 0, 1, 2, ...: nothing lost, nothing written twice.
    EXPECT_EQ(r.offset, next_offset[r.partition]++) << "partition " << r.partition;
  }
  for (int i = 0; i < messages; ++i) {
    const auto it = by_key.find("k" + std::to_string(i));
    ASSERT_NE(it, by_key.end()) << "k" << i << " never consumed";
    EXPECT_EQ(it->second.partition, i % 4) << "k" << i;
    EXPECT_EQ(it->second.value, "value-" + std::to_string(i)) << "k" << i;
    EXPECT_EQ(it->second.timestamp_ms, base_ms + i) << "k" << i;
  }
  RecordProperty("seconds", std::to_string(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count()));
}

TEST(kafka_mock, broker_down_holds_its_partitions_until_broker_up) {
  kafka_mock mock({{"ingest", 4}}, 3);
  EXPECT_EQ(mock.brokers(), 3);
  kafka_producer producer(mock.bootstrap());
  producer.produce("ingest", 0, "before", "1");
  producer.flush(10s);

  const int leader = producer.partition_leader("ingest", 0);
  ASSERT_GE(leader, 1);
  ASSERT_LE(leader, 3);
  mock.broker_down(leader);
  producer.produce("ingest", 0, "during", "2");
  EXPECT_THROW(producer.flush(1s), std::runtime_error) << "broker " << leader << " acknowledged while down";
  EXPECT_EQ(producer.delivered(), 1u);

  mock.broker_up(leader);
  producer.flush(15s);  // the queued message goes through once the leader is back
  producer.produce("ingest", 0, "after", "3");
  producer.flush(10s);
  EXPECT_EQ(producer.delivered(), 3u);

  const auto got = consume_all(mock.bootstrap(), "ingest", 1);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].key, "before");
  EXPECT_EQ(got[1].key, "during");
  EXPECT_EQ(got[2].key, "after");
}

TEST(kafka_mock, refused_commands_name_the_reason_and_leave_it_serving) {
  kafka_mock mock({{"ingest", 2}}, 2);
  EXPECT_THROW(mock.broker_down(3), std::runtime_error);
  EXPECT_THROW(mock.create_topic("ingest", 2), std::runtime_error);
  mock.create_topic("late", 3);
  kafka_producer producer(mock.bootstrap());
  producer.produce("late", 2, "k", "v");
  producer.flush(10s);
  EXPECT_EQ(producer.delivered(), 1u);
  try {
    mock.broker_up(0);
    ADD_FAILURE() << "broker-up 0 accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("broker ids are 1 to 2"), std::string::npos) << e.what();
  }
}

TEST(kafka_mock, a_failed_start_names_the_helpers_log_and_its_tail) {
  try {
    kafka_mock mock({{"empty", 0}});
    ADD_FAILURE() << "a topic of 0 partitions started";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("exited during start-up with status 2"), std::string::npos) << what;
    EXPECT_NE(what.find("--topic empty:0"), std::string::npos) << what;
    const auto log_at = what.find("its log (");
    ASSERT_NE(log_at, std::string::npos) << what;
    const std::filesystem::path log = what.substr(log_at + 9, what.find(')', log_at) - log_at - 9);
    EXPECT_TRUE(std::filesystem::exists(log)) << log;
    std::filesystem::remove(log);
  }
}

}  // namespace
}  // namespace tributary::testing
