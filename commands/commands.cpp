// Result shapes. Column names and types follow Kusto's documentation for each command; where a
// Kusto column has no meaning for Tributary it is kept with a neutral value, never dropped.
//
//   .create database / .drop database / .show databases
//       DatabaseName:string, PersistentStorage:string (""), Version:string (""), IsCurrent:bool,
//       DatabaseAccessMode:string ("ReadWrite"), PrettyName:string (""), DatabaseId:guid (from the id).
//       .create returns the new (or, with ifnotexists, existing) database's row; .drop returns the
//       remaining databases (Kusto has no .drop database command; this mirrors .drop table).
//   .create table / .create-merge table
//       TableName, Schema (CSL: "a:int, ['my col']:string"), DatabaseName, Folder, DocString (strings).
//   .drop table             the remaining tables: TableName, DatabaseName (as Kusto).
//   .show tables            TableName, DatabaseName, Folder, DocString.
//   .show table T           one row per column, in schema order (not by name: the order is the
//                           schema): AttributeName:string, AttributeType:string (.NET name),
//                           ExtentSize:long, CompressionRatio:real, IndexSize:long, StringSize:long
//                           (the sizes are 0: extent statistics are not part of the catalog).
//   .show table T details   Kusto's 23 columns, TableName .. TableId; StreamingIngestionPolicy is
//                           the effective policy JSON or null; extent counts and sizes are 0,
//                           other policies null, AuthorizedPrincipals "[]", TableId a guid string.
//   mapping commands        Name, Kind ("Csv"/"Json"), Mapping (normalised JSON), LastUpdatedOn
//                           (datetime), Database, Table. .create/.create-or-alter return the mapping;
//                           .drop returns the table's remaining mappings; .show the selected ones.
//   policy commands         PolicyName ("StreamingIngestionPolicy"), EntityName ("[D].[T]", "[D]",
//                           "" for the cluster), Policy (JSON string, or null when none is set; a
//                           table shows its own policy, .show table T details the effective one),
//                           ChildEntities (dynamic: null for a table, the database's tables as
//                           "[D].[T]", the cluster's databases), EntityType ("Table", "Database",
//                           "Cluster"). .alter, .alter-merge and .delete return the .show output.
//   data connection commands  DatabaseName, DataConnectionName, Kind, TableName, Topic,
//                           ConsumerGroup, BootstrapServers, Format, MappingName, Compression,
//                           EventSystemProperties, StartFrom, SecurityProtocol, SaslMechanism,
//                           SaslUsername, SaslPassword ("*****" when set: never shown back), State
//                           (Running/Paused/Starting/Failed), Reason, Messages, Records, Failures
//                           (longs), Offsets (dynamic: partition → next offset stored with the rows),
//                           LastError, CreatedOn, LastUpdatedOn; .show has the node fill in how the
//                           consumer runs. .create/.alter/.pause/.resume return the connection;
//                           .drop the remaining ones.
//
// Error codes: BadRequest_SyntaxError, BadRequest_InvalidEntityName, BadRequest_DuplicateColumnName,
// BadRequest_DatabaseNotSpecified, BadRequest_DatabaseNotExist, BadRequest_TableNotExist,
// BadRequest_EntityNotFound (mappings), BadRequest_EntityAlreadyExists, BadRequest_ColumnTypeMismatch,
// BadRequest_InvalidMapping, BadRequest_InvalidPolicy, BadRequest_StreamingIngestionNotEnabled,
// BadRequest_StreamingIngestionPoliciesExist; all permanent.

#include "commands/commands.hpp"

#include <fmt/format.h>

#include <fmt/ranges.h>

#include <algorithm>
#include <exception>
#include <map>
#include <set>
#include <tuple>

#include "commands/lexer.hpp"
#include "commands/mapping.hpp"
#include "commands/parser.hpp"
#include "commands/policy.hpp"
#include "commands/results.hpp"

namespace tributary::commands {

namespace {

using model::change;

constexpr size_t max_listed = 20;

std::string ascii_upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

template <class Map>
std::string list_names(const Map& items, size_t limit = 10) {
  std::string out;
  size_t i = 0;
  for (const auto& [name, item] : items) {
    if (i == limit) {
      out += fmt::format(" and {} more", items.size() - limit);
      break;
    }
    out += (i++ > 0 ? ", " : "") + quote(name);
  }
  return out;
}

std::string_view command_label(verb v) {
  switch (v) {
    case verb::create_table: return ".create table";
    case verb::create_merge_table: return ".create-merge table";
    case verb::drop_table: return ".drop table";
    case verb::show_tables: return ".show tables";
    case verb::show_table: return ".show table";
    case verb::show_table_details: return ".show table details";
    case verb::show_table_extents: return ".show table extents";
    case verb::show_data_operations: return ".show data operations";
    case verb::clear_table_data: return ".clear table data";
    case verb::show_cluster_streaming: return ".show cluster streamingingestion";
    case verb::create_mapping: return ".create table ingestion mapping";
    case verb::create_or_alter_mapping: return ".create-or-alter table ingestion mapping";
    case verb::show_mappings: return ".show table ingestion mappings";
    case verb::drop_mapping: return ".drop table ingestion mapping";
    case verb::alter_policy: return ".alter table policy";
    case verb::alter_merge_policy: return ".alter-merge table policy";
    case verb::delete_policy: return ".delete table policy";
    case verb::show_policy: return ".show table policy";
    case verb::show_cluster: return ".show cluster";
    case verb::clear_schema_cache: return ".clear cache streamingingestion schema";
    case verb::drop_cluster_node: return ".drop cluster node";
    case verb::create_data_connection: return ".create database data connection";
    case verb::alter_data_connection: return ".alter database data connection";
    case verb::drop_data_connection: return ".drop database data connection";
    case verb::show_data_connections: return ".show database data connections";
    case verb::pause_data_connection: return ".pause database data connection";
    case verb::resume_data_connection: return ".resume database data connection";
    case verb::show_ingestion_failures: return ".show ingestion failures";
    default: return "this command";
  }
}

model::error fail(std::string code, std::string message) {
  return model::error{std::move(code), std::move(message), true};
}

// Runs one parsed command. Every executor validates completely before it mutates the catalog,
// so an error leaves the catalog as it was.
class runner {
 public:
  runner(model::catalog& cat, const context& ctx, const parsed_command& cmd, std::vector<change>& changes)
      : cat_(cat), ctx_(ctx), cmd_(cmd), changes_(changes) {}

  model::outcome run() {
    switch (cmd_.what) {
      case verb::create_database: return create_database();
      case verb::drop_database: return drop_database();
      case verb::show_databases: return databases_result(cat_, ctx_.database);
      case verb::create_table: return create_table(false);
      case verb::create_merge_table: return create_table(true);
      case verb::drop_table: return drop_table();
      case verb::show_tables: return show_tables();
      case verb::show_table: return show_table(false);
      case verb::show_table_details: return show_table(true);
      case verb::show_table_extents: return forward_to_table(table_request::what_kind::show_extents);
      case verb::clear_table_data: return forward_to_table(table_request::what_kind::clear_data);
      case verb::show_cluster_streaming:
        forward_ = table_request{table_request::what_kind::show_cluster_state, {}, {}};
        return model::result_table{};
      case verb::show_data_operations:
        forward_ = table_request{table_request::what_kind::show_data_operations, {}, {}};
        return model::result_table{};
      case verb::create_mapping: return create_mapping(false);
      case verb::create_or_alter_mapping: return create_mapping(true);
      case verb::show_mappings: return show_mappings();
      case verb::drop_mapping: return drop_mapping();
      case verb::alter_policy: return alter_policy(false);
      case verb::alter_merge_policy: return alter_policy(true);
      case verb::delete_policy: return delete_policy();
      case verb::show_policy: return show_policy();
      case verb::alter_cluster_policy: return alter_cluster_policy();
      case verb::show_cluster_policy: return cluster_policy_result(cat_);
      case verb::show_cluster:
        forward_ = table_request{table_request::what_kind::show_cluster_nodes, {}, {}};
        return model::result_table{};
      case verb::drop_cluster_node:
        forward_ = table_request{table_request::what_kind::drop_cluster_node, {}, cmd_.node};
        return model::result_table{};
      case verb::create_data_connection: return create_data_connection();
      case verb::alter_data_connection: return alter_data_connection();
      case verb::drop_data_connection: return drop_data_connection();
      case verb::show_data_connections: {
        auto* db = named_database(cmd_.database);
        if (db == nullptr) return error_;
        forward_ = table_request{table_request::what_kind::show_data_connections, db->name, {}};
        return data_connections_result(*db);
      }
      case verb::show_ingestion_failures:
        forward_ = table_request{table_request::what_kind::show_ingestion_failures, {}, {}};
        return model::result_table{};
      case verb::pause_data_connection:
      case verb::resume_data_connection: return pause_data_connection(cmd_.what == verb::pause_data_connection);
      case verb::clear_schema_cache: {
        // Kusto's per-node acknowledgement of the schema: the table (or the context database)
        // must exist.
        auto* db = context_database();
        if (db == nullptr) return error_;
        if (!cmd_.table.empty() && find_table(*db, cmd_.table) == nullptr) return error_;
        forward_ = table_request{table_request::what_kind::clear_schema_cache, db->name, cmd_.table};
        return model::result_table{};
      }
    }
    return fail("BadRequest_SyntaxError", "unsupported command");
  }

 private:
  // --- lookups: return nullptr and set error_ when the object is missing ---

  model::database* context_database() {
    if (ctx_.database.empty()) {
      error_ = fail("BadRequest_DatabaseNotSpecified",
                    fmt::format("{} runs in a database, but no database is in context; pass one (for example "
                                "tributary --database <name> command '...'); .show databases lists them",
                                command_label(cmd_.what)));
      return nullptr;
    }
    return named_database(ctx_.database);
  }

  model::database* named_database(std::string_view name) {
    if (auto* db = cat_.find_database(name)) return db;
    std::string existing = cat_.databases.empty() ? std::string("there are no databases yet")
                                                  : "existing databases: " + list_names(cat_.databases);
    error_ = fail("BadRequest_DatabaseNotExist",
                  fmt::format("Database {} does not exist; create it with .create database {} ({})", quote(name),
                              csl_name(name.substr(0, 1024)), existing));
    return nullptr;
  }

  model::table* find_table(model::database& db, const std::string& name) {
    auto it = db.tables.find(name);
    if (it != db.tables.end()) return &it->second;
    std::string existing = db.tables.empty() ? std::string("the database has no tables yet")
                                             : "its tables: " + list_names(db.tables);
    error_ = fail("BadRequest_TableNotExist",
                  fmt::format("Table {} does not exist in database {}; create it with .create table {} "
                              "(<column>:<type>, ...) ({})",
                              quote(name), quote(db.name), csl_name(name), existing));
    return nullptr;
  }

  static change db_change(change::kind what, const model::database& db) {
    change c;
    c.what = what;
    c.database = db.id;
    c.database_name = db.name;
    return c;
  }

  static change table_change(change::kind what, const model::database& db, const model::table& t) {
    change c = db_change(what, db);
    c.table = t.id;
    c.table_name = t.name;
    return c;
  }

  // --- databases ---

  model::outcome create_database() {
    if (const auto* db = cat_.find_database(cmd_.database)) {
      if (cmd_.if_not_exists) return databases_result(cat_, ctx_.database, db);
      return fail("BadRequest_EntityAlreadyExists",
                  fmt::format("Database {} already exists; add 'ifnotexists' (.create database {} ifnotexists) to "
                              "succeed when it does",
                              quote(cmd_.database), csl_name(cmd_.database)));
    }
    model::database fresh;
    fresh.id = model::database_id{cat_.next_id++};
    fresh.name = cmd_.database;
    auto& db = cat_.databases.emplace(fresh.name, std::move(fresh)).first->second;
    changes_.push_back(db_change(change::kind::put_database, db));
    return databases_result(cat_, ctx_.database, &db);
  }

  model::outcome drop_database() {
    auto it = cat_.databases.find(cmd_.database);
    if (it == cat_.databases.end()) {
      if (cmd_.if_exists) return databases_result(cat_, ctx_.database);
      named_database(cmd_.database);
      return error_;
    }
    changes_.push_back(db_change(change::kind::delete_database, it->second));
    cat_.databases.erase(it);
    return databases_result(cat_, ctx_.database);
  }

  // --- tables ---

  model::outcome create_table(bool merge) {
    auto* db = context_database();
    if (db == nullptr) return error_;
    auto it = db->tables.find(cmd_.table);
    if (it == db->tables.end()) {
      model::table fresh;
      fresh.id = model::table_id{cat_.next_id++};
      fresh.name = cmd_.table;
      fresh.columns = cmd_.columns;
      fresh.folder = cmd_.folder.value_or("");
      fresh.docstring = cmd_.docstring.value_or("");
      auto& t = db->tables.emplace(fresh.name, std::move(fresh)).first->second;
      changes_.push_back(table_change(change::kind::put_table, *db, t));
      return table_schema_result(*db, t);
    }
    model::table& t = it->second;
    // Kusto: .create table on an existing table succeeds without changing it, even when the
    // schema, folder or docstring differ.
    if (!merge) return table_schema_result(*db, t);
    std::map<std::string_view, model::column_type> existing;
    for (const auto& c : t.columns) existing.emplace(c.name, c.type);
    std::vector<model::column> added;
    for (const auto& c : cmd_.columns) {
      auto found = existing.find(c.name);
      if (found == existing.end()) {
        added.push_back(c);
      } else if (found->second != c.type) {
        return fail("BadRequest_ColumnTypeMismatch",
                    fmt::format("Column {} of table {} is of type {}, but .create-merge gives it type {}; "
                                ".create-merge only adds columns, it cannot change a column's type (use {} or a new "
                                "column name)",
                                quote(c.name), quote(t.name), model::to_string(found->second),
                                model::to_string(c.type), model::to_string(found->second)));
      }
    }
    bool changed = !added.empty() || (cmd_.folder && *cmd_.folder != t.folder) ||
                   (cmd_.docstring && *cmd_.docstring != t.docstring);
    if (!changed) return table_schema_result(*db, t);
    t.columns.insert(t.columns.end(), added.begin(), added.end());
    if (cmd_.folder) t.folder = *cmd_.folder;
    if (cmd_.docstring) t.docstring = *cmd_.docstring;
    changes_.push_back(table_change(change::kind::put_table, *db, t));
    return table_schema_result(*db, t);
  }

  model::outcome drop_table() {
    auto* db = context_database();
    if (db == nullptr) return error_;
    auto it = db->tables.find(cmd_.table);
    if (it == db->tables.end()) {
      if (cmd_.if_exists) return remaining_tables_result(*db);
      find_table(*db, cmd_.table);
      return error_;
    }
    for (const auto& [name, c] : db->data_connections)
      if (c.table == cmd_.table)
        return fail("BadRequest_EntityInUse",
                    fmt::format("table {} is where data connection {} streams to; drop the connection first "
                                "(.drop database {} data connection {})",
                                quote(cmd_.table), quote(name), csl_name(db->name), csl_name(name)));
    changes_.push_back(table_change(change::kind::delete_table, *db, it->second));
    db->tables.erase(it);
    return remaining_tables_result(*db);
  }

  model::outcome show_tables() {
    auto* db = context_database();
    if (db == nullptr) return error_;
    return tables_result(*db);
  }

  // Answered by the table's actor (it owns the data): the catalog only checks the table exists.
  model::outcome forward_to_table(table_request::what_kind what) {
    auto* db = context_database();
    if (db == nullptr) return error_;
    auto* t = find_table(*db, cmd_.table);
    if (t == nullptr) return error_;
    forward_ = table_request{what, db->name, t->name};
    return model::result_table{};
  }

 public:
  std::optional<table_request> forward_;

 private:
  model::outcome show_table(bool details) {
    auto* db = context_database();
    if (db == nullptr) return error_;
    auto* t = find_table(*db, cmd_.table);
    if (t == nullptr) return error_;
    if (!details) return table_columns_result(*t);
    forward_ = table_request{table_request::what_kind::show_details, db->name, t->name};
    return table_details_result(*db, *t);
  }

  // --- mappings ---

  std::vector<model::mapping>::iterator find_mapping(model::table& t) {
    return std::find_if(t.mappings.begin(), t.mappings.end(), [&](const model::mapping& m) {
      return m.kind == *cmd_.kind && m.name == *cmd_.mapping_name;
    });
  }

  model::error mapping_not_found(const model::database& db, const model::table& t) {
    return fail("BadRequest_EntityNotFound",
                fmt::format("{} mapping {} does not exist on table {} in database {}; .show table {} ingestion "
                            "mappings lists the table's mappings",
                            model::display_name(*cmd_.kind), quote(*cmd_.mapping_name), quote(t.name),
                            quote(db.name), csl_name(t.name)));
  }

  model::outcome create_mapping(bool or_alter) {
    auto* db = context_database();
    if (db == nullptr) return error_;
    auto* t = find_table(*db, cmd_.table);
    if (t == nullptr) return error_;
    auto existing = find_mapping(*t);
    if (existing != t->mappings.end() && !or_alter) {
      return fail("BadRequest_EntityAlreadyExists",
                  fmt::format("{} mapping {} already exists on table {}; use .create-or-alter table {} ingestion {} "
                              "mapping {} '<json>' to replace it",
                              model::display_name(*cmd_.kind), quote(*cmd_.mapping_name), quote(t->name),
                              csl_name(t->name), model::to_string(*cmd_.kind), quote(*cmd_.mapping_name)));
    }
    auto parsed = parse_mapping(*cmd_.kind, cmd_.json, *t, *cmd_.mapping_name);
    if (auto* e = std::get_if<model::error>(&parsed)) return *e;
    model::mapping m;
    m.name = *cmd_.mapping_name;
    m.kind = *cmd_.kind;
    m.elements = std::move(std::get<std::vector<model::mapping_element>>(parsed));
    m.last_updated_ticks = ctx_.now_ticks;
    if (existing != t->mappings.end()) {
      *existing = std::move(m);
    } else {
      auto at = std::lower_bound(t->mappings.begin(), t->mappings.end(), m, [](const auto& a, const auto& b) {
        return std::tie(a.kind, a.name) < std::tie(b.kind, b.name);
      });
      t->mappings.insert(at, std::move(m));
    }
    changes_.push_back(table_change(change::kind::put_table, *db, *t));
    return mappings_result(*db, *t, cmd_.kind, cmd_.mapping_name);
  }

  model::outcome show_mappings() {
    auto* db = context_database();
    if (db == nullptr) return error_;
    auto* t = find_table(*db, cmd_.table);
    if (t == nullptr) return error_;
    if (cmd_.mapping_name && find_mapping(*t) == t->mappings.end()) return mapping_not_found(*db, *t);
    return mappings_result(*db, *t, cmd_.kind, cmd_.mapping_name);
  }

  model::outcome drop_mapping() {
    auto* db = context_database();
    if (db == nullptr) return error_;
    auto* t = find_table(*db, cmd_.table);
    if (t == nullptr) return error_;
    auto existing = find_mapping(*t);
    if (existing == t->mappings.end()) return mapping_not_found(*db, *t);
    t->mappings.erase(existing);
    changes_.push_back(table_change(change::kind::put_table, *db, *t));
    return mappings_result(*db, *t);
  }

  // --- data connections (docs/data-connections.md) ---

  model::data_connection* find_connection(model::database& db) {
    auto it = db.data_connections.find(cmd_.connection);
    if (it != db.data_connections.end()) return &it->second;
    error_ = fail("BadRequest_EntityNotFound",
                  fmt::format("data connection {} does not exist in database {}; {}", quote(cmd_.connection),
                              quote(db.name),
                              db.data_connections.empty()
                                  ? fmt::format("create one with .create database {} data connection {} kind=kafka "
                                                "with (...)",
                                                csl_name(db.name), csl_name(cmd_.connection))
                                  : "its data connections: " + list_names(db.data_connections)));
    return nullptr;
  }

  // The `with (...)` properties onto `c`; then `c` checked whole against the database.
  std::optional<model::error> apply_connection_properties(model::data_connection& c, const model::database& db) {
    struct known {
      std::string_view name;
      std::string model::data_connection::*field;
    };
    static constexpr known text_properties[] = {
        {"bootstrapservers", &model::data_connection::bootstrap_servers},
        {"topic", &model::data_connection::topic},
        {"consumergroup", &model::data_connection::consumer_group},
        {"table", &model::data_connection::table},
        {"format", &model::data_connection::format},
        {"mappingname", &model::data_connection::mapping_name},
        {"compression", &model::data_connection::compression},
        {"startfrom", &model::data_connection::start_from},
        {"securityprotocol", &model::data_connection::security_protocol},
        {"saslmechanism", &model::data_connection::sasl_mechanism},
        {"saslusername", &model::data_connection::sasl_username},
        {"saslpassword", &model::data_connection::sasl_password},
    };
    constexpr std::string_view property_list =
        "bootstrapServers, topic, consumerGroup, table, format, mappingName, compression, eventSystemProperties, "
        "startFrom, securityProtocol, saslMechanism, saslUsername, saslPassword";
    auto invalid = [](std::string message) { return fail("BadRequest_InvalidDataConnection", std::move(message)); };
    std::set<std::string> seen;
    for (const auto& p : cmd_.properties) {
      const auto key = ascii_lower(p.name);
      if (!seen.insert(key).second)
        return invalid(fmt::format("property {} is given twice (line {}, column {})", quote(p.name), p.at.line,
                                   p.at.column));
      if (key == "eventsystemproperties") {
        c.event_system_properties.clear();
        for (size_t from = 0; from <= p.value.size();) {
          auto comma = p.value.find(',', from);
          if (comma == std::string::npos) comma = p.value.size();
          auto item = ascii_lower(p.value.substr(from, comma - from));
          item.erase(0, item.find_first_not_of(' '));
          item.erase(item.find_last_not_of(' ') + 1);
          if (!item.empty()) c.event_system_properties.push_back(item);
          from = comma + 1;
        }
        continue;
      }
      auto it = std::find_if(std::begin(text_properties), std::end(text_properties),
                             [&](const known& k) { return k.name == key; });
      if (it == std::end(text_properties))
        return invalid(fmt::format("unknown data connection property {} (line {}, column {}); the properties are: {}",
                                   quote(p.name), p.at.line, p.at.column, property_list));
      c.*(it->field) = p.value;
    }
    for (auto* lowered : {&c.format, &c.compression, &c.start_from, &c.security_protocol})
      *lowered = ascii_lower(*lowered);
    c.sasl_mechanism = ascii_upper(c.sasl_mechanism);
    // Required, with where to find them.
    std::vector<std::string_view> missing;
    if (c.bootstrap_servers.empty()) missing.push_back("bootstrapServers");
    if (c.topic.empty()) missing.push_back("topic");
    if (c.consumer_group.empty()) missing.push_back("consumerGroup");
    if (c.table.empty()) missing.push_back("table");
    if (!missing.empty())
      return invalid(fmt::format("data connection {} needs {}: add {}='...' to its with (...) clause",
                                 quote(c.name), fmt::join(missing, ", "), fmt::join(missing, "='...', ")));
    // host:port,host:port
    for (size_t from = 0; from <= c.bootstrap_servers.size();) {
      auto comma = c.bootstrap_servers.find(',', from);
      if (comma == std::string::npos) comma = c.bootstrap_servers.size();
      const auto server = c.bootstrap_servers.substr(from, comma - from);
      const auto colon = server.rfind(':');
      const bool port_ok = colon != std::string::npos && colon > 0 && colon + 1 < server.size() &&
                           server.find_first_not_of("0123456789", colon + 1) == std::string::npos &&
                           server.size() - colon <= 6;
      if (!port_ok)
        return invalid(fmt::format("bootstrapServers {}: {} is not host:port; write e.g. "
                                   "bootstrapServers='broker1:9092,broker2:9092'",
                                   quote(c.bootstrap_servers), quote(server)));
      from = comma + 1;
    }
    auto one_of = [&](std::string_view property, const std::string& value,
                      std::initializer_list<std::string_view> allowed) -> std::optional<model::error> {
      if (std::find(allowed.begin(), allowed.end(), value) != allowed.end()) return std::nullopt;
      return invalid(fmt::format("{} {} is not one of: {}", property, quote(value), fmt::join(allowed, ", ")));
    };
    static const std::initializer_list<std::string_view> formats = {"csv",   "tsv",  "scsv",     "sohsv",
                                                                    "psv",   "json", "multijson"};
    if (auto e = one_of("format", c.format, formats)) return e;
    if (auto e = one_of("compression", c.compression, {"none", "gzip"})) return e;
    if (auto e = one_of("startFrom", c.start_from, {"earliest", "latest"})) return e;
    if (auto e = one_of("securityProtocol", c.security_protocol, {"plaintext", "ssl", "sasl_plaintext", "sasl_ssl"}))
      return e;
    for (const auto& p : c.event_system_properties)
      if (auto e = one_of("eventSystemProperties entry", p,
                          {"x-opt-offset", "x-opt-sequence-number", "x-opt-partition", "x-opt-enqueued-time",
                           "x-opt-partition-key"}))
        return e;
    if (c.security_protocol.starts_with("sasl")) {
      if (auto e = one_of("saslMechanism", c.sasl_mechanism, {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"})) return e;
      if (c.sasl_username.empty() || c.sasl_password.empty())
        return invalid(fmt::format("securityProtocol {} needs saslUsername and saslPassword (Event Hubs: "
                                   "saslUsername='$ConnectionString', saslPassword='Endpoint=sb://...')",
                                   quote(c.security_protocol)));
    }
    // The table and its mapping, as an ingest would need them.
    auto table = db.tables.find(c.table);
    if (table == db.tables.end())
      return fail("BadRequest_TableNotExist",
                  fmt::format("data connection {} streams into table {}, which does not exist in database {}; "
                              "create it first",
                              quote(c.name), quote(c.table), quote(db.name)));
    if (!c.mapping_name.empty()) {
      const auto kind = c.format == "json" || c.format == "multijson" ? model::mapping_kind::json
                                                                       : model::mapping_kind::csv;
      const auto& mappings = table->second.mappings;
      if (std::none_of(mappings.begin(), mappings.end(),
                       [&](const model::mapping& m) { return m.kind == kind && m.name == c.mapping_name; }))
        return fail("BadRequest_MappingReferenceWasNotFound",
                    fmt::format("table {} has no {} mapping {} for format {}; create it with .create table {} "
                                "ingestion {} mapping {} '<json>'",
                                quote(c.table), model::display_name(kind), quote(c.mapping_name), c.format,
                                csl_name(c.table), model::to_string(kind), quote(c.mapping_name)));
    }
    // One consumer group reads a topic once: two connections sharing both would split its partitions.
    for (const auto& [db_name, other_db] : cat_.databases)
      for (const auto& [name, other] : other_db.data_connections)
        if (other.id != c.id && other.topic == c.topic && other.consumer_group == c.consumer_group &&
            other.bootstrap_servers == c.bootstrap_servers)
          return invalid(fmt::format("consumer group {} already reads topic {} for data connection {} of database "
                                     "{}; give this connection a consumerGroup of its own",
                                     quote(c.consumer_group), quote(c.topic), quote(name), quote(db_name)));
    return std::nullopt;
  }

  model::outcome create_data_connection() {
    auto* db = named_database(cmd_.database);
    if (db == nullptr) return error_;
    if (cmd_.connection_kind != "kafka")
      return fail("BadRequest_InvalidDataConnection",
                  fmt::format("data connection kind {} is not supported; use kind=kafka (Azure Event Hubs too, "
                              "through its Kafka endpoint NAMESPACE.servicebus.windows.net:9093)",
                              quote(cmd_.connection_kind)));
    if (db->data_connections.count(cmd_.connection))
      return fail("BadRequest_EntityAlreadyExists",
                  fmt::format("data connection {} already exists in database {}; change it with .alter database {} "
                              "data connection {} with (...)",
                              quote(cmd_.connection), quote(db->name), csl_name(db->name), csl_name(cmd_.connection)));
    model::data_connection c;
    c.id = cat_.next_id;
    c.name = cmd_.connection;
    c.kind = cmd_.connection_kind;
    c.created_ticks = c.updated_ticks = ctx_.now_ticks;
    if (auto e = apply_connection_properties(c, *db)) return *e;
    ++cat_.next_id;
    auto& stored = db->data_connections.emplace(c.name, std::move(c)).first->second;
    changes_.push_back(db_change(change::kind::put_database, *db));
    return data_connections_result(*db, &stored);
  }

  model::outcome alter_data_connection() {
    auto* db = named_database(cmd_.database);
    if (db == nullptr) return error_;
    auto* existing = find_connection(*db);
    if (existing == nullptr) return error_;
    model::data_connection c = *existing;
    if (auto e = apply_connection_properties(c, *db)) return *e;
    // Another broker or topic has other partitions and offsets: the connection starts afresh
    // there, under a new id (the offsets stored under the old one are not read again).
    const bool moved = c.bootstrap_servers != existing->bootstrap_servers || c.topic != existing->topic;
    if (moved) c.id = cat_.next_id++;
    c.updated_ticks = ctx_.now_ticks;
    *existing = std::move(c);
    changes_.push_back(db_change(change::kind::put_database, *db));
    return data_connections_result(*db, existing);
  }

  model::outcome drop_data_connection() {
    auto* db = named_database(cmd_.database);
    if (db == nullptr) return error_;
    if (find_connection(*db) == nullptr) return error_;
    db->data_connections.erase(cmd_.connection);
    changes_.push_back(db_change(change::kind::put_database, *db));
    return data_connections_result(*db);
  }

  model::outcome pause_data_connection(bool pause) {
    auto* db = named_database(cmd_.database);
    if (db == nullptr) return error_;
    auto* c = find_connection(*db);
    if (c == nullptr) return error_;
    if (c->paused != pause) {
      c->paused = pause;
      c->updated_ticks = ctx_.now_ticks;
      changes_.push_back(db_change(change::kind::put_database, *db));
    }
    return data_connections_result(*db, c);
  }

  // --- policies ---

  struct policy_target {
    model::database* db = nullptr;
    model::table* table = nullptr;
    std::optional<model::streaming_policy>* policy = nullptr;
    std::string entity;  // for messages
  };

  std::optional<policy_target> resolve_policy_target() {
    policy_target target;
    if (cmd_.scope == policy_scope::database) {
      target.db = named_database(cmd_.database);
      if (target.db == nullptr) return std::nullopt;
      target.policy = &target.db->policy;
      target.entity = fmt::format("database {}", quote(target.db->name));
      return target;
    }
    target.db = context_database();
    if (target.db == nullptr) return std::nullopt;
    target.table = find_table(*target.db, cmd_.table);
    if (target.table == nullptr) return std::nullopt;
    target.policy = &target.table->policy;
    target.entity = fmt::format("table {} in database {}", quote(target.table->name), quote(target.db->name));
    return target;
  }

  static model::result_table policy_result(const policy_target& target) {
    return target.table != nullptr ? table_policy_result(*target.db, *target.table)
                                   : database_policy_result(*target.db);
  }

  void record_policy_change(const policy_target& target) {
    changes_.push_back(target.table != nullptr ? table_change(change::kind::put_table, *target.db, *target.table)
                                               : db_change(change::kind::put_database, *target.db));
  }

  std::optional<model::error> require_switch_on() const {
    if (cat_.streaming == model::switch_state::enabled) return std::nullopt;
    return fail("BadRequest_StreamingIngestionNotEnabled",
                "Admin command cannot be executed as streaming ingestion is not enabled. Enable it on the cluster "
                "first with: .alter cluster policy streamingingestion enable");
  }

  model::outcome alter_policy(bool merge) {
    if (auto off = require_switch_on()) return *off;
    auto target = resolve_policy_target();
    if (!target) return error_;
    const std::optional<model::streaming_policy>& current = *target->policy;
    model::streaming_policy next;
    if (cmd_.action != policy_action::json) {
      next = current.value_or(model::streaming_policy{});
      next.is_enabled = cmd_.action == policy_action::enable;
    } else {
      auto parsed = parse_policy(cmd_.json, target->entity);
      if (auto* e = std::get_if<model::error>(&parsed)) return *e;
      const auto& patch = std::get<policy_patch>(parsed);
      if (!patch.is_enabled && (!merge || !current)) {
        std::string why = merge ? fmt::format("{} has no streaming ingestion policy yet, so the merged policy needs "
                                              "IsEnabled",
                                              target->entity)
                                : std::string("IsEnabled is mandatory and has no default");
        return fail("BadRequest_InvalidPolicy",
                    fmt::format("Invalid streaming ingestion policy for {}: {}; add \"IsEnabled\": true or false{}",
                                target->entity, why,
                                merge ? "" : " (use .alter-merge to change only HintAllocatedRate)"));
      }
      next = apply(merge ? current.value_or(model::streaming_policy{}) : model::streaming_policy{}, patch);
    }
    if (current != next) {
      *target->policy = next;
      record_policy_change(*target);
    }
    return policy_result(*target);
  }

  model::outcome delete_policy() {
    if (auto off = require_switch_on()) return *off;
    auto target = resolve_policy_target();
    if (!target) return error_;
    if (target->policy->has_value()) {
      target->policy->reset();
      record_policy_change(*target);
    }
    return policy_result(*target);
  }

  model::outcome show_policy() {
    auto target = resolve_policy_target();
    if (!target) return error_;
    return policy_result(*target);
  }

  model::outcome alter_cluster_policy() {
    const auto wanted =
        cmd_.action == policy_action::enable ? model::switch_state::enabled : model::switch_state::disabled;
    if (cat_.streaming == wanted) return cluster_policy_result(cat_);
    if (wanted == model::switch_state::disabled) {
      std::vector<std::string> holders;
      size_t count = 0;
      auto note = [&](std::string what) {
        if (count++ < max_listed) holders.push_back(std::move(what));
      };
      for (const auto& [db_name, db] : cat_.databases) {
        if (db.policy) note(fmt::format("database {}", quote(db_name)));
        for (const auto& [table_name, t] : db.tables) {
          if (t.policy) note(fmt::format("table {} in database {}", quote(table_name), quote(db_name)));
        }
      }
      if (count > 0) {
        std::string list;
        for (size_t i = 0; i < holders.size(); ++i) list += (i > 0 ? ", " : "") + holders[i];
        if (count > holders.size()) list += fmt::format(" and {} more", count - holders.size());
        return fail("BadRequest_StreamingIngestionPoliciesExist",
                    fmt::format("Cannot disable streaming ingestion on the cluster while {} streaming ingestion "
                                "polic{} exist{}: {}. Delete each first (.delete database <D> policy "
                                "streamingingestion; .delete table <T> policy streamingingestion with the table's "
                                "database in context), then run .alter cluster policy streamingingestion disable "
                                "again",
                                count, count == 1 ? "y" : "ies", count == 1 ? "s" : "", list));
      }
    }
    cat_.streaming = wanted;
    change c;
    c.what = change::kind::put_cluster;
    changes_.push_back(c);
    return cluster_policy_result(cat_);
  }

  model::catalog& cat_;
  const context& ctx_;
  const parsed_command& cmd_;
  std::vector<change>& changes_;
  model::error error_;
};

}  // namespace

executed execute(model::catalog& cat, const context& ctx, std::string_view text) {
  executed out;
  out.kind = "invalid";
  try {
    auto parsed = parse(text);
    if (auto* e = std::get_if<model::error>(&parsed)) {
      out.outcome = std::move(*e);
      return out;
    }
    const auto& cmd = std::get<parsed_command>(parsed);
    out.kind = std::string(to_string(cmd.what));
    runner r(cat, ctx, cmd, out.changes);
    out.outcome = r.run();
    out.forward = std::move(r.forward_);
    if (std::holds_alternative<model::error>(out.outcome)) {
      out.changes.clear();
    } else if (!out.changes.empty()) {
      ++cat.version;
    }
  } catch (const std::exception& e) {
    // Only resource exhaustion can get here (the parser and validators do not throw).
    out.changes.clear();
    out.outcome = model::error{"InternalServiceError",
                               fmt::format("the command could not be executed: {}", e.what()), false};
  }
  return out;
}

}  // namespace tributary::commands
