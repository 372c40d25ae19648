#include "model/types.hpp"

#include <fmt/format.h>

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

std::string fraction(int64_t ticks) {
  if (ticks == 0) return {};
  auto s = fmt::format(".{:07}", ticks);
  while (s.back() == '0') s.pop_back();
  return s;
}

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

std::string format_datetime(int64_t ticks) {
  using namespace std::chrono;
  auto secs = ticks / ticks_per_second;
  auto rem = ticks % ticks_per_second;
  if (rem < 0) {
    rem += ticks_per_second;
    --secs;
  }
  sys_seconds tp{seconds{secs}};
  auto day = floor<days>(tp);
  year_month_day ymd{day};
  hh_mm_ss hms{tp - day};
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}Z", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                     hms.hours().count(), hms.minutes().count(), hms.seconds().count(),
                     fraction(rem));
}

std::string format_timespan(int64_t ticks) {
  std::string sign = ticks < 0 ? "-" : "";
  auto t = ticks < 0 ? -static_cast<uint64_t>(ticks) : static_cast<uint64_t>(ticks);
  auto secs = t / ticks_per_second;
  auto days = secs / 86400;
  auto day_part = days ? fmt::format("{}.", days) : std::string();
  return fmt::format("{}{}{:02}:{:02}:{:02}{}", sign, day_part, secs % 86400 / 3600, secs % 3600 / 60,
                     secs % 60, fraction(static_cast<int64_t>(t % ticks_per_second)));
}

void append_json_quoted(std::string_view s, std::string& out) {
  out += '"';
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          static constexpr char hex[] = "0123456789abcdef";
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

}  // namespace tributary::model
