#include "tests/support/node_process.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <fstream>
#include <random>
#include <stdexcept>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace tributary::testing {
namespace {

using namespace std::chrono_literals;

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

uint16_t json_port(const std::string& text, const std::string& key) {
  auto at = text.find("\"" + key + "\":");
  if (at == std::string::npos) throw std::runtime_error("ready file lacks " + key + ": " + text);
  return static_cast<uint16_t>(std::stoi(text.substr(at + key.size() + 3)));
}

}  // namespace

std::filesystem::path binary_path(const std::string& name) {
  if (name == "tributaryd") return TRIBUTARYD_PATH;
  if (name == "tributary") return TRIBUTARY_CLI_PATH;
  throw std::invalid_argument("unknown binary " + name);
}

temp_dir::temp_dir() {
  std::random_device rd;
  path_ = std::filesystem::temp_directory_path() /
          ("tributary-test-" + std::to_string(getpid()) + "-" + std::to_string(rd()));
  std::filesystem::create_directories(path_);
}

temp_dir::~temp_dir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

node_process::node_process(std::filesystem::path data_dir, std::vector<std::string> extra_args,
                           scheduling sched)
    : data_dir_(std::move(data_dir)), extra_args_(std::move(extra_args)), sched_(sched) {
  start();
}

node_process::~node_process() {
  if (pid_ > 0) kill();
}

void node_process::start() {
  auto ready = data_dir_.parent_path() / (data_dir_.filename().string() + ".ready");
  std::filesystem::remove(ready);
  std::vector<std::string> args = {binary_path("tributaryd").string(),
                                   "--data-dir", data_dir_.string(),
                                   "--rpc-listen", "127.0.0.1:0",
                                   "--metrics-listen", "127.0.0.1:0",
                                   "--http-listen", "127.0.0.1:0",
                                   "--ready-file", ready.string(),
                                   "--log-level", "warn"};
  // Test machines are loaded (CI runs tests in parallel, sanitizers slow them): CPU backpressure
  // would pause, and idle-priority threads starve, the extent moves tests wait for. Backpressure
  // has its own tests (a fake /proc); scheduling is the benchmarks' business. Here both are off
  // unless a test asks for them.
  auto given = [&](std::string_view flag) {
    return std::any_of(extra_args_.begin(), extra_args_.end(), [&](const std::string& a) { return a.starts_with(flag); });
  };
  if (sched_ == scheduling::test && !given("--backpressure-cpu-high"))
    args.insert(args.end(), {"--backpressure-cpu-high", "1"});
  if (sched_ == scheduling::test && !given("--mover-priority")) args.insert(args.end(), {"--mover-priority", "0"});
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // Built before fork: the child only calls async-signal-safe functions.
  std::vector<std::string> env_strings(extra_env_);
  for (char** e = environ; *e; ++e) env_strings.emplace_back(*e);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (std::filesystem::exists(ready)) {
      auto text = read_file(ready);
      rpc_port_ = json_port(text, "rpc_port");
      metrics_port_ = json_port(text, "metrics_port");
      http_port_ = json_port(text, "http_port");
      return;
    }
    if (!running())
      throw std::runtime_error("tributaryd exited during start-up with status " +
                               std::to_string(exit_status_));
    std::this_thread::sleep_for(10ms);
  }
  kill();
  throw std::runtime_error("tributaryd not ready within 20 s");
}

std::string node_process::rpc_address() const { return "127.0.0.1:" + std::to_string(rpc_port_); }

bool node_process::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    pid_ = -1;
    return false;
  }
  return true;
}

int node_process::wait_exit(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(5ms);
  }
  return exit_status_;
}

int node_process::stop() {
  if (pid_ <= 0) return exit_status_;
  ::kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + 15s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!running()) return exit_status_;
    std::this_thread::sleep_for(10ms);
  }
  kill();
  return -1;
}

void node_process::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  exit_status_ = 128 + SIGKILL;
  pid_ = -1;
}

void node_process::restart() {
  if (pid_ > 0) stop();
  start();
}

}  // namespace tributary::testing
