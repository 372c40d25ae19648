// `visibility`: every acknowledged row must be counted by the very next query, from another
// connection.

#include <fmt/format.h>

#include "bench/scenarios.hpp"

namespace tributary::bench {
namespace {

constexpr size_t warmup_requests = 500;
constexpr size_t measured_requests = 5000;

int64_t count_rows(client::connection& q, const std::string& database) {
  auto t = expect_ok(q.query(database, "T | count"), "T | count");
  if (t.rows.size() != 1 || t.rows[0].size() != 1 || !std::holds_alternative<int64_t>(t.rows[0][0]))
    throw std::runtime_error(
        fmt::format("T | count answered {} rows instead of one count", t.rows.size()));
  return std::get<int64_t>(t.rows[0][0]);
}

}  // namespace

scenario_result run_visibility(const options& o) {
  node_under_test node(o, "visibility");
  client::connection ingester(node.address());
  client::connection querier(node.address());
  create_database(ingester, node.database(), false);
  create_tables(node.address(), node.database(), {"T"}, true, 1);

  progress(fmt::format("visibility: {} + {} sequential requests, T | count after each ack",
                       warmup_requests, measured_requests));
  payload_generator generator(2);
  keep_cpus_awake awake(o.keep_cpus_awake);
  std::vector<double> acks, queries;
  acks.reserve(measured_requests);
  queries.reserve(measured_requests);
  int64_t acked_rows = 0;
  size_t visible = 0, checked = 0;
  int64_t worst_missing = 0;
  for (size_t i = 0; i < warmup_requests + measured_requests; ++i) {
    auto request =
        make_request(node.database(), "T", generator.next(), fmt::format("visibility-{}", i));
    const auto t0 = std::chrono::steady_clock::now();
    auto answer = ingester.ingest(request);
    const auto t1 = std::chrono::steady_clock::now();
    acked_rows +=
        static_cast<int64_t>(expect_acked(answer, "ingest " + request.request_id).consumed_records);
    const int64_t counted = count_rows(querier, node.database());
    const auto t2 = std::chrono::steady_clock::now();
    ++checked;
    if (counted == acked_rows) ++visible;
    worst_missing = std::max(worst_missing, acked_rows - counted);
    if (i >= warmup_requests) {
      acks.push_back(micros(t0, t1));
      queries.push_back(micros(t1, t2));
    }
  }
  const auto ack = summarize(std::move(acks));
  const auto query = summarize(std::move(queries));

  scenario_result r;
  r.scenario = "visibility";
  r.work = fmt::format(
      "as latency ({} + {} requests), then T | count on a second connection after every ack",
      warmup_requests, measured_requests);
  r.figures = {{"acks_checked", checked},
               {"fraction_visible", static_cast<double>(visible) / static_cast<double>(checked)},
               {"worst_rows_missing", worst_missing},
               {"query_p50_us", rounded(query.p50_us)},
               {"query_p99_us", rounded(query.p99_us)},
               {"query_max_us", rounded(query.max_us)},
               {"ack_p50_us", rounded(ack.p50_us)},
               {"ack_p99_us", rounded(ack.p99_us)}};
  r.extra = {{"cpus_kept_awake", o.keep_cpus_awake}, {"node", node.describe()}};
  return r;
}

}  // namespace tributary::bench
