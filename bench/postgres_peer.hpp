#pragma once
/// `--peer postgres`: a PostgreSQL 15 server started by the scenario beside the node (data in the
/// scenario's scratch dir, so on the node's filesystem), and clients that send it the scenario's
/// own payloads as one multi-row INSERT per request, each its own durable transaction. See
/// bench/README.md for why this is a fair comparison. libpq types stay in postgres_peer.cpp.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bench/common.hpp"
#include "bench/scenarios.hpp"

namespace tributary::bench {

/// Where Debian 12's postgresql-15 puts initdb and postgres.
inline constexpr std::string_view postgres_bin_dir = "/usr/lib/postgresql/15/bin";

/// Returns when `postgres_bin_dir` holds initdb and postgres; otherwise runs bench/setup-postgres
/// (apt-get install postgresql-15, as root or through sudo) and checks again. Throws
/// std::runtime_error, telling the user to run the script, when that fails.
void ensure_postgres_installed();

/// A fresh PostgreSQL cluster in `root`/postgres-peer, started by the constructor and stopped by
/// the destructor. initdb (trust auth for user `bench`, locale C, UTF8), then `postgres` with
/// `listen_addresses=127.0.0.1` on a free port, its unix socket in its own dir, `fsync=on`,
/// `synchronous_commit=on`, `full_page_writes` and WAL settings at their defaults,
/// `shared_buffers=128MB` and room for `client_connections` clients. As root, initdb and the
/// server run as the `postgres` user (else `nobody`), who owns the dir: postgres refuses root.
/// Must live on the thread that started it (the server gets SIGQUIT when that thread ends:
/// PR_SET_PDEATHSIG). Throws std::runtime_error with the log's tail when initdb fails or the
/// server does not accept connections within 30 s.
class postgres_server {
 public:
  postgres_server(const std::filesystem::path& root, size_t client_connections);
  /// Fast shutdown (SIGINT), SIGKILL if it has not exited after 30 s; removes its dir.
  ~postgres_server();
  postgres_server(const postgres_server&) = delete;
  postgres_server& operator=(const postgres_server&) = delete;

  /// libpq connection string: TCP to 127.0.0.1, as the node's clients connect, database postgres.
  std::string conninfo() const;
  /// Creates `names` with the columns of `table_schema` (timestamptz, text, text, double
  /// precision, bigint), 50 per transaction. Throws naming the table on failure.
  void create_tables(const std::vector<std::string>& names) const;
  /// CPU seconds the server used so far: the postmaster, its exited children and its live ones.
  double cpu_seconds() const;
  /// Version, port, data filesystem and the durability settings in effect, for the report.
  const json& describe() const { return description_; }

 private:
  void start(uint16_t port);
  void stop();

  std::filesystem::path dir_;
  std::filesystem::path log_;
  uint16_t port_ = 0;
  int pid_ = -1;
  json description_;
};

/// `latency`'s client: one connection with a prepared INSERT into `table`.
class postgres_sequential_client {
 public:
  postgres_sequential_client(const postgres_server& server, const std::string& table);
  ~postgres_sequential_client();
  postgres_sequential_client(const postgres_sequential_client&) = delete;
  postgres_sequential_client& operator=(const postgres_sequential_client&) = delete;

  /// Inserts the `rows_per_request` CSV rows of `csv` (a payload_generator body, split into
  /// parameters before the clock starts) as one INSERT in its own transaction; returns µs from
  /// sending it to the server's answer after the commit. Throws with the server's error.
  double insert_us(std::string_view csv);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// `many-tables`' load against PostgreSQL: `connections` connections, open across slices (a
/// backend's caches and prepared statements live with its connection), each with a prepared
/// INSERT per table, in libpq pipeline mode keeping `in_flight_per_connection` INSERTs in
/// flight, each followed by a sync so that each is its own transaction.
class postgres_load {
 public:
  postgres_load(const postgres_server& server, const std::vector<std::string>& tables,
                size_t connections, size_t in_flight_per_connection);
  ~postgres_load();
  postgres_load(const postgres_load&) = delete;
  postgres_load& operator=(const postgres_load&) = delete;

  /// One slice, as run_load_slice: connection i (a thread each) sends the payloads and picks the
  /// tables that run_load_slice's connection i picks in slice `round`, until `until`, then waits
  /// for the last answers. Latency counts from the send to the sync's answer (after the commit).
  /// Failed INSERTs count in `into.errors` by SQLSTATE. Returns the slice's wall time; throws
  /// when a connection breaks.
  double run_slice(std::chrono::steady_clock::time_point until, size_t round, load_totals& into);

 private:
  struct connection;
  std::vector<std::unique_ptr<connection>> connections_;
  size_t in_flight_per_connection_;
};

}  // namespace tributary::bench
