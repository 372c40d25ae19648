#include "tests/support/kafka_mock.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <librdkafka/rdkafkacpp.h>

#include <cerrno>
#include <csignal>
#include <fstream>
#include <iterator>
#include <random>
#include <stdexcept>
#include <thread>

#include "tests/support/run_process.hpp"

namespace tributary::testing {
namespace {

using namespace std::chrono_literals;

// A hundred topics have taken the mock up to ~30 s to create here (usually a fraction of a second).
constexpr auto start_timeout = 60s;
constexpr auto answer_timeout = 10s;
constexpr auto stop_grace = 5s;

std::string read_whole(const std::filesystem::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// The string value of `key` in the helper's one-line JSON; "" when absent.
std::string json_string(const std::string& text, const std::string& key) {
  const std::string open = "\"" + key + "\":\"";
  const auto at = text.find(open);
  if (at == std::string::npos) return {};
  const auto end = text.find('"', at + open.size());
  return end == std::string::npos ? std::string() : text.substr(at + open.size(), end - at - open.size());
}

long json_number(const std::string& text, const std::string& key) {
  const auto at = text.find("\"" + key + "\":");
  return at == std::string::npos ? -1 : std::stol(text.substr(at + key.size() + 3));
}

}  // namespace

kafka_mock::kafka_mock(std::vector<std::pair<std::string, int>> topics, int brokers) : brokers_(brokers) {
  std::random_device rd;
  dir_ = std::filesystem::temp_directory_path() /
         ("tributary-kafka-mock-" + std::to_string(getpid()) + "-" + std::to_string(rd()));
  std::filesystem::create_directories(dir_);
  log_ = dir_ / "kafka-mock.log";
  const auto ready = dir_ / "ready.json";

  std::vector<std::string> args = {TRIBUTARY_KAFKA_MOCK_PATH, "--brokers", std::to_string(brokers),
                                   "--ready-file", ready.string()};
  for (const auto& [name, partitions] : topics) args.insert(args.end(), {"--topic", name + ":" + std::to_string(partitions)});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  // One socket pair is the helper's stdin and stdout: unlike a pipe, a socket lets us write with
  // MSG_NOSIGNAL, so a helper that died fails a command instead of killing the test with SIGPIPE.
  int channel[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, channel) != 0)
    throw std::runtime_error("kafka_mock: socketpair failed");
  const int log_fd = open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    close(channel[0]);
    close(channel[1]);
    throw std::runtime_error("kafka_mock: cannot open its log " + log_.string());
  }
  const pid_t parent = getpid();
  pid_ = fork();
  if (pid_ == 0) {
    dup2(channel[1], 0);
    dup2(channel[1], 1);
    dup2(log_fd, 2);
    // A test that dies leaves no broker behind.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(126);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(channel[1]);
  close(log_fd);
  control_fd_ = channel[0];
  if (pid_ < 0) fail("fork failed");

  const auto deadline = std::chrono::steady_clock::now() + start_timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (std::filesystem::exists(ready)) {
      const auto text = read_whole(ready);
      bootstrap_ = json_string(text, "bootstrap");
      if (bootstrap_.empty() || json_number(text, "pid") != pid_)
        fail("its ready file " + ready.string() + " is not {\"bootstrap\":...,\"pid\":" + std::to_string(pid_) +
             "}: " + text);
      return;
    }
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      fail("exited during start-up with status " +
           std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status)));
    }
    std::this_thread::sleep_for(10ms);
  }
  fail("not ready within 60 s");
}

kafka_mock::~kafka_mock() {
  stop();
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

void kafka_mock::stop() {
  stop_process(pid_, SIGTERM, stop_grace);
  if (control_fd_ >= 0) close(control_fd_);
  control_fd_ = -1;
}

void kafka_mock::create_topic(const std::string& name, int partitions) {
  command("topic " + name + " " + std::to_string(partitions));
}

void kafka_mock::broker_down(int id) { command("broker-down " + std::to_string(id)); }

void kafka_mock::broker_up(int id) { command("broker-up " + std::to_string(id)); }

void kafka_mock::command(const std::string& line) {
  if (pid_ <= 0) throw std::runtime_error("kafka_mock: '" + line + "' sent after stop()");
  const std::string out = line + "\n";
  for (size_t sent = 0; sent < out.size();) {
    const ssize_t n = send(control_fd_, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("cannot send '" + line + "' (the helper is gone)");
    sent += static_cast<size_t>(n);
  }
  const auto deadline = std::chrono::steady_clock::now() + answer_timeout;
  size_t eol;
  while ((eol = unread_.find('\n')) == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd fd{control_fd_, POLLIN, 0};
    const int ready = left.count() > 0 ? poll(&fd, 1, static_cast<int>(left.count())) : 0;
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) fail("no answer to '" + line + "' within 10 s");
    char buf[1024];
    const ssize_t n = recv(control_fd_, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("exited before answering '" + line + "'");
    unread_.append(buf, static_cast<size_t>(n));
  }
  const std::string answer = unread_.substr(0, eol);
  unread_.erase(0, eol + 1);
  // A refused command (a topic that exists, an unknown broker) leaves the helper serving.
  if (answer != "ok")
    throw std::runtime_error("kafka mock (pid " + std::to_string(pid_) + ", log " + log_.string() + "): '" + line +
                             "' answered: " + answer);
}

void kafka_mock::fail(const std::string& what) {
  if (pid_ > 0) stop_process(pid_, SIGKILL, 0ms);
  if (control_fd_ >= 0) close(control_fd_);
  control_fd_ = -1;
  const auto tail = log_tail(log_);
  // The log outlives the fixture, for whoever reads the error: a failed constructor runs no
  // destructor, and a later one removes only dir_.
  const auto kept = dir_.parent_path() / (dir_.filename().string() + ".log");
  std::error_code ec;
  std::filesystem::copy_file(log_, kept, std::filesystem::copy_options::overwrite_existing, ec);
  if (!ec) std::filesystem::remove_all(dir_, ec);
  throw std::runtime_error("kafka mock (" + std::string(TRIBUTARY_KAFKA_MOCK_PATH) + ", " +
                           std::to_string(brokers_) + " brokers): " + what + "; its log (" +
                           (ec ? log_ : kept).string() + ") ends:\n" + tail);
}

// --- kafka_producer ---

struct kafka_producer::impl : RdKafka::DeliveryReportCb {
  std::string bootstrap;
  std::unique_ptr<RdKafka::Producer> producer;
  uint64_t delivered = 0;
  std::string failed;  ///< the first delivery failure not yet reported

  // Runs inside poll()/flush() on the test's thread, so no lock.
  void dr_cb(RdKafka::Message& m) override {
    if (m.err() == RdKafka::ERR_NO_ERROR) {
      ++delivered;
    } else if (failed.empty()) {
      failed = "delivery to " + m.topic_name() + " partition " + std::to_string(m.partition()) +
               " failed: " + m.errstr();
    }
  }

  void throw_failed() {
    if (failed.empty()) return;
    throw std::runtime_error("kafka_producer (" + bootstrap + "): " + std::exchange(failed, {}));
  }
};

kafka_producer::kafka_producer(const std::string& bootstrap) : impl_(std::make_unique<impl>()) {
  impl_->bootstrap = bootstrap;
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string err;
  const std::pair<const char*, const char*> settings[] = {
      {"bootstrap.servers", bootstrap.c_str()},
      {"enable.idempotence", "true"},
      {"acks", "all"},
      // Small batches soon: tests wait on flush(), not on throughput.
      {"linger.ms", "5"},
      // Tests take brokers down for a second or two; the default backoff grows to 10 s between
      // reconnects, which would make every recovery that slow.
      {"reconnect.backoff.max.ms", "500"},
  };
  for (const auto& [name, value] : settings)
    if (conf->set(name, value, err) != RdKafka::Conf::CONF_OK)
      throw std::runtime_error("kafka_producer: " + std::string(name) + "=" + value + ": " + err);
  if (conf->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(impl_.get()), err) != RdKafka::Conf::CONF_OK)
    throw std::runtime_error("kafka_producer: dr_cb: " + err);
  impl_->producer.reset(RdKafka::Producer::create(conf.get(), err));
  if (!impl_->producer) throw std::runtime_error("kafka_producer (" + bootstrap + "): " + err);
}

kafka_producer::~kafka_producer() {
  if (!impl_->producer) return;
  impl_->producer->flush(10000);
  // Before the rest of impl, which is the producer's delivery callback.
  impl_->producer.reset();
}

void kafka_producer::produce(const std::string& topic, int partition, std::string_view key, std::string_view value,
                             std::optional<int64_t> timestamp_ms,
                             const std::vector<std::pair<std::string, std::string>>& headers) {
  impl_->throw_failed();
  // librdkafka owns the headers once a produce succeeds; until then they are ours.
  std::unique_ptr<RdKafka::Headers> owned;
  if (!headers.empty()) {
    owned.reset(RdKafka::Headers::create());
    for (const auto& [name, v] : headers) owned->add(name, v.data(), v.size());
  }
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  for (;;) {
    const auto err =
        owned ? impl_->producer->produce(topic, partition, RdKafka::Producer::RK_MSG_COPY, const_cast<char*>(value.data()),
                                         value.size(), key.empty() ? nullptr : key.data(), key.size(),
                                         timestamp_ms.value_or(0), owned.get(), nullptr)
              : impl_->producer->produce(topic, partition, RdKafka::Producer::RK_MSG_COPY, const_cast<char*>(value.data()),
                                         value.size(), key.empty() ? nullptr : key.data(), key.size(),
                                         timestamp_ms.value_or(0), nullptr);
    if (err == RdKafka::ERR_NO_ERROR) {
      (void)owned.release();  // librdkafka frees them with the message
      break;
    }
    // The local queue is full: serve delivery reports until there is room.
    if (err == RdKafka::ERR__QUEUE_FULL && std::chrono::steady_clock::now() < deadline) {
      impl_->producer->poll(100);
      continue;
    }
    throw std::runtime_error("kafka_producer (" + impl_->bootstrap + "): produce to " + topic + " partition " +
                             std::to_string(partition) + ": " + RdKafka::err2str(err));
  }
  impl_->producer->poll(0);
  impl_->throw_failed();
}

void kafka_producer::flush(std::chrono::milliseconds timeout) {
  const auto err = impl_->producer->flush(static_cast<int>(timeout.count()));
  impl_->throw_failed();
  if (err != RdKafka::ERR_NO_ERROR)
    throw std::runtime_error("kafka_producer (" + impl_->bootstrap + "): " +
                             std::to_string(impl_->producer->outq_len()) + " messages not acknowledged after " +
                             std::to_string(timeout.count()) + " ms: " + RdKafka::err2str(err));
}

uint64_t kafka_producer::delivered() const { return impl_->delivered; }

int kafka_producer::partition_leader(const std::string& topic, int partition, std::chrono::milliseconds timeout) {
  const auto where = "kafka_producer (" + impl_->bootstrap + "): leader of " + topic + " partition " +
                     std::to_string(partition) + ": ";
  std::string err;
  std::unique_ptr<RdKafka::Topic> handle(RdKafka::Topic::create(impl_->producer.get(), topic, nullptr, err));
  if (!handle) throw std::runtime_error(where + err);
  RdKafka::Metadata* raw = nullptr;
  const auto code = impl_->producer->metadata(false, handle.get(), &raw, static_cast<int>(timeout.count()));
  std::unique_ptr<RdKafka::Metadata> md(raw);
  if (code != RdKafka::ERR_NO_ERROR) throw std::runtime_error(where + RdKafka::err2str(code));
  for (const auto* t : *md->topics()) {
    if (t->topic() != topic) continue;
    if (t->err() != RdKafka::ERR_NO_ERROR) throw std::runtime_error(where + RdKafka::err2str(t->err()));
    for (const auto* p : *t->partitions())
      if (p->id() == partition) return p->leader();
  }
  throw std::runtime_error(where + "not in the brokers' metadata");
}

}  // namespace tributary::testing
