#include "actors/table_query.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "storage/extent.hpp"

namespace tributary::actors {
namespace {

uint64_t text_bytes(size_t size) { return (size + 1 + 7) / 8 * 8; }

// A result being filled, and its encoded size so far.
struct result_rows {
  model::result_table table;
  uint64_t bytes = 0;
  bool full(const table_query& q) const { return table.rows.size() >= q.take || bytes > max_result_bytes; }
};

// Appends the rows of `b` with their ingestion times filtered; false once `take` rows are in or
// the result is past its byte limit.
bool append_rows(result_rows& out, const model::column_batch& b, const int64_t* ticks, const table_query& q) {
  const size_t width = out.table.columns.size();
  for (uint32_t r = 0; r < b.rows && !out.full(q); ++r) {
    if ((ticks ? ticks[r] : b.ingestion_ticks) <= q.ingested_after_ticks) continue;
    std::vector<model::value> row(width);
    for (size_t c = 0; c < width && c < b.columns.size(); ++c) row[c] = b.columns[c].at(r);
    out.bytes += encoded_bytes(row);
    out.table.rows.push_back(std::move(row));
  }
  return !out.full(q);
}

// Rows of one extent: counted (pruned by the extent's and blocks' ingestion-time bounds) or
// appended.
std::optional<model::error> scan_extent(const std::filesystem::path& data_dir, const storage::extent_record& e,
                                        const table_query& q, uint64_t& counted, result_rows& out) {
  const bool counting = q.what == table_query::op::count;
  if (e.max_ingestion_ticks <= q.ingested_after_ticks) return std::nullopt;
  if (counting && e.min_ingestion_ticks > q.ingested_after_ticks) {
    counted += e.rows;
    return std::nullopt;
  }
  auto opened = storage::extent_reader::open(storage::extent_path(data_dir, e.table, storage::extent_id{e.id}));
  if (auto* err = std::get_if<model::error>(&opened)) return *err;
  const auto& reader = std::get<storage::extent_reader>(opened);
  const auto& blocks = reader.blocks();
  for (size_t b = 0; b < blocks.size(); ++b) {
    if (blocks[b].max_ingestion_ticks <= q.ingested_after_ticks) continue;
    if (counting) {
      if (blocks[b].min_ingestion_ticks > q.ingested_after_ticks) {
        counted += blocks[b].rows;
        continue;
      }
      auto ticks = reader.read_ingestion_ticks(b);
      if (auto* err = std::get_if<model::error>(&ticks)) return *err;
      for (auto t : std::get<std::vector<int64_t>>(ticks)) counted += t > q.ingested_after_ticks;
      continue;
    }
    auto block = reader.read_block(b);
    if (auto* err = std::get_if<model::error>(&block)) return *err;
    const auto& eb = std::get<storage::extent_block>(block);
    if (!append_rows(out, eb.batch, eb.ingestion_ticks.data(), q)) break;
  }
  return std::nullopt;
}

}  // namespace

uint64_t encoded_bytes(const std::vector<model::column>& columns) {
  // Result (a union tag, a pointer), ResultTable (two pointers), the columns list's tag, the
  // rows list's tag; each Column a data word, a pointer and its name.
  uint64_t n = 16 + 16 + 8 + 8;
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

model::outcome run_scan(const table_scan& scan, const table_query& asked) {
  // One record past the limit tells a result that is too large from one that just fits.
  table_query q = asked;
  q.take = std::min(q.take, max_result_records + 1);
  const bool counting = q.what == table_query::op::count;
  result_rows result;
  result.table.columns = scan.columns;
  result.bytes = encoded_bytes(scan.columns);
  uint64_t counted = 0;
  for (const auto& e : scan.extents) {
    if (!counting && result.full(q)) break;
    if (auto err = scan_extent(scan.data_dir, e, q, counted, result)) return *err;
  }
  if (counting) return count_result(counted + scan.rowstore_rows);
  auto too_large = [&]() -> std::optional<model::error> {
    if (result.table.rows.size() > max_result_records)
      return model::error{"QueryResultSetTooLarge",
                          fmt::format("the result has more than {} records, the limit of a query result; "
                                      "narrow it (| where ingestion_time() > ago(...), | take {}) or count it (| count)",
                                      max_result_records, max_result_records),
                          true};
    if (result.bytes > max_result_bytes) {
      // The rows so far tell how many fit on average.
      const uint64_t fit = result.table.rows.empty() ? 0 : max_result_bytes / (result.bytes / result.table.rows.size());
      return model::error{"QueryResultSetTooLarge",
                          fmt::format("the result is larger than {} bytes (64 MB), the limit of a query result, "
                                      "after {} records; narrow it (| where ingestion_time() > ago(...), | take {}) "
                                      "or count it (| count)",
                                      max_result_bytes, result.table.rows.size(), fit),
                          true};
    }
    return std::nullopt;
  };
  if (auto e = too_large()) return *e;
  if (!scan.rowstore_range || result.full(q)) return std::move(result.table);
  auto failure = storage::read_batches(*scan.store, scan.table, scan.rowstore_range->first, scan.rowstore_range->second,
                                       [&](uint64_t, const model::column_batch& b) {
                                         return append_rows(result, b, nullptr, q);
                                       },
                                       {.view = scan.view.get()});
  if (failure) return *failure;
  if (auto e = too_large()) return *e;
  return std::move(result.table);
}

}  // namespace tributary::actors
