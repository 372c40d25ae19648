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

struct database {
  database_id id{};
  std::string name;
  std::optional<streaming_policy> policy;  ///< covers every table without its own
  std::map<std::string, table> tables;     ///< by name (case-sensitive, as Kusto)
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
    put_database,     ///< created, or its policy changed
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
