#pragma once
/// Outbound Cap'n Proto connections to the other nodes of the cluster, for query fan-out
/// (DESIGN.md §6): one connection per node address, opened on first use, reused, and replaced
/// after a disconnect or any failed call. Lives on the RPC server's KJ event loop thread, like
/// everything it returns; internal to node/.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <kj/async-io.h>

#include "model/types.hpp"

namespace tributary::monitoring {
class rpc_probe;
}

namespace tributary::node {

/// What a queryShard call to a node came to: the node's answer (which may be an error it
/// answered), or why there is none ("not reachable: ...", "timed out after 5000 ms",
/// "overloaded: ...").
struct shard_call {
  std::optional<model::outcome> answer;
  std::string failure;  ///< set when `answer` is not
};

class peer_pool {
 public:
  struct options {
    /// The longest a call may take, connecting included.
    std::chrono::milliseconds timeout{5000};
    /// Calls outstanding to one node; past it the node counts as missing ("overloaded").
    size_t max_outstanding_per_peer = 64;
    /// Traversal limit of the answers read (the server's own, so a shard's largest answer fits).
    uint64_t max_message_words = 8u << 20;
  };

  /// `io` and `probe` must outlive the pool; the pool must outlive every promise it returned.
  peer_pool(kj::AsyncIoProvider& io, options opts, monitoring::rpc_probe& probe);
  ~peer_pool();
  peer_pool(const peer_pool&) = delete;
  peer_pool& operator=(const peer_pool&) = delete;

  /// Calls Peer.queryShard(database, text) on the node serving RPC at `address` ("host:port").
  /// Never rejects: a failed call resolves to a `shard_call` with its reason. Counts the call
  /// in tributary_peer_calls_total and tributary_peer_call_seconds.
  kj::Promise<shard_call> query_shard(const std::string& address, std::string database, std::string text);

 private:
  struct link;
  struct peer;
  kj::Promise<void> connected(peer& p);

  kj::AsyncIoProvider& io_;
  options options_;
  monitoring::rpc_probe& probe_;
  std::map<std::string, std::unique_ptr<peer>> peers_;  // by address; as many as the cluster's nodes
};

}  // namespace tributary::node
