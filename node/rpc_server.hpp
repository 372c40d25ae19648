#pragma once
/// The Cap'n Proto RPC server: serves the `Tributary` interface (and, through it, the internal
/// `Peer` one) on the calling thread's KJ event loop. It never blocks that loop on the node's
/// work: every call is handed to the actor system through the gateway and answered when the
/// actors reply (cross-thread fulfiller). In a cluster the query engine sends the shard parts of a
/// query's plan to every node over Cap'n Proto (Peer.queryShard) through this loop's peer pool.

#include <chrono>
#include <functional>
#include <string>

#include "node/http_server.hpp"

namespace tributary::actors {
class gateway;
}
namespace tributary::cluster {
class view;
}
namespace tributary::monitoring {
class rpc_probe;
class ingest_probe;
}

namespace tributary::node {

/// What an ingest in flight holds besides its fields (its call, promises, messages and the table's
/// pending entry), rounded up: each counts at least this against max_ingest_bytes_in_flight, so
/// the bytes bound also bounds the count of tiny requests (65,536 at the default 256 MiB).
inline constexpr size_t ingest_overhead_bytes = 4096;

struct rpc_options {
  std::string listen = "127.0.0.1:7400";  ///< host:port; port 0 picks a free one
  std::chrono::milliseconds drain_timeout{10'000};
  /// Ingest requests being processed at once; beyond, the node answers Throttling at once.
  /// 0 = no count: what runs out is judged by bytes (below) and by queueing delay (the table
  /// actors' admission, actors/admission.hpp). Kusto's six per core is an option (--max-ingests-
  /// in-flight=kusto).
  size_t max_ingests_in_flight = 0;
  /// Request bytes (data and every other field, and at least ingest_overhead_bytes each) held by
  /// ingests in flight; beyond, Throttling. An ingest counts as in flight until it is finished
  /// inside the node, even once its caller has gone.
  size_t max_ingest_bytes_in_flight = 256u << 20;
  /// Management commands waiting for their answer at once; beyond, Throttling.
  size_t max_commands_in_flight = 20;
  /// Queries waiting for their answer at once; beyond, Throttling (Kusto: ten per core).
  size_t max_queries_in_flight = 20;
  /// Per connection, bytes of calls not yet answered before the node stops reading that
  /// connection (Cap'n Proto's flow limit): one client cannot queue calls without bound.
  size_t max_call_bytes_per_connection = 64u << 20;
  /// The cluster's nodes (cluster/view.hpp), read at each query; must outlive serve_rpc. Null,
  /// or only this node in it: queries run on this node alone. Otherwise a query fans out to
  /// every node's shard and fails with PartialQueryFailure when one is missing (unless it sets
  /// best_effort).
  const cluster::view* cluster = nullptr;
  /// The longest a call to another node may take, connecting included; past it the node's
  /// shard counts as missing.
  std::chrono::milliseconds peer_timeout{5000};
  /// Calls to one other node outstanding at once; past it that node's shard counts as missing
  /// ("overloaded").
  size_t max_calls_per_peer = 64;
  /// Kusto's REST API (node/http_server.hpp) on the same loop; `http.listen` empty: none.
  http_options http;
  /// Called once the sockets are bound, with the bound ports (HTTP's 0 when there is none).
  std::function<void(uint16_t rpc_port, uint16_t http_port)> on_listening;
};

/// Serves until SIGTERM or SIGINT (which the caller must have captured with
/// kj::UnixEventPort::captureSignal before starting any thread), then stops accepting, waits for
/// in-flight calls to finish (at most `drain_timeout`) and closes every connection.
/// Throws kj::Exception when the address cannot be bound.
void serve_rpc(const rpc_options& options, const actors::gateway& gateway,
               monitoring::rpc_probe& probe, monitoring::ingest_probe& ingest_probe);

}  // namespace tributary::node
