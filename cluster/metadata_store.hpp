#pragma once
/// The metadata store: a versioned key-value store with compare-and-swap transactions, leases
/// and watches — etcd's v3 data model (reference/cluster.md §1). Two implementations: `etcd_store`
/// (etcd's JSON gateway over libcurl; the only code that includes libcurl) and `memory_store` (an
/// in-process fake with the same semantics, for unit tests). Keys and values are raw bytes; the
/// implementations do any encoding.
///
/// Every call is blocking and thread-safe. Failures to reach the store come back as a transient
/// `model::error` with code "ClusterMetadataUnavailable" whose message names the endpoint and
/// the cause; they never throw.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "model/types.hpp"

namespace tributary::cluster {

/// One key as the store holds it.
struct key_value {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t lease = 0;  ///< 0 = none
};

/// A read of one key or of every key under a prefix, at one revision of the store.
struct range_result {
  int64_t revision = 0;  ///< the store's revision when read (header.revision)
  std::vector<key_value> kvs;
};

/// A condition of a transaction, on one key.
struct compare {
  enum class target : uint8_t {
    mod,     ///< the key's mod_revision == revision (0 = the key does not exist)
    create,  ///< the key's create_revision == revision (0 = the key does not exist)
  };
  std::string key;
  target what = target::mod;
  int64_t revision = 0;
};

/// One write of a transaction.
struct operation {
  enum class kind : uint8_t {
    put,           ///< key = value (with `lease` when non-zero)
    erase,         ///< delete key
    erase_prefix,  ///< delete every key starting with `key`
  };
  kind what = kind::put;
  std::string key;
  std::string value;
  int64_t lease = 0;
};

struct txn_result {
  bool succeeded = false;  ///< every compare held and every operation was applied
  int64_t revision = 0;    ///< the store's revision after the transaction (or when it failed)
  /// When it failed: the current state of every key named in a compare (missing keys absent).
  std::vector<key_value> current;
};

/// One change seen by a watch.
struct watch_event {
  enum class kind : uint8_t { put, erase } what = kind::put;
  key_value kv;  ///< for erase: key and mod_revision (the revision of the delete)
};

/// What a watch delivers, in revision order: the events of exactly one revision (every event of
/// one transaction under the prefix, in the transaction's order), or a progress notice (no
/// events: the store is at `revision` and every change under the prefix up to it has been
/// delivered). After any batch, watching again from `revision + 1` misses nothing.
struct watch_batch {
  int64_t revision = 0;  ///< the events' revision; for a progress notice, the store's revision
  std::vector<watch_event> events;
};

/// Why a watch ended.
struct watch_end {
  enum class reason : uint8_t {
    stopped,    ///< `stop` was set
    compacted,  ///< `from_revision` is older than the store keeps: reseed (read, then watch again)
    failed,     ///< the connection failed, the store lost its leader, or nothing (not even a
                ///< progress notice) arrived for `silence`: reseed
  } why = reason::stopped;
  int64_t compact_revision = 0;  ///< for compacted
  std::string message;           ///< for failed: what happened, naming the endpoint
};

template <class T>
using result = std::variant<T, model::error>;

class metadata_store {
 public:
  virtual ~metadata_store() = default;

  /// Linearizable read of `key` alone, or of every key starting with it when `prefix`.
  virtual result<range_result> range(const std::string& key, bool prefix) = 0;

  /// Applies `success` atomically if every compare holds; otherwise nothing, and `current`
  /// says what the compared keys hold now. A transport error leaves the outcome unknown: the
  /// caller reads back to find out (model::error, code ClusterMetadataUnavailable).
  virtual result<txn_result> txn(const std::vector<compare>& compares, const std::vector<operation>& success) = 0;

  /// Grants a lease; returns its id.
  virtual result<int64_t> grant_lease(std::chrono::seconds ttl) = 0;
  /// Renews the lease once; returns the TTL left in seconds, 0 when the lease no longer exists
  /// (expired or revoked: its keys are gone).
  virtual result<int64_t> keep_alive(int64_t lease) = 0;
  /// Revokes the lease and deletes its keys.
  virtual std::optional<model::error> revoke_lease(int64_t lease) = 0;
  /// Seconds left on the lease; 0 when it no longer exists.
  virtual result<int64_t> lease_ttl(int64_t lease) = 0;

  /// Watches every key starting with `prefix` from `from_revision` (inclusive), calling
  /// `deliver` for each batch on the calling thread, until `stop` is set (checked at least every
  /// `silence`/4), the store cancels the watch, or the connection fails or is silent for
  /// `silence`. Blocking; returns why it ended.
  virtual watch_end watch(const std::string& prefix, int64_t from_revision,
                          const std::function<void(const watch_batch&)>& deliver, const std::atomic<bool>& stop,
                          std::chrono::milliseconds silence) = 0;

  /// Discards history before `revision` (watches from before it end `compacted`). Tests and
  /// operators.
  virtual std::optional<model::error> compact(int64_t revision) = 0;

  /// The endpoints, for messages ("etcd://127.0.0.1:23791,...").
  virtual std::string describe() const = 0;
};

/// An etcd v3.4+ cluster through its JSON gateway (/v3/), e.g. "etcd://h1:2379,h2:2379". Calls
/// rotate to the next endpoint on a transport failure. Fails (permanent error naming the
/// syntax) when `url` is not of that form.
result<std::unique_ptr<metadata_store>> open_etcd(const std::string& url,
                                                  std::chrono::milliseconds call_timeout = std::chrono::seconds(2));

/// The in-process fake: etcd's semantics (revisions, CAS, leases with an injectable clock,
/// watches with history and compaction) without a network. `now` defaults to steady_clock.
std::unique_ptr<metadata_store> make_memory_store(
    std::function<std::chrono::steady_clock::time_point()> now = {});

}  // namespace tributary::cluster
