// `many-tables`: throughput and ack latency with 64 requests in flight, each to a random one of
// 1,000 tables, against RocksDB's own group commit of the same bytes from 64 threads.

#include <fmt/format.h>

#include <exception>
#include <map>
#include <thread>
#include <unordered_map>

#include "bench/rocksdb_limit.hpp"
#include "bench/scenarios.hpp"

namespace tributary::bench {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

constexpr size_t default_tables = 1000;
constexpr size_t connections = 8;
constexpr size_t in_flight_per_connection = 8;
constexpr size_t limit_threads = 64;

/// What one connection saw.
struct connection_stats {
  std::vector<double> latencies_us;  // first send → ack, retries included
  uint64_t rows = 0;
  uint64_t bytes = 0;
  uint64_t throttled = 0;                  // Throttling answers (each retried)
  std::map<std::string, uint64_t> errors;  // requests that failed, by code
  std::exception_ptr failure;
};

/// Keeps `in_flight_per_connection` requests in flight on one connection until `deadline`,
/// then waits for the last answers.
void drive(const node_under_test& node, const std::vector<std::string>& tables,
           steady::time_point deadline, size_t index, connection_stats& stats) {
  client::connection c(node.address());
  payload_generator generator(100 + index);
  std::mt19937_64 rng(200 + index);
  std::uniform_int_distribution<size_t> pick(0, tables.size() - 1);
  std::unordered_map<std::string, steady::time_point> first_sent;
  uint64_t sequence = 0;
  bool connection_lost = false;
  c.ingest_pipelined(
      in_flight_per_connection,
      [&]() -> std::optional<client::ingest_request> {
        if (connection_lost || steady::now() >= deadline) return std::nullopt;
        auto r = make_request(node.database(), tables[pick(rng)], generator.next(),
                              fmt::format("c{}-{}", index, sequence++));
        first_sent.emplace(r.request_id, steady::now());
        return r;
      },
      [&](const client::ingest_request& r,
          const client::ingest_outcome& o) -> std::optional<std::chrono::milliseconds> {
        if (const auto* e = std::get_if<model::error>(&o)) {
          if (e->code == "Throttling") {
            ++stats.throttled;
            return throttled_retry_delay;
          }
          ++stats.errors[e->code];
          connection_lost = connection_lost || e->code == "ConnectionFailed";
          first_sent.erase(r.request_id);
          return std::nullopt;
        }
        const auto& ack = std::get<client::ingest_ack>(o);
        if (auto sent = first_sent.extract(r.request_id))
          stats.latencies_us.push_back(micros(sent.mapped(), steady::now()));
        stats.rows += ack.consumed_records;
        stats.bytes += r.data.size();
        return std::nullopt;
      });
}

std::string in_flight_limit(const options& o) {
  for (const auto& a : o.node_args)
    if (a.rfind("--max-ingests-in-flight", 0) == 0) return a;
  if (!o.node.empty()) return "unknown (node given by --node)";
  return fmt::format("default: 6 per core = {}",
                     6 * std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace

scenario_result run_many_tables(const options& o) {
  const size_t table_count = o.tables.value_or(default_tables);
  node_under_test node(o, "many-tables");
  {
    client::connection c(node.address());
    create_database(c, node.database(), true);
  }
  std::vector<std::string> tables;
  for (size_t i = 0; i < table_count; ++i) tables.push_back(fmt::format("T{}", i));
  progress(fmt::format("many-tables: creating {} tables", table_count));
  create_tables(node.address(), node.database(), tables, false, 4);

  progress(fmt::format("many-tables: {} connections x {} in flight for {} s", connections,
                       in_flight_per_connection, o.duration.count()));
  std::vector<connection_stats> stats(connections);
  std::vector<std::thread> threads;
  const auto start = steady::now();
  const auto deadline = start + o.duration;
  for (size_t i = 0; i < connections; ++i)
    threads.emplace_back([&, i] {
      try {
        drive(node, tables, deadline, i, stats[i]);
      } catch (...) {
        stats[i].failure = std::current_exception();
      }
    });
  for (auto& t : threads) t.join();
  const double seconds = std::chrono::duration<double>(steady::now() - start).count();
  connection_stats all;
  for (auto& s : stats) {
    if (s.failure) std::rethrow_exception(s.failure);
    all.latencies_us.insert(all.latencies_us.end(), s.latencies_us.begin(), s.latencies_us.end());
    all.rows += s.rows;
    all.bytes += s.bytes;
    all.throttled += s.throttled;
    for (const auto& [code, n] : s.errors) all.errors[code] += n;
  }
  const auto ours = summarize(std::move(all.latencies_us));
  const double requests_per_s = static_cast<double>(ours.count) / seconds;

  progress(fmt::format("many-tables: limit, {} threads of synced RocksDB Puts for {} s",
                       limit_threads, o.duration.count()));
  auto limit_run =
      concurrent_synced_puts(node.scratch() / "rocksdb-limit", limit_threads, o.duration);
  const double limit_writes_per_s = static_cast<double>(limit_run.writes) / limit_run.seconds;
  const double limit_mib_per_s =
      static_cast<double>(limit_run.bytes) / limit_run.seconds / (1 << 20);
  const auto limit = summarize(std::move(limit_run.latencies_us));

  scenario_result r;
  r.scenario = "many-tables";
  r.work = fmt::format(
      "{} tables (database streaming policy), {} connections x {} in flight, {} rows per request "
      "to a random table, {} s",
      table_count, connections, in_flight_per_connection, rows_per_request, o.duration.count());
  r.figures = {{"tables", table_count},
               {"seconds", rounded(seconds, 2)},
               {"requests", ours.count},
               {"requests_per_s", rounded(requests_per_s)},
               {"rows_per_s", rounded(static_cast<double>(all.rows) / seconds)},
               {"mib_per_s", rounded(static_cast<double>(all.bytes) / seconds / (1 << 20), 2)},
               {"ack_p50_us", rounded(ours.p50_us)},
               {"ack_p99_us", rounded(ours.p99_us)},
               {"ack_max_us", rounded(ours.max_us)},
               {"throttled_answers", all.throttled},
               {"errors", all.errors}};
  r.limit_work = fmt::format(
      "{} threads of synced RocksDB Puts of ~1 KiB (RocksDB group commit), fresh DB, {}, {} s",
      limit_threads, node.limit_place(), o.duration.count());
  r.limit = {{"writes_per_s", rounded(limit_writes_per_s)},
             {"mib_per_s", rounded(limit_mib_per_s, 2)},
             {"put_p50_us", rounded(limit.p50_us)},
             {"put_p99_us", rounded(limit.p99_us)}};
  r.ratio = requests_per_s / limit_writes_per_s;
  r.ratio_of = "requests/s / limit writes/s";
  r.extra = {{"node_in_flight_limit", in_flight_limit(o)}, {"node", node.describe()}};
  return r;
}

}  // namespace tributary::bench
