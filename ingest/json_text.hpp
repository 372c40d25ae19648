#pragma once
/// Private to ingest/: the JSON text helpers the CSV side needs, with simdjson kept out of view.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace tributary::ingest::detail {

/// Appends `s` as a JSON string literal (quotes, escapes for '"', '\\' and control bytes).
void append_json_string(std::string& out, std::string_view s);

/// The offset of the first byte of `s` that is not part of valid UTF-8, or npos. Fast (SIMD)
/// when the text is valid.
size_t first_invalid_utf8(std::string_view s);

/// Kusto's parse_json as ingestion applies it to text bound for a dynamic column: valid JSON is
/// kept as compact JSON, any other text becomes a JSON string. One per request: it owns a
/// parser whose buffers are reused.
class dynamic_text {
 public:
  dynamic_text();
  ~dynamic_text();
  dynamic_text(const dynamic_text&) = delete;
  dynamic_text& operator=(const dynamic_text&) = delete;

  /// Sets `out` to the compact JSON of `text`; false when `text` is the JSON null.
  bool to_json(std::string_view text, std::string& out);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace tributary::ingest::detail
