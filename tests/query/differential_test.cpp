// Differential test: random tables, random KQL queries, each run by the engine and, translated
// by support/kql_generator.hpp into SQL that encodes Kusto's semantics, by SQLite; the two
// results must agree exactly (names, types, rows; reals within a relative 1e-9).
//
// Environment:
//   TRIBUTARY_DIFF_QUERIES   how many queries run (default 10,000: about 8 s)
//   TRIBUTARY_DIFF_SEED      the seed (default fixed, so `make test` is deterministic)
//   TRIBUTARY_DIFF_ONLY      run only the query with this index (to reproduce one failure)
//   TRIBUTARY_DIFF_REPORT    how many failures to print in full (default 10)
//   TRIBUTARY_DIFF_TRACE     print each query before running it (to find one that crashes)
//   TRIBUTARY_DIFF_AVOID     constructs to leave out while an engine bug they hit is open,
//                            comma-separated, "none" for none; default `known_engine_bugs`
//                            (none now; these were, and are kept for finding regressions):
//     outer-join-strings  outer joins with strings on the nullable side (the missing strings
//                         must be "", Kusto's strings are never null)
//     empty-join-side     joins where one side's query returns no rows
//   TRIBUTARY_DIFF_KQL       (differential.run_kql) run this one query and print its result,
//                            to shrink a failure by hand; datatable() makes its tables
// Query i depends only on the seed and i (its tables on the seed and i / queries_per_tables),
// so a failure printed as "seed S, query i" reruns alone with TRIBUTARY_DIFF_SEED=S
// TRIBUTARY_DIFF_ONLY=i.

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>

#include "query/engine.hpp"
#include "support/kql_generator.hpp"
#include "support/memory_source.hpp"

namespace tributary::query {
namespace {

using testing::compare_mode;
using testing::gen_query;
using testing::gen_table;
using model::column_type;

constexpr int64_t fixed_now = 17'040'672'000'000'000;  // 2024-01-01T00:00:00Z
constexpr uint64_t default_seed = 20240101;
constexpr uint64_t queries_per_tables = 20;
/// What TRIBUTARY_DIFF_AVOID defaults to: remove a name when its bug is fixed.
constexpr const char* known_engine_bugs = "none";

uint64_t env_u64(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

uint64_t splitmix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// ---- one cell, as both sides are compared ------------------------------------------------------

struct cell {
  enum kind_t : uint8_t { null, integer, real, text } kind = null;
  int64_t i = 0;
  double d = 0;
  std::string s;

  std::string show() const {
    switch (kind) {
      case null: return "null";
      case integer: return std::to_string(i);
      case real: return fmt::format("{}", d);
      default: return "\"" + s + "\"";
    }
  }
  /// A sort key: reals rounded, so that values within the tolerance mostly sort together.
  std::string key() const {
    switch (kind) {
      case null: return "0";
      case integer: return fmt::format("1{:020}", i);
      case real: return fmt::format("2{:.10g}", d);
      default: return "3" + s;
    }
  }
};
using row = std::vector<cell>;

bool same(const cell& a, const cell& b) {
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case cell::null: return true;
    case cell::integer: return a.i == b.i;
    case cell::real: return std::abs(a.d - b.d) <= 1e-9 * std::max({1.0, std::abs(a.d), std::abs(b.d)});
    default: return a.s == b.s;
  }
}

/// make_set's JSON array as its sorted elements (the generator's strings hold no quotes or
/// backslashes, so splitting at commas outside quotes is enough).
std::string canonical_set(std::string_view json) {
  std::vector<std::string> items;
  std::string cur;
  bool quoted = false, any = false;
  for (char c : json) {
    if (c == '"') quoted = !quoted;
    if (!quoted && (c == '[' || c == ']' || c == ' ')) continue;
    if (!quoted && c == ',') {
      items.push_back(cur);
      cur.clear();
      continue;
    }
    cur += c;
    any = true;
  }
  if (any) items.push_back(cur);
  std::sort(items.begin(), items.end());
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) out += (i ? "," : "") + items[i];
  return out + "}";
}

cell from_engine(const model::value& v, column_type t) {
  cell c;
  if (std::holds_alternative<std::monostate>(v)) {
    if (t == column_type::string) c.kind = cell::text;  // Kusto's strings are never null: ""
    return c;
  }
  if (const auto* b = std::get_if<bool>(&v)) c.kind = cell::integer, c.i = *b;
  else if (const auto* n = std::get_if<int64_t>(&v)) c.kind = cell::integer, c.i = *n;
  else if (const auto* d = std::get_if<double>(&v)) {
    if (!std::isnan(*d)) c.kind = cell::real, c.d = *d == 0 ? 0.0 : *d;  // NaN (avg of nothing) ≡ SQLite's NULL; -0 ≡ 0
  } else {
    c.kind = cell::text;
    c.s = t == column_type::dynamic ? canonical_set(std::get<std::string>(v)) : std::get<std::string>(v);
  }
  return c;
}

cell from_sqlite(sqlite3_stmt* st, int i, column_type t) {
  cell c;
  const int type = sqlite3_column_type(st, i);
  if (type == SQLITE_NULL) {
    if (t == column_type::string) c.kind = cell::text;
    return c;
  }
  if (t == column_type::string || t == column_type::dynamic) {
    c.kind = cell::text;
    std::string s(reinterpret_cast<const char*>(sqlite3_column_text(st, i)), static_cast<size_t>(sqlite3_column_bytes(st, i)));
    c.s = t == column_type::dynamic ? canonical_set(s) : s;
  } else if (t == column_type::real || type == SQLITE_FLOAT) {
    // A long column that SQLite computed as a float is a translation bug: it shows as a
    // real and fails the comparison.
    c.kind = cell::real;
    c.d = sqlite3_column_double(st, i);
    if (c.d == 0) c.d = 0.0;  // -0 ≡ 0
  } else {
    c.kind = cell::integer;
    c.i = sqlite3_column_int64(st, i);
    if (t == column_type::bool_) c.i = c.i != 0;
  }
  return c;
}

// ---- the two engines -----------------------------------------------------------------------------

struct sqlite_db {
  sqlite3* db = nullptr;
  sqlite_db() {
    sqlite3_open(":memory:", &db);
    testing::register_sqlite_functions(db);
  }
  ~sqlite_db() { sqlite3_close(db); }
  void exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      ADD_FAILURE() << "sqlite: " << (err ? err : "?") << " in " << sql;
      sqlite3_free(err);
    }
  }
  void load(const std::vector<gen_table>& tables) {
    for (int i = 0; i < 3; ++i) exec(fmt::format("DROP TABLE IF EXISTS \"T{}\"", i));
    exec("BEGIN");
    for (const auto& t : tables) {
      // No declared types: each value keeps the storage class it was bound with.
      std::string cols, marks;
      for (const auto& c : t.schema) {
        cols += (cols.empty() ? "\"" : ", \"") + c.name + "\"";
        marks += marks.empty() ? "?" : ", ?";
      }
      exec("CREATE TABLE \"" + t.name + "\"(" + cols + ")");
      sqlite3_stmt* st = nullptr;
      sqlite3_prepare_v2(db, ("INSERT INTO \"" + t.name + "\" VALUES (" + marks + ")").c_str(), -1, &st, nullptr);
      for (const auto& r : t.rows) {
        for (size_t i = 0; i < r.size(); ++i) {
          const int at = static_cast<int>(i) + 1;
          const auto& v = r[i];
          if (std::holds_alternative<std::monostate>(v)) sqlite3_bind_null(st, at);
          else if (const auto* b = std::get_if<bool>(&v)) sqlite3_bind_int64(st, at, *b);
          else if (const auto* n = std::get_if<int64_t>(&v)) sqlite3_bind_int64(st, at, *n);
          else if (const auto* d = std::get_if<double>(&v)) sqlite3_bind_double(st, at, *d);
          else sqlite3_bind_text(st, at, std::get<std::string>(v).c_str(), -1, SQLITE_TRANSIENT);
        }
        sqlite3_step(st);
        sqlite3_reset(st);
      }
      sqlite3_finalize(st);
    }
    exec("COMMIT");
  }
  /// The rows, or the error message.
  std::variant<std::vector<row>, std::string> run(const gen_query& q) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, q.sql.c_str(), -1, &st, nullptr) != SQLITE_OK) return std::string(sqlite3_errmsg(db));
    if (sqlite3_column_count(st) != static_cast<int>(q.columns.size())) {
      sqlite3_finalize(st);
      return fmt::format("{} columns, the generator expected {}", sqlite3_column_count(st), q.columns.size());
    }
    std::vector<row> rows;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      row r;
      for (size_t i = 0; i < q.columns.size(); ++i) r.push_back(from_sqlite(st, static_cast<int>(i), q.columns[i].type));
      rows.push_back(std::move(r));
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return std::string(sqlite3_errmsg(db));
    return rows;
  }
};

std::unique_ptr<testing::memory_source> engine_source(const std::vector<gen_table>& tables) {
  auto source = std::make_unique<testing::memory_source>();
  source->chunk_rows = 64;
  for (const auto& t : tables) {
    chunk c;
    c.rows = t.rows.size();
    for (size_t i = 0; i < t.schema.size(); ++i) {
      model::column_data col;
      col.type = t.schema[i].type;
      for (const auto& r : t.rows) {
        const auto& v = r[i];
        if (std::holds_alternative<std::monostate>(v)) col.append_null();
        else if (const auto* b = std::get_if<bool>(&v)) col.append_int(*b);
        else if (const auto* n = std::get_if<int64_t>(&v)) col.append_int(*n);
        else if (const auto* d = std::get_if<double>(&v)) col.append_real(*d);
        else col.append_text(std::get<std::string>(v));
      }
      c.columns.push_back(std::move(col));
    }
    source->add(t.name, t.schema, std::move(c));
  }
  return source;
}

// ---- comparison ----------------------------------------------------------------------------------

std::string row_key(const row& r) {
  std::string k;
  for (const auto& c : r) k += c.key() + '\x1f';
  return k;
}

void sort_rows(std::vector<row>& rows) {
  std::sort(rows.begin(), rows.end(), [](const row& a, const row& b) { return row_key(a) < row_key(b); });
}

bool same_rows(const row& a, const row& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (!same(a[i], b[i])) return false;
  return true;
}

/// Empty when the engine's rows agree with SQLite's under the query's mode; else why not.
std::string compare(const gen_query& q, std::vector<row> got, std::vector<row> want) {
  if (q.mode == compare_mode::subset) {
    const size_t n = std::min<size_t>(q.take, want.size());
    if (got.size() != n) return fmt::format("take {}: {} rows, expected {}", q.take, got.size(), n);
    std::multimap<std::string, const row*> pool;
    for (const auto& r : want) pool.emplace(row_key(r), &r);
    for (const auto& r : got) {
      auto it = pool.find(row_key(r));
      if (it == pool.end()) return "a row that is not in the full result: " + row_key(r);
      pool.erase(it);
    }
    return "";
  }
  if (q.mode == compare_mode::top) {
    const size_t n = std::min<size_t>(q.take, want.size());
    if (got.size() != n) return fmt::format("top {}: {} rows, expected {}", q.take, got.size(), n);
    if (n == 0) return "";
    const size_t k = q.sort_keys.front();
    for (size_t r = 0; r < n; ++r)
      if (!same(got[r][k], want[r][k]))
        return fmt::format("row {}: sort key {} is {}, expected {}", r, q.columns[k].name, got[r][k].show(), want[r][k].show());
    // The rows tied with the last one kept may be any of that run; the rows before it are fixed.
    size_t run_begin = n - 1, run_end = n;
    while (run_begin > 0 && same(want[run_begin - 1][k], want[n - 1][k])) --run_begin;
    while (run_end < want.size() && same(want[run_end][k], want[n - 1][k])) ++run_end;
    std::vector<row> got_fixed(got.begin(), got.begin() + static_cast<ptrdiff_t>(run_begin));
    std::vector<row> want_fixed(want.begin(), want.begin() + static_cast<ptrdiff_t>(run_begin));
    sort_rows(got_fixed);
    sort_rows(want_fixed);
    for (size_t r = 0; r < run_begin; ++r)
      if (!same_rows(got_fixed[r], want_fixed[r])) return fmt::format("rows before the cut differ (sorted, #{})", r);
    std::multimap<std::string, const row*> pool;
    for (size_t r = run_begin; r < run_end; ++r) pool.emplace(row_key(want[r]), &want[r]);
    for (size_t r = run_begin; r < n; ++r) {
      auto it = pool.find(row_key(got[r]));
      if (it == pool.end()) return fmt::format("row {} is none of the rows tied at the cut: {}", r, row_key(got[r]));
      pool.erase(it);
    }
    return "";
  }
  if (got.size() != want.size()) return fmt::format("{} rows, expected {}", got.size(), want.size());
  if (q.mode == compare_mode::sorted) {
    for (size_t r = 0; r < got.size(); ++r)
      for (size_t k : q.sort_keys)
        if (!same(got[r][k], want[r][k]))
          return fmt::format("row {}: sort key {} is {}, expected {}", r, q.columns[k].name, got[r][k].show(), want[r][k].show());
  }
  sort_rows(got);
  sort_rows(want);
  for (size_t r = 0; r < got.size(); ++r)
    if (!same_rows(got[r], want[r])) return fmt::format("rows differ (sorted, #{})", r);
  return "";
}

std::string show_rows(const std::vector<row>& rows, const std::vector<model::column>& cols) {
  std::string out;
  std::string header;
  for (const auto& c : cols) header += (header.empty() ? "" : " | ") + c.name + ":" + std::string(model::to_string(c.type));
  out += "    " + header + "\n";
  for (size_t r = 0; r < rows.size() && r < 12; ++r) {
    std::string line;
    for (const auto& c : rows[r]) line += (line.empty() ? "" : " | ") + c.show();
    out += "    " + line + "\n";
  }
  if (rows.size() > 12) out += fmt::format("    … {} rows in all\n", rows.size());
  return out;
}

std::string show_tables(const std::vector<gen_table>& tables) {
  std::string out;
  for (const auto& t : tables) {
    out += "  " + t.name + ": datatable(";
    for (size_t i = 0; i < t.schema.size(); ++i)
      out += (i ? ", " : "") + t.schema[i].name + ":" + std::string(model::to_string(t.schema[i].type));
    out += fmt::format(") with {} rows\n", t.rows.size());
  }
  return out;
}

TEST(differential, engine_agrees_with_sqlite) {
  const uint64_t queries = env_u64("TRIBUTARY_DIFF_QUERIES", 10'000);
  const uint64_t seed = env_u64("TRIBUTARY_DIFF_SEED", default_seed);
  const uint64_t report = env_u64("TRIBUTARY_DIFF_REPORT", 10);
  const char* only_text = std::getenv("TRIBUTARY_DIFF_ONLY");
  const bool only = only_text && *only_text;
  const bool trace = env_u64("TRIBUTARY_DIFF_TRACE", 0) != 0;
  uint64_t skipped = 0;
  const uint64_t only_index = only ? std::strtoull(only_text, nullptr, 10) : 0;

  testing::gen_options options;
#if defined(__SANITIZE_ADDRESS__)
  options.max_rows = 100;  // the same 10,000 queries, on smaller tables, under ASan/UBSan
#endif
  const std::string avoid = std::getenv("TRIBUTARY_DIFF_AVOID") ? std::getenv("TRIBUTARY_DIFF_AVOID") : known_engine_bugs;
  if (avoid.find("outer-join-strings") != std::string::npos) options.outer_join_strings = false;
  const bool skip_empty_join = avoid.find("empty-join-side") != std::string::npos;

  sqlite_db sql;
  std::vector<gen_table> tables;
  std::unique_ptr<testing::memory_source> source;
  uint64_t failures = 0, engine_errors = 0, sqlite_errors = 0, rows_compared = 0, ran = 0;
  const auto start = std::chrono::steady_clock::now();
  // Skipped queries do not count: `queries` queries run.
  for (uint64_t i = only ? only_index : 0; only ? i == only_index : ran < queries; ++i) {
    if (i % queries_per_tables == 0 || !source) {
      testing::kql_generator tg(splitmix(seed ^ splitmix(i / queries_per_tables * 2 + 1)), options);
      tables = tg.tables();
      source = engine_source(tables);
      sql.load(tables);
    }
    testing::kql_generator qg(splitmix(seed ^ splitmix(i * 2 + 2)), options);
    const gen_query q = qg.query(tables);
    if (skip_empty_join && !q.join_sides.empty()) {
      bool empty = false;
      for (const auto& side : q.join_sides) {
        gen_query c;
        c.sql = "SELECT COUNT(*) FROM (" + side + ")";
        c.columns = {{"n", column_type::long_}};
        auto n = sql.run(c);
        if (auto* rows = std::get_if<std::vector<row>>(&n)) empty = empty || rows->front()[0].i == 0;
      }
      if (empty) {
        ++skipped;
        continue;
      }
    }
    ++ran;
    if (trace) std::fprintf(stderr, "query %llu: %s\n", static_cast<unsigned long long>(i), q.kql.c_str());

    std::string problem;
    std::vector<row> got, want;
    std::vector<model::column> got_cols;
    auto p = prepare(q.kql, *source, fixed_now);
    if (auto* e = std::get_if<model::error>(&p)) {
      problem = "engine: " + e->code + ": " + e->message;
      ++engine_errors;
    } else {
      auto r = std::get<std::unique_ptr<prepared_query>>(p)->execute(*source);
      if (auto* e = std::get_if<model::error>(&r)) {
        problem = "engine: " + e->code + ": " + e->message;
        ++engine_errors;
      } else {
        const auto& t = std::get<query_result>(r).table;
        got_cols = t.columns;
        for (const auto& tr : t.rows) {
          row out;
          for (size_t c = 0; c < tr.size(); ++c) out.push_back(from_engine(tr[c], t.columns[c].type));
          got.push_back(std::move(out));
        }
      }
    }
    auto w = sql.run(q);
    if (auto* e = std::get_if<std::string>(&w)) {
      problem = "sqlite (a translation bug): " + *e;
      ++sqlite_errors;
    } else {
      want = std::move(std::get<std::vector<row>>(w));
    }
    if (problem.empty() && got_cols != q.columns) problem = "columns differ";
    if (problem.empty()) problem = compare(q, got, want);
    rows_compared += want.size();
    if (problem.empty()) continue;
    if (++failures > report) continue;
    ADD_FAILURE() << fmt::format(
        "mismatch: seed {}, query {} (rerun: TRIBUTARY_DIFF_SEED={} TRIBUTARY_DIFF_ONLY={})\n  {}\n"
        "  KQL: {}\n  SQL: {}\n{}  engine:\n{}  sqlite (expected):\n{}",
        seed, i, seed, i, problem, q.kql, q.sql, show_tables(tables), show_rows(got, got_cols), show_rows(want, q.columns));
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("differential: seed %llu, %llu queries in %.2f s (%.0f queries/s), %llu SQLite rows compared; "
              "%llu mismatches (%llu engine errors, %llu SQLite errors), %llu skipped (empty join side)\n",
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(ran), secs, ran / secs,
              static_cast<unsigned long long>(rows_compared), static_cast<unsigned long long>(failures),
              static_cast<unsigned long long>(engine_errors), static_cast<unsigned long long>(sqlite_errors), static_cast<unsigned long long>(skipped));
  EXPECT_EQ(failures, 0u) << "seed " << seed << ": " << failures << " of " << ran << " queries disagree";
}

TEST(differential, run_kql) {
  const char* kql = std::getenv("TRIBUTARY_DIFF_KQL");
  if (!kql || !*kql) GTEST_SKIP() << "set TRIBUTARY_DIFF_KQL to run one query";
  testing::memory_source source;
  auto p = prepare(kql, source, fixed_now);
  ASSERT_TRUE(std::holds_alternative<std::unique_ptr<prepared_query>>(p)) << std::get<model::error>(p).message;
  auto r = std::get<std::unique_ptr<prepared_query>>(p)->execute(source);
  ASSERT_TRUE(std::holds_alternative<query_result>(r)) << std::get<model::error>(r).message;
  const auto& t = std::get<query_result>(r).table;
  std::vector<row> rows;
  for (const auto& tr : t.rows) {
    row out;
    for (size_t c = 0; c < tr.size(); ++c) {
      // Raw cells: a null string shows as null here, unlike in the comparison.
      cell x = from_engine(tr[c], t.columns[c].type);
      if (t.columns[c].type == column_type::string && std::holds_alternative<std::monostate>(tr[c])) x = cell{};
      out.push_back(x);
    }
    rows.push_back(std::move(out));
  }
  std::printf("%s", show_rows(rows, t.columns).c_str());
}

}  // namespace
}  // namespace tributary::query
