// Cluster mode's failure cases through real processes on loopback (reference/cluster.md §5.8):
// three tributaryd nodes on one etcd, or on a three-member etcd cluster. A node killed and
// restarted; columns added while every node ingests; etcd compacted while a node is down; etcd's
// leader killed; etcd's quorum lost; the cluster-wide drain with a node down. Waits poll with a
// deadline; every test checks what a broken node would get wrong (rows lost or doubled, a stale
// node ingesting, a partial answer without a warning, a drain reported done too early).

#include <curl/curl.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <array>
#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "client/client.hpp"
#include "tests/support/etcd_process.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/node_process.hpp"
#include "tests/support/outcomes.hpp"

namespace tributary::testing {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using json = nlohmann::json;

constexpr size_t none = static_cast<size_t>(-1);

bool acked(const client::ingest_outcome& o) { return std::holds_alternative<client::ingest_ack>(o); }

std::string error_code(const client::ingest_outcome& o) {
  if (const auto* e = std::get_if<model::error>(&o)) return e->code;
  return "ack";
}

std::string describe(const model::outcome& o) {
  if (const auto* e = std::get_if<model::error>(&o)) return e->code + ": " + e->message;
  return "a table";
}

int64_t ms_since(steady::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - t).count();
}

// --- ingest ---------------------------------------------------------------------------------

// Rows n = first .. first+count-1 of Db.<table> as JSON lines. JSON maps properties to columns by
// name, so a column added while the request is on its way is null in its rows; CSV would be
// refused (Stream_WrongNumberOfFields) and the test would have to tell that apart.
client::ingest_request json_rows(const std::string& table, int64_t first, int count, std::string request_id) {
  client::ingest_request r;
  r.database = "Db";
  r.table = table;
  r.fmt = client::format::json;
  r.request_id = std::move(request_id);
  for (int64_t n = first; n < first + count; ++n)
    r.data += json{{"n", n}, {"s", "row " + std::to_string(n)}}.dump() + "\n";
  return r;
}

// Refusals after which the node ingested nothing and will take the same request shortly.
bool retryable(const std::string& code) {
  return code == "Throttling" || code == "CatalogSyncing" || code == "ClusterMetadataUnavailable";
}

struct delivery {
  bool acked = false;
  bool duplicate = false;    // the ack says an earlier attempt with this request id was ingested
  bool answer_lost = false;  // an attempt's answer never came: that attempt may have been ingested
  int refusals = 0;          // retryable refusals before the last answer
  std::string last_error;
};

// Sends `r` until it is acknowledged, retrying retryable refusals with the same request id for
// up to `limit`.
delivery deliver(client::connection& c, const client::ingest_request& r, std::chrono::milliseconds limit) {
  delivery d;
  for (const auto end = steady::now() + limit;;) {
    auto o = c.ingest(r);
    if (const auto* a = std::get_if<client::ingest_ack>(&o)) {
      d.acked = true;
      d.duplicate = a->duplicate;
      return d;
    }
    const auto& e = std::get<model::error>(o);
    d.last_error = e.code + ": " + e.message;
    if (e.code == "ConnectionFailed" || e.code == "RpcFailed") d.answer_lost = true;
    if (!retryable(e.code) || steady::now() >= end) return d;
    ++d.refusals;
    std::this_thread::sleep_for(20ms);
  }
}

// Adds the rows of an acknowledged request to `rows`; `first`/`count` as in json_rows.
void add_rows(std::set<int64_t>& rows, int64_t first, int count) {
  for (int64_t n = first; n < first + count; ++n) rows.insert(n);
}

// --- queries and commands ---------------------------------------------------------------------

// `query`'s answer at `c`, asked again while it is a transient error (PartialQueryFailure while a
// node restarts and its new address spreads, ShardSchemaMismatch while nodes apply a change) for
// up to `limit`; the last answer otherwise.
model::outcome answer(client::connection& c, const std::string& query, std::chrono::milliseconds limit = 15s) {
  for (const auto end = steady::now() + limit;;) {
    auto o = c.query("Db", query);
    const auto* e = std::get_if<model::error>(&o);
    if (!e || e->permanent || steady::now() >= end) return o;
    std::this_thread::sleep_for(50ms);
  }
}

int64_t count_at(client::connection& c, const std::string& query, std::chrono::milliseconds limit = 15s) {
  auto t = ok(answer(c, query, limit));
  return t.rows.size() == 1 ? std::get<int64_t>(t.rows[0][0]) : -1;
}

// Reads Db.<table> at `c` and checks its `n` values are `expected`, each exactly once: nothing
// acknowledged lost, nothing doubled, nothing that was refused.
void expect_rows_exactly(client::connection& c, const std::string& table, const std::set<int64_t>& expected,
                         const std::string& when) {
  auto t = ok(answer(c, table + " | take 1000000"));
  size_t column = t.columns.size();
  for (size_t i = 0; i < t.columns.size(); ++i)
    if (t.columns[i].name == "n") column = i;
  ASSERT_LT(column, t.columns.size()) << when << ": table " << table << " has no column n";
  std::map<int64_t, int> seen;
  for (const auto& row : t.rows) ++seen[std::get<int64_t>(row[column])];
  std::vector<int64_t> lost, doubled, unacked;
  for (int64_t n : expected)
    if (!seen.count(n)) lost.push_back(n);
  for (const auto& [n, copies] : seen) {
    if (copies > 1) doubled.push_back(n);
    if (!expected.count(n)) unacked.push_back(n);
  }
  auto first = [](const std::vector<int64_t>& v) { return v.empty() ? std::string("-") : std::to_string(v.front()); };
  EXPECT_TRUE(lost.empty()) << when << ": " << lost.size() << " of " << expected.size()
                            << " acknowledged rows of " << table << " are missing, e.g. n=" << first(lost);
  EXPECT_TRUE(doubled.empty()) << when << ": " << doubled.size() << " rows of " << table
                               << " are there more than once, e.g. n=" << first(doubled);
  EXPECT_TRUE(unacked.empty()) << when << ": " << unacked.size() << " rows of " << table
                               << " were never acknowledged, e.g. n=" << first(unacked);
}

std::set<std::string> table_names(client::connection& c) {
  auto o = c.command("Db", ".show tables");
  std::set<std::string> out;
  if (const auto* t = std::get_if<model::result_table>(&o))
    for (size_t i = 0; i < t->rows.size(); ++i) out.insert(std::get<std::string>(cell(*t, "TableName", i)));
  return out;
}

void create_table(client::connection& c, const std::string& table) {
  ok(c.command("Db", ".create table " + table + " (n:long, s:string)"));
  ok(c.command("Db", ".alter table " + table + " policy streamingingestion enable"));
}

struct command_attempts {
  bool succeeded = false;
  std::string last_error;
};

// Runs a command through a failure of the metadata store: sent again while it answers a
// transient error; after CommandOutcomeUnknown `applied()` says whether it took effect (the
// commands here are idempotent, so sending one again that did is harmless, just slower).
command_attempts command_through_failover(client::connection& c, const std::string& database, const std::string& text,
                                          const std::function<bool()>& applied, std::chrono::milliseconds limit) {
  command_attempts out;
  for (const auto end = steady::now() + limit;;) {
    auto o = c.command(database, text);
    if (std::holds_alternative<model::result_table>(o)) {
      out.succeeded = true;
      return out;
    }
    const auto& e = std::get<model::error>(o);
    out.last_error = e.code + ": " + e.message;
    if (e.code == "CommandOutcomeUnknown") {
      if (applied && applied()) {
        out.succeeded = true;
        return out;
      }
    } else if (e.permanent) {
      return out;
    }
    if (steady::now() >= end) return out;
    std::this_thread::sleep_for(100ms);
  }
}

// --- etcd's JSON gateway ----------------------------------------------------------------------

size_t collect(char* data, size_t, size_t bytes, void* out) {
  static_cast<std::string*>(out)->append(data, bytes);
  return bytes;
}

// POSTs `body` to `path` on member `m`: etcd's answer, error answers included ("" when the
// member does not answer within 2 s).
std::string etcd_call(const etcd_process& m, const std::string& path, const std::string& body) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  CURL* curl = curl_easy_init();
  if (!curl) return {};
  std::string answer;
  const std::string url = m.endpoint() + path;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_PROXY, "");
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 2000L);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer);
  const CURLcode rc = curl_easy_perform(curl);
  curl_easy_cleanup(curl);
  return rc == CURLE_OK ? answer : std::string();
}

// The store's current revision (header.revision of a range over "/"); -1 when unreadable.
int64_t etcd_revision(const etcd_process& m) {
  auto a = json::parse(etcd_call(m, "/v3/kv/range", R"({"key":"Lw=="})"), nullptr, false);
  if (a.is_discarded() || !a.contains("header")) return -1;
  return std::stoll(a["header"].value("revision", "-1"));
}

// The member that is the leader by its own account (maintenance/status: `leader` is its own
// member id); `none` when no running member says so.
size_t etcd_leader(std::vector<std::unique_ptr<etcd_process>>& members) {
  for (size_t i = 0; i < members.size(); ++i) {
    if (!members[i]->running()) continue;
    auto s = json::parse(etcd_call(*members[i], "/v3/maintenance/status", "{}"), nullptr, false);
    if (s.is_discarded() || !s.contains("header")) continue;
    const auto leader = s.value("leader", "");
    if (!leader.empty() && leader == s["header"].value("member_id", "")) return i;
  }
  return none;
}

// --- the cluster ------------------------------------------------------------------------------

// `etcd_members` etcd members, and (after start_nodes) three nodes of cluster "c" on them, each
// with its own data dir. Members outlive the nodes (declared first, destroyed last).
struct cluster_on_etcd {
  explicit cluster_on_etcd(size_t etcd_members) : etcd(etcd_process::start_cluster(etcd_members)) {}

  // `metadata` is the nodes' --metadata; by default every member in order.
  void start_nodes(std::vector<std::string> extra = {}, std::string metadata = {}) {
    if (metadata.empty()) metadata = etcd_process::url(etcd);
    for (size_t i = 0; i < 3; ++i) {
      std::vector<std::string> a{"--metadata", metadata, "--cluster-name", "c", "--node-id", node_id(i),
                                 "--streaming-ingestion", "on", "--catalog-staleness-bound", "1s",
                                 "--catalog-sync-timeout", "3s"};
      a.insert(a.end(), extra.begin(), extra.end());
      dirs.push_back(std::make_unique<temp_dir>());
      nodes.push_back(std::make_unique<node_process>(dirs.back()->path(), a));
    }
  }
  static std::string node_id(size_t i) { return "node-" + std::to_string(i + 1); }
  client::connection connect(size_t i) { return client::connection(nodes[i]->rpc_address()); }

  std::vector<std::unique_ptr<etcd_process>> etcd;
  std::vector<std::unique_ptr<temp_dir>> dirs;
  std::vector<std::unique_ptr<node_process>> nodes;
};

// Database Db and table T (n:long, s:string) with streaming ingestion, created at node 1.
void create_db_and_t(cluster_on_etcd& f) {
  auto a = f.connect(0);
  ok(a.command("", ".create database Db"));
  create_table(a, "T");
}

// --- 1. a node killed ---------------------------------------------------------------------------

// Reference §5.6: shards are node-local, so a killed node's rows are unavailable until it
// returns. The default answer fails visibly (transient, naming the node); best_effort answers
// with the others' rows and says which node is missing; the node's acknowledged rows come back
// with it, on new ports.
TEST(cluster_failure, a_killed_node_fails_queries_naming_it_best_effort_answers_without_it_and_its_rows_return) {
  cluster_on_etcd f(1);
  f.start_nodes();
  create_db_and_t(f);
  std::set<int64_t> all, without_node3;
  for (size_t i = 0; i < 3; ++i) {
    auto c = f.connect(i);
    const int64_t first = static_cast<int64_t>(i) * 1000;
    const int rows = 10 * static_cast<int>(i + 1);  // 10, 20, 30: each node's share tells in a count
    auto d = deliver(c, json_rows("T", first, rows, "kill-" + std::to_string(i)), 10s);
    ASSERT_TRUE(d.acked) << "ingest at " << cluster_on_etcd::node_id(i) << ": " << d.last_error;
    add_rows(all, first, rows);
    if (i < 2) add_rows(without_node3, first, rows);
  }
  {
    auto a = f.connect(0);
    ASSERT_EQ(count_at(a, "T | count"), 60);
  }

  f.nodes[2]->kill();
  for (size_t i = 0; i < 2; ++i) {
    const auto at = cluster_on_etcd::node_id(i);
    auto c = f.connect(i);
    auto e = failed(c.query("Db", "T | count"));
    EXPECT_EQ(e.code, "PartialQueryFailure") << "at " << at << ": " << e.message;
    EXPECT_FALSE(e.permanent) << "at " << at << ": a missing node is transient (retry): " << e.message;
    EXPECT_NE(e.message.find("node-3"), std::string::npos) << "at " << at << ": names the missing node: " << e.message;
    EXPECT_EQ(e.message.find("node-" + std::to_string(2 - i)), std::string::npos)
        << "at " << at << ": names only the missing node: " << e.message;

    auto partial = c.query_with_warnings("Db", "set best_effort=true; T | count");
    auto t = ok(partial.outcome);
    ASSERT_EQ(t.rows.size(), 1u) << "at " << at;
    EXPECT_EQ(std::get<int64_t>(t.rows[0][0]), 30) << "at " << at << ": the rows of node-1 and node-2 (10 + 20)";
    bool named = false;
    for (const auto& w : partial.warnings) named = named || w.find("node-3") != std::string::npos;
    EXPECT_TRUE(named) << "at " << at << ": a best_effort answer without node-3's rows warns about node-3 ("
                       << partial.warnings.size() << " warning(s))";

    auto rows = c.query_with_warnings("Db", "set best_effort=true; T | take 1000");
    ASSERT_TRUE(std::holds_alternative<model::result_table>(rows.outcome)) << describe(rows.outcome);
    EXPECT_EQ(std::get<model::result_table>(rows.outcome).rows.size(), without_node3.size()) << "at " << at;
    EXPECT_FALSE(rows.warnings.empty()) << "at " << at << ": take, too, warns about the missing node";
  }

  f.nodes[2]->restart();
  for (size_t i = 0; i < 3; ++i) {
    auto c = f.connect(i);
    EXPECT_EQ(count_at(c, "T | count", 20s), 60) << "at " << cluster_on_etcd::node_id(i)
                                                 << " after node-3 restarted on new ports";
  }
  auto a = f.connect(0);
  expect_rows_exactly(a, "T", all, "after node-3 restarted");
  auto complete = a.query_with_warnings("Db", "set best_effort=true; T | count");
  EXPECT_TRUE(complete.warnings.empty()) << "every node answers again: " << complete.warnings.front();
}

// --- 2. columns added while every node ingests --------------------------------------------------

// Reference §5.4 "in-flight ingests during a schema change": rows parsed under the old schema are
// acknowledged and kept (the new columns null); rows parsed under the new one too. Counted
// precisely: a row counts once its request is acknowledged, and every node counts the same.
TEST(cluster_failure, columns_added_while_every_node_ingests_lose_and_double_nothing) {
  cluster_on_etcd f(1);
  f.start_nodes();
  create_db_and_t(f);

  constexpr int rows_per_batch = 5;
  constexpr int columns_added = 8;
  struct worker_log {
    std::atomic<int> batches{0};  // acknowledged, read by the main thread while it runs
    std::set<int64_t> rows;
    std::vector<std::string> failures;
    int unexpected_duplicates = 0;
    int refusals = 0;
  };
  std::array<worker_log, 3> logs;
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  // Each node's client keeps `window` requests in flight, so that some are always being parsed
  // or committed when a column is added.
  constexpr size_t window = 4;
  for (size_t i = 0; i < 3; ++i)
    workers.emplace_back([&, i] {
      client::connection c(f.nodes[i]->rpc_address());
      auto& log = logs[i];
      int k = 0;
      std::map<std::string, std::pair<int64_t, steady::time_point>> pending;  // request id → first n, sent
      auto next = [&]() -> std::optional<client::ingest_request> {
        if (stop.load() || log.failures.size() >= 5) return std::nullopt;
        const int64_t first = static_cast<int64_t>(i + 1) * 100'000'000 + int64_t{k} * rows_per_batch;
        auto id = "alter-" + std::to_string(i) + "-" + std::to_string(k++);
        pending[id] = {first, steady::now()};
        return json_rows("T", first, rows_per_batch, id);
      };
      auto answered = [&](const client::ingest_request& r,
                          const client::ingest_outcome& o) -> std::optional<std::chrono::milliseconds> {
        auto it = pending.find(r.request_id);
        const auto [first, sent] = it->second;
        if (const auto* a = std::get_if<client::ingest_ack>(&o)) {
          // Only retryable refusals (which ingested nothing) came before: a duplicate means one
          // of them lied.
          if (a->duplicate) ++log.unexpected_duplicates;
          add_rows(log.rows, first, rows_per_batch);
          ++log.batches;
          pending.erase(it);
          return std::nullopt;
        }
        const auto& e = std::get<model::error>(o);
        if (retryable(e.code) && steady::now() - sent < 20s) {
          ++log.refusals;
          return 20ms;  // the same request, the same id
        }
        log.failures.push_back(r.request_id + ": " + e.code + ": " + e.message);
        pending.erase(it);
        return std::nullopt;
      };
      c.ingest_pipelined(window, next, answered);
    });
  auto progress = [&] {
    std::array<int, 3> p{};
    for (size_t i = 0; i < 3; ++i) p[i] = logs[i].batches.load();
    return p;
  };
  // Every node has acknowledged two more batches than at `before`.
  auto moved_on = [&](const std::array<int, 3>& before) {
    for (size_t i = 0; i < 3; ++i)
      if (logs[i].batches.load() < before[i] + 2) return false;
    return true;
  };

  std::vector<std::unique_ptr<client::connection>> admin;
  for (size_t i = 0; i < 3; ++i) admin.push_back(std::make_unique<client::connection>(f.nodes[i]->rpc_address()));
  EXPECT_TRUE(eventually([&] { return moved_on({0, 0, 0}); }, 15s)) << "every node ingests before the first change";
  for (int k = 1; k <= columns_added; ++k) {
    const auto before = progress();
    // At each node in turn: a command from any node reaches every node.
    ok(admin[static_cast<size_t>(k) % 3]->command("Db", ".create-merge table T (c" + std::to_string(k) + ":string)"));
    EXPECT_TRUE(eventually([&] { return moved_on(before); }, 20s))
        << "ingest goes on at every node after column c" << k << " was added";
  }
  stop = true;
  for (auto& w : workers) w.join();

  std::set<int64_t> all;
  for (size_t i = 0; i < 3; ++i) {
    const auto& log = logs[i];
    EXPECT_TRUE(log.failures.empty()) << cluster_on_etcd::node_id(i) << ": " << log.failures.size()
                                      << " batches never acknowledged, the first: "
                                      << (log.failures.empty() ? "" : log.failures.front());
    EXPECT_EQ(log.unexpected_duplicates, 0)
        << cluster_on_etcd::node_id(i) << ": acks as duplicates of requests only ever refused before";
    all.insert(log.rows.begin(), log.rows.end());
  }
  ASSERT_FALSE(all.empty());
  RecordProperty("rows_acknowledged", static_cast<int>(all.size()));
  RecordProperty("refusals_retried", logs[0].refusals + logs[1].refusals + logs[2].refusals);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(count_at(*admin[i], "T | count"), static_cast<int64_t>(all.size()))
        << "at " << cluster_on_etcd::node_id(i) << ": every acknowledged row, once";
    auto schema = ok(admin[i]->command("Db", ".show table T"));
    EXPECT_EQ(schema.rows.size(), 2u + columns_added) << "at " << cluster_on_etcd::node_id(i);
  }
  expect_rows_exactly(*admin[0], "T", all, "after " + std::to_string(columns_added) + " columns were added");
}

// --- 3. etcd compacted while a node is down -------------------------------------------------------

// Reference §5.8 "compact while C is down": the changes node-3 missed are no longer in etcd's
// history, only in its current state. node-3 comes back with the catalog as it is now (tables
// created while it was down, one dropped), and takes ingest into a table it never saw created.
TEST(cluster_failure, a_node_down_across_an_etcd_compaction_comes_back_with_every_table_and_takes_ingest) {
  cluster_on_etcd f(1);
  f.start_nodes();
  create_db_and_t(f);
  auto a = f.connect(0);
  ok(a.command("Db", ".create table Old (n:long)"));
  {
    auto c = f.connect(2);
    auto d = deliver(c, json_rows("T", 0, 7, "before-compaction"), 10s);
    ASSERT_TRUE(d.acked) << d.last_error;
  }
  // A clean stop revokes its lease: the commands below report it fenced after the staleness bound.
  EXPECT_EQ(f.nodes[2]->stop(), 0) << "node-3 stops cleanly on SIGTERM";

  for (const char* t : {"A", "B", "C"}) ok(a.command("Db", std::string(".create table ") + t + " (n:long, s:string)"));
  ok(a.command("Db", ".alter table B policy streamingingestion enable"));
  ok(a.command("Db", ".drop table Old"));

  const int64_t revision = etcd_revision(*f.etcd[0]);
  ASSERT_GT(revision, 1);
  const auto compacted = etcd_call(*f.etcd[0], "/v3/kv/compaction",
                                   json{{"revision", std::to_string(revision)}, {"physical", true}}.dump());
  ASSERT_FALSE(compacted.empty()) << "etcd did not answer the compaction";
  ASSERT_EQ(compacted.find("error"), std::string::npos) << compacted;
  // The history node-3 missed is gone: a read before the compaction point is refused.
  const auto old = etcd_call(*f.etcd[0], "/v3/kv/range",
                             json{{"key", "Lw=="}, {"revision", std::to_string(revision - 1)}}.dump());
  ASSERT_NE(old.find("compacted"), std::string::npos) << "etcd still has revision " << revision - 1 << ": " << old;

  f.nodes[2]->restart();
  auto c = f.connect(2);
  const std::set<std::string> expected{"A", "B", "C", "T"};
  EXPECT_EQ(table_names(c), expected) << "node-3 has the tables created while it was down, not the dropped one";
  auto d = deliver(c, json_rows("B", 100, 5, "after-compaction"), 15s);
  EXPECT_TRUE(d.acked) << "ingest at node-3 into a table created while it was down: " << d.last_error;
  EXPECT_EQ(count_at(a, "B | count"), 5) << "node-1 counts node-3's rows (it reaches node-3 at its new address)";
  EXPECT_EQ(count_at(a, "T | count"), 7) << "node-3's rows from before it stopped";
  for (size_t i = 0; i < 2; ++i) {
    auto x = f.connect(i);
    EXPECT_EQ(table_names(x), expected) << "at " << cluster_on_etcd::node_id(i);
  }
}

// --- 4. etcd's leader killed ----------------------------------------------------------------------

// Reference §1.9: with three members, a killed leader costs an election (1–2 s measured). Every
// node has the leader as its first endpoint, so each one's watch, freshness reads and commits
// are on the member that dies and must move to the survivors: commands work again after a short
// stall, every node follows them, ingest resumes everywhere.
TEST(cluster_failure, commands_and_ingest_resume_after_the_etcd_leader_is_killed) {
  cluster_on_etcd f(3);
  size_t leader = none;
  ASSERT_TRUE(eventually([&] { return (leader = etcd_leader(f.etcd)) != none; }, 10s)) << "no etcd member leads";
  std::string metadata = "etcd://127.0.0.1:" + std::to_string(f.etcd[leader]->client_port());
  for (size_t i = 0; i < f.etcd.size(); ++i)
    if (i != leader) metadata += ",127.0.0.1:" + std::to_string(f.etcd[i]->client_port());
  f.start_nodes({}, metadata);
  create_db_and_t(f);
  std::vector<std::unique_ptr<client::connection>> c;
  for (size_t i = 0; i < 3; ++i) c.push_back(std::make_unique<client::connection>(f.nodes[i]->rpc_address()));
  std::set<int64_t> t_rows, t2_rows;
  for (size_t i = 0; i < 3; ++i) {
    auto d = deliver(*c[i], json_rows("T", static_cast<int64_t>(i) * 100, 10, "leader-before-" + std::to_string(i)), 10s);
    ASSERT_TRUE(d.acked) << d.last_error;
    add_rows(t_rows, static_cast<int64_t>(i) * 100, 10);
  }

  const auto killed = steady::now();
  f.etcd[leader]->kill();
  auto created = command_through_failover(
      *c[0], "Db", ".create table T2 (n:long, s:string)", [&] { return table_names(*c[0]).count("T2") > 0; }, 30s);
  const auto stall = ms_since(killed);
  ASSERT_TRUE(created.succeeded) << "a command after etcd's leader was killed: " << created.last_error;
  EXPECT_LT(stall, 15'000) << "the command stalled " << stall << " ms after the leader was killed";
  RecordProperty("command_stall_ms", static_cast<int>(stall));
  // Idempotent: after CommandOutcomeUnknown it is simply sent again.
  auto enabled =
      command_through_failover(*c[1], "Db", ".alter table T2 policy streamingingestion enable", nullptr, 30s);
  ASSERT_TRUE(enabled.succeeded) << enabled.last_error;
  for (size_t i = 0; i < 3; ++i)
    EXPECT_TRUE(eventually([&] { return table_names(*c[i]).count("T2") > 0; }, 15s))
        << cluster_on_etcd::node_id(i) << " follows the catalog through the surviving members";

  for (size_t i = 0; i < 3; ++i) {
    const auto n = static_cast<int64_t>(i) * 100;
    auto d = deliver(*c[i], json_rows("T2", n, 10, "leader-after-t2-" + std::to_string(i)), 20s);
    EXPECT_TRUE(d.acked) << "ingest at " << cluster_on_etcd::node_id(i) << " after the failover: " << d.last_error;
    if (d.acked) add_rows(t2_rows, n, 10);
    d = deliver(*c[i], json_rows("T", n + 50, 10, "leader-after-t-" + std::to_string(i)), 20s);
    EXPECT_TRUE(d.acked) << "ingest at " << cluster_on_etcd::node_id(i) << " after the failover: " << d.last_error;
    if (d.acked) add_rows(t_rows, n + 50, 10);
  }
  // After the failover a command no longer stalls.
  const auto start = steady::now();
  ok(c[2]->command("Db", ".create table T3 (n:long)"));
  EXPECT_LT(ms_since(start), 5000) << "a command on the two surviving members";
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(count_at(*c[i], "T | count"), static_cast<int64_t>(t_rows.size())) << "at " << cluster_on_etcd::node_id(i);
    EXPECT_EQ(count_at(*c[i], "T2 | count"), static_cast<int64_t>(t2_rows.size())) << "at " << cluster_on_etcd::node_id(i);
  }
  expect_rows_exactly(*c[0], "T", t_rows, "after the etcd leader was killed");
  expect_rows_exactly(*c[0], "T2", t2_rows, "after the etcd leader was killed");
}

// --- 5. etcd's quorum lost ------------------------------------------------------------------------

// Reference §5.4: without a quorum no node can know its catalog is current, so ingest stops
// within the staleness bound (fail closed, transient errors) and commands fail, transiently or
// with an unknown outcome. Nothing acknowledged before is lost; with the quorum back ingest
// resumes, and a command of unknown outcome has the same outcome at every node.
TEST(cluster_failure, losing_etcd_quorum_stops_commands_and_ingest_and_loses_nothing) {
  cluster_on_etcd f(3);
  f.start_nodes();
  create_db_and_t(f);
  std::vector<std::unique_ptr<client::connection>> c;
  for (size_t i = 0; i < 3; ++i) c.push_back(std::make_unique<client::connection>(f.nodes[i]->rpc_address()));
  std::set<int64_t> all;
  int sent = 0;
  // One attempt of a fresh request of 3 rows at node i; acknowledged rows are recorded.
  auto send_once = [&](size_t i) {
    const int64_t first = int64_t{sent} * 3;
    auto o = c[i]->ingest(json_rows("T", first, 3, "quorum-" + std::to_string(sent)));
    ++sent;
    if (acked(o)) add_rows(all, first, 3);
    return o;
  };
  for (size_t i = 0; i < 3; ++i)
    for (int k = 0; k < 3; ++k) ASSERT_TRUE(acked(send_once(i))) << cluster_on_etcd::node_id(i);

  const auto lost = steady::now();
  f.etcd[0]->kill();
  f.etcd[1]->kill();
  // Staleness bound 1 s, a freshness read every 250 ms: every node refuses within about 1.3 s.
  constexpr int64_t stop_limit_ms = 1000 + 3000;
  for (size_t i = 0; i < 3; ++i) {
    std::string code;
    const bool stopped = eventually([&] {
      code = error_code(send_once(i));
      return code != "ack";
    }, 8s);
    const auto after = ms_since(lost);
    EXPECT_TRUE(stopped) << cluster_on_etcd::node_id(i) << " still acknowledges ingest " << after
                         << " ms after etcd lost its quorum";
    EXPECT_LT(after, stop_limit_ms) << cluster_on_etcd::node_id(i) << " stopped ingesting only after " << after << " ms";
    RecordProperty("ingest_stopped_ms_" + cluster_on_etcd::node_id(i), static_cast<int>(after));
    EXPECT_TRUE(code == "CatalogSyncing" || code == "ClusterMetadataUnavailable") << code;
  }
  // And stays stopped while etcd cannot confirm anything.
  for (size_t i = 0; i < 3; ++i)
    for (int k = 0; k < 3; ++k) {
      auto o = send_once(i);
      EXPECT_TRUE(error_code(o) == "CatalogSyncing" || error_code(o) == "ClusterMetadataUnavailable")
          << cluster_on_etcd::node_id(i) << ": " << error_code(o);
    }

  // Queries read the nodes' shards, not etcd: every acknowledged row is there meanwhile.
  EXPECT_EQ(count_at(*c[1], "T | count", 5s), static_cast<int64_t>(all.size())) << "during the outage";
  const auto asked = steady::now();
  auto e = failed(c[0]->command("Db", ".create table Q (n:long)"));
  const auto took = ms_since(asked);
  EXPECT_TRUE(e.code == "CommandOutcomeUnknown" || !e.permanent)
      << "a command without quorum fails transiently or with an unknown outcome: " << e.code << ": " << e.message;
  EXPECT_LT(took, 12'000) << "the command without quorum answered after " << took << " ms";
  RecordProperty("command_failed_ms", static_cast<int>(took));

  f.etcd[0]->restart(false);
  f.etcd[1]->restart(false);
  for (auto& m : f.etcd) ASSERT_TRUE(m->wait_healthy(20s)) << "etcd member " << m->name() << " after the restart";
  for (size_t i = 0; i < 3; ++i) {
    const int64_t first = 1'000'000 + static_cast<int64_t>(i) * 10;
    auto d = deliver(*c[i], json_rows("T", first, 10, "quorum-back-" + std::to_string(i)), 20s);
    EXPECT_TRUE(d.acked) << "ingest at " << cluster_on_etcd::node_id(i) << " with the quorum back: " << d.last_error;
    if (d.acked) add_rows(all, first, 10);
  }
  for (size_t i = 0; i < 3; ++i)
    EXPECT_EQ(count_at(*c[i], "T | count"), static_cast<int64_t>(all.size())) << "at " << cluster_on_etcd::node_id(i);
  expect_rows_exactly(*c[0], "T", all, "after etcd's quorum came back");
  // The command of unknown outcome: whatever it was, every node agrees.
  const auto reference = table_names(*c[0]);
  for (size_t i = 1; i < 3; ++i)
    EXPECT_TRUE(eventually([&] { return table_names(*c[i]) == reference; }, 15s))
        << cluster_on_etcd::node_id(i) << " has the tables node-1 has";
}

// --- 6. the drain with a node down ----------------------------------------------------------------

struct streaming_state {
  std::string state;
  json nodes;  // [{NodeId, State, RowstoreBytes}]
  std::string text;

  const json* node(const std::string& id) const {
    for (const auto& n : nodes)
      if (n.value("NodeId", "") == id) return &n;
    return nullptr;
  }
  bool node_is(const std::string& id, const std::string& s) const {
    const auto* n = node(id);
    return n && n->value("State", "") == s;
  }
  int64_t bytes(const std::string& id) const {
    const auto* n = node(id);
    return n ? n->value("RowstoreBytes", int64_t{-1}) : -1;
  }
};

streaming_state streaming_at(client::connection& c) {
  streaming_state s;
  auto o = c.command("", ".show cluster streamingingestion");
  const auto* t = std::get_if<model::result_table>(&o);
  if (!t || t->rows.empty()) {
    s.text = describe(o);
    return s;
  }
  s.state = std::get<std::string>(cell(*t, "State"));
  s.text = std::get<std::string>(cell(*t, "Nodes"));
  s.nodes = json::parse(s.text, nullptr, false);
  s.text = s.state + " " + s.text;
  return s;
}

// Reference §5.7: the switch is Disabled once every node's rowstore is drained into extents. A
// node that is down may still hold rows, so the switch stays Disabling, with that node Down in
// Nodes; back, it drains (its tables have no policy any more) and the switch becomes Disabled.
TEST(cluster_failure, disabling_streaming_with_a_node_down_stays_disabling_until_it_returns_and_drains) {
  cluster_on_etcd f(1);
  // The default seal age (60 s): the rows stay in the rowstore until the policy goes.
  f.start_nodes();
  create_db_and_t(f);
  auto a = f.connect(0);
  std::set<int64_t> all;
  for (size_t i = 0; i < 3; ++i) {
    auto c = f.connect(i);
    const int64_t first = static_cast<int64_t>(i) * 100;
    auto d = deliver(c, json_rows("T", first, 20, "drain-" + std::to_string(i)), 10s);
    ASSERT_TRUE(d.acked) << d.last_error;
    add_rows(all, first, 20);
  }
  // node-3's rowstore is in its report (every ~3 s) before it dies: its rows are what keeps the
  // drain open.
  ASSERT_TRUE(eventually([&] {
    auto t = ok(a.command("", ".show cluster"));
    for (size_t i = 0; i < t.rows.size(); ++i)
      if (std::get<std::string>(cell(t, "NodeId", i)) == "node-3") return long_cell(t, "RowstoreBytes", i) > 0;
    return false;
  })) << "node-3 reports the rows in its rowstore";

  f.nodes[2]->kill();
  ok(a.command("Db", ".delete table T policy streamingingestion"));
  ok(a.command("", ".alter cluster policy streamingingestion disable"));
  // node-1 and node-2 drain; node-3's lease runs out (TTL 10 s) and it shows Down. Throughout,
  // the switch is Disabling.
  std::vector<std::string> wrong;
  streaming_state s;
  const bool settled = eventually([&] {
    s = streaming_at(a);
    if (s.state != "Disabling") wrong.push_back(s.text);
    return s.node_is("node-3", "Down") && s.bytes("node-1") == 0 && s.bytes("node-2") == 0;
  }, 25s);
  EXPECT_TRUE(settled) << "node-3 Down, node-1 and node-2 drained; last: " << s.text;
  EXPECT_TRUE(wrong.empty()) << "the switch left Disabling with node-3 down: " << wrong.front();
  auto b = f.connect(1);
  auto at_b = streaming_at(b);
  EXPECT_EQ(at_b.state, "Disabling") << at_b.text;
  EXPECT_TRUE(at_b.node_is("node-3", "Down")) << at_b.text;

  f.nodes[2]->restart();
  const auto back = steady::now();
  EXPECT_TRUE(eventually([&] {
    s = streaming_at(a);
    return s.state == "Disabled";
  }, 30s)) << "node-3 is back and drains: " << s.text;
  RecordProperty("disabled_after_restart_ms", static_cast<int>(ms_since(back)));
  auto c = f.connect(2);
  streaming_state at_c;
  const auto asked_c = steady::now();
  EXPECT_TRUE(eventually([&] {
    at_c = streaming_at(c);
    return at_c.state == "Disabled";
  }, 10s)) << "at node-3: " << at_c.text;
  RecordProperty("disabled_at_node3_ms", static_cast<int>(ms_since(asked_c)));
  for (size_t i = 0; i < 3; ++i) {
    auto x = f.connect(i);
    EXPECT_EQ(count_at(x, "T | count"), static_cast<int64_t>(all.size()))
        << "at " << cluster_on_etcd::node_id(i) << ": the drain moved rows, it lost none";
  }
  expect_rows_exactly(a, "T", all, "after the drain");
}

}  // namespace
}  // namespace tributary::testing
