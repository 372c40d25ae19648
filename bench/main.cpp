// tributary-bench: runs the scenarios of BENCHMARKS.md against a node it starts (or --node) and
// prints each as a table and, with --json, as one JSON object per line. See bench/README.md.

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <functional>
#include <iostream>

#include "bench/scenarios.hpp"

namespace {

/// The command line as typed, quoted where a shell would need it.
std::string command_line(int argc, char** argv) {
  std::string out;
  for (int i = 0; i < argc; ++i) {
    std::string_view a = argv[i];
    const bool plain =
        !a.empty() && a.find_first_of(" \t\n'\"\\$`|&;<>()*?[]{}~!#") == std::string_view::npos;
    if (i) out += ' ';
    if (plain) {
      out += a;
    } else {
      out += '\'';
      for (char c : a) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
      out += '\'';
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace tributary::bench;
  options o;
  o.command_line = command_line(argc, argv);
  std::string scenario = "all";
  int duration_seconds = 20;
  size_t tables = 0;
  uint64_t scan_rows = 10'000'000;
  uint64_t kafka_messages = 60'000;
  int kafka_tables = 1;
  CLI::App app{
      "tributary-bench: the load generator of BENCHMARKS.md; each scenario measures its limit in "
      "the same run"};
  app.add_option("--scenario", scenario, "Scenario to run")
      ->check(CLI::IsMember(
          {"latency", "many-tables", "visibility", "tables-memory", "seal", "scan", "cluster", "kafka", "all"}))
      ->capture_default_str();
  app.add_option("--node", o.node,
                 "host:port of a running node (default: start tributaryd in a fresh data dir)");
  app.add_option("--node-arg", o.node_args,
                 "Extra tributaryd flag when the benchmark starts the node, e.g. "
                 "--node-arg=--max-ingests-in-flight=64")
      ->allow_extra_args(false);
  app.add_option(
      "--data-root", o.data_root,
      "Directory for the node's data and the limits' RocksDB (default: the temp directory)");
  app.add_option("--duration-seconds", duration_seconds,
                 "many-tables run time, and the limit's; cluster: the load's time on each side")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--tables", tables,
                 "Tables for many-tables and cluster (default 1000) and tables-memory (default "
                 "10000)")
      ->check(CLI::PositiveNumber);
  app.add_option("--seal-mib", o.seal_mib,
                 "MiB of CSV loaded into the rowstore by seal (default 200)")
      ->check(CLI::PositiveNumber);
  app.add_option("--scan-rows", scan_rows,
                 "scan: rows in the table (the last 5% stay in the rowstore; default 10000000)")
      ->check(CLI::Range(uint64_t{100'000}, uint64_t{1'000'000'000}))
      ->capture_default_str();
  app.add_option("--kafka-messages", kafka_messages,
                 "kafka: ~1 KiB messages in the topic(s) before the data connections start; librdkafka's mock "
                 "broker keeps 5 MiB per partition: at most ~4,400 per partition (70000 in 16)")
      ->check(CLI::Range(uint64_t{1'000}, uint64_t{1'000'000}))
      ->capture_default_str();
  app.add_option("--kafka-tables", kafka_tables,
                 "kafka: tables, each fed by its own data connection from its own topic of 16 / N partitions "
                 "(at least one)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_option("--commands", o.commands,
                 "cluster: schema changes sent at node 1, each measured (default 200)")
      ->check(CLI::PositiveNumber);
  app.add_option("--queries", o.queries,
                 "cluster: `T | count` queries at node 1 and at the one node, each (default 500)")
      ->check(CLI::PositiveNumber);
  app.add_option("--peer", o.peer,
                 "latency, many-tables: also start this system and run the same load against it "
                 "in the same run (installs it with bench/setup-postgres when missing); "
                 "clickhouse: many-tables only, ClickHouse 18.16's HTTP insert into MergeTree")
      ->check(CLI::IsMember({"postgres", "clickhouse"}));
  app.add_option("--protocol", o.protocol,
                 "latency, many-tables: the node's Cap'n Proto RPC (capnp), its REST API over HTTP/1.1 "
                 "keep-alive (http: Kusto's POST /v1/rest/ingest), or both in the same run")
      ->check(CLI::IsMember({"capnp", "http", "both"}))
      ->capture_default_str();
  app.add_option("--node-http", o.node_http,
                 "host:port of --node's REST API (its --http-listen), for --protocol http or both");
  app.add_flag("--cpu-hog", o.cpu_hog,
               "seal: a busy-loop process runs beside the node during the move (and a latency "
               "run with it alone)");
  app.add_flag("--keep-awake", o.keep_cpus_awake,
               "latency, visibility, cluster: SCHED_IDLE spinners keep CPUs out of idle, for VMs whose "
               "idle vCPUs learn of a finished fsync late (see bench/README.md); off by default");
  app.add_flag("--json", o.json_output,
               "One JSON object per scenario on stdout; tables go to stderr");
  CLI11_PARSE(app, argc, argv);
  o.duration = std::chrono::seconds(duration_seconds);
  if (tables) o.tables = tables;

  const std::vector<std::pair<std::string, std::function<scenario_result(const options&)>>>
      scenarios = {{"latency", run_latency},
                   {"many-tables", run_many_tables},
                   {"visibility", run_visibility},
                   {"tables-memory", run_tables_memory},
                   {"seal", run_seal},
                   {"scan", [&](const options& opts) { return run_scan(opts, scan_rows); }},
                   {"cluster", run_cluster},
                   {"kafka", [&](const options& opts) { return run_kafka(opts, kafka_messages, kafka_tables); }}};
  int failures = 0;
  for (const auto& [name, run] : scenarios) {
    if (scenario != "all" && scenario != name) continue;
    try {
      report(run(o), o);
    } catch (const std::exception& e) {
      std::cerr << fmt::format("{}: FAILED: {}\n", name, e.what());
      ++failures;
    }
  }
  return failures ? 1 : 0;
}
