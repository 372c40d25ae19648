#pragma once
/// Data connections (docs/data-connections.md): every data connection of the catalog runs on the
/// node as a Kafka consumer (librdkafka) in the connection's consumer group. Its messages become
/// ingests through the gateway, each carrying the partition's next offset, which the rowstore
/// writer stores in the same write batch as the rows (exactly once, storage/FORMAT.md "Source
/// offsets"); on every partition assignment the consumer resumes at the stored offsets.
///
/// One thread per running connection: it polls, batches each partition's messages (one batch in
/// flight per partition, the next gathering meanwhile, at most `max_batch_bytes`), and handles
/// the answers: Throttling and other transient errors are retried with the same request id; a
/// disabled policy, a switched-off cluster or a missing table holds the partition (nothing is
/// dropped) and says why; a message the table cannot take is recorded as an ingestion failure
/// and passed over, its offset stored all the same.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "model/catalog.hpp"

namespace tributary::actors {
class gateway;
}
namespace tributary::storage {
class store;
}
namespace tributary::monitoring {
class connection_probe;
}

namespace tributary::connectors {

struct settings {
  /// At most this many bytes of messages in one batch (a partition's next batch is sent once
  /// the previous one is answered, with what gathered meanwhile).
  size_t max_batch_bytes = 1u << 20;
  /// librdkafka's fetch buffer per consumer (queued.max.messages.kbytes).
  size_t fetch_buffer_kbytes = 16u << 10;
  /// Extra librdkafka properties for every consumer (tests: shorter session timeouts).
  std::map<std::string, std::string> consumer_properties;
  /// Where each running connection's metrics go; null: none. Must outlive the manager's consumers.
  monitoring::connection_probe* probe = nullptr;
};

/// In a cluster, where a partition that changes nodes resumes (docs/data-connections.md "Across
/// the cluster"): each node records in the metadata store, per connection and partition, whether
/// it holds the partition ("held", written before it stores any of its rows) or released it
/// ("released <next offset>", written after its last rows are stored). A node taking a partition
/// resumes at the largest released offset and its own, and waits while another node still
/// holds it. node/main.cpp binds these to cluster::member.
struct cluster_link {
  std::string self;  ///< this node's id
  /// Every record of a connection: "<partition>/<node>" → value.
  std::function<std::variant<std::map<std::string, std::string>, model::error>(uint64_t connection)> read;
  /// Writes this node's records of a connection ("<partition>" → value).
  std::function<std::optional<model::error>(uint64_t connection, const std::map<std::string, std::string>&)> write;
  /// The cluster's nodes now (a dropped node's records no longer count).
  std::function<std::set<std::string>()> nodes;
  /// Erases every node's records of a dropped connection. Each node does it once its own
  /// consumer has stopped (and written its releases): what the last one leaves is nothing.
  std::function<std::optional<model::error>(uint64_t connection)> forget;
};

/// What `.show database D data connections` adds from the node: how its consumer is doing.
struct connection_status {
  std::string database;
  std::string name;
  std::string state;   ///< Starting, Running, Paused (a reason), Failed (a reason)
  std::string reason;  ///< why it is not Running; empty when it is
  uint64_t messages = 0;
  uint64_t records = 0;
  uint64_t failures = 0;
  std::map<int32_t, int64_t> stored;  ///< partition → next offset stored with its rows
  std::map<int32_t, int64_t> lag;     ///< partition read here → messages not stored yet
  std::string last_error;
};

class manager {
 public:
  manager(storage::store& store, settings s = {});
  ~manager();
  manager(const manager&) = delete;
  manager& operator=(const manager&) = delete;

  /// The catalog the coordinator applied: consumers start, stop, restart, pause and resume to
  /// match it (a paused one keeps its partitions and fetches nothing). Thread-safe; cheap
  /// (copies the connections and wakes the manager's thread).
  void apply(const model::catalog& cat);
  /// The node is one of a cluster: before `start`.
  void join_cluster(cluster_link link);
  /// Starts running consumers (until then `apply` only records the catalog).
  void start(const actors::gateway& gateway);
  /// Stops every consumer: each finishes its batches in flight first.
  void stop();

  std::vector<connection_status> status() const;

  /// Fills the running state into the rows of `.show database D data connections` (State,
  /// Reason, Messages, Records, Failures, Offsets, LastError), matched by database and name.
  void complete(model::result_table& shown) const;
  /// `.show ingestion failures`: the messages this node's connections passed over, as stored
  /// with their offsets (the last 14 days), the most recent first.
  model::outcome failures_table(size_t limit = 1000) const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace tributary::connectors
