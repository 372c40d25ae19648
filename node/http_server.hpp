#pragma once
/// Kusto's REST API on the node's RPC event loop (KJ's HTTP server, `kj/compat/http.h`), so that
/// Kusto's own SDKs manage, stream into and query the node unchanged
/// (reference/kusto-rest.md):
///
///   POST /v1/rest/mgmt                    {"db","csl","properties"} → v1 tables (commands)
///   POST /v2/rest/query                   → v2 frames;  POST /v1/rest/query → v1 tables
///   POST /v1/rest/ingest/{db}/{table}?streamFormat=..&mappingName=..   streaming ingest
///   GET  /v1/rest/auth/metadata           → 404 (the SDKs then skip cloud discovery)
///   GET  /v1/rest/ping, /ready            → 200 (probes)
///
/// Every call goes through the node's front_door: the same admission, limits, errors and paths
/// as over Cap'n Proto. Errors are Kusto's envelope with the status its SDKs map
/// (node/kusto_json.hpp). Bounded: connections (past the limit a new one gets 503 and is
/// closed), header time, body bytes and body time.

#include <kj/async-io.h>
#include <kj/timer.h>

#include <chrono>
#include <memory>
#include <string>

#include "monitoring/metrics.hpp"
#include "node/front_door.hpp"

namespace tributary::node {

struct http_options {
  /// host:port; empty: no HTTP endpoint.
  std::string listen;
  /// Open connections at once; past it a new connection is answered 503 and closed.
  size_t max_connections = 1000;
  /// A request's headers must arrive within this, and its body (at most 4 MiB for an ingest,
  /// 2 MiB for a command or query) within `body_timeout`.
  std::chrono::milliseconds header_timeout{15'000};
  std::chrono::milliseconds body_timeout{60'000};
  /// An idle keep-alive connection is closed after this.
  std::chrono::milliseconds idle_timeout{120'000};
};

class http_server {
 public:
  /// Counts its open connections in `probe` (tributary_rpc_connections{protocol="http"}).
  http_server(kj::Timer& timer, front_door& node, const http_options& options, monitoring::rpc_probe& probe);
  ~http_server();
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  /// Accepts connections on `port` until the promise is dropped.
  kj::Promise<void> listen(kj::ConnectionReceiver& port);
  /// Stops taking requests, finishes the ones running, closes the connections.
  kj::Promise<void> drain();
  size_t open_connections() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace tributary::node
