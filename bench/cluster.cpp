// `cluster`: three nodes in cluster mode on a three-member etcd, all on loopback, beside one node
// in a cluster of its own on the same etcd members. (a) How long a schema change takes to reach
// every node, against etcd's own CAS Txn + watch round trip; (c) `T | count` fanned out from
// node 1 vs. on the one node; (b) many-tables' load spread over the three nodes vs. on the one,
// with the CPU time of every process, since on a 2-core machine the three nodes share the cores.

#include <curl/curl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "bench/scenarios.hpp"
#include "tests/support/etcd_process.hpp"
#include "tests/support/node_process.hpp"

namespace tributary::bench {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

constexpr size_t cluster_size = 3;
constexpr size_t default_commands = 200;
constexpr size_t default_queries = 500;
constexpr size_t default_tables = 1000;
/// Unmeasured commands, round trips and queries of each kind before the measured ones: the
/// first ones open connections and fill caches.
constexpr size_t warmup = 10;
/// The kinds of (a), and the two of (c), alternate in blocks of this many, so all see the same
/// background load of a shared machine (as `latency` alternates node and limit).
constexpr size_t block = 50;
/// (b): the two configurations alternate in slices of this length, as in `many-tables`.
constexpr std::chrono::milliseconds slice{2000};
/// (c): ingest requests into `T` at each of the three nodes (and all of them at the one node),
/// so that the count needs every node's shard.
constexpr size_t fan_out_requests_per_node = 20;
/// The limit gives up on a watcher after this long (a member that stopped answering).
constexpr auto watch_timeout = 10s;
constexpr std::string_view database = "Bench";

// --- etcd's JSON gateway, for the limit ---

/// etcd's JSON gateway carries keys and values as standard base64 with padding.
std::string base64(std::string_view in) {
  static constexpr std::string_view digits =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  auto byte = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(in[i])); };
  std::string out;
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const uint32_t n = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
    for (int shift : {18, 12, 6, 0}) out += digits[(n >> shift) & 63];
  }
  if (const size_t rest = in.size() - i; rest > 0) {
    const uint32_t n = byte(i) << 16 | (rest == 2 ? byte(i + 1) << 8 : 0);
    out += digits[(n >> 18) & 63];
    out += digits[(n >> 12) & 63];
    out += rest == 2 ? digits[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

/// An int64 field of the gateway's JSON, which writes them as strings; 0 when absent.
int64_t int_field(const json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end()) return 0;
  if (it->is_string()) return std::stoll(it->get<std::string>());
  return it->is_number() ? it->get<int64_t>() : 0;
}

size_t append_to_string(char* data, size_t, size_t bytes, void* out) {
  static_cast<std::string*>(out)->append(data, bytes);
  return bytes;
}

/// Headers of every gateway call: JSON, and no `Expect: 100-continue` round trip.
curl_slist* gateway_headers() {
  curl_slist* list = curl_slist_append(nullptr, "Content-Type: application/json");
  curl_slist* grown = list ? curl_slist_append(list, "Expect:") : nullptr;
  if (!grown) {
    curl_slist_free_all(list);
    throw std::runtime_error("etcd limit: out of memory building HTTP headers");
  }
  return grown;
}

/// One keep-alive HTTP/1.1 connection to one etcd member's gateway, for unary calls. Used by
/// one thread at a time.
class gateway_client {
 public:
  explicit gateway_client(std::string endpoint)
      : endpoint_(std::move(endpoint)), curl_(curl_easy_init()), headers_(gateway_headers()) {
    if (!curl_) {
      curl_slist_free_all(headers_);
      throw std::runtime_error("etcd limit: curl_easy_init failed");
    }
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl_, CURLOPT_PROXY, "");
    curl_easy_setopt(curl_, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, 10'000L);
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers_);
    curl_easy_setopt(curl_, CURLOPT_ERRORBUFFER, error_);
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, append_to_string);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &answer_);
  }
  ~gateway_client() {
    curl_easy_cleanup(curl_);
    curl_slist_free_all(headers_);
  }
  gateway_client(const gateway_client&) = delete;
  gateway_client& operator=(const gateway_client&) = delete;

  /// POSTs `body` to `path` (e.g. "/v3/kv/txn") and returns the parsed answer. Throws
  /// std::runtime_error naming the member and path on a transport error, a status other than
  /// 200 or an answer that is not JSON.
  json post(const std::string& path, const json& body) {
    const std::string url = endpoint_ + path, text = body.dump();
    answer_.clear();
    error_[0] = '\0';
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, text.c_str());
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE, static_cast<long>(text.size()));
    if (const CURLcode rc = curl_easy_perform(curl_); rc != CURLE_OK)
      throw std::runtime_error(fmt::format(
          "etcd limit: POST {} failed: {}; the member's log is etcd.log in its data dir", url,
          error_[0] ? error_ : curl_easy_strerror(rc)));
    long status = 0;
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200)
      throw std::runtime_error(
          fmt::format("etcd limit: POST {} answered HTTP {}: {:.300}", url, status, answer_));
    try {
      return json::parse(answer_);
    } catch (const json::exception& e) {
      throw std::runtime_error(fmt::format("etcd limit: POST {} answered no JSON ({}): {:.300}",
                                           url, e.what(), answer_));
    }
  }

 private:
  std::string endpoint_;
  CURL* curl_;
  curl_slist* headers_;
  std::string answer_;
  char error_[CURL_ERROR_SIZE] = {};
};

/// The limit of (a): etcd's own part of a schema change, on the same members as the nodes. A
/// client compare-and-swaps one key at member 1 (a Txn comparing the key's mod_revision, then
/// putting it, as a node commits `catalog/version`) while one watcher per member — an HTTP watch
/// stream over the limit's prefix, on a thread of its own — waits for each revision.
/// `two_rounds_us` adds what a command needs besides: each watcher, on seeing the Txn, puts its
/// own ack key at its member (as a node puts `applied/<node>`) and watcher 1 waits for all three.
/// Times are from the Txn's send to the watchers' receipt (their own clocks; a watcher may see
/// the revision before the client reads the Txn's answer). Lives on one thread; the destructor
/// stops the watchers (within about a second: libcurl's progress callback) and joins them.
class etcd_round_trips {
 public:
  etcd_round_trips(const std::vector<std::string>& endpoints, const std::string& prefix)
      : prefix_(prefix),
        one_key_(base64(prefix + "one")),
        two_key_(base64(prefix + "two")),
        client_(endpoints.front()) {
    for (size_t i = 0; i < cluster_size; ++i) ack_keys_[i] = base64(ack_key(i));
    // The keys exist before the watches begin, so no watcher sees (and acks) their creation.
    one_revision_ = put(prefix + "one");
    two_revision_ = put(prefix + "two");
    std::string end = prefix;
    end.back() = static_cast<char>(end.back() + 1);
    const std::string request =
        json{{"create_request", {{"key", base64(prefix)}, {"range_end", base64(end)}}}}.dump();
    try {
      for (size_t i = 0; i < endpoints.size(); ++i) {
        auto w = std::make_unique<watcher>();
        w->owner = this;
        w->index = i;
        w->endpoint = endpoints[i];
        w->request = request;
        w->acks = std::make_unique<gateway_client>(endpoints[i]);
        watchers_.push_back(std::move(w));
      }
      for (auto& w : watchers_) w->thread = std::thread([this, &one = *w] { watch_loop(one); });
      wait_for(
          [&] {
            return std::all_of(watchers_.begin(), watchers_.end(),
                               [](auto& w) { return w->created; });
          },
          "the creation of every watch");
    } catch (...) {
      stop();
      throw;
    }
  }
  ~etcd_round_trips() { stop(); }
  etcd_round_trips(const etcd_round_trips&) = delete;
  etcd_round_trips& operator=(const etcd_round_trips&) = delete;

  /// One Txn on key "one" at member 1: µs from its send until every watcher saw its revision.
  double one_round_us() {
    const auto sent = steady::now();
    const int64_t revision = cas("one", one_revision_);
    steady::time_point last = sent;
    wait_for(
        [&] {
          for (auto& w : watchers_)
            if (w->one_revision < revision) return false;
          for (auto& w : watchers_) last = std::max(last, w->one_seen);
          return true;
        },
        fmt::format("revision {} of '{}one'", revision, prefix_));
    return micros(sent, last);
  }

  /// One Txn on key "two" at member 1: µs from its send until watcher 1 saw every watcher's ack.
  double two_rounds_us() {
    const auto sent = steady::now();
    const int64_t revision = cas("two", two_revision_);
    const watcher& first = *watchers_.front();
    steady::time_point last = sent;
    wait_for(
        [&] {
          for (size_t j = 0; j < watchers_.size(); ++j)
            if (first.ack_revision[j] <= revision) return false;
          for (size_t j = 0; j < watchers_.size(); ++j) last = std::max(last, first.ack_seen[j]);
          return true;
        },
        fmt::format("the acks of revision {} of '{}two'", revision, prefix_));
    return micros(sent, last);
  }

 private:
  struct watcher {
    etcd_round_trips* owner = nullptr;
    size_t index = 0;
    std::string endpoint;
    std::string request;                   ///< the watch's create_request; libcurl reads it
    std::unique_ptr<gateway_client> acks;  ///< puts this watcher's ack key at its member
    std::string pending;                   ///< bytes after the last complete line
    std::thread thread;
    // Guarded by owner->mutex_:
    bool created = false;
    int64_t one_revision = 0;
    steady::time_point one_seen;
    std::array<int64_t, cluster_size> ack_revision{};  ///< watcher 1 only: each watcher's ack
    std::array<steady::time_point, cluster_size> ack_seen{};
  };

  std::string ack_key(size_t i) const { return fmt::format("{}ack/{}", prefix_, i); }

  /// A plain put of `key` at member 1; its revision (the key's mod_revision).
  int64_t put(const std::string& key) {
    return int_field(client_.post("/v3/kv/put", {{"key", base64(key)}, {"value", base64("0")}})
                         .value("header", json::object()),
                     "revision");
  }

  /// Compare-and-swap of key `name` under the prefix at member 1: compare its mod_revision with
  /// `revision`, put a new value; `revision` becomes the new one, which is returned.
  int64_t cas(const std::string& name, int64_t& revision) {
    const std::string key = base64(prefix_ + name);
    json compare = {{"target", "MOD"},
                    {"key", key},
                    {"result", "EQUAL"},
                    {"mod_revision", std::to_string(revision)}};
    json put = {{"request_put", {{"key", key}, {"value", base64(std::to_string(revision))}}}};
    json body = {{"compare", json::array({compare})}, {"success", json::array({put})}};
    auto answer = client_.post("/v3/kv/txn", body);
    if (!answer.value("succeeded", false))
      throw std::runtime_error(fmt::format(
          "etcd limit: the compare of the Txn on '{}{}' at mod_revision {} failed: the key changed "
          "under the limit, which alone writes it on the bench's own etcd (a bug in the limit)",
          prefix_, name, revision));
    revision = int_field(answer.value("header", json::object()), "revision");
    return revision;
  }

  template <class Done>
  void wait_for(Done done, const std::string& what) {
    std::unique_lock lock(mutex_);
    if (!seen_.wait_for(lock, watch_timeout, [&] { return !failure_.empty() || done(); }))
      throw std::runtime_error(fmt::format("etcd limit: {} not seen within {} s", what,
                                           std::chrono::seconds(watch_timeout).count()));
    if (!failure_.empty()) throw std::runtime_error("etcd limit: " + failure_);
  }

  void fail(std::string what) {
    std::lock_guard lock(mutex_);
    if (failure_.empty()) failure_ = std::move(what);
    seen_.notify_all();
  }

  void stop() {
    stopping_ = true;
    for (auto& w : watchers_)
      if (w->thread.joinable()) w->thread.join();
  }

  /// One message of a watch stream (a line of JSON): the watch's creation, or events.
  void on_line(watcher& w, std::string_view line) {
    if (line.empty() || line == "\r") return;
    const auto now = steady::now();
    const json message = json::parse(line);
    if (message.contains("error"))
      throw std::runtime_error(fmt::format("the watch at {} ended with an error: {:.300}",
                                           w.endpoint, std::string(line)));
    const json& result = message.at("result");
    if (result.value("created", false)) {
      std::lock_guard lock(mutex_);
      w.created = true;
      seen_.notify_all();
    }
    auto events = result.find("events");
    if (events == result.end()) return;  // a progress notice
    for (const json& e : *events) {
      const json& kv = e.at("kv");
      const std::string key = kv.at("key").get<std::string>();
      const int64_t revision = int_field(kv, "mod_revision");
      if (key == one_key_) {
        std::lock_guard lock(mutex_);
        w.one_revision = revision;
        w.one_seen = now;
        seen_.notify_all();
      } else if (key == two_key_) {
        // As a node publishes `applied/<node>`: a Txn of one put, on this watcher's thread.
        json put = {{"request_put",
                     {{"key", ack_keys_[w.index]}, {"value", base64(std::to_string(revision))}}}};
        w.acks->post("/v3/kv/txn", {{"success", json::array({put})}});
      } else if (w.index == 0) {
        for (size_t j = 0; j < cluster_size; ++j) {
          if (key != ack_keys_[j]) continue;
          std::lock_guard lock(mutex_);
          w.ack_revision[j] = revision;
          w.ack_seen[j] = now;
          seen_.notify_all();
        }
      }
    }
  }

  static size_t on_watch_data(char* data, size_t, size_t bytes, void* user) {
    auto& w = *static_cast<watcher*>(user);
    // Nothing may unwind through libcurl: a failure ends the transfer and is reported.
    try {
      w.pending.append(data, bytes);
      size_t start = 0;
      for (size_t eol; (eol = w.pending.find('\n', start)) != std::string::npos; start = eol + 1)
        w.owner->on_line(w, std::string_view(w.pending).substr(start, eol - start));
      w.pending.erase(0, start);
      return bytes;
    } catch (const std::exception& e) {
      w.owner->fail(fmt::format("watcher at {}: {}", w.endpoint, e.what()));
      return 0;
    }
  }

  static int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    return static_cast<watcher*>(user)->owner->stopping_.load() ? 1 : 0;
  }

  void watch_loop(watcher& w) {
    CURL* curl = curl_easy_init();
    curl_slist* headers = nullptr;
    try {
      headers = gateway_headers();
    } catch (const std::exception& e) {
      fail(e.what());
    }
    if (!curl || !headers) {
      if (curl) curl_easy_cleanup(curl);
      curl_slist_free_all(headers);
      fail(fmt::format("watcher at {}: cannot set up libcurl", w.endpoint));
      return;
    }
    const std::string url = w.endpoint + "/v3/watch";
    char error[CURL_ERROR_SIZE] = {};
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROXY, "");
    curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, w.request.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(w.request.size()));
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_watch_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &w);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &w);
    const CURLcode rc = curl_easy_perform(curl);
    curl_easy_cleanup(curl);
    curl_slist_free_all(headers);
    if (!stopping_)
      fail(fmt::format(
          "the watch at {} ended: {}", w.endpoint,
          rc == CURLE_OK ? "the member closed it" : (error[0] ? error : curl_easy_strerror(rc))));
  }

  std::string prefix_;
  std::string one_key_, two_key_;  ///< base64, as the watch events carry them
  std::array<std::string, cluster_size> ack_keys_;
  gateway_client client_;  ///< the Txns, at member 1
  int64_t one_revision_ = 0, two_revision_ = 0;
  std::vector<std::unique_ptr<watcher>> watchers_;
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::condition_variable seen_;
  std::string failure_;  ///< guarded by mutex_
};

// --- the processes ---

/// Everything the scenario starts. Members are destroyed in reverse order, also when a phase
/// throws: the one node and the three nodes (SIGKILL), the etcd members (SIGKILL; their data
/// dirs removed), then the nodes' data dirs.
struct processes {
  explicit processes(const std::filesystem::path& root) : scratch(root) {}
  scratch_dir scratch;
  std::vector<std::unique_ptr<testing::etcd_process>> etcd;
  std::vector<std::unique_ptr<testing::node_process>> nodes;  ///< node-1..3 of cluster "bench"
  std::unique_ptr<testing::node_process> single;  ///< node "single" of cluster "bench-single"
};

bool is_in_flight_flag(const std::string& a) {
  return a.starts_with("--max-ingests-in-flight");
}

/// The flags of every node: cluster mode, then --node-arg. The in-flight limit is the node's
/// default (no count) unless --node-arg sets one: with a count, (b) would compare admission
/// limits (one node against three times its slots), not capacity.
std::vector<std::string> node_flags(const std::string& metadata, const std::string& cluster,
                                    const std::string& id, const options& o) {
  std::vector<std::string> flags = {"--metadata", metadata, "--cluster-name",        cluster,
                                    "--node-id",  id,       "--streaming-ingestion", "on"};
  flags.insert(flags.end(), o.node_args.begin(), o.node_args.end());
  return flags;
}

/// The in-flight flag the nodes run with, for the report.
std::string in_flight_limit(const std::vector<std::string>& flags) {
  for (size_t i = 0; i < flags.size(); ++i)
    if (is_in_flight_flag(flags[i]))
      return flags[i].find('=') != std::string::npos || i + 1 == flags.size()
                 ? flags[i]
                 : flags[i] + " " + flags[i + 1];
  return "default (no count)";
}

/// Busy CPU seconds of the whole machine so far: every CPU's time in /proc/stat but idle and
/// iowait.
double machine_busy_seconds() {
  std::ifstream stat("/proc/stat");
  std::string cpu;
  stat >> cpu;  // "cpu": user nice system idle iowait irq softirq steal ...
  double busy = 0, x = 0;
  for (int i = 0; i < 8 && stat >> x; ++i)
    if (i != 3 && i != 4) busy += x;
  return busy / static_cast<double>(sysconf(_SC_CLK_TCK));
}

int64_t single_count(const model::result_table& t, std::string_view where) {
  if (t.rows.size() != 1 || t.rows[0].size() != 1 || !std::holds_alternative<int64_t>(t.rows[0][0]))
    throw std::runtime_error(fmt::format("{}: `T | count` did not answer one long", where));
  return std::get<int64_t>(t.rows[0][0]);
}

/// (b): one side of the comparison and what its slices saw.
struct spread_side {
  std::string name;
  std::vector<std::string> addresses;
  load_totals all = {};
  double seconds = 0;
  std::vector<double> cpu_seconds = {};  ///< per watched process, during this side's slices
  double machine_busy = 0;               ///< the machine's busy CPU seconds, likewise
};

json spread_figures(spread_side& s, const std::vector<std::string>& process_names,
                    double create_seconds, size_t tables, const std::string& in_flight) {
  const auto acks = summarize(std::move(s.all.latencies_us));
  json cpu = json::object();
  double ours = 0;
  for (size_t i = 0; i < process_names.size(); ++i) {
    cpu[process_names[i]] = rounded(s.cpu_seconds[i], 2);
    ours += s.cpu_seconds[i];
  }
  cpu["other_processes"] = rounded(std::max(0.0, s.machine_busy - ours), 2);
  return {{"nodes", s.addresses.size()},
          {"in_flight_limit", in_flight},
          {"tables_created_per_s", rounded(static_cast<double>(tables) / create_seconds)},
          {"seconds", rounded(s.seconds, 2)},
          {"requests", acks.count},
          {"requests_per_s", rounded(static_cast<double>(acks.count) / s.seconds)},
          {"rows_per_s", rounded(static_cast<double>(s.all.rows) / s.seconds)},
          {"mib_per_s", rounded(static_cast<double>(s.all.bytes) / s.seconds / (1 << 20), 2)},
          {"ack_p50_us", rounded(acks.p50_us)},
          {"ack_p99_us", rounded(acks.p99_us)},
          {"ack_max_us", rounded(acks.max_us)},
          {"throttled_answers", s.all.throttled},
          {"errors", s.all.errors},
          {"machine_busy_cores", rounded(s.machine_busy / s.seconds, 2)},
          {"cpu_seconds", cpu}};
}

}  // namespace

scenario_result run_cluster(const options& o) {
  if (!o.node.empty())
    throw std::runtime_error(
        "cluster starts its own etcd members and nodes and reads their /proc/<pid>/stat: run it "
        "without --node");
  const size_t commands = o.commands.value_or(default_commands);
  const size_t queries = o.queries.value_or(default_queries);
  const size_t table_count = o.tables.value_or(default_tables);
  const std::string db(database);

  processes run(o.data_root);
  progress(fmt::format("cluster: starting {} etcd members", cluster_size));
  run.etcd = testing::etcd_process::start_cluster(cluster_size);
  const std::string metadata = testing::etcd_process::url(run.etcd);
  std::vector<std::string> endpoints;
  for (const auto& m : run.etcd) endpoints.push_back(m->endpoint());
  progress(
      fmt::format("cluster: starting {} nodes (cluster 'bench') and 1 (cluster "
                  "'bench-single') on {}, data on {}",
                  cluster_size, metadata, filesystem_of(run.scratch.path())));
  for (size_t i = 1; i <= cluster_size; ++i)
    run.nodes.push_back(std::make_unique<testing::node_process>(
        run.scratch.path() / fmt::format("node-{}", i),
        node_flags(metadata, "bench", fmt::format("node-{}", i), o),
        testing::node_process::scheduling::node_defaults));
  run.single = std::make_unique<testing::node_process>(
      run.scratch.path() / "single", node_flags(metadata, "bench-single", "single", o),
      testing::node_process::scheduling::node_defaults);

  // The same catalog on both sides: the database with its streaming policy, `T` for (c), the
  // many-tables' tables for (b); (a) adds `P`, after them, so it runs on a full catalog.
  std::vector<std::string> tables;
  for (size_t i = 0; i < table_count; ++i) tables.push_back(fmt::format("T{}", i));
  client::connection first(run.nodes.front()->rpc_address()), single(run.single->rpc_address());
  double create_seconds[2] = {0, 0};
  for (size_t side = 0; side < 2; ++side) {
    auto& c = side == 0 ? first : single;
    const auto address = side == 0 ? run.nodes.front()->rpc_address() : run.single->rpc_address();
    create_database(c, db, true);
    create_tables(address, db, {"T"}, false, 1);
    progress(fmt::format("cluster: creating {} tables at {}", table_count,
                         side == 0 ? "node-1" : "the one node"));
    const auto start = steady::now();
    create_tables(address, db, tables, false, 1);
    create_seconds[side] = std::chrono::duration<double>(steady::now() - start).count();
  }

  scenario_result r;
  r.scenario = "cluster";
  r.work = fmt::format(
      "{} nodes (cluster 'bench') + {} etcd members on loopback, beside 1 node (cluster "
      "'bench-single') on the same members; database {} with {} + 2 tables: (a) {} sequential "
      "`.create-merge table P` at node-1, (c) {} `T | count` at node-1 vs the one node, (b) "
      "many-tables' load ({} connections x {} in flight) spread round-robin over the {} nodes vs "
      "on the one node, {} s each in {} ms slices",
      cluster_size, cluster_size, db, table_count, commands, queries, many_tables_connections,
      many_tables_in_flight_per_connection, cluster_size, o.duration.count(), slice.count());

  // (a) Propagation, alternating in blocks with the single node and etcd's round trips.
  const auto limit_prefix = fmt::format("/bench-limit/{}/", getpid());
  std::vector<double> cluster_us, single_us, one_round_us, two_rounds_us;
  {
    etcd_round_trips limit(endpoints, limit_prefix);
    keep_cpus_awake awake(o.keep_cpus_awake);
    progress(fmt::format(
        "cluster (a): {} + {} schema changes at node-1 and at the one node, and etcd round trips, "
        "alternating every {}",
        warmup, commands, block));
    const size_t total = warmup + commands;
    for (size_t from = 0; from < total; from += block) {
      const size_t to = std::min(total, from + block);
      for (auto* c : {&first, &single}) {
        for (size_t i = from; i < to; ++i) {
          const auto text = fmt::format(".create-merge table P (c{}:string)", i);
          const auto t0 = steady::now();
          auto answer = c->command(db, text);
          const auto t1 = steady::now();
          expect_ok(answer, fmt::format("{} at {}", text, c == &first ? "node-1" : "the one node"));
          if (i >= warmup) (c == &first ? cluster_us : single_us).push_back(micros(t0, t1));
        }
      }
      for (size_t i = from; i < to; ++i) {
        const double us = limit.one_round_us();
        if (i >= warmup) one_round_us.push_back(us);
      }
      for (size_t i = from; i < to; ++i) {
        const double us = limit.two_rounds_us();
        if (i >= warmup) two_rounds_us.push_back(us);
      }
    }
  }
  const auto ours = summarize(cluster_us), alone = summarize(single_us);
  const auto one_round = summarize(one_round_us), two_rounds = summarize(two_rounds_us);

  // (c) Fan-out: rows of `T` at every node, then counts at node-1 and at the one node.
  progress(
      fmt::format("cluster (c): {} requests into T at each node, then {} + {} `T | count` "
                  "at node-1 and at the one node, alternating every {}",
                  fan_out_requests_per_node, warmup, queries, block));
  int64_t expected_rows = 0;
  {
    payload_generator generator(7);
    for (size_t n = 0; n < cluster_size; ++n) {
      client::connection c(run.nodes[n]->rpc_address());
      for (size_t i = 0; i < fan_out_requests_per_node; ++i) {
        const auto body = generator.next();
        const auto id = fmt::format("fan-out-{}-{}", n, i);
        expect_acked(c.ingest(make_request(db, "T", body, id)),
                     fmt::format("node-{}: ingest {}", n + 1, id));
        expect_acked(single.ingest(make_request(db, "T", body, id)), "the one node: ingest " + id);
        expected_rows += rows_per_request;
      }
    }
  }
  std::vector<double> fan_out_us, local_us;
  {
    keep_cpus_awake awake(o.keep_cpus_awake);
    const size_t total = warmup + queries;
    for (size_t from = 0; from < total; from += block) {
      const size_t to = std::min(total, from + block);
      for (auto* c : {&first, &single}) {
        const std::string where = c == &first ? "node-1" : "the one node";
        for (size_t i = from; i < to; ++i) {
          const auto t0 = steady::now();
          auto answer = c->query(db, "T | count");
          const auto t1 = steady::now();
          const auto rows = single_count(expect_ok(answer, where + ": T | count"), where);
          if (rows != expected_rows)
            throw std::runtime_error(fmt::format(
                "{}: `T | count` answered {} rows, but {} were acknowledged at the nodes", where,
                rows, expected_rows));
          if (i >= warmup) (c == &first ? fan_out_us : local_us).push_back(micros(t0, t1));
        }
      }
    }
  }
  const auto fan_out = summarize(fan_out_us), local = summarize(local_us);

  // (b) many-tables' load, the sides alternating in slices (the order flips every round), with
  // every process's CPU time read around each slice.
  std::vector<std::string> process_names;
  std::vector<int> pids;
  for (size_t i = 0; i < cluster_size; ++i) {
    process_names.push_back(fmt::format("node-{}", i + 1));
    pids.push_back(run.nodes[i]->pid());
  }
  process_names.push_back("single");
  pids.push_back(run.single->pid());
  for (size_t i = 0; i < cluster_size; ++i) {
    process_names.push_back(fmt::format("etcd-{}", i + 1));
    pids.push_back(run.etcd[i]->pid());
  }
  process_names.push_back("bench");
  pids.push_back(getpid());
  std::vector<spread_side> sides(2);
  sides[0].name = "three_nodes";
  for (const auto& n : run.nodes) sides[0].addresses.push_back(n->rpc_address());
  sides[1].name = "one_node";
  sides[1].addresses = {run.single->rpc_address()};
  for (auto& s : sides) s.cpu_seconds.assign(pids.size(), 0.0);
  const auto total = std::chrono::duration_cast<std::chrono::milliseconds>(o.duration);
  const size_t rounds = static_cast<size_t>((total + slice - 1ms) / slice);
  progress(fmt::format("cluster (b): {} rounds of {} ms on the {} nodes and on the one node",
                       rounds, slice.count(), cluster_size));
  for (size_t round = 0; round < rounds; ++round) {
    const auto length = std::min(slice, total - slice * static_cast<long>(round));
    for (size_t k = 0; k < sides.size(); ++k) {
      auto& s = sides[round % 2 ? sides.size() - 1 - k : k];
      std::vector<double> before;
      for (int pid : pids) before.push_back(process_cpu_seconds(pid));
      const double machine_before = machine_busy_seconds();
      s.seconds += run_load_slice(s.addresses, db, tables, steady::now() + length, round, s.all);
      s.machine_busy += machine_busy_seconds() - machine_before;
      for (size_t i = 0; i < pids.size(); ++i)
        s.cpu_seconds[i] += process_cpu_seconds(pids[i]) - before[i];
    }
  }

  // Every node applied the last schema change (after the load too): one row per node.
  auto acks = expect_ok(first.command(db, ".clear table P cache streamingingestion schema"),
                        "node-1: .clear table P cache streamingingestion schema");
  size_t node_column = acks.columns.size(), status_column = acks.columns.size();
  for (size_t c = 0; c < acks.columns.size(); ++c) {
    if (acks.columns[c].name == "NodeId") node_column = c;
    if (acks.columns[c].name == "Status") status_column = c;
  }
  if (node_column == acks.columns.size() || status_column == acks.columns.size())
    throw std::runtime_error(
        "node-1: .clear table P cache streamingingestion schema answered without NodeId and "
        "Status columns");
  size_t applied = 0;
  json node_status = json::object();
  for (const auto& row : acks.rows) {
    const auto* id = std::get_if<std::string>(&row[node_column]);
    const auto* status = std::get_if<std::string>(&row[status_column]);
    node_status[id ? *id : "?"] = status ? *status : "?";
    if (status && *status == "Succeeded") ++applied;
  }

  const auto in_flight = in_flight_limit(node_flags(metadata, "bench", "node-1", o));
  json spread_three =
      spread_figures(sides[0], process_names, create_seconds[0], table_count, in_flight);
  json spread_one =
      spread_figures(sides[1], process_names, create_seconds[1], table_count, in_flight);
  const double rows_ratio =
      spread_one["rows_per_s"].get<double>() > 0
          ? spread_three["rows_per_s"].get<double>() / spread_one["rows_per_s"].get<double>()
          : 0;
  r.figures["propagation"] = {{"commands", ours.count},
                              {"catalog_tables", table_count + 2},
                              {"p50_us", rounded(ours.p50_us)},
                              {"p99_us", rounded(ours.p99_us)},
                              {"max_us", rounded(ours.max_us)},
                              {"one_node_p50_us", rounded(alone.p50_us)},
                              {"one_node_p99_us", rounded(alone.p99_us)},
                              {"nodes_applied", applied},
                              {"node_status", node_status}};
  r.figures["fan_out"] = {{"queries", fan_out.count},
                          {"rows_counted", expected_rows},
                          {"three_nodes_p50_us", rounded(fan_out.p50_us)},
                          {"three_nodes_p99_us", rounded(fan_out.p99_us)},
                          {"three_nodes_max_us", rounded(fan_out.max_us)},
                          {"one_node_p50_us", rounded(local.p50_us)},
                          {"one_node_p99_us", rounded(local.p99_us)},
                          {"one_node_max_us", rounded(local.max_us)},
                          {"ratio_p99", rounded(fan_out.p99_us / local.p99_us, 3)}};
  r.figures["spread_three_nodes"] = std::move(spread_three);
  r.figures["spread_one_node"] = std::move(spread_one);
  r.figures["spread_rows_ratio"] = rounded(rows_ratio, 3);

  r.limit_work = fmt::format(
      "etcd's own CAS Txn + watch round trip on the same {} members: a Txn (compare "
      "mod_revision, put) on one key at member 1 over a keep-alive HTTP/1.1 connection to the "
      "JSON gateway; Txn sent -> all {} watchers (one HTTP watch stream per member) saw its "
      "revision; two_rounds: then each watcher puts an ack key at its member and watcher 1 sees "
      "all {} (commit + applied/<node>); alternating with the commands every {}",
      cluster_size, cluster_size, cluster_size, block);
  r.limit = {{"round_trips", one_round.count},
             {"p50_us", rounded(one_round.p50_us)},
             {"p99_us", rounded(one_round.p99_us)},
             {"max_us", rounded(one_round.max_us)},
             {"two_rounds_p50_us", rounded(two_rounds.p50_us)},
             {"two_rounds_p99_us", rounded(two_rounds.p99_us)}};
  r.ratio = ours.p99_us / one_round.p99_us;
  r.ratio_of = "propagation p99 / etcd Txn+watch p99";
  r.extra["ratio_p50"] = rounded(ours.p50_us / one_round.p50_us, 3);
  r.extra["ratio_two_rounds"] = rounded(ours.p99_us / two_rounds.p99_us, 3);
  r.extra["ratio_rows_per_s"] = rounded(rows_ratio, 3);
  r.extra["ratio_fan_out_p99"] = rounded(fan_out.p99_us / local.p99_us, 3);
  r.extra["cpus_kept_awake"] = o.keep_cpus_awake;
  if (applied != cluster_size)
    r.extra["note"] = fmt::format(
        "only {} of {} nodes applied the last schema change (node_status; a node's log names "
        "why)",
        applied, cluster_size);
  json nodes = json::array();
  for (const auto& n : run.nodes) nodes.push_back(n->rpc_address());
  r.extra["nodes"] = {{"three_nodes", nodes},
                      {"one_node", run.single->rpc_address()},
                      {"flags_node_1", node_flags(metadata, "bench", "node-1", o)},
                      {"flags_one_node", node_flags(metadata, "bench-single", "single", o)},
                      {"data_fs", filesystem_of(run.scratch.path())},
                      {"etcd_endpoints", endpoints},
                      {"etcd_data_fs", filesystem_of(run.etcd.front()->log_file().parent_path())}};
  return r;
}

}  // namespace tributary::bench
