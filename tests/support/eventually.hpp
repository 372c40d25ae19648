#pragma once
/// Test helper: waits for a condition the node reaches asynchronously (a restart, a catalog
/// version, a lease), polling instead of sleeping a fixed time.

#include <chrono>
#include <thread>

namespace tributary::testing {

/// Polls `f` every 20 ms for up to `limit`; whether it became true.
template <class F>
bool eventually(F f, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  for (auto end = std::chrono::steady_clock::now() + limit; std::chrono::steady_clock::now() < end;) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return f();
}

}  // namespace tributary::testing
