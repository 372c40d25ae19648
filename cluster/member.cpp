#include "cluster/member.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "storage/catalog_codec.hpp"

namespace tributary::cluster {
namespace {

using json = nlohmann::json;
using clock = std::chrono::steady_clock;
namespace codec = storage::codec;

constexpr size_t kept_log_entries = 1000;
// etcd 3.4 takes at most 128 operations per transaction (--max-txn-ops).
constexpr size_t max_ops_per_txn = 120;
// A watch with nothing (not even a progress notice) for this long is assumed dead: reseed.
constexpr auto watch_silence = std::chrono::milliseconds(3000);

model::error refused(std::string message) { return {"ClusterJoinRefused", std::move(message), true}; }

std::string log_key(uint64_t version) { return fmt::format("catalog/log/{:020d}", version); }
std::string db_key(model::database_id id) { return fmt::format("catalog/db/{}", static_cast<uint64_t>(id)); }
std::string table_key(model::database_id db, model::table_id id) {
  return fmt::format("catalog/table/{}/{}", static_cast<uint64_t>(db), static_cast<uint64_t>(id));
}
std::string table_prefix(model::database_id db) { return fmt::format("catalog/table/{}/", static_cast<uint64_t>(db)); }

std::string cluster_value(const model::catalog& c) {
  return json{{"streaming", c.streaming == model::switch_state::enabled ? "enabled" : "disabled"}}.dump();
}
std::string meta_value(const model::catalog& c) { return json{{"next_id", c.next_id}}.dump(); }

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// Decoded catalog objects by key, with the value they were decoded from: a new version decodes
// only the objects its command changed (a catalog of thousands of tables is not parsed again for
// every command).
struct decoded_object {
  bool filled = false;
  std::string value;
  std::variant<model::database, std::pair<model::database_id, model::table>, std::string> object;
};
using decoded_cache = std::map<std::string, decoded_object>;

template <class Decode>
const auto& decoded(decoded_cache& cache, const std::string& key, const std::string& value, Decode decode) {
  auto& entry = cache[key];
  if (!entry.filled || entry.value != value) {
    entry.filled = true;
    entry.value = value;
    auto d = decode(value);
    if (auto* e = std::get_if<std::string>(&d)) entry.object = *e;
    else entry.object = std::move(std::get<0>(d));
  }
  return entry.object;
}

// The catalog keys (relative to catalog/) and their values; builds the catalog they describe.
std::variant<model::catalog, std::string> build_catalog(const std::map<std::string, std::string>& kvs,
                                                        decoded_cache& cache) {
  model::catalog cat;
  auto version = kvs.find("catalog/version");
  if (version == kvs.end()) return std::string("no catalog/version key");
  try {
    cat.version = std::stoull(version->second);
    if (auto m = kvs.find("catalog/meta"); m != kvs.end()) cat.next_id = json::parse(m->second).at("next_id").get<uint64_t>();
    if (auto c = kvs.find("catalog/cluster"); c != kvs.end())
      cat.streaming = json::parse(c->second).at("streaming").get<std::string>() == "enabled"
                          ? model::switch_state::enabled
                          : model::switch_state::disabled;
  } catch (const std::exception& e) {
    return fmt::format("catalog/version, meta or cluster: {}", e.what());
  }
  std::map<uint64_t, std::string> names;  // database id → name
  for (auto it = kvs.lower_bound("catalog/db/"); it != kvs.end() && starts_with(it->first, "catalog/db/"); ++it) {
    const auto& db = decoded(cache, it->first, it->second, codec::decode_database);
    if (auto* e = std::get_if<std::string>(&db)) return fmt::format("{}: {}", it->first, *e);
    const auto& d = std::get<model::database>(db);
    names[static_cast<uint64_t>(d.id)] = d.name;
    cat.databases[d.name] = d;
  }
  for (auto it = kvs.lower_bound("catalog/table/"); it != kvs.end() && starts_with(it->first, "catalog/table/");
       ++it) {
    const auto& t = decoded(cache, it->first, it->second, codec::decode_table);
    if (auto* e = std::get_if<std::string>(&t)) return fmt::format("{}: {}", it->first, *e);
    const auto& [db, table] = std::get<std::pair<model::database_id, model::table>>(t);
    auto n = names.find(static_cast<uint64_t>(db));
    if (n == names.end()) continue;  // its database's drop removed it in the same revision
    cat.databases[n->second].tables[table.name] = table;
  }
  // Objects deleted since: out of the cache.
  for (auto it = cache.begin(); it != cache.end();) it = kvs.count(it->first) ? std::next(it) : cache.erase(it);
  return cat;
}

// The writes that make the store hold `cat`'s objects named in `changes`.
void object_operations(const model::catalog& cat, const std::vector<model::change>& changes, const std::string& prefix,
                       std::vector<operation>& ops) {
  for (const auto& c : changes) {
    switch (c.what) {
      case model::change::kind::put_database:
        if (const auto* db = cat.find_database(c.database_name))
          ops.push_back({operation::kind::put, prefix + db_key(db->id), codec::encode_database(*db), 0});
        break;
      case model::change::kind::delete_database:
        ops.push_back({operation::kind::erase, prefix + db_key(c.database), {}, 0});
        ops.push_back({operation::kind::erase_prefix, prefix + table_prefix(c.database), {}, 0});
        break;
      case model::change::kind::put_table:
        if (const auto* db = cat.find_database(c.database_name))
          if (auto t = db->tables.find(c.table_name); t != db->tables.end())
            ops.push_back({operation::kind::put, prefix + table_key(db->id, t->second.id),
                           codec::encode_table(*db, t->second), 0});
        break;
      case model::change::kind::delete_table:
        ops.push_back({operation::kind::erase, prefix + table_key(c.database, c.table), {}, 0});
        break;
      case model::change::kind::put_cluster:
        ops.push_back({operation::kind::put, prefix + "catalog/cluster", cluster_value(cat), 0});
        break;
    }
  }
}

// Every object of `cat`, as changes (uploading a catalog).
std::vector<model::change> everything(const model::catalog& cat) {
  std::vector<model::change> out;
  out.push_back({model::change::kind::put_cluster, {}, {}, {}, {}});
  for (const auto& [name, db] : cat.databases) {
    out.push_back({model::change::kind::put_database, db.id, {}, name, {}});
    for (const auto& [tn, t] : db.tables) out.push_back({model::change::kind::put_table, db.id, t.id, name, tn});
  }
  return out;
}

// Which cluster and node a data dir belongs to (<data_dir>/cluster.json), written once it joined.
struct marker {
  std::string cluster;
  std::string node_id;
};

std::filesystem::path marker_path(const std::filesystem::path& dir) { return dir / "cluster.json"; }

std::optional<marker> read_marker(const std::filesystem::path& dir) {
  std::ifstream in(marker_path(dir));
  if (!in) return std::nullopt;
  try {
    auto j = json::parse(in);
    return marker{j.at("cluster").get<std::string>(), j.at("node_id").get<std::string>()};
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

void write_marker(const std::filesystem::path& dir, const marker& m) {
  auto tmp = marker_path(dir).string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << json{{"cluster", m.cluster}, {"node_id", m.node_id}}.dump() << "\n";
    out.flush();
    if (!out) throw std::runtime_error("cannot write " + tmp);
  }
  std::filesystem::rename(tmp, marker_path(dir));
}

std::string host_name() {
  char buf[256] = {};
  return gethostname(buf, sizeof buf - 1) == 0 ? std::string(buf) : std::string("tributaryd");
}

struct node_state {
  std::string rpc;
  bool registered = false;  // nodes/<id>
  bool live = false;        // members/<id>
  int64_t lease = 0;
  uint64_t applied = 0;
  int64_t lease_ttl_ms = -1;  // unknown until the next check of other nodes' leases
  uint64_t rowstore = 0;
};

struct waiter {
  uint64_t version = 0;
  clock::time_point committed;
  std::function<void(std::vector<node_ack>)> done;
};

}  // namespace

std::string describe(const node_ack& a) {
  switch (a.state) {
    case node_ack::status::applied: return fmt::format("Applied version {}", a.applied_version);
    case node_ack::status::fenced_unreachable:
      return fmt::format("Fenced: not reachable (holds no lease; applied version {}); it refuses ingest until it "
                         "catches up",
                         a.applied_version);
    case node_ack::status::fenced_behind:
      return fmt::format("Fenced: behind (applied version {}); it refuses ingest until it catches up",
                         a.applied_version);
  }
  return "";
}

struct member::impl {
  options opt;
  std::unique_ptr<metadata_store> store;
  std::string prefix;
  std::string node_id;
  catalog_version seed;
  int64_t seed_revision = 0;
  std::string rpc_address;

  std::function<void(catalog_version)> on_version;
  std::function<void(clock::time_point)> on_fresh;
  std::function<void(bool)> on_reachable;
  std::function<uint64_t()> rowstore_bytes;

  mutable std::mutex mutex;
  std::condition_variable changed;
  std::map<std::string, std::string> catalog_kvs;  // keys relative to the prefix, catalog/ only (no log)
  std::map<std::string, node_state> members;       // by node id
  std::vector<waiter> waiters;
  std::atomic<uint64_t> applied{0};
  std::atomic<int64_t> lease{0};
  clock::time_point lease_renewed;

  std::atomic<bool> stopping{false};
  // Ends the current watch: set when stopping, and when the lease was lost (then reseed).
  std::atomic<bool> interrupt_watch{false};
  std::thread watcher, ticker, acker;

  // Applies one key's new state (value empty and `erase` for a delete) to the in-memory view.
  // Returns true when it was the catalog version.
  bool apply_key(const std::string& full_key, const key_value& kv, bool erase) {
    if (!starts_with(full_key, prefix)) return false;
    std::string key = full_key.substr(prefix.size());
    if (starts_with(key, "catalog/")) {
      if (starts_with(key, "catalog/log/")) return false;
      if (erase) catalog_kvs.erase(key);
      else catalog_kvs[key] = kv.value;
      return key == "catalog/version";
    }
    auto section = key.substr(0, key.find('/') + 1);
    auto id = key.substr(section.size());
    // nodes/ and members/ both carry the node's address and its last rowstore report.
    auto read_report = [&](node_state& n) {
      if (erase) return;
      try {
        auto j = json::parse(kv.value);
        n.rpc = j.at("rpc").get<std::string>();
        n.rowstore = j.value("rowstore", uint64_t{0});
      } catch (const std::exception&) {
        spdlog::warn("cluster key {} holds no node report: {:.200}", full_key, kv.value);
      }
    };
    if (section == "nodes/") {
      auto& n = members[id];
      n.registered = !erase;
      read_report(n);
    } else if (section == "members/") {
      auto& n = members[id];
      n.live = !erase;
      if (n.lease != (erase ? 0 : kv.lease)) n.lease_ttl_ms = -1;  // a new lease: its time left is not known yet
      n.lease = erase ? 0 : kv.lease;
      read_report(n);
    } else if (section == "applied/") {
      auto& n = members[id];
      n.applied = erase ? 0 : std::strtoull(kv.value.c_str(), nullptr, 10);
    } else {
      return false;
    }
    for (auto it = members.begin(); it != members.end();)
      it = !it->second.registered && !it->second.live && it->second.applied == 0 ? members.erase(it) : std::next(it);
    return false;
  }

  // Replaces the whole view with a snapshot.
  void load_snapshot(const range_result& r) {
    catalog_kvs.clear();
    members.clear();
    for (const auto& kv : r.kvs) apply_key(kv.key, kv, false);
  }

  decoded_cache decoded_objects;  // guarded by `mutex`, like catalog_kvs

  std::variant<catalog_version, std::string> current_catalog() {
    auto built = build_catalog(catalog_kvs, decoded_objects);
    if (auto* e = std::get_if<std::string>(&built)) return *e;
    catalog_version v;
    v.catalog = std::make_shared<const model::catalog>(std::move(std::get<model::catalog>(built)));
    return v;
  }

  void watch_loop() {
    int64_t from = seed_revision + 1;
    auto backoff = std::chrono::milliseconds(100);
    while (!stopping) {
      auto end = store->watch(
          prefix, from,
          [&](const watch_batch& b) {
            std::optional<catalog_version> next;
            {
              std::lock_guard lock(mutex);
              bool version_changed = false;
              int64_t version_revision = 0;
              for (const auto& e : b.events)
                if (apply_key(e.kv.key, e.kv, e.what == watch_event::kind::erase)) {
                  version_changed = true;
                  version_revision = e.kv.mod_revision;
                }
              if (version_changed) {
                auto c = current_catalog();
                if (auto* v = std::get_if<catalog_version>(&c)) {
                  v->revision = version_revision;
                  next = std::move(*v);
                } else {
                  spdlog::error("cluster catalog at revision {} cannot be read: {}", b.revision,
                                std::get<std::string>(c));
                }
              }
            }
            from = std::max(from, b.revision + 1);
            changed.notify_all();
            if (next) on_version(std::move(*next));
          },
          interrupt_watch, watch_silence);
      if (stopping) break;
      interrupt_watch = false;
      spdlog::warn("cluster catalog watch on {} ended ({}); reseeding", store->describe(),
                   end.why == watch_end::reason::compacted ? fmt::format("compacted at revision {}", end.compact_revision)
                   : end.why == watch_end::reason::stopped ? std::string("the node's lease was lost")
                                                           : end.message);
      if (opt.on_reseed) opt.on_reseed();
      std::this_thread::sleep_for(backoff);
      auto snap = store->range(prefix, true);
      if (auto* e = std::get_if<model::error>(&snap)) {
        spdlog::warn("reseeding the cluster catalog failed: {}", e->message);
        backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
        continue;
      }
      backoff = std::chrono::milliseconds(100);
      auto& r = std::get<range_result>(snap);
      std::optional<catalog_version> next;
      {
        std::lock_guard lock(mutex);
        load_snapshot(r);
        auto c = current_catalog();
        if (auto* v = std::get_if<catalog_version>(&c)) {
          for (const auto& kv : r.kvs)
            if (kv.key == prefix + "catalog/version") v->revision = kv.mod_revision;
          next = std::move(*v);
        }
      }
      from = r.revision + 1;
      changed.notify_all();
      if (next) on_version(std::move(*next));
    }
  }

  std::string node_value() const {
    return json{{"rpc", rpc_address}, {"rowstore", rowstore_bytes ? rowstore_bytes() : 0}}.dump();
  }

  std::string member_value() const {
    return json{{"rpc", rpc_address}, {"pid", ::getpid()}, {"rowstore", rowstore_bytes ? rowstore_bytes() : 0}}.dump();
  }

  // Registers the node: nodes/<id> (persistent) and members/<id> under a new lease.
  std::optional<model::error> register_node() {
    auto granted = store->grant_lease(opt.lease_ttl);
    if (auto* e = std::get_if<model::error>(&granted)) return *e;
    const int64_t id = std::get<int64_t>(granted);
    auto r = store->txn({}, {{operation::kind::put, prefix + "nodes/" + node_id, node_value(), 0},
                             {operation::kind::put, prefix + "members/" + node_id, member_value(), id},
                             {operation::kind::put, prefix + "applied/" + node_id, std::to_string(applied.load()), 0}});
    if (auto* e = std::get_if<model::error>(&r)) return *e;
    lease = id;
    {
      // Known at once, before the watch brings the keys back.
      std::lock_guard lock(mutex);
      lease_renewed = clock::now();
      auto& self = members[node_id];
      self.registered = self.live = true;
      self.rpc = rpc_address;
      self.lease = id;
    }
    if (opt.on_lease) opt.on_lease(true);
    return std::nullopt;
  }

  // The freshness bound (reference/cluster.md §5.4). A linearizable read sent at `sent` that
  // showed version `v` proves that every commit not yet applied here happened after `sent` once
  // this node has applied `v`: from then on the node may ingest until `sent` + F. A read showing
  // a version not yet applied waits here until it is (under a stream of schema changes most
  // reads do), rather than being thrown away. Reads wait in send order: when the node applies
  // more slowly than it reads, each read must still be confirmed, not replaced by the next one.
  static constexpr size_t max_confirmations = 64;  // F/4 apart: far more than a bound's worth
  std::mutex fresh_mutex;
  clock::time_point fresh_until = clock::time_point::min();
  std::deque<std::pair<clock::time_point, uint64_t>> confirmations;  // reads not yet applied, by send time

  void confirm(std::optional<clock::time_point> sent, uint64_t version) {
    std::optional<clock::time_point> extend;
    {
      std::lock_guard lock(fresh_mutex);
      if (sent) {
        confirmations.emplace_back(*sent, version);
        if (confirmations.size() > max_confirmations) confirmations.pop_front();
      }
      // The newest read whose version is applied confirms the bound; older ones are moot.
      std::optional<clock::time_point> confirmed;
      while (!confirmations.empty() && confirmations.front().second <= applied.load()) {
        confirmed = confirmations.front().first;
        confirmations.pop_front();
      }
      if (confirmed && *confirmed + opt.staleness_bound > fresh_until) extend = fresh_until = *confirmed + opt.staleness_bound;
    }
    if (extend && on_fresh) on_fresh(*extend);
  }

  // Every F/4: a linearizable read of the catalog version (confirm). Every TTL/3: the lease's
  // keepalive.
  void tick_loop() {
    const auto period = std::max(opt.staleness_bound / 4, std::chrono::milliseconds(10));
    auto next_keepalive = clock::now() + std::chrono::duration_cast<clock::duration>(opt.lease_ttl) / 3;
    while (!stopping) {
      const auto sent = clock::now();
      auto r = store->range(prefix + "catalog/version", false);
      if (auto* rr = std::get_if<range_result>(&r); rr && !rr->kvs.empty()) {
        const uint64_t v = std::strtoull(rr->kvs.front().value.c_str(), nullptr, 10);
        confirm(sent, v);
      }
      on_reachable(!std::holds_alternative<model::error>(r));
      if (clock::now() >= next_keepalive) {
        next_keepalive = clock::now() + std::chrono::duration_cast<clock::duration>(opt.lease_ttl) / 3;
        auto k = store->keep_alive(lease.load());
        if (auto* ttl = std::get_if<int64_t>(&k)) {
          if (*ttl > 0) {
            {
              std::lock_guard lock(mutex);
              lease_renewed = clock::now();
            }
            // The rowstore report goes to nodes/ too, which outlives the lease: a node that
            // is down still shows what it held (the switch's drain stays Disabling for it).
            auto put = store->txn({}, {{operation::kind::put, prefix + "members/" + node_id, member_value(), lease.load()},
                                       {operation::kind::put, prefix + "nodes/" + node_id, node_value(), 0}});
            if (auto* e = std::get_if<model::error>(&put)) spdlog::debug("publishing this node's state failed: {}", e->message);
          } else {
            // Others count this node as gone: it stops ingesting until the store confirms its
            // catalog again, registers again and reads the whole catalog again.
            spdlog::warn("cluster lease {} of node '{}' expired; registering again and reseeding", lease.load(), node_id);
            {
              std::lock_guard lock(fresh_mutex);
              fresh_until = clock::time_point::min();
              confirmations.clear();
            }
            on_fresh(clock::time_point::min());
            interrupt_watch = true;
            if (opt.on_lease) opt.on_lease(false);
            if (auto e = register_node()) spdlog::warn("registering again failed: {}", e->message);
          }
        } else {
          spdlog::warn("cluster lease keepalive failed: {}", std::get<model::error>(k).message);
        }
        refresh_lease_ttls();
      }
      std::unique_lock lock(mutex);
      changed.wait_for(lock, period, [&] { return stopping.load(); });
    }
  }

  void refresh_lease_ttls() {
    std::vector<std::pair<std::string, int64_t>> leases;
    {
      std::lock_guard lock(mutex);
      for (const auto& [id, n] : members)
        if (n.live && n.lease) leases.emplace_back(id, n.lease);
    }
    for (auto& [id, l] : leases) {
      auto t = store->lease_ttl(l);
      if (auto* s = std::get_if<int64_t>(&t)) {
        std::lock_guard lock(mutex);
        if (auto it = members.find(id); it != members.end()) it->second.lease_ttl_ms = *s * 1000;
      }
    }
  }

  std::vector<node_ack> acks_for(const waiter& w, clock::time_point now, bool& complete) const {
    std::vector<node_ack> out;
    complete = true;
    for (const auto& [id, n] : members) {
      if (!n.registered) continue;
      node_ack a{id, node_ack::status::applied, n.applied};
      if (n.applied >= w.version || id == node_id) {
        a.applied_version = id == node_id ? std::max<uint64_t>(n.applied, applied.load()) : n.applied;
      } else if (!n.live) {
        a.state = node_ack::status::fenced_unreachable;
        if (now < w.committed + opt.staleness_bound) complete = false;
      } else {
        a.state = node_ack::status::fenced_behind;
        if (now < w.committed + std::max(opt.sync_timeout, opt.staleness_bound)) complete = false;
      }
      out.push_back(std::move(a));
    }
    return out;
  }

  void ack_loop() {
    std::unique_lock lock(mutex);
    while (true) {
      changed.wait_for(lock, std::chrono::milliseconds(20));
      const auto now = clock::now();
      std::vector<std::pair<std::function<void(std::vector<node_ack>)>, std::vector<node_ack>>> ready;
      for (auto it = waiters.begin(); it != waiters.end();) {
        bool complete = false;
        auto acks = acks_for(*it, now, complete);
        if (complete || stopping) {
          ready.emplace_back(std::move(it->done), std::move(acks));
          it = waiters.erase(it);
        } else {
          ++it;
        }
      }
      if (!ready.empty()) {
        lock.unlock();
        for (auto& [done, acks] : ready) done(std::move(acks));
        lock.lock();
      }
      if (stopping && waiters.empty()) return;
    }
  }

};

member::member(std::unique_ptr<impl> i) : impl_(std::move(i)) {}

member::~member() { stop(); }

result<std::unique_ptr<member>> member::open(const options& o, const model::catalog& local) {
  auto opened = open_etcd(o.metadata_url);
  if (auto* e = std::get_if<model::error>(&opened)) return *e;
  return open(o, local, std::move(std::get<std::unique_ptr<metadata_store>>(opened)));
}

result<std::unique_ptr<member>> member::open(const options& o, const model::catalog& local,
                                             std::unique_ptr<metadata_store> store) {
  auto i = std::make_unique<impl>();
  i->opt = o;
  i->store = std::move(store);
  i->prefix = "/tributary/" + o.cluster_name + "/";

  const auto mark = read_marker(o.data_dir);
  if (mark && mark->cluster != o.cluster_name)
    return refused(fmt::format("data dir {} belongs to cluster '{}', not '{}': start it with --cluster-name {}, or "
                               "use another --data-dir for cluster '{}'",
                               o.data_dir.string(), mark->cluster, o.cluster_name, mark->cluster, o.cluster_name));
  if (mark && !o.node_id.empty() && mark->node_id != o.node_id)
    return refused(fmt::format("data dir {} holds the shards of node '{}', not '{}': a node's id never changes "
                               "(its shards are keyed by it); start it with --node-id {} or leave --node-id out",
                               o.data_dir.string(), mark->node_id, o.node_id, mark->node_id));
  i->node_id = mark ? mark->node_id : !o.node_id.empty() ? o.node_id : host_name();

  auto read = i->store->range(i->prefix, true);
  if (auto* e = std::get_if<model::error>(&read)) return *e;
  auto snap = std::move(std::get<range_result>(read));
  i->load_snapshot(snap);
  if (i->members.count(i->node_id) && i->members[i->node_id].live && !mark)
    return refused(fmt::format("node id '{}' is already live in cluster '{}' (another process holds its lease); "
                               "give this node another --node-id",
                               i->node_id, o.cluster_name));

  const bool cluster_has_catalog = i->catalog_kvs.count("catalog/version") > 0;
  const bool local_has_objects = !local.databases.empty();
  if (cluster_has_catalog && local_has_objects && !mark) {
    size_t tables = 0;
    for (const auto& [n, db] : local.databases) tables += db.tables.size();
    return refused(fmt::format(
        "data dir {} holds a single-node catalog ({} database(s), {} table(s)) and cluster '{}' already has its own "
        "catalog; a data dir joins a cluster only as its first node (its catalog is uploaded then), never merged "
        "into another's. Start this node with an empty --data-dir, or move its data with .export/ingest",
        o.data_dir.string(), local.databases.size(), tables, o.cluster_name));
  }
  if (!cluster_has_catalog) {
    // This node creates the cluster's catalog: its own when it has one (a single-node data dir
    // becoming the first node), else an empty one.
    model::catalog initial = local;
    if (!local_has_objects) {
      initial = model::catalog{};
      initial.next_id = std::max<uint64_t>(local.next_id, 1);
      initial.streaming = o.streaming_on_first_start || local.version > 0 ? local.streaming : model::switch_state::disabled;
      if (local.version == 0 && o.streaming_on_first_start) initial.streaming = model::switch_state::enabled;
    }
    initial.version = std::max<uint64_t>(initial.version, 1);
    std::vector<operation> objects;
    object_operations(initial, everything(initial), i->prefix, objects);
    // Objects first in chunks (etcd's per-transaction limit), then the version key, created
    // only if no other node created the catalog meanwhile.
    std::vector<operation> last;
    while (!objects.empty()) {
      const size_t n = std::min(objects.size(), max_ops_per_txn);
      std::vector<operation> chunk(objects.end() - static_cast<std::ptrdiff_t>(n), objects.end());
      objects.resize(objects.size() - n);
      if (objects.empty() && chunk.size() + 3 <= max_ops_per_txn) {
        last = std::move(chunk);
        break;
      }
      auto r = i->store->txn({}, chunk);
      if (auto* e = std::get_if<model::error>(&r)) return *e;
    }
    last.push_back({operation::kind::put, i->prefix + "catalog/version", std::to_string(initial.version), 0});
    last.push_back({operation::kind::put, i->prefix + "catalog/meta", meta_value(initial), 0});
    last.push_back({operation::kind::put, i->prefix + log_key(initial.version),
                    json{{"command", local_has_objects ? "(catalog uploaded from a single-node data dir)" : "(created)"},
                         {"node", i->node_id}}
                        .dump(),
                    0});
    auto created = i->store->txn({{i->prefix + "catalog/version", compare::target::create, 0}}, last);
    if (auto* e = std::get_if<model::error>(&created)) return *e;
    if (std::get<txn_result>(created).succeeded)
      spdlog::info("created the catalog of cluster '{}' on {} ({} database(s))", o.cluster_name, i->store->describe(),
                   initial.databases.size());
    read = i->store->range(i->prefix, true);
    if (auto* e = std::get_if<model::error>(&read)) return *e;
    snap = std::move(std::get<range_result>(read));
    i->load_snapshot(snap);
    if (!std::get<txn_result>(created).succeeded && local_has_objects && !mark)
      return refused(fmt::format("another node created cluster '{}''s catalog first; this data dir's catalog is not "
                                 "merged into it: start this node with an empty --data-dir",
                                 o.cluster_name));
  }
  auto c = i->current_catalog();
  if (auto* e = std::get_if<std::string>(&c))
    return model::error{"ClusterMetadataCorrupt",
                        fmt::format("the catalog of cluster '{}' on {} cannot be read: {}", o.cluster_name,
                                    i->store->describe(), *e),
                        true};
  i->seed = std::move(std::get<catalog_version>(c));
  for (const auto& kv : snap.kvs)
    if (kv.key == i->prefix + "catalog/version") i->seed.revision = kv.mod_revision;
  i->seed_revision = snap.revision;
  try {
    write_marker(o.data_dir, {o.cluster_name, i->node_id});
  } catch (const std::exception& e) {
    return model::error{"StorageError", fmt::format("{}; check the data dir's permissions", e.what()), true};
  }
  return std::unique_ptr<member>(new member(std::move(i)));
}

const catalog_version& member::seeded() const { return impl_->seed; }

void member::start(std::string rpc_address, std::function<void(catalog_version)> on_version,
                   std::function<void(clock::time_point)> on_fresh, std::function<void(bool)> on_reachable,
                   std::function<uint64_t()> rowstore_bytes) {
  auto& i = *impl_;
  i.rpc_address = std::move(rpc_address);
  i.on_version = std::move(on_version);
  i.on_fresh = std::move(on_fresh);
  i.on_reachable = std::move(on_reachable);
  i.rowstore_bytes = std::move(rowstore_bytes);
  i.applied = i.seed.catalog->version;
  // Registration retries in the ticker's keepalive when the store is briefly away.
  if (auto e = i.register_node()) spdlog::warn("registering node '{}' failed: {}; retrying", i.node_id, e->message);
  i.watcher = std::thread([&i] { i.watch_loop(); });
  i.ticker = std::thread([&i] { i.tick_loop(); });
  i.acker = std::thread([&i] { i.ack_loop(); });
}

result<commit_result> member::commit(int64_t expected_revision, const model::catalog& after,
                                     const std::vector<model::change>& changes, const std::string& command) {
  auto& i = *impl_;
  std::vector<operation> ops;
  object_operations(after, changes, i.prefix, ops);
  ops.push_back({operation::kind::put, i.prefix + "catalog/version", std::to_string(after.version), 0});
  ops.push_back({operation::kind::put, i.prefix + "catalog/meta", meta_value(after), 0});
  constexpr size_t shown = 4096;
  ops.push_back({operation::kind::put, i.prefix + log_key(after.version),
                 json{{"command", command.substr(0, shown)}, {"node", i.node_id}, {"at", model::now_ticks()}}.dump(
                     -1, ' ', false, json::error_handler_t::replace),
                 0});
  if (after.version > kept_log_entries)
    ops.push_back({operation::kind::erase, i.prefix + log_key(after.version - kept_log_entries), {}, 0});
  auto r = i.store->txn({{i.prefix + "catalog/version", compare::target::mod, expected_revision}}, ops);
  if (auto* e = std::get_if<model::error>(&r)) return *e;
  commit_result out;
  out.committed = std::get<txn_result>(r).succeeded;
  out.version = after.version;
  out.at = clock::now();
  return out;
}

void member::report_applied(uint64_t version) {
  auto& i = *impl_;
  if (version <= i.applied.load()) return;
  i.applied = version;
  {
    std::lock_guard lock(i.mutex);
    i.members[i.node_id].applied = std::max(i.members[i.node_id].applied, version);
  }
  i.changed.notify_all();
  i.confirm(std::nullopt, 0);
  // Published by the caller's thread: one small put (about 3 ms on loopback).
  auto r = i.store->txn({}, {{operation::kind::put, i.prefix + "applied/" + i.node_id, std::to_string(version), 0}});
  if (auto* e = std::get_if<model::error>(&r))
    spdlog::warn("publishing applied catalog version {} failed: {}", version, e->message);
}

void member::await_acks(uint64_t version, clock::time_point committed, std::function<void(std::vector<node_ack>)> done) {
  auto& i = *impl_;
  {
    std::lock_guard lock(i.mutex);
    i.waiters.push_back({version, committed, std::move(done)});
  }
  i.changed.notify_all();
}

result<uint64_t> member::store_version() {
  auto r = impl_->store->range(impl_->prefix + "catalog/version", false);
  if (auto* e = std::get_if<model::error>(&r)) return *e;
  const auto& kvs = std::get<range_result>(r).kvs;
  return kvs.empty() ? uint64_t{0} : std::strtoull(kvs.front().value.c_str(), nullptr, 10);
}

std::optional<model::error> member::drop_node(const std::string& id) {
  auto& i = *impl_;
  {
    std::lock_guard lock(i.mutex);
    auto it = i.members.find(id);
    if (it == i.members.end() || !it->second.registered)
      return model::error{"BadRequest_EntityNotFound",
                          fmt::format("node '{}' is not a node of this cluster; .show cluster lists them", id), true};
    if (it->second.live)
      return model::error{"BadRequest_NodeIsLive",
                          fmt::format("node '{}' is live: stop it first (its lease must be gone), then drop it", id),
                          true};
  }
  auto r = i.store->txn({{i.prefix + "members/" + id, compare::target::create, 0}},
                        {{operation::kind::erase, i.prefix + "nodes/" + id, {}, 0},
                         {operation::kind::erase, i.prefix + "applied/" + id, {}, 0}});
  if (auto* e = std::get_if<model::error>(&r)) return *e;
  if (!std::get<txn_result>(r).succeeded)
    return model::error{"BadRequest_NodeIsLive",
                        fmt::format("node '{}' came back meanwhile: stop it first, then drop it", id), true};
  return std::nullopt;
}

result<std::map<std::string, std::string>> member::source_records(uint64_t connection) {
  const std::string under = fmt::format("{}sources/{}/", impl_->prefix, connection);
  auto r = impl_->store->range(under, true);
  if (auto* e = std::get_if<model::error>(&r)) return *e;
  std::map<std::string, std::string> out;
  for (auto& kv : std::get<range_result>(r).kvs) out[kv.key.substr(under.size())] = std::move(kv.value);
  return out;
}

std::optional<model::error> member::put_source_records(uint64_t connection,
                                                       const std::map<std::string, std::string>& records) {
  auto& i = *impl_;
  // etcd takes at most 128 operations per transaction (--max-txn-ops): a topic of many partitions
  // goes in several. Each record stands alone, so they need not be one transaction.
  constexpr size_t per_txn = 64;
  std::vector<operation> ops;
  auto flush = [&]() -> std::optional<model::error> {
    if (ops.empty()) return std::nullopt;
    auto r = i.store->txn({}, ops);
    ops.clear();
    if (auto* e = std::get_if<model::error>(&r)) return *e;
    return std::nullopt;
  };
  for (const auto& [partition, value] : records) {
    ops.push_back({operation::kind::put, fmt::format("{}sources/{}/{}/{}", i.prefix, connection, partition, i.node_id),
                   value, 0});
    if (ops.size() == per_txn)
      if (auto e = flush()) return e;
  }
  return flush();
}

std::optional<model::error> member::erase_source_records(uint64_t connection) {
  auto r = impl_->store->txn({}, {{operation::kind::erase_prefix, fmt::format("{}sources/{}/", impl_->prefix, connection), {}, 0}});
  if (auto* e = std::get_if<model::error>(&r)) return *e;
  return std::nullopt;
}

void member::stop() {
  auto& i = *impl_;
  if (i.stopping.exchange(true)) return;
  i.interrupt_watch = true;
  i.changed.notify_all();
  if (i.lease.load()) {
    if (auto e = i.store->revoke_lease(i.lease.load())) spdlog::warn("revoking the cluster lease failed: {}", e->message);
    if (i.opt.on_lease) i.opt.on_lease(false);
  }
  for (auto* t : {&i.watcher, &i.ticker, &i.acker})
    if (t->joinable()) t->join();
  // on_version holds the coordinator: an actor system waits, at its end, until nothing refers
  // to its actors any more. (The others hold plain objects, and report_applied may still run on
  // the coordinator's thread.)
  i.on_version = nullptr;
  std::lock_guard lock(i.mutex);
  i.waiters.clear();
}

std::string member::self_id() const { return impl_->node_id; }

std::vector<node_info> member::nodes() const {
  auto& i = *impl_;
  std::lock_guard lock(i.mutex);
  std::vector<node_info> out;
  for (const auto& [id, n] : i.members) {
    if (!n.registered) continue;
    node_info x;
    x.id = id;
    x.rpc_address = n.rpc;
    // This node knows its own lease before its watch brings back members/<self>.
    x.live = n.live || (id == i.node_id && i.lease.load() != 0 && !i.stopping.load());
    x.applied_version = id == i.node_id ? std::max<uint64_t>(n.applied, i.applied.load()) : n.applied;
    x.self = id == i.node_id;
    x.rowstore_bytes = n.rowstore;
    if (x.self) {
      const auto left = i.opt.lease_ttl - (clock::now() - i.lease_renewed);
      x.lease_ttl_ms = std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::milliseconds>(left).count());
    } else {
      x.lease_ttl_ms = n.live ? n.lease_ttl_ms : -1;
    }
    out.push_back(std::move(x));
  }
  return out;
}

std::vector<model::change> diff(const model::catalog& from, const model::catalog& to) {
  std::vector<model::change> out;
  if (from.streaming != to.streaming) out.push_back({model::change::kind::put_cluster, {}, {}, {}, {}});
  std::map<uint64_t, const model::database*> old_dbs;
  for (const auto& [n, db] : from.databases) old_dbs[static_cast<uint64_t>(db.id)] = &db;
  std::map<uint64_t, bool> kept;
  for (const auto& [name, db] : to.databases) {
    auto it = old_dbs.find(static_cast<uint64_t>(db.id));
    const model::database* old = it == old_dbs.end() ? nullptr : it->second;
    if (old && old->name != name) {  // renamed: its actors go, the new name's come
      out.push_back({model::change::kind::delete_database, old->id, {}, old->name, {}});
      old = nullptr;
    }
    if (old) kept[static_cast<uint64_t>(db.id)] = true;
    if (!old || old->policy != db.policy || old->data_connections != db.data_connections)
      out.push_back({model::change::kind::put_database, db.id, {}, name, {}});
    std::map<uint64_t, const model::table*> old_tables;
    if (old)
      for (const auto& [tn, t] : old->tables) old_tables[static_cast<uint64_t>(t.id)] = &t;
    for (const auto& [tn, t] : db.tables) {
      auto ot = old_tables.find(static_cast<uint64_t>(t.id));
      const model::table* o = ot == old_tables.end() ? nullptr : ot->second;
      if (o && o->name != tn) {
        out.push_back({model::change::kind::delete_table, db.id, t.id, name, o->name});
        o = nullptr;
      }
      if (o) old_tables.erase(ot);
      // A new database's tables are put too (storage persists them; the coordinator's update of
      // a table its database just spawned changes nothing).
      if (!o || !(*o == t))
        out.push_back({model::change::kind::put_table, db.id, t.id, name, tn});
    }
    for (const auto& [id, t] : old_tables) out.push_back({model::change::kind::delete_table, db.id, t->id, name, t->name});
  }
  for (const auto& [id, db] : old_dbs)
    if (!kept.count(id)) {
      bool renamed_away = false;
      for (const auto& c : out)
        if (c.what == model::change::kind::delete_database && static_cast<uint64_t>(c.database) == id) renamed_away = true;
      if (!renamed_away) out.push_back({model::change::kind::delete_database, db->id, {}, db->name, {}});
    }
  return out;
}

}  // namespace tributary::cluster
