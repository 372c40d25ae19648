#pragma once
/// `latency` and `many-tables` over HTTP/1.1 keep-alive with libcurl (its types stay in
/// http_load.cpp): into the node's REST API (Kusto's `POST /v1/rest/ingest/{db}/{table}`), and
/// into ClickHouse's HTTP interface (`INSERT INTO T FORMAT CSV`) for `--peer clickhouse`. The
/// bodies, tables, request ids and the retry of Throttling answers are many-tables' own
/// (`load_stream`, `throttled_retry_delay`), so both protocols carry the same load.

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "bench/scenarios.hpp"

namespace tributary::bench {

/// Where an HTTP load goes, and how that server takes an insert.
struct http_endpoint {
  enum class dialect {
    kusto,       ///< POST /v1/rest/ingest/{database}/{table}?streamFormat=csv, x-ms-client-request-id;
                 ///< 200 with ConsumedRecordsCount once durable, 429 = Throttling (sent again)
    clickhouse,  ///< POST /?query=INSERT INTO {table} FORMAT CSV (date_time_input_format=best_effort,
                 ///< which reads the payloads' ISO 8601 times); 200 with an empty body
  };
  std::string base_url;  ///< "http://127.0.0.1:8080"
  dialect kind = dialect::kusto;
  std::string database;  ///< kusto: the database; clickhouse: unused (its default database)
};

/// One keep-alive HTTP/1.1 connection (one libcurl easy handle, reused), for sequential
/// requests on the calling thread. Throws std::runtime_error naming the endpoint and the answer
/// on a failed request.
class http_connection {
 public:
  explicit http_connection(http_endpoint endpoint);
  ~http_connection();
  http_connection(const http_connection&) = delete;
  http_connection& operator=(const http_connection&) = delete;

  /// Sends `body` into `table` and waits for the ack (sent again after `throttled_retry_delay`
  /// while answered 429); returns µs from the first send to the ack. Throws unless it acked
  /// `rows_per_request` rows.
  double ingest_us(const std::string& table, std::string_view body, const std::string& request_id);
  /// GET `path` (e.g. "/v1/rest/ping"); returns its µs. Throws unless answered 200.
  double get_us(const std::string& path);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// One slice of many-tables' load over HTTP: `many_tables_connections` threads, each with a curl
/// multi handle of `many_tables_in_flight_per_connection` easy handles on as many keep-alive
/// connections (HTTP/1.1 has one request in flight per connection), so 64 in flight in all; the
/// same payloads, tables and order as `run_load_slice`'s connections in slice `round` (request
/// ids `h<round>-c<i>-<n>`). Each request goes to a random one of `tables` until `until`; then
/// the last answers are waited for. Adds what it saw to `into` (a 429 counts in `throttled` and
/// is sent again; a failed transfer in `errors["ConnectionFailed"]` and stops that thread's new
/// requests; other answers in `errors` by their code) and returns the slice's wall time.
double run_http_load_slice(const http_endpoint& endpoint, const std::vector<std::string>& tables,
                           std::chrono::steady_clock::time_point until, size_t round, load_totals& into);

}  // namespace tributary::bench
