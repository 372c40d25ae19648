#pragma once
/// Queries of a node's tables, in two halves: a table actor captures a `table_snapshot` in one
/// step (its extents and committed rowstore range at that moment, a rowstore read view), and a
/// `snapshot_source` reads snapshots for the query engine (query/engine.hpp) — on a query pool
/// thread, so reads never block the actor scheduler. The capture is the consistency point: a
/// move or a clear after it changes nothing the query sees (the view pins the rowstore rows; the
/// table keeps extent files until every snapshot of it is released).

#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "actors/interfaces.hpp"
#include "query/engine.hpp"
#include "storage/rowstore.hpp"

namespace tributary::actors {

struct table_snapshot {
  const storage::store* store = nullptr;
  std::filesystem::path data_dir;
  model::table_id table{};
  std::string name;
  std::vector<model::column> columns;
  std::vector<storage::extent_record> extents;  ///< in sequence order
  /// The committed rowstore batches [first, second], read through `view`.
  std::optional<std::pair<uint64_t, uint64_t>> rowstore_range;
  /// Those batches' rows and ingestion times, as the table keeps them: a scan that reads no
  /// column (a count, a count by ingestion time) needs nothing else.
  std::vector<storage::table_recovery::batch_info> rowstore_batches;
  std::shared_ptr<const storage::read_view> view;
  /// Tells the table the snapshot is released (its files may go); called by the destructor.
  std::function<void()> release;
  table_snapshot() = default;
  table_snapshot(const table_snapshot&) = delete;
  table_snapshot& operator=(const table_snapshot&) = delete;
  ~table_snapshot() {
    if (release) release();
  }
};

/// The other nodes of a cluster as a query reaches their shards (node/rpc_server.cpp calls
/// them over Peer.queryShard).
class remote_shards {
 public:
  /// One node's answer, or why there is none ("not reachable: ...", "timed out after 5000 ms").
  struct answer {
    std::string node_id;
    std::optional<model::outcome> outcome;
    std::string failure;
  };
  virtual ~remote_shards() = default;
  virtual const std::string& self_id() const = 0;
  /// Sends `text` to every other node's shard of `database`; the future holds each node's
  /// answer once all have answered, failed or timed out. Thread-safe.
  virtual std::future<std::vector<answer>> query(const std::string& database, const std::string& text) const = 0;
};

/// The tables of one query, each a snapshot, as the engine's data source. Errors of a scan: a
/// corrupt extent (StorageCorruption, naming the file), a failed read (StorageError).
class snapshot_source final : public query::data_source {
 public:
  void add(table_snapshot_ptr s) { tables_[s->name] = std::move(s); }
  /// Every table of the database, for suggestions (the query's own are added by add()).
  std::vector<std::string> all_tables;
  /// Rows handed to the query per chunk at most (extent block groups are cut to this; a
  /// block group is 65,536 rows, handed over whole by default).
  size_t chunk_rows = size_t{1} << 16;
  /// In a cluster: the other nodes, whose shards of each table a query's shard parts also run
  /// on (null: the rows here are all there are).
  std::shared_ptr<const remote_shards> remote;
  std::string database;

  std::optional<std::vector<model::column>> schema(std::string_view table) const override;
  std::vector<std::string> tables() const override;
  std::optional<model::error> scan(const query::scan_request& request,
                                   const std::function<bool(query::chunk&&)>& sink,
                                   query::scan_stats& stats) const override;
  bool distributed() const override { return remote != nullptr; }
  /// This node's shard (on the calling thread, over these snapshots) while the other nodes run
  /// theirs; then, as Kusto answers a query missing some shards: a permanent error of any node
  /// is the answer; a node that answered a transient error, failed or timed out is missing; any
  /// missing node fails the query with the transient PartialQueryFailure naming each and why,
  /// unless `options.best_effort` (then a warning names them), and with none answered at all.
  std::optional<model::error> run_shards(const std::string& text, const query::query_options& options,
                                         const std::function<bool(model::result_table&&)>& sink,
                                         query::scan_stats& stats, std::vector<std::string>& warnings) const override;

 private:
  std::map<std::string, table_snapshot_ptr, std::less<>> tables_;
};

/// Results hold at most this many records (Kusto's default `truncationmaxrecords`); a query
/// that would return more fails with QueryResultSetTooLarge, naming the fix.
inline constexpr uint64_t max_result_records = 500'000;
/// ... and at most this many bytes as the RPC layer encodes them (Kusto's default
/// `truncationmaxsize`, 64 MB), see encoded_bytes.
inline constexpr uint64_t max_result_bytes = uint64_t{64} << 20;

/// The bytes a result with `columns` takes in its Cap'n Proto answer (schema/tributary.capnp,
/// Result of a ResultTable) before any row, and the bytes one row adds: a Row is a pointer plus
/// its values list's tag (16 bytes), each Value two data words and a pointer (24 bytes), and a
/// text its bytes and a NUL rounded up to 8. Exact for the node's own encoding.
uint64_t encoded_bytes(const std::vector<model::column>& columns);
uint64_t encoded_bytes(const std::vector<model::value>& row);

/// The one-row, one-column answer of `T | count`.
model::result_table count_result(uint64_t n);

}  // namespace tributary::actors
