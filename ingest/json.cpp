#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <unordered_map>

#include "ingest/builder.hpp"
#include "ingest/formats.hpp"
#include "ingest/json_dom.hpp"
#include "ingest/json_path.hpp"
#include "ingest/json_text.hpp"

namespace tributary::ingest::detail {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

enum class transform : uint8_t {
  none,
  unix_seconds,
  unix_milliseconds,
  unix_microseconds,
  unix_nanoseconds,
  bag_array_to_dictionary,
  drop_mapped_fields,
};

// Where a column's value comes from in a JSON record.
struct source {
  enum class kind : uint8_t { path, constant, null, line_number } what = kind::null;
  json_path path;
  std::string_view constant;
  std::string_view path_text;
  transform how = transform::none;
  std::vector<json_path> dropped;  // drop_mapped_fields: other columns' paths below this one
};

std::string_view kind_name(element e) {
  switch (e.type()) {
    case element_type::ARRAY:
      return "a JSON array";
    case element_type::OBJECT:
      return "a JSON object";
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE:
      return "a JSON number";
    case element_type::STRING:
      return "a JSON string";
    case element_type::BOOL:
      return "a JSON bool";
    case element_type::NULL_VALUE:
      return "JSON null";
  }
  return "a JSON value";
}

std::variant<transform, model::error> parse_transform(const model::mapping& m,
                                                      const model::mapping_element& e) {
  static constexpr std::array<std::pair<std::string_view, transform>, 6> names{{
      {"DateTimeFromUnixSeconds", transform::unix_seconds},
      {"DateTimeFromUnixMilliseconds", transform::unix_milliseconds},
      {"DateTimeFromUnixMicroseconds", transform::unix_microseconds},
      {"DateTimeFromUnixNanoseconds", transform::unix_nanoseconds},
      {"PropertyBagArrayToDictionary", transform::bag_array_to_dictionary},
      {"DropMappedFields", transform::drop_mapped_fields},
  }};
  if (!e.transform || *e.transform == "SourceLineNumber" || *e.transform == "SourceLocation")
    return transform::none;
  for (const auto& [name, t] : names)
    if (*e.transform == name) return t;
  return model::error{
      "BadRequest_InvalidMapping",
      fmt::format("json mapping '{}' maps column '{}' with Transform '{}', which streaming "
                  "ingestion does not support",
                  m.name, e.column, *e.transform),
      true};
}

// True when `inner` names something strictly below `outer`.
bool is_below(const json_path& outer, const json_path& inner) {
  if (inner.steps.size() <= outer.steps.size()) return false;
  for (size_t i = 0; i < outer.steps.size(); ++i) {
    const auto& a = outer.steps[i];
    const auto& b = inner.steps[i];
    if (a.is_index != b.is_index || a.key != b.key || a.index != b.index) return false;
  }
  return true;
}

std::variant<std::vector<source>, model::error> make_plan(const model::table& t,
                                                          const model::mapping& m) {
  std::vector<source> sources(t.columns.size());
  for (const auto& e : m.elements) {
    auto col = mapped_column(t, m, e);
    if (auto* err = std::get_if<model::error>(&col)) return std::move(*err);
    source& s = sources[std::get<size_t>(col)];
    auto how = parse_transform(m, e);
    if (auto* err = std::get_if<model::error>(&how)) return std::move(*err);
    s.how = std::get<transform>(how);
    if (e.transform == "SourceLineNumber") {
      s.what = source::kind::line_number;
    } else if (e.transform == "SourceLocation") {
      s.what = source::kind::null;  // a streaming request has no storage artifact to name
    } else if (e.path && !e.path->starts_with('$')) {
      // Kusto: a Path that does not start with '$' is a constant.
      s.what = source::kind::constant;
      s.constant = *e.path;
    } else if (e.path) {
      auto compiled = compile_path(*e.path);
      if (auto* why = std::get_if<std::string>(&compiled)) {
        return model::error{"BadRequest_InvalidMapping",
                            fmt::format("json mapping '{}' maps column '{}' with Path '{}': {}",
                                        m.name, e.column, *e.path, *why),
                            true};
      }
      s.what = source::kind::path;
      s.path = std::move(std::get<json_path>(compiled));
      s.path_text = *e.path;
    } else if (e.const_value) {
      s.what = source::kind::constant;
      s.constant = *e.const_value;
    } else if (s.how == transform::none) {
      return model::error{
          "BadRequest_InvalidMapping",
          fmt::format("json mapping '{}' gives column '{}' neither a Path nor a ConstValue", m.name,
                      e.column),
          true};
    }
  }
  for (auto& s : sources) {
    if (s.how != transform::drop_mapped_fields) continue;
    for (const auto& other : sources)
      if (&other != &s && other.what == source::kind::path && is_below(s.path, other.path))
        s.dropped.push_back(other.path);
  }
  return sources;
}

class json_parser {
 public:
  json_parser(bool multi, std::string_view data, const model::table& t, const model::mapping* m,
              size_t decoded_limit)
      : multi_(multi),
        data_(data),
        table_(t),
        mapping_(m),
        decoded_limit_(decoded_limit),
        builder_(t.columns, count_lines(data), decoded_limit),
        padded_(data.data(), data.size()) {
    // Sets the depth limit for every later parse; the capacity grows as needed. A failure here
    // shows again as the first parse's error.
    [[maybe_unused]] auto ignored =
        parser_.allocate(simdjson::dom::MINIMAL_DOCUMENT_CAPACITY, max_json_depth);
  }

  std::variant<model::column_batch, model::error> run() {
    if (mapping_) {
      auto plan = make_plan(table_, *mapping_);
      if (auto* e = std::get_if<model::error>(&plan)) return std::move(*e);
      sources_ = std::move(std::get<std::vector<source>>(plan));
    } else {
      for (size_t c = 0; c < table_.columns.size(); ++c)
        by_name_.emplace(table_.columns[c].name, c);
      found_.resize(table_.columns.size());
      slots_.resize(table_.columns.size());
    }
    auto e = multi_ ? run_multi() : run_lines();
    if (e) return std::move(*e);
    return builder_.finish();
  }

 private:
  std::optional<model::error> run_lines() {
    size_t pos = 0;
    while (pos < data_.size()) {
      size_t end = data_.find('\n', pos);
      if (end == std::string_view::npos) end = data_.size();
      std::string_view line = data_.substr(pos, end - pos);
      if (line.find_first_not_of(" \t\r") != std::string_view::npos) {
        at_ = {at_.record + 1, pos};
        auto doc = parser_.parse(padded_.data() + pos, line.size(), false);
        if (doc.error()) return not_json(doc.error());
        if (auto e = record(doc.value_unsafe())) return e;
      }
      pos = end + 1;
    }
    return std::nullopt;
  }

  std::optional<model::error> run_multi() {
    // One batch spanning the whole payload: a record may be as large as the request.
    const size_t batch = std::max<size_t>(data_.size(), simdjson::dom::MINIMAL_BATCH_SIZE);
    simdjson::dom::document_stream stream;
    if (auto err = parser_.parse_many(padded_.data(), data_.size(), batch).get(stream))
      return not_json(err);
    size_t last_end = 0;
    for (auto it = stream.begin(); it != stream.end(); ++it) {
      at_ = {at_.record + 1, it.current_index()};
      element doc;
      if (auto err = (*it).get(doc)) return not_json(err);
      last_end = it.current_index();
      if (doc.type() != element_type::ARRAY) {
        if (auto e = record(doc)) return e;
        continue;
      }
      --at_.record;
      const simdjson::dom::array items = doc.get_array().value_unsafe();
      for (element item : items) {
        ++at_.record;
        ++at_.item;
        if (auto e = record(item)) return e;
      }
      at_.item = 0;
    }
    if (stream.truncated_bytes() > 0) {
      at_ = {at_.record + 1, std::max(last_end, data_.size() - stream.truncated_bytes())};
      return format_error("BadRequest_InvalidBlob", data_, at_,
                          "is cut off: the payload ends inside a JSON value");
    }
    return std::nullopt;
  }

  model::error not_json(simdjson::error_code err) const {
    return format_error("BadRequest_InvalidBlob", data_, at_,
                        fmt::format("is not valid JSON: {}{}", json_error_text(err),
                                    multi_ ? "" : " (format json takes one JSON object per line)"));
  }

  std::optional<model::error> record(element doc) {
    if (doc.type() != element_type::OBJECT) {
      return format_error(
          "BadRequest_InvalidBlob", data_, at_,
          fmt::format("is {}, not a JSON object; each record must be an object such as "
                      "{{\"a\":1}}",
                      kind_name(doc)));
    }
    if (!builder_.begin_record()) return decoded_too_large(table_, data_, at_, decoded_limit_);
    auto e = mapping_ ? mapped(doc) : by_name(doc);
    // Some appends ignore a refused text (a bool's "true"), so the limit is checked here.
    if (builder_.over_limit()) return decoded_too_large(table_, data_, at_, decoded_limit_);
    if (e) return e;
    builder_.end_record();
    return std::nullopt;
  }

  std::optional<model::error> by_name(element doc) {
    std::fill(found_.begin(), found_.end(), false);
    const simdjson::dom::object fields = doc.get_object().value_unsafe();
    for (auto [key, value] : fields) {
      auto it = by_name_.find(key);
      if (it == by_name_.end() || found_[it->second]) continue;  // the first of duplicate keys wins
      found_[it->second] = true;
      slots_[it->second] = value;
    }
    for (size_t c = 0; c < slots_.size(); ++c) {
      if (!found_[c])
        builder_.null(c);
      else if (auto e = value(c, slots_[c], nullptr))
        return e;
    }
    return std::nullopt;
  }

  std::optional<model::error> mapped(element doc) {
    for (size_t c = 0; c < sources_.size(); ++c) {
      const source& s = sources_[c];
      switch (s.what) {
        case source::kind::null:
          builder_.null(c);
          break;
        case source::kind::line_number: {
          const std::string n = std::to_string(at_.record);
          if (problem p = builder_.text(c, n); !p.empty())
            return invalid_value(data_, at_, table_.columns[c], n, p);
          break;
        }
        case source::kind::constant:
          if (problem p = builder_.text(c, s.constant); !p.empty())
            return model::error{
                "BadRequest_InvalidMapping",
                fmt::format("mapping '{}' gives {} the constant {}, which {}", mapping_->name,
                            describe(table_.columns[c]), shown(s.constant), p),
                true};
          break;
        case source::kind::path: {
          element e;
          if (!find(doc, s.path, e))
            builder_.null(c);
          else if (auto err = value(c, e, &s))
            return err;
          break;
        }
      }
    }
    return std::nullopt;
  }

  // Appends one JSON value to column c, applying the source's transform if any.
  std::optional<model::error> value(size_t c, element e, const source* s) {
    const transform how = s ? s->how : transform::none;
    if (e.is_null()) {
      builder_.null(c);
      return std::nullopt;
    }
    switch (how) {
      case transform::none:
        break;
      case transform::unix_seconds:
        return unix_time(c, e, unix_unit::seconds);
      case transform::unix_milliseconds:
        return unix_time(c, e, unix_unit::milliseconds);
      case transform::unix_microseconds:
        return unix_time(c, e, unix_unit::microseconds);
      case transform::unix_nanoseconds:
        return unix_time(c, e, unix_unit::nanoseconds);
      case transform::bag_array_to_dictionary:
        return bag_array(c, e);
      case transform::drop_mapped_fields:
        return drop_mapped(c, e, *s);
    }
    const model::column_type type = table_.columns[c].type;
    switch (e.type()) {
      case element_type::STRING: {
        std::string_view v = e.get_string().value_unsafe();
        if (type == model::column_type::dynamic) return json_text(c, e, v);
        if (problem p = builder_.text(c, v); !p.empty())
          return invalid_value(data_, at_, table_.columns[c], v, p);
        return std::nullopt;
      }
      case element_type::OBJECT:
      case element_type::ARRAY:
        if (type == model::column_type::dynamic || type == model::column_type::string)
          return json_text(c, e, {});
        return mismatch(c, e, "a number or a string");
      case element_type::BOOL:
        return boolean(c, e);
      default:
        return number(c, e);
    }
  }

  // Stores the compact JSON of e (dynamic), or its text (string): a JSON value in a string
  // column is its JSON text, as Kusto's tostring() of a dynamic value.
  std::optional<model::error> json_text(size_t c, element e, std::string_view plain) {
    scratch_.clear();
    if (!plain.data() || table_.columns[c].type == model::column_type::dynamic)
      append_compact(scratch_, e);
    else
      scratch_.assign(plain);
    if (problem p = builder_.raw_text(c, scratch_); !p.empty())
      return invalid_value(data_, at_, table_.columns[c], scratch_, p);
    return std::nullopt;
  }

  std::optional<model::error> boolean(size_t c, element e) {
    const bool b = e.get_bool().value_unsafe();
    switch (table_.columns[c].type) {
      case model::column_type::bool_:
      case model::column_type::int_:
      case model::column_type::long_:
        builder_.integer(c, b ? 1 : 0);
        return std::nullopt;
      case model::column_type::real:
        builder_.real(c, b ? 1 : 0);
        return std::nullopt;
      case model::column_type::string:
        builder_.raw_text(c, b ? "true" : "false");
        return std::nullopt;
      case model::column_type::dynamic:
        return json_text(c, e, {});
      default:
        return mismatch(c, e, "a string");
    }
  }

  std::optional<model::error> number(size_t c, element e) {
    const model::column_type type = table_.columns[c].type;
    const element_type kind = e.type();
    const double d = e.get_double().value_unsafe();
    int64_t i = 0;
    // An integer value: a JSON integer in range, or a double with no fraction part.
    bool integral = kind == element_type::INT64 ||
                    (kind == element_type::UINT64 && e.get_int64().get(i) == simdjson::SUCCESS);
    if (kind == element_type::INT64) i = e.get_int64().value_unsafe();
    if (kind == element_type::DOUBLE && d == std::trunc(d) && d >= -9.2233720368547758e18 &&
        d < 9.2233720368547758e18) {
      integral = true;
      i = static_cast<int64_t>(d);
    }
    switch (type) {
      case model::column_type::bool_:
        builder_.integer(c, d != 0 ? 1 : 0);
        return std::nullopt;
      case model::column_type::int_:
        if (integral && i >= INT32_MIN && i <= INT32_MAX) {
          builder_.integer(c, i);
          return std::nullopt;
        }
        return number_problem(c, e,
                              integral || kind == element_type::UINT64
                                  ? "is out of range for int (-2147483648 to 2147483647)"
                                  : "has a fraction; int takes whole numbers");
      case model::column_type::long_:
        if (integral) {
          builder_.integer(c, i);
          return std::nullopt;
        }
        return number_problem(
            c, e,
            kind == element_type::UINT64 || d == std::trunc(d)
                ? "is out of range for long (-9223372036854775808 to 9223372036854775807)"
                : "has a fraction; long takes whole numbers");
      case model::column_type::real:
        builder_.real(c, d);
        return std::nullopt;
      case model::column_type::decimal: {
        scratch_.clear();
        if (kind == element_type::DOUBLE) {
          char buf[32];
          auto r = std::to_chars(buf, buf + sizeof buf, d);
          scratch_.assign(buf, r.ptr);
        } else {
          append_compact(scratch_, e);
        }
        std::string normal;
        if (problem p = parse_decimal(scratch_, normal); !p.empty()) return number_problem(c, e, p);
        builder_.raw_text(c, normal);
        return std::nullopt;
      }
      case model::column_type::string:
      case model::column_type::dynamic:
        return json_text(c, e, {});
      case model::column_type::datetime:
        return mismatch(
            c, e,
            "a string such as \"2024-05-01T12:00:00Z\" (for Unix times use a json mapping "
            "with Transform DateTimeFromUnixSeconds)");
      default:
        return mismatch(c, e, "a string");
    }
  }

  std::optional<model::error> unix_time(size_t c, element e, unix_unit unit) {
    int64_t ticks = 0;
    bool ok = false;
    if (e.type() == element_type::INT64) {
      ok = unix_time_to_ticks(e.get_int64().value_unsafe(), unit, ticks);
    } else if (e.is_number()) {
      ok = unix_time_to_ticks(e.get_double().value_unsafe(), unit, ticks);
    } else if (e.is_string()) {
      std::string_view v = trim_space(e.get_string().value_unsafe());
      int64_t i = 0;
      double d = 0;
      if (parse_long(v, i).empty())
        ok = unix_time_to_ticks(i, unit, ticks);
      else if (parse_real(v, d).empty())
        ok = unix_time_to_ticks(d, unit, ticks);
      else
        return mismatch(c, e, "a number of Unix time units");
    } else {
      return mismatch(c, e, "a number of Unix time units");
    }
    if (!ok)
      return number_problem(c, e,
                            "is out of range for datetime (years 0001 to 9999) as a Unix time");
    if (table_.columns[c].type == model::column_type::datetime) {
      builder_.integer(c, ticks);
      return std::nullopt;
    }
    const std::string text = format_datetime(ticks);
    if (problem p = builder_.text(c, text); !p.empty())
      return invalid_value(data_, at_, table_.columns[c], text, p);
    return std::nullopt;
  }

  // Kusto's PropertyBagArrayToDictionary: [{"k1":v1},{"k2":v2}] → {"k1":v1,"k2":v2}; a later
  // key replaces an earlier one.
  std::optional<model::error> bag_array(size_t c, element e) {
    if (!e.is_array())
      return mismatch(c, e, "a JSON array of objects (Transform PropertyBagArrayToDictionary)");
    std::vector<std::pair<std::string_view, element>> entries;
    const simdjson::dom::array items = e.get_array().value_unsafe();
    for (element item : items) {
      if (!item.is_object()) return mismatch(c, item, "a JSON object in the array");
      const simdjson::dom::object fields = item.get_object().value_unsafe();
      for (auto [key, v] : fields) {
        auto same = std::find_if(entries.begin(), entries.end(),
                                 [&](const auto& kv) { return kv.first == key; });
        if (same != entries.end())
          same->second = v;
        else
          entries.emplace_back(key, v);
      }
    }
    scratch_ = "{";
    for (const auto& [key, v] : entries) {
      if (scratch_.size() > 1) scratch_ += ',';
      append_json_string(scratch_, key);
      scratch_ += ':';
      append_compact(scratch_, v);
    }
    scratch_ += '}';
    return store_json(c);
  }

  // Kusto's DropMappedFields: the object without the properties other columns map.
  std::optional<model::error> drop_mapped(size_t c, element e, const source& s) {
    if (!e.is_object()) return mismatch(c, e, "a JSON object (Transform DropMappedFields)");
    scratch_.clear();
    write_without(e, s, s.path.steps.size());
    return store_json(c);
  }

  void write_without(element e, const source& s, size_t depth) {
    if (!e.is_object()) {
      append_compact(scratch_, e);
      return;
    }
    scratch_ += '{';
    bool first = true;
    const simdjson::dom::object fields = e.get_object().value_unsafe();
    for (auto [key, v] : fields) {
      bool dropped = false, below = false;
      for (const auto& d : s.dropped) {
        if (d.steps.size() <= depth || d.steps[depth].is_index || d.steps[depth].key != key)
          continue;
        if (d.steps.size() == depth + 1)
          dropped = true;
        else
          below = true;
      }
      if (dropped) continue;
      if (!first) scratch_ += ',';
      first = false;
      append_json_string(scratch_, key);
      scratch_ += ':';
      if (below)
        write_without(v, s, depth + 1);
      else
        append_compact(scratch_, v);
    }
    scratch_ += '}';
  }

  std::optional<model::error> store_json(size_t c) {
    problem p;
    if (table_.columns[c].type == model::column_type::dynamic ||
        table_.columns[c].type == model::column_type::string)
      p = builder_.raw_text(c, scratch_);
    else
      p = "is a JSON object; only string and dynamic columns take one";
    if (!p.empty()) return invalid_value(data_, at_, table_.columns[c], scratch_, p);
    return std::nullopt;
  }

  model::error number_problem(size_t c, element e, problem p) {
    scratch_.clear();
    append_compact(scratch_, e);
    return invalid_value(data_, at_, table_.columns[c], scratch_, p);
  }

  model::error mismatch(size_t c, element e, std::string_view wanted) {
    scratch_.clear();
    append_compact(scratch_, e);
    return model::error{
        "BadRequest_InvalidValue",
        fmt::format("{}, {}: {} is {}; this column takes {}", where(data_, at_),
                    describe(table_.columns[c]), shown(scratch_), kind_name(e), wanted),
        true};
  }

  const bool multi_;
  const std::string_view data_;
  const model::table& table_;
  const model::mapping* const mapping_;
  const size_t decoded_limit_;
  batch_builder builder_;
  simdjson::padded_string padded_;
  simdjson::dom::parser parser_;
  position at_;
  std::vector<source> sources_;
  std::unordered_map<std::string_view, size_t> by_name_;
  std::vector<bool> found_;
  std::vector<element> slots_;
  std::string scratch_;
};

}  // namespace

std::variant<model::column_batch, model::error> parse_json(bool multi, std::string_view data,
                                                           const model::table& t,
                                                           const model::mapping* m,
                                                           size_t decoded_limit) {
  json_parser parser(multi, data, t, m, decoded_limit);
  return parser.run();
}

}  // namespace tributary::ingest::detail
