// `scan`: queries over ≥ 10 M rows of one table, most of them in extents and the last ~5% in the
// rowstore, against two limits measured in the same run — a hand-written loop over the same
// column values already decoded in memory, and zstd decompression (with validation) of the same
// extent blocks — and beside ClickHouse 18.16 over the same rows (clickhouse_peer.hpp).

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <exception>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <queue>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "bench/clickhouse_peer.hpp"
#include "bench/scenarios.hpp"
#include "storage/extent.hpp"
#include "tests/support/node_process.hpp"

namespace tributary::bench {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

// --- the data ---

/// Rows span 2 hours from 2024-05-01T00:00:00Z, timestamps increasing with the row index, in whole
/// seconds (ClickHouse 18.16's DateTime has no fraction, and the same CSV goes to both).
constexpr int64_t base_unix_seconds = 1'714'521'600;
constexpr int64_t span_seconds = 7200;
constexpr uint32_t host_count = 1000;
constexpr std::string_view level_names[] = {"Debug", "Info", "Warning", "Error"};
/// The last share of the rows goes to the rowstore after the rest was sealed into extents.
constexpr double rowstore_share = 0.05;
/// Loading: ~1 MiB CSV requests (~48 bytes a row), 2 connections × 4 in flight, handed out in row
/// order so that the extents' blocks cover narrow time ranges, as a time-ordered feed makes them.
constexpr uint64_t request_rows = 20'000;
constexpr size_t load_connections = 2;
constexpr size_t load_window = 4;
/// ClickHouse gets the same CSV in INSERTs of this many rows.
constexpr uint64_t clickhouse_insert_rows = 1'000'000;
constexpr auto poll_interval = 50ms;
constexpr auto move_timeout = 900s;
/// Each query: one warm-up run (not counted), then this many measured runs on every side.
constexpr int repetitions = 5;
/// The limit's in-memory blocks for the rowstore rows (the extents' own blocks otherwise).
constexpr uint32_t rowstore_block_rows = 65'536;

constexpr std::string_view table_columns =
    "(Timestamp:datetime, Host:string, Level:string, Value:real, Count:long)";

uint64_t mix(uint64_t x) {  // splitmix64: any row regenerates from its index alone
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

struct generated_row {
  int64_t second = 0;  ///< since the Unix epoch
  uint32_t host = 0;
  uint32_t level = 0;         ///< index into level_names: Debug 2%, Info 70%, Warning 20%, Error 8%
  uint32_t value_milli = 0;   ///< Value × 1000, 0 .. 99,999 (Value > 90: 10%)
  int64_t count = 0;
};

generated_row make_row(uint64_t i, uint64_t n) {
  const uint64_t h = mix(i);
  generated_row r;
  r.second = base_unix_seconds + static_cast<int64_t>(i * static_cast<uint64_t>(span_seconds) / n);
  r.host = static_cast<uint32_t>(h % host_count);
  const unsigned l = (h >> 10) % 100;
  r.level = l < 2 ? 0 : l < 72 ? 1 : l < 92 ? 2 : 3;
  r.value_milli = static_cast<uint32_t>((h >> 20) % 100'000);
  r.count = static_cast<int64_t>((h >> 40) % 1'000'000);
  return r;
}

std::string host_name(uint32_t host) {
  return fmt::format("host-{:03}", host);
}

/// "2024-05-01 01:02:03": the form both the node and ClickHouse 18.16 parse.
std::string datetime_text(int64_t unix_seconds) {
  const int64_t s = unix_seconds - base_unix_seconds;
  return fmt::format("2024-05-01 {:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
}

/// CSV rows [first, last) of an n-row table: `Timestamp,Host,Level,Value,Count`.
std::string csv_rows(uint64_t first, uint64_t last, uint64_t n) {
  std::string out;
  out.reserve((last - first) * 52);
  auto it = std::back_inserter(out);
  for (uint64_t i = first; i < last; ++i) {
    const auto r = make_row(i, n);
    const int64_t s = r.second - base_unix_seconds;
    fmt::format_to(it, "2024-05-01 {:02}:{:02}:{:02},host-{:03},{},{}.{:03},{}\n", s / 3600, s / 60 % 60, s % 60,
                   r.host, level_names[r.level], r.value_milli / 1000, r.value_milli % 1000, r.count);
  }
  return out;
}

double seconds_between(steady::time_point a, steady::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// --- loading the node ---

struct load_totals_scan {
  uint64_t rows = 0, bytes = 0, requests = 0, throttled = 0;
};

/// Ingests rows [first, last) into `database`.T: requests of `request_rows` handed out in order
/// to `load_connections` connections, `load_window` in flight each.
load_totals_scan load_rows(const std::string& address, const std::string& database, uint64_t first,
                           uint64_t last, uint64_t n, std::string_view label) {
  std::atomic<uint64_t> next{first};
  std::vector<load_totals_scan> totals(load_connections);
  std::vector<std::exception_ptr> failures(load_connections);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < load_connections; ++t)
    threads.emplace_back([&, t] {
      try {
        client::connection c(address);
        std::map<std::string, uint64_t> expected;
        std::optional<std::string> failure;
        c.ingest_pipelined(
            load_window,
            [&]() -> std::optional<client::ingest_request> {
              if (failure) return std::nullopt;
              const uint64_t from = next.fetch_add(request_rows);
              if (from >= last) return std::nullopt;
              const uint64_t to = std::min(last, from + request_rows);
              auto r = make_request(database, "T", csv_rows(from, to, n), fmt::format("scan-{}-{}", label, from));
              expected[r.request_id] = to - from;
              return r;
            },
            [&](const client::ingest_request& r,
                const client::ingest_outcome& o) -> std::optional<std::chrono::milliseconds> {
              if (const auto* e = std::get_if<model::error>(&o)) {
                if (e->code == "Throttling") {
                  ++totals[t].throttled;
                  return throttled_retry_delay;
                }
                if (!failure) failure = fmt::format("ingest {} failed: {}: {}", r.request_id, e->code, e->message);
                return std::nullopt;
              }
              const auto& ack = std::get<client::ingest_ack>(o);
              if (ack.consumed_records != expected[r.request_id] && !failure)
                failure = fmt::format("ingest {}: acknowledged {} records instead of {}", r.request_id,
                                      ack.consumed_records, expected[r.request_id]);
              totals[t].rows += ack.consumed_records;
              totals[t].bytes += r.data.size();
              ++totals[t].requests;
              return std::nullopt;
            });
        if (failure) throw std::runtime_error(*failure);
      } catch (...) {
        failures[t] = std::current_exception();
      }
    });
  for (auto& th : threads) th.join();
  load_totals_scan sum;
  for (size_t t = 0; t < load_connections; ++t) {
    if (failures[t]) std::rethrow_exception(failures[t]);
    sum.rows += totals[t].rows;
    sum.bytes += totals[t].bytes;
    sum.requests += totals[t].requests;
    sum.throttled += totals[t].throttled;
  }
  return sum;
}

/// Sum of RowCount and the number of extents of `.show table T extents`.
std::pair<int64_t, size_t> extent_rows(client::connection& c, const std::string& database) {
  auto t = expect_ok(c.command(database, ".show table T extents"), ".show table T extents");
  size_t column = t.columns.size();
  for (size_t i = 0; i < t.columns.size(); ++i)
    if (t.columns[i].name == "RowCount") column = i;
  if (column == t.columns.size()) throw std::runtime_error(".show table T extents has no column RowCount");
  int64_t rows = 0;
  for (const auto& row : t.rows) rows += std::get<int64_t>(row[column]);
  return {rows, t.rows.size()};
}

// --- the limit's data: the table's column values decoded, block by block ---

/// The columns the queries use, in this order in `block_data::columns`.
enum limit_column : size_t { col_ts, col_host, col_level, col_value, limit_columns };
constexpr std::string_view limit_column_names[] = {"Timestamp", "Host", "Level", "Value"};

struct block_data {
  model::column_data columns[limit_columns];
  uint32_t rows = 0;
  int64_t max_ts = 0;  ///< from the block index (extents) or the values (rowstore rows)
  bool in_extent = false;
  size_t extent = 0, block = 0;  ///< which extent block, when in_extent
};

struct extent_file {
  storage::extent_reader reader;
  size_t column_index[limit_columns];  ///< schema positions of the limit's columns
};

std::vector<extent_file> open_extents(const std::filesystem::path& data_dir) {
  std::vector<extent_file> out;
  const auto root = data_dir / "extents";
  if (!std::filesystem::exists(root))
    throw std::runtime_error(fmt::format("no extents under {} after the seal", root.string()));
  std::vector<std::filesystem::path> paths;
  for (const auto& table : std::filesystem::directory_iterator(root))
    for (const auto& f : std::filesystem::directory_iterator(table.path()))
      if (f.path().extension() == ".trx") paths.push_back(f.path());
  std::sort(paths.begin(), paths.end());
  for (const auto& p : paths) {
    auto opened = storage::extent_reader::open(p);
    if (auto* e = std::get_if<model::error>(&opened))
      throw std::runtime_error(fmt::format("limit: opening {}: {}: {}", p.string(), e->code, e->message));
    extent_file f{std::move(std::get<storage::extent_reader>(opened)), {}};
    const auto& cols = f.reader.columns();
    for (size_t c = 0; c < limit_columns; ++c) {
      auto it = std::find_if(cols.begin(), cols.end(), [&](const model::column& k) { return k.name == limit_column_names[c]; });
      if (it == cols.end())
        throw std::runtime_error(fmt::format("limit: {} has no column {}", p.string(), limit_column_names[c]));
      f.column_index[c] = static_cast<size_t>(it - cols.begin());
    }
    out.push_back(std::move(f));
  }
  return out;
}

model::column_data read_or_throw(const extent_file& f, size_t column, size_t block) {
  auto r = f.reader.read_column(f.column_index[column], block);
  if (auto* e = std::get_if<model::error>(&r))
    throw std::runtime_error(fmt::format("limit: reading column {} of block {}: {}: {}", limit_column_names[column],
                                         block, e->code, e->message));
  return std::move(std::get<model::column_data>(r));
}

/// Every extent block decoded (untimed), then the rowstore rows regenerated into blocks of the
/// same layout.
std::vector<block_data> decode_all(const std::vector<extent_file>& extents, uint64_t rowstore_first, uint64_t n) {
  std::vector<block_data> out;
  for (size_t e = 0; e < extents.size(); ++e) {
    const auto& blocks = extents[e].reader.blocks();
    for (size_t b = 0; b < blocks.size(); ++b) {
      block_data d;
      for (size_t c = 0; c < limit_columns; ++c) d.columns[c] = read_or_throw(extents[e], c, b);
      d.rows = blocks[b].rows;
      const auto& max = blocks[b].columns[extents[e].column_index[col_ts]].max;
      d.max_ts = std::holds_alternative<int64_t>(max) ? std::get<int64_t>(max) : INT64_MAX;
      d.in_extent = true;
      d.extent = e;
      d.block = b;
      out.push_back(std::move(d));
    }
  }
  std::vector<std::string> hosts;
  for (uint32_t h = 0; h < host_count; ++h) hosts.push_back(host_name(h));
  for (uint64_t first = rowstore_first; first < n; first += rowstore_block_rows) {
    block_data d;
    d.columns[col_ts].type = model::column_type::datetime;
    d.columns[col_host].type = d.columns[col_level].type = model::column_type::string;
    d.columns[col_value].type = model::column_type::real;
    const uint64_t last = std::min(n, first + rowstore_block_rows);
    for (uint64_t i = first; i < last; ++i) {
      const auto r = make_row(i, n);
      d.columns[col_ts].append_int(r.second * model::ticks_per_second);
      d.columns[col_host].append_text(hosts[r.host]);
      d.columns[col_level].append_text(level_names[r.level]);
      d.columns[col_value].append_real(r.value_milli / 1000.0);
      d.max_ts = std::max(d.max_ts, r.second * model::ticks_per_second);
    }
    d.rows = static_cast<uint32_t>(last - first);
    out.push_back(std::move(d));
  }
  return out;
}

// --- the queries ---

/// What a query answered, reduced to what all sides must agree on.
struct answer {
  std::string text;
  bool approximate = false;  ///< dcount: Kusto's is an estimate, so a difference is not an error
};

struct query_def {
  std::string key;
  std::string kql;
  std::string sql;
  std::vector<limit_column> columns;  ///< what the limit decompresses and loops over
  bool pruned = false;                ///< only blocks whose Timestamp max passes the bound
  /// The hand-written loop over the decoded blocks.
  std::function<answer(const std::vector<const block_data*>&)> loop;
  /// Our result and ClickHouse's, reduced to the same answer text.
  std::function<answer(const model::result_table&)> ours;
  std::function<answer(const json&)> theirs;
};

int64_t as_int(const model::value& v) {
  if (const auto* i = std::get_if<int64_t>(&v)) return *i;
  if (const auto* d = std::get_if<double>(&v)) return static_cast<int64_t>(*d);
  return -1;
}

int64_t as_int(const json& v) {
  return v.is_string() ? std::stoll(v.get<std::string>()) : v.get<int64_t>();
}

double as_real(const json& v) {
  return v.is_string() ? std::stod(v.get<std::string>()) : v.get<double>();
}

size_t column_of(const model::result_table& t, std::string_view name) {
  for (size_t i = 0; i < t.columns.size(); ++i)
    if (t.columns[i].name == name) return i;
  throw std::runtime_error(fmt::format("the result has no column {}", name));
}

answer single_count(const model::result_table& t) {
  if (t.rows.size() != 1 || t.rows[0].empty()) return {"no single value"};
  return {fmt::format("{}", as_int(t.rows[0][0]))};
}

answer groups_answer(size_t groups, int64_t rows) {
  return {fmt::format("{} groups, {} rows", groups, rows)};
}

answer ours_groups(const model::result_table& t) {
  const size_t c = column_of(t, "count_");
  int64_t rows = 0;
  for (const auto& r : t.rows) rows += as_int(r[c]);
  return groups_answer(t.rows.size(), rows);
}

answer theirs_groups(const json& data) {
  int64_t rows = 0;
  for (const auto& r : data) rows += as_int(r.at("c"));
  return groups_answer(data.size(), rows);
}

answer top_answer(std::vector<double> values) {
  std::sort(values.rbegin(), values.rend());
  std::string s;
  for (double v : values) s += fmt::format("{}{:.3f}", s.empty() ? "" : " ", v);
  return {s};
}

/// Counts rows matching `pred(block, row)` over the blocks.
template <class Pred>
int64_t count_where(const std::vector<const block_data*>& blocks, Pred pred) {
  int64_t n = 0;
  for (const auto* b : blocks)
    for (uint32_t r = 0; r < b->rows; ++r) n += pred(*b, r);
  return n;
}

std::vector<query_def> make_queries(int64_t bound_seconds, int64_t min_ts, int64_t max_ts) {
  const std::string bound_text = datetime_text(bound_seconds);
  const int64_t bound_ticks = bound_seconds * model::ticks_per_second;
  constexpr int64_t minute = 60 * model::ticks_per_second;
  const int64_t first_bin = min_ts / minute;
  const size_t bins = static_cast<size_t>(max_ts / minute - first_bin + 1);
  auto from_ch_count = [](const json& data) -> answer { return {fmt::format("{}", as_int(data.at(0).at("c")))}; };
  std::vector<query_def> q;
  q.push_back({"count", "T | count", "SELECT count() AS c FROM T", {}, false,
               [](const std::vector<const block_data*>& blocks) -> answer {
                 int64_t n = 0;
                 for (const auto* b : blocks) n += b->rows;
                 return {fmt::format("{}", n)};
               },
               single_count, from_ch_count});
  q.push_back({"where_string", "T | where Level == \"Error\" | count",
               "SELECT count() AS c FROM T WHERE Level = 'Error'", {col_level}, false,
               [](const std::vector<const block_data*>& blocks) -> answer {
                 return {fmt::format("{}", count_where(blocks, [](const block_data& b, uint32_t r) {
                                       const auto& c = b.columns[col_level];
                                       return c.offsets[r + 1] - c.offsets[r] == 5 &&
                                              std::memcmp(c.text.data() + c.offsets[r], "Error", 5) == 0;
                                     }))};
               },
               single_count, from_ch_count});
  q.push_back({"where_real", "T | where Value > 90 | count", "SELECT count() AS c FROM T WHERE Value > 90", {col_value},
               false,
               [](const std::vector<const block_data*>& blocks) -> answer {
                 return {fmt::format("{}", count_where(blocks, [](const block_data& b, uint32_t r) {
                                       return b.columns[col_value].reals[r] > 90;
                                     }))};
               },
               single_count, from_ch_count});
  q.push_back({"by_host", "T | summarize count(), avg(Value) by Host",
               "SELECT Host, count() AS c, avg(Value) AS a FROM T GROUP BY Host", {col_host, col_value}, false,
               [](const std::vector<const block_data*>& blocks) -> answer {
                 std::unordered_map<std::string_view, std::pair<int64_t, double>> groups;
                 groups.reserve(4096);
                 for (const auto* b : blocks) {
                   const auto& h = b->columns[col_host];
                   const auto& v = b->columns[col_value].reals;
                   for (uint32_t r = 0; r < b->rows; ++r) {
                     auto& g = groups[std::string_view(h.text.data() + h.offsets[r], h.offsets[r + 1] - h.offsets[r])];
                     ++g.first;
                     g.second += v[r];
                   }
                 }
                 int64_t rows = 0;
                 for (const auto& [k, g] : groups) rows += g.first;
                 return groups_answer(groups.size(), rows);
               },
               ours_groups, theirs_groups});
  q.push_back({"by_minute", "T | summarize count() by bin(Timestamp, 1m)",
               "SELECT toStartOfMinute(Timestamp) AS m, count() AS c FROM T GROUP BY m", {col_ts}, false,
               [first_bin, bins](const std::vector<const block_data*>& blocks) -> answer {
                 // The bin range comes from the blocks' statistics, as a planner would know it.
                 std::vector<int64_t> counts(bins);
                 for (const auto* b : blocks) {
                   const auto* ts = b->columns[col_ts].ints.data();
                   for (uint32_t r = 0; r < b->rows; ++r) ++counts[static_cast<size_t>(ts[r] / minute - first_bin)];
                 }
                 size_t used = 0;
                 int64_t rows = 0;
                 for (int64_t c : counts) {
                   used += c != 0;
                   rows += c;
                 }
                 return groups_answer(used, rows);
               },
               ours_groups, theirs_groups});
  q.push_back({"top10", "T | top 10 by Value", "SELECT * FROM T ORDER BY Value DESC LIMIT 10", {col_value}, false,
               [](const std::vector<const block_data*>& blocks) -> answer {
                 std::priority_queue<double, std::vector<double>, std::greater<>> top;
                 for (const auto* b : blocks) {
                   const auto* v = b->columns[col_value].reals.data();
                   for (uint32_t r = 0; r < b->rows; ++r) {
                     if (top.size() < 10) top.push(v[r]);
                     else if (v[r] > top.top()) {
                       top.pop();
                       top.push(v[r]);
                     }
                   }
                 }
                 std::vector<double> values;
                 for (; !top.empty(); top.pop()) values.push_back(top.top());
                 return top_answer(values);
               },
               [](const model::result_table& t) {
                 const size_t c = column_of(t, "Value");
                 std::vector<double> values;
                 for (const auto& r : t.rows)
                   values.push_back(std::holds_alternative<double>(r[c]) ? std::get<double>(r[c]) : -1);
                 return top_answer(values);
               },
               [](const json& data) {
                 std::vector<double> values;
                 for (const auto& r : data) values.push_back(as_real(r.at("Value")));
                 return top_answer(values);
               }});
  q.push_back({"dcount", "T | summarize dcount(Host)", "SELECT uniq(Host) AS c FROM T", {col_host}, false,
               [](const std::vector<const block_data*>& blocks) -> answer {
                 std::unordered_set<std::string_view> seen;
                 seen.reserve(4096);
                 for (const auto* b : blocks) {
                   const auto& h = b->columns[col_host];
                   for (uint32_t r = 0; r < b->rows; ++r)
                     seen.insert(std::string_view(h.text.data() + h.offsets[r], h.offsets[r + 1] - h.offsets[r]));
                 }
                 return {fmt::format("{}", seen.size()), true};
               },
               [](const model::result_table& t) {
                 auto a = single_count(t);
                 a.approximate = true;
                 return a;
               },
               [](const json& data) -> answer { return {fmt::format("{}", as_int(data.at(0).at("c"))), true}; }});
  q.push_back({"pruned", fmt::format("T | where Timestamp > datetime({}) | count", bound_text),
               fmt::format("SELECT count() AS c FROM T WHERE Timestamp > toDateTime('{}')", bound_text), {col_ts}, true,
               [bound_ticks](const std::vector<const block_data*>& blocks) -> answer {
                 return {fmt::format("{}", count_where(blocks, [bound_ticks](const block_data& b, uint32_t r) {
                                       return b.columns[col_ts].ints[r] > bound_ticks;
                                     }))};
               },
               single_count, from_ch_count});
  return q;
}

/// Best and median of samples (seconds).
struct timing {
  std::vector<double> samples;
  double best() const { return samples.empty() ? 0 : *std::min_element(samples.begin(), samples.end()); }
  double median() const {
    if (samples.empty()) return 0;
    auto s = samples;
    std::sort(s.begin(), s.end());
    return s[(s.size() - 1) / 2];
  }
};

struct query_run {
  timing ours, loop, zstd, ch_one, ch_all;
  std::vector<double> ours_node_elapsed_ms, ours_node_cpu_ms;
  double node_cpu_seconds = 0;  ///< the node's CPU over the measured runs (from /proc)
  double ch_one_cpu_seconds = 0, ch_all_cpu_seconds = 0;
  json stats;  ///< QueryStats of the last measured run
  answer ours_answer, loop_answer, ch_answer;
  uint64_t ch_rows_read = 0;
  std::vector<double> ch_one_server_s, ch_all_server_s;
};

std::optional<std::string> property(const model::result_table& t, std::string_view name) {
  for (const auto& [k, v] : t.properties)
    if (k == name) return v;
  return std::nullopt;
}

double mrows(uint64_t rows, double seconds) {
  return seconds > 0 ? static_cast<double>(rows) / seconds / 1e6 : 0;
}

}  // namespace

scenario_result run_scan(const options& o, uint64_t n) {
  if (!o.node.empty())
    throw std::runtime_error(
        "scan needs a node it starts (it reads the node's extent files for the limit); run it without --node");
  if (n < 100'000) throw std::runtime_error(fmt::format("--scan-rows {} is too few; give at least 100000", n));
  const uint64_t rowstore_rows = static_cast<uint64_t>(static_cast<double>(n) * rowstore_share);
  const uint64_t extent_rows_wanted = n - rowstore_rows;
  // The rowstore must hold its rows until the queries ran: no seal by size or age.
  options node_options = o;
  for (const auto& [flag, value] : {std::pair{"--seal-after-bytes", "1099511627776"}, std::pair{"--seal-after-seconds", "86400"}})
    if (std::none_of(o.node_args.begin(), o.node_args.end(), [&](const std::string& a) { return a.rfind(flag, 0) == 0; }))
      node_options.node_args.push_back(std::string(flag) + "=" + value);
  node_under_test node(node_options, "scan");
  auto* process = node.process();
  client::connection c(node.address());
  create_database(c, node.database(), false);
  expect_ok(c.command(node.database(), fmt::format(".create table T {}", table_columns)), ".create table T");
  expect_ok(c.command(node.database(), ".alter table T policy streamingingestion enable"),
            ".alter table T policy streamingingestion enable");

  // 1. Most rows into the rowstore, then sealed into extents by deleting the policy.
  progress(fmt::format("scan: ingesting rows 0..{} of {} ({} rows a request, {} connections x {} in flight)",
                       extent_rows_wanted, n, request_rows, load_connections, load_window));
  auto t0 = steady::now();
  const auto first_load = load_rows(node.address(), node.database(), 0, extent_rows_wanted, n, "a");
  const double first_load_seconds = seconds_between(t0, steady::now());
  progress(fmt::format("scan: {} rows ({:.0f} MiB of CSV) in {:.1f} s; .delete table T policy streamingingestion",
                       first_load.rows, static_cast<double>(first_load.bytes) / (1 << 20), first_load_seconds));
  t0 = steady::now();
  expect_ok(c.command(node.database(), ".delete table T policy streamingingestion"),
            ".delete table T policy streamingingestion");
  std::pair<int64_t, size_t> sealed;
  while ((sealed = extent_rows(c, node.database())).first < static_cast<int64_t>(extent_rows_wanted)) {
    if (steady::now() - t0 > move_timeout)
      throw std::runtime_error(fmt::format("the extents hold {} of {} rows {} s after the policy was deleted",
                                           sealed.first, extent_rows_wanted, move_timeout.count()));
    std::this_thread::sleep_for(poll_interval);
  }
  const double move_seconds = seconds_between(t0, steady::now());

  // 2. The last rows into the rowstore again.
  expect_ok(c.command(node.database(), ".alter table T policy streamingingestion enable"),
            ".alter table T policy streamingingestion enable (again)");
  progress(fmt::format("scan: {} rows sealed into {} extents in {:.1f} s; ingesting rows {}..{} into the rowstore",
                       sealed.first, sealed.second, move_seconds, extent_rows_wanted, n));
  const auto second_load = load_rows(node.address(), node.database(), extent_rows_wanted, n, n, "b");
  const auto counted = expect_ok(c.query(node.database(), "T | count"), "T | count");
  if (single_count(counted).text != std::to_string(n))
    throw std::runtime_error(fmt::format("T | count answered {}; {} rows were loaded", single_count(counted).text, n));
  if (extent_rows(c, node.database()).first != static_cast<int64_t>(extent_rows_wanted))
    throw std::runtime_error("the node sealed rowstore rows while loading the last rows");

  // 3. The limit's data: the extent files read directly, every block decoded once (untimed).
  const auto data_dir = node.scratch() / "node";
  progress(fmt::format("scan: limit: decoding the columns of the extents under {}", (data_dir / "extents").string()));
  auto extents = open_extents(data_dir);
  uint64_t rows_in_files = 0;
  size_t extent_blocks = 0;
  for (const auto& e : extents) {
    rows_in_files += e.reader.stats().rows;
    extent_blocks += e.reader.blocks().size();
  }
  if (rows_in_files != extent_rows_wanted)
    throw std::runtime_error(fmt::format("limit: the extent files under {} hold {} rows; the table's extents hold {}",
                                         data_dir.string(), rows_in_files, extent_rows_wanted));
  const auto blocks = decode_all(extents, extent_rows_wanted, n);
  int64_t min_ts = INT64_MAX, max_ts = INT64_MIN;
  for (const auto& e : extents) {
    const auto& s = e.reader.stats().columns[e.column_index[col_ts]];
    if (std::holds_alternative<int64_t>(s.min)) min_ts = std::min(min_ts, std::get<int64_t>(s.min));
    if (std::holds_alternative<int64_t>(s.max)) max_ts = std::max(max_ts, std::get<int64_t>(s.max));
  }
  max_ts = std::max(max_ts, (base_unix_seconds + span_seconds) * model::ticks_per_second);
  // The pruned query's bound: the last 1% of the table's rows before the rowstore's, so that it
  // prunes inside the extents (the rowstore rows all match too: ~6% of the rows in all).
  const int64_t bound_seconds = make_row(extent_rows_wanted - n / 100, n).second;
  const int64_t bound_ticks = bound_seconds * model::ticks_per_second;
  size_t blocks_with_matches = 0;
  for (const auto& b : blocks)
    if (b.in_extent && b.max_ts > bound_ticks) ++blocks_with_matches;
  std::vector<const block_data*> all_blocks, pruned_blocks;
  for (const auto& b : blocks) {
    all_blocks.push_back(&b);
    if (b.max_ts > bound_ticks) pruned_blocks.push_back(&b);
  }
  auto queries = make_queries(bound_seconds, min_ts, max_ts);

  // 4. ClickHouse over the same CSV, if it starts.
  std::unique_ptr<clickhouse_server> ch;
  std::string ch_missing;
  double ch_load_seconds = 0, ch_optimize_seconds = 0;
  try {
    progress("scan: starting ClickHouse and loading the same CSV");
    ch = std::make_unique<clickhouse_server>(node.scratch());
    ch->execute(
        "CREATE TABLE T (Timestamp DateTime, Host String, Level String, Value Float64, Count Int64) "
        "ENGINE = MergeTree ORDER BY Timestamp");
    t0 = steady::now();
    for (uint64_t first = 0; first < n; first += clickhouse_insert_rows)
      ch->insert_csv("T", csv_rows(first, std::min(n, first + clickhouse_insert_rows), n));
    ch_load_seconds = seconds_between(t0, steady::now());
    // One part, merged before the clock starts: no background merge during the measurements.
    t0 = steady::now();
    ch->execute("OPTIMIZE TABLE T FINAL");
    ch_optimize_seconds = seconds_between(t0, steady::now());
    const auto chcount = ch->query("SELECT count() AS c FROM T", 0);
    if (as_int(chcount.data.at(0).at("c")) != static_cast<int64_t>(n))
      throw std::runtime_error(fmt::format("ClickHouse holds {} rows after loading {}", chcount.data.at(0).at("c").dump(), n));
  } catch (const std::exception& e) {
    ch_missing = e.what();
    ch.reset();
    progress("scan: ClickHouse is missing from this run: " + ch_missing);
  }

  // 5. The measurements: every repetition decompresses every block the queries read (timed per
  // block and column), then runs each query on the node, the loop, and ClickHouse (1 thread, all).
  std::vector<query_run> runs(queries.size());
  const int node_pid = process ? process->pid() : -1;
  progress(fmt::format("scan: {} queries x ({} warm-up + {} measured) on the node, the loop{}", queries.size(), 1,
                       repetitions, ch ? " and ClickHouse" : ""));
  for (int rep = 0; rep <= repetitions; ++rep) {
    const bool measured = rep > 0;
    // (b) decompression + validation of each extent block's column.
    std::vector<std::array<double, limit_columns>> block_seconds(blocks.size());
    for (size_t i = 0; i < blocks.size(); ++i) {
      if (!blocks[i].in_extent) continue;
      for (size_t col = 0; col < limit_columns; ++col) {
        const auto s = steady::now();
        auto data = read_or_throw(extents[blocks[i].extent], col, blocks[i].block);
        block_seconds[i][col] = seconds_between(s, steady::now());
        if (data.size() != blocks[i].rows) throw std::runtime_error("limit: a block changed size between reads");
      }
    }
    for (size_t qi = 0; qi < queries.size(); ++qi) {
      const auto& q = queries[qi];
      auto& run = runs[qi];
      const auto& over = q.pruned ? pruned_blocks : all_blocks;
      double zstd_seconds = 0;
      for (size_t i = 0; i < blocks.size(); ++i)
        if (blocks[i].in_extent && (!q.pruned || blocks[i].max_ts > bound_ticks))
          for (auto col : q.columns) zstd_seconds += block_seconds[i][col];

      const double cpu0 = process_cpu_seconds(node_pid);
      auto s = steady::now();
      auto result = expect_ok(c.query(node.database(), q.kql), q.kql);
      const double ours_seconds = seconds_between(s, steady::now());
      const double cpu1 = process_cpu_seconds(node_pid);
      s = steady::now();
      auto loop_answer = q.loop(over);
      const double loop_seconds = seconds_between(s, steady::now());
      if (!measured) {
        run.ours_answer = q.ours(result);
        run.loop_answer = loop_answer;
      }
      if (measured) {
        run.ours.samples.push_back(ours_seconds);
        run.loop.samples.push_back(loop_seconds);
        run.zstd.samples.push_back(zstd_seconds);
        run.node_cpu_seconds += cpu1 - cpu0;
        if (auto st = property(result, "QueryStats")) {
          run.stats = json::parse(*st, nullptr, false);
          run.ours_node_elapsed_ms.push_back(run.stats.value("ElapsedMs", 0.0));
          run.ours_node_cpu_ms.push_back(run.stats.value("CpuMs", 0.0));
        }
      }
      if (ch) {
        for (unsigned threads : {1u, 0u}) {
          const double ch0 = ch->cpu_seconds();
          auto a = ch->query(q.sql, threads);
          const double ch1 = ch->cpu_seconds();
          if (!measured && threads == 1) run.ch_answer = q.theirs(a.data);
          if (!measured) continue;
          run.ch_rows_read = a.rows_read;
          (threads == 1 ? run.ch_one : run.ch_all).samples.push_back(a.wall_seconds);
          (threads == 1 ? run.ch_one_server_s : run.ch_all_server_s).push_back(a.server_seconds);
          (threads == 1 ? run.ch_one_cpu_seconds : run.ch_all_cpu_seconds) += ch1 - ch0;
        }
      }
    }
    if (measured) progress(fmt::format("scan: repetition {} of {} done", rep, repetitions));
  }

  // 6. The figures.
  scenario_result r;
  r.scenario = "scan";
  r.work = fmt::format(
      "1 table {} of {} rows ({} in {} extents of {} blocks, sealed by deleting the policy; the last {} in the "
      "rowstore), timestamps increasing over {} s; {} queries, best and median of {} runs each after a warm-up; rows/s "
      "= table rows / query wall time on one connection (the node runs a query on one pool thread: per core)",
      table_columns, n, extent_rows_wanted, extents.size(), extent_blocks, rowstore_rows, span_seconds, queries.size(),
      repetitions);
  r.figures = {{"rows", n},
               {"extent_rows", extent_rows_wanted},
               {"rowstore_rows", rowstore_rows},
               {"extents", extents.size()},
               {"extent_blocks", extent_blocks},
               {"extent_file_bytes", [&] {
                  uint64_t b = 0;
                  for (const auto& e : extents) b += e.reader.stats().file_bytes;
                  return b;
                }()},
               {"csv_mib", rounded(static_cast<double>(first_load.bytes + second_load.bytes) / (1 << 20), 1)},
               {"load_seconds", rounded(first_load_seconds, 2)},
               {"load_throttled_answers", first_load.throttled + second_load.throttled},
               {"move_seconds", rounded(move_seconds, 2)}};
  json per_query = json::object(), limits = json::object(), peer = json::object();
  double worst_ratio = 1e300;
  std::string worst_query;
  bool all_agree = true;
  std::string table = fmt::format(
      "  {:<13} {:>9} {:>9} {:>8} {:>9} {:>9} {:>7} {:>9} {:>9} {:>9}  {}\n", "query", "ours ms", "(median)",
      "ours M/s", "loop M/s", "zstd M/s", "ratio", "CH1 ms", "CH1 M/s", "CHall ms", "answers agree");
  for (size_t qi = 0; qi < queries.size(); ++qi) {
    const auto& q = queries[qi];
    const auto& run = runs[qi];
    const double ours_rate = mrows(n, run.ours.best());
    const double loop_rate = mrows(n, run.loop.best());
    const double zstd_rate = run.zstd.best() > 0 ? mrows(n, run.zstd.best()) : 0;
    const double limit_seconds = std::max(run.loop.best(), run.zstd.best());  // min of the two rates
    const double ratio = limit_seconds / run.ours.best();
    const double ratio_median = std::max(run.loop.median(), run.zstd.median()) / run.ours.median();
    const bool agree = run.ours_answer.text == run.loop_answer.text &&
                       (!ch || run.ch_answer.text == run.loop_answer.text);
    if (!agree && !run.ours_answer.approximate) all_agree = false;
    if (q.key != "count" && ratio < worst_ratio) {
      worst_ratio = ratio;
      worst_query = q.key;
    }
    json f = {{"kql", q.kql},
              {"best_ms", rounded(run.ours.best() * 1e3, 2)},
              {"median_ms", rounded(run.ours.median() * 1e3, 2)},
              {"rows_per_s_per_core", rounded(ours_rate * 1e6, 0)},
              {"node_elapsed_ms_median", rounded(timing{run.ours_node_elapsed_ms}.median(), 2)},
              {"node_cpu_ms_median", rounded(timing{run.ours_node_cpu_ms}.median(), 2)},
              {"node_cores_while_running",
               rounded(run.node_cpu_seconds / std::max(1e-9, [&] {
                         double s = 0;
                         for (double x : run.ours.samples) s += x;
                         return s;
                       }()), 2)},
              {"answer", run.ours_answer.text},
              {"limit_answer", run.loop_answer.text},
              {"ratio_vs_limit", rounded(ratio, 3)},
              {"ratio_vs_limit_median", rounded(ratio_median, 3)}};
    if (!agree) f["answers_differ"] = run.ours_answer.approximate ? "approximate (dcount)" : "YES";
    if (!run.stats.is_discarded() && !run.stats.is_null()) f["query_stats"] = run.stats;
    if (q.pruned) {
      f["blocks_holding_matches"] = blocks_with_matches;
      f["blocks_read"] = run.stats.is_object() ? run.stats.value("BlocksScanned", int64_t{-1}) : -1;
      if (blocks_with_matches)
        f["blocks_read_over_holding"] =
            rounded(static_cast<double>(f["blocks_read"].get<int64_t>()) / static_cast<double>(blocks_with_matches), 3);
    }
    per_query[q.key] = f;
    limits[q.key] = {{"loop_best_ms", rounded(run.loop.best() * 1e3, 3)},
                     {"loop_median_ms", rounded(run.loop.median() * 1e3, 3)},
                     {"loop_rows_per_s", rounded(loop_rate * 1e6, 0)},
                     {"zstd_best_ms", rounded(run.zstd.best() * 1e3, 3)},
                     {"zstd_median_ms", rounded(run.zstd.median() * 1e3, 3)},
                     {"zstd_rows_per_s", run.zstd.best() > 0 ? json(rounded(zstd_rate * 1e6, 0)) : json("no column read")},
                     {"columns", [&] {
                        json cols = json::array();
                        for (auto col : q.columns) cols.push_back(limit_column_names[col]);
                        return cols;
                      }()},
                     {"blocks", q.pruned ? pruned_blocks.size() : all_blocks.size()}};
    std::string ch1 = "-", ch1rate = "-", chall = "-";
    if (ch) {
      const double one = run.ch_one.best(), all = run.ch_all.best();
      peer[q.key] = {{"sql", q.sql},
                     {"one_thread_best_ms", rounded(one * 1e3, 2)},
                     {"one_thread_median_ms", rounded(run.ch_one.median() * 1e3, 2)},
                     {"one_thread_rows_per_s", rounded(mrows(n, one) * 1e6, 0)},
                     {"one_thread_server_ms_median", rounded(timing{run.ch_one_server_s}.median() * 1e3, 2)},
                     {"default_threads_best_ms", rounded(all * 1e3, 2)},
                     {"default_threads_median_ms", rounded(run.ch_all.median() * 1e3, 2)},
                     {"default_threads_cores", rounded(run.ch_all_cpu_seconds / std::max(1e-9, [&] {
                                                         double s = 0;
                                                         for (double x : run.ch_all.samples) s += x;
                                                         return s;
                                                       }()), 2)},
                     {"rows_read", run.ch_rows_read},
                     {"answer", run.ch_answer.text},
                     {"ours_over_clickhouse_one_thread", rounded(one / run.ours.best(), 3)}};
      ch1 = fmt::format("{:.1f}", one * 1e3);
      ch1rate = fmt::format("{:.1f}", mrows(n, one));
      chall = fmt::format("{:.1f}", all * 1e3);
    }
    table += fmt::format("  {:<13} {:>9.1f} {:>9.1f} {:>8.1f} {:>9.1f} {:>9} {:>7.3f} {:>9} {:>9} {:>9}  {}\n", q.key,
                         run.ours.best() * 1e3, run.ours.median() * 1e3, ours_rate, loop_rate,
                         run.zstd.best() > 0 ? fmt::format("{:.1f}", zstd_rate) : std::string("-"), ratio, ch1,
                         ch1rate, chall,
                         agree ? "yes" : run.ours_answer.approximate ? "approx" : "NO: " + run.ours_answer.text + " / " + run.loop_answer.text + " / " + run.ch_answer.text);
  }
  r.figures["queries"] = per_query;
  r.figures["answers_agree"] = all_agree;
  r.limit_work = fmt::format(
      "(a) a hand-written loop on one thread over the same column values decoded in memory (the extent files read "
      "with storage::extent_reader, the rowstore rows regenerated; count: block row counts; where: a compare per "
      "row; by Host: unordered_map<string_view>; by minute: a flat array over the stats' range; top: a 10-entry heap; "
      "dcount: unordered_set<string_view>; pruned: the blocks whose Timestamp max passes the bound); (b) "
      "extent_reader::read_column (zstd + validation) of each column the query reads over the extent blocks it reads "
      "(the rowstore rows cost (b) nothing); limit rate = min(a, b) over the table's rows");
  r.limit = limits;
  r.ratio = worst_ratio;
  r.ratio_of = fmt::format(
      "worst query ({}) rows/s / min(loop, zstd) rows/s, best runs; `count` left out (both limits read metadata)",
      worst_query);
  r.extra = {{"targets", "each query >= 0.5 of min(loop, zstd); pruned: blocks read <= 1.5 x blocks holding matches"},
             {"pruned_bound", datetime_text(bound_seconds)},
             {"cpus", sysconf(_SC_NPROCESSORS_ONLN)},
             {"note", "the machine is shared: other work may run on its cores during the measurements"},
             {"node", node.describe()}};
  if (ch) {
    r.peer_work = fmt::format(
        "ClickHouse 18.16 (Debian), MergeTree ORDER BY Timestamp, the same CSV in {}-row INSERTs over HTTP ({:.1f} s) "
        "then OPTIMIZE TABLE T FINAL ({:.1f} s); the same queries in SQL over HTTP (wall time, client side), with "
        "max_threads=1 (per core) and the default (all cores)",
        clickhouse_insert_rows, ch_load_seconds, ch_optimize_seconds);
    peer["server"] = ch->describe();
    r.peer = peer;
  } else {
    r.peer_work = "ClickHouse missing from this run: " + ch_missing;
  }
  std::ostream& out = o.json_output ? std::cerr : std::cout;
  out << fmt::format("\n== scan: per query (M/s = million table rows per second; ratio = ours / min(loop, zstd))\n")
      << table;
  out.flush();
  return r;
}

}  // namespace tributary::bench
