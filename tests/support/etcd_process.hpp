#pragma once
/// Test fixture: real etcd members (/usr/bin/etcd, Debian's etcd-server) on free loopback ports,
/// with their data on tmpfs when there is one (reference/cluster.md §1.9: WAL creation with fsync
/// costs seconds on disk). Never the default ports 2379/2380, which a system etcd may hold.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace tributary::testing {

/// One etcd member, started by the constructor (alone) or by `start_cluster` (with peers). Every
/// member runs with `--pre-vote`, `--experimental-enable-lease-checkpoint` and progress notices
/// every second (`--experimental-watch-progress-notify-interval 1s`); its log is `log_file()`.
/// The destructor kills it (SIGKILL) and removes its directory. Not thread-safe; it must live on
/// the thread that started it (the member dies with that thread: PR_SET_PDEATHSIG).
class etcd_process {
 public:
  /// A single-member cluster; waits until it answers /health true. Throws std::runtime_error,
  /// with the tail of its log, if it exits or is not healthy within 20 s.
  etcd_process();
  /// `members` members of one cluster, started together with one --initial-cluster and a token
  /// of their own; waits until every one answers /health true (throws like the constructor).
  static std::vector<std::unique_ptr<etcd_process>> start_cluster(size_t members);
  ~etcd_process();
  etcd_process(const etcd_process&) = delete;
  etcd_process& operator=(const etcd_process&) = delete;

  /// "http://127.0.0.1:<client port>".
  std::string endpoint() const;
  /// "etcd://127.0.0.1:<client port>", for cluster::open_etcd.
  std::string url() const;
  /// "etcd://127.0.0.1:<port>,127.0.0.1:<port>,..." of `members`, in order.
  static std::string url(const std::vector<std::unique_ptr<etcd_process>>& members);
  uint16_t client_port() const { return client_port_; }
  const std::string& name() const { return name_; }
  const std::filesystem::path& log_file() const { return log_; }
  int pid() const { return pid_; }

  /// True while the process has not exited.
  bool running();
  /// GET /health answered {"health":"true"} within 1 s: there is a leader and it can commit.
  bool healthy() const;
  /// Polls `healthy()` until it holds; false after `timeout`.
  bool wait_healthy(std::chrono::milliseconds timeout);

  /// SIGKILL, then reaps. The data dir stays, for `restart`.
  void kill();
  /// SIGTERM, then waits up to 10 s (a member whose peers are gone takes ~5 s), then SIGKILL.
  void stop();
  /// SIGSTOP: the member stays connected but answers nothing (a long GC pause).
  void pause();
  /// SIGCONT after `pause`.
  void resume();
  /// Starts the member again after kill/stop with the same name, ports and data dir; with
  /// `wait_healthy`, waits for /health true (which needs a quorum of its cluster running).
  void restart(bool wait_healthy = true);

 private:
  struct config;
  explicit etcd_process(const config& c);
  void spawn();
  [[noreturn]] void fail(const std::string& what);

  std::string name_;
  std::string token_;
  std::string initial_cluster_;
  uint16_t client_port_ = 0;
  uint16_t peer_port_ = 0;
  std::filesystem::path dir_;
  std::filesystem::path log_;
  int pid_ = -1;
};

}  // namespace tributary::testing
