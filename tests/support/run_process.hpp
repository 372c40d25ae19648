#pragma once
/// Test helper: runs a program to completion and captures its output.

#include <cstdint>
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

}  // namespace tributary::testing

namespace tributary::testing {

/// GET http://127.0.0.1:<port><path>; returns the body ("" on any failure).
std::string http_get(uint16_t port, const std::string& path);

}  // namespace tributary::testing
