#pragma once
/// `scan`'s and `many-tables --peer clickhouse`'s peer: a ClickHouse 18.16 server (Debian's
/// clickhouse-server) started by the scenario with its own config, data dir and free loopback
/// ports, and its HTTP interface (libcurl types stay in clickhouse_peer.cpp). See bench/README.md
/// "scan" and "--peer clickhouse".

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "bench/common.hpp"

namespace tributary::bench {

/// Where Debian 12's clickhouse-server puts the server.
inline constexpr std::string_view clickhouse_server_binary = "/usr/sbin/clickhouse-server";

/// Returns when `clickhouse_server_binary` exists; otherwise runs bench/setup-clickhouse (apt-get
/// install clickhouse-server, as root or through sudo) and checks again. Throws
/// std::runtime_error, telling the user to run the script, when that fails.
void ensure_clickhouse_installed();

/// What one query answered over HTTP: its JSON output's data rows and ClickHouse's own timing.
struct clickhouse_answer {
  json data;                 ///< the "data" array of FORMAT JSON (numbers of 64-bit types as strings)
  double wall_seconds = 0;   ///< request sent → whole answer read, client side
  double server_seconds = 0; ///< "statistics.elapsed": the server's own time
  uint64_t rows_read = 0;    ///< "statistics.rows_read"
};

/// A ClickHouse server in `root`/clickhouse-peer (config, users, data, logs), started by the
/// constructor on 127.0.0.1 and free HTTP and native ports (never the default ones), timezone
/// UTC; stopped by the destructor by its pid (SIGTERM, SIGKILL after 30 s), which also removes
/// the dir. Must live on the thread that started it (the server gets SIGKILL when that thread
/// ends). At most `max_concurrent_queries` statements run at once (more are refused). Throws
/// std::runtime_error with the log's tail when it does not answer within 30 s.
class clickhouse_server {
 public:
  explicit clickhouse_server(const std::filesystem::path& root, unsigned max_concurrent_queries = 16);
  ~clickhouse_server();
  clickhouse_server(const clickhouse_server&) = delete;
  clickhouse_server& operator=(const clickhouse_server&) = delete;

  /// Runs a statement that returns nothing (CREATE, OPTIMIZE); throws with the server's message.
  void execute(const std::string& sql) const;
  /// POSTs `csv` as the body of `INSERT INTO <table> FORMAT CSV`; throws with the server's message.
  void insert_csv(const std::string& table, std::string_view csv) const;
  /// Runs `sql` with " FORMAT JSON" appended and `max_threads` (0 = the server's default, its
  /// cores) and times it; throws with the server's message.
  clickhouse_answer query(const std::string& sql, unsigned max_threads) const;
  /// utime + stime of the server so far, in seconds.
  double cpu_seconds() const;
  int pid() const { return pid_; }
  /// "http://127.0.0.1:<port>", for clients of its own (the many-tables load).
  std::string base_url() const;
  /// Version, address, data filesystem and settings, for the report.
  const json& describe() const { return description_; }

 private:
  std::string post(const std::string& url_query, std::string_view body, double* seconds) const;
  void stop();

  std::filesystem::path dir_;
  std::filesystem::path log_;
  uint16_t http_port_ = 0;
  int pid_ = -1;
  void* curl_ = nullptr;  ///< one libcurl easy handle, kept alive between requests
  json description_;
};

}  // namespace tributary::bench
