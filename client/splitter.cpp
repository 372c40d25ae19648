#include "client/splitter.hpp"

#include <cstring>
#include <zlib.h>

namespace tributary::client {

struct record_splitter::inflater {
  z_stream z{};
  inflater() { inflateInit2(&z, 16 + MAX_WBITS); }
  ~inflater() { inflateEnd(&z); }
};

record_splitter::record_splitter(std::FILE* in, format f, size_t max_bytes)
    : in_(in), format_(f), max_bytes_(max_bytes) {}

record_splitter::~record_splitter() = default;

bool record_splitter::fill() {
  char raw[1 << 16];
  while (!eof_ && buffer_.size() < max_bytes_) {
    size_t n = std::fread(raw, 1, sizeof raw, in_);
    bytes_read_ += n;
    if (n == 0) {
      if (std::ferror(in_)) {
        error_ = std::string("cannot read the input: ") + std::strerror(errno);
        return false;
      }
      eof_ = true;
      break;
    }
    if (first_read_) {
      first_read_ = false;
      if (n >= 2 && static_cast<unsigned char>(raw[0]) == 0x1f && static_cast<unsigned char>(raw[1]) == 0x8b)
        gzip_ = std::make_unique<inflater>();
    }
    if (!gzip_) {
      buffer_.append(raw, n);
      continue;
    }
    auto& z = gzip_->z;
    z.next_in = reinterpret_cast<Bytef*>(raw);
    z.avail_in = static_cast<uInt>(n);
    while (z.avail_in > 0) {
      char out[1 << 16];
      z.next_out = reinterpret_cast<Bytef*>(out);
      z.avail_out = sizeof out;
      int rc = inflate(&z, Z_NO_FLUSH);
      buffer_.append(out, sizeof out - z.avail_out);
      if (rc == Z_STREAM_END) {
        inflateReset(&z);  // concatenated gzip members
      } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
        error_ = "the input looks like gzip but is corrupt";
        return false;
      }
    }
  }
  return true;
}

// End of the last whole record in the first max_bytes_ of the buffer (0: none).
size_t record_splitter::boundary() const {
  const size_t limit = std::min(buffer_.size(), max_bytes_);
  size_t last = 0;
  const bool json_objects = format_ == format::multijson;
  bool quoted = false;
  bool escaped = false;
  int depth = 0;
  for (size_t i = 0; i < limit; ++i) {
    char c = buffer_[i];
    if (json_objects) {
      if (quoted) {
        if (escaped) escaped = false;
        else if (c == '\\') escaped = true;
        else if (c == '"') quoted = false;
      } else if (c == '"') {
        quoted = true;
      } else if (c == '{' || c == '[') {
        ++depth;
      } else if ((c == '}' || c == ']') && --depth == 0) {
        last = i + 1;
      }
    } else if (format_ == format::json) {
      if (c == '\n') last = i + 1;
    } else {
      if (c == '"') quoted = !quoted;
      else if (c == '\n' && !quoted) last = i + 1;
    }
  }
  // The input's final record needs no terminator.
  if (eof_ && buffer_.size() <= max_bytes_ && !quoted && depth == 0) return buffer_.size();
  return last;
}

std::optional<std::variant<std::string, std::string>> record_splitter::next() {
  using result = std::variant<std::string, std::string>;
  if (error_) return std::nullopt;
  if (!fill()) return result(std::in_place_index<1>, *error_);
  if (format_ == format::multijson && !in_array_) {
    // A top-level array of objects is sent as the objects one after another, so that every
    // chunk is valid MultiJSON on its own.
    auto first = buffer_.find_first_not_of(" \t\r\n");
    if (first != std::string::npos && buffer_[first] == '[') {
      in_array_ = true;
      buffer_.erase(0, first + 1);
    }
  }
  if (in_array_) {
    auto skip = buffer_.find_first_not_of(" \t\r\n,");
    buffer_.erase(0, skip == std::string::npos ? buffer_.size() : skip);
    if (!buffer_.empty() && buffer_[0] == ']') buffer_.erase(0, 1);
  }
  if (buffer_.find_first_not_of(" \t\r\n") == std::string::npos) {
    if (eof_) return std::nullopt;
    buffer_.clear();
    return next();
  }
  size_t end = boundary();
  if (end == 0) {
    error_ = eof_ ? "the input ends inside a record (unclosed quote or JSON object)"
                  : "a record is larger than the " + std::to_string(max_bytes_) + "-byte request limit";
    return result(std::in_place_index<1>, *error_);
  }
  std::string chunk = buffer_.substr(0, end);
  buffer_.erase(0, end);
  if (in_array_) {
    // Array elements are separated by commas at depth 0; MultiJSON wants whitespace.
    bool quoted = false, escaped = false;
    int depth = 0;
    for (auto& c : chunk) {
      if (quoted) {
        if (escaped) escaped = false;
        else if (c == '\\') escaped = true;
        else if (c == '"') quoted = false;
      } else if (c == '"') quoted = true;
      else if (c == '{' || c == '[') ++depth;
      else if (c == '}' || c == ']') --depth;
      else if (c == ',' && depth == 0) c = '\n';
    }
  }
  return result(std::in_place_index<0>, std::move(chunk));
}

}  // namespace tributary::client
