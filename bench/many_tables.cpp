// `many-tables`: throughput and ack latency with 64 requests in flight, each to a random one of
// 1,000 tables, against RocksDB's own group commit of the same bytes from 64 threads. The node at
// its defaults and with Kusto's count limit (six ingests in flight per core), each alternating
// with the limit in slices so all of them see the same background load. With --protocol http or
// both, the same load also (or only) over each node's REST API, in slices of its own; with
// --peer clickhouse, ClickHouse's HTTP insert into MergeTree tables beside them.

#include <fmt/format.h>

#include <algorithm>
#include <exception>
#include <optional>
#include <thread>
#include <unordered_map>

#include "bench/clickhouse_peer.hpp"
#include "bench/http_load.hpp"
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

/// Keeps `in_flight_per_connection` requests in flight on one connection until `deadline`,
/// then waits for the last answers. `round` makes every slice's payloads and request ids new.
void drive(const std::string& address, const std::string& database,
           const std::vector<std::string>& tables, steady::time_point deadline, size_t index,
           size_t round, load_totals& stats) {
  client::connection c(address);
  load_stream stream("r", index, round, tables.size());
  std::unordered_map<std::string, steady::time_point> first_sent;
  bool connection_lost = false;
  c.ingest_pipelined(
      in_flight_per_connection,
      [&]() -> std::optional<client::ingest_request> {
        if (connection_lost || steady::now() >= deadline) return std::nullopt;
        auto next = stream.next();
        auto r = make_request(database, tables[next.table], std::move(next.body), std::move(next.request_id));
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
  std::string name;          ///< "default_in_flight", "kusto_in_flight" or "given_node"; "_http" added over HTTP
  std::string protocol;      ///< "capnp" or "http" (the node's REST API)
  std::string in_flight;     ///< the node's in-flight limit, for the report
  std::shared_ptr<node_under_test> node;  ///< shared by a node's Cap'n Proto and HTTP configurations
  std::vector<std::string> tables = {};
  load_totals all = {};
  double seconds = 0;        ///< wall time of its slices, draining included
  double cpu_seconds_busy = 0, cpu_seconds_idle = 0;  ///< the node process, in its slices / others
};

/// Runs `connections` × `in_flight_per_connection` against `c`'s node until `until` (slice
/// number `round`), adding to its statistics; returns the slice's wall time, the last answers
/// included.
double run_slice(configuration& c, steady::time_point until, size_t round) {
  if (c.protocol == "http")
    return run_http_load_slice({c.node->http_base(), http_endpoint::dialect::kusto, c.node->database()}, c.tables,
                               until, round, c.all);
  return run_load_slice({c.node->address()}, c.node->database(), c.tables, until, round, c.all);
}

/// The node's process id for /proc, 0 for a --node.
int pid_of(const configuration& c) { return c.node->process() ? c.node->process()->pid() : 0; }

json node_figures(configuration& c) {
  const auto ours = summarize(std::move(c.all.latencies_us));
  const double requests_per_s = static_cast<double>(ours.count) / c.seconds;
  return {{"protocol", c.protocol == "http" ? "http (Kusto's REST API, HTTP/1.1 keep-alive)" : "capnp"},
          {"in_flight_limit", c.in_flight},
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

/// rows/s of the configuration `name`, if the run has it.
std::optional<double> rows_per_s(const json& figures, const std::string& name) {
  if (!figures.contains(name)) return std::nullopt;
  return figures[name]["rows_per_s"].get<double>();
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

load_stream::load_stream(std::string_view id_prefix, size_t index, size_t round, size_t table_count)
    : prefix_(fmt::format("{}{}-c{}-", id_prefix, round, index)),
      generator_(100 + index + 1000 * round),
      rng_(200 + index + 1000 * round),
      pick_(0, table_count - 1) {}

load_stream::request load_stream::next() {
  request r;
  r.table = pick_(rng_);
  r.body = generator_.next();
  r.request_id = prefix_ + std::to_string(sequence_++);
  return r;
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

namespace {

// A peer's figures under its prefix ("pg_", "ch_"): what its load saw in its slices.
json peer_figures(std::string_view prefix, const latency_summary& l, const load_totals& all, double seconds,
                  double cpu_busy, double cpu_outside) {
  const auto key = [&](std::string_view what) { return fmt::format("{}{}", prefix, what); };
  return {{"seconds", rounded(seconds, 2)},
          {key("requests"), l.count},
          {key("req_per_s"), rounded(static_cast<double>(l.count) / seconds)},
          {key("rows_per_s"), rounded(static_cast<double>(all.rows) / seconds)},
          {key("mib_per_s"), rounded(static_cast<double>(all.bytes) / seconds / (1 << 20), 2)},
          {key("p50_us"), rounded(l.p50_us)},
          {key("p99_us"), rounded(l.p99_us)},
          {key("max_us"), rounded(l.max_us)},
          {key("errors"), all.errors},
          {key("cores_in_its_slices"), rounded(cpu_busy / seconds, 2)},
          {key("cpu_seconds_outside_its_slices"), rounded(cpu_outside, 2)}};
}

}  // namespace

scenario_result run_many_tables(const options& o) {
  const size_t table_count = o.tables.value_or(default_tables);
  // Two nodes when the bench starts them: one at the node's defaults (no count of ingests in
  // flight; admission by queueing delay), and one with a count limit: Kusto's six per core, or
  // the --node-arg value when given. A --node runs as it is.
  struct node_config {
    std::string name, in_flight;
    std::shared_ptr<node_under_test> node;
  };
  std::vector<node_config> nodes;
  if (!o.node.empty()) {
    nodes.push_back({"given_node", "unknown (node given by --node)", std::make_shared<node_under_test>(o, "many-tables")});
  } else {
    options as_default = o, raised = o;
    std::erase_if(as_default.node_args, is_in_flight_flag);
    if (std::none_of(o.node_args.begin(), o.node_args.end(), is_in_flight_flag))
      raised.node_args.push_back("--max-ingests-in-flight=kusto");
    std::string raised_flag;
    for (const auto& a : raised.node_args)
      if (is_in_flight_flag(a)) raised_flag = a;
    nodes.push_back({"default_in_flight",
                     "default: no count; Throttling on bytes in flight and queueing delay (--ingest-queue-target)",
                     std::make_shared<node_under_test>(as_default, "many-tables")});
    if (raised_flag == "--max-ingests-in-flight=kusto")
      raised_flag += fmt::format(" (6 per core = {})", 6 * std::max(1u, std::thread::hardware_concurrency()));
    nodes.push_back({"kusto_in_flight", raised_flag, std::make_shared<node_under_test>(raised, "many-tables")});
  }
  std::vector<std::string> tables;
  for (size_t i = 0; i < table_count; ++i) tables.push_back(fmt::format("T{}", i));
  // Each node is loaded over each protocol asked for, in slices of its own: Cap'n Proto as
  // "<node>", its REST API as "<node>_http".
  std::vector<configuration> configs;
  for (const auto& n : nodes) {
    {
      client::connection conn(n.node->address());
      create_database(conn, n.node->database(), true);
    }
    progress(fmt::format("many-tables: creating {} tables ({})", table_count, n.name));
    create_tables(n.node->address(), n.node->database(), tables, false, 4);
    if (measures_capnp(o)) configs.push_back(configuration{n.name, "capnp", n.in_flight, n.node, tables});
    if (measures_http(o)) configs.push_back(configuration{n.name + "_http", "http", n.in_flight, n.node, tables});
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
    pg_server->create_tables(tables);
    pg_load.emplace(*pg_server, tables, connections, in_flight_per_connection);
    pg_cpu_start = pg_server->cpu_seconds();
  }
  // --peer clickhouse: the same HTTP load (64 keep-alive connections, payloads, tables) as
  // INSERT ... FORMAT CSV into MergeTree tables, in slices of its own after the nodes'; new
  // connections every slice, as the nodes' clients.
  std::unique_ptr<clickhouse_server> ch;
  load_totals ch_all;
  double ch_seconds = 0, ch_cpu_busy = 0, ch_cpu_start = 0;
  if (o.peer == "clickhouse") {
    progress(fmt::format("many-tables: starting ClickHouse 18.16 with {} MergeTree tables (--peer clickhouse)",
                         table_count));
    // 64 inserts at once, plus room for the bench's own statements.
    ch = std::make_unique<clickhouse_server>(configs.front().node->scratch(), 100);
    for (const auto& t : tables)
      ch->execute(fmt::format(
          "CREATE TABLE {} (ts DateTime, host String, msg String, value Float64, n Int64) ENGINE = MergeTree ORDER BY ts",
          t));
    ch_cpu_start = ch->cpu_seconds();
  }

  // Slices: each configuration in turn, then the peer, then the limit, until each has run for
  // --duration-seconds; the order of the configurations flips every round so none always follows
  // the limit.
  const auto total = std::chrono::duration_cast<std::chrono::milliseconds>(o.duration);
  const size_t rounds = static_cast<size_t>((total + slice - std::chrono::milliseconds(1)) / slice);
  progress(fmt::format(
      "many-tables: {} rounds of {} ms: {} ({} connections x {} in flight{}), then {} threads of "
      "synced RocksDB Puts",
      rounds, slice.count(), configs.size() == 1 ? "the node" : "each node and protocol", connections,
      in_flight_per_connection, measures_http(o) ? "; over HTTP as many threads x keep-alive connections" : "",
      limit_threads));
  limit_db limit_store(configs.front().node->scratch() / "rocksdb-limit");
  concurrent_puts limit_run;
  for (size_t round = 0; round < rounds; ++round) {
    const auto length = std::min(slice, total - slice * static_cast<long>(round));
    for (size_t k = 0; k < configs.size(); ++k) {
      auto& c = configs[round % 2 ? configs.size() - 1 - k : k];
      std::vector<double> before;
      for (auto& other : configs) before.push_back(process_cpu_seconds(pid_of(other)));
      c.seconds += run_slice(c, steady::now() + length, round);
      for (size_t i = 0; i < configs.size(); ++i) {
        auto& other = configs[i];
        const double used = process_cpu_seconds(pid_of(other)) - before[i];
        if (&other == &c) other.cpu_seconds_busy += used;
        else if (other.node != c.node) other.cpu_seconds_idle += used;  // its node was not loaded
      }
    }
    if (pg_load) {
      const double cpu_before = pg_server->cpu_seconds();
      pg_seconds += pg_load->run_slice(steady::now() + length, round, pg_all);
      pg_cpu_busy += pg_server->cpu_seconds() - cpu_before;
    }
    if (ch) {
      const double cpu_before = ch->cpu_seconds();
      ch_seconds += run_http_load_slice({ch->base_url(), http_endpoint::dialect::clickhouse, ""}, tables,
                                        steady::now() + length, round, ch_all);
      ch_cpu_busy += ch->cpu_seconds() - cpu_before;
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
      "to a random table, {} s per node{} in {} ms slices alternating with the limit{}{}",
      table_count, connections, in_flight_per_connection, rows_per_request, o.duration.count(),
      o.protocol == "both" ? " and protocol" : "", slice.count(),
      nodes.size() == 2 ? "; two nodes: the defaults, and a count limit on ingests in flight (Kusto's 6 per core)" : "",
      o.protocol == "capnp"  ? ""
      : o.protocol == "http" ? "; over the nodes' REST API (HTTP/1.1 keep-alive, one request per connection at once)"
                             : "; over Cap'n Proto and over the nodes' REST API (HTTP/1.1 keep-alive, 64 connections)");
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
  for (size_t i = 1; i < configs.size(); ++i)
    r.extra["ratio_" + configs[i].name] = rounded(requests_per_s[i] / limit_writes_per_s, 3);
  // Each node over HTTP against itself over Cap'n Proto, same run (issue 11: rows/s ≥ 0.7).
  for (const auto& n : nodes) {
    const auto capnp = rows_per_s(r.figures, n.name), http = rows_per_s(r.figures, n.name + "_http");
    if (!capnp || !http) continue;
    const std::string suffix = n.name == "default_in_flight" ? "" : "_" + n.name;
    r.extra["ratio_http_vs_capnp" + suffix] = rounded(*http / *capnp, 3);
    r.extra["ratio_http_ack_p99_vs_capnp" + suffix] =
        rounded(r.figures[n.name + "_http"]["ack_p99_us"].get<double>() / r.figures[n.name]["ack_p99_us"].get<double>(), 3);
  }
  json described = json::object();
  for (const auto& n : nodes) described[n.name] = n.node->describe();
  r.extra["nodes"] = described;
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
    r.peer = peer_figures("pg_", pg, pg_all, pg_seconds, pg_cpu_busy, pg_cpu_outside);
    r.peer["ratio_vs_peer"] = rounded(requests_per_s.front() / pg_requests_per_s, 3);
    for (size_t i = 1; i < configs.size(); ++i)
      r.peer["ratio_" + configs[i].name + "_vs_peer"] = rounded(requests_per_s[i] / pg_requests_per_s, 3);
    r.peer["ratio_ack_p99_vs_peer"] =
        rounded(r.figures[configs.front().name]["ack_p99_us"].get<double>() / pg.p99_us, 3);
    r.peer["pg_vs_limit"] = rounded(pg_requests_per_s / limit_writes_per_s, 3);
    r.peer["server"] = pg_server->describe();
  }
  if (ch) {
    const double ch_cpu_outside = ch->cpu_seconds() - ch_cpu_start - ch_cpu_busy;
    const auto peer = summarize(std::move(ch_all.latencies_us));
    const double ch_rows_per_s = static_cast<double>(ch_all.rows) / ch_seconds;
    // What ClickHouse holds afterwards: every acknowledged row, in how many parts.
    const auto stored = ch->query(
        "SELECT count() AS parts, sum(rows) AS rows FROM system.parts WHERE active AND database = 'default'", 0);
    r.peer_work = fmt::format(
        "ClickHouse 18.16 over HTTP/1.1 keep-alive: {} MergeTree tables (ORDER BY ts), {} threads x {} connections "
        "with one request in flight each, the same CSV bodies to the same tables as the node's connections, one "
        "INSERT ... FORMAT CSV per request (a new part each); NOT durable at the ack: 18.16 writes a part through "
        "the page cache and has no setting to fsync it; data beside the limit's, {} s in slices after the nodes'",
        table_count, connections, in_flight_per_connection, o.duration.count());
    r.peer = peer_figures("ch_", peer, ch_all, ch_seconds, ch_cpu_busy, ch_cpu_outside);
    r.peer["durable_at_ack"] = false;
    r.peer["ch_active_parts"] = stored.data.at(0).at("parts");
    r.peer["ch_rows_stored"] = stored.data.at(0).at("rows");
    for (const auto& c : configs)
      r.peer["ratio_" + c.name + "_vs_peer"] = rounded(r.figures[c.name]["rows_per_s"].get<double>() / ch_rows_per_s, 3);
    r.peer["ratio_of"] = "rows/s of each configuration / ClickHouse's rows/s";
    r.peer["server"] = ch->describe();
  }
  return r;
}

}  // namespace tributary::bench
