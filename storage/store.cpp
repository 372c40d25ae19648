#include "storage/store.hpp"

#include <fmt/format.h>
#include <cstring>
#include <rocksdb/compaction_filter.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include "storage/catalog_codec.hpp"
#include "storage/store_impl.hpp"

namespace tributary::storage {
namespace {

constexpr const char* catalog_cf = "catalog";
constexpr const char* rowstore_cf = "rowstore";
constexpr const char* requests_cf = "requests";

model::error storage_error(const std::string& what, const rocksdb::Status& s) {
  return {"StorageError", fmt::format("{}: {}", what, s.ToString()), false};
}

// Drops request ids older than the dedup window during compaction: RocksDB does the expiry, no
// sweeper of ours. Values start with the committed ticks (storage/FORMAT.md "Request ids").
class expired_requests_filter final : public rocksdb::CompactionFilter {
 public:
  explicit expired_requests_filter(std::chrono::seconds window) : window_(window) {}
  bool Filter(int, const rocksdb::Slice&, const rocksdb::Slice& value, std::string*, bool*) const override {
    if (value.size() < 8) return false;
    int64_t committed = 0;
    std::memcpy(&committed, value.data(), 8);
    using ticks = std::chrono::duration<int64_t, std::ratio<1, 10'000'000>>;
    auto now = std::chrono::duration_cast<ticks>(std::chrono::system_clock::now().time_since_epoch()).count();
    return committed < now - std::chrono::duration_cast<ticks>(window_).count();
  }
  const char* Name() const override { return "tributary.expired_requests"; }

 private:
  std::chrono::seconds window_;
};

}  // namespace

store::impl::~impl() {
  if (!db) return;
  for (auto* h : {catalog, rowstore, requests, default_cf})
    if (h) db->DestroyColumnFamilyHandle(h);
  db->Close();
}

store::store(std::unique_ptr<impl> i) : impl_(std::move(i)) {}
store::~store() = default;

std::variant<std::unique_ptr<store>, model::error> store::open(
    const std::filesystem::path& data_dir, std::chrono::seconds dedup_window) {
  auto path = data_dir / "rocksdb";
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) {
    return model::error{"StorageError",
                        fmt::format("cannot create data directory '{}': {}; check --data-dir "
                                    "and its permissions",
                                    path.string(), ec.message()),
                        true};
  }
  rocksdb::Options options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  options.compression = rocksdb::kLZ4Compression;
  options.bottommost_compression = rocksdb::kZSTD;
  // A single DB serves every table; keep its background work small on small machines.
  options.IncreaseParallelism(2);
  options.max_open_files = 512;
  rocksdb::ColumnFamilyOptions cf_options(options);
  // Request ids are point lookups that mostly miss: a bloom filter answers those from memory.
  rocksdb::ColumnFamilyOptions requests_options(options);
  rocksdb::BlockBasedTableOptions table_options;
  table_options.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  requests_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table_options));
  auto filter = std::make_shared<expired_requests_filter>(dedup_window);
  requests_options.compaction_filter = filter.get();
  requests_options.periodic_compaction_seconds = static_cast<uint64_t>(std::max<int64_t>(dedup_window.count(), 60));
  std::vector<rocksdb::ColumnFamilyDescriptor> families = {
      {rocksdb::kDefaultColumnFamilyName, cf_options},
      {catalog_cf, cf_options},
      {rowstore_cf, cf_options},
      {requests_cf, requests_options},
  };
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  auto s = rocksdb::DB::Open(rocksdb::DBOptions(options), path.string(), families, &handles, &raw);
  if (!s.ok()) {
    auto e = storage_error(fmt::format("cannot open RocksDB at '{}'", path.string()), s);
    if (s.IsIOError())
      e.message += "; is another tributaryd using this --data-dir?";
    return e;
  }
  auto i = std::make_unique<impl>();
  i->path = path;
  i->db.reset(raw);
  i->default_cf = handles[0];
  i->catalog = handles[1];
  i->rowstore = handles[2];
  i->requests = handles[3];
  i->requests_filter = std::move(filter);
  return std::unique_ptr<store>(new store(std::move(i)));
}

uint64_t store::memtable_bytes() const {
  uint64_t total = 0;
  for (auto* cf : {impl_->catalog, impl_->rowstore, impl_->requests}) {
    uint64_t v = 0;
    if (impl_->db->GetIntProperty(cf, "rocksdb.cur-size-all-mem-tables", &v)) total += v;
  }
  return total;
}

std::variant<model::catalog, model::error> store::load_catalog() const {
  model::catalog cat;
  std::string bytes;
  auto s = impl_->db->Get(rocksdb::ReadOptions{}, impl_->catalog, codec::meta_key(), &bytes);
  if (s.IsNotFound()) return cat;
  if (!s.ok()) return storage_error("cannot read the catalog", s);
  auto corrupt = [&](const std::string& key, const std::string& why) {
    return model::error{"StorageError",
                        fmt::format("catalog record '{}' in '{}' is corrupt: {}", key,
                                    impl_->path.string(), why),
                        true};
  };
  auto m = codec::decode_meta(bytes);
  if (auto* why = std::get_if<std::string>(&m)) return corrupt("meta", *why);
  const auto& meta = std::get<codec::meta>(m);
  cat.version = meta.version;
  cat.next_id = meta.next_id;
  cat.streaming = meta.streaming;

  std::optional<model::error> failure;
  std::map<model::database_id, std::string> names;
  s = impl_->scan(impl_->catalog, codec::database_prefix(), [&](const rocksdb::Slice& k, const rocksdb::Slice& v) {
    auto db = codec::decode_database(v.ToStringView());
    if (auto* why = std::get_if<std::string>(&db)) {
      if (!failure) failure = corrupt(k.ToString(true), *why);
      return;
    }
    auto& d = std::get<model::database>(db);
    names[d.id] = d.name;
    auto name = d.name;
    cat.databases.emplace(std::move(name), std::move(d));
  });
  if (!s.ok()) return storage_error("cannot read the catalog", s);
  if (failure) return *failure;
  s = impl_->scan(impl_->catalog, codec::all_tables_prefix(), [&](const rocksdb::Slice& k, const rocksdb::Slice& v) {
    auto t = codec::decode_table(v.ToStringView());
    if (auto* why = std::get_if<std::string>(&t)) {
      if (!failure) failure = corrupt(k.ToString(true), *why);
      return;
    }
    auto& [db_id, table] = std::get<0>(t);
    auto it = names.find(db_id);
    if (it == names.end()) {
      if (!failure) failure = corrupt(k.ToString(true), "its database is missing");
      return;
    }
    auto name = table.name;
    cat.databases.at(it->second).tables.emplace(std::move(name), std::move(table));
  });
  if (!s.ok()) return storage_error("cannot read the catalog", s);
  if (failure) return *failure;
  return cat;
}

std::optional<model::error> store::commit_catalog(const model::catalog& cat,
                                                  const std::vector<model::change>& changes, bool sync) {
  rocksdb::WriteBatch batch;
  auto* cf = impl_->catalog;
  auto find_db = [&](const std::string& name) { return cat.find_database(name); };
  for (const auto& c : changes) {
    switch (c.what) {
      case model::change::kind::put_database:
        if (const auto* db = find_db(c.database_name))
          batch.Put(cf, codec::database_key(db->id), codec::encode_database(*db));
        break;
      case model::change::kind::delete_database: {
        batch.Delete(cf, codec::database_key(c.database));
        auto prefix = codec::table_prefix(c.database);
        auto s = impl_->scan(impl_->catalog, prefix, [&](const rocksdb::Slice& k, const rocksdb::Slice&) {
          batch.Delete(cf, k);
        });
        if (!s.ok()) return storage_error("cannot read the catalog", s);
        break;
      }
      case model::change::kind::put_table:
        if (const auto* db = find_db(c.database_name)) {
          if (auto it = db->tables.find(c.table_name); it != db->tables.end())
            batch.Put(cf, codec::table_key(db->id, it->second.id),
                      codec::encode_table(*db, it->second));
        }
        break;
      case model::change::kind::delete_table:
        batch.Delete(cf, codec::table_key(c.database, c.table));
        break;
      case model::change::kind::put_cluster:
        break;  // the switch lives in the meta record, written below
    }
  }
  batch.Put(cf, codec::meta_key(), codec::encode_meta(cat));
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  auto s = impl_->db->Write(wo, &batch);
  if (!s.ok()) return storage_error("cannot persist the catalog change", s);
  return std::nullopt;
}

}  // namespace tributary::storage
