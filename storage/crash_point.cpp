#include "storage/crash_point.hpp"

#include <atomic>
#include <charconv>
#include <csignal>
#include <mutex>
#include <string>
#include <unistd.h>
#include <vector>

namespace tributary::storage {
namespace {

std::atomic<bool> armed{false};
std::string armed_point;
std::atomic<long> passes_left{0};

struct fail_spec {
  std::string point;
  std::string key;  // empty: any
  long first = 1;  // the passes that fail: [first, last]; last 0 = every pass from first on
  long last = 1;
  long seen = 0;
};
std::atomic<bool> fail_armed{false};
std::mutex fail_mutex;
std::vector<fail_spec> fail_specs;

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


void arm_fail_points(std::string_view spec) {
  std::lock_guard lock(fail_mutex);
  fail_specs.clear();
  while (!spec.empty()) {
    auto comma = spec.find(',');
    auto one = spec.substr(0, comma);
    spec = comma == std::string_view::npos ? std::string_view{} : spec.substr(comma + 1);
    if (one.empty()) continue;
    fail_spec f;
    if (auto colon = one.rfind(':'); colon != std::string_view::npos) {
      auto count = one.substr(colon + 1);
      if (count == "*") {
        f.last = 0;
      } else {
        auto dash = count.find('-');
        auto a = count.substr(0, dash);
        std::from_chars(a.data(), a.data() + a.size(), f.first);
        f.last = f.first;
        if (dash != std::string_view::npos) {
          auto b = count.substr(dash + 1);
          std::from_chars(b.data(), b.data() + b.size(), f.last);
        }
        if (f.first < 1) f.first = 1;
        if (f.last < f.first) f.last = f.first;
      }
      one = one.substr(0, colon);
    }
    if (auto at = one.find('@'); at != std::string_view::npos) {
      f.key = std::string(one.substr(at + 1));
      one = one.substr(0, at);
    }
    f.point = std::string(one);
    fail_specs.push_back(std::move(f));
  }
  fail_armed.store(!fail_specs.empty());
}

bool fail_point(std::string_view name, std::string_view key) {
  if (!fail_armed.load(std::memory_order_relaxed)) return false;
  std::lock_guard lock(fail_mutex);
  for (auto& f : fail_specs) {
    if (f.point != name || (!f.key.empty() && f.key != key)) continue;
    ++f.seen;
    if (f.seen >= f.first && (f.last == 0 || f.seen <= f.last)) return true;
  }
  return false;
}

}  // namespace tributary::storage
