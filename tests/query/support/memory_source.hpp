#pragma once
/// Tables in memory for the query engine's tests: what a node's snapshot of its tables is, with
/// no storage. A scan hands every row in chunks of `chunk_rows` (small by default, so that
/// operators see many chunks), only the columns asked for, and counts what it did.

#include <map>
#include <string>

#include "query/engine.hpp"

namespace tributary::query::testing {

class memory_source final : public data_source {
 public:
  /// Adds (or replaces) table `name` with `rows` (one chunk, every column `rows.rows` long).
  void add(const std::string& name, std::vector<model::column> schema, chunk rows) {
    tables_[name] = {std::move(schema), std::move(rows)};
  }
  size_t chunk_rows = 7;

  std::optional<std::vector<model::column>> schema(std::string_view table) const override {
    auto it = tables_.find(std::string(table));
    if (it == tables_.end()) return std::nullopt;
    return it->second.schema;
  }
  std::vector<std::string> tables() const override {
    std::vector<std::string> out;
    for (const auto& [n, _] : tables_) out.push_back(n);
    return out;
  }
  std::optional<model::error> scan(const scan_request& request, const std::function<bool(chunk&&)>& sink,
                                   scan_stats& stats) const override {
    const auto& t = tables_.at(request.table);
    for (size_t begin = 0; begin < t.rows.rows; begin += chunk_rows) {
      const size_t end = std::min(t.rows.rows, begin + chunk_rows);
      chunk c;
      c.rows = end - begin;
      for (size_t i = 0; i < t.rows.columns.size(); ++i) {
        model::column_data col;
        col.type = t.schema[i].type;
        if (i < request.columns.size() && request.columns[i])
          for (size_t r = begin; r < end; ++r) append(col, t.rows.columns[i], r);
        c.columns.push_back(std::move(col));
      }
      for (size_t r = begin; r < end; ++r) c.ingestion.push_back(ingestion_ticks + static_cast<int64_t>(r));
      stats.rows_scanned += c.rows;
      if (!sink(std::move(c))) break;
    }
    return std::nullopt;
  }
  /// ingestion_time() of row r is this + r ticks.
  int64_t ingestion_ticks = 0;

 private:
  static void append(model::column_data& dst, const model::column_data& src, size_t r) {
    if (src.is_null(r)) return dst.append_null();
    switch (src.type) {
      case model::column_type::real: return dst.append_real(src.reals[r]);
      case model::column_type::string:
      case model::column_type::decimal:
      case model::column_type::guid:
      case model::column_type::dynamic: return dst.append_text(src.text_at(r));
      default: return dst.append_int(src.ints[r]);
    }
  }
  struct table {
    std::vector<model::column> schema;
    chunk rows;
  };
  std::map<std::string, table> tables_;
};

}  // namespace tributary::query::testing
