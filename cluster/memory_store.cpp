// The in-process metadata store: etcd's semantics (reference/cluster.md §1) under one mutex.
// Leases run on the injected clock; watch waits and progress notices run on the real steady
// clock, since a fake clock cannot wake a waiting thread.

#include <fmt/format.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>

#include "cluster/metadata_store.hpp"

namespace tributary::cluster {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

class memory_store final : public metadata_store {
 public:
  explicit memory_store(std::function<steady::time_point()> now) : now_(std::move(now)) {
    if (!now_) now_ = [] { return steady::now(); };
  }

  result<range_result> range(const std::string& key, bool prefix) override {
    std::lock_guard lock(mutex_);
    expire_locked();
    range_result r{revision_, {}};
    if (!prefix) {
      if (auto it = kvs_.find(key); it != kvs_.end()) r.kvs.push_back(view(*it));
      return r;
    }
    for (auto it = kvs_.lower_bound(key); it != kvs_.end() && it->first.starts_with(key); ++it)
      r.kvs.push_back(view(*it));
    return r;
  }

  result<txn_result> txn(const std::vector<compare>& compares,
                         const std::vector<operation>& success) override {
    std::lock_guard lock(mutex_);
    expire_locked();
    if (!std::all_of(compares.begin(), compares.end(),
                     [&](const compare& c) { return holds(c); })) {
      txn_result r{false, revision_, {}};
      std::set<std::string> seen;
      for (const compare& c : compares)
        if (auto it = kvs_.find(c.key); seen.insert(c.key).second && it != kvs_.end())
          r.current.push_back(view(*it));
      return r;
    }
    if (auto refused = check_locked(success)) return std::move(*refused);
    const int64_t revision = revision_ + 1;
    bool changed = false;
    for (const operation& op : success) {
      switch (op.what) {
        case operation::kind::put: {
          auto [it, created] = kvs_.try_emplace(op.key);
          entry& e = it->second;
          if (created) e.create_revision = revision;
          detach_locked(it->first, e.lease);
          e.value = op.value;
          e.mod_revision = revision;
          e.lease = op.lease;
          if (op.lease != 0) leases_.at(op.lease).keys.insert(op.key);
          history_.push_back({revision, watch_event{watch_event::kind::put, view(*it)}});
          changed = true;
          break;
        }
        case operation::kind::erase:
          if (auto it = kvs_.find(op.key); it != kvs_.end()) {
            erase_locked(it, revision);
            changed = true;
          }
          break;
        case operation::kind::erase_prefix:
          for (auto it = kvs_.lower_bound(op.key);
               it != kvs_.end() && it->first.starts_with(op.key);) {
            it = erase_locked(it, revision);
            changed = true;
          }
          break;
      }
    }
    // Like etcd, a transaction that changes nothing does not make a revision.
    if (changed) {
      revision_ = revision;
      changed_.notify_all();
    }
    return txn_result{true, revision_, {}};
  }

  result<int64_t> grant_lease(std::chrono::seconds ttl) override {
    std::lock_guard lock(mutex_);
    expire_locked();
    ttl = std::max<std::chrono::seconds>(ttl, 1s);
    int64_t id = next_lease_++;
    leases_.emplace(id, lease_entry{ttl, now_() + ttl, {}});
    return id;
  }

  result<int64_t> keep_alive(int64_t lease) override {
    std::lock_guard lock(mutex_);
    expire_locked();
    auto it = leases_.find(lease);
    if (it == leases_.end()) return int64_t{0};
    it->second.deadline = now_() + it->second.ttl;
    return static_cast<int64_t>(it->second.ttl.count());
  }

  std::optional<model::error> revoke_lease(int64_t lease) override {
    std::lock_guard lock(mutex_);
    expire_locked();
    if (auto it = leases_.find(lease); it != leases_.end()) revoke_locked(it);
    return std::nullopt;
  }

  result<int64_t> lease_ttl(int64_t lease) override {
    std::lock_guard lock(mutex_);
    expire_locked();
    auto it = leases_.find(lease);
    if (it == leases_.end()) return int64_t{0};
    // Rounded up: a live lease with under a second left is not "gone" (0).
    return static_cast<int64_t>(
        std::chrono::ceil<std::chrono::seconds>(it->second.deadline - now_()).count());
  }

  watch_end watch(const std::string& prefix, int64_t from_revision,
                  const std::function<void(const watch_batch&)>& deliver,
                  const std::atomic<bool>& stop, std::chrono::milliseconds silence) override {
    const auto check_every = std::max<std::chrono::milliseconds>(silence / 4, 1ms);
    const auto progress_every = std::max<std::chrono::milliseconds>(silence / 3, 1ms);
    auto last_sent = steady::now();
    std::unique_lock lock(mutex_);
    int64_t next = from_revision > 0 ? from_revision : revision_ + 1;
    for (;;) {
      if (stop.load()) return watch_end{};
      expire_locked();
      // etcd cancels a watch whose next revision is gone, also one that fell behind a compaction.
      if (next < compacted_) return watch_end{watch_end::reason::compacted, compacted_, {}};
      std::vector<watch_batch> batches;
      auto it =
          std::lower_bound(history_.begin(), history_.end(), next,
                           [](const logged_event& e, int64_t rev) { return e.revision < rev; });
      for (; it != history_.end(); ++it) {
        if (!it->event.kv.key.starts_with(prefix)) continue;
        if (batches.empty() || batches.back().revision != it->revision)
          batches.push_back(watch_batch{it->revision, {}});
        batches.back().events.push_back(it->event);
      }
      next = std::max(next, revision_ + 1);
      const bool progress_due = batches.empty() && steady::now() - last_sent >= progress_every;
      if (progress_due) batches.push_back(watch_batch{revision_, {}});
      if (!batches.empty()) {
        lock.unlock();
        for (const watch_batch& b : batches) {
          if (stop.load()) return watch_end{};
          deliver(b);
        }
        last_sent = steady::now();
        lock.lock();
        continue;
      }
      auto until_progress = std::chrono::duration_cast<std::chrono::milliseconds>(
          last_sent + progress_every - steady::now());
      changed_.wait_for(lock,
                        std::clamp<std::chrono::milliseconds>(until_progress, 1ms, check_every));
    }
  }

  std::optional<model::error> compact(int64_t revision) override {
    std::lock_guard lock(mutex_);
    if (revision > revision_)
      return model::error{
          "ClusterMetadataRejected",
          fmt::format("memory store: cannot compact to revision {}: the store is at revision {}",
                      revision, revision_),
          true};
    if (revision <= compacted_) return std::nullopt;
    auto keep =
        std::lower_bound(history_.begin(), history_.end(), revision,
                         [](const logged_event& e, int64_t rev) { return e.revision < rev; });
    history_.erase(history_.begin(), keep);
    compacted_ = revision;
    changed_.notify_all();
    return std::nullopt;
  }

  std::string describe() const override { return "memory"; }

 private:
  struct entry {
    std::string value;
    int64_t create_revision = 0;
    int64_t mod_revision = 0;
    int64_t lease = 0;
  };
  struct lease_entry {
    std::chrono::seconds ttl;
    steady::time_point deadline;
    std::set<std::string> keys;
  };
  struct logged_event {
    int64_t revision = 0;
    watch_event event;
  };
  using kv_map = std::map<std::string, entry>;

  static key_value view(const kv_map::value_type& kv) {
    return key_value{kv.first, kv.second.value, kv.second.create_revision, kv.second.mod_revision,
                     kv.second.lease};
  }

  bool holds(const compare& c) const {
    auto it = kvs_.find(c.key);
    int64_t actual = 0;  // a missing key compares as revision 0, like etcd's
    if (it != kvs_.end())
      actual =
          c.what == compare::target::mod ? it->second.mod_revision : it->second.create_revision;
    return actual == c.revision;
  }

  /// What etcd refuses before applying a transaction's writes.
  std::optional<model::error> check_locked(const std::vector<operation>& ops) const {
    // etcd's --max-txn-ops default.
    if (ops.size() > 128)
      return model::error{"ClusterMetadataRejected",
                          fmt::format("memory store refused the transaction: {} operations, more than etcd's 128 "
                                      "(--max-txn-ops)",
                                      ops.size()),
                          true};
    std::set<std::string> put_keys;
    for (const operation& op : ops) {
      if (op.what != operation::kind::put) continue;
      if (op.lease != 0 && !leases_.contains(op.lease))
        return model::error{
            "ClusterLeaseNotFound",
            fmt::format(
                "memory store refused the transaction: lease {} no longer exists (expired or "
                "revoked, and its keys are gone); grant a new lease and write the keys again",
                op.lease),
            true};
      if (!put_keys.insert(op.key).second)
        return model::error{
            "ClusterMetadataRejected",
            fmt::format("memory store refused the transaction: it puts key '{}' twice", op.key),
            true};
    }
    for (const operation& op : ops) {
      if (op.what == operation::kind::put) continue;
      auto overlap =
          op.what == operation::kind::erase
              ? put_keys.find(op.key)
              : std::find_if(put_keys.begin(), put_keys.end(),
                             [&](const std::string& k) { return k.starts_with(op.key); });
      if (overlap != put_keys.end())
        return model::error{
            "ClusterMetadataRejected",
            fmt::format("memory store refused the transaction: it both puts and deletes key '{}'",
                        *overlap),
            true};
    }
    return std::nullopt;
  }

  void detach_locked(const std::string& key, int64_t lease) {
    if (lease == 0) return;
    if (auto it = leases_.find(lease); it != leases_.end()) it->second.keys.erase(key);
  }

  kv_map::iterator erase_locked(kv_map::iterator it, int64_t revision) {
    detach_locked(it->first, it->second.lease);
    watch_event e{watch_event::kind::erase, key_value{it->first, {}, 0, revision, 0}};
    history_.push_back({revision, std::move(e)});
    return kvs_.erase(it);
  }

  /// Deletes the lease and its keys, in one revision (as etcd's revoke does).
  void revoke_locked(std::map<int64_t, lease_entry>::iterator lease) {
    const int64_t revision = revision_ + 1;
    bool changed = false;
    for (const std::string& key : lease->second.keys) {
      auto it = kvs_.find(key);
      if (it == kvs_.end() || it->second.lease != lease->first) continue;
      it->second.lease = 0;  // already leaving the lease: erase_locked must not touch its key set
      erase_locked(it, revision);
      changed = true;
    }
    leases_.erase(lease);
    if (changed) {
      revision_ = revision;
      changed_.notify_all();
    }
  }

  /// Revokes every lease whose time ran out by the injected clock. Every call starts with it, so
  /// expiry needs no thread of its own.
  void expire_locked() {
    const auto now = now_();
    for (auto it = leases_.begin(); it != leases_.end();) {
      auto next = std::next(it);
      if (it->second.deadline <= now) revoke_locked(it);
      it = next;
    }
  }

  std::function<steady::time_point()> now_;
  std::mutex mutex_;
  std::condition_variable changed_;  ///< a write, an expiry or a compaction happened
  kv_map kvs_;
  std::map<int64_t, lease_entry> leases_;
  std::deque<logged_event> history_;  ///< every event from `compacted_` on, in revision order
  int64_t revision_ = 1;              ///< etcd's first revision is 1 too
  int64_t compacted_ = 0;             ///< history before this revision is gone
  /// Lease ids above 2^53, as etcd's are, so that a test catches any id passing through a double.
  int64_t next_lease_ = 0x694d'0000'0000'0001;
};

}  // namespace

std::unique_ptr<metadata_store> make_memory_store(
    std::function<std::chrono::steady_clock::time_point()> now) {
  return std::make_unique<memory_store>(std::move(now));
}

}  // namespace tributary::cluster
