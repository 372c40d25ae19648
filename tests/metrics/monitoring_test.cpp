// The metrics front door, checked through a real HTTP scrape of /metrics.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "monitoring/metrics.hpp"
#include "tests/support/exposition.hpp"

namespace tributary::monitoring {
namespace {

using namespace std::chrono_literals;
using testing::sample;
using protocol = rpc_probe::protocol;

struct http_response {
  std::string head;
  std::string body;
};

// A plain HTTP/1.0 GET: the server closes the connection after the body, so reading to EOF
// gets the whole response without parsing chunked encoding or Content-Length.
http_response http_get(uint16_t port, const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    throw std::runtime_error("connect to 127.0.0.1:" + std::to_string(port) + " failed");
  }
  std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  for (size_t sent = 0; sent < request.size();) {
    auto n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      ::close(fd);
      throw std::runtime_error("send failed");
    }
    sent += static_cast<size_t>(n);
  }
  std::string response;
  char buf[8192];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;)
    response.append(buf, static_cast<size_t>(n));
  ::close(fd);
  auto split = response.find("\r\n\r\n");
  if (split == std::string::npos) throw std::runtime_error("no HTTP header in: " + response);
  return {response.substr(0, split), response.substr(split + 4)};
}

std::string scrape_http(const metrics& m) {
  auto response = http_get(m.port(), "/metrics");
  EXPECT_NE(response.head.find(" 200 "), std::string::npos) << response.head;
  return response.body;
}

TEST(metrics, serves_probe_series_with_exact_values) {
  metrics m("127.0.0.1:0", "n1");
  ASSERT_NE(m.port(), 0);
  m.commands().executed("create_table", true);
  m.commands().executed("create_table", true);
  m.commands().executed("invalid", false);
  m.rpc().finished("command", true, 100us);
  m.rpc().finished("command", false, 20ms);
  m.rpc().finished("ingest", true, 3ms);
  m.rpc().finished("query", false, 2ms, protocol::http);
  m.rpc().throttled("query", protocol::http);
  m.rpc().connections(protocol::http, +2);
  m.rpc().connections(protocol::http, -1);
  m.rpc().in_flight(+3);
  m.rpc().in_flight(-1);
  m.catalog().version(7);
  m.catalog().objects(2, 5);
  m.catalog().actors("table", 5);
  m.catalog().actors("database", 2);
  m.catalog().actors("table", -1);

  auto text = scrape_http(m);
  auto expect = [&](const std::string& series, double value) {
    auto got = sample(text, series);
    ASSERT_TRUE(got.has_value()) << "no series " << series << " in:\n" << text;
    EXPECT_DOUBLE_EQ(*got, value) << series;
  };
  expect(R"(tributary_commands_total{kind="create_table",result="ok"})", 2);
  expect(R"(tributary_commands_total{kind="create_table",result="error"})", 0);
  expect(R"(tributary_commands_total{kind="invalid",result="error"})", 1);
  expect(R"(tributary_commands_total{kind="invalid",result="ok"})", 0);
  expect(R"(tributary_rpc_requests_total{method="command",protocol="capnp",result="ok"})", 1);
  expect(R"(tributary_rpc_requests_total{method="command",protocol="capnp",result="error"})", 1);
  expect(R"(tributary_rpc_requests_total{method="ingest",protocol="capnp",result="ok"})", 1);
  expect(R"(tributary_rpc_requests_total{method="query",protocol="capnp",result="ok"})", 0);
  expect(R"(tributary_rpc_latency_seconds_count{method="command",protocol="capnp"})", 2);
  expect(R"(tributary_rpc_latency_seconds_sum{method="command",protocol="capnp"})", 0.0201);
  expect(R"(tributary_rpc_latency_seconds_bucket{method="command",protocol="capnp",le="5e-05"})", 0);
  expect(R"(tributary_rpc_latency_seconds_bucket{method="command",protocol="capnp",le="0.0001"})", 1);
  expect(R"(tributary_rpc_latency_seconds_bucket{method="command",protocol="capnp",le="0.01"})", 1);
  expect(R"(tributary_rpc_latency_seconds_bucket{method="command",protocol="capnp",le="0.025"})", 2);
  expect(R"(tributary_rpc_latency_seconds_bucket{method="command",protocol="capnp",le="10"})", 2);
  expect(R"(tributary_rpc_latency_seconds_bucket{method="command",protocol="capnp",le="+Inf"})", 2);
  expect(R"(tributary_rpc_latency_seconds_count{method="ingest",protocol="capnp"})", 1);
  expect(R"(tributary_rpc_latency_seconds_count{method="query",protocol="capnp"})", 0);
  expect("tributary_rpc_in_flight", 2);
  // Kusto's REST API counts in the same families, as protocol "http".
  expect(R"(tributary_rpc_requests_total{method="query",protocol="http",result="error"})", 1);
  expect(R"(tributary_rpc_requests_total{method="query",protocol="capnp",result="error"})", 0);
  expect(R"(tributary_rpc_latency_seconds_count{method="query",protocol="http"})", 1);
  expect(R"(tributary_rpc_throttled_total{method="query",protocol="http"})", 1);
  expect(R"(tributary_rpc_throttled_total{method="query",protocol="capnp"})", 0);
  expect(R"(tributary_rpc_connections{protocol="http"})", 1);
  expect(R"(tributary_rpc_connections{protocol="capnp"})", 0);
  expect("tributary_catalog_version", 7);
  expect("tributary_catalog_databases", 2);
  expect("tributary_catalog_tables", 5);
  expect(R"(tributary_actors{kind="table"})", 4);
  expect(R"(tributary_actors{kind="database"})", 2);
  // The version is the project's; only its shape is checked here.
  auto build_info = text.find("\ntributary_build_info{node=\"n1\",version=\"");
  ASSERT_NE(build_info, std::string::npos) << text;
  auto line = text.substr(build_info + 1, text.find('\n', build_info + 1) - build_info - 1);
  EXPECT_TRUE(line.ends_with("\"} 1")) << line;
  EXPECT_EQ(line.find("version=\"\""), std::string::npos) << "empty version: " << line;
  EXPECT_NE(text.find("# TYPE tributary_commands_total counter"), std::string::npos);
  EXPECT_NE(text.find("# TYPE tributary_rpc_latency_seconds histogram"), std::string::npos);
}

TEST(metrics, serves_process_metrics_read_from_proc) {
  metrics m("127.0.0.1:0", "n1");
  auto text = scrape_http(m);
  auto value = [&](const std::string& series) {
    auto got = sample(text, series);
    EXPECT_TRUE(got.has_value()) << "no series " << series << " in:\n" << text;
    return got.value_or(-1);
  };
  EXPECT_GT(value("process_resident_memory_bytes"), 1024 * 1024);
  EXPECT_GE(value("process_virtual_memory_bytes"), value("process_resident_memory_bytes"));
  EXPECT_GE(value("process_cpu_seconds_total"), 0);
  // The exposer's own threads plus this one.
  EXPECT_GE(value("process_threads"), 2);
  EXPECT_GE(value("process_open_fds"), 3);
  EXPECT_GE(value("process_max_fds"), value("process_open_fds"));
  auto now = static_cast<double>(std::time(nullptr));
  auto started = value("process_start_time_seconds");
  EXPECT_LE(started, now + 1);
  EXPECT_GE(started, now - 600) << "this test process started less than 10 minutes ago";
  EXPECT_NE(text.find("# TYPE process_cpu_seconds_total counter"), std::string::npos);
}

TEST(metrics, rejects_a_port_in_use_naming_the_address) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  auto address = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  try {
    metrics m(address, "n1");
    ADD_FAILURE() << "bound " << address << " twice";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(address), std::string::npos) << e.what();
  }
  ::close(fd);
}

TEST(metrics, stops_serving_promptly) {
  auto m = std::make_unique<metrics>("127.0.0.1:0", "n1");
  auto port = m->port();
  scrape_http(*m);
  auto start = std::chrono::steady_clock::now();
  m.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 500ms);
  EXPECT_THROW(http_get(port, "/metrics"), std::runtime_error) << "still serving";
}

TEST(metrics, counts_exactly_under_concurrent_probes) {
  metrics m("127.0.0.1:0", "n1");
  constexpr int threads = 4;
  constexpr int per_thread = 10000;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t)
    workers.emplace_back([&m, t] {
      for (int i = 0; i < per_thread; ++i) {
        m.commands().executed(i % 2 ? "show_tables" : "create_table", t % 2 == 0);
        m.rpc().in_flight(+1);
        m.rpc().finished(i % 3 ? "query" : "custom_method", true, 1ms);
        m.rpc().in_flight(-1);
        m.catalog().actors("table", 1);
      }
    });
  for (auto& w : workers) w.join();
  auto text = scrape_http(m);
  EXPECT_EQ(sample(text, R"(tributary_commands_total{kind="show_tables",result="ok"})"),
            threads * per_thread / 4);
  EXPECT_EQ(sample(text, R"(tributary_commands_total{kind="create_table",result="error"})"),
            threads * per_thread / 4);
  auto query = sample(text, R"(tributary_rpc_latency_seconds_count{method="query",protocol="capnp"})");
  auto custom = sample(text, R"(tributary_rpc_latency_seconds_count{method="custom_method",protocol="capnp"})");
  EXPECT_EQ(query.value_or(0) + custom.value_or(0), threads * per_thread);
  EXPECT_EQ(sample(text, "tributary_rpc_in_flight"), 0);
  EXPECT_EQ(sample(text, R"(tributary_actors{kind="table"})"), threads * per_thread);
}

TEST(metrics, caps_distinct_label_values) {
  metrics m("", "n1");
  for (int i = 0; i < 300; ++i) m.commands().executed("kind_" + std::to_string(i), true);
  auto text = m.scrape();
  EXPECT_EQ(sample(text, R"(tributary_commands_total{kind="kind_0",result="ok"})"), 1);
  EXPECT_FALSE(sample(text, R"(tributary_commands_total{kind="kind_299",result="ok"})"));
  EXPECT_GT(sample(text, R"(tributary_commands_total{kind="other",result="ok"})").value_or(0), 0);
}

TEST(metrics, serves_nothing_when_listen_is_empty) {
  metrics m("", "n1");
  EXPECT_EQ(m.port(), 0);
  m.catalog().version(3);
  EXPECT_EQ(sample(m.scrape(), "tributary_catalog_version"), 3);
}

// The tributary_* lines of an exposition (process_* series change on their own between scrapes).
std::string tributary_series(const std::string& exposition) {
  std::istringstream lines(exposition);
  std::string kept;
  for (std::string line; std::getline(lines, line);)
    if (line.starts_with("tributary_")) kept += line + '\n';
  return kept;
}

// A detached probe reaches no registry: not a live metrics object's (no global or shared
// registry behind the default constructor), and from several threads at once (thread-safe).
TEST(metrics, detached_probes_do_nothing) {
  metrics m("", "n1");
  m.catalog().version(7);
  m.commands().executed("create_table", true);
  auto before = tributary_series(m.scrape());
  ASSERT_NE(before.find("tributary_catalog_version 7\n"), std::string::npos) << before;

  command_probe commands;
  rpc_probe rpc;
  catalog_probe catalog;
  ingest_probe ingest;
  controller_probe controller;
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t)
    workers.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        commands.executed("create_table", true);
        commands.executed("detached_kind", false);
        rpc.finished("command", false, 1ms);
        rpc.in_flight(1);
        catalog.version(99);
        catalog.objects(5, 50);
        catalog.actors("table", 1);
        ingest.finished("detached_db", "ok", 100, 10, 1ms);
        ingest.throttled();
        ingest.in_flight(1);
        ingest.rowstore("detached_db", 100, 10);
        ingest.group_commit(3, 300, 1ms, 1ms);
        ingest.prepared(1ms);
        ingest.moved(true, 100, 1ms);
        ingest.extent_bytes(100);
        ingest.corruption("extent");
        ingest.disk_budget(1000, 1000);
        controller.decided({.movers_allowed = 4, .ingest_throttled = true, .rss_bytes = 1});
        controller.running(2);
      }
    });
  for (auto& w : workers) w.join();

  EXPECT_EQ(tributary_series(m.scrape()), before);
  // The same calls on the live probes do show, so the comparison above can see a change.
  m.catalog().version(99);
  m.ingest().throttled();
  auto after = m.scrape();
  EXPECT_EQ(sample(after, "tributary_catalog_version"), 99);
  EXPECT_EQ(sample(after, "tributary_ingest_throttled_total"), 1);
}

TEST(metrics, exposition_passes_promtool_lint) {
  if (!std::filesystem::exists("/usr/bin/promtool")) GTEST_SKIP() << "promtool not installed";
  metrics m("127.0.0.1:0", "n1");
  m.commands().executed("create_table", true);
  m.rpc().finished("command", true, 1ms);
  m.catalog().actors("table", 1);
  auto text = scrape_http(m);
  auto file = std::filesystem::temp_directory_path() /
              ("tributary-metrics-" + std::to_string(::getpid()) + ".txt");
  {
    std::FILE* out = std::fopen(file.c_str(), "w");
    ASSERT_NE(out, nullptr);
    std::fwrite(text.data(), 1, text.size(), out);
    std::fclose(out);
  }
  auto command = "promtool check metrics < " + file.string() + " 2>&1";
  std::FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) output.append(buf, n);
  int status = ::pclose(pipe);
  std::filesystem::remove(file);
  EXPECT_EQ(status, 0) << output;
  EXPECT_EQ(output, "") << "promtool warnings";
}

}  // namespace
}  // namespace tributary::monitoring
