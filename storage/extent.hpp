#pragma once
/// Extents: immutable columnar files holding the rows of one sealed rowstore range of a table
/// (storage/FORMAT.md "Extents"). One writer per file, written once; any number of readers.
/// Blocking file I/O: use from detached actors or threads, never from a CAF worker.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <variant>
#include <vector>

#include "model/batch.hpp"

namespace tributary::storage {

/// Identifies an extent for the life of the catalog; never reused.
enum class extent_id : uint64_t {};

/// `<data_dir>/extents/<table>/<extent>.trx`, ids in decimal.
std::filesystem::path extent_path(const std::filesystem::path& data_dir, model::table_id table,
                                  extent_id extent);

/// Statistics of one column, over a block or a whole extent. `min`/`max` hold the bounds of the
/// non-null values (bool, int64 or double per the column type, like model::value); monostate
/// for text types and when every value is null (or NaN, for real).
struct column_stats {
  uint64_t null_count = 0;
  model::value min;
  model::value max;
};

/// An extent's statistics, all derived from its footer.
struct extent_stats {
  uint64_t rows = 0;
  uint64_t original_bytes = 0;  ///< uncompressed size of every block (what zstd was given)
  uint64_t file_bytes = 0;
  int64_t min_ingestion_ticks = 0;  ///< 0 when rows == 0
  int64_t max_ingestion_ticks = 0;
  std::vector<column_stats> columns;  ///< one per schema column
};

/// One block group of the index: the same row range of every column.
struct block_info {
  uint64_t first_row = 0;
  uint32_t rows = 0;
  int64_t min_ingestion_ticks = 0;
  int64_t max_ingestion_ticks = 0;
  std::vector<column_stats> columns;  ///< one per schema column, for pruning
  uint64_t stored_bytes = 0;          ///< compressed bytes of the group's blocks
  uint64_t original_bytes = 0;        ///< their uncompressed bytes
};

/// The rows of one block group: every schema column, plus each row's ingestion time.
/// `batch.ingestion_ticks` is the group's minimum (rows of an extent differ in ingestion time).
struct extent_block {
  model::column_batch batch;
  std::vector<int64_t> ingestion_ticks;  ///< one per row, 100-ns ticks since the epoch
};

struct extent_options {
  int zstd_level = 3;
  uint32_t block_rows = 65536;           ///< rows per block group, 1..1,048,576
  size_t block_bytes = size_t{8} << 20;  ///< a group ends once one column's block reaches it
  /// Data is written in slices of this many bytes, each flushed to the disk (sync_file_range)
  /// before the next: the file never queues more than one slice ahead of other writers' fsyncs
  /// (the rowstore's group commit), and the final fsync has little left to do. 0 = write freely,
  /// flush at finish().
  size_t write_slice_bytes = size_t{128} << 10;
  /// Called between bounded steps of work (each ~64 KiB compressed, a slice written, a batch
  /// appended): where a background writer may give up the CPU. Empty = never called.
  std::function<void()> between_steps = {};  ///< (called from every compressing thread)
  /// Threads compressing a block group's columns at once, the caller's included (each column
  /// block is one frame either way: the bytes do not depend on it).
  unsigned compression_threads = 1;
};

/// Writes one extent file. Memory: one block group (one uncompressed block per column).
/// Not thread-safe; movable. Destroying a writer whose finish() did not succeed removes the
/// file: an abandoned or failed extent leaves nothing behind (a crash leaves an orphan that
/// start-up removes, DESIGN.md §3).
class extent_writer {
 public:
  /// Creates `path` exclusively (fails if it exists) and its missing parent directories, and
  /// writes the header. `schema` is the table's columns now. Errors: "StorageError" naming the
  /// path and the system error; "InternalServerError" for invalid options.
  static std::variant<extent_writer, model::error> create(const std::filesystem::path& path,
                                                          std::vector<model::column> schema,
                                                          extent_options options = {});

  /// Appends a batch's rows; their ingestion time is `batch.ingestion_ticks`. A batch may have
  /// fewer columns than the schema (the missing trailing ones are null). Errors: more columns
  /// than the schema, a type mismatch or an inconsistent batch ("InternalServerError"), a value
  /// too large for a block or a write failure ("StorageError"). After an error the writer is
  /// failed: every later call returns the same error.
  std::optional<model::error> append(const model::column_batch& batch);

  /// Writes the last group, the footer and the trailer; fsyncs the file, its directory and
  /// the parents of directories create() made. Only then may the extent be registered.
  std::variant<extent_stats, model::error> finish();

  /// Changes compression_threads from the next block group on (0 counts as 1).
  void set_compression_threads(unsigned threads);

  extent_writer(extent_writer&&) noexcept;
  extent_writer& operator=(extent_writer&&) noexcept;
  ~extent_writer();

 private:
  struct impl;
  explicit extent_writer(std::unique_ptr<impl> i);
  std::unique_ptr<impl> impl_;
};

/// Reads one extent file. open() validates the trailer, header and footer; each read validates
/// the blocks it reads. Corruption is an error with code "StorageCorruption" whose message names
/// the file, the column and block group, and the failed check; never a crash. Const methods are
/// thread-safe (positional reads of one open file descriptor). Movable.
class extent_reader {
 public:
  /// Opens and validates `path`. Errors: "StorageError" (cannot open or read),
  /// "StorageCorruption".
  static std::variant<extent_reader, model::error> open(const std::filesystem::path& path);

  /// The schema when the extent was sealed.
  const std::vector<model::column>& columns() const;
  const extent_stats& stats() const;
  /// The block index, one entry per block group, in row order.
  const std::vector<block_info>& blocks() const;

  /// Column `column` of block group `block`. Out-of-range indexes are "InternalServerError".
  std::variant<model::column_data, model::error> read_column(size_t column, size_t block) const;
  /// The ingestion time of each row of block group `block`.
  std::variant<std::vector<int64_t>, model::error> read_ingestion_ticks(size_t block) const;
  /// The bytes stored for column `column` of block group `block` (the schema's size: its
  /// ingestion times); 0 for an index out of range.
  uint64_t stored_bytes(size_t column, size_t block) const;
  /// Every column of block group `block`, and the ingestion times.
  std::variant<extent_block, model::error> read_block(size_t block) const;
  /// Reads the groups in order; `f` returns false to stop early. The first error stops the scan.
  std::optional<model::error> scan(const std::function<bool(const extent_block&)>& f) const;

  extent_reader(extent_reader&&) noexcept;
  extent_reader& operator=(extent_reader&&) noexcept;
  ~extent_reader();

 private:
  struct impl;
  explicit extent_reader(std::unique_ptr<impl> i);
  std::unique_ptr<impl> impl_;
};

}  // namespace tributary::storage
