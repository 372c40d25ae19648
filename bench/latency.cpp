// `latency`: how long one client waits for a durable ack, against the synced write it needs.

#include <fmt/format.h>

#include <algorithm>
#include <optional>

#include "bench/postgres_peer.hpp"
#include "bench/rocksdb_limit.hpp"
#include "bench/scenarios.hpp"
#include "tests/support/node_process.hpp"
#include "tests/support/run_process.hpp"

namespace tributary::bench {
namespace {

constexpr size_t warmup_requests = 500;
constexpr size_t measured_requests = 5000;
/// Node, limit (and --peer) alternate in blocks of this many writes, so all see the same
/// background load of a shared machine and their ratio stays comparable from run to run.
constexpr size_t block = 500;

}  // namespace

scenario_result run_latency(const options& o) {
  node_under_test node(o, "latency");
  client::connection c(node.address());
  create_database(c, node.database(), false);
  create_tables(node.address(), node.database(), {"T"}, true, 1);
  limit_db limit(node.scratch() / "rocksdb-limit");
  // --peer postgres: its server beside the node's data, one connection, the same table.
  std::optional<postgres_server> pg_server;
  std::optional<postgres_sequential_client> pg;
  if (o.peer == "postgres") {
    progress("latency: starting PostgreSQL 15 (--peer postgres)");
    pg_server.emplace(node.scratch(), 1);
    pg_server->create_tables({"T"});
    pg.emplace(*pg_server, "T");
  }

  // The same bodies go to the node and to the limit.
  payload_generator generator(1);
  std::vector<std::string> payloads(warmup_requests + measured_requests);
  double bytes = 0;
  for (auto& p : payloads) {
    p = generator.next();
    bytes += static_cast<double>(p.size());
  }
  progress(fmt::format(
      "latency: {} + {} sequential requests, alternating with synced RocksDB Puts every {}",
      warmup_requests, measured_requests, block));
  keep_cpus_awake awake(o.keep_cpus_awake);
  // The node's own view (stage histograms, CPU) when the bench started it: scraped around the
  // measured blocks only.
  auto* process = node.process();
  auto scrape = [&] { return process ? testing::http_get(process->metrics_port(), "/metrics") : std::string(); };
  std::string metrics_before;
  double cpu_before = 0;
  std::vector<double> acks, puts, pg_inserts;
  acks.reserve(measured_requests);
  puts.reserve(measured_requests);
  if (pg) pg_inserts.reserve(measured_requests);
  for (size_t from = 0; from < payloads.size(); from += block) {
    const size_t to = std::min(payloads.size(), from + block);
    const bool measured = from >= warmup_requests;
    if (process && from == warmup_requests) {
      metrics_before = scrape();
      cpu_before = process_cpu_seconds(process->pid());
    }
    for (size_t i = from; i < to; ++i) {
      auto request = make_request(node.database(), "T", payloads[i], fmt::format("latency-{}", i));
      const auto t0 = std::chrono::steady_clock::now();
      auto answer = c.ingest(request);
      const auto t1 = std::chrono::steady_clock::now();
      expect_acked(answer, "ingest " + request.request_id);
      if (measured) acks.push_back(micros(t0, t1));
    }
    for (size_t i = from; i < to; ++i) {
      const double us = limit.synced_put_us(fmt::format("k{:08}", i), payloads[i]);
      if (measured) puts.push_back(us);
    }
    for (size_t i = from; pg && i < to; ++i) {
      const double us = pg->insert_us(payloads[i]);
      if (measured) pg_inserts.push_back(us);
    }
  }
  // The floor of any answer over this RPC stack: the same request, made invalid by 33 one-byte
  // properties (the RPC layer takes 32), is refused on the RPC thread before any actor sees it:
  // the client, loopback TCP and Cap'n Proto alone, sequentially, as the measured requests.
  std::vector<double> floor;
  for (size_t i = 0; i < block; ++i) {
    auto request = make_request(node.database(), "T", payloads[i], fmt::format("latency-floor-{}", i));
    for (int p = 0; p < 33; ++p) request.properties.emplace_back("p", "v");
    const auto t0 = std::chrono::steady_clock::now();
    auto answer = c.ingest(request);
    const auto t1 = std::chrono::steady_clock::now();
    const auto* e = std::get_if<model::error>(&answer);
    if (!e || e->code != "BadRequest_FieldTooLong")
      throw std::runtime_error("the RPC floor's request was not refused by the RPC layer: " +
                               (e ? e->code + ": " + e->message : std::string("acked")));
    floor.push_back(micros(t0, t1));
  }
  const auto rpc_floor = summarize(std::move(floor));
  const std::string metrics_after = scrape();
  const double node_cpu = process ? process_cpu_seconds(process->pid()) - cpu_before : 0;
  const auto ours = summarize(std::move(acks));
  const auto put = summarize(std::move(puts));

  scenario_result r;
  r.scenario = "latency";
  r.work = fmt::format(
      "1 client, 1 table, {} sequential requests of {} rows after {} warm-up, client-side ack time",
      measured_requests, rows_per_request, warmup_requests);
  r.figures = {{"requests", ours.count},
               {"request_bytes_mean", rounded(bytes / static_cast<double>(payloads.size()))},
               {"ack_p50_us", rounded(ours.p50_us)},
               {"ack_p99_us", rounded(ours.p99_us)},
               {"ack_p999_us", rounded(ours.p999_us)},
               {"ack_max_us", rounded(ours.max_us)},
               {"ack_mean_us", rounded(ours.mean_us)},
             {"rpc_floor_p50_us", rounded(rpc_floor.p50_us)},
             {"rpc_floor_p99_us", rounded(rpc_floor.p99_us)}};
  r.limit_work = fmt::format(
      "sequential synced RocksDB Put (WriteOptions::sync) of the same bytes, fresh DB, {}, "
      "alternating with the node every {} writes",
      node.limit_place(), block);
  r.limit = {{"put_p50_us", rounded(put.p50_us)},
             {"put_p99_us", rounded(put.p99_us)},
             {"put_p999_us", rounded(put.p999_us)}};
  r.ratio = ours.p99_us / put.p99_us;
  r.ratio_of = "ack p99 / put p99";
  r.extra = {{"ratio_p50", rounded(ours.p50_us / put.p50_us, 3)},
             {"ack_p50_minus_put_p50_us", rounded(ours.p50_us - put.p50_us)},
             {"cpus_kept_awake", o.keep_cpus_awake},
             {"node", node.describe()}};
  if (process) {
    // Where an ack's time goes, node side (means over the measured requests); what the client
    // waits beyond the RPC layer's own time is the network, Cap'n Proto and the client.
    auto stages = ingest_stage_means_us(metrics_before, metrics_after);
    if (stages.contains("rpc")) stages["client_and_network"] = rounded(ours.mean_us - stages["rpc"].get<double>(), 1);
    r.figures["node_stage_means_us"] = std::move(stages);
    // The node's CPU over the measured blocks (its idle time in the limit's blocks included).
    r.figures["node_cpu_us_per_request"] = rounded(node_cpu * 1e6 / static_cast<double>(ours.count), 1);
  }
  if (pg) {
    const auto peer = summarize(std::move(pg_inserts));
    r.peer_work = fmt::format(
        "PostgreSQL: the same bodies as one 10-row INSERT each (prepared, text parameters), "
        "sequential on 1 connection over loopback TCP, each its own transaction (fsync=on, "
        "synchronous_commit=on), data beside the node's, alternating with the node every {} writes",
        block);
    r.peer = {{"pg_p50_us", rounded(peer.p50_us)},
              {"pg_p99_us", rounded(peer.p99_us)},
              {"pg_p999_us", rounded(peer.p999_us)},
              {"pg_max_us", rounded(peer.max_us)},
              {"pg_mean_us", rounded(peer.mean_us)},
              {"ratio_vs_peer", rounded(ours.p99_us / peer.p99_us, 3)},
              {"ratio_p50_vs_peer", rounded(ours.p50_us / peer.p50_us, 3)},
              {"pg_p99_vs_limit", rounded(peer.p99_us / put.p99_us, 3)},
              {"server", pg_server->describe()}};
  }
  return r;
}

}  // namespace tributary::bench
