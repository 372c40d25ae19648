#pragma once
/// Kusto management commands (".create table", ".alter table T policy streamingingestion", ...):
/// parsing and execution against the catalog. Pure functions over model values: no I/O, no
/// threads, no actors. The coordinator actor is the only caller in the node.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/catalog.hpp"

namespace tributary::commands {

/// What a command runs against, besides the catalog.
struct context {
  std::string_view database;  ///< the client's database in context; may be empty
  int64_t now_ticks = 0;      ///< 100-ns ticks since the Unix epoch (for LastUpdatedOn etc.)
};

/// A command answered from the node's data, not the catalog: by the table's actor
/// (show_extents, clear_data), from the node's operation log (show_data_operations) or from the
/// node's streaming state and backpressure controller (show_cluster_state).
struct table_request {
  enum class what_kind : uint8_t {
    show_extents,
    clear_data,
    show_data_operations,
    show_cluster_state,
    show_details,  ///< `outcome` holds the catalog's row; the table fills its extent statistics
    show_cluster_nodes,  ///< `.show cluster`: the nodes, from the cluster module
    clear_schema_cache,  ///< every node applied the current catalog: one row per node
    drop_cluster_node,   ///< `table` holds the node id
    /// `outcome` holds the catalog's rows; the node's data connections fill in how they run
    show_data_connections,
    show_ingestion_failures,  ///< from the node's data connections
  } what = what_kind::show_extents;
  std::string database;
  std::string table;
};

/// The result of one command.
struct executed {
  model::outcome outcome;              ///< result table, or a structured error
  std::vector<model::change> changes;  ///< empty for reads and for errors
  std::string kind;                    ///< stable label for metrics, e.g. "create_table";
                                       ///< "invalid" when the text did not parse
  /// Set when the answer must come from the table's actor; `outcome` is then an empty table
  /// (for show_details, the row the table completes).
  std::optional<table_request> forward;
};

/// Parses `text` and runs it against `cat`. On success with changes, `cat.version` is bumped
/// exactly once. On any error `cat` is left exactly as it was.
executed execute(model::catalog& cat, const context& ctx, std::string_view text);

}  // namespace tributary::commands
