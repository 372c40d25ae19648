#pragma once
/// Tributary's C++ client library: a synchronous connection to one node over Cap'n Proto RPC.
/// Not thread-safe: use one connection per thread (it owns its own KJ event loop).

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <variant>
#include <string>
#include <string_view>
#include <vector>

#include "model/types.hpp"

namespace tributary::client {

/// Data formats of `ingest`, as in schema/tributary.capnp.
enum class format : uint8_t { csv, tsv, scsv, sohsv, psv, json, multijson };

/// Parses Kusto's streamFormat names case-insensitively ("csv", "SCsv", "MultiJSON"...).
std::optional<format> parse_format(std::string_view name);

/// One ingest request; see IngestRequest in schema/tributary.capnp.
struct ingest_request {
  std::string database;
  std::string table;
  format fmt = format::csv;
  std::string mapping_name;
  std::string data;
  std::string request_id;
  std::vector<std::pair<std::string, std::string>> properties;
};

/// The ingestion property that tells a node which nodes a retried request was sent to before
/// ("host:port,host:port"): it asks them before ingesting, so that a request one of them
/// acknowledged is answered as a duplicate (cluster/README.md "Retries across nodes").
inline constexpr std::string_view previous_nodes_property = "tributary.previousNodes";

/// Adds `address` to `request`'s previous_nodes_property (creating it): call it when resending a
/// request that was sent to the node at `address` to another node, keeping its request id.
void add_previous_node(ingest_request& request, std::string_view address);

struct ingest_ack {
  uint64_t consumed_records = 0;
  bool duplicate = false;
};

/// The answer to ingest: an ack or an error.
using ingest_outcome = std::variant<ingest_ack, model::error>;

/// The answer to a query with its warnings: what a successful answer leaves out, e.g. the
/// nodes whose shards a `set best_effort=true;` query could not reach. No warnings with an error.
struct query_answer {
  model::outcome outcome;
  std::vector<std::string> warnings;
};

class connection {
 public:
  /// Connects to `address` ("host:port"). Transport failures (refused, reset, timeout) are
  /// reported by each call as an error with code "ConnectionFailed" (permanent=false).
  explicit connection(const std::string& address);
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  /// Waits until the node answers on this connection; the error (code "ConnectionFailed") when it
  /// cannot be reached. Until this succeeds, no call of this connection has reached the node: a
  /// client failing over can tell a node that never saw its requests from one that may have.
  std::optional<model::error> wait_connected();
  /// Runs a management command in `database` (may be empty).
  model::outcome command(std::string_view database, std::string_view text);
  /// Runs a query in `database`; its warnings are dropped (see query_with_warnings).
  model::outcome query(std::string_view database, std::string_view text);
  /// Runs a query in `database` and returns its warnings with it.
  query_answer query_with_warnings(std::string_view database, std::string_view text);
  /// Sends one ingest request and waits for its answer.
  ingest_outcome ingest(const ingest_request& request);

  /// Decides what to do with an answer: nullopt = done with this request; a delay = send the
  /// same request again (same request id) after that delay.
  using on_answer = std::function<std::optional<std::chrono::milliseconds>(const ingest_request&,
                                                                         const ingest_outcome&)>;
  /// Pipelined ingest: takes requests from `next` until it returns nullopt, keeping up to
  /// `window` in flight on this connection, and calls `answered` for every answer (on the
  /// calling thread). Returns when every request is finished.
  void ingest_pipelined(size_t window, const std::function<std::optional<ingest_request>()>& next,
                        const on_answer& answered);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace tributary::client
