#include "model/types.hpp"

#include <array>
#include <chrono>
#include <utility>

namespace tributary::model {

int64_t now_ticks() {
  using ticks = std::chrono::duration<int64_t, std::ratio<1, ticks_per_second>>;
  return std::chrono::duration_cast<ticks>(std::chrono::system_clock::now().time_since_epoch()).count();
}

namespace {

struct type_names {
  column_type type;
  std::string_view kusto;
  std::string_view dotnet;
};

constexpr std::array<type_names, 10> all_types{{
    {column_type::bool_, "bool", "System.Boolean"},
    {column_type::int_, "int", "System.Int32"},
    {column_type::long_, "long", "System.Int64"},
    {column_type::real, "real", "System.Double"},
    {column_type::decimal, "decimal", "System.Data.SqlTypes.SqlDecimal"},
    {column_type::string, "string", "System.String"},
    {column_type::datetime, "datetime", "System.DateTime"},
    {column_type::timespan, "timespan", "System.TimeSpan"},
    {column_type::guid, "guid", "System.Guid"},
    {column_type::dynamic, "dynamic", "System.Object"},
}};

// Kusto's documented aliases (kusto/query/scalar-data-types).
constexpr std::array<std::pair<std::string_view, column_type>, 6> aliases{{
    {"boolean", column_type::bool_},
    {"date", column_type::datetime},
    {"double", column_type::real},
    {"time", column_type::timespan},
    {"uuid", column_type::guid},
    {"uniqueid", column_type::guid},
}};

}  // namespace

std::string_view to_string(column_type t) {
  for (const auto& n : all_types) {
    if (n.type == t) return n.kusto;
  }
  return "unknown";
}

std::string_view dotnet_name(column_type t) {
  for (const auto& n : all_types) {
    if (n.type == t) return n.dotnet;
  }
  return "System.Object";
}

std::optional<column_type> parse_column_type(std::string_view name) {
  for (const auto& n : all_types) {
    if (n.kusto == name) return n.type;
  }
  for (const auto& [alias, type] : aliases) {
    if (alias == name) return type;
  }
  return std::nullopt;
}

}  // namespace tributary::model
