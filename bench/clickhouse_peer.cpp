#include "bench/clickhouse_peer.hpp"

#include <curl/curl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "tests/support/run_process.hpp"

namespace tributary::bench {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

constexpr auto start_timeout = 30s;
constexpr auto stop_timeout = 30s;
/// A free port may be taken again before the server binds it: try a few.
constexpr int start_attempts = 3;
/// Loading 10 M rows and OPTIMIZE ... FINAL take a while on 2 shared cores.
constexpr long request_timeout_ms = 600'000;

size_t append_to_string(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

std::string url_escape(std::string_view s) {
  std::string out;
  for (unsigned char ch : s) {
    if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') out += static_cast<char>(ch);
    else out += fmt::format("%{:02X}", ch);
  }
  return out;
}

/// The server's config: only loopback, only the ports given, everything under `dir`, UTC (so that
/// DateTime text and toStartOfMinute mean what the node's datetimes mean), no query log.
std::string config_xml(const std::filesystem::path& dir, uint16_t http_port, uint16_t tcp_port,
                       unsigned max_concurrent_queries) {
  const std::string d = dir.string();
  return fmt::format(R"(<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>{0}/server.log</log><errorlog>{0}/server.err.log</errorlog><size>100M</size><count>1</count></logger>
  <http_port>{1}</http_port>
  <tcp_port>{2}</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <max_concurrent_queries>{3}</max_concurrent_queries>
  <mark_cache_size>1073741824</mark_cache_size>
  <path>{0}/data/</path>
  <tmp_path>{0}/tmp/</tmp_path>
  <user_files_path>{0}/user_files/</user_files_path>
  <format_schema_path>{0}/format_schemas/</format_schema_path>
  <users_config>{0}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mlock_executable>false</mlock_executable>
</yandex>
)",
                     d, http_port, tcp_port, max_concurrent_queries);
}

constexpr std::string_view users_xml = R"(<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
)";

}  // namespace

void ensure_clickhouse_installed() {
  const std::string server(clickhouse_server_binary);
  if (access(server.c_str(), X_OK) == 0) return;
  const std::string script = TRIBUTARY_BENCH_SETUP_CLICKHOUSE;
  const std::string fix = fmt::format(
      "install it with `{}` (as root or with sudo; Debian 12's clickhouse-server 18.16), then run the bench again",
      script);
  if (access(script.c_str(), X_OK) != 0)
    throw std::runtime_error(fmt::format("{} is missing, and so is {}; {}", server, script, fix));
  progress(fmt::format("{} is missing; running {}", server, script));
  const auto r = testing::run_process({script});
  if (r.exit_code != 0 || access(server.c_str(), X_OK) != 0)
    throw std::runtime_error(
        fmt::format("{} failed (exit {}): {}{}; {}", script, r.exit_code, r.err, r.out, fix));
}

clickhouse_server::clickhouse_server(const std::filesystem::path& root, unsigned max_concurrent_queries)
    : dir_(root / "clickhouse-peer"), log_(dir_ / "stdout.log") {
  ensure_clickhouse_installed();
  std::filesystem::remove_all(dir_);
  std::filesystem::create_directories(dir_);
  curl_ = curl_easy_init();
  if (!curl_) throw std::runtime_error("clickhouse peer: curl_easy_init failed");
  try {
    { std::ofstream(dir_ / "users.xml") << users_xml; }
    std::string last_error;
    for (int attempt = 1; attempt <= start_attempts && pid_ <= 0; ++attempt) {
      const auto ports = testing::free_ports(2);
      http_port_ = ports[0];
      { std::ofstream(dir_ / "config.xml") << config_xml(dir_, ports[0], ports[1], max_concurrent_queries); }
      pid_ = testing::spawn_logged({std::string(clickhouse_server_binary), "--config-file=" + (dir_ / "config.xml").string()},
                                   log_, SIGKILL, "clickhouse peer");
      const auto deadline = steady::now() + start_timeout;
      while (testing::http_get(http_port_, "/?query=SELECT%201") != "1\n") {
        int st = 0;
        if (waitpid(pid_, &st, WNOHANG) == pid_) {
          pid_ = -1;
          last_error = fmt::format("exited at start (HTTP port {}, native port {})", ports[0], ports[1]);
          break;
        }
        if (steady::now() >= deadline) {
          last_error = fmt::format("does not answer on HTTP port {} within 30 s", ports[0]);
          stop();
          break;
        }
        std::this_thread::sleep_for(50ms);
      }
      const auto log = testing::log_tail(dir_ / "server.err.log") + testing::log_tail(log_);
      if (pid_ <= 0 && log.find("Address already in use") == std::string::npos) break;
    }
    if (pid_ <= 0)
      throw std::runtime_error(fmt::format("clickhouse peer: the server in {} {}. Its logs end:\n{}\n{}", dir_.string(),
                                           last_error, testing::log_tail(dir_ / "server.err.log"),
                                           testing::log_tail(log_)));
    const auto version = query("SELECT version() AS v", 0).data.at(0).at("v").get<std::string>();
    description_ = {{"server", "ClickHouse " + version},
                    {"address", fmt::format("127.0.0.1:{} (HTTP)", http_port_)},
                    {"runs_as", getuid() == 0 ? "root" : "the bench's user"},
                    {"data_fs", filesystem_of(dir_)},
                    {"settings", fmt::format("timezone UTC, max_concurrent_queries {}; defaults otherwise "
                                             "(max_threads = cores unless given per query)",
                                             max_concurrent_queries)}};
  } catch (...) {
    stop();
    curl_easy_cleanup(static_cast<CURL*>(curl_));
    curl_ = nullptr;
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    throw;
  }
}

clickhouse_server::~clickhouse_server() {
  stop();
  if (curl_) curl_easy_cleanup(static_cast<CURL*>(curl_));
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void clickhouse_server::stop() {
  testing::stop_process(pid_, SIGTERM, stop_timeout);
}

std::string clickhouse_server::post(const std::string& url_query, std::string_view body, double* seconds) const {
  auto* c = static_cast<CURL*>(curl_);
  std::string answer;
  char error[CURL_ERROR_SIZE] = {};
  const std::string url = fmt::format("http://127.0.0.1:{}/?{}", http_port_, url_query);
  curl_easy_reset(c);
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROXY, "");
  curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, request_timeout_ms);
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, append_to_string);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer);
  const auto t0 = steady::now();
  const CURLcode rc = curl_easy_perform(c);
  const auto t1 = steady::now();
  if (seconds) *seconds = std::chrono::duration<double>(t1 - t0).count();
  if (rc != CURLE_OK)
    throw std::runtime_error(fmt::format("clickhouse peer at 127.0.0.1:{}: HTTP request failed: {}", http_port_,
                                         error[0] ? error : curl_easy_strerror(rc)));
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200)
    throw std::runtime_error(fmt::format("clickhouse peer at 127.0.0.1:{} answered HTTP {}: {}", http_port_, status,
                                         answer.substr(0, 2000)));
  return answer;
}

void clickhouse_server::execute(const std::string& sql) const {
  post("", sql, nullptr);
}

void clickhouse_server::insert_csv(const std::string& table, std::string_view csv) const {
  post("query=" + url_escape(fmt::format("INSERT INTO {} FORMAT CSV", table)), csv, nullptr);
}

clickhouse_answer clickhouse_server::query(const std::string& sql, unsigned max_threads) const {
  clickhouse_answer a;
  const std::string settings = max_threads ? fmt::format("max_threads={}", max_threads) : std::string();
  const auto text = post(settings, sql + " FORMAT JSON", &a.wall_seconds);
  json j;
  try {
    j = json::parse(text);
  } catch (const std::exception& e) {
    throw std::runtime_error(
        fmt::format("clickhouse peer: the answer to `{}` is not JSON ({}): {}", sql, e.what(), text.substr(0, 500)));
  }
  a.data = j.value("data", json::array());
  if (j.contains("statistics")) {
    a.server_seconds = j["statistics"].value("elapsed", 0.0);
    a.rows_read = j["statistics"].value("rows_read", uint64_t{0});
  }
  return a;
}

std::string clickhouse_server::base_url() const {
  return fmt::format("http://127.0.0.1:{}", http_port_);
}

double clickhouse_server::cpu_seconds() const {
  return process_cpu_seconds(pid_);
}

}  // namespace tributary::bench
