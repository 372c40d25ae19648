#include "actors/table_query.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "storage/crash_point.hpp"
#include "storage/extent.hpp"

namespace tributary::actors {
namespace {

uint64_t text_bytes(size_t size) { return (size + 1 + 7) / 8 * 8; }

using query::scan_constraint;

// -1, 0, 1 as a statistic compares with a bound (both bool, int64 or double; an int64 bound
// against a double statistic compares as double).
int compare(const model::value& stat, const model::value& bound) {
  auto as_double = [](const model::value& v) {
    if (const auto* d = std::get_if<double>(&v)) return *d;
    if (const auto* i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
    return std::get<bool>(v) ? 1.0 : 0.0;
  };
  if (std::holds_alternative<int64_t>(stat) && std::holds_alternative<int64_t>(bound)) {
    const auto a = std::get<int64_t>(stat), b = std::get<int64_t>(bound);
    return a < b ? -1 : a > b ? 1 : 0;
  }
  const double a = as_double(stat), b = as_double(bound);
  return a < b ? -1 : a > b ? 1 : 0;
}

// Whether rows with these statistics may satisfy `c` (false only when none can).
bool may_match(const storage::column_stats& s, uint64_t rows, const scan_constraint& c) {
  using k = scan_constraint::kind;
  if (c.op == k::is_null) return s.null_count > 0;
  if (c.op == k::is_not_null) return s.null_count < rows;
  if (s.null_count >= rows) return false;  // every value null: no comparison holds
  if (std::holds_alternative<std::monostate>(s.min) || std::holds_alternative<std::monostate>(s.max)) return true;
  switch (c.op) {
    case k::equal: return compare(s.min, c.bound) <= 0 && compare(s.max, c.bound) >= 0;
    case k::less: return compare(s.min, c.bound) < 0;
    case k::less_equal: return compare(s.min, c.bound) <= 0;
    case k::greater: return compare(s.max, c.bound) > 0;
    case k::greater_equal: return compare(s.max, c.bound) >= 0;
    default: return true;
  }
}

bool may_match_ingestion(int64_t min, int64_t max, const scan_constraint& c) {
  storage::column_stats s;
  s.min = min;
  s.max = max;
  return may_match(s, 1, c);
}

// Whether a block group (or an extent, with its statistics) may hold a matching row.
bool may_match(const std::vector<storage::column_stats>& columns, uint64_t rows, int64_t min_ingestion,
               int64_t max_ingestion, const std::vector<scan_constraint>& constraints) {
  for (const auto& c : constraints) {
    if (c.column == SIZE_MAX) {
      if (!may_match_ingestion(min_ingestion, max_ingestion, c)) return false;
    } else if (c.column < columns.size()) {
      if (!may_match(columns[c.column], rows, c)) return false;
    } else if (c.op != scan_constraint::kind::is_null) {
      return false;  // a column added after the extent was sealed: null in all its rows
    }
  }
  return true;
}

// Cuts `c` into chunks of at most `size` rows for the query.
bool hand_over(query::chunk c, size_t size, const std::function<bool(query::chunk&&)>& sink) {
  if (c.rows <= size) return sink(std::move(c));
  for (size_t begin = 0; begin < c.rows; begin += size) {
    const size_t end = std::min(c.rows, begin + size);
    query::chunk part;
    part.rows = end - begin;
    for (const auto& col : c.columns) {
      model::column_data d;
      d.type = col.type;
      if (col.size() != 0) {
        d.nulls.assign(col.nulls.begin() + begin, col.nulls.begin() + end);
        if (!col.ints.empty()) d.ints.assign(col.ints.begin() + begin, col.ints.begin() + end);
        if (!col.reals.empty()) d.reals.assign(col.reals.begin() + begin, col.reals.begin() + end);
        if (col.offsets.size() > 1) {
          const uint32_t from = col.offsets[begin];
          d.text.assign(col.text, from, col.offsets[end] - from);
          d.offsets.clear();
          for (size_t r = begin; r <= end; ++r) d.offsets.push_back(col.offsets[r] - from);
        }
      }
      part.columns.push_back(std::move(d));
    }
    if (!c.ingestion.empty()) part.ingestion.assign(c.ingestion.begin() + begin, c.ingestion.begin() + end);
    if (!sink(std::move(part))) return false;
  }
  return true;
}

// A column a batch or an extent does not have (added to the table later): all null.
model::column_data null_column(model::column_type type, size_t rows) {
  model::column_data d;
  d.type = type;
  for (size_t r = 0; r < rows; ++r) d.append_null();
  return d;
}

// A column of a chunk: left out when the query does not read it (size 0), all null when the
// batch or extent predates it (added to the table later), else `read()`.
template <class Read>
model::column_data column_for(model::column_type type, bool wanted, size_t rows, bool present, Read read) {
  if (!wanted) {
    model::column_data skipped;
    skipped.type = type;
    return skipped;
  }
  if (!present) return null_column(type, rows);
  return read();
}

// The same snapshots, never distributed: what this node's own shard of a query reads.
class local_view final : public query::data_source {
 public:
  explicit local_view(const snapshot_source& s) : s_(s) {}
  std::optional<std::vector<model::column>> schema(std::string_view table) const override { return s_.schema(table); }
  std::vector<std::string> tables() const override { return s_.tables(); }
  std::optional<model::error> scan(const query::scan_request& request, const std::function<bool(query::chunk&&)>& sink,
                                   query::scan_stats& stats) const override {
    return s_.scan(request, sink, stats);
  }

 private:
  const snapshot_source& s_;
};

// A number of a node's QueryStats property ({"ExtentsScanned":3,...}); 0 when absent.
uint64_t stat(std::string_view json, std::string_view name) {
  const auto key = fmt::format("\"{}\":", name);
  const auto at = json.find(key);
  if (at == std::string_view::npos) return 0;
  uint64_t v = 0;
  const char* from = json.data() + at + key.size();
  std::from_chars(from, json.data() + json.size(), v);
  return v;
}

void add_stats(const model::result_table& t, query::scan_stats& stats) {
  for (const auto& [name, json] : t.properties) {
    if (name != "QueryStats") continue;
    stats.extents_scanned += stat(json, "ExtentsScanned");
    stats.extents_pruned += stat(json, "ExtentsPruned");
    stats.blocks_scanned += stat(json, "BlocksScanned");
    stats.blocks_pruned += stat(json, "BlocksPruned");
    stats.rows_scanned += stat(json, "RowsScanned");
    stats.rowstore_rows += stat(json, "RowstoreRows");
    stats.bytes_read += stat(json, "BytesRead");
  }
}

}  // namespace

std::optional<model::error> snapshot_source::run_shards(const std::string& text, const query::query_options& options,
                                                        const std::function<bool(model::result_table&&)>& sink,
                                                        query::scan_stats& stats,
                                                        std::vector<std::string>& warnings) const {
  // The other nodes start first and work while this one reads its own shard.
  auto others = remote->query(database, text);
  std::vector<remote_shards::answer> answers;
  {
    local_view local(*this);
    // As on every other node: a shard's answer is bounded by the limits of one result (it
    // crosses the network in one message), whatever the query's own truncation options.
    auto o = options;
    o.truncation_max_records = max_result_records;
    o.truncation_max_size = max_result_bytes;
    o.no_truncation = false;
    auto prepared = query::prepare(text, local, 0, o);
    model::outcome outcome;
    if (auto* e = std::get_if<model::error>(&prepared)) {
      outcome = std::move(*e);
    } else {
      auto result = std::get<std::unique_ptr<query::prepared_query>>(prepared)->execute(local);
      if (auto* e = std::get_if<model::error>(&result)) {
        outcome = std::move(*e);
      } else {
        auto& done = std::get<query::query_result>(result);
        const auto& s = done.stats.scan;
        stats.extents_scanned += s.extents_scanned;
        stats.extents_pruned += s.extents_pruned;
        stats.blocks_scanned += s.blocks_scanned;
        stats.blocks_pruned += s.blocks_pruned;
        stats.rows_scanned += s.rows_scanned;
        stats.rowstore_rows += s.rowstore_rows;
        stats.bytes_read += s.bytes_read;
        outcome = std::move(done.table);
      }
    }
    answers.push_back({remote->self_id(), std::move(outcome), {}});
  }
  try {
    for (auto& a : others.get()) answers.push_back(std::move(a));
  } catch (const std::exception& e) {  // the RPC loop stopped (the node is shutting down)
    answers.push_back({"(the other nodes)", std::nullopt, fmt::format("not asked: {}", e.what())});
  }

  std::string missing;
  size_t answered = 0;
  for (auto& a : answers) {
    if (a.outcome)
      if (const auto* e = std::get_if<model::error>(&*a.outcome)) {
        if (e->permanent) return *e;
        a.failure = fmt::format("{}: {}", e->code, e->message);
      }
    if (!a.failure.empty()) {
      missing += fmt::format("{}{} ({})", missing.empty() ? "" : ", ", a.node_id, a.failure);
      continue;
    }
    ++answered;
  }
  const std::string table = text.substr(text.rfind(";\n") == std::string::npos ? 0 : text.rfind(";\n") + 2);
  if (!missing.empty() && (answered == 0 || !options.best_effort))
    // Kusto: after a partial failure "the consumer should ignore the entire result"; so the
    // default fails visibly, and the message says how to get the partial rows knowingly.
    return model::error{"PartialQueryFailure",
                        fmt::format("shards unavailable on {} (for `{}`); retry, or run the query with `set "
                                    "best_effort=true;` to get the rows of the nodes that answered{}",
                                    missing, table, answered == 0 ? " (none answered this time)" : ""),
                        false};
  if (!missing.empty())
    warnings.push_back(fmt::format("PartialQueryFailure (best_effort): shards unavailable on {}; the result holds only "
                                   "the rows of the nodes that answered",
                                   missing));
  for (auto& a : answers) {
    if (!a.failure.empty()) continue;
    auto& t = std::get<model::result_table>(*a.outcome);
    if (&a != &answers.front()) add_stats(t, stats);
    if (!sink(std::move(t))) break;
  }
  return std::nullopt;
}

std::optional<std::vector<model::column>> snapshot_source::schema(std::string_view table) const {
  auto it = tables_.find(table);
  if (it == tables_.end()) return std::nullopt;
  return it->second->columns;
}

std::vector<std::string> snapshot_source::tables() const {
  auto out = all_tables;
  for (const auto& [name, _] : tables_)
    if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
  return out;
}

std::optional<model::error> snapshot_source::scan(const query::scan_request& request,
                                                  const std::function<bool(query::chunk&&)>& sink,
                                                  query::scan_stats& stats) const {
  if (storage::fail_point("query.scan", request.table)) throw std::runtime_error("injected by TRIBUTARY_FAIL_AT");
  const auto& snapshot = *tables_.at(request.table);
  const auto& schema = snapshot.columns;
  uint64_t handed = 0;
  auto wanted = [&](size_t c) { return c < request.columns.size() && request.columns[c]; };
  // What an extent record and a rowstore batch know: their ingestion-time range.
  std::vector<query::scan_constraint> times;
  for (const auto& c : request.constraints)
    if (c.column == SIZE_MAX) times.push_back(c);
  for (const auto& e : snapshot.extents) {
    if (handed >= request.limit) return std::nullopt;
    if (!may_match({}, e.rows, e.min_ingestion_ticks, e.max_ingestion_ticks, times)) {
      ++stats.extents_pruned;
      continue;
    }
    auto opened =
        storage::extent_reader::open(storage::extent_path(snapshot.data_dir, e.table, storage::extent_id{e.id}));
    if (auto* err = std::get_if<model::error>(&opened)) return *err;
    const auto& reader = std::get<storage::extent_reader>(opened);
    const auto& s = reader.stats();
    if (!may_match(s.columns, s.rows, s.min_ingestion_ticks, s.max_ingestion_ticks, request.constraints)) {
      ++stats.extents_pruned;
      continue;
    }
    ++stats.extents_scanned;
    const auto& blocks = reader.blocks();
    for (size_t b = 0; b < blocks.size(); ++b) {
      const auto& block = blocks[b];
      if (!may_match(block.columns, block.rows, block.min_ingestion_ticks, block.max_ingestion_ticks,
                     request.constraints)) {
        ++stats.blocks_pruned;
        continue;
      }
      // top N's bound so far: a block none of whose rows beats it is skipped, by its
      // statistics or else by that one column, before the others are read.
      std::optional<model::column_data> key;
      if (request.runtime && request.runtime->active) {
        const auto& bound = request.runtime->bound;
        if (!may_match(block.columns, block.rows, block.min_ingestion_ticks, block.max_ingestion_ticks, {bound})) {
          ++stats.blocks_pruned;
          continue;
        }
        auto read = reader.read_column(bound.column, b);
        if (auto* err = std::get_if<model::error>(&read)) return *err;
        key = std::move(std::get<model::column_data>(read));
        stats.bytes_read += reader.stored_bytes(bound.column, b);
        if (query::rows_beyond(*key, bound).empty()) {
          ++stats.blocks_pruned;
          continue;
        }
      }
      ++stats.blocks_scanned;
      query::chunk c;
      c.rows = block.rows;
      std::optional<model::error> failed;
      for (size_t col = 0; col < schema.size() && !failed; ++col)
        c.columns.push_back(column_for(schema[col].type, wanted(col), block.rows, col < reader.columns().size(), [&] {
          if (key && col == request.runtime->bound.column) return std::move(*key);
          stats.bytes_read += reader.stored_bytes(col, b);
          auto read = reader.read_column(col, b);
          if (auto* err = std::get_if<model::error>(&read)) {
            failed = *err;
            return model::column_data{};
          }
          return std::move(std::get<model::column_data>(read));
        }));
      if (failed) return failed;
      if (request.ingestion_time) {
        auto ticks = reader.read_ingestion_ticks(b);
        if (auto* err = std::get_if<model::error>(&ticks)) return *err;
        stats.bytes_read += reader.stored_bytes(reader.columns().size(), b);
        c.ingestion = std::move(std::get<std::vector<int64_t>>(ticks));
      }
      stats.rows_scanned += block.rows;
      handed += block.rows;
      if (!hand_over(std::move(c), chunk_rows, sink)) return std::nullopt;
    }
  }
  if (!snapshot.rowstore_range || handed >= request.limit) return std::nullopt;
  if (std::none_of(request.columns.begin(), request.columns.end(), [](bool c) { return c; })) {
    // No column read (a filter on a column would read it): the rows of each batch and its
    // ingestion time are known without reading the rowstore.
    for (const auto& b : snapshot.rowstore_batches) {
      if (handed >= request.limit) break;
      if (!may_match({}, b.rows, b.ingestion_ticks, b.ingestion_ticks, times)) continue;
      query::chunk c;
      c.rows = b.rows;
      for (size_t col = 0; col < schema.size(); ++col)
        c.columns.push_back(column_for(schema[col].type, false, b.rows, true, [] { return model::column_data{}; }));
      if (request.ingestion_time) c.ingestion.assign(b.rows, b.ingestion_ticks);
      stats.rows_scanned += b.rows;
      stats.rowstore_rows += b.rows;
      handed += b.rows;
      if (!hand_over(std::move(c), chunk_rows, sink)) break;
    }
    return std::nullopt;
  }
  bool more = true;
  auto failure = storage::read_batches(
      *snapshot.store, snapshot.table, snapshot.rowstore_range->first, snapshot.rowstore_range->second,
      [&](uint64_t, const model::column_batch& b) {
        if (!may_match({}, b.rows, b.ingestion_ticks, b.ingestion_ticks, times)) return true;
        query::chunk c;
        c.rows = b.rows;
        for (size_t col = 0; col < schema.size(); ++col)
          c.columns.push_back(column_for(schema[col].type, wanted(col), b.rows, col < b.columns.size(),
                                         [&] { return b.columns[col]; }));
        if (request.ingestion_time) c.ingestion.assign(b.rows, b.ingestion_ticks);
        stats.rows_scanned += b.rows;
        stats.rowstore_rows += b.rows;
        handed += b.rows;
        more = hand_over(std::move(c), chunk_rows, sink) && handed < request.limit;
        return more;
      },
      {.view = snapshot.view.get(), .columns = &request.columns});
  return failure;
}

uint64_t encoded_bytes(const std::vector<model::column>& columns) {
  // Result (a union tag, a pointer), ResultTable (three pointers: columns, rows, properties),
  // the columns list's tag, the rows list's tag; each Column a data word, a pointer and its
  // name. (Properties are counted by whoever adds them.)
  uint64_t n = 16 + 24 + 8 + 8;
  for (const auto& c : columns) n += 16 + text_bytes(c.name.size());
  return n;
}

uint64_t encoded_bytes(const std::vector<model::value>& row) {
  uint64_t n = 16 + 24 * row.size();
  for (const auto& v : row)
    if (const auto* s = std::get_if<std::string>(&v)) n += text_bytes(s->size());
  return n;
}

model::result_table count_result(uint64_t n) {
  model::result_table t;
  t.columns.push_back({"Count", model::column_type::long_});
  t.rows.push_back({static_cast<int64_t>(n)});
  return t;
}

}  // namespace tributary::actors
