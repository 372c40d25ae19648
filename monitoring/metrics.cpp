#include "monitoring/metrics.hpp"

#include <netdb.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <utility>

#include "monitoring/process_collector.hpp"

#ifndef TRIBUTARY_VERSION
#define TRIBUTARY_VERSION "unknown"
#endif

namespace tributary::monitoring {
namespace {

using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;

// Family::Add takes the family's mutex and hashes every label on each call. This cache maps
// one label value to its children under a shared lock, so a hot path pays one map lookup.
// Label values come from code, not users, but a bug that leaked user text into a label would
// create unbounded series; past `max_values` distinct values everything lands in "other".
template <typename Children>
class label_cache {
 public:
  static constexpr size_t max_values = 256;

  explicit label_cache(std::function<Children(const std::string&)> make) : make_(std::move(make)) {}

  const Children& get(std::string_view value) {
    {
      std::shared_lock lock(mutex_);
      if (auto it = map_.find(value); it != map_.end()) return it->second;
    }
    std::unique_lock lock(mutex_);
    std::string key = map_.size() < max_values ? std::string(value) : std::string("other");
    auto it = map_.find(key);
    if (it == map_.end()) it = map_.emplace(key, make_(key)).first;
    return it->second;  // std::map nodes never move, so the reference outlives the lock
  }

 private:
  std::function<Children(const std::string&)> make_;
  std::shared_mutex mutex_;
  std::map<std::string, Children, std::less<>> map_;
};

// Index 0 counts successes, 1 errors.
using result_counters = std::array<Counter*, 2>;
size_t result_index(bool ok) { return ok ? 0 : 1; }

result_counters add_results(Family<Counter>& family, const std::string& label,
                            const std::string& value) {
  return {&family.Add({{label, value}, {"result", "ok"}}),
          &family.Add({{label, value}, {"result", "error"}})};
}

result_counters add_results(Family<Counter>& family, const std::map<std::string, std::string>& labels) {
  auto ok = labels, error = labels;
  ok["result"] = "ok";
  error["result"] = "error";
  return {&family.Add(ok), &family.Add(error)};
}

// 50 µs .. 10 s: an in-memory command answers in tens of microseconds, an ingest waits for a
// group-commit fsync (milliseconds), a slow fan-out query or an overloaded node takes seconds.
const Histogram::BucketBoundaries& latency_buckets() {
  static const Histogram::BucketBoundaries buckets{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                   0.005,   0.01,   0.025,   0.05,   0.1,   0.25,
                                                   0.5,     1.0,    2.5,     5.0,    10.0};
  return buckets;
}

// The host part of "host:port" / "[v6]:port", as something we can connect to.
std::string connectable_host(const std::string& listen) {
  auto colon = listen.rfind(':');
  std::string host = colon == std::string::npos ? std::string() : listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host.empty() || host == "0.0.0.0") return "127.0.0.1";
  if (host == "::") return "::1";
  return host;
}

// One connection attempt, closed at once; failures do not matter.
void poke(const std::string& host, uint16_t port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0) return;
  if (int fd = ::socket(found->ai_family, found->ai_socktype, found->ai_protocol); fd >= 0) {
    ::connect(fd, found->ai_addr, found->ai_addrlen);
    ::close(fd);
  }
  ::freeaddrinfo(found);
}

// civetweb's listener thread notices the stop flag only when its poll() returns, and that
// poll waits up to 2 s for a connection: the Exposer's destructor alone takes ~2 s, which
// every node shutdown and restart would pay. Connecting to ourselves while it stops ends the
// wait in milliseconds.
void stop_exposer(std::unique_ptr<prometheus::Exposer>& exposer, const std::string& host,
                  uint16_t port) {
  std::atomic<bool> stopped{false};
  std::thread waker([&] {
    while (!stopped.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      if (!stopped.load()) poke(host, port);
    }
  });
  exposer.reset();
  stopped = true;
  waker.join();
}

}  // namespace

// --- command_probe ---

struct command_probe::state {
  explicit state(prometheus::Registry& registry)
      : by_kind([&family = prometheus::BuildCounter()
                               .Name("tributary_commands_total")
                               .Help("Management commands executed, by kind and result.")
                               .Register(registry)](const std::string& kind) {
          return add_results(family, "kind", kind);
        }) {}
  label_cache<result_counters> by_kind;
};

command_probe::command_probe() = default;
command_probe::~command_probe() = default;

void command_probe::executed(std::string_view kind, bool ok) {
  if (state_) state_->by_kind.get(kind)[result_index(ok)]->Increment();
}

// --- rpc_probe ---

struct rpc_method_series {
  result_counters requests;
  Histogram* latency;
};

struct rpc_probe::state {
  explicit state(prometheus::Registry& registry)
      : requests(prometheus::BuildCounter()
                     .Name("tributary_rpc_requests_total")
                     .Help("Calls answered, by protocol (capnp, http: Kusto's REST API), method and result.")
                     .Register(registry)),
        latency(prometheus::BuildHistogram()
                    .Name("tributary_rpc_latency_seconds")
                    .Help("Call latency from request received to answer sent, by protocol and method.")
                    .Register(registry)),
        in_flight(prometheus::BuildGauge()
                      .Name("tributary_rpc_in_flight")
                      .Help("RPC calls received and not yet answered.")
                      .Register(registry)
                      .Add({})),
        throttled([&family = prometheus::BuildCounter()
                                 .Name("tributary_rpc_throttled_total")
                                 .Help("Commands and queries refused at once with Throttling: the node had its "
                                       "limit of them in flight, by protocol and method.")
                                 .Register(registry)](const std::string& key) {
          const auto slash = key.find('/');
          return &family.Add({{"protocol", key.substr(0, slash)}, {"method", key.substr(slash + 1)}});
        }),
        known{{{make("capnp", "command"), make("capnp", "query"), make("capnp", "ingest")},
               {make("http", "command"), make("http", "query"), make("http", "ingest")}}},
        others([this](const std::string& key) {
          const auto slash = key.find('/');
          return make(key.substr(0, slash), key.substr(slash + 1));
        }),
        connections([&family = prometheus::BuildGauge()
                                   .Name("tributary_rpc_connections")
                                   .Help("Client connections open now, by protocol.")
                                   .Register(registry)] {
          return std::array<Gauge*, 2>{&family.Add({{"protocol", "capnp"}}), &family.Add({{"protocol", "http"}})};
        }()),
        peer_calls([&family = prometheus::BuildCounter()
                                  .Name("tributary_peer_calls_total")
                                  .Help("Calls to other nodes for query fan-out (queryShard), by result: ok (answered), "
                                        "error (refused, disconnected), timeout, unavailable (not called: the node "
                                        "is down or has too many calls outstanding from this node).")
                                  .Register(registry)] {
          return std::array<Counter*, 4>{&family.Add({{"result", "ok"}}), &family.Add({{"result", "error"}}),
                                         &family.Add({{"result", "timeout"}}),
                                         &family.Add({{"result", "unavailable"}})};
        }()),
        peer_call_seconds(prometheus::BuildHistogram()
                              .Name("tributary_peer_call_seconds")
                              .Help("Duration of calls to other nodes for query fan-out, connecting included, "
                                    "until answered, failed or timed out.")
                              .Register(registry)
                              .Add({}, latency_buckets())),
        partial_failures([&family = prometheus::BuildCounter()
                                        .Name("tributary_query_partial_failures_total")
                                        .Help("Fanned-out queries that missed the shards of one or more nodes: "
                                              "failed with PartialQueryFailure (best_effort=false) or answered "
                                              "with a warning (best_effort=true).")
                                        .Register(registry)] {
          return std::array<Counter*, 2>{&family.Add({{"best_effort", "false"}}),
                                         &family.Add({{"best_effort", "true"}})};
        }()) {
    for (const char* p : {"capnp/", "http/"}) {  // from the first scrape, as 0
      throttled.get(std::string(p) + "command");
      throttled.get(std::string(p) + "query");
    }
  }

  rpc_method_series make(const std::string& protocol, const std::string& method) {
    return {add_results(requests, {{"protocol", protocol}, {"method", method}}),
            &latency.Add({{"protocol", protocol}, {"method", method}}, latency_buckets())};
  }

  static std::string_view name(rpc_probe::protocol p) { return p == rpc_probe::protocol::http ? "http" : "capnp"; }

  const rpc_method_series& series(std::string_view method, rpc_probe::protocol p) {
    static constexpr std::array<std::string_view, 3> names{"command", "query", "ingest"};
    for (size_t i = 0; i < names.size(); ++i)
      if (names[i] == method) return known[static_cast<size_t>(p)][i];
    return others.get(std::string(name(p)) + "/" + std::string(method));
  }

  Family<Counter>& requests;
  Family<Histogram>& latency;
  Gauge& in_flight;
  label_cache<Counter*> throttled;                          // "protocol/method"
  std::array<std::array<rpc_method_series, 3>, 2> known;  // [protocol][command, query, ingest]
  label_cache<rpc_method_series> others;                  // "protocol/method"
  std::array<Gauge*, 2> connections;                       // by protocol
  std::array<Counter*, 4> peer_calls;  // by rpc_probe::peer_result
  Histogram& peer_call_seconds;
  std::array<Counter*, 2> partial_failures;  // best_effort false, true
};

rpc_probe::rpc_probe() = default;
rpc_probe::~rpc_probe() = default;

void rpc_probe::finished(std::string_view method, bool ok, std::chrono::nanoseconds latency, protocol through) {
  if (!state_) return;
  const auto& s = state_->series(method, through);
  s.requests[result_index(ok)]->Increment();
  s.latency->Observe(std::chrono::duration<double>(latency).count());
}

void rpc_probe::in_flight(int delta) {
  if (state_) state_->in_flight.Increment(delta);
}

void rpc_probe::throttled(std::string_view method, protocol through) {
  if (state_) state_->throttled.get(std::string(state::name(through)) + "/" + std::string(method))->Increment();
}

void rpc_probe::connections(protocol through, int delta) {
  if (state_) state_->connections[static_cast<size_t>(through)]->Increment(delta);
}

void rpc_probe::peer_call(peer_result result, std::chrono::nanoseconds latency) {
  if (!state_) return;
  state_->peer_calls[static_cast<size_t>(result)]->Increment();
  if (result != peer_result::unavailable)
    state_->peer_call_seconds.Observe(std::chrono::duration<double>(latency).count());
}

void rpc_probe::partial_query_failure(bool best_effort) {
  if (state_) state_->partial_failures[best_effort ? 1 : 0]->Increment();
}

// --- catalog_probe ---

struct catalog_probe::state {
  explicit state(prometheus::Registry& registry)
      : version(gauge(registry, "tributary_catalog_version",
                      "Version of the catalog this node has applied; bumped by every change.")),
        databases(gauge(registry, "tributary_catalog_databases", "Databases in the catalog.")),
        tables(gauge(registry, "tributary_catalog_tables", "Tables in the catalog.")),
        actors([&family = prometheus::BuildGauge()
                              .Name("tributary_actors")
                              .Help("Live database and table actors on this node, by kind.")
                              .Register(registry)](const std::string& kind) {
          return &family.Add({{"kind", kind}});
        }),
        restarts([&family = prometheus::BuildCounter()
                                .Name("tributary_actor_restarts_total")
                                .Help("Actors that failed (an exception) and were restarted by their supervisor, "
                                      "by kind.")
                                .Register(registry)](const std::string& kind) {
          return &family.Add({{"kind", kind}});
        }),
        propagation(prometheus::BuildHistogram()
                        .Name("tributary_cluster_command_propagation_seconds")
                        .Help("Cluster mode: a management command's commit to the metadata store until every node "
                              "applied it (or was fenced).")
                        .Register(registry)
                        .Add({}, latency_buckets())),
        reseeds(prometheus::BuildCounter()
                    .Name("tributary_cluster_watch_reseeds_total")
                    .Help("Cluster mode: times the catalog watch ended (compaction, error, silence) and the "
                          "catalog was read again.")
                    .Register(registry)
                    .Add({})),
        lease_held(gauge(registry, "tributary_cluster_lease_held",
                         "Cluster mode: 1 while this node holds its membership lease in the metadata store.")),
        fenced([&family = prometheus::BuildCounter()
                              .Name("tributary_cluster_nodes_fenced_total")
                              .Help("Cluster mode: nodes a command of this node answered without (fenced), by "
                                    "reason (unreachable, behind).")
                              .Register(registry)](const std::string& reason) {
          return &family.Add({{"reason", reason}});
        }) {
    // Both kinds show from the first scrape, as 0, rather than appearing later.
    actors.get("database");
    actors.get("table");
    restarts.get("table");
  }

  static Gauge& gauge(prometheus::Registry& registry, const std::string& name,
                      const std::string& help) {
    return prometheus::BuildGauge().Name(name).Help(help).Register(registry).Add({});
  }

  Gauge& version;
  Gauge& databases;
  Gauge& tables;
  label_cache<Gauge*> actors;
  label_cache<Counter*> restarts;
  Histogram& propagation;
  Counter& reseeds;
  Gauge& lease_held;
  label_cache<Counter*> fenced;
};

void catalog_probe::propagated(std::chrono::nanoseconds took) {
  if (state_) state_->propagation.Observe(std::chrono::duration<double>(took).count());
}

void catalog_probe::reseeded() {
  if (state_) state_->reseeds.Increment();
}

void catalog_probe::lease(bool held) {
  if (state_) state_->lease_held.Set(held ? 1 : 0);
}

void catalog_probe::fenced(std::string_view reason) {
  if (state_) state_->fenced.get(reason)->Increment();
}

catalog_probe::catalog_probe() = default;
catalog_probe::~catalog_probe() = default;

void catalog_probe::version(uint64_t v) {
  if (state_) state_->version.Set(static_cast<double>(v));
}

void catalog_probe::objects(size_t databases, size_t tables) {
  if (!state_) return;
  state_->databases.Set(static_cast<double>(databases));
  state_->tables.Set(static_cast<double>(tables));
}

void catalog_probe::actors(std::string_view kind, int64_t delta) {
  if (state_) state_->actors.get(kind)->Increment(static_cast<double>(delta));
}

void catalog_probe::restarted(std::string_view kind) {
  if (state_) state_->restarts.get(kind)->Increment();
}

// --- ingest_probe ---

struct database_ingest_series {
  Counter* bytes;
  Counter* rows;
  Gauge* rowstore_bytes;
  Gauge* rowstore_rows;
};

struct ingest_probe::state {
  explicit state(prometheus::Registry& registry)
      : requests(prometheus::BuildCounter()
                     .Name("tributary_ingest_requests_total")
                     .Help("Streaming ingest requests answered, by database and result (ok, duplicate or the error code).")
                     .Register(registry)),
        by_result([this](const std::string& key) {
          auto sep = key.find('\n');
          return &requests.Add({{"database", key.substr(0, sep)}, {"result", key.substr(sep + 1)}});
        }),
        by_database([&registry](const std::string& database) {
          auto family = [&registry](const char* name, const char* help) -> auto& {
            return prometheus::BuildCounter().Name(name).Help(help).Register(registry);
          };
          auto gauge = [&registry](const char* name, const char* help) -> auto& {
            return prometheus::BuildGauge().Name(name).Help(help).Register(registry);
          };
          return database_ingest_series{
              &family("tributary_ingest_bytes_total", "Request bytes (as received) of acknowledged ingests.")
                   .Add({{"database", database}}),
              &family("tributary_ingest_rows_total", "Rows acknowledged by streaming ingest.").Add({{"database", database}}),
              &gauge("tributary_rowstore_bytes", "Bytes of this node's rowstore, by database.").Add({{"database", database}}),
              &gauge("tributary_rowstore_rows", "Rows in this node's rowstore, by database.").Add({{"database", database}})};
        }),
        latency(prometheus::BuildHistogram()
                    .Name("tributary_ingest_latency_seconds")
                    .Help("Ingest latency from the table actor receiving the request to its acknowledgement.")
                    .Register(registry)
                    .Add({}, latency_buckets())),
        in_flight(prometheus::BuildGauge()
                      .Name("tributary_ingest_in_flight")
                      .Help("Streaming ingest requests received and not yet finished inside the node.")
                      .Register(registry)
                      .Add({})),
        in_flight_bytes(prometheus::BuildGauge()
                            .Name("tributary_ingest_in_flight_bytes")
                            .Help("Request bytes held by streaming ingest requests in flight.")
                            .Register(registry)
                            .Add({})),
        abandoned(prometheus::BuildCounter()
                      .Name("tributary_ingest_abandoned_total")
                      .Help("Ingest requests dropped unparsed and unanswered: their caller had cancelled them "
                            "or disconnected.")
                      .Register(registry)
                      .Add({})),
        throttled(prometheus::BuildCounter()
                      .Name("tributary_ingest_throttled_total")
                      .Help("Ingest requests refused with Throttling: at once when the node held its limit of bytes (or count) in "
                            "flight or its write queue was full, or before parsing when they waited past the "
                            "queueing-delay target while overloaded (also in tributary_ingest_shed_total).")
                      .Register(registry)
                      .Add({})),
        commit_writes(prometheus::BuildHistogram()
                          .Name("tributary_group_commit_writes")
                          .Help("Ingest requests made durable by one synced RocksDB write (group commit).")
                          .Register(registry)
                          .Add({}, Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024})),
        commit_seconds(prometheus::BuildHistogram()
                           .Name("tributary_group_commit_seconds")
                           .Help("Duration of one synced group-commit write.")
                           .Register(registry)
                           .Add({}, latency_buckets())),
        commit_bytes(prometheus::BuildCounter()
                         .Name("tributary_group_commit_bytes_total")
                         .Help("Bytes written to the rowstore by group commits.")
                         .Register(registry)
                         .Add({})),
        commit_wait(prometheus::BuildHistogram()
                        .Name("tributary_group_commit_wait_seconds")
                        .Help("Per group commit, the longest a write of it waited in the writer's queue.")
                        .Register(registry)
                        .Add({}, latency_buckets())),
        prepare_seconds(prometheus::BuildHistogram()
                            .Name("tributary_ingest_prepare_seconds")
                            .Help("Table actor's share of an ingest: checks, dedup lookup, parsing and "
                                  "encoding, until the write is queued.")
                            .Register(registry)
                            .Add({}, latency_buckets())),
        queue_seconds(prometheus::BuildHistogram()
                          .Name("tributary_ingest_queue_seconds")
                          .Help("Ingest requests' wait from the RPC layer receiving them to their table actor "
                                "taking them up (the queueing delay that admission judges).")
                          .Register(registry)
                          .Add({}, latency_buckets())),
        answer_seconds(prometheus::BuildHistogram()
                           .Name("tributary_ingest_answer_seconds")
                           .Help("Ingest answers' hand-over from the thread that produced them (the rowstore writer "
                                 "after its group commit, or the table actor) to the RPC thread that sends them.")
                           .Register(registry)
                           .Add({}, latency_buckets())),
        shed(prometheus::BuildCounter()
                 .Name("tributary_ingest_shed_total")
                 .Help("Ingest requests refused with Throttling because they waited longer than the queueing-delay "
                       "target (--ingest-queue-target) while the node was overloaded; also in "
                       "tributary_ingest_throttled_total.")
                 .Register(registry)
                 .Add({})),
        moves(add_results(prometheus::BuildCounter()
                              .Name("tributary_extent_moves_total")
                              .Help("Extent moves (rowstore range to extent file) ended, by result; a failed move or a failed "
                                    "registration attempt (each retried after a backoff) counts as an error.")
                              .Register(registry),
                          "kind", "seal")),
        moved_bytes(prometheus::BuildCounter()
                        .Name("tributary_extent_moved_bytes_total")
                        .Help("Rowstore bytes moved into extents.")
                        .Register(registry)
                        .Add({})),
        move_seconds(prometheus::BuildHistogram()
                         .Name("tributary_extent_move_seconds")
                         .Help("Duration of one extent move, from start to registration.")
                         .Register(registry)
                         .Add({}, latency_buckets())),
        extents(prometheus::BuildGauge()
                    .Name("tributary_extent_bytes")
                    .Help("Bytes of this node's registered extent files.")
                    .Register(registry)
                    .Add({})),
        disk_budget(prometheus::BuildGauge()
                        .Name("tributary_disk_budget_bytes")
                        .Help("The node's disk budget (--disk-budget); 0 = none.")
                        .Register(registry)
                        .Add({})),
        corruptions(prometheus::BuildCounter()
                        .Name("tributary_storage_corruptions_total")
                        .Help("Reads that found corrupt data (extent file or rowstore batch); the request failed "
                              "with StorageCorruption.")
                        .Register(registry)),
        extent_capacity(prometheus::BuildGauge()
                            .Name("tributary_extent_capacity_bytes")
                            .Help("Bytes extents may use: the disk budget less the rowstore reserve while "
                                  "streaming is on (the hot cache); 0 = unlimited.")
                            .Register(registry)
                            .Add({})) {}

  Family<Counter>& requests;
  label_cache<Counter*> by_result;  // key: database '\n' result
  label_cache<database_ingest_series> by_database;
  Histogram& latency;
  Gauge& in_flight;
  Gauge& in_flight_bytes;
  Counter& abandoned;
  Counter& throttled;
  Histogram& commit_writes;
  Histogram& commit_seconds;
  Counter& commit_bytes;
  Histogram& commit_wait;
  Histogram& prepare_seconds;
  Histogram& queue_seconds;
  Histogram& answer_seconds;
  Counter& shed;
  result_counters moves;
  Counter& moved_bytes;
  Histogram& move_seconds;
  Gauge& extents;
  Gauge& disk_budget;
  Family<Counter>& corruptions;
  Gauge& extent_capacity;
};

ingest_probe::ingest_probe() = default;
ingest_probe::~ingest_probe() = default;

void ingest_probe::finished(std::string_view database, std::string_view result, uint64_t input_bytes,
                            uint64_t rows, std::chrono::nanoseconds latency) {
  if (!state_) return;
  std::string key;
  key.reserve(database.size() + result.size() + 1);
  key.append(database).push_back('\n');
  key.append(result);
  state_->by_result.get(key)->Increment();
  if (result == "ok") {
    const auto& s = state_->by_database.get(database);
    s.bytes->Increment(static_cast<double>(input_bytes));
    s.rows->Increment(static_cast<double>(rows));
    state_->latency.Observe(std::chrono::duration<double>(latency).count());
  }
}

void ingest_probe::throttled() {
  if (state_) state_->throttled.Increment();
}

void ingest_probe::in_flight(int delta) {
  if (state_) state_->in_flight.Increment(delta);
}

void ingest_probe::in_flight_bytes(int64_t delta) {
  if (state_) state_->in_flight_bytes.Increment(static_cast<double>(delta));
}

void ingest_probe::abandoned() {
  if (state_) state_->abandoned.Increment();
}

void ingest_probe::rowstore(std::string_view database, int64_t bytes_delta, int64_t rows_delta) {
  if (!state_) return;
  const auto& s = state_->by_database.get(database);
  s.rowstore_bytes->Increment(static_cast<double>(bytes_delta));
  s.rowstore_rows->Increment(static_cast<double>(rows_delta));
}

void ingest_probe::group_commit(size_t writes, size_t bytes, std::chrono::nanoseconds duration,
                                std::chrono::nanoseconds longest_wait) {
  if (!state_) return;
  state_->commit_writes.Observe(static_cast<double>(writes));
  state_->commit_seconds.Observe(std::chrono::duration<double>(duration).count());
  state_->commit_bytes.Increment(static_cast<double>(bytes));
  state_->commit_wait.Observe(std::chrono::duration<double>(longest_wait).count());
}

void ingest_probe::prepared(std::chrono::nanoseconds duration) {
  if (state_) state_->prepare_seconds.Observe(std::chrono::duration<double>(duration).count());
}

void ingest_probe::queued(std::chrono::nanoseconds duration) {
  if (state_) state_->queue_seconds.Observe(std::chrono::duration<double>(duration).count());
}

void ingest_probe::answer_handed_over(std::chrono::nanoseconds duration) {
  if (state_) state_->answer_seconds.Observe(std::chrono::duration<double>(duration).count());
}

void ingest_probe::shed() {
  if (!state_) return;
  state_->shed.Increment();
  state_->throttled.Increment();
}

// --- controller_probe ---

struct controller_probe::state {
  explicit state(prometheus::Registry& registry)
      : allowed(gauge(registry, "tributary_movers_allowed",
                      "Extent movers the backpressure controller lets run at once (0 = paused).")),
        running(gauge(registry, "tributary_movers_running", "Extent movers holding a slot now.")),
        pause(gauge(registry, "tributary_mover_pause_seconds",
                    "Pause the controller asks movers to take between blocks.")),
        throttled(gauge(registry, "tributary_ingest_throttled_by_rowstore",
                        "1 while ingest is throttled because the rowstore is near its quota.")),
        system_cpu(gauge(registry, "tributary_pressure_system_cpu_ratio",
                         "Busy fraction of all cores (smoothed), as the controller sees it.")),
        process_cpu(gauge(registry, "tributary_pressure_process_cpu_ratio",
                          "This process's fraction of all cores (smoothed).")),
        rss(gauge(registry, "tributary_pressure_rss_bytes",
                  "Resident memory of this process (smoothed), as the controller sees it.")),
        memory_limit(gauge(registry, "tributary_pressure_memory_limit_bytes",
                           "The --memory-limit RSS is held against; 0 = none.")),
        memtable(gauge(registry, "tributary_pressure_memtable_bytes",
                       "RocksDB memtable bytes (smoothed), as the controller sees it.")),
        rowstore_total(gauge(registry, "tributary_rowstore_total_bytes",
                             "Bytes in this node's rowstore, all tables.")),
        rowstore_quota(gauge(registry, "tributary_rowstore_quota_bytes",
                             "The rowstore's reserve on this node (--rowstore-reserve); 0 = none.")) {}

  static Gauge& gauge(prometheus::Registry& registry, const std::string& name,
                      const std::string& help) {
    return prometheus::BuildGauge().Name(name).Help(help).Register(registry).Add({});
  }

  Gauge& allowed;
  Gauge& running;
  Gauge& pause;
  Gauge& throttled;
  Gauge& system_cpu;
  Gauge& process_cpu;
  Gauge& rss;
  Gauge& memory_limit;
  Gauge& memtable;
  Gauge& rowstore_total;
  Gauge& rowstore_quota;
};

controller_probe::controller_probe() = default;
controller_probe::~controller_probe() = default;

void controller_probe::decided(const controller_reading& r) {
  if (!state_) return;
  auto& s = *state_;
  s.allowed.Set(r.movers_allowed);
  s.pause.Set(std::chrono::duration<double>(r.pause).count());
  s.throttled.Set(r.ingest_throttled ? 1 : 0);
  s.system_cpu.Set(r.system_cpu);
  s.process_cpu.Set(r.process_cpu);
  s.rss.Set(static_cast<double>(r.rss_bytes));
  s.memory_limit.Set(static_cast<double>(r.memory_limit_bytes));
  s.memtable.Set(static_cast<double>(r.memtable_bytes));
  s.rowstore_total.Set(static_cast<double>(r.rowstore_bytes));
  s.rowstore_quota.Set(static_cast<double>(r.rowstore_quota_bytes));
}

void controller_probe::running(uint32_t movers) {
  if (state_) state_->running.Set(movers);
}

void ingest_probe::moved(bool ok, uint64_t rowstore_bytes, std::chrono::nanoseconds duration) {
  if (!state_) return;
  state_->moves[result_index(ok)]->Increment();
  if (!ok) return;
  state_->moved_bytes.Increment(static_cast<double>(rowstore_bytes));
  state_->move_seconds.Observe(std::chrono::duration<double>(duration).count());
}

void ingest_probe::extent_bytes(int64_t delta) {
  if (state_) state_->extents.Increment(static_cast<double>(delta));
}

void ingest_probe::corruption(std::string_view what) {
  if (state_) state_->corruptions.Add({{"what", std::string(what)}}).Increment();
}

void ingest_probe::disk_budget(uint64_t budget_bytes, uint64_t extent_capacity_bytes) {
  if (!state_) return;
  state_->disk_budget.Set(static_cast<double>(budget_bytes));
  state_->extent_capacity.Set(static_cast<double>(extent_capacity_bytes));
}

// --- queries ---

struct query_probe::state {
  explicit state(prometheus::Registry& registry)
      : runs(prometheus::BuildCounter()
                 .Name("tributary_query_runs_total")
                 .Help("Queries the engine ran, by result (ok or the error code).")
                 .Register(registry)),
        seconds(prometheus::BuildHistogram()
                    .Name("tributary_query_run_seconds")
                    .Help("Time the engine took for a query, from its tables' snapshots to its result.")
                    .Register(registry)
                    .Add({}, latency_buckets())),
        cpu(counter(registry, "tributary_query_cpu_seconds_total", "CPU time queries spent in the engine.")),
        rows(counter(registry, "tributary_query_rows_scanned_total",
                     "Rows queries read (extent block groups not pruned, and the rowstore).")),
        bytes(counter(registry, "tributary_query_bytes_read_total", "Compressed extent bytes queries read.")),
        extents(prometheus::BuildCounter()
                    .Name("tributary_query_extents_total")
                    .Help("Extents queries met, scanned or pruned by their statistics.")
                    .Register(registry)),
        blocks(prometheus::BuildCounter()
                   .Name("tributary_query_blocks_total")
                   .Help("Extent block groups queries met, scanned or pruned by their statistics.")
                   .Register(registry)),
        peak_memory(prometheus::BuildHistogram()
                        .Name("tributary_query_peak_memory_bytes")
                        .Help("The most memory a query's operators held at once (sort, summarize, join).")
                        .Register(registry)
                        .Add({}, prometheus::Histogram::BucketBoundaries{1 << 16, 1 << 20, 1 << 24, 1 << 26, 1 << 28,
                                                                         1 << 30, 4.0 * (1 << 30)})) {}
  static prometheus::Counter& counter(prometheus::Registry& registry, const char* name, const char* help) {
    return prometheus::BuildCounter().Name(name).Help(help).Register(registry).Add({});
  }
  prometheus::Family<prometheus::Counter>& runs;
  prometheus::Histogram& seconds;
  prometheus::Counter& cpu;
  prometheus::Counter& rows;
  prometheus::Counter& bytes;
  prometheus::Family<prometheus::Counter>& extents;
  prometheus::Family<prometheus::Counter>& blocks;
  prometheus::Histogram& peak_memory;
};

query_probe::query_probe() = default;
query_probe::~query_probe() = default;

void query_probe::finished(const run& r) {
  if (!state_) return;
  state_->runs.Add({{"result", std::string(r.result)}}).Increment();
  state_->seconds.Observe(std::chrono::duration<double>(r.elapsed).count());
  state_->cpu.Increment(std::chrono::duration<double>(r.cpu).count());
  state_->rows.Increment(static_cast<double>(r.rows_scanned));
  state_->bytes.Increment(static_cast<double>(r.bytes_read));
  state_->extents.Add({{"outcome", "scanned"}}).Increment(static_cast<double>(r.extents_scanned));
  state_->extents.Add({{"outcome", "pruned"}}).Increment(static_cast<double>(r.extents_pruned));
  state_->blocks.Add({{"outcome", "scanned"}}).Increment(static_cast<double>(r.blocks_scanned));
  state_->blocks.Add({{"outcome", "pruned"}}).Increment(static_cast<double>(r.blocks_pruned));
  state_->peak_memory.Observe(static_cast<double>(r.peak_memory));
}

// --- metrics ---

// --- connection_probe ---

// 1 ms .. 1 min: a message is stored within tens of milliseconds when the node keeps up, and
// within seconds to minutes when it holds, lags or catches up after a restart.
const Histogram::BucketBoundaries& delivery_buckets() {
  // Finer from 50 ms to 1 s, where a data connection's delivery usually is and where an
  // objective (say p99 ≤ 200 ms) is set.
  static const Histogram::BucketBoundaries buckets{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15,
                                                   0.2,   0.25,   0.3,   0.4,  0.5,   0.75, 1.0,   2.5, 5.0,
                                                   10.0,  30.0,   60.0};
  return buckets;
}

struct connection_probe::state {
  explicit state(prometheus::Registry& registry)
      : messages(prometheus::BuildCounter()
                     .Name("tributary_connection_messages_total")
                     .Help("Messages a data connection consumed.")
                     .Register(registry)),
        bytes(prometheus::BuildCounter()
                  .Name("tributary_connection_bytes_total")
                  .Help("Bytes of the messages a data connection consumed (as received).")
                  .Register(registry)),
        records(prometheus::BuildCounter()
                    .Name("tributary_connection_records_total")
                    .Help("Records a data connection stored.")
                    .Register(registry)),
        failures(prometheus::BuildCounter()
                     .Name("tributary_connection_failures_total")
                     .Help("Messages a data connection passed over (.show ingestion failures), by error code.")
                     .Register(registry)),
        lag(prometheus::BuildGauge()
                .Name("tributary_connection_lag")
                .Help("Messages of a partition not stored yet: its end as last fetched less the stored offset.")
                .Register(registry)),
        latency(prometheus::BuildHistogram()
                    .Name("tributary_connection_produce_to_queryable_seconds")
                    .Help("From a message's timestamp to its records stored and queryable.")
                    .Register(registry)) {}
  Family<Counter>& messages;
  Family<Counter>& bytes;
  Family<Counter>& records;
  Family<Counter>& failures;
  Family<Gauge>& lag;
  Family<Histogram>& latency;
};

struct connection_probe::series::state {
  static constexpr size_t max_reasons = 32;
  connection_probe::state& families;
  std::map<std::string, std::string> labels;
  Counter* messages;
  Counter* bytes;
  Counter* records;
  Histogram* latency;
  std::map<std::string, Counter*, std::less<>> failures;
  std::map<int32_t, Gauge*> lag;
  std::vector<double> increments;  // per bucket, reused

  state(connection_probe::state& f, std::map<std::string, std::string> l)
      : families(f), labels(std::move(l)), messages(&f.messages.Add(labels)), bytes(&f.bytes.Add(labels)),
        records(&f.records.Add(labels)), latency(&f.latency.Add(labels, delivery_buckets())),
        increments(delivery_buckets().size() + 1) {}
  ~state() {
    families.messages.Remove(messages);
    families.bytes.Remove(bytes);
    families.records.Remove(records);
    families.latency.Remove(latency);
    for (auto& [reason, c] : failures) families.failures.Remove(c);
    for (auto& [partition, g] : lag) families.lag.Remove(g);
  }
};

connection_probe::series::series() = default;
connection_probe::series::~series() = default;

void connection_probe::series::consumed(uint64_t messages, uint64_t bytes) {
  if (!state_) return;
  state_->messages->Increment(static_cast<double>(messages));
  state_->bytes->Increment(static_cast<double>(bytes));
}

void connection_probe::series::stored(uint64_t records, const std::vector<double>& produce_to_queryable) {
  if (!state_) return;
  state_->records->Increment(static_cast<double>(records));
  if (produce_to_queryable.empty()) return;
  // One observation of the whole batch: the histogram's lock is taken once.
  const auto& bounds = delivery_buckets();
  std::fill(state_->increments.begin(), state_->increments.end(), 0.0);
  double sum = 0;
  for (double v : produce_to_queryable) {
    const auto bucket = std::lower_bound(bounds.begin(), bounds.end(), v) - bounds.begin();
    state_->increments[static_cast<size_t>(bucket)] += 1;
    sum += v;
  }
  state_->latency->ObserveMultiple(state_->increments, sum);
}

void connection_probe::series::failed(std::string_view reason) {
  if (!state_) return;
  auto it = state_->failures.find(reason);
  if (it == state_->failures.end()) {
    const std::string key = state_->failures.size() < state::max_reasons ? std::string(reason) : "other";
    it = state_->failures.find(key);
    if (it == state_->failures.end()) {
      auto labels = state_->labels;
      labels["reason"] = key;
      it = state_->failures.emplace(key, &state_->families.failures.Add(labels)).first;
    }
  }
  it->second->Increment();
}

void connection_probe::series::lag(int32_t partition, int64_t messages) {
  if (!state_) return;
  auto it = state_->lag.find(partition);
  if (messages < 0) {
    if (it != state_->lag.end()) {
      state_->families.lag.Remove(it->second);
      state_->lag.erase(it);
    }
    return;
  }
  if (it == state_->lag.end()) {
    auto labels = state_->labels;
    labels["partition"] = std::to_string(partition);
    it = state_->lag.emplace(partition, &state_->families.lag.Add(labels)).first;
  }
  it->second->Set(static_cast<double>(messages));
}

connection_probe::connection_probe() = default;
connection_probe::~connection_probe() = default;

std::unique_ptr<connection_probe::series> connection_probe::open(const std::string& database,
                                                                 const std::string& connection) {
  std::unique_ptr<series> s(new series());
  if (state_) s->state_ = std::make_unique<series::state>(*state_, std::map<std::string, std::string>{
                                                                        {"database", database},
                                                                        {"connection", connection}});
  return s;
}

struct metrics::impl {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::shared_ptr<process_collector> process = std::make_shared<process_collector>();
  command_probe commands;
  rpc_probe rpc;
  catalog_probe catalog;
  ingest_probe ingest;
  controller_probe controller;
  query_probe queries;
  connection_probe connections;
  uint16_t port = 0;
  std::string host;  // where to connect to reach the exposer
  // Declared last so it is destroyed first: no scrape can run while the probes go away.
  std::unique_ptr<prometheus::Exposer> exposer;
};

metrics::metrics(const std::string& listen, std::string node_name)
    : impl_(std::make_unique<impl>()) {
  auto& registry = *impl_->registry;
  impl_->commands.state_ = std::make_unique<command_probe::state>(registry);
  impl_->rpc.state_ = std::make_unique<rpc_probe::state>(registry);
  impl_->catalog.state_ = std::make_unique<catalog_probe::state>(registry);
  impl_->ingest.state_ = std::make_unique<ingest_probe::state>(registry);
  impl_->controller.state_ = std::make_unique<controller_probe::state>(registry);
  impl_->queries.state_ = std::make_unique<query_probe::state>(registry);
  impl_->connections.state_ = std::make_unique<connection_probe::state>(registry);
  prometheus::BuildGauge()
      .Name("tributary_build_info")
      .Help("Always 1; labels name the build version and this node.")
      .Register(registry)
      .Add({{"version", TRIBUTARY_VERSION}, {"node", std::move(node_name)}})
      .Set(1);
  if (listen.empty()) return;
  try {
    impl_->exposer = std::make_unique<prometheus::Exposer>(listen);
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot serve metrics on '" + listen + "': " + e.what());
  }
  auto ports = impl_->exposer->GetListeningPorts();
  if (ports.empty())
    throw std::runtime_error("cannot serve metrics on '" + listen + "': no listening port");
  impl_->port = static_cast<uint16_t>(ports.front());
  impl_->host = connectable_host(listen);
  impl_->exposer->RegisterCollectable(impl_->registry);
  impl_->exposer->RegisterCollectable(impl_->process);
}

metrics::~metrics() {
  if (impl_->exposer) stop_exposer(impl_->exposer, impl_->host, impl_->port);
}

uint16_t metrics::port() const { return impl_->port; }
command_probe& metrics::commands() { return impl_->commands; }
rpc_probe& metrics::rpc() { return impl_->rpc; }
catalog_probe& metrics::catalog() { return impl_->catalog; }
ingest_probe& metrics::ingest() { return impl_->ingest; }
controller_probe& metrics::controller() { return impl_->controller; }
query_probe& metrics::queries() { return impl_->queries; }
connection_probe& metrics::connections() { return impl_->connections; }

std::string metrics::scrape() const {
  auto families = impl_->registry->Collect();
  auto process = impl_->process->Collect();
  families.insert(families.end(), std::make_move_iterator(process.begin()),
                  std::make_move_iterator(process.end()));
  std::ostringstream out;
  prometheus::TextSerializer{}.Serialize(out, families);
  return out.str();
}

}  // namespace tributary::monitoring
