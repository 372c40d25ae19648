#pragma once
/// Queries of one table's shard, in two halves: the table actor captures a `table_scan` in one
/// step (its extents and committed rowstore range at that moment, a rowstore read view), and
/// `run_scan` reads it — on a query pool thread, so reads never block the actor scheduler. The
/// capture is the consistency point: a move or a clear after it changes nothing the scan sees
/// (the view pins the rowstore rows; the table keeps extent files until its scans end).

#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include "actors/interfaces.hpp"
#include "storage/rowstore.hpp"

namespace tributary::actors {

struct table_scan {
  const storage::store* store = nullptr;
  std::filesystem::path data_dir;
  model::table_id table{};
  std::vector<model::column> columns;
  std::vector<storage::extent_record> extents;  ///< in sequence order
  /// Counts: the rowstore's matching rows, counted by the actor from its batch list.
  uint64_t rowstore_rows = 0;
  /// Takes: the committed rowstore batches [first, second], read through `view`.
  std::optional<std::pair<uint64_t, uint64_t>> rowstore_range;
  std::shared_ptr<const storage::read_view> view;
};

/// Runs `q` over `scan`: extents first (pruned by their and their blocks' ingestion-time
/// bounds), then the rowstore. Errors: a corrupt extent (StorageCorruption, naming the file), a
/// failed read (StorageError).
model::outcome run_scan(const table_scan& scan, const table_query& q);

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
