#include "storage/catalog_codec.hpp"

#include <nlohmann/json.hpp>

namespace tributary::storage::codec {
namespace {

using json = nlohmann::json;

void put_be64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

json policy_json(const std::optional<model::streaming_policy>& p) {
  if (!p) return nullptr;
  json j{{"IsEnabled", p->is_enabled}, {"HintAllocatedRate", nullptr}};
  if (p->hint_allocated_rate) j["HintAllocatedRate"] = *p->hint_allocated_rate;
  return j;
}

std::optional<model::streaming_policy> policy_from(const json& j) {
  if (j.is_null()) return std::nullopt;
  model::streaming_policy p;
  p.is_enabled = j.at("IsEnabled").get<bool>();
  if (const auto& h = j.at("HintAllocatedRate"); !h.is_null()) p.hint_allocated_rate = h.get<double>();
  return p;
}

template <class T>
json opt(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

template <class T>
std::optional<T> opt_from(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  return it->get<T>();
}

model::column_type column_type_from(const std::string& name) {
  auto t = model::parse_column_type(name);
  if (!t) throw std::runtime_error("unknown column type '" + name + "'");
  return *t;
}

json mapping_json(const model::mapping& m) {
  json elements = json::array();
  for (const auto& e : m.elements) {
    elements.push_back({{"column", e.column},
                        {"type", e.data_type ? json(model::to_string(*e.data_type)) : json(nullptr)},
                        {"ordinal", opt(e.ordinal)},
                        {"path", opt(e.path)},
                        {"const", opt(e.const_value)},
                        {"transform", opt(e.transform)}});
  }
  return {{"name", m.name},
          {"kind", model::to_string(m.kind)},
          {"updated", m.last_updated_ticks},
          {"elements", std::move(elements)}};
}

model::mapping mapping_from(const json& j) {
  model::mapping m;
  m.name = j.at("name").get<std::string>();
  m.kind = j.at("kind").get<std::string>() == "json" ? model::mapping_kind::json : model::mapping_kind::csv;
  m.last_updated_ticks = j.at("updated").get<int64_t>();
  for (const auto& e : j.at("elements")) {
    model::mapping_element el;
    el.column = e.at("column").get<std::string>();
    if (auto t = opt_from<std::string>(e, "type")) el.data_type = column_type_from(*t);
    el.ordinal = opt_from<int32_t>(e, "ordinal");
    el.path = opt_from<std::string>(e, "path");
    el.const_value = opt_from<std::string>(e, "const");
    el.transform = opt_from<std::string>(e, "transform");
    m.elements.push_back(std::move(el));
  }
  return m;
}

// nlohmann reports malformed input by exception; callers get the text instead.
template <class F>
auto guarded(std::string_view bytes, F&& f) -> std::variant<decltype(f(json{})), std::string> {
  try {
    return f(json::parse(bytes));
  } catch (const std::exception& e) {
    return std::string(e.what());
  }
}

}  // namespace

std::string meta_key() { return "meta"; }

std::string database_key(model::database_id id) {
  std::string k = database_prefix();
  put_be64(k, static_cast<uint64_t>(id));
  return k;
}
std::string database_prefix() { return "db/"; }

std::string table_key(model::database_id db, model::table_id id) {
  std::string k = table_prefix(db);
  put_be64(k, static_cast<uint64_t>(id));
  return k;
}
std::string table_prefix(model::database_id db) {
  std::string k = all_tables_prefix();
  put_be64(k, static_cast<uint64_t>(db));
  return k;
}
std::string all_tables_prefix() { return "tb/"; }

std::string encode_meta(const model::catalog& cat) {
  return json{{"version", cat.version},
              {"next_id", cat.next_id},
              {"streaming", cat.streaming == model::switch_state::enabled ? "enabled" : "disabled"}}
      .dump();
}

std::string encode_database(const model::database& db) {
  json j{{"id", static_cast<uint64_t>(db.id)}, {"name", db.name}, {"policy", policy_json(db.policy)}};
  // Absent when there are none: records written before data connections existed read the same.
  if (!db.data_connections.empty()) {
    json connections = json::array();
    for (const auto& [name, c] : db.data_connections)
      connections.push_back({{"id", c.id},
                             {"name", c.name},
                             {"kind", c.kind},
                             {"bootstrap_servers", c.bootstrap_servers},
                             {"topic", c.topic},
                             {"consumer_group", c.consumer_group},
                             {"table", c.table},
                             {"format", c.format},
                             {"mapping", c.mapping_name},
                             {"compression", c.compression},
                             {"system_properties", c.event_system_properties},
                             {"start_from", c.start_from},
                             {"security_protocol", c.security_protocol},
                             {"sasl_mechanism", c.sasl_mechanism},
                             {"sasl_username", c.sasl_username},
                             {"sasl_password", c.sasl_password},
                             {"paused", c.paused},
                             {"created", c.created_ticks},
                             {"updated", c.updated_ticks}});
    j["data_connections"] = std::move(connections);
  }
  return j.dump();
}

std::string encode_table(const model::database& db, const model::table& t) {
  json columns = json::array();
  for (const auto& c : t.columns) columns.push_back({{"name", c.name}, {"type", model::to_string(c.type)}});
  json mappings = json::array();
  for (const auto& m : t.mappings) mappings.push_back(mapping_json(m));
  return json{{"database", static_cast<uint64_t>(db.id)},
              {"id", static_cast<uint64_t>(t.id)},
              {"name", t.name},
              {"columns", std::move(columns)},
              {"folder", t.folder},
              {"docstring", t.docstring},
              {"policy", policy_json(t.policy)},
              {"mappings", std::move(mappings)}}
      .dump();
}

std::variant<meta, std::string> decode_meta(std::string_view bytes) {
  return guarded(bytes, [](const json& j) {
    meta m;
    m.version = j.at("version").get<uint64_t>();
    m.next_id = j.at("next_id").get<uint64_t>();
    m.streaming = j.at("streaming").get<std::string>() == "enabled" ? model::switch_state::enabled
                                                                     : model::switch_state::disabled;
    return m;
  });
}

std::variant<model::database, std::string> decode_database(std::string_view bytes) {
  return guarded(bytes, [](const json& j) {
    model::database db;
    db.id = model::database_id{j.at("id").get<uint64_t>()};
    db.name = j.at("name").get<std::string>();
    db.policy = policy_from(j.at("policy"));
    if (auto it = j.find("data_connections"); it != j.end()) {
      for (const auto& c : *it) {
        model::data_connection dc;
        dc.id = c.at("id").get<uint64_t>();
        dc.name = c.at("name").get<std::string>();
        dc.kind = c.at("kind").get<std::string>();
        dc.bootstrap_servers = c.at("bootstrap_servers").get<std::string>();
        dc.topic = c.at("topic").get<std::string>();
        dc.consumer_group = c.at("consumer_group").get<std::string>();
        dc.table = c.at("table").get<std::string>();
        dc.format = c.at("format").get<std::string>();
        dc.mapping_name = c.at("mapping").get<std::string>();
        dc.compression = c.at("compression").get<std::string>();
        dc.event_system_properties = c.at("system_properties").get<std::vector<std::string>>();
        dc.start_from = c.at("start_from").get<std::string>();
        dc.security_protocol = c.at("security_protocol").get<std::string>();
        dc.sasl_mechanism = c.at("sasl_mechanism").get<std::string>();
        dc.sasl_username = c.at("sasl_username").get<std::string>();
        dc.sasl_password = c.at("sasl_password").get<std::string>();
        dc.paused = c.at("paused").get<bool>();
        dc.created_ticks = c.at("created").get<int64_t>();
        dc.updated_ticks = c.at("updated").get<int64_t>();
        db.data_connections.emplace(dc.name, std::move(dc));
      }
    }
    return db;
  });
}

std::variant<std::pair<model::database_id, model::table>, std::string> decode_table(
    std::string_view bytes) {
  return guarded(bytes, [](const json& j) {
    model::table t;
    t.id = model::table_id{j.at("id").get<uint64_t>()};
    t.name = j.at("name").get<std::string>();
    for (const auto& c : j.at("columns")) {
      t.columns.push_back({c.at("name").get<std::string>(),
                           column_type_from(c.at("type").get<std::string>())});
    }
    t.folder = j.at("folder").get<std::string>();
    t.docstring = j.at("docstring").get<std::string>();
    t.policy = policy_from(j.at("policy"));
    for (const auto& m : j.at("mappings")) t.mappings.push_back(mapping_from(m));
    return std::pair{model::database_id{j.at("database").get<uint64_t>()}, std::move(t)};
  });
}

}  // namespace tributary::storage::codec
