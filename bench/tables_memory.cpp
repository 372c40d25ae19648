// `tables-memory`: what an empty table with its own streaming policy costs in node memory, and
// how long a node with that many tables takes to start.

#include <fmt/format.h>

#include <stdexcept>
#include <thread>

#include "bench/scenarios.hpp"
#include "tests/support/node_process.hpp"

namespace tributary::bench {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

constexpr size_t default_tables = 10'000;
constexpr size_t create_connections = 4;
/// Pause before reading RSS, so memory freed by the last commands is returned first.
constexpr auto settle = 1s;

size_t table_count(client::connection& c, const std::string& database) {
  return expect_ok(c.command(database, ".show tables"), ".show tables").rows.size();
}

double seconds_between(steady::time_point a, steady::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

}  // namespace

scenario_result run_tables_memory(const options& o) {
  if (!o.node.empty())
    throw std::runtime_error(
        "tables-memory reads the node's /proc/<pid>/status and restarts it: run it without --node");
  const size_t n = o.tables.value_or(default_tables);
  node_under_test node(o, "tables-memory");
  auto& process = *node.process();
  {
    client::connection c(node.address());
    create_database(c, node.database(), false);
  }
  std::this_thread::sleep_for(settle);
  const uint64_t rss_before = rss_kib(process.pid());

  std::vector<std::string> names;
  for (size_t i = 0; i < n; ++i) names.push_back(fmt::format("T{}", i));
  progress(fmt::format("tables-memory: creating {} tables, each with its own streaming policy", n));
  const auto t0 = steady::now();
  create_tables(node.address(), node.database(), names, true, create_connections);
  const double create_seconds = seconds_between(t0, steady::now());
  std::this_thread::sleep_for(settle);
  const uint64_t rss_after = rss_kib(process.pid());
  {
    client::connection c(node.address());
    if (const size_t shown = table_count(c, node.database()); shown != n)
      throw std::runtime_error(fmt::format(".show tables lists {} tables instead of {}", shown, n));
  }

  progress("tables-memory: SIGTERM, then restart on the same data dir");
  const auto t1 = steady::now();
  const int exit_status = process.stop();
  const double stop_seconds = seconds_between(t1, steady::now());
  const auto t2 = steady::now();
  process.restart();  // returns once the node's ready file appears
  const double start_seconds = seconds_between(t2, steady::now());
  std::this_thread::sleep_for(settle);
  const uint64_t rss_restarted = rss_kib(process.pid());
  size_t shown_after_restart = 0;
  {
    client::connection c(node.address());
    shown_after_restart = table_count(c, node.database());
  }

  scenario_result r;
  r.scenario = "tables-memory";
  r.work = fmt::format(
      "{} empty tables, each with .alter table policy streamingingestion enable, from {} "
      "connections; node VmRSS before and after; SIGTERM and restart",
      n, create_connections);
  r.figures = {
      {"tables", n},
      {"create_seconds", rounded(create_seconds, 2)},
      {"tables_per_s", rounded(static_cast<double>(n) / create_seconds)},
      {"rss_before_kib", rss_before},
      {"rss_after_kib", rss_after},
      {"kib_per_table", rounded((static_cast<double>(rss_after) - static_cast<double>(rss_before)) /
                                    static_cast<double>(n),
                                2)},
      {"stop_ms", rounded(stop_seconds * 1000)},
      {"stop_exit_status", exit_status},
      {"startup_ms", rounded(start_seconds * 1000)},
      {"rss_after_restart_kib", rss_restarted},
      {"tables_after_restart", shown_after_restart}};
  r.extra = {{"node", node.describe()}};
  return r;
}

}  // namespace tributary::bench
