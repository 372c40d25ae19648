#pragma once
/// The catalog: databases, tables with typed columns, ingestion mappings, streaming ingestion
/// policies and the cluster switch. A plain value owned by the coordinator actor; every change
/// bumps `version` and is described by a list of `change`s that storage persists.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "model/types.hpp"

namespace tributary::model {

/// Kusto's StreamingIngestionPolicy: {"IsEnabled": bool, "HintAllocatedRate": double|null}.
struct streaming_policy {
  bool is_enabled = false;
  /// Expected GB per hour; nullopt when unset.
  std::optional<double> hint_allocated_rate;
  friend bool operator==(const streaming_policy&, const streaming_policy&) = default;
};

/// Kusto's JSON for a policy, e.g. {"IsEnabled":true,"HintAllocatedRate":null}.
std::string to_json(const streaming_policy& p);

enum class mapping_kind : uint8_t { csv, json };
/// "csv" or "json" (lower case, as written in commands).
std::string_view to_string(mapping_kind k);
/// Kusto's display name: "Csv" or "Json".
std::string_view display_name(mapping_kind k);

/// One element of an ingestion mapping, normalised from any accepted input shape.
struct mapping_element {
  std::string column;
  std::optional<column_type> data_type;
  std::optional<int32_t> ordinal;          ///< csv: source field index
  std::optional<std::string> path;         ///< json: "$"-rooted path
  std::optional<std::string> const_value;  ///< both: constant instead of a source field
  std::optional<std::string> transform;    ///< name of a Kusto transform, if any
  friend bool operator==(const mapping_element&, const mapping_element&) = default;
};

/// A pre-created ingestion mapping of a table.
struct mapping {
  std::string name;
  mapping_kind kind = mapping_kind::csv;
  std::vector<mapping_element> elements;
  int64_t last_updated_ticks = 0;  ///< 100-ns ticks since the Unix epoch
  friend bool operator==(const mapping&, const mapping&) = default;
};

struct table {
  table_id id{};
  std::string name;
  std::vector<column> columns;
  std::string folder;
  std::string docstring;
  std::optional<streaming_policy> policy;  ///< the table's own policy, if set
  std::vector<mapping> mappings;           ///< sorted by (kind, name)
  friend bool operator==(const table&, const table&) = default;
};

/// A data connection (docs/data-connections.md): a topic of a Kafka-protocol broker (Kafka, Azure
/// Event Hubs) streamed into one table of its database by a consumer group of the nodes. Part of
/// its database's record, so it is stored, versioned and dropped with it.
struct data_connection {
  uint64_t id = 0;  ///< from catalog::next_id: names the offsets stored with its rows
  std::string name;
  std::string kind = "kafka";
  std::string bootstrap_servers;  ///< host:port,host:port
  std::string topic;
  std::string consumer_group;
  std::string table;
  std::string format = "json";        ///< a streaming ingestion format (csv, json, multijson, ...)
  std::string mapping_name;           ///< empty: none
  std::string compression = "none";   ///< none | gzip (each message)
  std::vector<std::string> event_system_properties;  ///< x-opt-offset, x-opt-partition, ...
  std::string start_from = "earliest";  ///< earliest | latest: where a partition with no stored offset starts
  std::string security_protocol = "plaintext";  ///< plaintext | ssl | sasl_plaintext | sasl_ssl
  std::string sasl_mechanism;
  std::string sasl_username;
  std::string sasl_password;  ///< a secret: never shown back
  bool paused = false;        ///< `.pause` (until `.resume`)
  int64_t created_ticks = 0;
  int64_t updated_ticks = 0;
  friend bool operator==(const data_connection&, const data_connection&) = default;
};

/// Where a data connection's consumer has got to in one partition of its topic: the offset of
/// the first message it has not stored yet. Persisted in the same write batch as the rows it read
/// (storage::rowstore_write::source; storage/FORMAT.md "Source offsets"), so rows and position
/// are durable together or not at all.
/// A message a data connection passed over (`.show ingestion failures`): stored in the write
/// batch of the offset that moves past it, so it is recorded exactly once.
struct ingestion_failure {
  int64_t at_ticks = 0;  ///< when it was found
  std::string database;
  std::string table;
  std::string connection;
  uint64_t connection_id = 0;
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string code;
  std::string message;
  friend bool operator==(const ingestion_failure&, const ingestion_failure&) = default;
};

struct source_position {
  uint64_t connection = 0;  ///< data_connection::id
  int32_t partition = 0;
  int64_t next_offset = 0;
  /// Messages below `next_offset` passed over, stored with it.
  std::vector<ingestion_failure> failures;
  friend bool operator==(const source_position&, const source_position&) = default;
};

struct database {
  database_id id{};
  std::string name;
  std::optional<streaming_policy> policy;  ///< covers every table without its own
  std::map<std::string, table> tables;     ///< by name (case-sensitive, as Kusto)
  std::map<std::string, data_connection> data_connections;  ///< by name
};

/// State of the cluster-wide streaming ingestion switch.
enum class switch_state : uint8_t { disabled, enabled };

struct catalog {
  uint64_t version = 0;   ///< bumped by every change
  uint64_t next_id = 1;   ///< next database_id / table_id to hand out
  switch_state streaming = switch_state::disabled;
  std::map<std::string, database> databases;  ///< by name (case-sensitive)

  const database* find_database(std::string_view name) const;
  database* find_database(std::string_view name);
};

/// The effective policy of a table: its own, else its database's, else none.
std::optional<streaming_policy> effective_policy(const database& db, const table& t);

/// What one command changed, for storage to persist and actors to follow. Objects are named
/// by id; the new state is read from the catalog after the command.
struct change {
  enum class kind : uint8_t {
    put_database,     ///< created, or its policy or data connections changed
    delete_database,  ///< dropped with all its tables
    put_table,        ///< created, or its columns, mappings or policy changed
    delete_table,
    put_cluster,      ///< the switch changed
  };
  kind what = kind::put_cluster;
  database_id database{};
  table_id table{};
  std::string database_name;
  std::string table_name;
};

}  // namespace tributary::model
