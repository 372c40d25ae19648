#include "ingest/json_text.hpp"

#include <fmt/format.h>

#include "ingest/json_dom.hpp"

namespace tributary::ingest::detail {

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  size_t run = 0;  // start of the bytes not yet copied
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s, run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 0xF];
    }
  }
  out.append(s, run, s.size() - run);
  out += '"';
}

size_t first_invalid_utf8(std::string_view s) {
  if (simdjson::validate_utf8(s.data(), s.size())) return std::string_view::npos;
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len = 0;
    uint32_t cp = 0;
    if (c >= 0xC2 && c <= 0xDF)
      len = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF)
      len = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4)
      len = 4, cp = c & 0x07;
    else
      return i;
    if (i + len > s.size()) return i;
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, UTF-16 surrogates and code points past U+10FFFF.
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return i;
    i += len;
  }
  return std::string_view::npos;
}

void append_compact(std::string& out, simdjson::dom::element e) {
  out += simdjson::minify(e);
}

std::string json_error_text(simdjson::error_code e) {
  std::string_view m = simdjson::error_message(e);
  // simdjson's messages are sentences written for programmers; keep them, minus trailing dots.
  while (!m.empty() && (m.back() == '.' || m.back() == ' ')) m.remove_suffix(1);
  return std::string(m);
}

struct dynamic_text::impl {
  simdjson::dom::parser parser;
};

dynamic_text::dynamic_text() : impl_(std::make_unique<impl>()) {
  // Sets the depth limit for every later parse; the capacity grows as needed. A failure here
  // shows again as the first parse's error.
  [[maybe_unused]] auto ignored =
      impl_->parser.allocate(simdjson::dom::MINIMAL_DOCUMENT_CAPACITY, max_json_depth);
}

dynamic_text::~dynamic_text() = default;

bool dynamic_text::to_json(std::string_view text, std::string& out) {
  out.clear();
  auto doc = impl_->parser.parse(text.data(), text.size(), true);
  if (doc.error()) {
    append_json_string(out, text);
    return true;
  }
  if (doc.value_unsafe().is_null()) return false;
  append_compact(out, doc.value_unsafe());
  return true;
}

}  // namespace tributary::ingest::detail
