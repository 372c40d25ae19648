// Queries in a cluster answer exactly as on one node: three tributaryd nodes on one real etcd
// hold the rows of two tables between them, a fourth node alone holds all of them, and every
// query (aggregates in partial form, top, sort then take, joins, subqueries, lets, ingestion_time)
// gets the same table from any node of the cluster as from the node alone. Also: the shards'
// statistics add up, and a node answers the part of a plan another node sends it.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "client/client.hpp"
#include "tests/support/etcd_process.hpp"
#include "tests/support/node_process.hpp"
#include "tests/support/outcomes.hpp"

namespace tributary::testing {
namespace {

constexpr int rows_of_t = 300;

// T: ts, host, level, n, x (null every 11th row), d (dynamic).
std::string t_rows(int from, int to) {
  static const char* levels[] = {"info", "warn", "error"};
  std::string out;
  for (int i = from; i < to; ++i) {
    const std::string x = i % 11 == 0 ? "" : fmt::format("{}", i * 0.5);
    out += fmt::format("2026-01-01T{:02}:{:02}:00Z,h{},{},{},{},\"{{\"\"a\"\":{}}}\"\n", i / 60, i % 60, i % 7,
                       levels[i % 3], i, x, i % 5);
  }
  return out;
}

std::string u_rows() {
  std::string out;
  for (int h = 0; h < 10; ++h) out += fmt::format("h{},{}\n", h, h % 2 ? "east" : "west");
  return out;
}

client::ingest_request request(const std::string& table, std::string data) {
  client::ingest_request r;
  r.database = "Db";
  r.table = table;
  r.data = std::move(data);
  return r;
}

void create(client::connection& c) {
  ok(c.command("", ".create database Db"));
  ok(c.command("Db", ".create table T (ts:datetime, host:string, level:string, n:long, x:real, d:dynamic)"));
  ok(c.command("Db", ".create table U (host:string, region:string)"));
  ok(c.command("Db", ".alter database Db policy streamingingestion enable"));
}

void ingest(client::connection& c, const std::string& table, std::string data) {
  auto o = c.ingest(request(table, std::move(data)));
  ASSERT_TRUE(std::holds_alternative<client::ingest_ack>(o)) << table;
}

// A result as comparable text: columns, then rows (sorted unless `ordered`), reals to 9 digits
// (shards merge sums and averages in another order than one node adds them).
std::string canonical(const model::outcome& o, bool ordered) {
  if (const auto* e = std::get_if<model::error>(&o)) return "error " + e->code + ": " + e->message;
  const auto& t = std::get<model::result_table>(o);
  std::string out;
  for (const auto& c : t.columns) out += fmt::format("{}:{} ", c.name, model::to_string(c.type));
  std::vector<std::string> rows;
  for (const auto& row : t.rows) {
    std::string r;
    for (const auto& v : row) {
      if (std::holds_alternative<std::monostate>(v)) r += "null|";
      else if (const auto* b = std::get_if<bool>(&v)) r += *b ? "true|" : "false|";
      else if (const auto* i = std::get_if<int64_t>(&v)) r += std::to_string(*i) + "|";
      else if (const auto* d = std::get_if<double>(&v)) r += fmt::format("{:.9g}|", *d);
      else r += std::get<std::string>(v) + "|";
    }
    rows.push_back(std::move(r));
  }
  if (!ordered) std::sort(rows.begin(), rows.end());
  for (const auto& r : rows) out += "\n" + r;
  return out;
}

class cluster_query : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    etcd = new etcd_process();
    for (int i = 0; i < 3; ++i) {
      dirs.push_back(new temp_dir());
      nodes.push_back(new node_process(dirs.back()->path(),
                                       {"--metadata", etcd->url(), "--cluster-name", "q", "--node-id",
                                        fmt::format("node-{}", i + 1), "--streaming-ingestion", "on"}));
    }
    dirs.push_back(new temp_dir());
    alone = new node_process(dirs.back()->path(), {"--streaming-ingestion", "on"});
    client::connection a(alone->rpc_address()), c0(nodes[0]->rpc_address());
    create(a);
    create(c0);
    ingest(a, "T", t_rows(0, rows_of_t));
    ingest(a, "U", u_rows());
    // Each node of the cluster holds a third of T; U is all on the second.
    for (int i = 0; i < 3; ++i) {
      client::connection c(nodes[static_cast<size_t>(i)]->rpc_address());
      ingest(c, "T", t_rows(i * rows_of_t / 3, (i + 1) * rows_of_t / 3));
    }
    client::connection c1(nodes[1]->rpc_address());
    ingest(c1, "U", u_rows());
  }
  static void TearDownTestSuite() {
    delete alone;
    for (auto* n : nodes) delete n;
    for (auto* d : dirs) delete d;
    delete etcd;
    nodes.clear();
    dirs.clear();
  }

  // The query's answer at cluster node `at` and at the node alone, compared.
  void same(const std::string& query, size_t at, bool ordered = false) {
    client::connection c(nodes[at % 3]->rpc_address()), a(alone->rpc_address());
    const auto alone_answer = a.query("Db", query);
    ASSERT_TRUE(std::holds_alternative<model::result_table>(alone_answer))
        << query << "\n" << canonical(alone_answer, ordered);
    EXPECT_EQ(canonical(c.query("Db", query), ordered), canonical(alone_answer, ordered)) << query;
  }

  static inline etcd_process* etcd = nullptr;
  static inline std::vector<temp_dir*> dirs;
  static inline std::vector<node_process*> nodes;
  static inline node_process* alone = nullptr;
};

TEST_F(cluster_query, every_query_answers_as_on_one_node) {
  const std::vector<std::string> unordered{
      // count, summarize in partial form, every mergeable aggregate
      "T | count",
      "T | where level == 'warn' | count",
      "T | summarize count() by host",
      "T | summarize c = count(), s = sum(n), a = avg(x), mn = min(ts), mx = max(ts) by level",
      "T | summarize dcount(host), dcount(n), dcountif(n, n > 100)",
      "T | summarize percentiles(n, 50, 90, 99), percentile(x, 25) by level",
      "T | summarize arg_max(n, host, level) by host",
      "T | summarize arg_min(ts, *) by level",
      "T | summarize countif(n > 100), sumif(x, level == 'info'), stdev(x), variance(x) by level",
      "T | summarize count() by bin(ts, 1h)",
      "T | summarize count() by bin(ts, 1h), level",
      "T | summarize make_set(level) by host | extend k = array_length(set_level) | project host, k",
      "T | summarize array_length(make_list(n)) by level",
      "T | summarize count() by level | where count_ > 50",
      "T | summarize count() by host, level | count",
      "T | distinct host",
      "T | distinct host, level",
      "T | summarize by level",
      // row-local operators before the shards' part ends
      "T | where n % 2 == 0 | extend y = n * 2 | project host, y | summarize sum(y) by host",
      "T | project-away d | where x > 50 | summarize count()",
      "T | project-rename name = host | project-keep name, n | summarize max(n) by name",
      "T | extend a = toint(d.a) | summarize count() by a",
      "T | parse host with 'h' k:long | summarize count() by k",
      "T | mv-expand v = pack_array(n, n + 1) to typeof(long) | summarize sum(v), count()",
      "T | where host has 'h1' | count",
      "T | where n in (1, 2, 3) | project n",
      "T | where isnull(x) | count",
      "T | where ts between (datetime(2026-01-01 01:00) .. datetime(2026-01-01 02:00)) | summarize count() by level",
      // ingestion_time() on the shards and after them
      "T | where ingestion_time() > ago(1h) | count",
      "T | extend it = ingestion_time() | where isnotnull(it) | count",
      "T | where host in ((U | where region == 'east' | project host)) | extend i = ingestion_time() | "
      "summarize countif(isnotnull(i))",
      // take: each shard's N, then N of them
      "T | take 10 | count",
      "T | take 1000 | count",
      // joins, lookups, unions over the whole tables
      "T | join kind=inner (U) on host | summarize count() by region",
      "T | join kind=leftouter (U | where region == 'east') on host | summarize count() by region",
      "T | lookup U on host | summarize count() by region",
      "U | join kind=leftanti (T | where n < 100) on host",
      "union T, (U | extend n = 1) | summarize count(), sum(n)",
      "union withsource=Src T, U | summarize count() by Src",
      // a union's legs read only what follows it uses (none for a count)
      "union T, U | count",
      "union T, U | where n < 10 | summarize count() by host",
      "T | where n > 5 | union (U | project host) | summarize count() by host",
      "union kind=inner T, U | summarize count() by host",
      "union T, (union U, T) | summarize count(), sum(n), dcount(region)",
      "let X = union T, U; X | where isnotempty(region) | count",
      "T | where n > toscalar(union T, U | summarize avg(n)) | count",
      // subqueries, toscalar and lets: they read the whole table, on every node
      "let m = toscalar(T | summarize max(n)); T | where n == m | project n",
      "let hs = U | where region == 'east' | project host; T | where host in (hs) | count",
      "let lim = 100; T | where n < lim | count",
      "let t0 = datetime(2026-01-01 02:00); let lvl = 'info'; T | where ts >= t0 and level != lvl | summarize count() "
      "by level",
      "let f = 1.5; let b = true; let g = guid(00000000-0000-0000-0000-000000000001); let sp = 90s; let dy = "
      "dynamic({\"k\":[1,2]}); T | where (x > f) == b and tostring(g) != '' and ts > datetime(2025-01-01) + sp and "
      "array_length(dy.k) == 2 | count",
      "T | where n > toscalar(T | summarize avg(n)) | count",
      "T | where toscalar(U | count) > 0 | count",
      "let X = T | where level == 'error'; X | summarize count() by host",
      // operators the shards do not run (make-series, sort without take, getschema)
      "T | make-series c = count() on ts from datetime(2026-01-01) to datetime(2026-01-01 05:00) step 1h by level",
      "T | getschema",
      "print x = 1",
      "datatable(a:long)[1, 2] | count",
      "T | summarize count() by host | join kind=inner (T | summarize max(n) by host) on host",
  };
  size_t at = 0;
  for (const auto& q : unordered) same(q, at++);
  const std::vector<std::string> ordered{
      "T | top 5 by n desc",
      "T | top 3 by ts asc | project n, host",
      "T | sort by n desc | take 7",
      "T | order by ts asc | take 3 | project n",
      "T | where level == 'info' | sort by n asc | project n",
      "T | summarize count() by level | sort by level asc",
  };
  for (const auto& q : ordered) same(q, at++, /*ordered=*/true);
}

TEST_F(cluster_query, errors_are_those_of_one_node) {
  for (const std::string q : {"T | where nosuch == 1", "Nope | count", "T | summarize count() by", "set nope=1; T | count"}) {
    client::connection c(nodes[0]->rpc_address()), a(alone->rpc_address());
    EXPECT_EQ(failed(c.query("Db", q)), failed(a.query("Db", q))) << q;
  }
}

// The shards' statistics add up: every row of T read once, on the node that holds it.
TEST_F(cluster_query, statistics_count_every_shard) {
  client::connection c(nodes[2]->rpc_address());
  auto t = ok(c.query("Db", "T | summarize count() by host"));
  std::string stats;
  for (const auto& [name, value] : t.properties)
    if (name == "QueryStats") stats = value;
  EXPECT_NE(stats.find(fmt::format("\"RowsScanned\":{},", rows_of_t)), std::string::npos) << stats;
}

// A shard part as another node sends it: the keys and each aggregate's state, over this node's
// rows alone, at the instant the sender chose.
TEST_F(cluster_query, a_node_answers_a_shard_part_with_partial_states) {
  client::connection c(nodes[0]->rpc_address());
  auto t = ok(c.query("Db", "set query_now=datetime(2026-01-02); set query_shard_partial; "
                            "T | summarize count(), dcount(host) by level"));
  ASSERT_EQ(t.columns.size(), 3u);
  EXPECT_EQ(t.columns[1].name, "state_0");
  EXPECT_EQ(t.columns[2].type, model::column_type::string);
  EXPECT_EQ(t.rows.size(), 3u);
  auto now = ok(c.query("Db", "set query_now=datetime(2026-01-02); print now(), ago(1d)"));
  EXPECT_EQ(std::get<int64_t>(now.rows[0][1]), std::get<int64_t>(now.rows[0][0]) - 864'000'000'000);
  auto wrong = failed(c.query("Db", "set query_shard_partial; T | count"));
  EXPECT_EQ(wrong.code, "BadRequest_SemanticError");
}

}  // namespace
}  // namespace tributary::testing
