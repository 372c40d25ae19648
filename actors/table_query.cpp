#include "actors/table_query.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "storage/extent.hpp"

namespace tributary::actors {
namespace {

// Appends rows [from, from + n) of `b` with their ingestion times filtered; false once `take` rows
// are in.
bool append_rows(model::result_table& out, const model::column_batch& b, const int64_t* ticks,
                 const table_query& q) {
  const size_t width = out.columns.size();
  for (uint32_t r = 0; r < b.rows && out.rows.size() < q.take; ++r) {
    if ((ticks ? ticks[r] : b.ingestion_ticks) <= q.ingested_after_ticks) continue;
    std::vector<model::value> row(width);
    for (size_t c = 0; c < width && c < b.columns.size(); ++c) row[c] = b.columns[c].at(r);
    out.rows.push_back(std::move(row));
  }
  return out.rows.size() < q.take;
}

// Rows of one extent: counted (pruned by the extent's and blocks' ingestion-time bounds) or
// appended.
std::optional<model::error> scan_extent(const std::filesystem::path& data_dir, const storage::extent_record& e,
                                        const table_query& q, uint64_t& counted, model::result_table& out) {
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
  model::result_table result;
  result.columns = scan.columns;
  uint64_t counted = 0;
  for (const auto& e : scan.extents) {
    if (!counting && result.rows.size() >= q.take) break;
    if (auto err = scan_extent(scan.data_dir, e, q, counted, result)) return *err;
  }
  if (counting) return count_result(counted + scan.rowstore_rows);
  auto too_large = [&]() -> model::outcome {
    return model::error{"QueryResultSetTooLarge",
                        fmt::format("the result has more than {} records, the limit of a query result; "
                                    "narrow it (| where ingestion_time() > ago(...), | take {}) or count it (| count)",
                                    max_result_records, max_result_records),
                        true};
  };
  if (result.rows.size() > max_result_records) return too_large();
  if (!scan.rowstore_range || result.rows.size() >= q.take) return result;
  auto failure = storage::read_batches(*scan.store, scan.table, scan.rowstore_range->first, scan.rowstore_range->second,
                                       [&](uint64_t, const model::column_batch& b) {
                                         return append_rows(result, b, nullptr, q);
                                       },
                                       {.view = scan.view.get()});
  if (failure) return *failure;
  if (result.rows.size() > max_result_records) return too_large();
  return result;
}

}  // namespace tributary::actors
