#include "client/render.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace tributary::client {
namespace {

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::string render_value(const model::value& v, model::column_type type) {
  return std::visit(
      [type](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) return {};
        else if constexpr (std::is_same_v<T, bool>) return x ? "true" : "false";
        else if constexpr (std::is_same_v<T, int64_t>) {
          if (type == model::column_type::datetime) return model::format_datetime(x);
          if (type == model::column_type::timespan) return model::format_timespan(x);
          return std::to_string(x);
        } else if constexpr (std::is_same_v<T, double>) {
          // Kusto's spelling of the IEEE special values.
          if (std::isnan(x)) return "NaN";
          if (std::isinf(x)) return x < 0 ? "-Infinity" : "Infinity";
          return fmt::format("{}", x);
        }
        else return x;
      },
      v);
}

std::string render_table(const model::result_table& t) {
  std::vector<std::vector<std::string>> cells;
  std::vector<size_t> width(t.columns.size());
  for (size_t c = 0; c < t.columns.size(); ++c) width[c] = t.columns[c].name.size();
  for (const auto& row : t.rows) {
    auto& out = cells.emplace_back();
    for (size_t c = 0; c < row.size() && c < t.columns.size(); ++c) {
      out.push_back(render_value(row[c], t.columns[c].type));
      width[c] = std::max(width[c], out.back().size());
    }
  }
  std::string s;
  auto line = [&](const std::vector<std::string>& values) {
    std::string l;
    for (size_t c = 0; c < values.size(); ++c)
      l += fmt::format("{}{:<{}}", c ? " | " : "", values[c], width[c]);
    while (!l.empty() && l.back() == ' ') l.pop_back();
    s += l + "\n";
  };
  std::vector<std::string> header;
  for (const auto& c : t.columns) header.push_back(c.name);
  line(header);
  std::string sep;
  for (size_t c = 0; c < width.size(); ++c) sep += (c ? "-+-" : "") + std::string(width[c], '-');
  s += sep + "\n";
  for (const auto& r : cells) line(r);
  return s;
}

std::string render_csv(const model::result_table& t) {
  std::string s;
  for (size_t c = 0; c < t.columns.size(); ++c) s += (c ? "," : "") + csv_field(t.columns[c].name);
  s += "\n";
  for (const auto& row : t.rows) {
    for (size_t c = 0; c < row.size() && c < t.columns.size(); ++c)
      s += (c ? "," : "") + csv_field(render_value(row[c], t.columns[c].type));
    s += "\n";
  }
  return s;
}

std::string render_json(const model::result_table& t) {
  using json = nlohmann::json;
  json columns = json::array();
  for (const auto& c : t.columns) columns.push_back({{"name", c.name}, {"type", model::to_string(c.type)}});
  json rows = json::array();
  for (const auto& row : t.rows) {
    json r = json::array();
    for (size_t c = 0; c < row.size() && c < t.columns.size(); ++c) {
      const auto type = t.columns[c].type;
      std::visit(
          [&](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, std::monostate>) r.push_back(nullptr);
            else if constexpr (std::is_same_v<T, int64_t>) {
              if (type == model::column_type::datetime || type == model::column_type::timespan)
                r.push_back(render_value(x, type));
              else
                r.push_back(x);
            } else r.push_back(x);
          },
          row[c]);
    }
    rows.push_back(std::move(r));
  }
  return json{{"columns", std::move(columns)}, {"rows", std::move(rows)}}.dump() + "\n";
}

}  // namespace tributary::client
