// `latency`: how long one client waits for a durable ack, against the synced write it needs; over
// Cap'n Proto, over HTTP (Kusto's REST API), or both in alternating blocks of the same run.

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <optional>

#include "bench/http_load.hpp"
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
  // --protocol http / both: one keep-alive connection to the node's REST API, the same table.
  std::optional<http_connection> http;
  if (measures_http(o)) http.emplace(http_endpoint{node.http_base(), http_endpoint::dialect::kusto, node.database()});
  // --peer postgres: its server beside the node's data, one connection, the same table.
  std::optional<postgres_server> pg_server;
  std::optional<postgres_sequential_client> pg;
  if (o.peer == "clickhouse") progress("latency: --peer clickhouse runs in many-tables only; none here");
  if (o.peer == "postgres") {
    progress("latency: starting PostgreSQL 15 (--peer postgres)");
    pg_server.emplace(node.scratch(), 1);
    pg_server->create_tables({"T"});
    pg.emplace(*pg_server, "T");
  }

  // The same bodies go to the node (over each protocol) and to the limit.
  payload_generator generator(1);
  std::vector<std::string> payloads(warmup_requests + measured_requests);
  double bytes = 0;
  for (auto& p : payloads) {
    p = generator.next();
    bytes += static_cast<double>(p.size());
  }
  progress(fmt::format(
      "latency: {} + {} sequential requests{}, alternating with synced RocksDB Puts every {}",
      warmup_requests, measured_requests,
      o.protocol == "both" ? " over Cap'n Proto and over HTTP" : o.protocol == "http" ? " over HTTP" : "", block));
  keep_cpus_awake awake(o.keep_cpus_awake);
  // The node's own view (stage histograms, CPU) when the bench started it: scraped around each
  // measured block, so that each protocol's stages and CPU come from its own blocks only.
  auto* process = node.process();
  auto scrape = [&] { return process ? testing::http_get(process->metrics_port(), "/metrics") : std::string(); };
  struct node_side {
    ingest_stages stages;
    double cpu_seconds = 0;
  };
  node_side capnp_side{ingest_stages("capnp")}, http_side{ingest_stages("http")};
  // Runs one block of the node's requests, observed (when measured and the node is ours).
  auto observed = [&](bool measured, node_side& side, const std::function<void()>& run) {
    if (!process || !measured) return run();
    const auto before = scrape();
    const double cpu = process_cpu_seconds(process->pid());
    run();
    side.cpu_seconds += process_cpu_seconds(process->pid()) - cpu;
    side.stages.add(before, scrape());
  };
  std::vector<double> acks, http_acks, puts, pg_inserts;
  acks.reserve(measured_requests);
  http_acks.reserve(measured_requests);
  puts.reserve(measured_requests);
  if (pg) pg_inserts.reserve(measured_requests);
  for (size_t from = 0; from < payloads.size(); from += block) {
    const size_t to = std::min(payloads.size(), from + block);
    const bool measured = from >= warmup_requests;
    if (measures_capnp(o))
      observed(measured, capnp_side, [&] {
        for (size_t i = from; i < to; ++i) {
          auto request = make_request(node.database(), "T", payloads[i], fmt::format("latency-{}", i));
          const auto t0 = std::chrono::steady_clock::now();
          auto answer = c.ingest(request);
          const auto t1 = std::chrono::steady_clock::now();
          expect_acked(answer, "ingest " + request.request_id);
          if (measured) acks.push_back(micros(t0, t1));
        }
      });
    // The same bodies again over HTTP, under ids of their own (the node would answer a known id
    // from its dedup record without writing).
    if (http)
      observed(measured, http_side, [&] {
        for (size_t i = from; i < to; ++i) {
          const double us = http->ingest_us("T", payloads[i], fmt::format("latency-http-{}", i));
          if (measured) http_acks.push_back(us);
        }
      });
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
  for (size_t i = 0; measures_capnp(o) && i < block; ++i) {
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
  // HTTP's floor: GET /v1/rest/ping on the same keep-alive connection, answered by the HTTP
  // server alone (libcurl, loopback TCP, KJ's HTTP parser and an answer of 15 bytes).
  std::vector<double> http_floor;
  for (size_t i = 0; http && i < block; ++i) http_floor.push_back(http->get_us("/v1/rest/ping"));
  const auto put = summarize(std::move(puts));

  scenario_result r;
  r.scenario = "latency";
  r.work = fmt::format(
      "1 client, 1 table, {} sequential requests of {} rows after {} warm-up, client-side ack time{}",
      measured_requests, rows_per_request, warmup_requests,
      o.protocol == "both"   ? "; over Cap'n Proto and over HTTP (Kusto's REST API, one keep-alive connection), in "
                               "alternating blocks"
      : o.protocol == "http" ? "; over HTTP (Kusto's REST API, one keep-alive connection)"
                             : "");
  r.figures = {{"requests", measures_capnp(o) ? acks.size() : http_acks.size()},
               {"request_bytes_mean", rounded(bytes / static_cast<double>(payloads.size()))}};
  std::optional<latency_summary> ours, over_http;
  // One protocol's acks and floor, under its prefix ("" for Cap'n Proto, "http_").
  auto report = [&r](std::string_view prefix, std::string_view floor_name, std::vector<double> samples,
                     std::vector<double> floor_samples) {
    const auto acked = summarize(std::move(samples));
    const auto lowest = summarize(std::move(floor_samples));
    const auto key = [&](std::string_view what) { return fmt::format("{}{}", prefix, what); };
    r.figures[key("ack_p50_us")] = rounded(acked.p50_us);
    r.figures[key("ack_p99_us")] = rounded(acked.p99_us);
    r.figures[key("ack_p999_us")] = rounded(acked.p999_us);
    r.figures[key("ack_max_us")] = rounded(acked.max_us);
    r.figures[key("ack_mean_us")] = rounded(acked.mean_us);
    r.figures[fmt::format("{}_p50_us", floor_name)] = rounded(lowest.p50_us);
    r.figures[fmt::format("{}_p99_us", floor_name)] = rounded(lowest.p99_us);
    return acked;
  };
  if (measures_capnp(o)) ours = report("", "rpc_floor", std::move(acks), std::move(floor));
  if (http) over_http = report("http_", "http_floor", std::move(http_acks), std::move(http_floor));
  r.limit_work = fmt::format(
      "sequential synced RocksDB Put (WriteOptions::sync) of the same bytes, fresh DB, {}, "
      "alternating with the node every {} writes",
      node.limit_place(), block);
  r.limit = {{"put_p50_us", rounded(put.p50_us)},
             {"put_p99_us", rounded(put.p99_us)},
             {"put_p999_us", rounded(put.p999_us)}};
  // The headline ratio is Cap'n Proto's unless only HTTP ran.
  const auto& headline = ours ? *ours : *over_http;
  r.ratio = headline.p99_us / put.p99_us;
  r.ratio_of = ours ? "ack p99 / put p99" : "HTTP ack p99 / put p99";
  r.extra = {{"ratio_p50", rounded(headline.p50_us / put.p50_us, 3)},
             {"ack_p50_minus_put_p50_us", rounded(headline.p50_us - put.p50_us)}};
  if (ours && over_http) {
    // issue 11: HTTP p99 / Cap'n Proto p99 ≤ 1.3, same run, same node.
    r.extra["ratio_http_p99_vs_capnp_p99"] = rounded(over_http->p99_us / ours->p99_us, 3);
    r.extra["ratio_http_p50_vs_capnp_p50"] = rounded(over_http->p50_us / ours->p50_us, 3);
    r.extra["http_p99_vs_put_p99"] = rounded(over_http->p99_us / put.p99_us, 3);
  }
  r.extra["protocol"] = o.protocol;
  r.extra["cpus_kept_awake"] = o.keep_cpus_awake;
  r.extra["node"] = node.describe();
  if (process) {
    // Where an ack's time goes, node side (means over the measured requests); what the client
    // waits beyond the RPC layer's own time is the network, the protocol and the client.
    auto node_view = [&](node_side& side, const latency_summary& s, const char* stages_key, const char* cpu_key) {
      auto stages = side.stages.means_us();
      if (stages.contains("rpc")) stages["client_and_network"] = rounded(s.mean_us - stages["rpc"].get<double>(), 1);
      r.figures[stages_key] = std::move(stages);
      // The node's CPU in this protocol's measured blocks.
      r.figures[cpu_key] = rounded(side.cpu_seconds * 1e6 / static_cast<double>(std::max<size_t>(1, s.count)), 1);
    };
    if (ours) node_view(capnp_side, *ours, "node_stage_means_us", "node_cpu_us_per_request");
    if (over_http) node_view(http_side, *over_http, "http_node_stage_means_us", "http_node_cpu_us_per_request");
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
              {"ratio_vs_peer", rounded(headline.p99_us / peer.p99_us, 3)},
              {"ratio_p50_vs_peer", rounded(headline.p50_us / peer.p50_us, 3)},
              {"pg_p99_vs_limit", rounded(peer.p99_us / put.p99_us, 3)},
              {"server", pg_server->describe()}};
    if (over_http && ours) r.peer["ratio_http_vs_peer"] = rounded(over_http->p99_us / peer.p99_us, 3);
  }
  return r;
}

}  // namespace tributary::bench
