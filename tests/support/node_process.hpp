#pragma once
/// Test fixture: a real `tributaryd` process on ephemeral loopback ports with its own data dir.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace tributary::testing {

/// Path of a built executable ("tributaryd", "tributary"), from the build tree.
std::filesystem::path binary_path(const std::string& name);

/// A fresh, empty temporary directory, removed by the destructor.
class temp_dir {
 public:
  temp_dir();
  ~temp_dir();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

/// Starts tributaryd with `--data-dir`, ephemeral RPC and metrics ports on 127.0.0.1 and
/// `extra_args` — for tests (`scheduling::test`) also with CPU backpressure off and movers at
/// normal priority (`--backpressure-cpu-high 1`, `--mover-priority 0`, unless `extra_args` set
/// them); benchmarks keep the node's own defaults (`scheduling::node_defaults`); waits until it is ready (its --ready-file appears). Throws std::runtime_error
/// if the node exits or is not ready within 20 s. The destructor kills the node (SIGKILL) if it
/// is still running.
class node_process {
 public:
  enum class scheduling { test, node_defaults };
  node_process(std::filesystem::path data_dir, std::vector<std::string> extra_args = {},
               scheduling sched = scheduling::test);
  ~node_process();
  node_process(const node_process&) = delete;
  node_process& operator=(const node_process&) = delete;

  /// "127.0.0.1:<port>" of the RPC server.
  std::string rpc_address() const;
  uint16_t rpc_port() const { return rpc_port_; }
  uint16_t metrics_port() const { return metrics_port_; }
  /// Kusto's REST API: http://127.0.0.1:<this>.
  uint16_t http_port() const { return http_port_; }
  int pid() const { return pid_; }
  /// True while the process has not exited.
  bool running();
  /// Sends SIGTERM and waits for the exit status (returns it; -1 on timeout → SIGKILL).
  int stop();
  /// SIGKILL, then reaps.
  void kill();
  /// Starts the process again on new ports with the same data dir and args.
  void restart();
  /// Environment variables ("NAME=value") added to the node's from its next start on.
  void set_env(std::vector<std::string> vars) { extra_env_ = std::move(vars); }
  /// Waits up to `timeout` for the process to exit by itself; its status (128 + signal when
  /// killed), or -1 if it is still running.
  int wait_exit(std::chrono::milliseconds timeout);

 private:
  void start();
  std::filesystem::path data_dir_;
  std::vector<std::string> extra_args_;
  std::vector<std::string> extra_env_;
  scheduling sched_ = scheduling::test;
  int pid_ = -1;
  int exit_status_ = 0;
  uint16_t rpc_port_ = 0;
  uint16_t metrics_port_ = 0;
  uint16_t http_port_ = 0;
};

}  // namespace tributary::testing
