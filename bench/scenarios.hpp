#pragma once
/// The scenarios of BENCHMARKS.md that tributary-bench runs; one .cpp file each. Each starts
/// its own node (or uses --node), runs its limit in the same run where it has one, and returns
/// the figures; it throws std::runtime_error when the node fails or answers an unexpected error.

#include <functional>
#include <map>

#include "bench/common.hpp"

namespace tributary::bench {

/// `latency`: 1 client, 1 table, 500 + 5,000 sequential requests; ack p50/p99/p99.9 against
/// sequential synced RocksDB Puts of the same bytes; with --peer postgres also against
/// PostgreSQL's INSERTs of the same rows, in a third block of the alternation (postgres_peer.hpp).
/// --protocol http / both: the same requests over one keep-alive HTTP connection to the node's
/// REST API (http_load.hpp), in a block of their own in the same alternation.
scenario_result run_latency(const options& o);

/// `many-tables`: 1,000 tables (or --tables), 8 connections × 8 requests in flight, each to a
/// random table, for --duration-seconds, on a node at the default --max-ingests-in-flight and on
/// one with it raised; against 64 threads of synced RocksDB Puts, in slices alternating with them;
/// with --peer postgres (or clickhouse) also the same load against PostgreSQL (ClickHouse's HTTP
/// insert into MergeTree), in slices of its own. --protocol http / both: the same load over 64
/// keep-alive HTTP connections to each node's REST API, in slices of its own.
scenario_result run_many_tables(const options& o);

/// many-tables' load, which `cluster` reuses: this many connections, each keeping this many
/// ingests in flight.
inline constexpr size_t many_tables_connections = 8;
inline constexpr size_t many_tables_in_flight_per_connection = 8;

/// What the connections of many-tables' load saw, summed over slices.
struct load_totals {
  std::vector<double> latencies_us;  ///< first send → ack, retries included
  uint64_t rows = 0;
  uint64_t bytes = 0;
  uint64_t throttled = 0;                  ///< Throttling answers (each retried)
  std::map<std::string, uint64_t> errors;  ///< requests that failed, by code
};

/// One connection's requests in many-tables' load, the same whatever carries them: connection
/// `index` of slice `round` sends the same bodies to the same tables in the same order over
/// Cap'n Proto, HTTP or to a peer. Request ids are `<id_prefix><round>-c<index>-<n>`, so that
/// two protocols loading one node never share an id (the node would answer the second from its
/// dedup record). Not thread-safe: one per connection.
class load_stream {
 public:
  struct request {
    size_t table = 0;  ///< index into the slice's tables
    std::string body;
    std::string request_id;
  };
  load_stream(std::string_view id_prefix, size_t index, size_t round, size_t table_count);
  request next();

 private:
  std::string prefix_;
  payload_generator generator_;
  std::mt19937_64 rng_;
  std::uniform_int_distribution<size_t> pick_;
  uint64_t sequence_ = 0;
};

/// Runs `drive(i, totals)` for i in [0, threads) on as many threads at once, then adds what each
/// saw to `into` (rethrowing a thread's failure); returns the wall time of the whole.
double run_on_threads(size_t threads, const std::function<void(size_t, load_totals&)>& drive, load_totals& into);

/// One slice of many-tables' load: `many_tables_connections` connections, connection i to
/// `addresses[i % addresses.size()]`, each keeping `many_tables_in_flight_per_connection` ingests
/// of `rows_per_request` rows in flight, each to a random one of `tables` in `database`, until
/// `until`; then waits for the last answers. `round` makes the slice's payloads and request ids
/// new. Adds what it saw to `into` and returns its wall time; rethrows a connection's failure.
double run_load_slice(const std::vector<std::string>& addresses, const std::string& database,
                      const std::vector<std::string>& tables,
                      std::chrono::steady_clock::time_point until, size_t round, load_totals& into);

/// `visibility`: as `latency`, with `T | count` on a second connection after every ack.
scenario_result run_visibility(const options& o);

/// `tables-memory`: node RSS growth for 10,000 tables (or --tables) with their own policies;
/// start-up time and RSS after a restart. Needs a node it starts (reads /proc/<pid>).
scenario_result run_tables_memory(const options& o);

/// `seal`: 200 MiB (or --seal-mib) of CSV in one table's rowstore, sealed by deleting its
/// policy: move MiB/s, extent size / input size, and the `latency` loop's p99 into a second
/// table during the move vs. without (--cpu-hog: with a busy-loop process beside the node);
/// against zstd alone compressing the same column data, on one thread and on the move's.
scenario_result run_seal(const options& o);

/// `scan`: `rows` rows in one table (most sealed into extents, the last 5% in the rowstore) and
/// eight queries over them, against a loop over the same decoded column values and zstd
/// decompression of the same blocks, beside ClickHouse 18.16 over the same rows
/// (clickhouse_peer.hpp). Needs a node it starts (reads its extent files).
scenario_result run_scan(const options& o, uint64_t rows);

/// `cluster`: 3 etcd members and 3 nodes in cluster mode, beside 1 node in a cluster of its own:
/// schema-change propagation (command sent → every node applied) against etcd's own CAS Txn +
/// watch round trip; many-tables' load spread over the 3 nodes vs. on the 1 node; `T | count`
/// fanned out from node 1 vs. on the 1 node. Needs nodes it starts (no --node).
scenario_result run_cluster(const options& o);

/// `kafka`: `messages` ~1 KiB JSON messages in a 16-partition topic (librdkafka's mock cluster)
/// read by one data connection into one table (or in `tables` topics, each read by its own
/// connection into its own table), rows/s against a bare librdkafka consumer of the same
/// messages; then produce-to-queryable p50/p99 at 10,000 messages/s. Needs a node it starts.
scenario_result run_kafka(const options& o, uint64_t messages, int tables = 1);

}  // namespace tributary::bench
