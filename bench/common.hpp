#pragma once
/// What every benchmark scenario shares: options, the node under test, payloads, percentiles,
/// machine facts and printing. See bench/README.md and BENCHMARKS.md for the scenarios.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "client/client.hpp"

namespace tributary::testing {
class node_process;
}

namespace tributary::bench {

/// A request answered Throttling is sent again, with the same request id, after this delay.
constexpr std::chrono::milliseconds throttled_retry_delay{2};

/// Ordered JSON: figures print in the order a scenario adds them.
using json = nlohmann::ordered_json;

/// Command-line options shared by all scenarios.
struct options {
  std::string node;                    ///< "host:port" of a running node; empty = start one
  std::vector<std::string> node_args;  ///< extra tributaryd flags (only when we start the node)
  std::filesystem::path data_root;     ///< where scratch dirs go; empty = the temp directory
  std::chrono::seconds duration{20};   ///< many-tables run time
  std::optional<size_t> tables;        ///< table count; nullopt = each scenario's default
  bool json_output = false;            ///< JSON lines on stdout, human tables on stderr
  bool keep_cpus_awake = false;         ///< spin SCHED_IDLE threads in latency, visibility, cluster
  std::optional<size_t> seal_mib;      ///< seal: MiB of CSV loaded; nullopt = its default
  bool cpu_hog = false;                ///< seal: a busy-loop process beside the node
  std::optional<size_t> commands;      ///< cluster: schema changes; nullopt = its default
  std::optional<size_t> queries;       ///< cluster: fan-out queries; nullopt = its default
  std::string peer;                    ///< latency, many-tables: "postgres", "clickhouse" or empty (none)
  std::string protocol = "capnp";      ///< latency, many-tables: "capnp", "http" (Kusto's REST API) or "both"
  std::string node_http;               ///< with --node: "host:port" of its REST API (--protocol http, both)
  std::string command_line;            ///< the exact command line, for the JSON record
};

/// Rows in every ingest request; with ~100-byte rows a request is ~1 KiB.
inline constexpr int rows_per_request = 10;
/// Schema of every benchmark table, for `.create table`.
inline constexpr std::string_view table_schema =
    "(ts:datetime, host:string, msg:string, value:real, n:long)";

/// Generates request bodies: `rows_per_request` CSV rows `ts,host,msg,value,n`, ~1 KiB,
/// different in every request. Deterministic for a seed; not thread-safe (one per thread).
class payload_generator {
 public:
  explicit payload_generator(uint64_t seed);
  /// The next request body.
  std::string next();

 private:
  std::mt19937_64 rng_;
  uint64_t request_ = 0;
};

/// A fresh directory under `root` (or the temp directory when `root` is empty), removed with
/// everything in it by the destructor.
class scratch_dir {
 public:
  explicit scratch_dir(const std::filesystem::path& root);
  ~scratch_dir();
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

/// The node a scenario measures: either started here (tributaryd with
/// `--streaming-ingestion=on` plus `options::node_args`, fresh data dir under the scratch dir,
/// killed by the destructor) or the running node of `options::node`. The scratch dir is on the
/// same filesystem as the started node's data, so limits measured there are comparable.
/// Throws std::runtime_error when the node does not start.
class node_under_test {
 public:
  node_under_test(const options& o, std::string_view scenario);
  ~node_under_test();
  /// "host:port" of the node's RPC server.
  std::string address() const;
  /// "http://host:port" of the node's REST API (Kusto's); throws std::runtime_error for a --node
  /// given without --node-http.
  std::string http_base() const;
  /// The started process; nullptr when measuring a node given by --node.
  testing::node_process* process() { return process_.get(); }
  /// Where limits put their RocksDB: same filesystem as the node's data when we started it.
  std::filesystem::path scratch() const { return scratch_.path(); }
  /// Database name for this scenario: unique per run, so a shared --node is not disturbed.
  const std::string& database() const { return database_; }
  /// Where the limits write, for their one-line description.
  std::string limit_place() const;
  /// Address, flags and data filesystem, for the report.
  json describe() const;

 private:
  scratch_dir scratch_;
  std::vector<std::string> flags_;
  std::unique_ptr<testing::node_process> process_;  // destroyed before scratch_
  std::string remote_;
  std::string remote_http_;
  std::string database_;
};

/// The protocols `options::protocol` asks for.
inline bool measures_capnp(const options& o) { return o.protocol != "http"; }
inline bool measures_http(const options& o) { return o.protocol != "capnp"; }

/// While alive (and `enabled`), one SCHED_IDLE thread per CPU spins so that no CPU goes idle.
/// On a VM an idle vCPU learns of an I/O completion late (≈2 ms here instead of ≈0.2 ms for an
/// fsync), which would bill the hypervisor's wake-up to whichever side lets the CPUs idle; the
/// node's own polling threads rarely do, a lone synced Put always does. SCHED_IDLE threads run
/// only when nothing else wants the CPU.
class keep_cpus_awake {
 public:
  explicit keep_cpus_awake(bool enabled);
  ~keep_cpus_awake();
  keep_cpus_awake(const keep_cpus_awake&) = delete;
  keep_cpus_awake& operator=(const keep_cpus_awake&) = delete;

 private:
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

/// Latency percentiles in µs, from unsorted samples (sorted here; nearest rank).
struct latency_summary {
  size_t count = 0;
  double p50_us = 0, p99_us = 0, p999_us = 0, max_us = 0, mean_us = 0;
};
latency_summary summarize(std::vector<double> samples_us);

/// Microseconds between two steady-clock points.
double micros(std::chrono::steady_clock::time_point from, std::chrono::steady_clock::time_point to);
/// `x` rounded to `decimals` decimals (for readable reports).
double rounded(double x, int decimals = 1);

/// Throws std::runtime_error naming `what` and the error when `o` failed; returns the table.
model::result_table expect_ok(const model::outcome& o, std::string_view what);
/// A CSV ingest request for `database`.`table` carrying `data` and `request_id`.
client::ingest_request make_request(const std::string& database, const std::string& table,
                                    std::string data, std::string request_id);
/// Throws std::runtime_error naming `what` and the error when `o` is not an ack of
/// `rows_per_request` records; returns the ack.
client::ingest_ack expect_acked(const client::ingest_outcome& o, std::string_view what);
/// Creates `database` on the node behind `c` and, with `database_policy`, enables its
/// streaming ingestion policy. Throws on failure.
void create_database(client::connection& c, const std::string& database, bool database_policy);
/// Creates `names` in `database` with `table_schema`, each with its own streaming ingestion
/// policy when `table_policy`, from `connections` parallel connections. Throws on failure.
void create_tables(const std::string& address, const std::string& database,
                   const std::vector<std::string>& names, bool table_policy, size_t connections);

/// Resident set size of process `pid` in KiB (VmRSS); throws if /proc has no such process.
uint64_t rss_kib(int pid);
/// utime + stime of process `pid` so far, in seconds (0 when it is gone or there is none).
double process_cpu_seconds(int pid);
/// The value of the first sample of `name` in Prometheus text `text` whose labels contain
/// `labels` (e.g. `database="Bench"`; empty = any); nullopt when there is none.
std::optional<double> metric_value(const std::string& text, std::string_view name, std::string_view labels = {});
/// Between two scrapes of a node's /metrics: quantile `q` (0..1) of histogram `name` over all
/// its series, interpolated within a bucket as Prometheus' histogram_quantile does; 0 when it
/// observed nothing meanwhile.
double histogram_quantile(const std::string& before, const std::string& after, std::string_view name, double q);
/// Between two scrapes of a node's /metrics: the mean µs of each stage of an ingest's way, from
/// its histograms' sums and counts: `queue` (RPC received → table actor), `prepare` (table
/// actor: dedup lookup, parse, encode), `commit_wait` (writer's queue, longest of each group),
/// `group_commit` (the synced write), `answer` (writer → RPC thread), `rpc` (the whole ingest
/// call as the RPC layer sees it).
json ingest_stage_means_us(const std::string& before, const std::string& after);
/// The same summed over several intervals (e.g. the blocks of one protocol in `latency`): `add`
/// each interval's scrapes; `rpc` is the ingest calls of `protocol` ("capnp" or "http") only.
class ingest_stages {
 public:
  explicit ingest_stages(std::string protocol = "capnp") : protocol_(std::move(protocol)) {}
  void add(const std::string& before, const std::string& after);
  /// Mean µs of each stage seen in the intervals added.
  json means_us() const;

 private:
  std::string protocol_;
  std::vector<std::pair<std::string, std::pair<double, double>>> sums_;  ///< stage → (seconds, count)
};
/// Filesystem holding `path`, from /proc/mounts: "ext4 /dev/vda1 on /" or "unknown".
std::string filesystem_of(const std::filesystem::path& path);

/// One scenario's outcome, printed as a table and as one JSON line.
struct scenario_result {
  std::string scenario;
  std::string work;  ///< one line: what was measured
  json figures = json::object();
  std::string limit_work;  ///< one line: what the limit is; empty = no limit
  json limit = json::object();
  std::optional<double> ratio;
  std::string ratio_of;         ///< e.g. "ack p99 / limit p99"
  json extra = json::object();  ///< further top-level keys (secondary ratios, node facts)
  std::string peer_work;        ///< one line: the peer system run beside (--peer); empty = none
  json peer = json::object();   ///< its figures and the ratios against it
};

/// Prints `r` as a human table (stdout, or stderr with --json) and, with --json, one JSON
/// object on its own line on stdout, with the command line and the machine.
void report(const scenario_result& r, const options& o);
/// Progress line on stderr.
void progress(std::string_view text);

}  // namespace tributary::bench
