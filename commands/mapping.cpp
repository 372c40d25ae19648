#include "commands/mapping.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>

#include "commands/lexer.hpp"
#include "commands/parser.hpp"

namespace tributary::commands {

namespace {

using json = nlohmann::json;

// Transform names Kusto documents for mappings (kusto/management/mappings).
constexpr std::array<std::string_view, 9> transforms{
    "PropertyBagArrayToDictionary", "SourceLocation",    "SourceLineNumber",
    "DateTimeFromUnixSeconds",      "DateTimeFromUnixMilliseconds", "DateTimeFromUnixMicroseconds",
    "DateTimeFromUnixNanoseconds",  "DropMappedFields",  "BytesAsBase64",
};

bool is_source_transform(std::string_view t) { return t == "SourceLocation" || t == "SourceLineNumber"; }

// Characters allowed in a dot-notation JSONPath member name.
bool is_member_char(unsigned char c) {
  return !(c == '.' || c == '[' || c == ']' || c == '\'' || c == '"' || c == ' ' || c == '*' || c < 0x20 ||
           c == 0x7F);
}

// Parsing state for one mapping element; reports the first problem as a message.
class element_reader {
 public:
  explicit element_reader(size_t index) : index_(index) {}

  std::optional<std::string> read(const json& element) {
    if (!element.is_object()) {
      return fmt::format("element [{}] must be a JSON object such as {{\"Column\":\"a\",\"Properties\":{{...}}}}, "
                         "found {}",
                         index_, element.type_name());
    }
    for (const auto& [key, value] : element.items()) {
      std::string k = ascii_lower(key);
      if (k == "column" || k == "name") {
        if (auto e = take_string(key, "column", value, column_)) return e;
      } else if (k == "datatype") {
        if (auto e = read_data_type(key, value)) return e;
      } else if (k == "csvdatatype") {
        if (!value.is_null() && !value.is_string()) return wrong_type(key, "a string or null", value);
      } else if (k == "properties") {
        if (!value.is_object()) return wrong_type(key, "a JSON object", value);
        for (const auto& [pkey, pvalue] : value.items()) {
          if (auto e = read_property(pkey, pvalue, true)) return e;
        }
      } else if (auto e = read_property(key, value, false)) {
        return e;
      }
    }
    return std::nullopt;
  }

  const std::optional<std::string>& column() const { return column_; }
  model::mapping_element take() && {
    model::mapping_element e;
    e.column = column_.value_or("");
    e.data_type = data_type_;
    e.ordinal = ordinal_;
    e.path = path_;
    e.const_value = const_value_;
    e.transform = transform_;
    return e;
  }
  const std::optional<int32_t>& ordinal() const { return ordinal_; }
  const std::optional<std::string>& path() const { return path_; }
  const std::optional<std::string>& const_value() const { return const_value_; }
  const std::optional<std::string>& transform() const { return transform_; }
  const std::optional<model::column_type>& data_type() const { return data_type_; }

 private:
  std::string wrong_type(std::string_view key, std::string_view expected, const json& value) const {
    return fmt::format("element [{}] property {} must be {}, found {}", index_, quote(key), expected,
                       value.type_name());
  }

  std::optional<std::string> seen(std::string_view canonical) {
    if (std::find(seen_.begin(), seen_.end(), canonical) != seen_.end()) {
      return fmt::format("element [{}] gives {} more than once", index_, canonical);
    }
    seen_.emplace_back(canonical);
    return std::nullopt;
  }

  std::optional<std::string> take_string(std::string_view key, std::string_view canonical, const json& value,
                                         std::optional<std::string>& out) {
    if (auto e = seen(canonical)) return e;
    if (value.is_null()) return std::nullopt;
    if (!value.is_string()) return wrong_type(key, "a string", value);
    out = value.get<std::string>();
    return std::nullopt;
  }

  std::optional<std::string> read_data_type(std::string_view key, const json& value) {
    if (auto e = seen("DataType")) return e;
    if (value.is_null()) return std::nullopt;
    if (!value.is_string()) return wrong_type(key, "a type name such as \"string\"", value);
    const auto& name = value.get_ref<const std::string&>();
    if (name.empty()) return std::nullopt;
    data_type_ = model::parse_column_type(name);
    if (!data_type_) {
      return fmt::format("element [{}] has unknown DataType {}; supported types: bool, int, long, real, decimal, "
                         "string, datetime, timespan, guid, dynamic",
                         index_, quote(name));
    }
    return std::nullopt;
  }

  std::optional<std::string> read_property(std::string_view key, const json& value, bool in_properties) {
    std::string k = ascii_lower(key);
    if (k == "ordinal") return read_ordinal(key, value);
    if (k == "path") return take_string(key, "Path", value, path_);
    if (k == "constvalue") return take_string(key, "ConstValue", value, const_value_);
    if (k == "transform") return read_transform(key, value);
    return fmt::format("element [{}] has unknown property {}{}; known properties: Column, DataType, Properties "
                       "({{Ordinal, Path, ConstValue, Transform}})",
                       index_, quote(key), in_properties ? " in Properties" : "");
  }

  std::optional<std::string> read_ordinal(std::string_view key, const json& value) {
    if (auto e = seen("Ordinal")) return e;
    constexpr auto max = static_cast<uint64_t>(std::numeric_limits<int32_t>::max());
    auto bad = [&](std::string_view shown) {
      return fmt::format("element [{}] Ordinal {} must be a non-negative integer (the 0-based field index), at "
                         "most {}",
                         index_, shown, max);
    };
    if (value.is_null()) return std::nullopt;
    if (value.is_number_unsigned()) {
      auto v = value.get<uint64_t>();
      if (v > max) return bad(std::to_string(v));
      ordinal_ = static_cast<int32_t>(v);
      return std::nullopt;
    }
    if (value.is_number_integer()) return bad(std::to_string(value.get<int64_t>()));
    if (value.is_number_float()) return bad(value.dump());
    if (!value.is_string()) return wrong_type(key, "a non-negative integer or a string such as \"0\"", value);
    const auto& s = value.get_ref<const std::string&>();
    if (s.empty() || s.size() > 10 || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return bad(quote(s));
    }
    uint64_t v = std::stoull(s);
    if (v > max) return bad(quote(s));
    ordinal_ = static_cast<int32_t>(v);
    return std::nullopt;
  }

  std::optional<std::string> read_transform(std::string_view key, const json& value) {
    if (auto e = seen("Transform")) return e;
    if (value.is_null()) return std::nullopt;
    // The legacy flat shape writes the transform as an enum number; 0 is "None".
    if (value.is_number_integer() && value.get<int64_t>() == 0) return std::nullopt;
    if (!value.is_string()) return wrong_type(key, "a transform name such as \"SourceLocation\"", value);
    const auto& name = value.get_ref<const std::string&>();
    if (ascii_lower(name) == "none" || name.empty()) return std::nullopt;
    for (auto t : transforms) {
      if (ascii_lower(t) == ascii_lower(name)) {
        transform_ = std::string(t);
        return std::nullopt;
      }
    }
    return fmt::format("element [{}] has unknown Transform {}; known transforms: PropertyBagArrayToDictionary, "
                       "SourceLocation, SourceLineNumber, DateTimeFromUnixSeconds, DateTimeFromUnixMilliseconds, "
                       "DateTimeFromUnixMicroseconds, DateTimeFromUnixNanoseconds, DropMappedFields",
                       index_, quote(name));
  }

  size_t index_;
  std::vector<std::string> seen_;
  std::optional<std::string> column_;
  std::optional<model::column_type> data_type_;
  std::optional<int32_t> ordinal_;
  std::optional<std::string> path_;
  std::optional<std::string> const_value_;
  std::optional<std::string> transform_;
};

// Checks where an element takes its value from, per mapping kind.
std::optional<std::string> check_source(size_t i, model::mapping_kind kind, const element_reader& r) {
  const std::string col = quote(r.column().value_or(""));
  if (kind == model::mapping_kind::csv) {
    if (r.path()) {
      return fmt::format("element [{}] (column {}) has a Path, which csv mappings do not use; give the field's "
                         "Ordinal instead",
                         i, col);
    }
    if (r.transform() && *r.transform() != "SourceLocation") {
      return fmt::format("element [{}] (column {}) has Transform {}; the only transform csv mappings support is "
                         "SourceLocation",
                         i, col, quote(*r.transform()));
    }
    int sources = (r.ordinal() ? 1 : 0) + (r.const_value() ? 1 : 0) + (r.transform() ? 1 : 0);
    if (sources == 0) {
      return fmt::format("element [{}] (column {}) needs an Ordinal (the 0-based field index, e.g. \"0\"), a "
                         "ConstValue, or Transform SourceLocation",
                         i, col);
    }
    if (sources > 1) {
      return fmt::format("element [{}] (column {}) must have exactly one of Ordinal, ConstValue and Transform "
                         "SourceLocation; Ordinal must be unset when the others are used",
                         i, col);
    }
    return std::nullopt;
  }
  if (r.ordinal()) {
    return fmt::format("element [{}] (column {}) has an Ordinal, which json mappings do not use; give a Path such "
                       "as \"$.field\" instead",
                       i, col);
  }
  if (r.transform() && *r.transform() == "BytesAsBase64") {
    return fmt::format("element [{}] (column {}) has Transform BytesAsBase64, which only avro mappings support", i,
                       col);
  }
  if (r.transform() && is_source_transform(*r.transform())) {
    if (r.path() || r.const_value()) {
      return fmt::format("element [{}] (column {}) has Transform {}, which takes no Path or ConstValue", i, col,
                         *r.transform());
    }
    return std::nullopt;
  }
  if (r.path() && r.const_value()) {
    return fmt::format("element [{}] (column {}) has both a Path and a ConstValue; give one", i, col);
  }
  if (!r.path() && !r.const_value()) {
    return fmt::format("element [{}] (column {}) needs a Path such as \"$.field\" or a ConstValue{}", i, col,
                       r.transform() ? fmt::format(" (Transform {} applies to a Path)", *r.transform()) : "");
  }
  if (r.path() && r.path()->empty()) {
    return fmt::format("element [{}] (column {}) has an empty Path; a path starts with '$', e.g. \"$.field\"", i,
                       col);
  }
  if (r.path()) {
    if (auto problem = check_json_path(*r.path())) {
      return fmt::format("element [{}] (column {}) has invalid Path {}: at position {}, {}", i, col,
                         quote(*r.path()), problem->position, problem->reason);
    }
  }
  if (r.transform() && r.const_value()) {
    return fmt::format("element [{}] (column {}) applies Transform {} to a ConstValue; transforms apply to a Path",
                       i, col, *r.transform());
  }
  return std::nullopt;
}

std::string column_list(const model::table& t) {
  constexpr size_t shown = 20;
  std::string out;
  for (size_t i = 0; i < t.columns.size() && i < shown; ++i) {
    if (i > 0) out += ", ";
    out += quote(t.columns[i].name);
  }
  if (t.columns.size() > shown) out += fmt::format(" and {} more", t.columns.size() - shown);
  return out;
}

}  // namespace

std::string json_error_text(std::string_view what) {
  auto close = what.find("] ");
  if (!what.empty() && what.front() == '[' && close != std::string_view::npos) what.remove_prefix(close + 2);
  constexpr size_t max_length = 300;
  if (what.size() > max_length) return quote(what.substr(0, max_length));
  return std::string(what);
}

std::optional<std::string> check_json_depth(std::string_view text, size_t max_depth) {
  size_t depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) {
        return fmt::format("JSON nesting deeper than {} levels at byte {}", max_depth, i + 1);
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return std::nullopt;
}

std::optional<path_problem> check_json_path(std::string_view p) {
  auto at = [&](size_t i, std::string reason) { return path_problem{i + 1, std::move(reason)}; };
  auto shown = [&](size_t i) {
    auto c = static_cast<unsigned char>(p[i]);
    return c >= 0x20 && c < 0x7F ? fmt::format("'{}'", static_cast<char>(c)) : fmt::format("byte 0x{:02X}", c);
  };
  if (p.empty() || p[0] != '$') {
    return at(0, "a path must start with '$' (the record root), e.g. \"$.field\"; use ConstValue for a constant");
  }
  size_t i = 1;
  while (i < p.size()) {
    if (p[i] == '.') {
      ++i;
      if (i < p.size() && p[i] == '.') return at(i, "recursive descent '..' is not supported");
      if (i < p.size() && p[i] == '*') return at(i, "wildcards are not supported");
      size_t start = i;
      while (i < p.size() && is_member_char(static_cast<unsigned char>(p[i]))) ++i;
      if (i == start) {
        return at(i, i < p.size() ? fmt::format("expected a property name after '.', found {}", shown(i))
                                  : std::string("expected a property name after '.', found the end of the path"));
      }
      continue;
    }
    if (p[i] == '[') {
      ++i;
      if (i >= p.size()) return at(i, "expected a quoted property name or an array index after '['");
      if (p[i] == '\'' || p[i] == '"') {
        const char q = p[i];
        size_t start = ++i;
        while (i < p.size() && p[i] != q) {
          if (p[i] == '\\') ++i;
          ++i;
        }
        if (i >= p.size()) return at(start - 1, fmt::format("unterminated property name; expected a closing {}", q));
        if (i == start) return at(start, "empty property name");
        ++i;
      } else if (p[i] >= '0' && p[i] <= '9') {
        size_t start = i;
        while (i < p.size() && p[i] >= '0' && p[i] <= '9') ++i;
        if (i - start > 9) return at(start, "array index too large");
      } else if (p[i] == '*') {
        return at(i, "wildcards are not supported");
      } else if (p[i] == '-') {
        return at(i, "negative array indexes are not supported");
      } else {
        return at(i, fmt::format("expected a quoted property name or an array index after '[', found {}", shown(i)));
      }
      if (i >= p.size() || p[i] != ']') {
        return at(i, i < p.size() ? fmt::format("expected ']', found {}", shown(i))
                                  : std::string("expected ']', found the end of the path"));
      }
      ++i;
      continue;
    }
    return at(i, fmt::format("expected '.' or '[', found {}", shown(i)));
  }
  return std::nullopt;
}

std::variant<std::vector<model::mapping_element>, model::error> parse_mapping(
    model::mapping_kind kind, std::string_view text, const model::table& t, std::string_view mapping_name) {
  auto fail = [&](std::string_view what) {
    return model::error{"BadRequest_InvalidMapping",
                        fmt::format("Invalid {} mapping {} for table {}: {}", model::to_string(kind),
                                    quote(mapping_name), quote(t.name), what),
                        true};
  };
  if (auto deep = check_json_depth(text)) return fail(*deep);
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::exception& e) {
    return fail(fmt::format("the mapping is not valid JSON: {}", json_error_text(e.what())));
  }
  if (!doc.is_array()) {
    return fail(fmt::format("the mapping must be a JSON array of elements such as [{{\"Column\":\"a\","
                            "\"Properties\":{{{}}}}}], found {}",
                            kind == model::mapping_kind::csv ? "\"Ordinal\":\"0\"" : "\"Path\":\"$.a\"",
                            doc.type_name()));
  }
  if (doc.empty()) return fail("the mapping has no elements; map at least one column");
  std::map<std::string, size_t, std::less<>> columns;
  for (size_t i = 0; i < t.columns.size(); ++i) columns.emplace(t.columns[i].name, i);
  std::map<std::string, size_t, std::less<>> mapped;
  std::vector<model::mapping_element> out;
  out.reserve(doc.size());
  for (size_t i = 0; i < doc.size(); ++i) {
    element_reader r(i);
    if (auto e = r.read(doc[i])) return fail(*e);
    if (!r.column() || r.column()->empty()) {
      return fail(fmt::format("element [{}] needs a \"Column\" naming the target column", i));
    }
    const std::string& name = *r.column();
    auto col = columns.find(name);
    if (col == columns.end()) {
      std::string fix = check_entity_name(name, "column")
                            ? std::string("fix the Column")
                            : fmt::format("add it first with .create-merge table {} ({}:<type>)", csl_name(t.name),
                                          csl_name(name));
      return fail(fmt::format("element [{}] maps column {}, which table {} does not have (its columns: {}); {}", i,
                              quote(name), quote(t.name), column_list(t), fix));
    }
    if (auto [prev, inserted] = mapped.emplace(name, i); !inserted) {
      return fail(fmt::format("column {} is mapped twice, by elements [{}] and [{}]; map each column once",
                              quote(name), prev->second, i));
    }
    const model::column_type actual = t.columns[col->second].type;
    if (r.data_type() && *r.data_type() != actual) {
      return fail(fmt::format("element [{}] gives DataType {} for column {}, which is of type {}; omit DataType or "
                              "make it match",
                              i, model::to_string(*r.data_type()), quote(name), model::to_string(actual)));
    }
    if (auto e = check_source(i, kind, r)) return fail(*e);
    out.push_back(std::move(r).take());
  }
  return out;
}

std::string mapping_json(const std::vector<model::mapping_element>& elements) {
  nlohmann::ordered_json arr = nlohmann::ordered_json::array();
  for (const auto& e : elements) {
    nlohmann::ordered_json item;
    item["Column"] = e.column;
    if (e.data_type) item["DataType"] = std::string(model::to_string(*e.data_type));
    nlohmann::ordered_json props = nlohmann::ordered_json::object();
    if (e.ordinal) props["Ordinal"] = std::to_string(*e.ordinal);
    if (e.path) props["Path"] = *e.path;
    if (e.const_value) props["ConstValue"] = *e.const_value;
    if (e.transform) props["Transform"] = *e.transform;
    item["Properties"] = std::move(props);
    arr.push_back(std::move(item));
  }
  return arr.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace tributary::commands
