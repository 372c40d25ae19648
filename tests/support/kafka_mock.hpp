#pragma once
/// Test fixture: librdkafka's mock cluster, a real Kafka-protocol broker set on ephemeral loopback
/// ports, in the helper process tributary-kafka-mock (tests/support/kafka_mock_main.cpp), plus a
/// producer for it. librdkafka's headers stay in kafka_mock.cpp: including this one is cheap.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tributary::testing {

/// One mock cluster process, started by the constructor and stopped by `stop` or the destructor.
/// Brokers are numbered 1..brokers; each topic has min(brokers, 3) replicas, leaders spread over
/// the brokers by the mock. Not thread-safe; it must live on the thread that started it (the
/// helper dies with that thread: PR_SET_PDEATHSIG).
class kafka_mock {
 public:
  /// Starts `brokers` brokers with `topics` (name, partitions) created and waits for the helper's
  /// ready file. Throws std::runtime_error naming the helper's log (then kept beside the fixture's
  /// temporary directory), with its tail, if the helper exits or is not ready within 60 s.
  explicit kafka_mock(std::vector<std::pair<std::string, int>> topics = {}, int brokers = 1);
  /// `stop()`, then removes the ready file and the log.
  ~kafka_mock();
  kafka_mock(const kafka_mock&) = delete;
  kafka_mock& operator=(const kafka_mock&) = delete;

  /// "127.0.0.1:<port>,..." of every broker, for bootstrap.servers.
  const std::string& bootstrap() const { return bootstrap_; }
  int brokers() const { return brokers_; }
  int pid() const { return pid_; }
  const std::filesystem::path& log_file() const { return log_; }

  /// Creates topic `name` with `partitions` partitions. Throws std::runtime_error with the
  /// helper's answer (e.g. the topic exists) or when the helper does not answer within 10 s.
  void create_topic(const std::string& name, int partitions);
  /// Broker `id` (1..brokers()) closes its connections and refuses new ones; its partitions keep
  /// it as leader (the mock moves no leadership), so their clients wait for `broker_up`. Throws
  /// like `create_topic`.
  void broker_down(int id);
  /// Broker `id` serves again. Throws like `create_topic`.
  void broker_up(int id);

  /// SIGTERM, then SIGKILL after 5 s; reaps the helper. Does nothing once stopped.
  void stop();

 private:
  /// Sends one command line; returns when the helper answers "ok", throws otherwise.
  void command(const std::string& line);
  /// Kills the helper and throws std::runtime_error: `what`, the log's path and its tail.
  [[noreturn]] void fail(const std::string& what);

  std::filesystem::path dir_;
  std::filesystem::path log_;
  std::string bootstrap_;
  int brokers_ = 1;
  int pid_ = -1;
  int control_fd_ = -1;  ///< our end of the socket pair that is the helper's stdin and stdout
  std::string unread_;   ///< bytes the helper sent past the last answer read
};

/// An idempotent librdkafka producer (enable.idempotence=true, acks=all) for a test's input.
/// `produce` queues; `flush` waits for the brokers' acknowledgements. Not thread-safe.
class kafka_producer {
 public:
  /// Throws std::runtime_error with librdkafka's text if the configuration is refused.
  explicit kafka_producer(const std::string& bootstrap);
  /// Waits up to 10 s for what is still queued, then drops it.
  ~kafka_producer();
  kafka_producer(const kafka_producer&) = delete;
  kafka_producer& operator=(const kafka_producer&) = delete;

  /// Queues one message for `partition` of `topic` (-1: librdkafka's partitioner chooses, by the
  /// key's hash, at random for no key). An empty `key` sends no key (null, not ""). Without
  /// `timestamp_ms` (ms since the epoch) the message gets the producer's clock. Waits while the
  /// local queue is full. Throws std::runtime_error with librdkafka's text when the message is
  /// refused (unknown topic or partition, too large) or an earlier delivery failed (each
  /// failure is thrown once, by this or `flush`).
  /// `headers`: the message's Kafka headers (Event Hub's event properties arrive as these).
  void produce(const std::string& topic, int partition, std::string_view key, std::string_view value,
               std::optional<int64_t> timestamp_ms = std::nullopt,
               const std::vector<std::pair<std::string, std::string>>& headers = {});
  /// Waits until every queued message is acknowledged. Throws std::runtime_error if one failed
  /// (topic, partition and librdkafka's error) or some are unacknowledged after `timeout`; the
  /// latter stay queued, so a later `flush` can still see them delivered.
  void flush(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  /// Messages the brokers have acknowledged so far.
  uint64_t delivered() const;
  /// The broker id that leads `partition` of `topic`, from fresh metadata. Throws
  /// std::runtime_error when the metadata request fails or lacks the partition.
  int partition_leader(const std::string& topic, int partition,
                       std::chrono::milliseconds timeout = std::chrono::seconds(10));

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace tributary::testing
