#include "storage/crash_point.hpp"

#include <atomic>
#include <charconv>
#include <csignal>
#include <string>
#include <unistd.h>

namespace tributary::storage {
namespace {

std::atomic<bool> armed{false};
std::string armed_point;
std::atomic<long> passes_left{0};

}  // namespace

void arm_crash_point(std::string_view spec) {
  armed.store(false);
  if (spec.empty()) return;
  long n = 1;
  if (auto colon = spec.rfind(':'); colon != std::string_view::npos) {
    auto count = spec.substr(colon + 1);
    std::from_chars(count.data(), count.data() + count.size(), n);
    spec = spec.substr(0, colon);
  }
  armed_point = std::string(spec);
  passes_left.store(n < 1 ? 1 : n);
  armed.store(true);
}

void crash_point(std::string_view name) {
  if (!armed.load(std::memory_order_relaxed) || name != armed_point) return;
  if (passes_left.fetch_sub(1) == 1) ::kill(::getpid(), SIGKILL);
}

}  // namespace tributary::storage
