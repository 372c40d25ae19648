#include "monitoring/process_collector.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

namespace tributary::monitoring {
namespace {

// The fields of /proc/self/stat we use (proc(5) numbers them from 1; the
// fields after the parenthesised command name start at 3).
struct proc_stat {
  double utime_ticks = 0;
  double stime_ticks = 0;
  double threads = 0;
  double start_ticks = 0;
  double vsize_bytes = 0;
  double rss_pages = 0;
};

std::optional<proc_stat> read_proc_stat() {
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  // The command name may itself contain spaces and ')', so parse from the last ')'.
  auto close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(line.substr(close + 1));
  std::vector<std::string> f;
  for (std::string s; fields >> s;) f.push_back(std::move(s));
  if (f.size() < 22) return std::nullopt;
  auto field = [&](int number) { return std::stod(f[static_cast<size_t>(number - 3)]); };
  try {
    return proc_stat{field(14), field(15), field(20), field(22), field(23), field(24)};
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::optional<double> boot_time_seconds() {
  std::ifstream in("/proc/stat");
  for (std::string key; in >> key;) {
    if (key == "btime") {
      double btime = 0;
      if (in >> btime) return btime;
      return std::nullopt;
    }
    in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return std::nullopt;
}

std::optional<double> open_fds() {
  std::error_code ec;
  double n = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
       it.increment(ec))
    ++n;
  if (ec) return std::nullopt;
  return n;
}

std::optional<double> max_fds() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return std::nullopt;
  if (limit.rlim_cur == RLIM_INFINITY) return std::nullopt;
  return static_cast<double>(limit.rlim_cur);
}

prometheus::MetricFamily family(std::string name, std::string help, prometheus::MetricType type,
                                double value) {
  prometheus::ClientMetric m;
  if (type == prometheus::MetricType::Counter)
    m.counter.value = value;
  else
    m.gauge.value = value;
  return {std::move(name), std::move(help), type, {std::move(m)}};
}

}  // namespace

process_collector::process_collector() {
  auto stat = read_proc_stat();
  auto btime = boot_time_seconds();
  auto ticks = sysconf(_SC_CLK_TCK);
  if (stat && btime && ticks > 0)
    start_time_seconds_ = *btime + stat->start_ticks / static_cast<double>(ticks);
}

std::vector<prometheus::MetricFamily> process_collector::Collect() const {
  using prometheus::MetricType;
  std::vector<prometheus::MetricFamily> out;
  if (auto stat = read_proc_stat()) {
    auto ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    auto page = static_cast<double>(sysconf(_SC_PAGESIZE));
    out.push_back(family("process_cpu_seconds_total",
                         "Total user and system CPU time spent in seconds.", MetricType::Counter,
                         (stat->utime_ticks + stat->stime_ticks) / ticks));
    out.push_back(family("process_resident_memory_bytes", "Resident memory size in bytes.",
                         MetricType::Gauge, stat->rss_pages * page));
    out.push_back(family("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                         MetricType::Gauge, stat->vsize_bytes));
    out.push_back(family("process_threads", "Number of OS threads in the process.",
                         MetricType::Gauge, stat->threads));
  }
  if (auto n = open_fds())
    out.push_back(
        family("process_open_fds", "Number of open file descriptors.", MetricType::Gauge, *n));
  if (auto n = max_fds())
    out.push_back(family("process_max_fds", "Maximum number of open file descriptors.",
                         MetricType::Gauge, *n));
  if (start_time_seconds_ >= 0)
    out.push_back(family("process_start_time_seconds",
                         "Start time of the process since unix epoch in seconds.",
                         MetricType::Gauge, start_time_seconds_));
  return out;
}

}  // namespace tributary::monitoring
