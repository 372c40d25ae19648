#include "model/catalog.hpp"

#include <nlohmann/json.hpp>

namespace tributary::model {

std::string to_json(const streaming_policy& p) {
  // ordered_json keeps Kusto's property order (IsEnabled first) in the output.
  nlohmann::ordered_json j;
  j["IsEnabled"] = p.is_enabled;
  if (p.hint_allocated_rate) {
    j["HintAllocatedRate"] = *p.hint_allocated_rate;
  } else {
    j["HintAllocatedRate"] = nullptr;
  }
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::string_view to_string(mapping_kind k) {
  switch (k) {
    case mapping_kind::csv: return "csv";
    case mapping_kind::json: return "json";
  }
  return "csv";
}

std::string_view display_name(mapping_kind k) {
  switch (k) {
    case mapping_kind::csv: return "Csv";
    case mapping_kind::json: return "Json";
  }
  return "Csv";
}

const database* catalog::find_database(std::string_view name) const {
  auto it = databases.find(std::string(name));
  return it == databases.end() ? nullptr : &it->second;
}

database* catalog::find_database(std::string_view name) {
  auto it = databases.find(std::string(name));
  return it == databases.end() ? nullptr : &it->second;
}

std::optional<streaming_policy> effective_policy(const database& db, const table& t) {
  if (t.policy) return t.policy;
  return db.policy;
}

}  // namespace tributary::model
