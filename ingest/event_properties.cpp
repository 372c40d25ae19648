#include "ingest/event_properties.hpp"

#include <fmt/format.h>
#include <simdjson.h>

#include "ingest/formats.hpp"
#include "ingest/json_text.hpp"

namespace tributary::ingest {
namespace {

using result = std::variant<std::string, model::error>;

// A field of a CSV-like record, quoted (RFC 4180) when it holds the separator, a quote or a
// line break.
void append_field(std::string& out, std::string_view v, char sep) {
  if (v.find_first_of(std::string{sep, '"', '\n', '\r'}) == std::string_view::npos) {
    out += v;
    return;
  }
  out += '"';
  for (char c : v) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

// The properties repeat on every record: a large key on many short records could grow a message
// far past what it was, so the result is refused past `limit` before it is built further.
model::error too_large(size_t limit) {
  return {"BadRequest_RequestTooLarge",
          fmt::format("the message's records with their event system properties take more than {} bytes, the most "
                      "one ingest holds; send smaller messages (or shorter keys), or leave eventSystemProperties "
                      "out of the data connection",
                      limit),
          true};
}

result with_fields(char sep, std::string_view message, const std::vector<event_property>& properties, size_t limit) {
  std::string prefix;
  for (const auto& p : properties) {
    if (p.value) append_field(prefix, *p.value, sep);
    prefix += sep;
  }
  std::string out;
  out.reserve(message.size() + prefix.size() * 4);
  size_t start = 0;
  bool quoted = false, over = false;
  auto record = [&](size_t end) {  // [start, end) is a record with its line break
    const auto line = message.substr(start, end - start);
    const bool empty = line.find_first_not_of("\r\n") == std::string_view::npos;  // empty lines stay empty
    if (out.size() + (empty ? 0 : prefix.size()) + line.size() > limit) over = true;
    if (over) return;
    if (!empty) out += prefix;
    out += line;
    start = end;
  };
  // RFC 4180, as the parser reads it: a quote opens a quoted field only at the field's start,
  // and "" inside one is a quote.
  bool field_start = true;
  for (size_t i = 0; i < message.size(); ++i) {
    const char c = message[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < message.size() && message[i + 1] == '"') ++i;
        else quoted = false;
      }
      continue;
    }
    if (c == '"' && field_start) quoted = true;
    else if (c == '\n') record(i + 1);
    if (over) return too_large(limit);
    field_start = c == sep || c == '\n';
  }
  if (start < message.size()) record(message.size());
  if (over) return too_large(limit);
  return out;
}

// `object`'s text with the properties as its first members.
void append_object(std::string& out, std::string_view object, const std::string& members) {
  const auto brace = object.find('{');
  out += object.substr(0, brace + 1);
  out += members;
  const auto next = object.find_first_not_of(" \t\r\n", brace + 1);
  if (next != std::string_view::npos && object[next] != '}') out += ',';
  out += object.substr(brace + 1);
}

result with_members(std::string_view message, const std::vector<event_property>& properties, size_t limit) {
  std::string members;
  for (const auto& p : properties) {
    if (!members.empty()) members += ',';
    detail::append_json_string(members, p.name);
    members += ':';
    if (!p.value) members += "null";
    else if (p.text) detail::append_json_string(members, *p.value);
    else members += *p.value;
  }
  // One parser per thread, its buffers reused from message to message.
  thread_local simdjson::dom::parser parser;
  const simdjson::padded_string padded(message);
  simdjson::dom::document_stream stream;
  const size_t batch = std::max<size_t>(message.size(), simdjson::dom::MINIMAL_BATCH_SIZE);
  if (parser.parse_many(padded, batch).get(stream)) return std::string(message);
  std::string out;
  out.reserve(message.size() + members.size() * 4);
  for (auto it = stream.begin(); it != stream.end(); ++it) {
    simdjson::dom::element doc;
    if ((*it).get(doc)) return std::string(message);
    const auto source = it.source();
    if (out.size() + members.size() + source.size() + 2 > limit) return too_large(limit);
    if (doc.type() == simdjson::dom::element_type::OBJECT) {
      append_object(out, source, members);
    } else if (doc.type() == simdjson::dom::element_type::ARRAY) {
      // An array of records: each object in it (written again, compact) gets them.
      out += '[';
      bool first = true;
      const simdjson::dom::array items = doc.get_array().value_unsafe();
      for (simdjson::dom::element item : items) {
        if (!first) out += ',';
        first = false;
        const auto text = simdjson::minify(item);
        if (out.size() + members.size() + text.size() + 2 > limit) return too_large(limit);
        if (item.type() == simdjson::dom::element_type::OBJECT) append_object(out, text, members);
        else out += text;
      }
      out += ']';
    } else {
      out += source;  // not a record: the parser says so
    }
    out += '\n';
  }
  if (stream.truncated_bytes() > 0) return std::string(message);
  return out;
}

}  // namespace

result with_event_properties(format f, std::string_view message, const std::vector<event_property>& properties,
                             size_t limit) {
  if (properties.empty()) return std::string(message);
  if (const char sep = detail::separator(f)) return with_fields(sep, message, properties, limit);
  return with_members(message, properties, limit);
}

}  // namespace tributary::ingest
