// tributary-kafka-mock: librdkafka's mock cluster (rdkafka_mock.h), a real Kafka-protocol broker
// set on loopback, in a process of its own so that tests and benchmarks start and stop it by pid
// (tests/support/kafka_mock.hpp is the test-side fixture).
//
//   tributary-kafka-mock --brokers N --ready-file F [--topic name:partitions]...
//
// Starts N brokers on ephemeral 127.0.0.1 ports, creates the topics, writes
// {"bootstrap":"127.0.0.1:p1,...","pid":P} to F (a temporary file renamed over F, so a reader never
// sees half of it), then serves until SIGTERM or SIGINT. Commands on stdin, one a line, each
// answered by one line on stdout, "ok" or "error: <why>":
//   topic NAME PARTITIONS   create a topic
//   broker-down ID          broker ID (1..N) closes its connections and refuses new ones
//   broker-up ID            ... and serves again
//   quit                    answer, then exit 0
// End of stdin is not a stop (a script may start it with stdin on /dev/null); only a signal or
// `quit` is. librdkafka's log goes to stderr; stdout carries nothing but answers.

#include <fcntl.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace {

struct options {
  int brokers = 0;
  std::string ready_file;
  std::vector<std::pair<std::string, int>> topics;
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "tributary-kafka-mock: %s\n"
               "usage: tributary-kafka-mock --brokers N --ready-file F [--topic name:partitions]...\n",
               why.c_str());
  std::exit(2);
}

/// A whole decimal number in [1, max]; -1 otherwise.
int parse_count(const std::string& text, int max) {
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (text.empty() || text.size() > 6 || !std::all_of(text.begin(), text.end(), digit)) return -1;
  const int n = std::stoi(text);
  return n >= 1 && n <= max ? n : -1;
}

constexpr int max_brokers = 64;
constexpr int max_partitions = 10000;

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::printf("usage: tributary-kafka-mock --brokers N --ready-file F [--topic name:partitions]...\n");
      std::exit(0);
    }
    if (i + 1 >= argc) usage(flag + " needs a value");
    const std::string value = argv[++i];
    if (flag == "--brokers") {
      o.brokers = parse_count(value, max_brokers);
      if (o.brokers < 0) usage("--brokers " + value + ": give a number from 1 to 64");
    } else if (flag == "--ready-file") {
      o.ready_file = value;
    } else if (flag == "--topic") {
      const auto colon = value.rfind(':');
      const int partitions = colon == std::string::npos ? -1 : parse_count(value.substr(colon + 1), max_partitions);
      if (colon == 0 || partitions < 0)
        usage("--topic " + value + ": give name:partitions, partitions from 1 to 10000");
      o.topics.emplace_back(value.substr(0, colon), partitions);
    } else {
      usage("unknown option " + flag);
    }
  }
  if (o.brokers == 0) usage("--brokers is required");
  if (o.ready_file.empty()) usage("--ready-file is required");
  return o;
}

void log_line(const rd_kafka_t*, int level, const char* facility, const char* text) {
  // The handle that owns the mock cluster is a client of no cluster: librdkafka warns that it has
  // no bootstrap.servers, which says nothing here.
  if (std::strcmp(facility, "CONFWARN") == 0 && std::strstr(text, "bootstrap.servers")) return;
  std::fprintf(stderr, "%%%d|%s|%s\n", level, facility, text);
}

std::string json_escaped(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

bool write_ready_file(const std::string& path, const std::string& bootstrap) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << "{\"bootstrap\":\"" << json_escaped(bootstrap) << "\",\"pid\":" << getpid() << "}\n";
    if (!out.flush()) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

/// The mock copies a broker set's replication factor into every topic; more replicas than brokers
/// cannot be placed.
int replication_factor(int brokers) { return std::min(brokers, 3); }

class server {
 public:
  server(rd_kafka_mock_cluster_t* cluster, int brokers) : cluster_(cluster), brokers_(brokers) {}

  /// Creates `name`; "" on success, else why not.
  std::string create_topic(const std::string& name, int partitions) {
    const auto err = rd_kafka_mock_topic_create(cluster_, name.c_str(), partitions, replication_factor(brokers_));
    return err ? "topic " + name + ": " + rd_kafka_err2str(err) : "";
  }

  /// One command line's answer, without the newline; sets `quit` for "quit".
  std::string handle(const std::string& line, bool& quit) {
    std::istringstream in(line);
    std::string verb, arg1, arg2, extra;
    in >> verb >> arg1 >> arg2 >> extra;
    if (!extra.empty()) return "error: too many words in '" + line + "'";
    if (verb == "quit" && arg1.empty()) {
      quit = true;
      return "ok";
    }
    if (verb == "topic") {
      const int partitions = parse_count(arg2, max_partitions);
      if (arg1.empty() || partitions < 0) return "error: give 'topic NAME PARTITIONS' (1 to 10000 partitions)";
      const auto why = create_topic(arg1, partitions);
      return why.empty() ? "ok" : "error: " + why;
    }
    if ((verb == "broker-down" || verb == "broker-up") && arg2.empty()) {
      const int id = parse_count(arg1, brokers_);
      if (id < 0)
        return "error: " + verb + " '" + arg1 + "': broker ids are 1 to " + std::to_string(brokers_);
      const auto err = verb == "broker-down" ? rd_kafka_mock_broker_set_down(cluster_, id)
                                             : rd_kafka_mock_broker_set_up(cluster_, id);
      return err ? "error: " + verb + " " + arg1 + ": " + rd_kafka_err2str(err) : "ok";
    }
    return "error: unknown command '" + line + "'; commands: topic NAME PARTITIONS, broker-down ID, broker-up ID, quit";
  }

 private:
  rd_kafka_mock_cluster_t* cluster_;
  int brokers_;
};

bool write_all(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    const ssize_t n = write(fd, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const options opt = parse(argc, argv);

  // A test that closed its end of the command channel must not kill us mid-answer.
  std::signal(SIGPIPE, SIG_IGN);
  // Blocked before librdkafka starts its threads, which inherit the mask: the stop signals then
  // reach only the signalfd the main loop polls.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  const int signal_fd = signalfd(-1, &stop_signals, SFD_CLOEXEC);
  if (signal_fd < 0) {
    std::perror("tributary-kafka-mock: signalfd");
    return 1;
  }

  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set_log_cb(conf, log_line);
  rd_kafka_t* owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (!owner) {
    std::fprintf(stderr, "tributary-kafka-mock: rd_kafka_new: %s\n", errstr);
    return 1;
  }
  rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(owner, opt.brokers);
  if (!cluster) {
    std::fprintf(stderr, "tributary-kafka-mock: cannot start a mock cluster of %d brokers\n", opt.brokers);
    rd_kafka_destroy(owner);
    return 1;
  }
  server srv(cluster, opt.brokers);
  int rc = 0;
  for (const auto& [name, partitions] : opt.topics) {
    if (auto why = srv.create_topic(name, partitions); !why.empty()) {
      std::fprintf(stderr, "tributary-kafka-mock: %s\n", why.c_str());
      rc = 1;
    }
  }
  const std::string bootstrap = rd_kafka_mock_cluster_bootstraps(cluster);
  if (rc == 0 && !write_ready_file(opt.ready_file, bootstrap)) {
    std::fprintf(stderr, "tributary-kafka-mock: cannot write the ready file %s: %s\n", opt.ready_file.c_str(),
                 std::strerror(errno));
    rc = 1;
  }
  if (rc == 0) std::fprintf(stderr, "tributary-kafka-mock: %d brokers at %s\n", opt.brokers, bootstrap.c_str());

  std::string pending;
  bool stdin_open = true;
  bool quit = rc != 0;
  while (!quit) {
    pollfd fds[2] = {{signal_fd, POLLIN, 0}, {stdin_open ? 0 : -1, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      std::perror("tributary-kafka-mock: poll");
      rc = 1;
      break;
    }
    if (fds[0].revents & POLLIN) {
      signalfd_siginfo info{};
      if (read(signal_fd, &info, sizeof info) == static_cast<ssize_t>(sizeof info))
        std::fprintf(stderr, "tributary-kafka-mock: stopping on signal %u\n", info.ssi_signo);
      break;
    }
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      char buf[4096];
      const ssize_t n = read(0, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        stdin_open = false;
        continue;
      }
      pending.append(buf, static_cast<size_t>(n));
      for (size_t eol; !quit && (eol = pending.find('\n')) != std::string::npos;) {
        std::string line = pending.substr(0, eol);
        pending.erase(0, eol + 1);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.find_first_not_of(" \t") == std::string::npos) continue;
        const std::string answer = srv.handle(line, quit);
        std::fprintf(stderr, "tributary-kafka-mock: %s -> %s\n", line.c_str(), answer.c_str());
        // An answer nobody reads is no reason to stop serving.
        write_all(1, answer + "\n");
      }
    }
  }

  rd_kafka_mock_cluster_destroy(cluster);
  rd_kafka_destroy(owner);
  close(signal_fd);
  return rc;
}
