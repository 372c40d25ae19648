#include "commands/results.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "commands/lexer.hpp"
#include "commands/mapping.hpp"

namespace tributary::commands {

namespace {

using model::column_type;

model::column col(std::string name, column_type type) { return model::column{std::move(name), type}; }

model::value text(std::string_view s) { return std::string(s); }

std::string dump(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

model::value policy_value(const std::optional<model::streaming_policy>& p) {
  if (!p) return std::monostate{};
  return model::to_json(*p);
}

model::result_table policy_table() {
  model::result_table r;
  r.columns = {col("PolicyName", column_type::string), col("EntityName", column_type::string),
               col("Policy", column_type::string), col("ChildEntities", column_type::dynamic),
               col("EntityType", column_type::string)};
  return r;
}

constexpr std::string_view policy_name = "StreamingIngestionPolicy";

}  // namespace

std::string guid_of(uint64_t id) { return fmt::format("00000000-0000-0000-0000-{:012x}", id & 0xFFFFFFFFFFFFull); }

std::string csl_schema(const model::table& t) {
  std::string out;
  for (size_t i = 0; i < t.columns.size(); ++i) {
    if (i > 0) out += ", ";
    out += csl_name(t.columns[i].name);
    out += ':';
    out += model::to_string(t.columns[i].type);
  }
  return out;
}

model::result_table databases_result(const model::catalog& cat, std::string_view current,
                                     const model::database* only) {
  model::result_table r;
  r.columns = {col("DatabaseName", column_type::string),     col("PersistentStorage", column_type::string),
               col("Version", column_type::string),          col("IsCurrent", column_type::bool_),
               col("DatabaseAccessMode", column_type::string), col("PrettyName", column_type::string),
               col("DatabaseId", column_type::guid)};
  for (const auto& [name, db] : cat.databases) {
    if (only != nullptr && only != &db) continue;
    r.rows.push_back({text(name), text(""), text(""), name == current, text("ReadWrite"), text(""),
                      guid_of(static_cast<uint64_t>(db.id))});
  }
  return r;
}

model::result_table tables_result(const model::database& db) {
  model::result_table r;
  r.columns = {col("TableName", column_type::string), col("DatabaseName", column_type::string),
               col("Folder", column_type::string), col("DocString", column_type::string)};
  for (const auto& [name, t] : db.tables) r.rows.push_back({text(name), text(db.name), t.folder, t.docstring});
  return r;
}

model::result_table remaining_tables_result(const model::database& db) {
  model::result_table r;
  r.columns = {col("TableName", column_type::string), col("DatabaseName", column_type::string)};
  for (const auto& [name, t] : db.tables) r.rows.push_back({text(name), text(db.name)});
  return r;
}

model::result_table table_schema_result(const model::database& db, const model::table& t) {
  model::result_table r;
  r.columns = {col("TableName", column_type::string), col("Schema", column_type::string),
               col("DatabaseName", column_type::string), col("Folder", column_type::string),
               col("DocString", column_type::string)};
  r.rows.push_back({t.name, csl_schema(t), db.name, t.folder, t.docstring});
  return r;
}

model::result_table table_columns_result(const model::table& t) {
  model::result_table r;
  r.columns = {col("AttributeName", column_type::string), col("AttributeType", column_type::string),
               col("ExtentSize", column_type::long_),     col("CompressionRatio", column_type::real),
               col("IndexSize", column_type::long_),      col("StringSize", column_type::long_)};
  for (const auto& c : t.columns) {
    r.rows.push_back({c.name, text(model::dotnet_name(c.type)), int64_t{0}, 0.0, int64_t{0}, int64_t{0}});
  }
  return r;
}

model::result_table table_details_result(const model::database& db, const model::table& t) {
  model::result_table r;
  r.columns = {col("TableName", column_type::string),
               col("DatabaseName", column_type::string),
               col("Folder", column_type::string),
               col("DocString", column_type::string),
               col("TotalExtents", column_type::long_),
               col("TotalExtentSize", column_type::real),
               col("TotalOriginalSize", column_type::real),
               col("TotalRowCount", column_type::long_),
               col("HotExtents", column_type::long_),
               col("HotExtentSize", column_type::real),
               col("HotOriginalSize", column_type::real),
               col("HotRowCount", column_type::long_),
               col("AuthorizedPrincipals", column_type::string),
               col("RetentionPolicy", column_type::string),
               col("CachingPolicy", column_type::string),
               col("ShardingPolicy", column_type::string),
               col("MergePolicy", column_type::string),
               col("StreamingIngestionPolicy", column_type::string),
               col("IngestionBatchingPolicy", column_type::string),
               col("MinExtentsCreationTime", column_type::datetime),
               col("MaxExtentsCreationTime", column_type::datetime),
               col("RowOrderPolicy", column_type::string),
               col("TableId", column_type::string)};
  const std::monostate null;
  r.rows.push_back({t.name, db.name, t.folder, t.docstring, int64_t{0}, 0.0, 0.0, int64_t{0}, int64_t{0}, 0.0, 0.0,
                    int64_t{0}, text("[]"), null, null, null, null, policy_value(model::effective_policy(db, t)),
                    null, null, null, null, guid_of(static_cast<uint64_t>(t.id))});
  return r;
}

model::result_table mappings_result(const model::database& db, const model::table& t,
                                    std::optional<model::mapping_kind> kind, const std::optional<std::string>& name) {
  model::result_table r;
  r.columns = {col("Name", column_type::string),         col("Kind", column_type::string),
               col("Mapping", column_type::string),      col("LastUpdatedOn", column_type::datetime),
               col("Database", column_type::string),     col("Table", column_type::string)};
  for (const auto& m : t.mappings) {
    if (kind && m.kind != *kind) continue;
    if (name && m.name != *name) continue;
    r.rows.push_back({m.name, text(model::display_name(m.kind)), mapping_json(m.elements), m.last_updated_ticks,
                      db.name, t.name});
  }
  return r;
}

model::result_table table_policy_result(const model::database& db, const model::table& t) {
  model::result_table r = policy_table();
  r.rows.push_back({text(policy_name), fmt::format("[{}].[{}]", db.name, t.name), policy_value(t.policy),
                    std::monostate{}, text("Table")});
  return r;
}

model::result_table database_policy_result(const model::database& db) {
  model::result_table r = policy_table();
  nlohmann::json children = nlohmann::json::array();
  for (const auto& [name, t] : db.tables) children.push_back(fmt::format("[{}].[{}]", db.name, name));
  r.rows.push_back({text(policy_name), fmt::format("[{}]", db.name), policy_value(db.policy), dump(children),
                    text("Database")});
  return r;
}

model::result_table cluster_policy_result(const model::catalog& cat) {
  model::result_table r = policy_table();
  nlohmann::json children = nlohmann::json::array();
  for (const auto& [name, db] : cat.databases) children.push_back(fmt::format("[{}]", name));
  nlohmann::ordered_json policy;
  policy["IsEnabled"] = cat.streaming == model::switch_state::enabled;
  r.rows.push_back({text(policy_name), text(""), policy.dump(), dump(children), text("Cluster")});
  return r;
}

model::result_table data_connections_result(const model::database& db, const model::data_connection* only) {
  model::result_table r;
  r.columns = {col("DatabaseName", column_type::string),     col("DataConnectionName", column_type::string),
               col("Kind", column_type::string),             col("TableName", column_type::string),
               col("Topic", column_type::string),            col("ConsumerGroup", column_type::string),
               col("BootstrapServers", column_type::string), col("Format", column_type::string),
               col("MappingName", column_type::string),      col("Compression", column_type::string),
               col("EventSystemProperties", column_type::string), col("StartFrom", column_type::string),
               col("SecurityProtocol", column_type::string), col("SaslMechanism", column_type::string),
               col("SaslUsername", column_type::string),     col("SaslPassword", column_type::string),
               col("State", column_type::string),            col("Reason", column_type::string),
               col("Messages", column_type::long_),          col("Records", column_type::long_),
               col("Failures", column_type::long_),          col("Offsets", column_type::dynamic),
               col("Lag", column_type::dynamic),             col("LastError", column_type::string),
               col("CreatedOn", column_type::datetime),      col("LastUpdatedOn", column_type::datetime)};
  auto row = [&](const model::data_connection& c) {
    std::string properties;
    for (const auto& p : c.event_system_properties) properties += (properties.empty() ? "" : ",") + p;
    r.rows.push_back({text(db.name), text(c.name), text(c.kind), text(c.table), text(c.topic),
                      text(c.consumer_group), text(c.bootstrap_servers), text(c.format), text(c.mapping_name),
                      text(c.compression), text(properties), text(c.start_from), text(c.security_protocol),
                      text(c.sasl_mechanism), text(c.sasl_username),
                      // Never shown back: only whether one is set.
                      text(c.sasl_password.empty() ? "" : "*****"),
                      // How it runs comes from the node (connectors/); these are the catalog's.
                      text(c.paused ? "Paused" : "Running"),
                      text(c.paused ? fmt::format(".pause database {} data connection {}", db.name, c.name) : ""),
                      int64_t{0}, int64_t{0}, int64_t{0}, std::monostate{}, std::monostate{}, text(""), c.created_ticks,
                      c.updated_ticks});
  };
  if (only) {
    row(*only);
  } else {
    for (const auto& [name, c] : db.data_connections) row(c);
  }
  return r;
}

}  // namespace tributary::commands
