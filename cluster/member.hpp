#pragma once
/// The cluster module's front door (cluster/README.md): one `member` per node in cluster mode.
/// It keeps the node's view of the catalog, membership and acknowledgements on the metadata
/// store (etcd), and is the coordinator's only way to it:
///
///   open()          reads the store, checks this data dir may join, seeds the catalog
///   start()         registers the node (lease), starts the watcher and the freshness loop
///   commit()        one compare-and-swap transaction per management command
///   report_applied  after the coordinator applied a version
///   await_acks()    answers once every node applied a version or is provably fenced
///
/// Layout of the store under `/tributary/<cluster>/` (reference/cluster.md §5.1):
///   catalog/version            "42": the CAS target of every command
///   catalog/meta               {"next_id":…}: cluster-wide object ids
///   catalog/cluster            {"streaming":"enabled|disabled"}
///   catalog/db/<id>            a database (storage's catalog JSON)
///   catalog/table/<db>/<id>    a table
///   catalog/log/<v, 20 digits> {"command":…,"node":…,"at":…}, the last 1000
///   nodes/<node>               {"rpc":…}: shard owners (persistent until .drop cluster node)
///   members/<node>             {"rpc":…,"pid":…} under the node's lease: live nodes
///   applied/<node>             "42": the version the node last applied
///   sources/<conn>/<p>/<node>  "held" | "released <next offset>": data connections' partitions
///                              changing nodes (docs/data-connections.md), written at handovers

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cluster/metadata_store.hpp"
#include "cluster/view.hpp"
#include "model/catalog.hpp"

namespace tributary::cluster {

struct options {
  std::string metadata_url;  ///< etcd://h1:2379,h2:2379
  std::string cluster_name;
  std::string node_id;  ///< empty: the one persisted in the data dir
  std::filesystem::path data_dir;
  /// A node ingests only while a read of the catalog version, sent less than this long ago,
  /// showed nothing newer than what it applied (reference/cluster.md §5.4).
  std::chrono::milliseconds staleness_bound{2000};
  /// How long a command waits for a live node's acknowledgement before reporting it fenced.
  std::chrono::milliseconds sync_timeout{5000};
  std::chrono::seconds lease_ttl{10};
  /// The catalog's switch when this node creates the cluster's catalog.
  bool streaming_on_first_start = false;
  /// Metrics hooks (any thread): the watch was reseeded; the lease was gained or lost.
  std::function<void()> on_reseed;
  std::function<void(bool)> on_lease;
};

/// A catalog version as the store holds it: the catalog and the revision at which its version
/// key was written (the next command's compare).
struct catalog_version {
  std::shared_ptr<const model::catalog> catalog;
  int64_t revision = 0;
};

/// One node's answer to a version.
struct node_ack {
  std::string node_id;
  enum class status : uint8_t { applied, fenced_unreachable, fenced_behind } state = status::applied;
  uint64_t applied_version = 0;
};
std::string describe(const node_ack& a);

/// The outcome of a command's transaction.
struct commit_result {
  bool committed = false;  ///< false: another command changed the catalog first; re-run
  uint64_t version = 0;    ///< committed: the new version
  std::chrono::steady_clock::time_point at;  ///< when the store answered
};

class member final : public view {
 public:
  /// Connects to the store and reads the cluster. Refuses (permanent error, with the fix) a data
  /// dir of another cluster or node id, or a single-node data dir with a catalog when the
  /// cluster already has one. Creates the cluster's catalog when there is none: `local` (the
  /// data dir's catalog) when it has objects, else an empty one. Transient error when the store
  /// cannot be reached.
  static result<std::unique_ptr<member>> open(const options& o, const model::catalog& local);
  /// The same over a given store (tests: make_memory_store()).
  static result<std::unique_ptr<member>> open(const options& o, const model::catalog& local,
                                              std::unique_ptr<metadata_store> store);
  ~member() override;

  /// The catalog read by open(): the node's catalog must be brought to it before it serves.
  const catalog_version& seeded() const;

  /// Registers the node (nodes/, members/ under a lease), then follows the store: every new
  /// catalog version goes to `on_version` (from the watcher's thread, in order; after a reseed
  /// the whole catalog again), `on_fresh` gets each extension of the freshness bound,
  /// `on_reachable` whether the last read of the store succeeded, and `rowstore_bytes` is
  /// published with each lease renewal (`.show cluster`).
  void start(std::string rpc_address, std::function<void(catalog_version)> on_version,
             std::function<void(std::chrono::steady_clock::time_point)> on_fresh,
             std::function<void(bool)> on_reachable, std::function<uint64_t()> rowstore_bytes);

  /// Commits `after` (the catalog after a command, version bumped once) if the catalog is still
  /// at the version whose key has revision `expected_revision`.
  result<commit_result> commit(int64_t expected_revision, const model::catalog& after,
                               const std::vector<model::change>& changes, const std::string& command);

  /// The node applied `version`: published for the nodes awaiting acknowledgements.
  void report_applied(uint64_t version);

  /// Calls `done` (from a cluster thread) once every registered node applied `version`, or is
  /// fenced: without a lease and `staleness_bound` past `committed`, or still behind
  /// `sync_timeout` after it.
  void await_acks(uint64_t version, std::chrono::steady_clock::time_point committed,
                  std::function<void(std::vector<node_ack>)> done);

  /// The catalog version the store holds now (a linearizable read, ~1–2 ms): whether a miss in
  /// this node's catalog may be a change still on its way.
  result<uint64_t> store_version();

  /// Forgets a node for good (`.drop cluster node`): its shards are no longer expected.
  std::optional<model::error> drop_node(const std::string& id);

  /// Data connections' partition records (docs/data-connections.md "Across the cluster"): under
  /// sources/<connection>/, key "<partition>/<node>" → what that node's consumer wrote there
  /// ("held", "released <next offset>", "released"). Written only when a partition changes
  /// hands, never per batch. A linearizable read.
  result<std::map<std::string, std::string>> source_records(uint64_t connection);
  /// Writes this node's records of `connection` ("<partition>" → value), 64 to a transaction.
  std::optional<model::error> put_source_records(uint64_t connection,
                                                 const std::map<std::string, std::string>& records);
  /// Erases every node's records of `connection` (dropped: its id is never used again).
  std::optional<model::error> erase_source_records(uint64_t connection);

  /// Leaves the cluster: revokes the lease (others see the node gone at once), stops threads.
  void stop();

  std::string self_id() const override;
  std::vector<node_info> nodes() const override;

 private:
  struct impl;
  explicit member(std::unique_ptr<impl> i);
  std::unique_ptr<impl> impl_;
};

/// What `to` changed against `from`, as the coordinator's `follow` and storage's commit expect
/// them (objects named by id; renames are a delete and a put).
std::vector<model::change> diff(const model::catalog& from, const model::catalog& to);

}  // namespace tributary::cluster
