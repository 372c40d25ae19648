// `many-tables`: throughput and ack latency with 64 requests in flight, each to a random one of
// 1,000 tables, against RocksDB's own group commit of the same bytes from 64 threads. The node at
// its defaults and with Kusto's count limit (six ingests in flight per core), each alternating
// with the limit in slices so all of them see the same background load.

#include <fmt/format.h>

#include <algorithm>
#include <exception>
#include <optional>
#include <thread>
#include <unordered_map>

#include "bench/postgres_peer.hpp"
#include "bench/rocksdb_limit.hpp"
#include "bench/scenarios.hpp"
#include "tests/support/node_process.hpp"

namespace tributary::bench {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

constexpr size_t default_tables = 1000;
constexpr size_t connections = many_tables_connections;
constexpr size_t in_flight_per_connection = many_tables_in_flight_per_connection;
constexpr size_t limit_threads = 64;

/// What one connection saw.
/// Keeps `in_flight_per_connection` requests in flight on one connection until `deadline`,
/// then waits for the last answers. `round` makes every slice's payloads and request ids new.
void drive(const std::string& address, const std::string& database,
           const std::vector<std::string>& tables, steady::time_point deadline, size_t index,
           size_t round, load_totals& stats) {
  client::connection c(address);
  payload_generator generator(100 + index + 1000 * round);
  std::mt19937_64 rng(200 + index + 1000 * round);
  std::uniform_int_distribution<size_t> pick(0, tables.size() - 1);
  std::unordered_map<std::string, steady::time_point> first_sent;
  uint64_t sequence = 0;
  bool connection_lost = false;
  c.ingest_pipelined(
      in_flight_per_connection,
      [&]() -> std::optional<client::ingest_request> {
        if (connection_lost || steady::now() >= deadline) return std::nullopt;
        auto r = make_request(database, tables[pick(rng)], generator.next(),
                              fmt::format("r{}-c{}-{}", round, index, sequence++));
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

/// Node and limit alternate in slices of this length (the last one shorter), so both see the
/// same background load of a shared machine, as `latency` alternates them in blocks of writes.
constexpr std::chrono::milliseconds slice{2000};

bool is_in_flight_flag(const std::string& a) { return a.rfind("--max-ingests-in-flight", 0) == 0; }

/// One node configuration of the run: its node and what the connections saw in its slices.
struct configuration {
  std::string name;          ///< "default_in_flight", "kusto_in_flight" or "given_node"
  std::string in_flight;     ///< the node's in-flight limit, for the report
  std::unique_ptr<node_under_test> node;
  std::vector<std::string> tables = {};
  load_totals all = {};
  double seconds = 0;        ///< wall time of its slices, draining included
  double cpu_seconds_busy = 0, cpu_seconds_idle = 0;  ///< the node process, in its slices / others
};

/// Runs `connections` × `in_flight_per_connection` against `c`'s node until `until` (slice
/// number `round`), adding to its statistics; returns the slice's wall time, the last answers
/// included.
double run_slice(configuration& c, steady::time_point until, size_t round) {
  return run_load_slice({c.node->address()}, c.node->database(), c.tables, until, round, c.all);
}

json node_figures(configuration& c) {
  const auto ours = summarize(std::move(c.all.latencies_us));
  const double requests_per_s = static_cast<double>(ours.count) / c.seconds;
  return {{"in_flight_limit", c.in_flight},
          {"seconds", rounded(c.seconds, 2)},
          {"requests", ours.count},
          {"requests_per_s", rounded(requests_per_s)},
          {"rows_per_s", rounded(static_cast<double>(c.all.rows) / c.seconds)},
          {"mib_per_s", rounded(static_cast<double>(c.all.bytes) / c.seconds / (1 << 20), 2)},
          {"ack_p50_us", rounded(ours.p50_us)},
          {"ack_p99_us", rounded(ours.p99_us)},
          {"ack_max_us", rounded(ours.max_us)},
          {"throttled_answers", c.all.throttled},
          {"errors", c.all.errors},
          {"node_cores_in_its_slices", rounded(c.cpu_seconds_busy / c.seconds, 2)},
          {"node_cpu_us_per_request", rounded(c.cpu_seconds_busy * 1e6 / static_cast<double>(std::max<size_t>(1, ours.count)), 1)},
          {"node_cpu_seconds_while_idle", rounded(c.cpu_seconds_idle, 2)}};
}

}  // namespace

double run_load_slice(const std::vector<std::string>& addresses, const std::string& database,
                      const std::vector<std::string>& tables, steady::time_point until,
                      size_t round, load_totals& into) {
  return run_on_threads(
      connections,
      [&](size_t i, load_totals& stats) {
        drive(addresses[i % addresses.size()], database, tables, until, i, round, stats);
      },
      into);
}

double run_on_threads(size_t threads, const std::function<void(size_t, load_totals&)>& drive, load_totals& into) {
  struct thread_totals : load_totals {
    std::exception_ptr failure;
  };
  std::vector<thread_totals> stats(threads);
  std::vector<std::thread> running;
  const auto start = steady::now();
  for (size_t i = 0; i < threads; ++i)
    running.emplace_back([&, i] {
      try {
        drive(i, stats[i]);
      } catch (...) {
        stats[i].failure = std::current_exception();
      }
    });
  for (auto& t : running) t.join();
  const double seconds = std::chrono::duration<double>(steady::now() - start).count();
  for (auto& s : stats) {
    if (s.failure) std::rethrow_exception(s.failure);
    into.latencies_us.insert(into.latencies_us.end(), s.latencies_us.begin(), s.latencies_us.end());
    into.rows += s.rows;
    into.bytes += s.bytes;
    into.throttled += s.throttled;
    for (const auto& [code, n] : s.errors) into.errors[code] += n;
  }
  return seconds;
}

scenario_result run_many_tables(const options& o) {
  const size_t table_count = o.tables.value_or(default_tables);
  // Two nodes when the bench starts them: one at the node's defaults (no count of ingests in
  // flight; admission by queueing delay), and one with a count limit: Kusto's six per core, or
  // the --node-arg value when given. A --node runs as it is.
  std::vector<configuration> configs;
  if (!o.node.empty()) {
    configs.emplace_back(configuration{"given_node", "unknown (node given by --node)",
                                       std::make_unique<node_under_test>(o, "many-tables")});
  } else {
    options as_default = o, raised = o;
    std::erase_if(as_default.node_args, is_in_flight_flag);
    if (std::none_of(o.node_args.begin(), o.node_args.end(), is_in_flight_flag))
      raised.node_args.push_back("--max-ingests-in-flight=kusto");
    std::string raised_flag;
    for (const auto& a : raised.node_args)
      if (is_in_flight_flag(a)) raised_flag = a;
    configs.emplace_back(configuration{
        "default_in_flight",
        "default: no count; Throttling on bytes in flight and queueing delay (--ingest-queue-target)",
        std::make_unique<node_under_test>(as_default, "many-tables")});
    if (raised_flag == "--max-ingests-in-flight=kusto")
      raised_flag += fmt::format(" (6 per core = {})", 6 * std::max(1u, std::thread::hardware_concurrency()));
    configs.emplace_back(configuration{"kusto_in_flight", raised_flag,
                                       std::make_unique<node_under_test>(raised, "many-tables")});
  }
  for (auto& c : configs) {
    {
      client::connection conn(c.node->address());
      create_database(conn, c.node->database(), true);
    }
    for (size_t i = 0; i < table_count; ++i) c.tables.push_back(fmt::format("T{}", i));
    progress(fmt::format("many-tables: creating {} tables ({})", table_count, c.name));
    create_tables(c.node->address(), c.node->database(), c.tables, false, 4);
  }

  // --peer postgres: the same load (connections x in flight, payloads, tables) against PostgreSQL
  // beside the limit's RocksDB (same filesystem), in slices of its own after the nodes' in every
  // round; connections stay open across slices.
  std::optional<postgres_server> pg_server;
  std::optional<postgres_load> pg_load;
  load_totals pg_all;
  double pg_seconds = 0, pg_cpu_busy = 0, pg_cpu_start = 0;
  if (o.peer == "postgres") {
    progress(fmt::format("many-tables: starting PostgreSQL 15 with {} tables (--peer postgres)",
                         table_count));
    pg_server.emplace(configs.front().node->scratch(), connections);
    pg_server->create_tables(configs.front().tables);
    pg_load.emplace(*pg_server, configs.front().tables, connections, in_flight_per_connection);
    pg_cpu_start = pg_server->cpu_seconds();
  }

  // Slices: each node in turn, then the limit, until each has run for --duration-seconds; the
  // order of the nodes flips every round so neither always follows the limit.
  const auto total = std::chrono::duration_cast<std::chrono::milliseconds>(o.duration);
  const size_t rounds = static_cast<size_t>((total + slice - std::chrono::milliseconds(1)) / slice);
  progress(fmt::format(
      "many-tables: {} rounds of {} ms: {} ({} connections x {} in flight), then {} threads of "
      "synced RocksDB Puts",
      rounds, slice.count(), configs.size() == 1 ? "the node" : "each node", connections,
      in_flight_per_connection, limit_threads));
  limit_db limit_store(configs.front().node->scratch() / "rocksdb-limit");
  concurrent_puts limit_run;
  for (size_t round = 0; round < rounds; ++round) {
    const auto length = std::min(slice, total - slice * static_cast<long>(round));
    for (size_t k = 0; k < configs.size(); ++k) {
      auto& c = configs[round % 2 ? configs.size() - 1 - k : k];
      std::vector<double> before;
      for (auto& other : configs)
        before.push_back(process_cpu_seconds(other.node->process() ? other.node->process()->pid() : 0));
      c.seconds += run_slice(c, steady::now() + length, round);
      for (size_t i = 0; i < configs.size(); ++i) {
        auto& other = configs[i];
        const double used =
            process_cpu_seconds(other.node->process() ? other.node->process()->pid() : 0) - before[i];
        (&other == &c ? other.cpu_seconds_busy : other.cpu_seconds_idle) += used;
      }
    }
    if (pg_load) {
      const double cpu_before = pg_server->cpu_seconds();
      pg_seconds += pg_load->run_slice(steady::now() + length, round, pg_all);
      pg_cpu_busy += pg_server->cpu_seconds() - cpu_before;
    }
    auto part = concurrent_synced_puts(limit_store, limit_threads, length, round);
    limit_run.writes += part.writes;
    limit_run.bytes += part.bytes;
    limit_run.seconds += part.seconds;
    limit_run.latencies_us.insert(limit_run.latencies_us.end(), part.latencies_us.begin(),
                                  part.latencies_us.end());
  }
  const double limit_writes_per_s = static_cast<double>(limit_run.writes) / limit_run.seconds;
  const double limit_mib_per_s =
      static_cast<double>(limit_run.bytes) / limit_run.seconds / (1 << 20);
  const auto limit = summarize(std::move(limit_run.latencies_us));

  scenario_result r;
  r.scenario = "many-tables";
  r.work = fmt::format(
      "{} tables (database streaming policy), {} connections x {} in flight, {} rows per request "
      "to a random table, {} s per node in {} ms slices alternating with the limit{}",
      table_count, connections, in_flight_per_connection, rows_per_request, o.duration.count(),
      slice.count(),
      configs.size() == 2 ? "; two nodes: the defaults, and a count limit on ingests in flight (Kusto's 6 per core)" : "");
  r.figures = {{"tables", table_count}, {"slices_per_node", rounds}};
  std::vector<double> requests_per_s;
  for (auto& c : configs) {
    auto f = node_figures(c);
    requests_per_s.push_back(f["requests_per_s"].get<double>());
    r.figures[c.name] = std::move(f);
  }
  r.limit_work = fmt::format(
      "{} threads of synced RocksDB Puts of ~1 KiB (RocksDB group commit), fresh DB, {}, {} s in "
      "slices alternating with the node(s)",
      limit_threads, configs.front().node->limit_place(), o.duration.count());
  r.limit = {{"seconds", rounded(limit_run.seconds, 2)},
             {"writes_per_s", rounded(limit_writes_per_s)},
             {"mib_per_s", rounded(limit_mib_per_s, 2)},
             {"put_p50_us", rounded(limit.p50_us)},
             {"put_p99_us", rounded(limit.p99_us)}};
  r.ratio = requests_per_s.front() / limit_writes_per_s;
  r.ratio_of = fmt::format("requests/s ({}) / limit writes/s", configs.front().name);
  if (configs.size() == 2) r.extra["ratio_kusto_in_flight"] = rounded(requests_per_s[1] / limit_writes_per_s, 3);
  json nodes = json::object();
  for (const auto& c : configs) nodes[c.name] = c.node->describe();
  r.extra["nodes"] = nodes;
  if (pg_load) {
    const double pg_cpu_outside = pg_server->cpu_seconds() - pg_cpu_start - pg_cpu_busy;
    const auto pg = summarize(std::move(pg_all.latencies_us));
    const double pg_requests_per_s = static_cast<double>(pg.count) / pg_seconds;
    r.peer_work = fmt::format(
        "PostgreSQL: {} tables, {} connections x {} in flight (libpq pipeline mode), the same "
        "payloads to the same tables as the node's connections, one prepared 10-row INSERT per "
        "request, each its own transaction (fsync=on, synchronous_commit=on), data beside the "
        "limit's, {} s in slices after the nodes'",
        table_count, connections, in_flight_per_connection, o.duration.count());
    r.peer = {
        {"seconds", rounded(pg_seconds, 2)},
        {"pg_requests", pg.count},
        {"pg_req_per_s", rounded(pg_requests_per_s)},
        {"pg_rows_per_s", rounded(static_cast<double>(pg_all.rows) / pg_seconds)},
        {"pg_mib_per_s", rounded(static_cast<double>(pg_all.bytes) / pg_seconds / (1 << 20), 2)},
        {"pg_p50_us", rounded(pg.p50_us)},
        {"pg_p99_us", rounded(pg.p99_us)},
        {"pg_max_us", rounded(pg.max_us)},
        {"pg_errors", pg_all.errors},
        {"pg_cores_in_its_slices", rounded(pg_cpu_busy / pg_seconds, 2)},
        {"pg_cpu_seconds_outside_its_slices", rounded(pg_cpu_outside, 2)},
        {"ratio_vs_peer", rounded(requests_per_s.front() / pg_requests_per_s, 3)}};
    if (configs.size() == 2)
      r.peer["ratio_kusto_in_flight_vs_peer"] = rounded(requests_per_s[1] / pg_requests_per_s, 3);
    r.peer["ratio_ack_p99_vs_peer"] =
        rounded(r.figures[configs.front().name]["ack_p99_us"].get<double>() / pg.p99_us, 3);
    r.peer["pg_vs_limit"] = rounded(pg_requests_per_s / limit_writes_per_s, 3);
    r.peer["server"] = pg_server->describe();
  }
  return r;
}

}  // namespace tributary::bench
