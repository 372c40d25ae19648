// `seal`: how fast a table's rowstore becomes an extent when its policy goes, how small the
// extent is, and what the move does to the ack latency of another table, against zstd alone
// compressing the same column data.

#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <exception>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "bench/scenarios.hpp"
#include "tests/support/node_process.hpp"
#include "tests/support/run_process.hpp"

namespace tributary::bench {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

constexpr size_t default_seal_mib = 200;
/// Loading: requests of ~1 MiB (many ~1 KiB bodies of payload_generator concatenated), from
/// `load_connections` connections with `load_window` in flight each.
constexpr size_t load_request_bytes = size_t{1} << 20;
constexpr size_t load_connections = 2;
constexpr size_t load_window = 4;
/// The `latency` loop into the second table: warm-up, then this many measured requests before
/// the seal, and at most this many during the move.
constexpr size_t latency_warmup = 200;
constexpr size_t latency_requests = 2000;
/// Fewer requests than this overlapping the move make its p99 a weak figure: the report says so.
constexpr size_t meaningful_overlap = 200;
/// `.show table T extents` every `poll_interval`; the node's metrics every `sample_interval`.
constexpr auto poll_interval = 10ms;
constexpr auto sample_interval = 50ms;
constexpr auto move_timeout = 600s;
/// The limit: the extent's block layout (storage/FORMAT.md "Extents") and zstd level.
constexpr size_t chunk_rows = 65536;
constexpr int zstd_level = 3;
/// Node flags that keep the rowstore unsealed while loading (unless --node-arg sets them).
const std::vector<std::pair<std::string, std::string>> no_seal_flags = {
    {"--seal-after-bytes", "1099511627776"}, {"--seal-after-seconds", "86400"}};
/// Gauges of the backpressure controller sampled during the move, when the node has them.
const std::vector<std::string> controller_gauges = {
    "tributary_movers_allowed", "tributary_movers_running", "tributary_mover_pause_seconds",
    "tributary_pressure_system_cpu_ratio", "tributary_pressure_process_cpu_ratio"};

double seconds_between(steady::time_point a, steady::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

double mib(double bytes) {
  return bytes / (1 << 20);
}

/// CPU time so far, in seconds: the whole machine's busy and total time (from /proc/stat, all
/// CPUs) and the processes named by pid (utime + stime from /proc/<pid>/stat; 0 when gone).
struct cpu_times {
  double machine_busy = 0, machine_total = 0;
  std::vector<double> processes;
};

cpu_times read_cpu_times(const std::vector<int>& pids) {
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  cpu_times t;
  std::ifstream stat("/proc/stat");
  std::string cpu;
  stat >> cpu;  // "cpu": user nice system idle iowait irq softirq steal ...
  std::vector<double> f;
  for (double x; f.size() < 8 && stat >> x;) f.push_back(x);
  for (size_t i = 0; i < f.size(); ++i) {
    t.machine_total += f[i] / tick;
    if (i != 3 && i != 4) t.machine_busy += f[i] / tick;
  }
  for (int pid : pids) {
    std::ifstream in(fmt::format("/proc/{}/stat", pid));
    std::string line;
    std::getline(in, line);
    double seconds = 0;
    // Fields after the ")" ending the command name: state is field 3, utime 14, stime 15.
    if (auto close = line.rfind(')'); close != std::string::npos) {
      std::istringstream rest(line.substr(close + 2));
      std::string field;
      for (int i = 3; i <= 15 && rest >> field; ++i)
        if (i == 14 || i == 15) seconds += std::stod(field) / tick;
    }
    t.processes.push_back(seconds);
  }
  return t;
}

/// Cores used between `a` and `b` (`wall` seconds apart): the machine's, each process's, and
/// what is left for other processes.
json cores_used(const cpu_times& a, const cpu_times& b, double wall,
                const std::vector<std::string>& names) {
  const double ncpu = static_cast<double>(sysconf(_SC_NPROCESSORS_ONLN));
  const double total = b.machine_total - a.machine_total;
  const double machine = total > 0 ? (b.machine_busy - a.machine_busy) / total * ncpu : 0;
  json out = {{"machine_busy_cores", rounded(machine, 2)}};
  double ours = 0;
  for (size_t i = 0; i < names.size(); ++i) {
    const double cores = (b.processes[i] - a.processes[i]) / wall;
    ours += cores;
    out[names[i] + "_cores"] = rounded(cores, 2);
  }
  out["other_processes_cores"] = rounded(std::max(0.0, machine - ours), 2);
  return out;
}

/// Observations of histogram `name` (all label sets) at or below `le` seconds ("+Inf" = all).
double histogram_count(const std::string& text, std::string_view name, std::string_view le) {
  std::istringstream in(text);
  const std::string prefix = std::string(name) + "_bucket{";
  const std::string bound = fmt::format("le=\"{}\"", le);
  double total = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) != 0 || line.find(bound) == std::string::npos) continue;
    const auto space = line.rfind(' ');
    if (space != std::string::npos) total += std::strtod(line.c_str() + space + 1, nullptr);
  }
  return total;
}

/// Between two scrapes: per node-side histogram (group commit = fsync; ingest = table actor to
/// ack; rpc = request read to answer written, all methods), how many observations and how many took over 1 ms and over 2.5 ms.
json slow_share(const std::string& before, const std::string& after) {
  json out = json::object();
  for (const auto& [label, name] : {std::pair{"group_commit", "tributary_group_commit_seconds"},
                                    std::pair{"prepare", "tributary_ingest_prepare_seconds"},
                                    std::pair{"commit_wait", "tributary_group_commit_wait_seconds"},
                                    std::pair{"ingest", "tributary_ingest_latency_seconds"},
                                    std::pair{"rpc", "tributary_rpc_latency_seconds"}}) {
    auto delta = [&](std::string_view le) {
      return histogram_count(after, name, le) - histogram_count(before, name, le);
    };
    const double all = delta("+Inf");
    out[label] = {{"count", all}, {"over_1ms", all - delta("0.001")}, {"over_2_5ms", all - delta("0.0025")}};
  }
  return out;
}

/// Generates the loading requests of connection `index`: ~1 MiB bodies of payload_generator
/// output (seed 300 + index) until `quota` bytes. Deterministic, so the limit regenerates the
/// very rows the node got.
class load_requests {
 public:
  load_requests(size_t index, size_t quota) : generator_(300 + index), quota_(quota) {}
  /// The next body and its row count, or nullopt once the quota is reached.
  std::optional<std::pair<std::string, size_t>> next() {
    if (produced_ >= quota_) return std::nullopt;
    std::string body;
    body.reserve(load_request_bytes + 2048);
    size_t rows = 0;
    while (body.size() < load_request_bytes && produced_ + body.size() < quota_) {
      body += generator_.next();
      rows += rows_per_request;
    }
    produced_ += body.size();
    return std::pair{std::move(body), rows};
  }

 private:
  payload_generator generator_;
  size_t quota_;
  size_t produced_ = 0;
};

struct load_stats {
  uint64_t rows = 0, bytes = 0, requests = 0, throttled = 0;
  std::exception_ptr failure;
};

/// Loads `quota` bytes into `database`.T from one connection, `load_window` in flight.
void load(const std::string& address, const std::string& database, size_t index, size_t quota,
          load_stats& stats) {
  client::connection c(address);
  load_requests source(index, quota);
  std::map<std::string, size_t> expected_rows;
  uint64_t sequence = 0;
  std::optional<std::string> failure;
  c.ingest_pipelined(
      load_window,
      [&]() -> std::optional<client::ingest_request> {
        if (failure) return std::nullopt;
        auto body = source.next();
        if (!body) return std::nullopt;
        auto r = make_request(database, "T", std::move(body->first),
                              fmt::format("load-{}-{}", index, sequence++));
        expected_rows[r.request_id] = body->second;
        return r;
      },
      [&](const client::ingest_request& r,
          const client::ingest_outcome& o) -> std::optional<std::chrono::milliseconds> {
        if (const auto* e = std::get_if<model::error>(&o)) {
          if (e->code == "Throttling") {
            ++stats.throttled;
            return throttled_retry_delay;
          }
          if (!failure)
            failure =
                fmt::format("loading request {} failed: {}: {}", r.request_id, e->code, e->message);
          return std::nullopt;
        }
        const auto& ack = std::get<client::ingest_ack>(o);
        if (ack.consumed_records != expected_rows[r.request_id] && !failure)
          failure = fmt::format("loading request {}: acknowledged {} records instead of {}",
                                r.request_id, ack.consumed_records, expected_rows[r.request_id]);
        stats.rows += ack.consumed_records;
        stats.bytes += r.data.size();
        ++stats.requests;
        return std::nullopt;
      });
  if (failure) throw std::runtime_error(*failure);
}

/// Rows in T's extents and the sums of their sizes, from `.show table T extents`.
struct extents_shown {
  size_t extents = 0;
  int64_t rows = 0, original_bytes = 0, file_bytes = 0;
};

extents_shown show_extents(client::connection& c, const std::string& database) {
  auto t = expect_ok(c.command(database, ".show table T extents"), ".show table T extents");
  auto column = [&](std::string_view name) {
    for (size_t i = 0; i < t.columns.size(); ++i)
      if (t.columns[i].name == name) return i;
    throw std::runtime_error(fmt::format(".show table T extents has no column {}", name));
  };
  const size_t rows = column("RowCount"), original = column("OriginalSize"),
               file = column("ExtentSize");
  extents_shown s;
  for (const auto& row : t.rows) {
    ++s.extents;
    s.rows += std::get<int64_t>(row[rows]);
    s.original_bytes += std::get<int64_t>(row[original]);
    s.file_bytes += std::get<int64_t>(row[file]);
  }
  return s;
}

/// The `latency` loop: sequential ~1 KiB requests with request ids into `database`.T2.
class latency_loop {
 public:
  latency_loop(const std::string& address, const std::string& database)
      : c_(address), database_(database), generator_(1) {}

  struct sample {
    steady::time_point sent;
    double us;
  };

  /// Sends up to `n` requests, before each asking `stop` whether to end early.
  std::vector<sample> run(
      size_t n, std::string_view label, const std::function<bool()>& stop = [] { return false; }) {
    std::vector<sample> out;
    out.reserve(n);
    for (size_t i = 0; i < n && !stop(); ++i) {
      auto request = make_request(database_, "T2", generator_.next(),
                                  fmt::format("seal-{}-{}", label, sent_++));
      const auto t0 = steady::now();
      auto answer = c_.ingest(request);
      const auto t1 = steady::now();
      expect_acked(answer, "ingest " + request.request_id);
      out.push_back({t0, micros(t0, t1)});
    }
    return out;
  }

 private:
  client::connection c_;
  std::string database_;
  payload_generator generator_;
  uint64_t sent_ = 0;
};

latency_summary summarize_samples(const std::vector<latency_loop::sample>& samples) {
  std::vector<double> us;
  for (const auto& s : samples) us.push_back(s.us);
  return summarize(std::move(us));
}

json latency_figures(const latency_summary& s) {
  return {{"requests", s.count},
          {"ack_p50_us", rounded(s.p50_us)},
          {"ack_p99_us", rounded(s.p99_us)},
          {"ack_max_us", rounded(s.max_us)}};
}

/// A child process spinning on one CPU until the destructor kills it (by its pid).
class cpu_hog {
 public:
  cpu_hog() {
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork for --cpu-hog failed");
    if (pid_ == 0) {
      volatile uint64_t spins = 0;
      while (true) spins = spins + 1;
    }
  }
  ~cpu_hog() {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  cpu_hog(const cpu_hog&) = delete;
  cpu_hog& operator=(const cpu_hog&) = delete;
  int pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

/// Samples of one gauge during the move.
struct gauge_samples {
  size_t count = 0;
  double min = 0, max = 0, sum = 0, first = 0, last = 0;
  void add(double v) {
    if (count == 0) min = max = first = v;
    min = std::min(min, v);
    max = std::max(max, v);
    sum += v;
    last = v;
    ++count;
  }
  json describe() const {
    return {{"samples", count},           {"min", rounded(min, 3)},
            {"max", rounded(max, 3)},     {"mean", rounded(sum / static_cast<double>(count), 3)},
            {"first", rounded(first, 3)}, {"last", rounded(last, 3)}};
  }
};

/// What the poller saw while the rowstore moved.
struct move_watch {
  steady::time_point done_at;
  bool done = false;
  extents_shown final;
  size_t polls = 0;
  std::map<std::string, gauge_samples> gauges;
  std::exception_ptr failure;
};

/// Polls `.show table T extents` from its own connection until the extents hold `rows` rows
/// (or `move_timeout`), sampling the controller's gauges when `metrics_port` is known. Sets
/// `finished` when it stops, whatever the reason.
void watch_move(const std::string& address, const std::string& database, int64_t rows,
                std::optional<uint16_t> metrics_port, steady::time_point started,
                std::atomic<bool>& finished, move_watch& w) {
  try {
    client::connection c(address);
    auto next_sample = steady::now();
    while (true) {
      const auto now = steady::now();
      if (metrics_port && now >= next_sample) {
        const auto text = testing::http_get(*metrics_port, "/metrics");
        for (const auto& name : controller_gauges)
          if (auto v = metric_value(text, name)) w.gauges[name].add(*v);
        next_sample = now + sample_interval;
      }
      auto shown = show_extents(c, database);
      ++w.polls;
      if (shown.rows >= rows) {
        w.done_at = steady::now();
        w.done = true;
        w.final = shown;
        break;
      }
      if (steady::now() - started > move_timeout)
        throw std::runtime_error(fmt::format("the extents hold {} of {} rows after {} s",
                                             shown.rows, rows, move_timeout.count()));
      std::this_thread::sleep_for(poll_interval);
    }
  } catch (...) {
    w.failure = std::current_exception();
  }
  finished = true;
}

// --- the limit: zstd alone over the same rows laid out as the extent lays out columns ---

/// One block group's columns in the extent's uncompressed layout (no nulls here): i64 arrays
/// for ts, n and ingestion_time, f64 for value, u32 lengths then bytes for host and msg.
struct column_chunk {
  std::vector<int64_t> ts, n, ingestion;
  std::vector<double> value;
  std::vector<uint32_t> host_len, msg_len;
  std::string host, msg;
  size_t rows() const { return ts.size(); }
  void clear() { *this = column_chunk{}; }
};

int64_t parse_int(std::string_view s, std::string_view what) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size())
    throw std::runtime_error(fmt::format("limit: bad {} '{}'", what, s));
  return v;
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` as payload_generator writes it → 100-ns ticks since the epoch.
int64_t parse_ticks(std::string_view s) {
  if (s.size() != 24 || s[10] != 'T' || s[23] != 'Z')
    throw std::runtime_error(fmt::format("limit: bad datetime '{}'", s));
  using namespace std::chrono;
  const year_month_day date{year(static_cast<int>(parse_int(s.substr(0, 4), "year"))),
                            month(static_cast<unsigned>(parse_int(s.substr(5, 2), "month"))),
                            day(static_cast<unsigned>(parse_int(s.substr(8, 2), "day")))};
  const auto ms = sys_days(date).time_since_epoch() + hours(parse_int(s.substr(11, 2), "hour")) +
                  minutes(parse_int(s.substr(14, 2), "minute")) +
                  seconds(parse_int(s.substr(17, 2), "second")) +
                  milliseconds(parse_int(s.substr(20, 3), "millisecond"));
  return duration_cast<milliseconds>(ms).count() * 10'000;
}

/// Appends the CSV rows of `body` (one request, ingested at `ingestion_ticks`) to `chunk`,
/// handing every full chunk of `chunk_rows` rows to `full`.
void add_rows(std::string_view body, int64_t ingestion_ticks, column_chunk& chunk,
              const std::function<void(const column_chunk&)>& full) {
  while (!body.empty()) {
    const auto eol = body.find('\n');
    std::string_view line = body.substr(0, eol);
    body = eol == std::string_view::npos ? std::string_view{} : body.substr(eol + 1);
    if (line.empty()) continue;
    std::string_view f[5];
    for (int i = 0; i < 5; ++i) {
      const auto comma = i < 4 ? line.find(',') : std::string_view::npos;
      if (i < 4 && comma == std::string_view::npos)
        throw std::runtime_error(fmt::format("limit: bad row '{}'", line));
      f[i] = line.substr(0, comma);
      line = comma == std::string_view::npos ? std::string_view{} : line.substr(comma + 1);
    }
    chunk.ts.push_back(parse_ticks(f[0]));
    chunk.host_len.push_back(static_cast<uint32_t>(f[1].size()));
    chunk.host.append(f[1]);
    chunk.msg_len.push_back(static_cast<uint32_t>(f[2].size()));
    chunk.msg.append(f[2]);
    double v = 0;
    auto [end, ec] = std::from_chars(f[3].data(), f[3].data() + f[3].size(), v);
    if (ec != std::errc{} || end != f[3].data() + f[3].size())
      throw std::runtime_error(fmt::format("limit: bad real '{}'", f[3]));
    chunk.value.push_back(v);
    chunk.n.push_back(parse_int(f[4], "long"));
    chunk.ingestion.push_back(ingestion_ticks);
    if (chunk.rows() == chunk_rows) {
      full(chunk);
      chunk.clear();
    }
  }
}

struct zstd_run {
  uint64_t rows = 0, column_bytes = 0, compressed_bytes = 0, blocks = 0;
  double seconds = 0;  ///< one thread: in ZSTD_compressCCtx only
  unsigned threads = 1;         ///< the move's compression threads
  double threads_seconds = 0;   ///< on `threads` threads: wall time of each group's compression
};

/// Compression threads of a move that the controller does not pause: actors/mover.cpp
/// compression_threads() (every core, at most max_compression_threads = 4). Under pressure
/// (tributary_mover_pause_seconds > 0) a move compresses on one thread.
unsigned move_compression_threads() { return std::clamp(std::thread::hardware_concurrency(), 1u, 4u); }

/// Compresses one block group's column blocks, each as one zstd frame at `zstd_level`, with
/// contexts reused from group to group. `threads` = 1: on this thread, timing only
/// ZSTD_compressCCtx; more: as the extent writer does (storage/extent.cpp compress_columns), on
/// this thread and helpers started per group taking columns in turn, timing the group's wall time.
class group_compressor {
 public:
  explicit group_compressor(unsigned threads) {
    for (unsigned i = 0; i < threads; ++i) {
      cctxs_.emplace_back(ZSTD_createCCtx(), ZSTD_freeCCtx);
      if (!cctxs_.back()) throw std::runtime_error("zstd: cannot create a context");
    }
  }

  /// Seconds spent; adds the frames' sizes to `compressed_bytes`.
  double compress(const std::vector<std::string_view>& blocks, uint64_t& compressed_bytes) {
    frames_.resize(blocks.size());
    for (size_t i = 0; i < blocks.size(); ++i) frames_[i].resize(ZSTD_compressBound(blocks[i].size()));
    std::vector<size_t> sizes(blocks.size());
    auto one = [&](ZSTD_CCtx* c, size_t i) {
      sizes[i] = ZSTD_compressCCtx(c, frames_[i].data(), frames_[i].size(), blocks[i].data(), blocks[i].size(),
                                   zstd_level);
    };
    double seconds = 0;
    if (cctxs_.size() == 1) {
      for (size_t i = 0; i < blocks.size(); ++i) {
        const auto t0 = steady::now();
        one(cctxs_[0].get(), i);
        seconds += seconds_between(t0, steady::now());
      }
    } else {
      std::atomic<size_t> next{0};
      auto work = [&](ZSTD_CCtx* c) {
        for (size_t i = next++; i < blocks.size(); i = next++) one(c, i);
      };
      const auto t0 = steady::now();
      std::vector<std::thread> helpers;
      for (size_t t = 1; t < cctxs_.size() && t < blocks.size(); ++t) helpers.emplace_back(work, cctxs_[t].get());
      work(cctxs_[0].get());
      for (auto& h : helpers) h.join();
      seconds = seconds_between(t0, steady::now());
    }
    for (size_t n : sizes) {
      if (ZSTD_isError(n)) throw std::runtime_error(std::string("zstd: ") + ZSTD_getErrorName(n));
      compressed_bytes += n;
    }
    return seconds;
  }

 private:
  std::vector<std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)>> cctxs_;
  std::vector<std::string> frames_;
};

/// Regenerates the rows loaded into T, lays them out per column in chunks of `chunk_rows` and
/// compresses every column block as one zstd frame at `zstd_level`, as the extent writer does:
/// once on one thread and once on the move's compression threads, group by group (which goes
/// first alternates), so both see the same data and the same background load. Times only the
/// compression.
zstd_run zstd_limit(size_t quota_per_connection) {
  zstd_run run;
  run.threads = move_compression_threads();
  group_compressor single(1), parallel(run.threads);
  std::string host_raw, msg_raw;
  auto text = [](std::string& raw, const std::vector<uint32_t>& lengths, const std::string& bytes) {
    raw.assign(reinterpret_cast<const char*>(lengths.data()), lengths.size() * sizeof(uint32_t));
    raw += bytes;
    return std::string_view(raw);
  };
  auto fixed = [](const auto& v) {
    return std::string_view(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(v[0]));
  };
  auto full = [&](const column_chunk& c) {
    run.rows += c.rows();
    const std::vector<std::string_view> blocks = {fixed(c.ts),    text(host_raw, c.host_len, c.host),
                                                  text(msg_raw, c.msg_len, c.msg), fixed(c.value),
                                                  fixed(c.n),     fixed(c.ingestion)};
    for (auto b : blocks) run.column_bytes += b.size();
    run.blocks += blocks.size();
    uint64_t compressed = 0, compressed_again = 0;
    if (run.threads == 1) {
      run.seconds += single.compress(blocks, compressed);
      run.threads_seconds = run.seconds;
    } else if (run.rows / chunk_rows % 2 == 0) {
      run.seconds += single.compress(blocks, compressed);
      run.threads_seconds += parallel.compress(blocks, compressed_again);
    } else {
      run.threads_seconds += parallel.compress(blocks, compressed_again);
      run.seconds += single.compress(blocks, compressed);
    }
    run.compressed_bytes += compressed;
  };
  column_chunk chunk;
  // One ingestion time per request, as the node gives every row of a request; 1 ms apart.
  int64_t ingestion = 638'500'000'000'000'000;
  for (size_t index = 0; index < load_connections; ++index) {
    load_requests source(index, quota_per_connection);
    while (auto body = source.next()) add_rows(body->first, ingestion += 10'000, chunk, full);
  }
  if (chunk.rows()) full(chunk);
  return run;
}

/// `options` with the flags that keep the rowstore unsealed while loading, unless given.
options with_no_seal_flags(const options& o) {
  options copy = o;
  for (const auto& [flag, value] : no_seal_flags) {
    const bool given = std::any_of(o.node_args.begin(), o.node_args.end(),
                                   [&](const std::string& a) { return a.rfind(flag, 0) == 0; });
    if (!given) copy.node_args.push_back(flag + "=" + value);
  }
  return copy;
}

}  // namespace

scenario_result run_seal(const options& o) {
  const size_t seal_mib = o.seal_mib.value_or(default_seal_mib);
  const size_t quota = seal_mib * (size_t{1} << 20) / load_connections;
  node_under_test node(with_no_seal_flags(o), "seal");
  std::optional<uint16_t> metrics_port;
  if (auto* p = node.process()) metrics_port = p->metrics_port();
  client::connection c(node.address());
  create_database(c, node.database(), false);
  create_tables(node.address(), node.database(), {"T", "T2"}, true, 1);

  // 1. Load T's rowstore.
  progress(
      fmt::format("seal: loading {} MiB of CSV into T, ~{} KiB requests, {} connections x {} "
                  "in flight",
                  seal_mib, load_request_bytes >> 10, load_connections, load_window));
  std::vector<load_stats> loads(load_connections);
  std::vector<std::thread> threads;
  const auto load_start = steady::now();
  for (size_t i = 0; i < load_connections; ++i)
    threads.emplace_back([&, i] {
      try {
        load(node.address(), node.database(), i, quota, loads[i]);
      } catch (...) {
        loads[i].failure = std::current_exception();
      }
    });
  for (auto& t : threads) t.join();
  const double load_seconds = seconds_between(load_start, steady::now());
  load_stats loaded;
  for (const auto& l : loads) {
    if (l.failure) std::rethrow_exception(l.failure);
    loaded.rows += l.rows;
    loaded.bytes += l.bytes;
    loaded.requests += l.requests;
    loaded.throttled += l.throttled;
  }
  progress(fmt::format("seal: loaded {} rows, {:.1f} MiB in {:.1f} s", loaded.rows,
                       mib(static_cast<double>(loaded.bytes)), load_seconds));
  const auto rows = static_cast<int64_t>(loaded.rows);
  if (auto before = show_extents(c, node.database()); before.rows != 0)
    throw std::runtime_error(fmt::format(
        "T already has {} rows in extents before the seal: the node must not seal while loading "
        "(--seal-after-bytes / --seal-after-seconds)",
        before.rows));

  // Rowstore bytes: the node's gauge (only T holds rows in this database yet).
  std::optional<double> rowstore_bytes;
  if (metrics_port)
    rowstore_bytes =
        metric_value(testing::http_get(*metrics_port, "/metrics"), "tributary_rowstore_bytes",
                     fmt::format("database=\"{}\"", node.database()));

  // Where the slow acks come from: the node's histograms of group commits (the fsync) and of
  // ingest requests (table actor to ack), read before and after each latency phase.
  auto node_histograms = [&] {
    return metrics_port ? testing::http_get(*metrics_port, "/metrics") : std::string();
  };

  // 2. The latency loop without a move (baseline), and with the CPU hog alone if asked.
  // No keep_cpus_awake spinners here (unlike `latency`): the node's backpressure controller
  // reads CPU use from /proc/stat, where a spinning SCHED_IDLE thread counts as busy, so it
  // would see ~100% CPU whenever they run and pause the movers as for a CPU hog.
  latency_loop latency(node.address(), node.database());
  progress(fmt::format("seal: latency into T2 without a move, {} + {} requests", latency_warmup,
                       latency_requests));
  latency.run(latency_warmup, "warmup");
  const auto base_metrics_before = node_histograms();
  const auto baseline = summarize_samples(latency.run(latency_requests, "base"));
  const auto base_metrics_after = node_histograms();
  std::unique_ptr<cpu_hog> hog;
  std::optional<latency_summary> hog_baseline;
  if (o.cpu_hog) {
    hog = std::make_unique<cpu_hog>();
    progress(fmt::format("seal: busy-loop process {} started; latency into T2 with it, no move",
                         hog->pid()));
    std::this_thread::sleep_for(1s);  // let the controller see the load
    hog_baseline = summarize_samples(latency.run(latency_requests, "hog"));
  }

  // 3. The seal: delete T's policy, watch the extents, run the latency loop meanwhile.
  progress(fmt::format("seal: .delete table T policy streamingingestion; {} rows to move", rows));
  std::atomic<bool> finished{false};
  move_watch watch;
  std::vector<int> pids;
  std::vector<std::string> pid_names;
  if (auto* p = node.process()) {
    pids.push_back(p->pid());
    pid_names.push_back("node");
  }
  pids.push_back(getpid());
  pid_names.push_back("bench");
  if (hog) {
    pids.push_back(hog->pid());
    pid_names.push_back("hog");
  }
  const auto cpu_before = read_cpu_times(pids);
  const auto move_metrics_before = node_histograms();
  const auto t0 = steady::now();
  expect_ok(c.command(node.database(), ".delete table T policy streamingingestion"),
            ".delete table T policy streamingingestion");
  std::thread watcher(watch_move, node.address(), node.database(), rows, metrics_port, t0,
                      std::ref(finished), std::ref(watch));
  std::vector<latency_loop::sample> during;
  std::exception_ptr latency_failure;
  try {
    during = latency.run(latency_requests, "move", [&] { return finished.load(); });
  } catch (...) {
    latency_failure = std::current_exception();
  }
  const auto latency_end = steady::now();
  const auto move_metrics_after = node_histograms();
  watcher.join();
  const auto cpu_after = read_cpu_times(pids);
  const double watched_seconds = seconds_between(t0, steady::now());
  hog.reset();
  if (watch.failure) std::rethrow_exception(watch.failure);
  if (latency_failure) std::rethrow_exception(latency_failure);
  const double move_seconds = seconds_between(t0, watch.done_at);
  size_t overlapped = 0;
  for (const auto& s : during) overlapped += s.sent < watch.done_at;
  const double covered_seconds = seconds_between(t0, std::min(latency_end, watch.done_at));
  const auto moving = summarize_samples(during);

  // Every row is still there exactly once.
  auto counted = expect_ok(c.query(node.database(), "T | count"), "T | count");
  const int64_t rows_counted = counted.rows.size() == 1 && counted.rows[0].size() == 1 &&
                                       std::holds_alternative<int64_t>(counted.rows[0][0])
                                   ? std::get<int64_t>(counted.rows[0][0])
                                   : -1;
  if (rows_counted != rows)
    throw std::runtime_error(fmt::format(
        "T | count answered {} after the move; {} rows were loaded", rows_counted, rows));

  const std::string input_source =
      rowstore_bytes ? "tributary_rowstore_bytes gauge" : "OriginalSize of .show table T extents";
  const double input_bytes =
      rowstore_bytes ? *rowstore_bytes : static_cast<double>(watch.final.original_bytes);
  const double move_mib_per_s = mib(input_bytes) / move_seconds;

  // 4. The limit, node idle: zstd alone over the same rows in the extent's column layout.
  progress(fmt::format(
      "seal: limit, zstd level {} over the same rows in {}-row column blocks, on 1 and on {} threads",
      zstd_level, chunk_rows, move_compression_threads()));
  const auto z = zstd_limit(quota);
  if (z.rows != loaded.rows)
    throw std::runtime_error(
        fmt::format("limit: regenerated {} rows, but {} were loaded", z.rows, loaded.rows));
  const double zstd_mib_per_s = mib(static_cast<double>(z.column_bytes)) / z.seconds;
  const double zstd_rowstore_mib_per_s = mib(input_bytes) / z.seconds;
  const double zstd_threads_mib_per_s = mib(static_cast<double>(z.column_bytes)) / z.threads_seconds;
  const double zstd_threads_rowstore_mib_per_s = mib(input_bytes) / z.threads_seconds;
  // Whether the controller paused the movers during the move (then it compressed on one thread).
  double max_pause = 0;
  if (auto it = watch.gauges.find("tributary_mover_pause_seconds"); it != watch.gauges.end())
    max_pause = it->second.max;

  scenario_result r;
  r.scenario = "seal";
  r.work = fmt::format(
      "1 table, {} MiB of CSV in its rowstore, sealed by .delete table T policy "
      "streamingingestion; latency loop (sequential ~1 KiB requests) into T2 before and during "
      "the move{}",
      seal_mib, o.cpu_hog ? "; a busy-loop process beside the node during the move" : "");
  r.figures = {
      {"rows", rows},
      {"csv_mib", rounded(mib(static_cast<double>(loaded.bytes)), 1)},
      {"load_requests", loaded.requests},
      {"load_seconds", rounded(load_seconds, 2)},
      {"load_throttled_answers", loaded.throttled},
      {"rowstore_bytes", static_cast<uint64_t>(input_bytes)},
      {"rowstore_bytes_from", input_source},
      {"extents", watch.final.extents},
      {"extent_bytes", watch.final.file_bytes},
      {"extents_original_size", watch.final.original_bytes},
      {"move_seconds", rounded(move_seconds, 3)},
      {"move_mib_per_s", rounded(move_mib_per_s, 2)},
      {"move_rows_per_s", rounded(static_cast<double>(rows) / move_seconds)},
      {"extent_over_input", rounded(static_cast<double>(watch.final.file_bytes) / input_bytes, 4)},
      {"rows_counted_after", rows_counted},
      {"latency_without_move", latency_figures(baseline)}};
  if (hog_baseline) r.figures["latency_with_hog_no_move"] = latency_figures(*hog_baseline);
  auto during_figures = latency_figures(moving);
  during_figures["overlapped_move"] = overlapped;
  during_figures["covered_seconds"] = rounded(covered_seconds, 3);
  r.figures["latency_during_move"] = during_figures;
  r.figures["p99_during_over_without"] = rounded(moving.p99_us / baseline.p99_us, 3);
  if (hog_baseline)
    r.figures["p99_during_over_hog_alone"] = rounded(moving.p99_us / hog_baseline->p99_us, 3);
  if (metrics_port) {
    r.figures["node_side_without_move"] = slow_share(base_metrics_before, base_metrics_after);
    r.figures["node_side_during_move"] = slow_share(move_metrics_before, move_metrics_after);
  }
  r.figures["cpu_during_move"] = cores_used(cpu_before, cpu_after, watched_seconds, pid_names);
  if (metrics_port) {
    json gauges = json::object();
    for (const auto& name : controller_gauges) {
      auto it = watch.gauges.find(name);
      gauges[name] = it == watch.gauges.end() ? json("absent") : it->second.describe();
    }
    r.figures["controller_during_move"] = gauges;
  }
  r.limit_work = fmt::format(
      "zstd level {} alone, reused contexts: the same rows regenerated and laid out per column as "
      "the extent does (i64 ts, n, ingestion_time; f64 value; u32 lengths + bytes for host, msg) "
      "in {}-row blocks; on one thread (only ZSTD_compressCCtx timed) and on the move's {} "
      "compression threads (a group's columns shared out as the extent writer does; each group's "
      "wall time), alternating group by group",
      zstd_level, chunk_rows, z.threads);
  r.limit = {
      {"rows", z.rows},
      {"blocks", z.blocks},
      {"column_bytes", z.column_bytes},
      {"compressed_bytes", z.compressed_bytes},
      {"compressed_over_column",
       rounded(static_cast<double>(z.compressed_bytes) / static_cast<double>(z.column_bytes), 4)},
      {"seconds", rounded(z.seconds, 3)},
      {"mib_per_s", rounded(zstd_mib_per_s, 2)},
      {"mib_per_s_of_rowstore_bytes", rounded(zstd_rowstore_mib_per_s, 2)},
      {"move_threads", z.threads},
      {"move_threads_seconds", rounded(z.threads_seconds, 3)},
      {"move_threads_mib_per_s", rounded(zstd_threads_mib_per_s, 2)},
      {"move_threads_mib_per_s_of_rowstore_bytes", rounded(zstd_threads_rowstore_mib_per_s, 2)}};
  // Equal work: the move compresses on z.threads threads, so does this limit.
  r.ratio = move_mib_per_s / zstd_threads_rowstore_mib_per_s;
  r.ratio_of = fmt::format("move MiB/s / zstd MiB/s on the move's {} compression threads, same rows and bytes",
                           z.threads);
  r.extra = {{"targets", "ratio >= 0.5; latency p99 during move <= 1.5x without"},
             {"ratio_one_thread_limit", rounded(move_mib_per_s / zstd_rowstore_mib_per_s, 3)},
             {"move_compression_threads",
              !metrics_port ? fmt::format("{} (1 if the controller paused the movers: unknown, no metrics port)",
                                          z.threads)
              : max_pause > 0 ? fmt::format("{}, and 1 while the controller paused the movers (pause up to {:.3f} s)",
                                            z.threads, max_pause)
                              : fmt::format("{} (the controller did not pause the movers)", z.threads)},
             {"cpus_kept_awake", false},
             {"cpu_hog", o.cpu_hog}};
  if (overlapped < meaningful_overlap)
    r.extra["note"] = fmt::format(
        "the move finished after {:.3f} s: only {} latency requests overlapped it, too few for a "
        "meaningful p99; load more (--seal-mib)",
        move_seconds, overlapped);
  else if (overlapped == during.size() && latency_end < watch.done_at)
    r.extra["note"] = fmt::format(
        "all {} latency requests ran during the move; they covered its first {:.3f} of {:.3f} s",
        overlapped, covered_seconds, move_seconds);
  r.extra["node"] = node.describe();
  return r;
}

}  // namespace tributary::bench
