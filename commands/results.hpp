#pragma once
/// Private to commands/: the result tables of management commands, in Kusto's column shapes
/// (the choices are listed at the top of commands.cpp). Rows come out in a deterministic order.

#include <optional>
#include <string>
#include <string_view>

#include "model/catalog.hpp"

namespace tributary::commands {

/// `id` as a GUID string, e.g. 00000000-0000-0000-0000-00000000002a.
std::string guid_of(uint64_t id);

/// The CSL schema of a table: "a:int, ['my col']:string".
std::string csl_schema(const model::table& t);

/// .show databases: every database (or only `only`), sorted by name.
model::result_table databases_result(const model::catalog& cat, std::string_view current,
                                     const model::database* only = nullptr);

/// .show tables: every table of `db`, sorted by name.
model::result_table tables_result(const model::database& db);

/// .drop table: the remaining tables of `db` (TableName, DatabaseName).
model::result_table remaining_tables_result(const model::database& db);

/// .create table / .create-merge table: TableName, Schema, DatabaseName, Folder, DocString.
model::result_table table_schema_result(const model::database& db, const model::table& t);

/// .show table T: one row per column, in schema order.
model::result_table table_columns_result(const model::table& t);

/// .show table T details: one row, including the effective StreamingIngestionPolicy.
model::result_table table_details_result(const model::database& db, const model::table& t);

/// Mapping rows (Name, Kind, Mapping, LastUpdatedOn, Database, Table) of `t`, optionally only
/// of one kind and/or one name, sorted by (kind, name).
model::result_table mappings_result(const model::database& db, const model::table& t,
                                    std::optional<model::mapping_kind> kind = std::nullopt,
                                    const std::optional<std::string>& name = std::nullopt);

/// .show table T policy streamingingestion: the table's own policy (null when unset).
model::result_table table_policy_result(const model::database& db, const model::table& t);

/// .show database D policy streamingingestion.
model::result_table database_policy_result(const model::database& db);

/// .show cluster policy streamingingestion: the switch, {"IsEnabled":true|false}.
model::result_table cluster_policy_result(const model::catalog& cat);

/// .show database D data connections (or only `only`), sorted by name; secrets masked.
model::result_table data_connections_result(const model::database& db,
                                            const model::data_connection* only = nullptr);

}  // namespace tributary::commands
