#pragma once
/// Outbound Cap'n Proto connections to the other nodes of the cluster, for query fan-out
/// (DESIGN.md §6) and the claims of retried ingests: one connection per node address, opened on
/// first use, reused, and replaced after a disconnect or any failed call. Lives on the RPC
/// server's KJ event loop thread, like everything it returns; internal to node/.

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

/// What a node answered Peer.claimIngest (cluster/README.md "Retries across nodes").
struct claim_answer {
  enum class kind : uint8_t {
    acked,    ///< it ingested the request: `consumed_records` is what its ack counted
    unknown,  ///< it never ingested the request and now never will
    error,    ///< it answered `error`
  };
  kind what = kind::unknown;
  uint64_t consumed_records = 0;
  model::error error;
};

/// What a claimIngest call to a node came to: its answer, or why there is none (as shard_call).
struct claim_call {
  std::optional<claim_answer> answer;
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

  /// Calls Peer.claimIngest(database, table, request_id, claimant) on the node at `address`.
  /// Never rejects, and counts like query_shard.
  kj::Promise<claim_call> claim_ingest(const std::string& address, std::string database, std::string table,
                                       std::string request_id, std::string claimant);

 private:
  // One call to the node at `address` through its link, with the pool's bound and timeout:
  // `send(Peer::Client&)` makes the request and reads the response into a `Result` ({answer,
  // failure}, as shard_call).
  template <class Result, class Send>
  kj::Promise<Result> call(const std::string& address, Send send);

  struct link;
  struct peer;
  kj::Promise<void> connected(peer& p);

  kj::AsyncIoProvider& io_;
  options options_;
  monitoring::rpc_probe& probe_;
  std::map<std::string, std::unique_ptr<peer>> peers_;  // by address; as many as the cluster's nodes
};

}  // namespace tributary::node
