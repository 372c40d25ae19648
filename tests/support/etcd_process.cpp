#include "tests/support/etcd_process.hpp"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>
#include <utility>

#include "tests/support/run_process.hpp"

namespace tributary::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* etcd_binary = "/usr/bin/etcd";
constexpr auto start_timeout = 20s;
/// A start that loses a port race to another process is tried again on new ports.
constexpr int start_attempts = 3;

std::string random_suffix() {
  std::random_device rd;
  return std::to_string(getpid()) + "-" + std::to_string(rd());
}

/// tmpfs when the machine has one: etcd fsyncs its WAL, which costs seconds on a loaded disk.
std::filesystem::path scratch_root() {
  std::error_code ec;
  if (std::filesystem::is_directory("/dev/shm", ec) && access("/dev/shm", W_OK) == 0)
    return "/dev/shm";
  return std::filesystem::temp_directory_path();
}

size_t collect(char* data, size_t, size_t bytes, void* out) {
  static_cast<std::string*>(out)->append(data, bytes);
  return bytes;
}

}  // namespace

struct etcd_process::config {
  std::string name;
  std::string token;
  std::string initial_cluster;
  uint16_t client_port = 0;
  uint16_t peer_port = 0;
};

etcd_process::etcd_process(const config& c)
    : name_(c.name),
      token_(c.token),
      initial_cluster_(c.initial_cluster),
      client_port_(c.client_port),
      peer_port_(c.peer_port),
      dir_(scratch_root() / ("tributary-etcd-" + random_suffix() + "-" + c.name)),
      log_(dir_ / "etcd.log") {
  std::filesystem::create_directories(dir_);
}

etcd_process::etcd_process() {
  auto members = start_cluster(1);
  // Take the member over and disarm the original, whose destructor would kill it.
  etcd_process& m = *members.front();
  name_ = m.name_;
  token_ = m.token_;
  initial_cluster_ = m.initial_cluster_;
  client_port_ = m.client_port_;
  peer_port_ = m.peer_port_;
  dir_ = std::exchange(m.dir_, {});
  log_ = m.log_;
  pid_ = std::exchange(m.pid_, -1);
}

std::vector<std::unique_ptr<etcd_process>> etcd_process::start_cluster(size_t members) {
  std::string last_error;
  for (int attempt = 1; attempt <= start_attempts; ++attempt) {
    auto ports = free_ports(2 * members);
    // A token of its own: a member left over from another cluster on a reused port must not
    // join this one ("has already been bootstrapped", §1.9).
    const std::string token = "tributary-test-" + random_suffix();
    std::string initial;
    for (size_t i = 0; i < members; ++i)
      initial += (i ? "," : "") + ("m" + std::to_string(i + 1)) +
                 "=http://127.0.0.1:" + std::to_string(ports[2 * i + 1]);
    std::vector<std::unique_ptr<etcd_process>> out;
    try {
      for (size_t i = 0; i < members; ++i) {
        config c{"m" + std::to_string(i + 1), token, initial, ports[2 * i], ports[2 * i + 1]};
        out.push_back(std::unique_ptr<etcd_process>(new etcd_process(c)));
        out.back()->spawn();
      }
      auto deadline = std::chrono::steady_clock::now() + start_timeout;
      for (auto& m : out) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (!m->wait_healthy(std::max(left, 1ms)))
          m->fail(m->running() ? "not healthy within 20 s" : "exited during start-up");
      }
      return out;
    } catch (const std::runtime_error& e) {
      last_error = e.what();
      bool port_race = last_error.find("address already in use") != std::string::npos;
      out.clear();  // kills what started
      if (!port_race) break;
    }
  }
  throw std::runtime_error(last_error);
}

etcd_process::~etcd_process() {
  kill();
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

std::string etcd_process::endpoint() const {
  return "http://127.0.0.1:" + std::to_string(client_port_);
}

std::string etcd_process::url() const {
  return "etcd://127.0.0.1:" + std::to_string(client_port_);
}

std::string etcd_process::url(const std::vector<std::unique_ptr<etcd_process>>& members) {
  std::string out = "etcd://";
  for (size_t i = 0; i < members.size(); ++i)
    out += (i ? ",127.0.0.1:" : "127.0.0.1:") + std::to_string(members[i]->client_port());
  return out;
}

void etcd_process::spawn() {
  const std::string client = "http://127.0.0.1:" + std::to_string(client_port_);
  const std::string peer = "http://127.0.0.1:" + std::to_string(peer_port_);
  std::vector<std::string> args = {
      etcd_binary, "--name", name_, "--data-dir", (dir_ / (name_ + ".etcd")).string(),
      "--listen-client-urls", client, "--advertise-client-urls", client, "--listen-peer-urls", peer,
      "--initial-advertise-peer-urls", peer, "--initial-cluster", initial_cluster_,
      "--initial-cluster-state", "new",  // ignored once the data dir exists
      "--initial-cluster-token", token_,
      // etcd's default is 10 min; watch silence timers need ~1 s.
      "--experimental-watch-progress-notify-interval", "1s",
      // A lone member must not inflate the raft term (§1.9).
      "--pre-vote",
      // A leader change must not renew a dead node's lease (§2.4).
      "--experimental-enable-lease-checkpoint",
      // 3.4's default logger (capnslog) crashes etcd on the warning the lease-checkpoint flag
      // makes it log (a nil zap logger).
      "--logger", "zap", "--log-outputs", "stderr"};
  // A crashed test must not leave etcd members behind.
  pid_ = spawn_logged(args, log_, SIGKILL, "etcd_process");
}

void etcd_process::fail(const std::string& what) {
  auto log = log_tail(log_);
  kill();
  throw std::runtime_error("etcd member " + name_ + " on " + endpoint() + ": " + what +
                           "; its log (" + log_.string() + ") ends:\n" + log);
}

bool etcd_process::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

bool etcd_process::healthy() const {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  CURL* curl = curl_easy_init();
  if (!curl) return false;
  std::string body;
  const std::string url = endpoint() + "/health";
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_PROXY, "");
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 1000L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  CURLcode rc = curl_easy_perform(curl);
  curl_easy_cleanup(curl);
  return rc == CURLE_OK && body.find("\"health\":\"true\"") != std::string::npos;
}

bool etcd_process::wait_healthy(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (healthy()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

void etcd_process::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

void etcd_process::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (running()) {
    if (std::chrono::steady_clock::now() >= deadline) return kill();
    std::this_thread::sleep_for(10ms);
  }
}

void etcd_process::pause() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGSTOP);
  // The signal is delivered asynchronously: a request sent right after kill() could still be
  // answered. Return once the kernel reports the process stopped ('T' in /proc/<pid>/stat).
  for (int i = 0; i < 1000; ++i) {
    std::ifstream stat("/proc/" + std::to_string(pid_) + "/stat");
    std::string line;
    std::getline(stat, line);
    const auto close = line.rfind(')');
    if (close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'T') return;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void etcd_process::resume() {
  if (pid_ > 0) ::kill(pid_, SIGCONT);
}

void etcd_process::restart(bool wait) {
  kill();
  spawn();
  if (wait && !wait_healthy(start_timeout))
    fail(running() ? "not healthy within 20 s of a restart" : "exited at restart");
}

}  // namespace tributary::testing
