#pragma once
/// The limits: the same bytes written straight into a fresh RocksDB with synced writes, in this
/// process, without Tributary in the way. RocksDB types stay in rocksdb_limit.cpp.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string_view>
#include <vector>

namespace tributary::bench {

/// A fresh RocksDB (default options) in `dir`, closed and deleted by the destructor. Any
/// thread may write (RocksDB groups concurrent commits). Throws std::runtime_error when RocksDB
/// fails to open or write.
class limit_db {
 public:
  explicit limit_db(std::filesystem::path dir);
  ~limit_db();
  limit_db(const limit_db&) = delete;
  limit_db& operator=(const limit_db&) = delete;

  /// One `Put` with WriteOptions::sync = true; returns its wall time in µs.
  double synced_put_us(std::string_view key, std::string_view value);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// Outcome of `concurrent_synced_puts`.
struct concurrent_puts {
  uint64_t writes = 0;
  double seconds = 0;
  uint64_t bytes = 0;
  std::vector<double> latencies_us;  ///< one per write, unsorted
};

/// `threads` threads each doing synced `Put`s of fresh ~1 KiB payloads (bench::payload_generator)
/// into one fresh limit_db in `dir` for `duration`, so RocksDB groups their commits.
concurrent_puts concurrent_synced_puts(const std::filesystem::path& dir, size_t threads,
                                       std::chrono::seconds duration);

/// The same into `db`, which earlier calls may have written: one slice of a limit run that
/// alternates with the node's. `round` (0, 1, ...) keeps each call's keys and payloads new.
concurrent_puts concurrent_synced_puts(limit_db& db, size_t threads,
                                       std::chrono::milliseconds duration, uint64_t round);

}  // namespace tributary::bench
