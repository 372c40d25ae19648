#include "bench/common.hpp"

#include <fmt/format.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <tuple>

#include "tests/support/node_process.hpp"

namespace tributary::bench {
namespace {

/// /proc/mounts escapes blanks in paths as octal (\040).
std::string unescape_mount_path(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 3)), nullptr, 8));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  }
  return "unknown";
}

json machine() {
  return {{"nproc", sysconf(_SC_NPROCESSORS_ONLN)}, {"cpu", cpu_model()}};
}

std::string show(const json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

void print_rows(std::ostream& out, const json& figures) {
  for (const auto& [key, value] : figures.items())
    out << fmt::format("  {:<28} {}\n", key, show(value));
}

}  // namespace

payload_generator::payload_generator(uint64_t seed) : rng_(seed) {}

std::string payload_generator::next() {
  // Each row is ~102 bytes: 24 (ts) + 8 (host) + 48 (msg) + ~8 (value) + ~9 (n) + separators.
  constexpr size_t msg_bytes = 48;
  std::uniform_int_distribution<int> host(0, 999), letter('a', 'z');
  std::uniform_real_distribution<double> value(0, 10000);
  std::uniform_int_distribution<int64_t> n(0, 999'999'999);
  std::string body;
  body.reserve(rows_per_request * 110);
  for (int row = 0; row < rows_per_request; ++row) {
    const uint64_t ms = request_ * rows_per_request + static_cast<uint64_t>(row);
    auto msg = fmt::format("req {} row {} ", request_, row);
    while (msg.size() < msg_bytes) msg += static_cast<char>(letter(rng_));
    body += fmt::format("2024-05-01T{:02}:{:02}:{:02}.{:03}Z,host-{:03},{},{:.3f},{}\n",
                        ms / 3'600'000 % 24, ms / 60'000 % 60, ms / 1000 % 60, ms % 1000,
                        host(rng_), msg, value(rng_), n(rng_));
  }
  ++request_;
  return body;
}

scratch_dir::scratch_dir(const std::filesystem::path& root) {
  auto base = root.empty() ? std::filesystem::temp_directory_path() : root;
  path_ = base / fmt::format("tributary-bench-{}-{}", getpid(), std::random_device{}());
  std::filesystem::create_directories(path_);
}

scratch_dir::~scratch_dir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

node_under_test::node_under_test(const options& o, std::string_view scenario)
    : scratch_(o.data_root) {
  if (!o.node.empty()) {
    remote_ = o.node;
    remote_http_ = o.node_http;
    std::string name(scenario);
    std::replace(name.begin(), name.end(), '-', '_');
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    database_ = fmt::format("bench_{}_{}", name,
                            std::chrono::duration_cast<std::chrono::seconds>(now).count());
    return;
  }
  flags_ = {"--streaming-ingestion=on"};
  flags_.insert(flags_.end(), o.node_args.begin(), o.node_args.end());
  progress(fmt::format("starting tributaryd {} (data on {})", fmt::join(flags_, " "),
                       filesystem_of(scratch_.path())));
  process_ = std::make_unique<testing::node_process>(scratch_.path() / "node", flags_,
                                                     testing::node_process::scheduling::node_defaults);
  database_ = "Bench";
}

node_under_test::~node_under_test() = default;

std::string node_under_test::address() const {
  return process_ ? process_->rpc_address() : remote_;
}

std::string node_under_test::http_base() const {
  if (process_) return fmt::format("http://127.0.0.1:{}", process_->http_port());
  if (remote_http_.empty())
    throw std::runtime_error(fmt::format(
        "--protocol http needs the REST endpoint of --node {}: pass --node-http host:port (its --http-listen)",
        remote_));
  return "http://" + remote_http_;
}

std::string node_under_test::limit_place() const {
  if (process_) return "same filesystem as the node's data";
  return fmt::format("on {} (the --node's filesystem is not known here)",
                     filesystem_of(scratch_.path()));
}

json node_under_test::describe() const {
  json d = {{"address", address()}, {"started_by_bench", process_ != nullptr}};
  if (process_ || !remote_http_.empty()) d["http"] = http_base();
  if (process_) {
    d["flags"] = flags_;
    d["data_fs"] = filesystem_of(scratch_.path());
  } else {
    d["limit_fs"] = filesystem_of(scratch_.path());
  }
  return d;
}

keep_cpus_awake::keep_cpus_awake(bool enabled) {
  if (!enabled) return;
  for (long i = 0; i < sysconf(_SC_NPROCESSORS_ONLN); ++i)
    threads_.emplace_back([this] {
      sched_param idle{};
      pthread_setschedparam(pthread_self(), SCHED_IDLE, &idle);
      while (!stop_.load(std::memory_order_relaxed)) {
      }
    });
}

keep_cpus_awake::~keep_cpus_awake() {
  stop_ = true;
  for (auto& t : threads_) t.join();
}

latency_summary summarize(std::vector<double> samples_us) {
  latency_summary s;
  s.count = samples_us.size();
  if (samples_us.empty()) return s;
  std::sort(samples_us.begin(), samples_us.end());
  auto rank = [&](double p) {
    auto i = static_cast<size_t>(std::ceil(p * static_cast<double>(samples_us.size())));
    return samples_us[std::clamp<size_t>(i, 1, samples_us.size()) - 1];
  };
  s.p50_us = rank(0.50);
  s.p99_us = rank(0.99);
  s.p999_us = rank(0.999);
  s.max_us = samples_us.back();
  double sum = 0;
  for (double x : samples_us) sum += x;
  s.mean_us = sum / static_cast<double>(samples_us.size());
  return s;
}

double micros(std::chrono::steady_clock::time_point from,
              std::chrono::steady_clock::time_point to) {
  return std::chrono::duration<double, std::micro>(to - from).count();
}

double rounded(double x, int decimals) {
  const double scale = std::pow(10.0, decimals);
  return std::round(x * scale) / scale;
}

model::result_table expect_ok(const model::outcome& o, std::string_view what) {
  if (const auto* e = std::get_if<model::error>(&o))
    throw std::runtime_error(fmt::format("{} failed: {}: {}", what, e->code, e->message));
  return std::get<model::result_table>(o);
}

client::ingest_request make_request(const std::string& database, const std::string& table,
                                    std::string data, std::string request_id) {
  client::ingest_request r;
  r.database = database;
  r.table = table;
  r.fmt = client::format::csv;
  r.data = std::move(data);
  r.request_id = std::move(request_id);
  return r;
}

client::ingest_ack expect_acked(const client::ingest_outcome& o, std::string_view what) {
  if (const auto* e = std::get_if<model::error>(&o))
    throw std::runtime_error(fmt::format("{} failed: {}: {}", what, e->code, e->message));
  const auto& ack = std::get<client::ingest_ack>(o);
  if (ack.consumed_records != rows_per_request)
    throw std::runtime_error(fmt::format("{}: acknowledged {} records instead of {}", what,
                                         ack.consumed_records, rows_per_request));
  return ack;
}

void create_database(client::connection& c, const std::string& database, bool database_policy) {
  expect_ok(c.command("", ".create database " + database), ".create database");
  if (database_policy)
    expect_ok(c.command(database, fmt::format(".alter database {} policy streamingingestion enable",
                                              database)),
              ".alter database policy streamingingestion");
}

void create_tables(const std::string& address, const std::string& database,
                   const std::vector<std::string>& names, bool table_policy, size_t connections) {
  connections = std::clamp<size_t>(connections, 1, std::max<size_t>(names.size(), 1));
  std::vector<std::exception_ptr> failures(connections);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < connections; ++t) {
    threads.emplace_back([&, t] {
      try {
        client::connection c(address);
        for (size_t i = t; i < names.size(); i += connections) {
          expect_ok(c.command(database, fmt::format(".create table {} {}", names[i], table_schema)),
                    ".create table " + names[i]);
          if (table_policy)
            expect_ok(
                c.command(database, fmt::format(".alter table {} policy streamingingestion enable",
                                                names[i])),
                ".alter table " + names[i] + " policy streamingingestion");
        }
      } catch (...) {
        failures[t] = std::current_exception();
      }
    });
  }
  for (auto& th : threads) th.join();
  for (auto& f : failures)
    if (f) std::rethrow_exception(f);
}

uint64_t rss_kib(int pid) {
  std::ifstream in(fmt::format("/proc/{}/status", pid));
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6));
  throw std::runtime_error(fmt::format("no VmRSS in /proc/{}/status", pid));
}

double process_cpu_seconds(int pid) {
  if (pid <= 0) return 0;
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string line;
  std::getline(in, line);
  const auto close = line.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  double ticks = 0;
  // Fields after the command name: state is field 3, utime 14, stime 15.
  for (int i = 3; i <= 15 && rest >> field; ++i)
    if (i == 14 || i == 15) ticks += std::stod(field);
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::string filesystem_of(const std::filesystem::path& path) {
  std::error_code ec;
  const std::string target = std::filesystem::weakly_canonical(path, ec).string();
  std::ifstream in("/proc/mounts");
  std::string best_mount, best;
  for (std::string dev, mount, type, rest; in >> dev >> mount >> type && std::getline(in, rest);) {
    mount = unescape_mount_path(mount);
    const bool under = target == mount || mount == "/" ||
                       (target.rfind(mount, 0) == 0 && target.size() > mount.size() &&
                        target[mount.size()] == '/');
    if (under && mount.size() >= best_mount.size()) {
      best_mount = mount;
      best = fmt::format("{} {} on {}", type, dev, mount);
    }
  }
  return best.empty() ? "unknown" : best;
}

void report(const scenario_result& r, const options& o) {
  std::ostream& out = o.json_output ? std::cerr : std::cout;
  out << fmt::format("\n== {}: {}\n", r.scenario, r.work);
  print_rows(out, r.figures);
  if (!r.limit_work.empty()) {
    out << fmt::format("  limit: {}\n", r.limit_work);
    print_rows(out, r.limit);
  }
  if (r.ratio)
    out << fmt::format("  {:<28} {}\n", "ratio (" + r.ratio_of + ")", rounded(*r.ratio, 3));
  print_rows(out, r.extra);
  if (!r.peer_work.empty()) {
    out << fmt::format("  peer: {}\n", r.peer_work);
    print_rows(out, r.peer);
  }
  out.flush();
  if (!o.json_output) return;
  json line = {{"scenario", r.scenario}, {"figures", r.figures}};
  line["limit"] = r.limit_work.empty() ? json(nullptr) : json(r.limit);
  if (!r.limit_work.empty()) line["limit"]["what"] = r.limit_work;
  line["ratio"] = r.ratio ? json(rounded(*r.ratio, 3)) : json(nullptr);
  if (r.ratio) line["ratio_of"] = r.ratio_of;
  for (const auto& [key, value] : r.extra.items()) line[key] = value;
  if (!r.peer_work.empty()) {
    line["peer"] = r.peer;
    line["peer"]["what"] = r.peer_work;
  }
  line["command"] = o.command_line;
  line["machine"] = machine();
  std::cout << line.dump() << std::endl;
}

void progress(std::string_view text) {
  std::cerr << "# " << text << std::endl;
}

}  // namespace tributary::bench

namespace tributary::bench {

std::optional<double> metric_value(const std::string& text, std::string_view name, std::string_view labels) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#' || line.rfind(name, 0) != 0) continue;
    const char next = line.size() > name.size() ? line[name.size()] : '\0';
    if (next != '{' && next != ' ') continue;
    const auto space = line.rfind(' ');
    if (space == std::string::npos) continue;
    if (!labels.empty() && line.substr(0, space).find(labels) == std::string::npos) continue;
    try {
      return std::stod(line.substr(space + 1));
    } catch (const std::exception&) {
      continue;
    }
  }
  return std::nullopt;
}

namespace {

// Each bucket's upper bound (+Inf as infinity) and its cumulative count, summed over every
// series of histogram `name` in Prometheus text `text`.
std::map<double, double> buckets(const std::string& text, std::string_view name) {
  const std::string prefix = std::string(name) + "_bucket{";
  std::map<double, double> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) != 0) continue;
    const auto le = line.find("le=\"");
    const auto space = line.rfind(' ');
    if (le == std::string::npos || space == std::string::npos) continue;
    const auto bound = line.substr(le + 4, line.find('"', le + 4) - le - 4);
    try {
      out[bound == "+Inf" ? std::numeric_limits<double>::infinity() : std::stod(bound)] += std::stod(line.substr(space + 1));
    } catch (const std::exception&) {
      continue;
    }
  }
  return out;
}

}  // namespace

double histogram_quantile(const std::string& before, const std::string& after, std::string_view name, double q) {
  auto counts = buckets(after, name);
  for (const auto& [bound, n] : buckets(before, name)) counts[bound] -= n;
  if (counts.empty() || counts.rbegin()->second <= 0) return 0;
  const double rank = q * counts.rbegin()->second;
  double lower = 0, below = 0;
  for (const auto& [bound, cumulative] : counts) {
    if (cumulative >= rank) {
      if (std::isinf(bound)) return lower;  // past the last finite bound: that bound
      return lower + (bound - lower) * (cumulative > below ? (rank - below) / (cumulative - below) : 0);
    }
    lower = bound;
    below = cumulative;
  }
  return lower;
}

void ingest_stages::add(const std::string& before, const std::string& after) {
  const std::string rpc_labels = fmt::format("method=\"ingest\",protocol=\"{}\"", protocol_);
  const std::tuple<std::string_view, std::string, std::string> stages[] = {
      {"queue", "tributary_ingest_queue_seconds", ""},
      {"prepare", "tributary_ingest_prepare_seconds", ""},
      {"commit_wait", "tributary_group_commit_wait_seconds", ""},
      {"group_commit", "tributary_group_commit_seconds", ""},
      {"answer", "tributary_ingest_answer_seconds", ""},
      {"rpc", "tributary_rpc_latency_seconds", rpc_labels}};
  for (const auto& [label, name, labels] : stages) {
    auto delta = [&](const char* suffix) {
      const auto key = name + suffix;
      return metric_value(after, key, labels).value_or(0) - metric_value(before, key, labels).value_or(0);
    };
    auto it = std::find_if(sums_.begin(), sums_.end(), [&](const auto& s) { return s.first == label; });
    if (it == sums_.end()) it = sums_.insert(sums_.end(), {std::string(label), {0.0, 0.0}});
    it->second.first += delta("_sum");
    it->second.second += delta("_count");
  }
}

json ingest_stages::means_us() const {
  json out = json::object();
  for (const auto& [label, sum_count] : sums_)
    if (sum_count.second > 0) out[label] = rounded(sum_count.first / sum_count.second * 1e6, 1);
  return out;
}

json ingest_stage_means_us(const std::string& before, const std::string& after) {
  ingest_stages stages;
  stages.add(before, after);
  return stages.means_us();
}

}  // namespace tributary::bench
