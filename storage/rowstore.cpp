#include "storage/rowstore.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <rocksdb/write_batch.h>

#include "storage/crash_point.hpp"
#include "storage/extent.hpp"
#include "storage/store_impl.hpp"

namespace tributary::storage {
namespace {

// storage/FORMAT.md "Rowstore".
constexpr char batch_magic[4] = {'T', 'R', 'B', '1'};
constexpr uint8_t batch_version = 1;
constexpr size_t batch_header_bytes = 20;
// storage/FORMAT.md "Request ids": committed ticks, consumed records, sequence.
constexpr size_t request_value_bytes = 24;

bool is_text(model::column_type t) {
  using ct = model::column_type;
  return t == ct::string || t == ct::decimal || t == ct::guid || t == ct::dynamic;
}

template <class T>
void put(std::string& out, T v) {
  char buf[sizeof(T)];
  std::memcpy(buf, &v, sizeof(T));  // little-endian hosts only (x86-64, aarch64)
  out.append(buf, sizeof(T));
}

void put_be64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

uint64_t get_be64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

std::string table_prefix(model::table_id t) {
  std::string k;
  put_be64(k, static_cast<uint64_t>(t));
  return k;
}

// storage/FORMAT.md "Extent registry": in the catalog column family, "ex/" + table + extent.
std::string extent_prefix(model::table_id t) {
  std::string k = "ex/";
  put_be64(k, static_cast<uint64_t>(t));
  return k;
}

std::string extent_key(model::table_id t, uint64_t id) {
  std::string k = extent_prefix(t);
  put_be64(k, id);
  return k;
}

constexpr size_t extent_value_bytes = 8 * 9;

std::string encode_extent(const extent_record& e) {
  std::string v;
  for (uint64_t x : {e.from_sequence, e.to_sequence, e.rows, e.original_bytes, e.file_bytes})
    put<uint64_t>(v, x);
  for (int64_t x : {e.min_ingestion_ticks, e.max_ingestion_ticks, e.created_ticks}) put<int64_t>(v, x);
  put<uint64_t>(v, e.id);
  return v;
}

// storage/FORMAT.md "Sequence high-water marks": in the catalog column family, "hw/" + table.
std::string high_water_key(model::table_id t) {
  std::string k = "hw/";
  put_be64(k, static_cast<uint64_t>(t));
  return k;
}

// storage/FORMAT.md "Source offsets": in the catalog column family, "so/" + connection + partition.
std::string source_prefix(uint64_t connection) {
  std::string k = "so/";
  put_be64(k, connection);
  return k;
}

std::string source_key(const model::source_position& p) {
  std::string k = source_prefix(p.connection);
  put_be64(k, static_cast<uint32_t>(p.partition));
  return k;
}

// storage/FORMAT.md "Ingestion failures": in the catalog column family, "if/" + when + connection
// + partition + offset; the value is JSON.
constexpr std::string_view failure_prefix = "if/";

std::string failure_key(int64_t at_ticks, uint64_t connection, int32_t partition, int64_t offset) {
  std::string k(failure_prefix);
  put_be64(k, static_cast<uint64_t>(std::max<int64_t>(0, at_ticks)));
  put_be64(k, connection);
  put_be64(k, static_cast<uint32_t>(partition));
  put_be64(k, static_cast<uint64_t>(offset));
  return k;
}

std::string encode_failure(const model::ingestion_failure& f) {
  return nlohmann::json{{"database", f.database}, {"table", f.table}, {"connection", f.connection},
                        {"topic", f.topic},       {"code", f.code},   {"message", f.message}}
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string row_key(model::table_id t, uint64_t seq) {
  std::string k = table_prefix(t);
  put_be64(k, seq);
  return k;
}

// Bounds-checked reader over a value.
struct reader {
  std::string_view in;
  size_t pos = 0;
  bool ok = true;

  template <class T>
  T get() {
    T v{};
    if (pos + sizeof(T) > in.size()) {
      ok = false;
      return v;
    }
    std::memcpy(&v, in.data() + pos, sizeof(T));
    pos += sizeof(T);
    return v;
  }
  std::string_view take(size_t n) {
    if (pos + n > in.size()) {
      ok = false;
      return {};
    }
    auto v = in.substr(pos, n);
    pos += n;
    return v;
  }
};

model::error corrupt(const std::string& why) {
  return {"StorageCorruption", "a rowstore batch is corrupt: " + why, true};
}

}  // namespace

std::string encode_batch(const model::column_batch& b) {
  std::string out;
  out.reserve(b.byte_size() + 64);
  out.append(batch_magic, 4);
  put<uint8_t>(out, batch_version);
  put<uint8_t>(out, 0);
  put<uint16_t>(out, static_cast<uint16_t>(b.columns.size()));
  put<int64_t>(out, b.ingestion_ticks);
  put<uint32_t>(out, b.rows);
  for (const auto& c : b.columns) {
    put<uint8_t>(out, static_cast<uint8_t>(c.type));
    bool has_nulls = false;
    for (auto n : c.nulls) has_nulls |= n != 0;
    put<uint8_t>(out, has_nulls ? 1 : 0);
    if (has_nulls) out.append(reinterpret_cast<const char*>(c.nulls.data()), c.nulls.size());
    if (c.type == model::column_type::real) {
      out.append(reinterpret_cast<const char*>(c.reals.data()), c.reals.size() * 8);
    } else if (is_text(c.type)) {
      put<uint32_t>(out, static_cast<uint32_t>(c.text.size()));
      out.append(reinterpret_cast<const char*>(c.offsets.data()), c.offsets.size() * 4);
      out.append(c.text);
    } else {
      out.append(reinterpret_cast<const char*>(c.ints.data()), c.ints.size() * 8);
    }
  }
  return out;
}

std::variant<model::column_batch, model::error> decode_batch(std::string_view bytes, const std::vector<bool>* columns) {
  if (bytes.size() < batch_header_bytes || std::memcmp(bytes.data(), batch_magic, 4) != 0)
    return corrupt("bad magic or short header");
  reader r{bytes, 4};
  if (r.get<uint8_t>() != batch_version) return corrupt("unknown version");
  r.get<uint8_t>();
  auto count = r.get<uint16_t>();
  model::column_batch b;
  b.ingestion_ticks = r.get<int64_t>();
  b.rows = r.get<uint32_t>();
  const size_t rows = b.rows;
  // Checked before anything is allocated by them: every column takes at least 2 bytes and, per
  // row, at least 4 (a text offset; fixed-width values take 8), so a corrupt count cannot ask for
  // more memory than the value's own size justifies.
  const size_t body = bytes.size() - batch_header_bytes;
  if (size_t{count} * 2 > body || (rows > 0 && (count == 0 || rows > body / 4)))
    return corrupt(fmt::format("the header claims {} rows in {} columns, more than the {}-byte value holds", rows,
                               count, bytes.size()));
  for (uint16_t i = 0; i < count && r.ok; ++i) {
    model::column_data c;
    auto type = r.get<uint8_t>();
    if (type > static_cast<uint8_t>(model::column_type::dynamic)) return corrupt("unknown column type");
    c.type = static_cast<model::column_type>(type);
    auto has_nulls = r.get<uint8_t>();
    if (columns && (i >= columns->size() || !(*columns)[i])) {  // passed over, not copied
      if (has_nulls) r.take(rows);
      if (is_text(c.type)) {
        auto total = r.get<uint32_t>();
        r.take((rows + 1) * 4);
        r.take(total);
      } else {
        r.take(rows * 8);
      }
      b.columns.push_back(std::move(c));
      continue;
    }
    if (has_nulls) {
      auto n = r.take(rows);
      c.nulls.assign(n.begin(), n.end());
    } else {
      c.nulls.assign(rows, 0);
    }
    if (c.type == model::column_type::real) {
      auto v = r.take(rows * 8);
      c.reals.resize(rows);
      if (r.ok && !v.empty()) std::memcpy(c.reals.data(), v.data(), v.size());
    } else if (is_text(c.type)) {
      auto total = r.get<uint32_t>();
      auto offs = r.take((rows + 1) * 4);
      if (!r.ok) break;
      c.offsets.resize(rows + 1);
      std::memcpy(c.offsets.data(), offs.data(), offs.size());
      auto text = r.take(total);
      c.text.assign(text);
      for (size_t k = 0; k < rows && r.ok; ++k)
        if (c.offsets[k] > c.offsets[k + 1]) r.ok = false;
      if (c.offsets.front() != 0 || c.offsets.back() != total) r.ok = false;
    } else {
      auto v = r.take(rows * 8);
      c.ints.resize(rows);
      if (r.ok && !v.empty()) std::memcpy(c.ints.data(), v.data(), v.size());
    }
    b.columns.push_back(std::move(c));
  }
  if (!r.ok) return corrupt("a column block runs past the end of the value");
  return b;
}

rowstore_writer::rowstore_writer(store& s, writer_options options, commit_observer observer)
    : store_(s), options_(options), observer_(std::move(observer)), thread_([this] { run(); }) {}

rowstore_writer::~rowstore_writer() { stop(); }

bool rowstore_writer::submit(rowstore_write w) {
  std::lock_guard lock(mutex_);
  if (stopping_ || queued_bytes_ + w.batch.size() > options_.max_queued_bytes) return false;
  queued_bytes_ += w.batch.size();
  w.queued_at = std::chrono::steady_clock::now();
  queue_.push_back(std::move(w));
  wake_.notify_one();
  return true;
}

size_t rowstore_writer::queued_bytes() const {
  std::lock_guard lock(mutex_);
  return queued_bytes_;
}

void rowstore_writer::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
    wake_.notify_one();
  }
  if (thread_.joinable()) thread_.join();
}

void rowstore_writer::run() {
  auto& impl = *store_.impl_;
  std::vector<rowstore_write> group;
  // One write batch for every group, its buffer kept while groups need about as much: built
  // afresh, a group of many megabytes grew its buffer by doubling (each time a copy) into new
  // pages (each a page fault), which was most of this thread's time under many tables' ingest.
  std::unique_ptr<rocksdb::WriteBatch> reused;
  for (;;) {
    size_t bytes = 0;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      // Everything queued while the previous fsync ran goes into this one (group commit).
      while (!queue_.empty() && (group.empty() || bytes + queue_.front().batch.size() <= options_.max_commit_bytes)) {
        bytes += queue_.front().batch.size();
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    auto start = std::chrono::steady_clock::now();
    const size_t need = bytes + group.size() * 256 + 64;  // the rows, and keys and small values
    // A buffer far larger than this group needs goes (a burst's buffer is not kept resident
    // through a quiet hour); one too small is replaced at once by one of the right size.
    const size_t kept_at_most = std::max<size_t>(4 * need, size_t{4} << 20);
    if (!reused || reused->Data().capacity() < need || reused->Data().capacity() > kept_at_most)
      reused = std::make_unique<rocksdb::WriteBatch>(need);
    else
      reused->Clear();
    rocksdb::WriteBatch& batch = *reused;
    bool failed = false;  // an armed fail point (tests): the group is not written
    for (const auto& w : group) {
      if (w.barrier) continue;
      const model::table_id next_table{static_cast<uint64_t>(w.table) + 1};
      if (w.drop_table) {
        auto from = table_prefix(w.table);
        auto to = table_prefix(next_table);
        batch.DeleteRange(impl.rowstore, from, to);
        batch.DeleteRange(impl.requests, from, to);
        batch.DeleteRange(impl.catalog, extent_prefix(w.table), extent_prefix(next_table));
        batch.Delete(impl.catalog, high_water_key(w.table));
        continue;
      }
      if (w.clear_below_sequence) {
        failed |= fail_point("rowstore.clear");
        batch.DeleteRange(impl.rowstore, row_key(w.table, 0), row_key(w.table, *w.clear_below_sequence));
        batch.DeleteRange(impl.catalog, extent_prefix(w.table), extent_prefix(next_table));
        std::string hw;
        put_be64(hw, *w.clear_below_sequence - 1);
        batch.Put(impl.catalog, high_water_key(w.table), hw);
        continue;
      }
      if (w.seal) {
        failed |= fail_point("rowstore.seal");
        batch.Put(impl.catalog, extent_key(w.table, w.seal->id), encode_extent(*w.seal));
        batch.DeleteRange(impl.rowstore, row_key(w.table, w.seal->from_sequence),
                          row_key(w.table, w.seal->to_sequence + 1));
        continue;
      }
      if (w.source) {
        std::string v;
        put_be64(v, static_cast<uint64_t>(w.source->next_offset));
        batch.Put(impl.catalog, source_key(*w.source), v);
        for (const auto& f : w.source->failures)
          batch.Put(impl.catalog, failure_key(f.at_ticks, f.connection_id, f.partition, f.offset), encode_failure(f));
        if (w.batch.empty()) continue;
      }
      batch.Put(impl.rowstore, row_key(w.table, w.sequence), w.batch);
      if (w.request) {
        std::string v;
        put<int64_t>(v, w.request->committed_ticks);
        put<uint64_t>(v, w.request->consumed_records);
        put<uint64_t>(v, w.request->sequence);
        batch.Put(impl.requests, table_prefix(w.table) + w.request->request_id, v);
      }
    }
    rocksdb::WriteOptions wo;
    wo.sync = true;
    auto s = failed ? rocksdb::Status::IOError("injected by TRIBUTARY_FAIL_AT") : impl.db->Write(wo, &batch);
    if (s.ok()) {
      if (std::any_of(group.begin(), group.end(), [](const auto& w) { return w.seal.has_value(); }))
        crash_point("rowstore.seal_committed");
      crash_point("rowstore.group_committed");
    }
    std::optional<model::error> failure;
    if (!s.ok())
      failure = model::error{"StorageError",
                             "the rowstore write failed: " + s.ToString() + "; retry", false};
    if (observer_) {
      commit_stats stats{group.size(), bytes, std::chrono::steady_clock::now() - start, {}};
      for (const auto& w : group) stats.longest_wait = std::max(stats.longest_wait, std::chrono::nanoseconds(start - w.queued_at));
      observer_(stats);
    }
    {
      std::lock_guard lock(mutex_);
      queued_bytes_ -= bytes;
    }
    for (auto& w : group)
      if (w.done) w.done(failure);
    group.clear();
  }
}

namespace {

// One rowstore entry's batch_info (storage/FORMAT.md "Rowstore"), or nullopt when malformed.
std::optional<table_recovery::batch_info> batch_info_of(const rocksdb::Slice& k, const rocksdb::Slice& v) {
  if (k.size() != 16 || v.size() < batch_header_bytes) return std::nullopt;
  table_recovery::batch_info info{};
  info.sequence = get_be64(k.data() + 8);
  std::memcpy(&info.ingestion_ticks, v.data() + 8, 8);
  std::memcpy(&info.rows, v.data() + 16, 4);
  info.bytes = static_cast<uint32_t>(v.size());
  return info;
}

// One extent registry entry (storage/FORMAT.md "Extent registry"), or nullopt when malformed.
std::optional<extent_record> extent_of(const rocksdb::Slice& k, const rocksdb::Slice& v) {
  if (k.size() != 19 || v.size() != extent_value_bytes) return std::nullopt;
  extent_record e;
  e.table = model::table_id{get_be64(k.data() + 3)};
  uint64_t u[5];
  std::memcpy(u, v.data(), sizeof u);
  e.from_sequence = u[0];
  e.to_sequence = u[1];
  e.rows = u[2];
  e.original_bytes = u[3];
  e.file_bytes = u[4];
  int64_t t[3];
  std::memcpy(t, v.data() + 40, sizeof t);
  e.min_ingestion_ticks = t[0];
  e.max_ingestion_ticks = t[1];
  e.created_ticks = t[2];
  std::memcpy(&e.id, v.data() + 64, 8);
  return e;
}

// Visits the entries of `cf` with keys in [from, to) (to empty: to the end of the prefix `from`).
template <class F>
std::optional<model::error> scan(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* cf, const std::string& from,
                                 const std::string& to, const char* what, F&& f) {
  rocksdb::ReadOptions ro;
  rocksdb::Slice upper(to);
  if (!to.empty()) ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(ro, cf));
  for (it->Seek(from); it->Valid() && (!to.empty() || it->key().starts_with(from)); it->Next())
    if (auto e = f(it->key(), it->value())) return e;
  if (!it->status().ok())
    return model::error{"StorageError", fmt::format("cannot read {}: {}", what, it->status().ToString()), false};
  return std::nullopt;
}

// Scans the rowstore, the extent registry and the high-water marks between `from` and `to`
// (table prefixes; empty = every table) into `tables`.
std::optional<model::error> recover_into(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* rowstore,
                                         rocksdb::ColumnFamilyHandle* catalog,
                                         std::unordered_map<uint64_t, table_recovery>& tables, const std::string& from,
                                         const std::string& to) {
  auto e = scan(db, rowstore, from, to, "the rowstore", [&](const rocksdb::Slice& k, const rocksdb::Slice& v) {
    auto info = batch_info_of(k, v);
    if (!info) return std::optional<model::error>(corrupt(fmt::format("malformed rowstore entry (key {} bytes)", k.size())));
    auto& t = tables[get_be64(k.data())];
    t.batches.push_back(*info);
    t.last_sequence = info->sequence;
    return std::optional<model::error>();
  });
  if (e) return e;
  e = scan(db, catalog, "ex/" + from, to.empty() ? std::string() : "ex/" + to, "the extent registry",
           [&](const rocksdb::Slice& k, const rocksdb::Slice& v) {
             auto rec = extent_of(k, v);
             if (!rec) return std::optional<model::error>(corrupt("malformed extent registry entry"));
             auto& tr = tables[static_cast<uint64_t>(rec->table)];
             tr.last_sequence = std::max(tr.last_sequence, rec->to_sequence);
             tr.extents.push_back(*rec);
             return std::optional<model::error>();
           });
  if (e) return e;
  return scan(db, catalog, "hw/" + from, to.empty() ? std::string() : "hw/" + to, "the high-water marks",
              [&](const rocksdb::Slice& k, const rocksdb::Slice& v) {
                if (k.size() != 11 || v.size() != 8) return std::optional<model::error>(corrupt("malformed high-water mark"));
                auto& tr = tables[get_be64(k.data() + 3)];
                tr.last_sequence = std::max(tr.last_sequence, get_be64(v.data()));
                return std::optional<model::error>();
              });
}

}  // namespace

std::variant<std::unordered_map<uint64_t, table_recovery>, model::error> recover(const store& s) {
  std::unordered_map<uint64_t, table_recovery> tables;
  if (auto e = recover_into(*s.impl_->db, s.impl_->rowstore, s.impl_->catalog, tables, std::string(), std::string()))
    return *e;
  return tables;
}

std::variant<table_recovery, model::error> recover_table(const store& s, model::table_id table) {
  std::unordered_map<uint64_t, table_recovery> tables;
  if (auto e = recover_into(*s.impl_->db, s.impl_->rowstore, s.impl_->catalog, tables, table_prefix(table),
                            table_prefix(model::table_id{static_cast<uint64_t>(table) + 1})))
    return *e;
  auto it = tables.find(static_cast<uint64_t>(table));
  return it == tables.end() ? table_recovery{} : std::move(it->second);
}

namespace {

// Removes the files in `dir` (one table's extent directory) that no extent of `shard` claims.
size_t remove_unclaimed(const std::filesystem::path& data_dir, const std::filesystem::path& dir,
                        const table_recovery* shard) {
  namespace fs = std::filesystem;
  size_t removed = 0;
  std::error_code ec;
  for (const auto& f : fs::directory_iterator(dir, ec)) {
    bool registered = false;
    if (shard) {
      for (const auto& e : shard->extents)
        registered |= f.path().filename() == extent_path(data_dir, e.table, storage::extent_id{e.id}).filename();
    }
    if (!registered && fs::remove(f.path(), ec)) ++removed;
  }
  return removed;
}

}  // namespace

size_t remove_orphan_extents(const std::filesystem::path& data_dir,
                             const std::unordered_map<uint64_t, table_recovery>& tables,
                             const std::unordered_map<uint64_t, bool>& known_tables) {
  namespace fs = std::filesystem;
  size_t removed = 0;
  std::error_code ec;
  const auto root = data_dir / "extents";
  if (!fs::exists(root, ec)) return 0;
  for (const auto& dir : fs::directory_iterator(root, ec)) {
    uint64_t table = 0;
    const auto name = dir.path().filename().string();
    auto [p, err] = std::from_chars(name.data(), name.data() + name.size(), table);
    const bool known = err == std::errc() && p == name.data() + name.size() && known_tables.count(table);
    auto rec = known ? tables.find(table) : tables.end();
    removed += remove_unclaimed(data_dir, dir.path(), rec != tables.end() ? &rec->second : nullptr);
    if (!known) fs::remove(dir.path(), ec);
  }
  return removed;
}

size_t remove_orphan_extents_of(const std::filesystem::path& data_dir, model::table_id table,
                                const table_recovery& shard) {
  const auto dir = extent_path(data_dir, table, storage::extent_id{0}).parent_path();
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) return 0;
  return remove_unclaimed(data_dir, dir, &shard);
}

std::variant<std::map<int32_t, int64_t>, model::error> read_source_positions(const store& s, uint64_t connection) {
  const auto& impl = *s.impl_;
  std::map<int32_t, int64_t> out;
  const auto prefix = source_prefix(connection);
  bool malformed = false;
  auto status = impl.scan(impl.catalog, prefix, [&](const rocksdb::Slice& key, const rocksdb::Slice& value) {
    if (key.size() != prefix.size() + 8 || value.size() != 8) {
      malformed = true;
      return;
    }
    out[static_cast<int32_t>(get_be64(key.data() + prefix.size()))] = static_cast<int64_t>(get_be64(value.data()));
  });
  if (!status.ok())
    return model::error{"StorageError", "cannot read data connection offsets: " + status.ToString() + "; retry", false};
  if (malformed) return corrupt("malformed data connection offset entry");
  return out;
}

std::variant<std::vector<model::ingestion_failure>, model::error> read_ingestion_failures(const store& s,
                                                                                          size_t limit) {
  const auto& impl = *s.impl_;
  std::vector<model::ingestion_failure> out;
  std::unique_ptr<rocksdb::Iterator> it(impl.db->NewIterator(rocksdb::ReadOptions{}, impl.catalog));
  // Newest first: from the end of the prefix backwards.
  std::string end(failure_prefix);
  end.back() = static_cast<char>(end.back() + 1);
  bool malformed = false;
  for (it->SeekForPrev(end); it->Valid() && it->key().starts_with(failure_prefix) && out.size() < limit; it->Prev()) {
    const auto key = it->key();
    if (key.size() != failure_prefix.size() + 32) {
      malformed = true;
      continue;
    }
    const char* p = key.data() + failure_prefix.size();
    model::ingestion_failure f;
    f.at_ticks = static_cast<int64_t>(get_be64(p));
    f.connection_id = get_be64(p + 8);
    f.partition = static_cast<int32_t>(get_be64(p + 16));
    f.offset = static_cast<int64_t>(get_be64(p + 24));
    auto j = nlohmann::json::parse(it->value().ToStringView(), nullptr, false);
    if (!j.is_object()) {
      malformed = true;
      continue;
    }
    f.database = j.value("database", "");
    f.table = j.value("table", "");
    f.connection = j.value("connection", "");
    f.topic = j.value("topic", "");
    f.code = j.value("code", "");
    f.message = j.value("message", "");
    out.push_back(std::move(f));
  }
  if (!it->status().ok())
    return model::error{"StorageError", "cannot read the ingestion failures: " + it->status().ToString() + "; retry",
                        false};
  // A malformed entry (not written by this version) is left out; only when nothing else could be
  // read is it reported, as corruption.
  if (malformed && out.empty()) return corrupt("malformed ingestion failure entry");
  return out;
}

std::optional<model::error> prune_ingestion_failures(store& s, int64_t before_ticks) {
  auto& impl = *s.impl_;
  rocksdb::WriteOptions options;
  const auto status = impl.db->DeleteRange(options, impl.catalog, failure_key(0, 0, 0, 0),
                                           failure_key(before_ticks, 0, 0, 0));
  if (!status.ok())
    return model::error{"StorageError", "cannot delete old ingestion failures: " + status.ToString(), false};
  return std::nullopt;
}

std::variant<std::optional<request_record>, model::error> find_request(const store& s, model::table_id table,
                                                                      std::string_view request_id,
                                                                      int64_t not_before_ticks) {
  auto& impl = *s.impl_;
  std::string value;
  auto key = table_prefix(table);
  key.append(request_id);
  auto status = impl.db->Get(rocksdb::ReadOptions{}, impl.requests, key, &value);
  if (status.IsNotFound()) return std::optional<request_record>();
  if (!status.ok())
    return model::error{"StorageError", "cannot read request ids: " + status.ToString() + "; retry", false};
  if (value.size() != request_value_bytes) return corrupt("malformed request id entry");
  request_record r;
  r.request_id = request_id;
  std::memcpy(&r.committed_ticks, value.data(), 8);
  std::memcpy(&r.consumed_records, value.data() + 8, 8);
  std::memcpy(&r.sequence, value.data() + 16, 8);
  if (r.committed_ticks < not_before_ticks) return std::optional<request_record>();
  return std::optional<request_record>(std::move(r));
}

std::shared_ptr<const read_view> read_view::take(const store& s) {
  return std::shared_ptr<const read_view>(new read_view(s, s.impl_->db->GetSnapshot()));
}

read_view::~read_view() {
  store_.impl_->db->ReleaseSnapshot(static_cast<const rocksdb::Snapshot*>(snapshot_));
}

std::optional<model::error> read_batches(const store& s, model::table_id table, uint64_t from, uint64_t to,
                                         const std::function<bool(uint64_t, const model::column_batch&)>& f,
                                         const scan_options& options) {
  auto& impl = *s.impl_;
  auto upper = row_key(table, to == UINT64_MAX ? to : to + 1);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  if (options.view) ro.snapshot = static_cast<const rocksdb::Snapshot*>(options.view->snapshot_);
  if (options.bulk) {
    ro.fill_cache = false;
    ro.readahead_size = size_t{2} << 20;
  }
  if (to != UINT64_MAX) ro.iterate_upper_bound = &upper_slice;
  auto prefix = table_prefix(table);
  std::unique_ptr<rocksdb::Iterator> it(impl.db->NewIterator(ro, impl.rowstore));
  for (it->Seek(row_key(table, from)); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    auto decoded = decode_batch(it->value().ToStringView(), options.columns);
    if (auto* e = std::get_if<model::error>(&decoded)) return *e;
    if (!f(get_be64(it->key().data() + 8), std::get<model::column_batch>(decoded))) break;
  }
  if (!it->status().ok())
    return model::error{"StorageError", "cannot read the rowstore: " + it->status().ToString(), false};
  return std::nullopt;
}

}  // namespace tributary::storage
