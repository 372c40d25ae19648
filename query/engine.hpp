#pragma once
/// The KQL engine's entry points: parse and bind a query against the tables a node holds, and
/// run it over their rows, a chunk of columns at a time. Pure: the node supplies the tables'
/// schemas and rows (actors/ reads extents and the rowstore from a consistent snapshot) and
/// runs `execute` on a query pool thread, never on the actor scheduler.
///
/// A plan splits for a cluster (DESIGN.md §6): each pipeline that starts at a table has a part
/// that runs next to each of the table's shards (the scan, row-local operators, then partial
/// aggregation, count, take or top: plan.hpp, shard_part) and the rest, which runs where the
/// query arrived over the shards' answers. A distributed data_source runs the shard parts
/// (run_shards); one that holds every row is scanned directly (scan_request: pruned by its
/// constraints, only the columns the query reads).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "model/batch.hpp"
#include "query/ast.hpp"

namespace tributary::query {

/// Rows flowing between operators: `rows` rows of every column (a column_data of size 0 while
/// rows > 0 is a column the query never reads, left out by the scan), and each row's
/// ingestion time when the rows come straight from a table (empty otherwise: ingestion_time()
/// is then null).
struct chunk {
  size_t rows = 0;
  std::vector<model::column_data> columns;
  std::vector<int64_t> ingestion;
};

/// A bound on one column that lets a scan skip extents and block groups by their statistics
/// (min, max, null count) without reading them. Conservative: a scan may return rows that do
/// not satisfy it (the query filters them again), never skip one that does.
struct scan_constraint {
  enum class kind : uint8_t { equal, less, less_equal, greater, greater_equal, is_null, is_not_null };
  /// The column's index in the table schema; SIZE_MAX for ingestion_time().
  size_t column = 0;
  kind op = kind::equal;
  model::value bound;  ///< bool, int64 (ints, datetime, timespan ticks) or double
};

/// A bound that tightens while a scan runs: `top N by x` (x a column, nulls last, right after
/// the filters) knows, once it holds N rows, that only rows with x beyond its N-th can still
/// make it. The scan checks it before reading a block's other columns (by the block's
/// statistics, then by the column's values) and skips blocks no row of which passes: the late
/// materialization of top. Set by the operator, read by the scan, on one thread.
struct runtime_bound {
  bool active = false;      ///< no bound until the operator holds N rows
  scan_constraint bound;    ///< greater (desc) or less (asc) than the N-th key
};

/// The rows of `key` (a number, datetime or timespan column) beyond `bound` (kind greater or
/// less; nulls and NaN never are).
std::vector<uint32_t> rows_beyond(const model::column_data& key, const scan_constraint& bound);

/// What a query reads from one table.
struct scan_request {
  std::string table;
  std::vector<bool> columns;                   ///< per schema column: read it
  std::vector<scan_constraint> constraints;    ///< all must hold (a conjunction)
  /// At most this many rows are needed (a `take` right after the filters); UINT64_MAX = all.
  uint64_t limit = UINT64_MAX;
  /// The query reads ingestion_time(): chunks carry each row's (else `ingestion` may be empty).
  bool ingestion_time = false;
  /// A bound the query's top tightens as it runs (null: none).
  std::shared_ptr<runtime_bound> runtime;
};

/// What a scan counted, for the query's statistics.
struct scan_stats {
  uint64_t extents_scanned = 0;
  uint64_t extents_pruned = 0;
  uint64_t blocks_scanned = 0;
  uint64_t blocks_pruned = 0;
  uint64_t rows_scanned = 0;     ///< rows handed to the query (extents and rowstore)
  uint64_t rowstore_rows = 0;
  uint64_t bytes_read = 0;       ///< compressed bytes read from extent files
};

struct query_options;

/// The tables a query can name, and their rows. Implemented by the node (one snapshot per
/// table, taken before the query runs) and by tests (tables in memory).
class data_source {
 public:
  virtual ~data_source() = default;
  /// The table's columns; nullopt when the database has no such table.
  virtual std::optional<std::vector<model::column>> schema(std::string_view table) const = 0;
  /// Every table name, for "did you mean" and `union T*`.
  virtual std::vector<std::string> tables() const = 0;
  /// Hands the table's rows to `sink` in chunks until it returns false. Columns not asked for
  /// may be left empty (size 0). Errors end the query (e.g. a corrupt extent).
  virtual std::optional<model::error> scan(const scan_request& request, const std::function<bool(chunk&&)>& sink,
                                           scan_stats& stats) const = 0;

  /// A cluster: each table's rows are spread over the nodes. The engine then runs the part of a
  /// plan next to a table (query/plan.hpp, shard_part) through run_shards instead of scan.
  virtual bool distributed() const { return false; }
  /// Runs `text` (a query over one table that the engine made) on every node's shard and hands
  /// each node's answer to `sink`. An error ends the query: a permanent one answered by a node,
  /// or PartialQueryFailure naming the nodes that did not answer (unless `options.best_effort`:
  /// then one warning per missing node in `warnings`). Adds the shards' statistics to `stats`.
  virtual std::optional<model::error> run_shards(const std::string& text, const query_options& options,
                                                 const std::function<bool(model::result_table&&)>& sink,
                                                 scan_stats& stats, std::vector<std::string>& warnings) const;
};

/// Request properties (Kusto's `set` statements and client request properties).
struct query_options {
  uint64_t truncation_max_records = 500'000;     ///< Kusto's defaults
  uint64_t truncation_max_size = uint64_t{64} << 20;
  bool no_truncation = false;
  bool best_effort = false;                      ///< cluster: answer with the nodes that answered
  /// `set query_shard_partial;`: the query is a shard part whose summarize answers partial
  /// states (shard_part::merge_kind::summarize), sent by the node that merges them.
  bool shard_partial = false;
  uint64_t memory_limit = uint64_t{1} << 30;     ///< bytes one query may hold (--query-memory-limit)
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  /// Checked between chunks: true ends the query (the client went away).
  std::function<bool()> cancelled;
};

/// What a query did, returned with its result and fed to metrics.
struct query_statistics {
  scan_stats scan;
  uint64_t result_rows = 0;
  uint64_t peak_memory = 0;  ///< bytes held by the operators that buffer (sort, summarize, join)
  std::chrono::nanoseconds cpu{0};
  std::chrono::nanoseconds elapsed{0};
};

struct query_result {
  model::result_table table;
  /// `render` as Kusto reports it in the result's extended properties (empty when none):
  /// {"Visualization":"timechart","Title":...}.
  std::string visualization;
  query_statistics stats;
  /// What a successful answer leaves out (the nodes a best_effort query could not reach).
  std::vector<std::string> warnings;
};

/// A parsed and bound query, ready to run (the output schema known).
class prepared_query {
 public:
  virtual ~prepared_query() = default;
  virtual const std::vector<model::column>& columns() const = 0;
  /// The tables the query reads (each once), for the node to snapshot.
  virtual const std::vector<std::string>& tables() const = 0;
  virtual const query_options& options() const = 0;
  /// Runs the query; the same data_source as prepare's (or one with the same schemas).
  virtual std::variant<query_result, model::error> execute(const data_source& source) = 0;
};

/// Parses `text` (Kusto's set statements, lets and the query) and binds it against `source`'s
/// schemas. Errors: BadRequest_SyntaxError (line, column, expected and found),
/// BadRequest_SemanticError (the unknown name with a suggestion, the wrong argument type...).
/// `now_ticks` is the instant now() and ago() use for the whole query.
std::variant<std::unique_ptr<prepared_query>, model::error> prepare(std::string_view text, const data_source& source,
                                                                    int64_t now_ticks, query_options defaults = {});

/// The tables a query text may name (before binding), so that a node can snapshot exactly
/// those: every tabular source, and names in scalar positions that may be tables (`x in (T2)`,
/// toscalar(T2)) — a candidate that is no table is for the node to skip. Empty on a syntax
/// error (prepare reports it).
std::vector<std::string> referenced_tables(std::string_view text);

}  // namespace tributary::query
