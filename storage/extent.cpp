#include "storage/extent.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>
#include <zlib.h>
// For ZSTD_c_stableInBuffer / ZSTD_c_stableOutBuffer (experimental; zstd >= 1.4.9 has both).
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <variant>

#include <bit>
#include <cerrno>
#include <cmath>
#include <limits>

#include "storage/crash_point.hpp"
#include "storage/extent_format.hpp"

namespace tributary::storage {
namespace fs = std::filesystem;
using namespace extent_format;

std::filesystem::path extent_path(const std::filesystem::path& data_dir, model::table_id table,
                                  extent_id extent) {
  return data_dir / "extents" / std::to_string(static_cast<uint64_t>(table)) /
         (std::to_string(static_cast<uint64_t>(extent)) + ".trx");
}

namespace extent_format {

void put_entry(std::string& out, const entry& e) {
  put<uint64_t>(out, e.offset);
  put<uint32_t>(out, e.stored_bytes);
  put<uint32_t>(out, e.raw_bytes);
  put<uint32_t>(out, e.crc);
  put<uint32_t>(out, e.null_count);
  put<uint8_t>(out, e.flags);
  put<uint64_t>(out, e.min_bits);
  put<uint64_t>(out, e.max_bits);
}

entry load_entry(const char* p) {
  entry e;
  e.offset = load<uint64_t>(p);
  e.stored_bytes = load<uint32_t>(p + 8);
  e.raw_bytes = load<uint32_t>(p + 12);
  e.crc = load<uint32_t>(p + 16);
  e.null_count = load<uint32_t>(p + 20);
  e.flags = load<uint8_t>(p + 24);
  e.min_bits = load<uint64_t>(p + 25);
  e.max_bits = load<uint64_t>(p + 33);
  return e;
}

uint32_t crc32_of(std::string_view bytes) {
  // zlib takes lengths as uInt: feed gigabyte-sized spans in pieces.
  uLong crc = crc32(0L, Z_NULL, 0);
  while (!bytes.empty()) {
    auto n = std::min<size_t>(bytes.size(), 1u << 30);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(n));
    bytes.remove_prefix(n);
  }
  return static_cast<uint32_t>(crc);
}

namespace {

bool less(layout l, uint64_t a, uint64_t b) {
  if (l == layout::f64) return std::bit_cast<double>(a) < std::bit_cast<double>(b);
  return static_cast<int64_t>(a) < static_cast<int64_t>(b);
}

model::value bound(layout l, uint64_t bits) {
  if (l == layout::u8) return bits != 0;
  if (l == layout::f64) return std::bit_cast<double>(bits);
  return static_cast<int64_t>(bits);
}

// Running min/max over entries of one column.
struct merged {
  bool has = false;
  uint64_t min = 0, max = 0;
  uint64_t nulls = 0;
  void add(layout l, const entry& e) {
    nulls += e.null_count;
    if (!(e.flags & flag_minmax)) return;
    if (!has || less(l, e.min_bits, min)) min = e.min_bits;
    if (!has || less(l, max, e.max_bits)) max = e.max_bits;
    has = true;
  }
  column_stats to_stats(layout l) const {
    column_stats s;
    s.null_count = nulls;
    if (has) {
      s.min = bound(l, min);
      s.max = bound(l, max);
    }
    return s;
  }
};

}  // namespace

void derive_stats(const std::vector<model::column>& schema, const std::vector<group_index>& groups,
                  uint64_t file_bytes, extent_stats& stats, std::vector<block_info>& blocks) {
  const size_t columns = schema.size();
  stats = extent_stats{};
  stats.file_bytes = file_bytes;
  blocks.clear();
  blocks.reserve(groups.size());
  std::vector<merged> totals(columns);
  for (const auto& g : groups) {
    block_info b;
    b.first_row = stats.rows;
    b.rows = g.rows;
    const auto& ingestion = g.entries[columns];
    b.min_ingestion_ticks = static_cast<int64_t>(ingestion.min_bits);
    b.max_ingestion_ticks = static_cast<int64_t>(ingestion.max_bits);
    b.columns.reserve(columns);
    for (size_t c = 0; c < columns; ++c) {
      auto l = layout_of(schema[c].type);
      merged one;
      one.add(l, g.entries[c]);
      b.columns.push_back(one.to_stats(l));
      totals[c].add(l, g.entries[c]);
    }
    for (const auto& e : g.entries) {
      b.stored_bytes += e.stored_bytes;
      b.original_bytes += e.raw_bytes;
    }
    if (blocks.empty() || b.min_ingestion_ticks < stats.min_ingestion_ticks)
      stats.min_ingestion_ticks = b.min_ingestion_ticks;
    if (blocks.empty() || b.max_ingestion_ticks > stats.max_ingestion_ticks)
      stats.max_ingestion_ticks = b.max_ingestion_ticks;
    stats.rows += b.rows;
    stats.original_bytes += b.original_bytes;
    blocks.push_back(std::move(b));
  }
  for (size_t c = 0; c < columns; ++c)
    stats.columns.push_back(totals[c].to_stats(layout_of(schema[c].type)));
}

}  // namespace extent_format

namespace {

model::error io_error(const fs::path& path, const std::string& what, int err) {
  return {"StorageError",
          fmt::format("extent '{}': {}: {}", path.string(), what, std::strerror(err)), false};
}

model::error misuse(const fs::path& path, const std::string& what) {
  return {"InternalServerError", fmt::format("extent '{}': {}", path.string(), what), true};
}

bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    auto n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool fsync_directory(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

// One column's rows of the group being built, already in block layout (FORMAT.md "Extents").
struct pending_column {
  model::column_type type{};
  layout lay{};
  std::vector<uint8_t> nulls;  // one flag per row; packed into the bitmap at flush
  uint32_t null_count = 0;
  std::string values;  // fixed-width values, or text lengths
  std::string text;    // text bytes
  bool has_minmax = false;
  int64_t min_int = 0, max_int = 0;
  double min_real = 0, max_real = 0;

  void note(int64_t v) {
    if (!has_minmax || v < min_int) min_int = v;
    if (!has_minmax || v > max_int) max_int = v;
    has_minmax = true;
  }
  void note(double v) {
    if (std::isnan(v)) return;
    if (!has_minmax || v < min_real) min_real = v;
    if (!has_minmax || v > max_real) max_real = v;
    has_minmax = true;
  }
  // Uncompressed block size if `rows` rows and `more_text` more text bytes were held.
  uint64_t raw_size(uint64_t rows, uint64_t more_text) const {
    return rows * value_width(lay) + text.size() + more_text;
  }
};

}  // namespace

struct extent_writer::impl {
  fs::path path;
  int fd = -1;
  std::vector<model::column> schema;
  extent_options options;
  std::vector<fs::path> sync_dirs;
  std::vector<pending_column> pending;  // schema columns, then ingestion_time
  uint32_t pending_rows = 0;
  uint64_t offset = header_bytes;
  std::vector<group_index> groups;
  // One compression context per compressing thread; per column of a group, its raw block and
  // its compressed frame.
  std::vector<std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)>> cctxs;
  // frames[c] keeps its length (resizing up would zero-fill megabytes per block): the frame is
  // its first frame_sizes[c] bytes.
  std::vector<std::string> raws, frames;
  std::vector<size_t> frame_sizes;
  std::string out;
  std::optional<model::error> failed;
  bool finished = false;

  ~impl() {
    if (fd >= 0) ::close(fd);
    if (!finished) {
      std::error_code ec;
      fs::remove(path, ec);
    }
  }

  // Compresses `raw` into `frame` as one zstd frame with its content size, in steps of
  // compress_step_bytes of input (between_steps in between); the bytes are those of a one-shot
  // compression at the same level.
  std::optional<model::error> compress(ZSTD_CCtx* c, std::string_view raw, std::string& frame,
                                       size_t& frame_size) const {
    constexpr size_t compress_step_bytes = 64u << 10;
    if (frame.size() < ZSTD_compressBound(raw.size())) frame.resize(ZSTD_compressBound(raw.size()));
    auto check = [&](size_t r) -> std::optional<model::error> {
      if (!ZSTD_isError(r)) return std::nullopt;
      return misuse(path, fmt::format("zstd: {}", ZSTD_getErrorName(r)));
    };
    if (auto e = check(ZSTD_CCtx_reset(c, ZSTD_reset_session_and_parameters))) return e;
    if (auto e = check(ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, options.zstd_level))) return e;
    if (auto e = check(ZSTD_CCtx_setPledgedSrcSize(c, raw.size()))) return e;
    // Both buffers stay put between calls: zstd reads `raw` and writes `frame` in place,
    // without copying through its own buffers; the input only grows by a step per call.
    if (auto e = check(ZSTD_CCtx_setParameter(c, ZSTD_c_stableInBuffer, 1))) return e;
    if (auto e = check(ZSTD_CCtx_setParameter(c, ZSTD_c_stableOutBuffer, 1))) return e;
    ZSTD_outBuffer out_buf{frame.data(), frame.size(), 0};
    ZSTD_inBuffer in_buf{raw.data(), 0, 0};
    for (;;) {
      in_buf.size = std::min(raw.size(), in_buf.size + compress_step_bytes);
      const bool last = in_buf.size == raw.size();
      size_t left = 0;
      do {
        left = ZSTD_compressStream2(c, &out_buf, &in_buf, last ? ZSTD_e_end : ZSTD_e_continue);
        if (auto e = check(left)) return e;
      } while (last ? left != 0 : in_buf.pos < in_buf.size);
      if (last) break;
      if (options.between_steps) options.between_steps();
    }
    frame_size = out_buf.pos;
    return std::nullopt;
  }

  // Compresses blocks[c] into frames[c] for every column: on this thread and, with
  // compression_threads > 1, on as many helpers more (started per group: they inherit this
  // thread's scheduling class, and a group's compression dwarfs their start-up).
  std::optional<model::error> compress_columns(const std::vector<std::string_view>& blocks) {
    std::atomic<size_t> next{0};
    std::vector<std::optional<model::error>> errors(blocks.size());
    auto work = [&](ZSTD_CCtx* c) {
      for (size_t i = next++; i < blocks.size(); i = next++) errors[i] = compress(c, blocks[i], frames[i], frame_sizes[i]);
    };
    while (cctxs.size() < std::max(1u, options.compression_threads)) {
      cctxs.emplace_back(ZSTD_createCCtx(), ZSTD_freeCCtx);
      if (!cctxs.back()) {
        cctxs.pop_back();
        break;  // fewer threads, not a failure
      }
    }
    std::vector<std::thread> helpers;
    const size_t threads = std::min<size_t>(std::max(1u, options.compression_threads), cctxs.size());
    for (size_t t = 1; t < threads && t < blocks.size(); ++t) helpers.emplace_back(work, cctxs[t].get());
    work(cctxs[0].get());
    for (auto& h : helpers) h.join();
    for (auto& e : errors)
      if (e) return e;
    return std::nullopt;
  }

  // Writes `bytes` at the end of the file in slices, waiting for each to reach the disk.
  bool write_paced(std::string_view bytes) {
    const size_t slice = options.write_slice_bytes ? options.write_slice_bytes : bytes.size();
    uint64_t at = offset;
    while (!bytes.empty()) {
      const auto part = bytes.substr(0, slice);
      if (!write_all(fd, part)) return false;
      if (options.write_slice_bytes &&
          ::sync_file_range(fd, static_cast<off64_t>(at), static_cast<off64_t>(part.size()),
                            SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER) != 0)
        return false;
      at += part.size();
      bytes.remove_prefix(part.size());
      if (options.between_steps) options.between_steps();
    }
    return true;
  }

  std::optional<model::error> fail(model::error e) {
    failed = e;
    return e;
  }

  // How many of `n` rows starting at `pos` fit in the current group.
  uint32_t rows_fitting(const model::column_batch& b, size_t pos, uint32_t n) const {
    n = std::min(n, options.block_rows - pending_rows);
    for (size_t c = 0; c < pending.size() && n > 0; ++c) {
      const auto& p = pending[c];
      if (p.lay != layout::text || c >= b.columns.size()) {  // fixed width, or nulls
        uint64_t room =
            options.block_bytes > p.text.size() ? options.block_bytes - p.text.size() : 0;
        uint64_t limit = room / value_width(p.lay);
        n = limit > pending_rows
                ? static_cast<uint32_t>(std::min<uint64_t>(n, limit - pending_rows))
                : 0;
        continue;
      }
      const auto& off = b.columns[c].offsets;
      auto fits = [&](uint32_t k) {
        return p.raw_size(pending_rows + k, off[pos + k] - off[pos]) <= options.block_bytes;
      };
      if (fits(n)) continue;
      uint32_t lo = 0, hi = n;  // fits(lo) holds, fits(hi) does not
      while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        (fits(mid) ? lo : hi) = mid;
      }
      n = lo;
    }
    return n;
  }

  std::optional<model::error> add_rows(pending_column& p, const model::column_data* d, size_t pos,
                                       uint32_t n);
  void add_ingestion(uint32_t n, int64_t ticks) {
    auto& p = pending.back();
    p.nulls.resize(p.nulls.size() + n, 0);
    for (uint32_t i = 0; i < n; ++i) put<int64_t>(p.values, ticks);
    p.note(ticks);
  }
  std::optional<model::error> flush();
};

std::optional<model::error> extent_writer::impl::add_rows(pending_column& p,
                                                          const model::column_data* d, size_t pos,
                                                          uint32_t n) {
  const size_t base = p.nulls.size();
  p.nulls.resize(base + n, 0);
  const size_t w = value_width(p.lay);
  const size_t vbase = p.values.size();
  p.values.resize(vbase + n * w, '\0');  // null slots stay 0
  char* out = p.values.data() + vbase;
  if (d == nullptr) {  // a trailing column the batch does not have: null
    std::fill(p.nulls.begin() + static_cast<ptrdiff_t>(base), p.nulls.end(), 1);
    p.null_count += n;
    return std::nullopt;
  }
  for (uint32_t i = 0; i < n; ++i) {
    const size_t row = pos + i;
    if (d->nulls[row] != 0) {
      p.nulls[base + i] = 1;
      ++p.null_count;
      continue;
    }
    switch (p.lay) {
      case layout::u8: {
        uint8_t v = d->ints[row] != 0 ? 1 : 0;
        out[i] = static_cast<char>(v);
        p.note(int64_t{v});
        break;
      }
      case layout::i32: {
        int64_t v = d->ints[row];
        if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max())
          return fail(misuse(path, fmt::format("column '{}': value {} is out of range for int",
                                               schema[&p - pending.data()].name, v)));
        auto v32 = static_cast<int32_t>(v);
        std::memcpy(out + i * 4, &v32, 4);
        p.note(v);
        break;
      }
      case layout::i64:
        std::memcpy(out + i * 8, &d->ints[row], 8);
        p.note(d->ints[row]);
        break;
      case layout::f64:
        std::memcpy(out + i * 8, &d->reals[row], 8);
        p.note(d->reals[row]);
        break;
      case layout::text: {
        uint32_t len = d->offsets[row + 1] - d->offsets[row];
        std::memcpy(out + i * 4, &len, 4);
        p.text.append(d->text, d->offsets[row], len);
        break;
      }
    }
  }
  return std::nullopt;
}

std::optional<model::error> extent_writer::impl::flush() {
  group_index g;
  g.rows = pending_rows;
  raws.resize(pending.size());
  frames.resize(pending.size());
  frame_sizes.resize(pending.size());
  // A column's raw block is its null bitmap (when it has nulls), values, then text. Without nulls
  // the pending buffers are used in place (text appended to the values), not copied.
  std::vector<std::string_view> blocks(pending.size());
  for (size_t c = 0; c < pending.size(); ++c) {
    auto& p = pending[c];
    if (p.null_count == 0) {
      p.values += p.text;
      blocks[c] = p.values;
    } else {
      auto& raw = raws[c];
      raw.assign(bitmap_bytes(pending_rows), '\0');
      for (size_t i = 0; i < p.nulls.size(); ++i)
        if (p.nulls[i]) raw[i / 8] = static_cast<char>(raw[i / 8] | (1 << (i % 8)));
      raw += p.values;
      raw += p.text;
      blocks[c] = raw;
    }
    if (blocks[c].size() > max_block_raw_bytes) {
      return fail({"StorageError",
                   fmt::format("extent '{}': a block of column '{}' would hold {} bytes, more "
                               "than the format's limit of {} (one value too large)",
                               path.string(),
                               c + 1 == pending.size() ? std::string(ingestion_column_name) : schema[c].name,
                               blocks[c].size(), max_block_raw_bytes),
                   true});
    }
  }
  if (auto e = compress_columns(blocks)) return fail(*e);
  out.clear();
  for (size_t c = 0; c < pending.size(); ++c) {
    auto& p = pending[c];
    const std::string_view stored(frames[c].data(), frame_sizes[c]);
    entry e;
    e.offset = offset + out.size();
    e.stored_bytes = static_cast<uint32_t>(stored.size());
    e.raw_bytes = static_cast<uint32_t>(blocks[c].size());
    e.crc = crc32_of(stored);
    e.null_count = p.null_count;
    if (p.has_minmax) {
      e.flags = flag_minmax;
      e.min_bits = p.lay == layout::f64 ? std::bit_cast<uint64_t>(p.min_real)
                                        : static_cast<uint64_t>(p.min_int);
      e.max_bits = p.lay == layout::f64 ? std::bit_cast<uint64_t>(p.max_real)
                                        : static_cast<uint64_t>(p.max_int);
    }
    g.entries.push_back(e);
    out.append(stored);
    p.nulls.clear();
    p.null_count = 0;
    p.values.clear();
    p.text.clear();
    p.has_minmax = false;
  }
  if (!write_paced(out)) return fail(io_error(path, "cannot write a block group", errno));
  offset += out.size();
  groups.push_back(std::move(g));
  pending_rows = 0;
  return std::nullopt;
}

void extent_writer::set_compression_threads(unsigned threads) { impl_->options.compression_threads = threads; }

extent_writer::extent_writer(std::unique_ptr<impl> i) : impl_(std::move(i)) {}
extent_writer::extent_writer(extent_writer&&) noexcept = default;
extent_writer& extent_writer::operator=(extent_writer&&) noexcept = default;
extent_writer::~extent_writer() = default;

std::variant<extent_writer, model::error> extent_writer::create(const fs::path& path,
                                                                std::vector<model::column> schema,
                                                                extent_options options) {
  if (options.block_rows == 0 || options.block_rows > max_block_rows || options.block_bytes == 0 ||
      options.zstd_level < ZSTD_minCLevel() || options.zstd_level > ZSTD_maxCLevel() ||
      schema.size() >= std::numeric_limits<uint32_t>::max())
    return misuse(path, "invalid extent options or schema");
  for (const auto& c : schema)
    if (c.name.size() > std::numeric_limits<uint16_t>::max())
      return misuse(path, "a column name is longer than 65535 bytes");
  auto w = std::make_unique<impl>();
  w->path = path;
  w->finished = true;  // nothing to remove until the file exists
  w->options = options;
  // Every directory create_directories() makes must be fsynced in its parent too.
  std::vector<fs::path> missing;
  for (auto dir = path.parent_path(); !dir.empty() && !fs::exists(dir); dir = dir.parent_path())
    missing.push_back(dir);
  std::error_code ec;
  if (!path.parent_path().empty()) fs::create_directories(path.parent_path(), ec);
  if (ec)
    return model::error{
        "StorageError",
        fmt::format("extent '{}': cannot create its directory: {}", path.string(), ec.message()),
        false};
  w->sync_dirs.push_back(path.parent_path().empty() ? fs::path(".") : path.parent_path());
  for (const auto& d : missing)
    w->sync_dirs.push_back(d.parent_path().empty() ? fs::path(".") : d.parent_path());
  w->fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (w->fd < 0) return io_error(path, "cannot create the file", errno);
  w->finished = false;
  w->pending.resize(schema.size() + 1);
  for (size_t c = 0; c < schema.size(); ++c) {
    w->pending[c].type = schema[c].type;
    w->pending[c].lay = layout_of(schema[c].type);
  }
  w->pending.back().type = model::column_type::datetime;
  w->pending.back().lay = layout::i64;
  w->schema = std::move(schema);
  w->cctxs.emplace_back(ZSTD_createCCtx(), ZSTD_freeCCtx);
  if (!w->cctxs.back()) return misuse(path, "zstd: cannot allocate a compression context");
  std::string header(magic, 4);
  put<uint16_t>(header, version);
  put<uint16_t>(header, 0);
  if (!write_all(w->fd, header)) return io_error(path, "cannot write the header", errno);
  return extent_writer(std::move(w));
}

std::optional<model::error> extent_writer::append(const model::column_batch& b) {
  auto& w = *impl_;
  if (w.failed) return w.failed;
  if (w.finished) return w.fail(misuse(w.path, "append after finish"));
  if (b.columns.size() > w.schema.size())
    return w.fail(misuse(w.path, fmt::format("a batch has {} columns, the extent's schema {}",
                                             b.columns.size(), w.schema.size())));
  for (size_t c = 0; c < b.columns.size(); ++c) {
    const auto& d = b.columns[c];
    auto l = layout_of(d.type);
    bool sized = d.type == w.schema[c].type && d.nulls.size() == b.rows &&
                 (l == layout::text
                      ? d.offsets.size() == size_t{b.rows} + 1 && d.offsets.back() == d.text.size()
                  : l == layout::f64 ? d.reals.size() == b.rows
                                     : d.ints.size() == b.rows);
    if (l == layout::text)
      for (size_t i = 0; sized && i < b.rows; ++i) sized = d.offsets[i] <= d.offsets[i + 1];
    if (!sized)
      return w.fail(misuse(
          w.path, fmt::format("column '{}' of a batch does not match the "
                              "schema's type {} or the batch's {} rows",
                              w.schema[c].name, model::to_string(w.schema[c].type), b.rows)));
  }
  size_t pos = 0;
  while (pos < b.rows) {
    auto n = w.rows_fitting(b, pos, static_cast<uint32_t>(b.rows - pos));
    if (n == 0 && w.pending_rows > 0) {
      if (auto e = w.flush()) return e;
      continue;
    }
    n = std::max<uint32_t>(n, 1);  // a lone row larger than block_bytes gets a group of its own
    for (size_t c = 0; c + 1 < w.pending.size(); ++c) {
      const model::column_data* d = c < b.columns.size() ? &b.columns[c] : nullptr;
      if (auto e = w.add_rows(w.pending[c], d, pos, n)) return e;
      if (w.options.between_steps) w.options.between_steps();
    }
    w.add_ingestion(n, b.ingestion_ticks);
    w.pending_rows += n;
    pos += n;
  }
  if (w.options.between_steps) w.options.between_steps();
  return std::nullopt;
}

std::variant<extent_stats, model::error> extent_writer::finish() {
  auto& w = *impl_;
  if (w.failed) return *w.failed;
  if (w.fd < 0) return misuse(w.path, "finish called twice");
  if (w.pending_rows > 0)
    if (auto e = w.flush()) return *e;
  uint64_t rows = 0;
  for (const auto& g : w.groups) rows += g.rows;
  extent_stats stats;
  std::vector<block_info> blocks;
  std::string footer;
  put<uint32_t>(footer, static_cast<uint32_t>(w.schema.size()));
  for (const auto& c : w.schema) {
    put<uint8_t>(footer, static_cast<uint8_t>(c.type));
    put<uint16_t>(footer, static_cast<uint16_t>(c.name.size()));
    footer += c.name;
  }
  derive_stats(w.schema, w.groups, 0, stats, blocks);
  put<uint64_t>(footer, rows);
  put<int64_t>(footer, stats.min_ingestion_ticks);
  put<int64_t>(footer, stats.max_ingestion_ticks);
  put<uint32_t>(footer, w.options.block_rows);
  put<uint32_t>(footer, static_cast<uint32_t>(w.groups.size()));
  for (const auto& g : w.groups) {
    put<uint32_t>(footer, g.rows);
    for (const auto& e : g.entries) put_entry(footer, e);
  }
  if (footer.size() > std::numeric_limits<uint32_t>::max())
    return *w.fail(misuse(w.path, "the footer is larger than 4 GiB"));
  std::string trailer;
  put<uint64_t>(trailer, w.offset);
  put<uint32_t>(trailer, static_cast<uint32_t>(footer.size()));
  put<uint32_t>(trailer, crc32_of(footer));
  put<uint16_t>(trailer, version);
  put<uint16_t>(trailer, 0);
  trailer.append(magic, 4);
  if (!write_all(w.fd, footer + trailer))
    return *w.fail(io_error(w.path, "cannot write the footer", errno));
  crash_point("extent.data_written");
  if (::fsync(w.fd) != 0) return *w.fail(io_error(w.path, "fsync failed", errno));
  crash_point("extent.file_synced");
  int fd = w.fd;
  w.fd = -1;
  if (::close(fd) != 0) return *w.fail(io_error(w.path, "close failed", errno));
  for (const auto& dir : w.sync_dirs)
    if (!fsync_directory(dir))
      return *w.fail(
          io_error(w.path, fmt::format("cannot fsync directory '{}'", dir.string()), errno));
  stats.file_bytes = w.offset + footer.size() + trailer.size();
  w.finished = true;
  return stats;
}

}  // namespace tributary::storage
