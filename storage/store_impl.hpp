#pragma once
// Private to storage/: the RocksDB handles behind storage::store.

#include <filesystem>
#include <memory>
#include <rocksdb/compaction_filter.h>
#include <rocksdb/db.h>

#include "storage/store.hpp"

namespace tributary::storage {

struct store::impl {
  std::filesystem::path path;
  std::unique_ptr<rocksdb::DB> db;
  rocksdb::ColumnFamilyHandle* default_cf = nullptr;
  rocksdb::ColumnFamilyHandle* catalog = nullptr;
  rocksdb::ColumnFamilyHandle* rowstore = nullptr;
  rocksdb::ColumnFamilyHandle* requests = nullptr;
  std::shared_ptr<rocksdb::CompactionFilter> requests_filter;  // must outlive `db`

  ~impl();

  // Visits every key of `cf` that starts with `prefix`; `f(key, value)`.
  template <class F>
  rocksdb::Status scan(rocksdb::ColumnFamilyHandle* cf, const std::string& prefix, F&& f) const {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions{}, cf));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) f(it->key(), it->value());
    return it->status();
  }
};

}  // namespace tributary::storage
