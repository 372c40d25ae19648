#include "ingest/json_path.hpp"

#include <fmt/format.h>

namespace tributary::ingest::detail {
namespace {

bool is_member_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  return !(c == '.' || c == '[' || c == ']' || c == '\'' || c == '"' || u < 0x20);
}

}  // namespace

std::variant<json_path, std::string> compile_path(std::string_view p) {
  if (p.empty() || p[0] != '$') return std::string("a path starts with '$'");
  json_path out;
  size_t i = 1;
  while (i < p.size()) {
    if (p[i] == '.') {
      ++i;
      // Kusto's own examples write $.['name']: the dot before a bracket is harmless.
      if (i < p.size() && p[i] == '[') continue;
      const size_t start = i;
      while (i < p.size() && is_member_char(p[i])) ++i;
      if (i == start) return fmt::format("expected a property name at position {}", i + 1);
      out.steps.push_back({std::string(p.substr(start, i - start)), 0, false});
      continue;
    }
    if (p[i] != '[') return fmt::format("expected '.' or '[' at position {}", i + 1);
    ++i;
    if (i < p.size() && (p[i] == '\'' || p[i] == '"')) {
      const char quote = p[i++];
      std::string key;
      while (i < p.size() && p[i] != quote) {
        if (p[i] == '\\' && i + 1 < p.size()) ++i;
        key += p[i++];
      }
      if (i >= p.size())
        return fmt::format("unterminated property name; expected a closing {}", quote);
      ++i;
      out.steps.push_back({std::move(key), 0, false});
    } else {
      const size_t start = i;
      size_t index = 0;
      while (i < p.size() && p[i] >= '0' && p[i] <= '9' && i - start < 9)
        index = index * 10 + (p[i++] - '0');
      if (i == start)
        return fmt::format("expected a quoted name or an index at position {}", i + 1);
      out.steps.push_back({{}, index, true});
    }
    if (i >= p.size() || p[i] != ']') return fmt::format("expected ']' at position {}", i + 1);
    ++i;
  }
  return out;
}

bool find(simdjson::dom::element root, const json_path& path, simdjson::dom::element& out) {
  simdjson::dom::element e = root;
  for (const auto& step : path.steps) {
    if (step.is_index) {
      simdjson::dom::array a;
      if (e.get_array().get(a)) return false;
      if (a.at(step.index).get(e)) return false;
    } else {
      simdjson::dom::object o;
      if (e.get_object().get(o)) return false;
      if (o.at_key(step.key).get(e)) return false;
    }
  }
  out = e;
  return true;
}

}  // namespace tributary::ingest::detail
