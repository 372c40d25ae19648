#pragma once
/// What the rest of the node may read of the cluster: the nodes that own shards and whether
/// each is live. Kept current by the cluster module's watcher (cluster/README.md); read by the
/// RPC layer for query fan-out and by `.show cluster`. Thread-safe snapshots, no blocking.

#include <cstdint>
#include <string>
#include <vector>

namespace tributary::cluster {

/// One node of the cluster as the metadata store last showed it.
struct node_info {
  std::string id;           ///< --node-id, stable across restarts
  std::string rpc_address;  ///< "host:port" of its Cap'n Proto RPC server (Tributary and Peer)
  bool live = false;        ///< holds a lease (members/<id>); a node without one is down
  uint64_t applied_version = 0;  ///< the catalog version it last reported applied
  int64_t lease_ttl_ms = -1;     ///< lease time left at the last check; -1 = not known (yet)
  bool self = false;             ///< this node
  uint64_t rowstore_bytes = 0;   ///< its rowstore at its last report (every few seconds)
};

class view {
 public:
  virtual ~view() = default;
  /// This node's id.
  virtual std::string self_id() const = 0;
  /// Every node that owns shards (registered and not dropped with `.drop cluster node`),
  /// this one included, sorted by id.
  virtual std::vector<node_info> nodes() const = 0;
};

}  // namespace tributary::cluster
