#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <bit>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <mutex>

#include "storage/extent.hpp"
#include "storage/extent_format.hpp"

namespace tributary::storage {
namespace fs = std::filesystem;
using namespace extent_format;

namespace {

// Bounds-checked cursor over the footer.
struct cursor {
  std::string_view in;
  size_t pos = 0;
  bool ok = true;

  template <class T>
  T get() {
    if (!ok || in.size() - pos < sizeof(T)) {
      ok = false;
      return T{};
    }
    T v = load<T>(in.data() + pos);
    pos += sizeof(T);
    return v;
  }
  std::string_view take(size_t n) {
    if (!ok || in.size() - pos < n) {
      ok = false;
      return {};
    }
    auto v = in.substr(pos, n);
    pos += n;
    return v;
  }
};

using dctx_ptr = std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)>;

model::error no_dctx(const std::string& path) {
  return {"InternalServerError",
          fmt::format("extent '{}': zstd cannot allocate a decompression context", path), false};
}

// Creating a ZSTD_DCtx costs tens of microseconds (it zeroes ~100 KiB), as much as decompressing
// a small block: a reader keeps a few for reuse, one per concurrent read.
constexpr size_t max_pooled_dctx = 4;

}  // namespace

struct extent_reader::impl {
  std::string path;
  int fd = -1;
  uint64_t file_bytes = 0;
  std::vector<model::column> schema;
  std::vector<group_index> groups;
  extent_stats stats;
  std::vector<block_info> blocks;

  mutable std::mutex pool_mutex;
  mutable std::vector<dctx_ptr> pool;

  ~impl() {
    if (fd >= 0) ::close(fd);
  }

  // A decompression context borrowed from the pool, returned when the lease ends.
  struct lease {
    const impl* owner;
    dctx_ptr ctx;
    lease(const impl* o, dctx_ptr c) : owner(o), ctx(std::move(c)) {}
    lease(lease&&) = default;
    ~lease() {
      if (!ctx) return;
      std::lock_guard lock(owner->pool_mutex);
      if (owner->pool.size() < max_pooled_dctx) owner->pool.push_back(std::move(ctx));
    }
  };
  lease borrow() const {
    {
      std::lock_guard lock(pool_mutex);
      if (!pool.empty()) {
        lease l{this, std::move(pool.back())};
        pool.pop_back();
        return l;
      }
    }
    return lease{this, dctx_ptr(ZSTD_createDCtx(), ZSTD_freeDCtx)};
  }

  model::error corrupt(const std::string& what) const {
    return {"StorageCorruption", fmt::format("extent '{}' is corrupt: {}", path, what), true};
  }
  std::string column_name(size_t c) const {
    return c < schema.size() ? fmt::format("column '{}' (#{})", schema[c].name, c)
                             : std::string("column 'ingestion_time'");
  }
  model::error corrupt_block(size_t c, size_t g, const std::string& what) const {
    return corrupt(fmt::format("{}, block group {}: {}", column_name(c), g, what));
  }

  // Reads exactly bytes [offset, offset + n) of the file.
  std::optional<model::error> read_at(uint64_t offset, std::string& out, size_t n) const {
    out.resize(n);
    size_t done = 0;
    while (done < n) {
      auto r = ::pread(fd, out.data() + done, n - done, static_cast<off_t>(offset + done));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0)
        return model::error{"StorageError",
                            fmt::format("extent '{}': read failed: {}", path, std::strerror(errno)),
                            false};
      if (r == 0) return corrupt(fmt::format("the file ends before byte {}", offset + n));
      done += static_cast<size_t>(r);
    }
    return std::nullopt;
  }

  std::optional<model::error> parse_footer(std::string_view footer, uint64_t footer_offset);
  std::optional<model::error> check_entry(size_t c, size_t g, const entry& e, uint32_t rows) const;
  // Block (c, g) decompressed and checked against its index entry.
  std::optional<model::error> load_block(size_t c, size_t g, ZSTD_DCtx* dctx, std::string& stored,
                                         std::string& raw) const;
  std::optional<model::error> decode(size_t c, size_t g, ZSTD_DCtx* dctx,
                                     model::column_data& out) const;
  std::optional<model::error> decode_ingestion(size_t g, ZSTD_DCtx* dctx,
                                               std::vector<int64_t>& out) const;
};

std::optional<model::error> extent_reader::impl::check_entry(size_t c, size_t g, const entry& e,
                                                             uint32_t rows) const {
  const bool ingestion = c == schema.size();
  const auto type = ingestion ? model::column_type::datetime : schema[c].type;
  const auto l = layout_of(type);
  auto bad = [&](const std::string& what) { return corrupt_block(c, g, "index entry: " + what); };
  if (e.null_count > rows) return bad(fmt::format("{} nulls in {} rows", e.null_count, rows));
  if (ingestion && e.null_count != 0) return bad("ingestion_time has nulls");
  if (e.flags > flag_minmax) return bad(fmt::format("unknown flags {:#x}", e.flags));
  if (e.flags & flag_minmax) {
    if (l == layout::text) return bad("min/max present for a text column");
    bool ordered = l == layout::f64
                       ? std::bit_cast<double>(e.min_bits) <= std::bit_cast<double>(e.max_bits)
                       : static_cast<int64_t>(e.min_bits) <= static_cast<int64_t>(e.max_bits);
    if (!ordered) return bad("min is not <= max");
    if (l == layout::u8 && (e.min_bits > 1 || e.max_bits > 1))
      return bad("bool bounds are not 0 or 1");
    if (l == layout::i32 && (static_cast<int64_t>(e.min_bits) < INT32_MIN ||
                             static_cast<int64_t>(e.max_bits) > INT32_MAX))
      return bad("int bounds are out of range for int");
  } else if (e.min_bits != 0 || e.max_bits != 0) {
    return bad("min/max bytes set without the min/max flag");
  }
  if (ingestion && rows > 0 && !(e.flags & flag_minmax)) return bad("ingestion_time has no bounds");
  const uint64_t bitmap = e.null_count > 0 ? bitmap_bytes(rows) : 0;
  const uint64_t least = bitmap + uint64_t{rows} * value_width(l);
  if (l != layout::text && e.raw_bytes != least)
    return bad(fmt::format("uncompressed size {} is not the {} bytes {} rows of {} take",
                           e.raw_bytes, least, rows, model::to_string(type)));
  if (e.raw_bytes < least || e.raw_bytes > max_block_raw_bytes)
    return bad(fmt::format("uncompressed size {} is outside [{}, {}]", e.raw_bytes, least,
                           max_block_raw_bytes));
  return std::nullopt;
}

std::optional<model::error> extent_reader::impl::parse_footer(std::string_view footer,
                                                              uint64_t footer_offset) {
  cursor r{footer};
  auto columns = r.get<uint32_t>();
  if (!r.ok || columns > footer.size() / 3)
    return corrupt(fmt::format("footer: column count {} does not fit in the footer", columns));
  schema.reserve(columns);
  for (uint32_t c = 0; c < columns; ++c) {
    auto type = r.get<uint8_t>();
    auto name = r.take(r.get<uint16_t>());
    if (!r.ok) return corrupt(fmt::format("footer: column #{} runs past the footer", c));
    if (type > static_cast<uint8_t>(model::column_type::dynamic))
      return corrupt(fmt::format("footer: column #{} has unknown type {}", c, type));
    schema.push_back({std::string(name), static_cast<model::column_type>(type)});
  }
  auto rows = r.get<uint64_t>();
  auto min_ticks = r.get<int64_t>();
  auto max_ticks = r.get<int64_t>();
  auto block_rows = r.get<uint32_t>();
  auto group_count = r.get<uint32_t>();
  if (!r.ok) return corrupt("footer: counts run past the footer");
  if (block_rows == 0 || block_rows > max_block_rows)
    return corrupt(
        fmt::format("footer: block_rows {} is outside [1, {}]", block_rows, max_block_rows));
  const uint64_t group_bytes = 4 + (uint64_t{columns} + 1) * entry_bytes;
  const uint64_t rest = footer.size() - r.pos;
  if (rest % group_bytes != 0 || rest / group_bytes != group_count)
    return corrupt(
        fmt::format("footer: {} bytes of block index do not hold {} block groups of {} "
                    "columns",
                    rest, group_count, columns));
  groups.reserve(group_count);
  uint64_t next_offset = header_bytes, total_rows = 0;
  for (uint32_t g = 0; g < group_count; ++g) {
    group_index gi;
    gi.rows = r.get<uint32_t>();
    if (gi.rows == 0 || gi.rows > block_rows)
      return corrupt(
          fmt::format("block group {}: {} rows, outside [1, {}]", g, gi.rows, block_rows));
    total_rows += gi.rows;
    gi.entries.reserve(columns + 1);
    for (size_t c = 0; c <= columns; ++c) {
      auto bytes = r.take(entry_bytes);
      if (!r.ok) return corrupt("footer: the block index runs past the footer");
      auto e = load_entry(bytes.data());
      if (e.offset != next_offset)
        return corrupt_block(c, g,
                             fmt::format("index entry: offset {} where the previous block "
                                         "ended at {}",
                                         e.offset, next_offset));
      next_offset += e.stored_bytes;
      if (next_offset > footer_offset)
        return corrupt_block(c, g,
                             fmt::format("index entry: {} stored bytes at offset {} run into "
                                         "the footer at {}",
                                         e.stored_bytes, e.offset, footer_offset));
      if (auto err = check_entry(c, g, e, gi.rows)) return err;
      gi.entries.push_back(e);
    }
    groups.push_back(std::move(gi));
  }
  if (next_offset != footer_offset)
    return corrupt(fmt::format("the blocks end at {} but the footer starts at {}", next_offset,
                               footer_offset));
  if (total_rows != rows)
    return corrupt(
        fmt::format("footer: row count {} but the block groups hold {}", rows, total_rows));
  derive_stats(schema, groups, file_bytes, stats, blocks);
  if (stats.min_ingestion_ticks != min_ticks || stats.max_ingestion_ticks != max_ticks)
    return corrupt("footer: min/max ingestion time disagree with the ingestion_time blocks");
  return std::nullopt;
}

std::optional<model::error> extent_reader::impl::load_block(size_t c, size_t g, ZSTD_DCtx* dctx,
                                                            std::string& stored,
                                                            std::string& raw) const {
  const auto& e = groups[g].entries[c];
  if (auto err = read_at(e.offset, stored, e.stored_bytes)) return err;
  if (crc32_of(stored) != e.crc) return corrupt_block(c, g, "checksum mismatch");
  auto content = ZSTD_getFrameContentSize(stored.data(), stored.size());
  if (content == ZSTD_CONTENTSIZE_ERROR || content == ZSTD_CONTENTSIZE_UNKNOWN)
    return corrupt_block(c, g, "not a zstd frame with a content size");
  if (content != e.raw_bytes)
    return corrupt_block(
        c, g, fmt::format("zstd frame holds {} bytes, the index says {}", content, e.raw_bytes));
  raw.resize(e.raw_bytes);
  auto n = ZSTD_decompressDCtx(dctx, raw.data(), raw.size(), stored.data(), stored.size());
  if (ZSTD_isError(n)) return corrupt_block(c, g, fmt::format("zstd: {}", ZSTD_getErrorName(n)));
  if (n != e.raw_bytes)
    return corrupt_block(
        c, g, fmt::format("decompressed to {} bytes, the index says {}", n, e.raw_bytes));
  return std::nullopt;
}

std::optional<model::error> extent_reader::impl::decode(size_t c, size_t g, ZSTD_DCtx* dctx,
                                                        model::column_data& out) const {
  std::string stored, raw;
  if (auto err = load_block(c, g, dctx, stored, raw)) return err;
  const auto& e = groups[g].entries[c];
  const size_t rows = groups[g].rows;
  out = model::column_data{};
  out.type = schema[c].type;
  out.nulls.assign(rows, 0);
  size_t pos = 0;
  if (e.null_count > 0) {
    // check_entry() guaranteed raw holds the bitmap.
    pos = bitmap_bytes(rows);
    uint32_t set = 0;
    for (size_t i = 0; i < rows; ++i) {
      out.nulls[i] = (static_cast<uint8_t>(raw[i / 8]) >> (i % 8)) & 1;
      set += out.nulls[i];
    }
    if (set != e.null_count)
      return corrupt_block(
          c, g, fmt::format("null bitmap has {} nulls, the index says {}", set, e.null_count));
    if (rows % 8 != 0 && (static_cast<uint8_t>(raw[pos - 1]) >> (rows % 8)) != 0)
      return corrupt_block(c, g, "null bitmap padding bits are set");
  }
  const char* v = raw.data() + pos;  // check_entry() fixed the size of fixed-width values
  switch (layout_of(out.type)) {
    case layout::u8:
      out.ints.resize(rows);
      for (size_t i = 0; i < rows; ++i) {
        auto b = static_cast<uint8_t>(v[i]);
        if (b > 1) return corrupt_block(c, g, fmt::format("row {}: bool byte {}", i, b));
        out.ints[i] = b;
      }
      break;
    case layout::i32:
      out.ints.resize(rows);
      for (size_t i = 0; i < rows; ++i) out.ints[i] = load<int32_t>(v + i * 4);
      break;
    case layout::i64:
      out.ints.resize(rows);
      if (rows > 0) std::memcpy(out.ints.data(), v, rows * 8);
      break;
    case layout::f64:
      out.reals.resize(rows);
      if (rows > 0) std::memcpy(out.reals.data(), v, rows * 8);
      break;
    case layout::text: {
      const size_t text_bytes = raw.size() - pos - rows * 4;  // check_entry(): non-negative
      out.offsets.resize(rows + 1);
      uint64_t total = 0;
      for (size_t i = 0; i < rows; ++i) {
        auto len = load<uint32_t>(v + i * 4);
        if (len != 0 && out.nulls[i])
          return corrupt_block(c, g,
                               fmt::format("row {} is null but has {} bytes of text", i, len));
        total += len;
        if (total > text_bytes)
          return corrupt_block(c, g,
                               fmt::format("text lengths up to row {} sum to {}, more "
                                           "than the block's {} text bytes",
                                           i, total, text_bytes));
        out.offsets[i + 1] = static_cast<uint32_t>(total);
      }
      if (total != text_bytes)
        return corrupt_block(c, g,
                             fmt::format("text lengths sum to {}, the block holds {} "
                                         "text bytes",
                                         total, text_bytes));
      out.text.assign(v + rows * 4, text_bytes);
      break;
    }
  }
  return std::nullopt;
}

std::optional<model::error> extent_reader::impl::decode_ingestion(size_t g, ZSTD_DCtx* dctx,
                                                                  std::vector<int64_t>& out) const {
  std::string stored, raw;
  if (auto err = load_block(schema.size(), g, dctx, stored, raw)) return err;
  out.resize(groups[g].rows);  // check_entry(): raw is exactly rows × 8 bytes
  if (!out.empty()) std::memcpy(out.data(), raw.data(), out.size() * 8);
  return std::nullopt;
}

extent_reader::extent_reader(std::unique_ptr<impl> i) : impl_(std::move(i)) {}
extent_reader::extent_reader(extent_reader&&) noexcept = default;
extent_reader& extent_reader::operator=(extent_reader&&) noexcept = default;
extent_reader::~extent_reader() = default;

std::variant<extent_reader, model::error> extent_reader::open(const fs::path& path) {
  auto r = std::make_unique<impl>();
  r->path = path.string();
  r->fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st {};
  if (r->fd < 0 || ::fstat(r->fd, &st) != 0)
    return model::error{"StorageError",
                        fmt::format("extent '{}': cannot open: {}", r->path, std::strerror(errno)),
                        false};
  r->file_bytes = static_cast<uint64_t>(st.st_size);
  if (r->file_bytes < header_bytes + trailer_bytes)
    return r->corrupt(fmt::format("the file is {} bytes, shorter than a header and a trailer ({})",
                                  r->file_bytes, header_bytes + trailer_bytes));
  std::string trailer, header, footer;
  if (auto e = r->read_at(r->file_bytes - trailer_bytes, trailer, trailer_bytes)) return *e;
  const char* t = trailer.data();
  if (std::memcmp(t + 20, magic, 4) != 0) return r->corrupt("trailer: bad magic (not an extent?)");
  if (load<uint16_t>(t + 16) != version)
    return r->corrupt(fmt::format("trailer: unknown format version {}", load<uint16_t>(t + 16)));
  if (load<uint16_t>(t + 18) != 0) return r->corrupt("trailer: reserved field is not 0");
  const auto footer_offset = load<uint64_t>(t);
  const auto footer_length = load<uint32_t>(t + 8);
  if (footer_offset < header_bytes || footer_offset > r->file_bytes ||
      r->file_bytes - footer_offset != uint64_t{footer_length} + trailer_bytes)
    return r->corrupt(
        fmt::format("trailer: footer at {} of {} bytes does not end where the "
                    "trailer starts in a file of {} bytes (truncated?)",
                    footer_offset, footer_length, r->file_bytes));
  if (auto e = r->read_at(0, header, header_bytes)) return *e;
  if (std::memcmp(header.data(), magic, 4) != 0) return r->corrupt("header: bad magic");
  if (load<uint16_t>(header.data() + 4) != version || load<uint16_t>(header.data() + 6) != 0)
    return r->corrupt("header: unknown format version or flags");
  if (auto e = r->read_at(footer_offset, footer, footer_length)) return *e;
  if (crc32_of(footer) != load<uint32_t>(t + 12)) return r->corrupt("footer: checksum mismatch");
  if (auto e = r->parse_footer(footer, footer_offset)) return *e;
  return extent_reader(std::move(r));
}

const std::vector<model::column>& extent_reader::columns() const {
  return impl_->schema;
}
const extent_stats& extent_reader::stats() const {
  return impl_->stats;
}
const std::vector<block_info>& extent_reader::blocks() const {
  return impl_->blocks;
}

namespace {
model::error out_of_range(const std::string& path, size_t column, size_t block) {
  return {"InternalServerError",
          fmt::format("extent '{}': no column {} in block group {}", path, column, block), true};
}
}  // namespace

std::variant<model::column_data, model::error> extent_reader::read_column(size_t column,
                                                                          size_t block) const {
  if (column >= impl_->schema.size() || block >= impl_->groups.size())
    return out_of_range(impl_->path, column, block);
  auto dctx = impl_->borrow();
  if (!dctx.ctx) return no_dctx(impl_->path);
  model::column_data out;
  if (auto e = impl_->decode(column, block, dctx.ctx.get(), out)) return *e;
  return out;
}

uint64_t extent_reader::stored_bytes(size_t column, size_t block) const {
  if (block >= impl_->groups.size() || column >= impl_->groups[block].entries.size()) return 0;
  return impl_->groups[block].entries[column].stored_bytes;
}

std::variant<std::vector<int64_t>, model::error> extent_reader::read_ingestion_ticks(
    size_t block) const {
  if (block >= impl_->groups.size()) return out_of_range(impl_->path, impl_->schema.size(), block);
  auto dctx = impl_->borrow();
  if (!dctx.ctx) return no_dctx(impl_->path);
  std::vector<int64_t> out;
  if (auto e = impl_->decode_ingestion(block, dctx.ctx.get(), out)) return *e;
  return out;
}

std::variant<extent_block, model::error> extent_reader::read_block(size_t block) const {
  if (block >= impl_->groups.size()) return out_of_range(impl_->path, 0, block);
  auto dctx = impl_->borrow();
  if (!dctx.ctx) return no_dctx(impl_->path);
  extent_block out;
  out.batch.rows = impl_->groups[block].rows;
  out.batch.ingestion_ticks = impl_->blocks[block].min_ingestion_ticks;
  out.batch.columns.resize(impl_->schema.size());
  for (size_t c = 0; c < impl_->schema.size(); ++c)
    if (auto e = impl_->decode(c, block, dctx.ctx.get(), out.batch.columns[c])) return *e;
  if (auto e = impl_->decode_ingestion(block, dctx.ctx.get(), out.ingestion_ticks)) return *e;
  return out;
}

std::optional<model::error> extent_reader::scan(
    const std::function<bool(const extent_block&)>& f) const {
  for (size_t b = 0; b < impl_->groups.size(); ++b) {
    auto block = read_block(b);
    if (auto* e = std::get_if<model::error>(&block)) return *e;
    if (!f(std::get<extent_block>(block))) break;
  }
  return std::nullopt;
}

}  // namespace tributary::storage
