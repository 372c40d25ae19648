#pragma once
/// The rowstore: where streamed rows land (storage/FORMAT.md "Rowstore", "Request ids").
/// Table actors own their key ranges; the rowstore writer commits many tables' batches in one
/// synced RocksDB write (group commit).

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <variant>
#include <vector>

#include "model/batch.hpp"
#include "storage/store.hpp"

namespace tributary::storage {

/// Encodes a batch as a rowstore value.
std::string encode_batch(const model::column_batch& b);
/// Decodes a rowstore value; corruption is an error ("StorageCorruption"), never a crash. With
/// `columns`, only the columns marked true are read: the others come back with their type and
/// no values (a query counting rows reads none).
std::variant<model::column_batch, model::error> decode_batch(std::string_view bytes,
                                                             const std::vector<bool>* columns = nullptr);

/// A request id and what its request did, persisted with its rows.
struct request_record {
  std::string request_id;
  int64_t committed_ticks = 0;
  uint64_t consumed_records = 0;
  uint64_t sequence = 0;
};

/// A registered extent: the rows of one sealed rowstore range of a table, now in a file
/// (storage/FORMAT.md "Extent registry"). Extent ids are the first sequence of the range, so
/// they are unique per table without an allocator.
struct extent_record {
  model::table_id table{};
  uint64_t id = 0;
  uint64_t from_sequence = 0;
  uint64_t to_sequence = 0;
  uint64_t rows = 0;
  uint64_t original_bytes = 0;  ///< rowstore bytes the extent replaced
  uint64_t file_bytes = 0;
  int64_t min_ingestion_ticks = 0;
  int64_t max_ingestion_ticks = 0;
  int64_t created_ticks = 0;
};

/// One table's batch waiting for group commit.
struct rowstore_write {
  model::table_id table{};
  uint64_t sequence = 0;
  std::string batch;                          ///< encode_batch() output
  std::optional<request_record> request;      ///< persisted in the same write batch
  /// A data connection's position after this batch, persisted in the same write batch. With an
  /// empty `batch` only the position is written (messages that stored no rows, e.g. failures).
  std::optional<model::source_position> source;
  bool drop_table = false;  ///< delete all of `table`'s rows, request ids, extent records and
                            ///< sequence high-water mark (table dropped); ordered after every
                            ///< write of the table queued before it. The caller removes the
                            ///< files after.
  /// `.clear table T data`: delete `table`'s rows with sequence below this and every extent
  /// record of the table, keep its request ids (a retry within the dedup window is still
  /// answered as a duplicate), and record sequence - 1 as the table's high-water mark so that
  /// sequences and extent ids never repeat after a restart (storage/FORMAT.md "Sequence
  /// high-water marks"). The caller removes the extent files after.
  std::optional<uint64_t> clear_below_sequence;
  /// Writes nothing: `done` is called once every write queued before it is durable (a table
  /// actor restarted after a failure recovers only after its earlier writes are settled).
  bool barrier = false;
  /// Registers this extent and deletes its rowstore range, in the same synced write batch.
  std::optional<extent_record> seal;
  /// Called once, on the writer thread, after the synced write (nullopt) or its failure.
  std::function<void(std::optional<model::error>)> done;
  std::chrono::steady_clock::time_point queued_at{};  ///< set by submit()
};

struct writer_options {
  size_t max_queued_bytes = 256u << 20;  ///< beyond this, submit() refuses (caller throttles)
  size_t max_commit_bytes = 32u << 20;   ///< upper bound of one group commit
};

/// One group commit, as the writer's observer sees it.
struct commit_stats {
  size_t writes = 0;
  size_t bytes = 0;
  std::chrono::nanoseconds duration{};      ///< the synced write
  std::chrono::nanoseconds longest_wait{};  ///< queued until the group began, its longest write
};

/// Observes the writer (monitoring probe adapter); called on the writer thread.
using commit_observer = std::function<void(const commit_stats&)>;

/// The single writer of the `rowstore` and `requests` column families. Owns one thread that
/// takes everything queued, writes it as one RocksDB write batch with sync=true, then calls each
/// write's `done`. `store` must outlive it.
class rowstore_writer {
 public:
  rowstore_writer(store& s, writer_options options, commit_observer observer = {});
  ~rowstore_writer();
  rowstore_writer(const rowstore_writer&) = delete;
  rowstore_writer& operator=(const rowstore_writer&) = delete;

  /// Queues a write; thread-safe. Returns false without queuing (and without calling `done`)
  /// when the queue holds max_queued_bytes or the writer is stopped.
  bool submit(rowstore_write w);
  /// Bytes queued and not yet committed.
  size_t queued_bytes() const;
  /// The queue's bound: a write larger than this can never be queued.
  size_t max_queued_bytes() const { return options_.max_queued_bytes; }
  /// Commits what is queued, then stops the thread. Later submits are refused.
  void stop();

 private:
  void run();
  store& store_;
  writer_options options_;
  commit_observer observer_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<rowstore_write> queue_;
  size_t queued_bytes_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

/// What start-up recovery found for one table.
struct table_recovery {
  uint64_t last_sequence = 0;
  /// Per batch: sequence, rows, ingestion ticks, value bytes (in sequence order).
  struct batch_info {
    uint64_t sequence;
    uint32_t rows;
    int64_t ingestion_ticks;
    uint32_t bytes;
  };
  std::vector<batch_info> batches;
  std::vector<extent_record> extents;  ///< registered extents, by id
};

/// Scans the rowstore and the extent registry once (start-up), grouping by table.
std::variant<std::unordered_map<uint64_t, table_recovery>, model::error> recover(const store& s);
/// Recovers one table's shard (a table actor restarted after a failure): its batches, extents
/// and high-water mark, as recover() finds them. Reads only that table's key ranges.
std::variant<table_recovery, model::error> recover_table(const store& s, model::table_id table);

/// The committed request with id `request_id` of `table`, if it was committed at or after
/// `not_before_ticks` (older ones are outside the dedup window). A point lookup (bloom filter
/// first): request ids live in RocksDB, not in memory, so memory does not grow with the window.
std::variant<std::optional<request_record>, model::error> find_request(const store& s, model::table_id table,
                                                                      std::string_view request_id,
                                                                      int64_t not_before_ticks);

/// The stored positions of data connection `connection`: next offset by partition.
std::variant<std::map<int32_t, int64_t>, model::error> read_source_positions(const store& s, uint64_t connection);
/// The ingestion failures stored with data connection offsets (storage/FORMAT.md "Ingestion
/// failures"), the newest first, at most `limit`.
std::variant<std::vector<model::ingestion_failure>, model::error> read_ingestion_failures(const store& s,
                                                                                          size_t limit);
/// Deletes the ingestion failures found before `before_ticks` (retention).
std::optional<model::error> prune_ingestion_failures(store& s, int64_t before_ticks);

/// Removes every file under `<data_dir>/extents` that is not a registered extent of a known
/// table (orphans of a crash between an extent's fsync and its registration, or of a drop whose
/// files were not yet removed). Returns how many files were removed.
size_t remove_orphan_extents(const std::filesystem::path& data_dir,
                             const std::unordered_map<uint64_t, table_recovery>& tables,
                             const std::unordered_map<uint64_t, bool>& known_tables);

/// Removes the files under `<data_dir>/extents/<table>` that no extent of `shard` claims (a
/// table actor restarted after a failure: its moves' files that were never registered). Returns
/// how many files were removed.
size_t remove_orphan_extents_of(const std::filesystem::path& data_dir, model::table_id table,
                                const table_recovery& shard);

/// A point-in-time view of the rowstore (a RocksDB snapshot) for a read that runs later or on
/// another thread than where the view was taken: it sees exactly what was committed then, even
/// if a seal or a clear deletes those rows meanwhile. Cheap to take; it pins deleted data until
/// released, so hold it only for one query. Thread-safe to share.
class read_view {
 public:
  static std::shared_ptr<const read_view> take(const store& s);
  ~read_view();
  read_view(const read_view&) = delete;
  read_view& operator=(const read_view&) = delete;

 private:
  read_view(const store& s, const void* snapshot) : store_(s), snapshot_(snapshot) {}
  friend std::optional<model::error> read_batches(const store&, model::table_id, uint64_t, uint64_t,
                                                  const std::function<bool(uint64_t, const model::column_batch&)>&,
                                                  const struct scan_options&);
  const store& store_;
  const void* snapshot_;  // rocksdb::Snapshot
};

struct scan_options {
  /// An extent move's scan: reads ahead and leaves the block cache to the point reads and
  /// queries it would otherwise evict.
  bool bulk = false;
  /// Read this view instead of the current state.
  const read_view* view = nullptr;
  /// Decode only these columns (decode_batch); null: all.
  const std::vector<bool>* columns = nullptr;
};

/// Reads `table`'s batches with sequence in [from, to] in order; `f(sequence, batch)` returns
/// false to stop early. Reads one consistent snapshot (`options.view`, or one taken now).
std::optional<model::error> read_batches(const store& s, model::table_id table, uint64_t from, uint64_t to,
                                         const std::function<bool(uint64_t, const model::column_batch&)>& f,
                                         const scan_options& options = {});

}  // namespace tributary::storage
