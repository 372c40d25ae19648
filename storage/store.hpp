#pragma once
/// The node's one RocksDB instance (DESIGN.md §3): column families `catalog` and `rowstore`.
/// RocksDB types never leave this folder. Thread-safe: RocksDB serialises writers itself, but
/// by design only the coordinator writes the catalog and only the rowstore writer the rowstore.

#include <chrono>
#include <filesystem>
#include <string_view>
#include <map>
#include <memory>
#include <functional>
#include <optional>
#include <unordered_map>
#include <variant>
#include <vector>

#include "model/batch.hpp"
#include "model/catalog.hpp"

namespace tributary::storage {

class store {
 public:
  /// Opens the database under `data_dir/rocksdb`, creating it and its column families when
  /// missing. Fails with code "StorageError" when the directory cannot be used (locked by
  /// another process, corrupt, unwritable); the message names the path.
  /// Request ids older than `dedup_window` are dropped by compaction (they can no longer
  /// deduplicate anything).
  static std::variant<std::unique_ptr<store>, model::error> open(
      const std::filesystem::path& data_dir,
      std::chrono::seconds dedup_window = std::chrono::minutes(10));

  /// Flushes nothing (every commit is synced) and closes RocksDB.
  ~store();
  store(const store&) = delete;
  store& operator=(const store&) = delete;

  /// Bytes in RocksDB's memtables, all column families (thread-safe; for backpressure).
  uint64_t memtable_bytes() const;

  /// Reads the persisted catalog; the empty catalog (version 0) for a new data dir.
  std::variant<model::catalog, model::error> load_catalog() const;

  /// Persists the state of every object named in `changes` as found in `cat` (deleted
  /// objects are removed, a dropped database takes its tables with it) together with the
  /// catalog's version, next id and switch, in one write batch: all or nothing.
  /// `sync` false (cluster mode, where the local catalog is a copy of the cluster's and is read
  /// again at start) skips the fsync: the write is durable with the next synced write of any
  /// kind, which the shared write-ahead log orders after it.
  std::optional<model::error> commit_catalog(const model::catalog& cat,
                                             const std::vector<model::change>& changes, bool sync = true);

 private:
  friend class rowstore_writer;
  friend std::variant<std::unordered_map<uint64_t, struct table_recovery>, model::error> recover(
      const store&);
  friend std::variant<struct table_recovery, model::error> recover_table(const store&, model::table_id);
  friend std::variant<std::optional<struct request_record>, model::error> find_request(
      const store&, model::table_id, std::string_view, int64_t);
  friend std::optional<model::error> read_batches(
      const store&, model::table_id, uint64_t, uint64_t,
      const std::function<bool(uint64_t, const model::column_batch&)>&, const struct scan_options&);
  friend class read_view;
  friend std::variant<std::map<int32_t, int64_t>, model::error> read_source_positions(const store&, uint64_t);
  friend std::variant<std::vector<model::ingestion_failure>, model::error> read_ingestion_failures(const store&,
                                                                                                   size_t);
  friend std::optional<model::error> prune_ingestion_failures(store&, int64_t);
  struct impl;
  explicit store(std::unique_ptr<impl> i);
  std::unique_ptr<impl> impl_;
};

}  // namespace tributary::storage
