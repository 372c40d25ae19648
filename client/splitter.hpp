#pragma once
/// Splits a stream of records into ingest requests of at most a given size, on record
/// boundaries, for the `tributary ingest` CLI and the benchmarks. Gzip input is decompressed.

#include <cstdio>
#include <optional>
#include <string>
#include <variant>

#include "client/client.hpp"

namespace tributary::client {

class record_splitter {
 public:
  /// Reads from `in` (not owned; read until EOF). `max_bytes` bounds every chunk.
  record_splitter(std::FILE* in, format f, size_t max_bytes);
  ~record_splitter();
  record_splitter(const record_splitter&) = delete;
  record_splitter& operator=(const record_splitter&) = delete;

  /// The next chunk of whole records; nullopt at the end of input. A record larger than
  /// max_bytes, unreadable input or corrupt gzip is an error message (and ends the stream).
  std::optional<std::variant<std::string, std::string>> next();
  /// Input bytes consumed so far (compressed bytes when the input is gzip).
  uint64_t bytes_read() const { return bytes_read_; }

 private:
  bool fill();  // appends to buffer_ until it holds max_bytes or the input ends
  size_t boundary() const;
  std::FILE* in_;
  format format_;
  size_t max_bytes_;
  std::string buffer_;
  bool eof_ = false;
  bool first_read_ = true;
  bool in_array_ = false;  // multijson given as one top-level array
  uint64_t bytes_read_ = 0;
  struct inflater;
  std::unique_ptr<inflater> gzip_;
  std::optional<std::string> error_;
};

}  // namespace tributary::client
