#pragma once
/// Private to commands/: a recursive-descent parser for the management commands Tributary
/// supports. It checks syntax and name rules only; whether objects exist is for execution.

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "commands/lexer.hpp"
#include "model/catalog.hpp"

namespace tributary::commands {

enum class verb {
  create_database,
  drop_database,
  show_databases,
  create_table,
  create_merge_table,
  drop_table,
  show_tables,
  show_table,
  show_table_details,
  show_table_extents,
  show_data_operations,
  clear_table_data,
  show_cluster_streaming,
  create_mapping,
  create_or_alter_mapping,
  show_mappings,
  drop_mapping,
  alter_policy,
  alter_merge_policy,
  delete_policy,
  show_policy,
  alter_cluster_policy,
  show_cluster_policy,
  show_cluster,              ///< .show cluster: the nodes
  clear_schema_cache,        ///< .clear table T|database cache streamingingestion schema
  drop_cluster_node,         ///< .drop cluster node ID
  create_data_connection,    ///< .create database D data connection N kind=kafka with (...)
  alter_data_connection,     ///< .alter database D data connection N with (...)
  drop_data_connection,      ///< .drop database D data connection N
  show_data_connections,     ///< .show database D data connections
  pause_data_connection,     ///< .pause database D data connection N
  resume_data_connection,    ///< .resume database D data connection N
  show_ingestion_failures,   ///< .show ingestion failures
};

/// The stable snake_case label of a verb, as used in `executed::kind` and metrics.
std::string_view to_string(verb v);

/// What a policy command targets.
enum class policy_scope { table, database, cluster };

/// `enable`, `disable`, or a policy JSON literal.
enum class policy_action { enable, disable, json };

/// One parsed command. Only the fields its verb uses are set.
struct parsed_command {
  verb what = verb::show_databases;
  std::string database;  ///< database named in the command (database and policy commands)
  std::string table;     ///< table named in the command
  std::string node;      ///< .drop cluster node
  bool if_not_exists = false;
  bool if_exists = false;

  std::vector<model::column> columns;  ///< .create[-merge] table
  std::optional<std::string> folder;     ///< with (folder='...')
  std::optional<std::string> docstring;  ///< with (docstring='...')

  std::optional<model::mapping_kind> kind;  ///< mapping commands; unset = all kinds (show)
  std::optional<std::string> mapping_name;  ///< unset = all mappings (show)
  std::string json;                         ///< mapping or policy JSON text
  position json_pos;                        ///< where the JSON literal starts

  std::string connection;       ///< data connection commands: its name
  std::string connection_kind;  ///< kind=... of .create database D data connection
  /// with (name='value', ...) of the data connection commands, in the order written, each with
  /// where its name is.
  struct property {
    std::string name;
    std::string value;
    position at;
  };
  std::vector<property> properties;

  policy_scope scope = policy_scope::table;
  policy_action action = policy_action::json;
};

/// Parses `text` into a command, or returns a BadRequest_SyntaxError (with line, column, what
/// was expected and what was found) or a BadRequest_InvalidEntityName error.
std::variant<parsed_command, model::error> parse(std::string_view text);

/// Checks Kusto's entity-name rules (1..1024 characters; letters, digits, '_', and in
/// bracketed names also ' ', '.', '-'; no leading/trailing "__"; no code point that
/// hidden_code_point() names, such as U+202E or U+200B). Returns the reason (for a hidden code
/// point: which character of the name and its U+ number), or nullopt when `name` is valid.
/// `what` names the entity kind ("table", "column", ...).
std::optional<std::string> check_entity_name(std::string_view name, std::string_view what);

}  // namespace tributary::commands
