// tributaryd: the composition root (STYLE.md). Builds the node in order — storage, metrics,
// actor system, coordinator, gateway, RPC — and stops it in reverse on SIGTERM/SIGINT.

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <caf/all.hpp>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <kj/async-unix.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <thread>
#include <sys/resource.h>
#include <unistd.h>

#include "actors/actors.hpp"
#include "actors/admission.hpp"
#include "actors/backpressure.hpp"
#include "actors/directory.hpp"
#include "actors/operations.hpp"
#include "actors/gateway.hpp"
#include "actors/query_log.hpp"
#include "actors/query_pool.hpp"
#include "cluster/member.hpp"
#include "connectors/data_connections.hpp"
#include "monitoring/metrics.hpp"
#include "node/rpc_server.hpp"
#include "storage/crash_point.hpp"
#include "storage/rowstore.hpp"
#include "storage/store.hpp"

namespace {

struct flags {
  std::string data_dir = "./data";
  std::string rpc_listen = "127.0.0.1:7400";
  std::string http_listen = "127.0.0.1:8080";
  size_t max_http_connections = 1000;
  std::vector<std::string> kafka_properties;
  std::string http_body_timeout = "60s";
  std::string http_idle_timeout = "120s";
  std::string metrics_listen = "127.0.0.1:9400";
  std::string node_name;
  std::string metadata;
  std::string cluster_name = "tributary";
  std::string node_id;
  std::string advertise_address;
  std::string catalog_staleness_bound = "2s";
  std::string catalog_sync_timeout = "5s";
  std::string peer_timeout = "5s";
  std::string streaming_ingestion = "off";
  std::string ready_file;
  std::string log_level = "info";
  unsigned threads = 0;
  std::string max_ingests_in_flight = "0";
  std::string ingest_queue_target = "5ms";
  std::string ingest_queue_interval = "100ms";
  size_t max_ingest_bytes_in_flight = 256u << 20;
  size_t max_commands_in_flight = 0;
  size_t max_queries_in_flight = 0;
  size_t max_call_bytes_per_connection = 64u << 20;
  unsigned command_timeout_ms = 60'000;
  uint64_t query_memory_limit = 0;  // 0: a quarter of the machine's memory
  std::string query_timeout = "4m";
  size_t max_queued_write_bytes = 256u << 20;
  unsigned dedup_window_seconds = 600;
  uint64_t seal_after_bytes = 16u << 20;
  unsigned max_concurrent_moves = 4;
  uint64_t memory_limit_bytes = 0;
  uint64_t disk_budget_bytes = 0;
  uint64_t rowstore_reserve_bytes = 0;
  double backpressure_cpu_high = 0.85;
  double backpressure_latency_high = 1.5;
  std::string mover_priority = "idle";
  unsigned seal_after_seconds = 60;
};

constexpr uint64_t default_rowstore_reserve_bytes = uint64_t{4} << 30;

// "2s", "500ms", "1.5s", "1m": a positive duration.
std::optional<std::chrono::milliseconds> parse_duration(const std::string& text) {
  double value = 0;
  size_t used = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  auto unit = text.substr(used);
  double ms = unit == "ms" ? value : unit == "s" ? value * 1e3 : unit == "m" ? value * 60e3 : -1;
  if (ms <= 0 || unit.empty()) return std::nullopt;
  return std::chrono::milliseconds(static_cast<int64_t>(ms));
}

CLI::Validator duration_validator() {
  return CLI::Validator(
      [](std::string& s) {
        return parse_duration(s) ? std::string() : "'" + s + "' is not a duration: write it like 2s, 500ms or 1m";
      },
      "DURATION");
}

std::string host_name() {
  char buf[256] = {};
  return gethostname(buf, sizeof buf - 1) == 0 ? std::string(buf) : std::string("tributaryd");
}

// Written atomically once the node serves RPC and metrics: tests and benchmarks wait for it.
void write_ready_file(const std::string& path, uint16_t rpc_port, uint16_t metrics_port, uint16_t http_port) {
  auto tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << "{\"rpc_port\":" << rpc_port << ",\"metrics_port\":" << metrics_port << ",\"http_port\":" << http_port
        << ",\"pid\":" << getpid() << "}\n";
  }
  std::filesystem::rename(tmp, path);
}

// Connections (RPC, HTTP, peers), RocksDB's files and extents each take a descriptor; the soft
// limit is often 1024 while the hard one allows far more. Raised to the hard limit, as servers do;
// said when it stays below what --max-http-connections alone can open.
void raise_open_file_limit(size_t max_http_connections) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  if (limit.rlim_cur < limit.rlim_max) {
    const rlim_t was = limit.rlim_cur;
    limit.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0) limit.rlim_cur = was;
  }
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < max_http_connections + 1024)
    spdlog::warn("open files are limited to {} (ulimit -n), fewer than --max-http-connections ({}) needs with "
                 "the node's own files; raise the hard limit (ulimit -Hn, LimitNOFILE=) or lower "
                 "--max-http-connections",
                 static_cast<uint64_t>(limit.rlim_cur), max_http_connections);
}

int run(const flags& f) {
  using namespace tributary;
  raise_open_file_limit(f.max_http_connections);
  // Signals must be blocked before any thread starts so that only the RPC loop receives them.
  kj::UnixEventPort::captureSignal(SIGTERM);
  kj::UnixEventPort::captureSignal(SIGINT);

  if (const char* spec = std::getenv("TRIBUTARY_CRASH_AT"); spec && *spec) {
    spdlog::warn("TRIBUTARY_CRASH_AT={}: fault injection is armed, this node will kill itself there (tests only)",
                 spec);
    storage::arm_crash_point(spec);
  }
  if (const char* spec = std::getenv("TRIBUTARY_FAIL_AT"); spec && *spec) {
    spdlog::warn("TRIBUTARY_FAIL_AT={}: failure injection is armed, operations will fail there (tests only)", spec);
    storage::arm_fail_points(spec);
  }
  auto opened = storage::store::open(f.data_dir, std::chrono::seconds(f.dedup_window_seconds));
  if (auto* e = std::get_if<model::error>(&opened)) {
    spdlog::critical("{}: {}", e->code, e->message);
    return 1;
  }
  auto store = std::move(std::get<std::unique_ptr<storage::store>>(opened));
  std::unique_ptr<monitoring::metrics> metrics;
  try {
    metrics = std::make_unique<monitoring::metrics>(f.metrics_listen, f.node_name);
  } catch (const std::exception& e) {
    spdlog::critical("cannot serve metrics on {}: {}; choose another --metrics-listen",
                     f.metrics_listen, e.what());
    return 1;
  }
  // Data connections (Kafka, Event Hubs): consumers follow the catalog from the coordinator's
  // start on, and ingest once the gateway is up. After the metrics: their series go first.
  connectors::settings connector_settings;
  for (const auto& p : f.kafka_properties) {
    const auto eq = p.find('=');
    connector_settings.consumer_properties[p.substr(0, eq)] = p.substr(eq + 1);
  }
  connector_settings.probe = &metrics->connections();
  connectors::manager connections(*store, connector_settings);

  storage::rowstore_writer writer(
      *store, {.max_queued_bytes = f.max_queued_write_bytes},
      [&probe = metrics->ingest()](const storage::commit_stats& c) {
        probe.group_commit(c.writes, c.bytes, c.duration, c.longest_wait);
      });
  actors::directory tables;
  actors::data_operations operations;
  actors::storage_usage usage;
  actors::node_env env{.store = *store,
                             .writer = writer,
                             .tables = tables,
                             .operations = operations,
                             .command_probe = metrics->commands(),
                             .catalog_probe = metrics->catalog(),
                             .ingest_probe = metrics->ingest(),
                             .dedup_window = std::chrono::seconds(f.dedup_window_seconds),
                             .streaming_on_first_start = f.streaming_ingestion == "on",
                             .data_dir = f.data_dir,
                             .seal_after_bytes = f.seal_after_bytes,
                             .seal_after_age = std::chrono::seconds(f.seal_after_seconds),
                             .controller = {},
                             .usage = usage,
                             .disk = {f.disk_budget_bytes, f.rowstore_reserve_bytes},
                             .mover_nice = f.mover_priority == "idle" ? actors::node_env::mover_idle
                                                                      : std::stoi(f.mover_priority),
                             .queries = nullptr,
                             .cluster = nullptr,
                             .node_id = f.node_name,
                             .catalog_applied = [&connections](const model::catalog& cat) { connections.apply(cat); },
                             .complete_data_connections = [&connections](model::result_table& t) { connections.complete(t); },
                             .ingestion_failures = [&connections] { return connections.failures_table(); }};
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  actors::ingest_admission admission(*parse_duration(f.ingest_queue_target), *parse_duration(f.ingest_queue_interval));
  env.admission = &admission;

  // Cluster mode: the catalog comes from the metadata store. The local catalog is brought to the
  // cluster's before anything starts, so recovery sees the tables the cluster has.
  std::unique_ptr<cluster::member> member;
  if (!f.metadata.empty()) {
    auto local = store->load_catalog();
    if (auto* e = std::get_if<model::error>(&local)) {
      spdlog::critical("{}: {}", e->code, e->message);
      return 1;
    }
    cluster::options co;
    co.metadata_url = f.metadata;
    co.cluster_name = f.cluster_name;
    co.node_id = f.node_id;
    co.data_dir = f.data_dir;
    co.staleness_bound = *parse_duration(f.catalog_staleness_bound);
    co.sync_timeout = *parse_duration(f.catalog_sync_timeout);
    co.streaming_on_first_start = f.streaming_ingestion == "on";
    co.on_reseed = [&probe = metrics->catalog()] { probe.reseeded(); };
    co.on_lease = [&probe = metrics->catalog()](bool held) { probe.lease(held); };
    auto opened_member = cluster::member::open(co, std::get<model::catalog>(local));
    if (auto* e = std::get_if<model::error>(&opened_member)) {
      spdlog::critical("cannot join cluster '{}' on {}: {}: {}", f.cluster_name, f.metadata, e->code, e->message);
      return 1;
    }
    member = std::move(std::get<std::unique_ptr<cluster::member>>(opened_member));
    const auto& seeded = *member->seeded().catalog;
    if (auto e = store->commit_catalog(seeded, cluster::diff(std::get<model::catalog>(local), seeded))) {
      spdlog::critical("{}: {}", e->code, e->message);
      return 1;
    }
    env.cluster = member.get();
    env.node_id = member->self_id();
    connections.join_cluster(
        {.self = member->self_id(),
         .read = [m = member.get()](uint64_t connection) { return m->source_records(connection); },
         .write = [m = member.get()](uint64_t connection, const std::map<std::string, std::string>& records) {
           return m->put_source_records(connection, records);
         },
         .nodes =
             [m = member.get()] {
               std::set<std::string> ids;
               for (const auto& n : m->nodes()) ids.insert(n.id);
               return ids;
             },
         .forget = [m = member.get()](uint64_t connection) { return m->erase_source_records(connection); }});
    // Nothing is ingested until the store confirms this node's catalog is current.
    tables.set_fresh_until(actors::directory::clock::time_point::min());
    spdlog::info("node '{}' of cluster '{}' on {}: catalog version {}", member->self_id(), f.cluster_name, f.metadata,
                 seeded.version);
  }

  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", f.threads ? f.threads : std::max(2u, std::thread::hardware_concurrency()));
  // CAF's default idle workers poll with 50 µs sleeps for ~25 ms before blocking; a message that
  // lands meanwhile waits for the next poll. Going from a short busy poll straight to a
  // condition variable (woken by the enqueue) answers a lone request sooner.
  cfg.set("work-stealing.moderate-poll-attempts", size_t{0});
  cfg.set("logger.file-verbosity", caf::atom("quiet"));
  cfg.set("logger.console-verbosity", caf::atom("quiet"));
  int status = 0;
  {
    caf::actor_system sys{cfg};
    actors::controller_config cc;
    cc.max_movers = std::max(1u, f.max_concurrent_moves);
    cc.memory_limit_bytes = f.memory_limit_bytes;
    cc.rowstore_quota_bytes = f.rowstore_reserve_bytes;
    cc.cpu_high = f.backpressure_cpu_high;
    // 0 turns the ack-latency signal off (pressure would start at once otherwise).
    cc.latency_high = f.backpressure_latency_high > 0 ? f.backpressure_latency_high : 1e300;
    cc.latency_full = 2 * cc.latency_high;
    auto controller = actors::spawn_controller(
        sys, cc,
        {[&s = *store] { return s.memtable_bytes(); },
         [&usage] { return usage.rowstore(); },
         [&usage] { return usage.acks.snapshot(); },
         "/proc",
         [&usage](const actors::mover_budget& b) {
           usage.ingest_throttled.store(b.throttle_ingest, std::memory_order_relaxed);
           usage.rowstore_pressed.store(b.rowstore_pressed, std::memory_order_relaxed);
         }},
        metrics->controller());
    env.controller = controller;
    // Table scans run here, not on the scheduler's workers (declared after the actor system so
    // it is destroyed first, once every actor is done).
    actors::query_pool queries(std::max(1u, cores / 2), 256);
    env.queries = &queries;
    // In a cluster, the shard parts other nodes send run on threads of their own (gateway.hpp).
    actors::query_pool shard_queries(std::max(1u, cores / 2), 256);
    auto spawned = actors::spawn_coordinator(sys, env);
    if (auto* e = std::get_if<model::error>(&spawned)) {
      spdlog::critical("{}: {}", e->code, e->message);
      return 1;
    }
    auto coordinator = std::get<actors::coordinator_actor>(spawned);
    // Supervision's top: the coordinator (and with it every database) failing leaves a node that
    // can only answer errors. It stops instead, exiting non-zero, so that its supervisor
    // (systemd, Kubernetes) starts it again from its durable state.
    std::atomic<bool> coordinator_failed{false};
    coordinator->attach_functor([&coordinator_failed, &sys](const caf::error& reason) {
      if (!reason || reason == caf::exit_reason::user_shutdown) return;
      coordinator_failed = true;
      spdlog::critical("the coordinator failed ({}); stopping the node", sys.render(reason));
      ::kill(::getpid(), SIGTERM);  // the RPC loop drains and returns
    });
    const uint64_t query_memory =
        f.query_memory_limit ? f.query_memory_limit
                             : static_cast<uint64_t>(::sysconf(_SC_PHYS_PAGES)) * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE)) / 4;
    actors::query_log query_log;
    actors::gateway gateway(sys, coordinator, tables, std::chrono::milliseconds(f.command_timeout_ms),
                            {.pool = &queries,
                             .shard_pool = &shard_queries,
                             .probe = &metrics->ingest(),
                             .metrics = &metrics->queries(),
                             .log = &query_log,
                             .memory_limit = query_memory,
                             .timeout = *parse_duration(f.query_timeout)});
    connections.start(gateway);
    try {
      node::serve_rpc(
          {.listen = f.rpc_listen,
           .max_ingests_in_flight = f.max_ingests_in_flight == "kusto" ? 6 * cores : std::stoul(f.max_ingests_in_flight),
           .max_ingest_bytes_in_flight = f.max_ingest_bytes_in_flight,
           .max_commands_in_flight = f.max_commands_in_flight ? f.max_commands_in_flight : 10 * cores,
           .max_queries_in_flight = f.max_queries_in_flight ? f.max_queries_in_flight : 10 * cores,
           .max_call_bytes_per_connection = f.max_call_bytes_per_connection,
           .cluster = member.get(),
           .peer_timeout = *parse_duration(f.peer_timeout),
           .http = {.listen = f.http_listen,
                    .max_connections = f.max_http_connections,
                    .body_timeout = *parse_duration(f.http_body_timeout),
                    .idle_timeout = *parse_duration(f.http_idle_timeout)},
           .on_listening =
               [&](uint16_t port, uint16_t http_port) {
                 spdlog::info("tributaryd '{}' ready: RPC on port {}, metrics on port {}, data in {}",
                              f.node_name, port, metrics->port(), f.data_dir);
                 spdlog::info("connect: tributary --node 127.0.0.1:{} command '.show databases'", port);
                 if (http_port)
                   spdlog::info("Kusto's REST API (Kusto's SDKs): http://{}:{}",
                                f.http_listen.substr(0, f.http_listen.rfind(':')), http_port);
                 if (member) {
                   auto host = f.rpc_listen.substr(0, f.rpc_listen.rfind(':'));
                   // Listening on every interface: other nodes reach this one by its host name.
                   if (host.empty() || host == "0.0.0.0" || host == "*" || host == "[::]") host = host_name();
                   auto advertised = f.advertise_address.empty() ? fmt::format("{}:{}", host, port) : f.advertise_address;
                   member->start(
                       advertised,
                       [coordinator](cluster::catalog_version v) {
                         caf::anon_send(coordinator, actors::catalog_atom::value, actors::catalog_message{std::move(v)});
                       },
                       [&tables](std::chrono::steady_clock::time_point until) { tables.set_fresh_until(until); },
                       [&tables](bool reachable) { tables.set_metadata_reachable(reachable); },
                       [&usage] { return usage.rowstore(); });
                 }
                 if (!f.ready_file.empty()) write_ready_file(f.ready_file, port, metrics->port(), http_port);
               }},
          gateway, metrics->rpc(), metrics->ingest());
    } catch (const kj::Exception& e) {
      spdlog::critical("RPC server on {} (HTTP on {}) failed: {}; choose another --rpc-listen or --http-listen",
                       f.rpc_listen, f.http_listen, e.getDescription().cStr());
      status = 1;
    }
    connections.stop();  // their batches in flight finish through the gateway
    gateway.stop();
    // Others see this node leave at once (its lease revoked), not after its lease runs out.
    if (member) member->stop();
    caf::anon_send_exit(coordinator, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(controller, caf::exit_reason::user_shutdown);
    sys.await_all_actors_done();  // no actor submits scans any more; ~query_pool finishes the last
    if (coordinator_failed) status = 1;
  }  // ~actor_system
  writer.stop();  // commits what the actors queued last
  spdlog::info("stopped; closing storage");
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  flags f;
  f.node_name = host_name();
  CLI::App app{"tributaryd: a streaming-ingestion node (Kusto-compatible commands, Cap'n Proto RPC)"};
  app.add_option("--data-dir", f.data_dir, "Directory for RocksDB and extents")->capture_default_str();
  app.add_option("--http-listen", f.http_listen,
                 "host:port of Kusto's REST API (Kusto's SDKs connect to http://host:port; port 0 = any free; "
                 "empty = none)")
      ->capture_default_str();
  app.add_option("--max-http-connections", f.max_http_connections,
                 "open HTTP connections at once; past it a new one is answered 503 and closed")
      ->capture_default_str();
  app.add_option("--kafka-consumer-property", f.kafka_properties,
                 "name=value: a librdkafka consumer property for every data connection's consumer (repeatable), "
                 "e.g. session.timeout.ms=10000 or ssl.ca.location=/etc/ssl/ca.pem")
      ->check(CLI::Validator(
          [](std::string& s) {
            const auto eq = s.find('=');
            return eq != std::string::npos && eq > 0 ? std::string()
                                                     : "'" + s + "' is not name=value (e.g. session.timeout.ms=10000)";
          },
          "NAME=VALUE"));
  app.add_option("--http-body-timeout", f.http_body_timeout,
                 "an HTTP request's body must arrive whole within this, else the request is refused and its "
                 "connection closed (a slow client holds no memory past it)")
      ->check(duration_validator())
      ->capture_default_str();
  app.add_option("--http-idle-timeout", f.http_idle_timeout,
                 "an idle keep-alive HTTP connection is closed after this")
      ->check(duration_validator())
      ->capture_default_str();
  app.add_option("--rpc-listen", f.rpc_listen, "host:port of the Cap'n Proto RPC server (port 0 = any free)")
      ->capture_default_str();
  app.add_option("--metrics-listen", f.metrics_listen, "host:port of the Prometheus /metrics endpoint")
      ->capture_default_str();
  app.add_option("--node-name", f.node_name, "Name of this node (default: host name)");
  app.add_option("--metadata", f.metadata,
                 "Cluster mode: the metadata store holding the cluster's catalog, etcd://host:port[,host:port...] "
                 "(etcd 3.4+). Without it the node runs alone on its local catalog");
  app.add_option("--cluster-name", f.cluster_name, "Cluster mode: the cluster's name (its keys' prefix in etcd)")
      ->capture_default_str();
  app.add_option("--node-id", f.node_id,
                 "Cluster mode: this node's stable id (default: the one its data dir was created with, else the "
                 "host name); its shards are keyed by it");
  app.add_option("--advertise-address", f.advertise_address,
                 "Cluster mode: host:port other nodes reach this node's RPC at (default: --rpc-listen's host and "
                 "the bound port)");
  app.add_option("--catalog-staleness-bound", f.catalog_staleness_bound,
                 "Cluster mode: ingest stops when the metadata store has not confirmed this node's catalog is "
                 "current for this long (e.g. 2s, 500ms)")
      ->check(duration_validator())
      ->capture_default_str();
  app.add_option("--peer-timeout", f.peer_timeout,
                 "Cluster mode: how long a call to another node (a query's shard, a retried ingest's claim) "
                 "may take, connecting included, before that node counts as unreachable")
      ->check(duration_validator())
      ->capture_default_str();
  app.add_option("--catalog-sync-timeout", f.catalog_sync_timeout,
                 "Cluster mode: how long a command waits for a live node to apply it before reporting it fenced")
      ->check(duration_validator())
      ->capture_default_str();
  app.add_option("--streaming-ingestion", f.streaming_ingestion,
                 "Cluster streaming-ingestion switch at the first start of an empty data dir")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  app.add_option("--ready-file", f.ready_file,
                 "Write {\"rpc_port\",\"metrics_port\",\"pid\"} here once ready");
  app.add_option("--max-ingests-in-flight", f.max_ingests_in_flight,
                 "Ingest requests processed at once before Throttling: a number, 0 for no count (the node "
                 "throttles on bytes in flight and on queueing delay), or 'kusto' for Kusto's 6 per core")
      ->check(CLI::Validator(
          [](std::string& s) {
            if (s == "kusto") return std::string();
            return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos && s.size() < 10
                       ? std::string()
                       : "'" + s + "' is not a count: give a number (0 = no count) or 'kusto' (6 per core)";
          },
          "N|kusto"))
      ->capture_default_str();
  app.add_option("--ingest-queue-target", f.ingest_queue_target,
                 "Queueing delay an ingest may meet before its table takes it up: once requests have waited "
                 "longer for a whole --ingest-queue-interval, those that wait longer are refused with Throttling "
                 "before they are parsed (CoDel)")
      ->check(duration_validator())
      ->capture_default_str();
  app.add_option("--ingest-queue-interval", f.ingest_queue_interval,
                 "How long queueing delays above --ingest-queue-target last before the node counts as "
                 "overloaded; also the longest any ingest waits for its turn")
      ->check(duration_validator())
      ->capture_default_str();
  app.add_option("--max-ingest-bytes-in-flight", f.max_ingest_bytes_in_flight,
                 "Request bytes held by ingests in flight before Throttling")
      ->transform(CLI::AsSizeValue(true))
      ->capture_default_str();
  app.add_option("--max-commands-in-flight", f.max_commands_in_flight,
                 "Management commands waiting for their answer at once before Throttling (default: 10 per core)");
  app.add_option("--max-queries-in-flight", f.max_queries_in_flight,
                 "Queries waiting for their answer at once before Throttling (default: 10 per core, as Kusto)");
  app.add_option("--query-memory-limit", f.query_memory_limit,
                 "Bytes one query's operators may hold (sort, summarize, join) before it fails with "
                 "QueryMemoryLimitExceeded (default: a quarter of the machine's memory)")
      ->transform(CLI::AsSizeValue(true));
  app.add_option("--query-timeout", f.query_timeout, "A query running longer fails with QueryTimeout (Kusto's 4 minutes)")
      ->check(duration_validator())
      ->capture_default_str();
  app.add_option("--max-call-bytes-per-connection", f.max_call_bytes_per_connection,
                 "Bytes of unanswered calls one connection may have before the node stops reading it "
                 "(Cap'n Proto's flow limit)")
      ->transform(CLI::AsSizeValue(true))
      ->capture_default_str();
  app.add_option("--command-timeout-ms", f.command_timeout_ms,
                 "A command not answered within this is answered CommandOutcomeUnknown (it may still "
                 "have been applied: check with .show before retrying)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--max-queued-write-bytes", f.max_queued_write_bytes,
                 "Bytes waiting for the rowstore group commit before Throttling")
      ->transform(CLI::AsSizeValue(true))
      ->capture_default_str();
  app.add_option("--dedup-window-seconds", f.dedup_window_seconds,
                 "A retried requestId within this window ingests nothing twice")
      ->capture_default_str();
  app.add_option("--seal-after-bytes", f.seal_after_bytes,
                 "Seal a table's rowstore into an extent once it holds this many bytes "
                 "(HintAllocatedRate raises it to five minutes of the hinted rate)")
      ->transform(CLI::AsSizeValue(true))
      ->capture_default_str();
  app.add_option("--seal-after-seconds", f.seal_after_seconds,
                 "Seal a table's rowstore once its oldest row is this old")
      ->capture_default_str();
  app.add_option("--max-concurrent-moves", f.max_concurrent_moves,
                 "Extent moves running at once at most (Kusto's MaximumConcurrentOperationsPerNode)")
      ->capture_default_str();
  app.add_option("--memory-limit", f.memory_limit_bytes,
                 "Process memory (RSS, bytes) above which extent movers slow down; 0 = none")
      ->transform(CLI::AsSizeValue(true))
      ->capture_default_str();
  app.add_option("--disk-budget", f.disk_budget_bytes,
                 "Disk the node's data may use (bytes, or 200GB, 1TiB...): the rowstore reserve while "
                 "streaming is on, extents in the rest; ingest past it fails with DiskBudgetExceeded. "
                 "0 = none")
      ->transform(CLI::AsSizeValue(true))
      ->capture_default_str();
  app.add_option("--rowstore-reserve,--rowstore-quota", f.rowstore_reserve_bytes,
                 "Part of the disk budget reserved for the rowstore while streaming is on: ingest is "
                 "throttled at it, movers get a guaranteed rate before it. 0 = a quarter of "
                 "--disk-budget, 4 GiB without one")
      ->transform(CLI::AsSizeValue(true))
      ->capture_default_str();
  app.add_option("--mover-priority", f.mover_priority,
                 "Extent movers' threads: 'idle' (SCHED_IDLE, only CPU nothing else wants) or a niceness "
                 "0..19; moves the controller guarantees (rowstore near its reserve) run at normal priority")
      ->check(CLI::IsMember({"idle", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14",
                             "15", "16", "17", "18", "19"}))
      ->capture_default_str();
  app.add_option("--backpressure-latency-high", f.backpressure_latency_high,
                 "Extent movers slow down once ingest acks take this many times their best mean of the last "
                 "30 s (and pause at twice as many); 0 = movers ignore ack latency")
      ->check(CLI::Validator(
          [](std::string& s) {
            try {
              const double v = std::stod(s);
              return v == 0 || v > 1 ? std::string() : "give a ratio above 1 (or 0 for off)";
            } catch (...) {
              return "'" + s + "' is not a number";
            }
          },
          "RATIO"))
      ->capture_default_str();
  app.add_option("--backpressure-cpu-high", f.backpressure_cpu_high,
                 "System CPU fraction above which extent movers slow down")
      ->capture_default_str();
  app.add_option("--threads", f.threads, "Actor scheduler threads (default: cores, at least 2)");
  app.add_option("--log-level", f.log_level, "trace|debug|info|warn|error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (f.rowstore_reserve_bytes == 0)
    f.rowstore_reserve_bytes = f.disk_budget_bytes ? f.disk_budget_bytes / 4 : default_rowstore_reserve_bytes;
  if (f.disk_budget_bytes && f.rowstore_reserve_bytes >= f.disk_budget_bytes) {
    std::cerr << "--rowstore-reserve (" << f.rowstore_reserve_bytes << " bytes) must be less than --disk-budget ("
              << f.disk_budget_bytes << " bytes): the rest is where extents live\n";
    return 2;
  }
  spdlog::set_default_logger(spdlog::stderr_color_mt("tributaryd"));
  spdlog::set_level(spdlog::level::from_str(f.log_level));
  return run(f);
}
