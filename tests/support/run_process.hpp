#pragma once
/// Test helper: runs a program to completion and captures its output.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace tributary::testing {

struct process_result {
  int exit_code = -1;  ///< exit status, or 128 + signal
  std::string out;
  std::string err;
};

/// Runs `argv` (argv[0] is a path) with no shell; stdin is /dev/null.
process_result run_process(const std::vector<std::string>& argv);

/// Who a spawned server runs as, when not as the caller.
struct spawn_identity {
  unsigned uid = 0;
  unsigned gid = 0;
};

/// Starts the server `argv` (argv[0] is a path) in the background: stdin /dev/null, stdout and
/// stderr appended to `log`; it gets `death_signal` when the calling thread ends, so a test or
/// bench that dies leaves no server behind. With `as`, it drops its groups and becomes that user
/// first. Returns its pid; throws std::runtime_error starting with `what` when it cannot.
int spawn_logged(const std::vector<std::string>& argv, const std::filesystem::path& log, int death_signal,
                 const std::string& what, const spawn_identity* as = nullptr);

/// Stops the server `pid` started by spawn_logged: sends `signal`, waits up to `timeout` for it
/// to exit, then SIGKILL; reaps it either way. Sets `pid` to -1; does nothing when it is <= 0.
void stop_process(int& pid, int signal, std::chrono::milliseconds timeout);

/// `count` distinct free loopback ports (bound at once, released on return: a server started on
/// one may still find it taken, and its caller retries then).
std::vector<uint16_t> free_ports(size_t count);

/// The last 3,000 bytes of a server's log, for an error message.
std::string log_tail(const std::filesystem::path& log);

}  // namespace tributary::testing

namespace tributary::testing {

/// GET http://127.0.0.1:<port><path>; returns the body ("" on any failure).
std::string http_get(uint16_t port, const std::string& path);

}  // namespace tributary::testing
