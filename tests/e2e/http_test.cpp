// Kusto's REST API of a real node (node/http_server.hpp), over real HTTP (libcurl): the shapes
// Kusto's SDKs parse (reference/kusto-rest.md §4), the error envelope and its statuses (§5), the
// streaming ingest route (gzip detected by its bytes, the request id deduplicating retries), and
// what SDKs never send (malformed JSON, wrong content types, zip, oversized bodies, too many
// connections), down to raw sockets for what no HTTP library does on its own: a client waiting
// for `100 Continue`, one that leaves mid-body, one that trickles a body, 10,000 idle ones.

#include <arpa/inet.h>
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "client/client.hpp"
#include "tests/e2e/http_call.hpp"
#include "tests/support/exposition.hpp"
#include "tests/support/gzip.hpp"
#include "tests/support/node_process.hpp"
#include "tests/support/outcomes.hpp"
#include "tests/support/run_process.hpp"

namespace tributary::testing {
namespace {

using json = nlohmann::json;

// A raw TCP connection to the node, for what HTTP clients never do on their own: wait for
// `100 Continue`, stop mid-body, trickle a body, sit idle. Reads wait at most 10 s.
class raw_connection {
 public:
  explicit raw_connection(uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    timeval wait{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~raw_connection() { close(); }
  raw_connection(raw_connection&& o) noexcept : fd_(std::exchange(o.fd_, -1)), connected_(o.connected_) {}
  raw_connection(const raw_connection&) = delete;

  bool connected() const { return connected_; }
  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      const auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  /// Everything read so far, once it holds `until`, the peer closed, or 10 s passed.
  const std::string& read_until(std::string_view until) {
    char buffer[16384];
    while (read_.find(until) == std::string::npos) {
      const auto n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      read_.append(buffer, static_cast<size_t>(n));
    }
    return read_;
  }
  /// True once the peer has closed the connection (reads end), within 10 s.
  bool closed_by_peer() {
    char buffer[4096];
    for (;;) {
      const auto n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n == 0) return true;
      if (n < 0) return errno == ECONNRESET;
      read_.append(buffer, static_cast<size_t>(n));
    }
  }
  void close() {
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  std::string read_;
};

std::string ingest_head(const std::string& table, const std::string& request_id, std::string_view framing,
                        std::string_view extra = "") {
  return "POST /v1/rest/ingest/Db/" + table + "?streamFormat=csv HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
         "x-ms-client-request-id: " + request_id + "\r\n" + std::string(framing) + "\r\n" + std::string(extra) +
         "\r\n";
}

class http_test : public ::testing::Test {
 protected:
  void SetUp() override {
    node_ = std::make_unique<node_process>(dir_.path() / "data", std::vector<std::string>{"--streaming-ingestion=on"});
    base_ = "http://127.0.0.1:" + std::to_string(node_->http_port());
  }
  http_answer mgmt(const std::string& db, const std::string& csl) {
    return call("POST", base_ + "/v1/rest/mgmt", json{{"db", db}, {"csl", csl}}.dump(),
                {"Content-Type: application/json; charset=utf-8"});
  }
  http_answer query(const std::string& csl, const std::string& version = "v2", json properties = nullptr) {
    json body{{"db", "Db"}, {"csl", csl}};
    if (!properties.is_null()) body["properties"] = properties;
    return call("POST", base_ + "/" + version + "/rest/query", body.dump(), {"Content-Type: application/json"});
  }
  http_answer ingest(const std::string& table, const std::string& data, const std::string& params = "streamFormat=csv",
                     std::vector<std::string> headers = {}, bool chunked = false) {
    headers.push_back("Content-Type: application/octet-stream");
    return call("POST", base_ + "/v1/rest/ingest/Db/" + table + "?" + params, data, headers, chunked);
  }
  void create_table() {
    ASSERT_EQ(mgmt("", ".create database Db").status, 200);
    ASSERT_EQ(mgmt("Db", ".create table T (a:long, b:string, d:dynamic, ts:datetime, t:timespan, r:real)").status, 200);
    ASSERT_EQ(mgmt("Db", ".alter table T policy streamingingestion enable").status, 200);
  }
  void create_pair_table() {
    ASSERT_EQ(mgmt("", ".create database Db").status, 200);
    ASSERT_EQ(mgmt("Db", ".create table P (a:long, b:string)").status, 200);
    ASSERT_EQ(mgmt("Db", ".alter table P policy streamingingestion enable").status, 200);
  }
  // The error of an answer: its envelope checked, its "error" object returned.
  json error_of(const http_answer& a) {
    auto j = json::parse(a.body, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << a.body;
    if (j.is_discarded() || !j.contains("error")) return json::object();
    const auto& e = j["error"];
    for (const char* k : {"code", "message", "@type", "@message", "@context", "@permanent"})
      EXPECT_TRUE(e.contains(k)) << k << " missing in " << a.body;
    return e;
  }
  json primary_rows(const http_answer& a) {
    auto frames = json::parse(a.body);
    for (const auto& f : frames)
      if (f.value("TableKind", "") == "PrimaryResult") return f["Rows"];
    ADD_FAILURE() << "no PrimaryResult in " << a.body;
    return json::array();
  }

  temp_dir dir_;
  std::unique_ptr<node_process> node_;
  std::string base_;
};

TEST_F(http_test, the_sdks_discovery_and_the_probes) {
  EXPECT_EQ(call("GET", base_ + "/v1/rest/auth/metadata").status, 404);
  EXPECT_EQ(call("GET", base_ + "/v1/rest/ping").status, 200);
  EXPECT_EQ(call("GET", base_ + "/ready").status, 200);
  auto missing = call("GET", base_ + "/nope");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(error_of(missing)["code"], "NotFound");
  auto get_mgmt = call("GET", base_ + "/v1/rest/mgmt");
  EXPECT_EQ(get_mgmt.status, 405);
}

TEST_F(http_test, commands_answer_v1_tables_with_both_type_names) {
  auto created = mgmt("", ".create database Db");
  ASSERT_EQ(created.status, 200) << created.body;
  auto t = json::parse(mgmt("Db", ".create table T (a:int, b:string)").body);
  ASSERT_EQ(t["Tables"].size(), 1u);
  const auto& table = t["Tables"][0];
  EXPECT_EQ(table["TableName"], "Table_0");
  ASSERT_FALSE(table["Columns"].empty());
  for (const auto& c : table["Columns"]) {
    EXPECT_TRUE(c.contains("ColumnName"));
    EXPECT_TRUE(c.contains("DataType"));
    EXPECT_TRUE(c.contains("ColumnType"));
  }
  EXPECT_EQ(table["Rows"][0][0], "T");
  // A query on the management route, and a command on the query route, are refused.
  auto wrong = mgmt("Db", "T | count");
  EXPECT_EQ(wrong.status, 400);
  EXPECT_EQ(error_of(wrong)["code"], "BadRequest_NotACommand");
  EXPECT_EQ(error_of(query(".show tables"))["code"], "BadRequest_NotAQuery");
}

TEST_F(http_test, streaming_ingest_then_queries_in_v2_and_v1_shapes) {
  create_table();
  auto plain = ingest("T", "1,one,\"{\"\"k\"\":1}\",2024-01-02T03:04:05.1234567Z,01:02:03,1.5\n2,two,,2024-01-02,,\n");
  ASSERT_EQ(plain.status, 200) << plain.body;
  auto answer = json::parse(plain.body);
  EXPECT_EQ(answer["Tables"][0]["Rows"][0][0], 2) << plain.body;
  // gzip, chunked, and Content-Encoding claimed or not: the body's bytes tell.
  auto zipped = ingest("T", gzip("3,three,,,,\n"), "streamFormat=Csv", {"Content-Encoding: gzip"}, /*chunked=*/true);
  ASSERT_EQ(zipped.status, 200) << zipped.body;
  ASSERT_EQ(ingest("T", gzip("4,four,,,,\n")).status, 200);

  auto v2 = query("T | order by a asc");
  ASSERT_EQ(v2.status, 200) << v2.body;
  auto frames = json::parse(v2.body);
  ASSERT_EQ(frames.front()["FrameType"], "DataSetHeader");
  EXPECT_EQ(frames.back()["FrameType"], "DataSetCompletion");
  EXPECT_EQ(frames.back()["HasErrors"], false);
  // FrameType the first key of every frame (Python's streaming parser needs it so).
  size_t first_keys = 0;
  for (size_t at = v2.body.find("{\"FrameType\":"); at != std::string::npos; at = v2.body.find("{\"FrameType\":", at + 1))
    ++first_keys;
  EXPECT_EQ(first_keys, frames.size());
  auto rows = primary_rows(v2);
  ASSERT_EQ(rows.size(), 4u) << v2.body;
  EXPECT_EQ(rows[0][0], 1);
  EXPECT_EQ(rows[0][1], "one");
  EXPECT_EQ(rows[0][2], json::parse(R"({"k":1})"));  // dynamic as JSON in v2
  EXPECT_EQ(rows[0][3], "2024-01-02T03:04:05.1234567Z");
  EXPECT_EQ(rows[0][4], "01:02:03");
  EXPECT_EQ(rows[0][5], 1.5);
  EXPECT_TRUE(rows[1][2].is_null());
  EXPECT_EQ(rows[1][3], "2024-01-02T00:00:00Z");
  EXPECT_EQ(rows[3][1], "four");

  auto v1 = query("T | where a == 1 | project a, d", "v1");
  ASSERT_EQ(v1.status, 200) << v1.body;
  auto t = json::parse(v1.body)["Tables"][0];
  EXPECT_EQ(t["Columns"][1]["DataType"], "Object");
  EXPECT_EQ(t["Columns"][1]["ColumnType"], "dynamic");
  EXPECT_EQ(t["Rows"][0][1], R"({"k":1})");  // dynamic as JSON text in v1
}

TEST_F(http_test, errors_carry_kustos_envelope_and_status) {
  create_table();
  auto unknown = query("Nope | count");
  EXPECT_EQ(unknown.status, 400);
  auto e = error_of(unknown);
  EXPECT_EQ(e["code"], "BadRequest_TableNotExist");
  EXPECT_EQ(e["@permanent"], true);
  EXPECT_EQ(e["@type"], "Kusto.Data.Exceptions.EntityNotFoundException");

  auto no_table = ingest("Nope", "1,x,,,,\n");
  EXPECT_EQ(no_table.status, 400);
  EXPECT_EQ(error_of(no_table)["@permanent"], true);

  auto bad_data = ingest("T", "notanumber,x,,,,\n");
  EXPECT_EQ(bad_data.status, 400) << bad_data.body;

  auto malformed = call("POST", base_ + "/v2/rest/query", "{\"db\":", {"Content-Type: application/json"});
  EXPECT_EQ(malformed.status, 400);
  EXPECT_EQ(error_of(malformed)["code"], "BadRequest_MalformedJson");

  auto media = call("POST", base_ + "/v2/rest/query", "db=Db", {"Content-Type: application/x-www-form-urlencoded"});
  EXPECT_EQ(media.status, 415);

  auto uri = ingest("T", R"({"sourceUri":"https://x/y"})", "streamFormat=csv&sourceKind=uri");
  EXPECT_EQ(uri.status, 400);
  EXPECT_EQ(error_of(uri)["code"], "BadRequest_SourceKindNotSupported");

  auto zip = ingest("T", std::string("PK\x03\x04", 4) + "rest of a zip");
  EXPECT_EQ(zip.status, 400);
  EXPECT_EQ(error_of(zip)["code"], "BadRequest_ZipNotSupported");

  auto huge = ingest("T", std::string((4u << 20) + 10, 'x'));
  EXPECT_EQ(huge.status, 400);
  EXPECT_EQ(error_of(huge)["code"], "BadRequest_RequestTooLarge");

  // The node still answers on the same address afterwards.
  EXPECT_EQ(query("T | count").status, 200);
}

TEST_F(http_test, client_request_properties_and_request_ids) {
  create_table();
  ASSERT_EQ(ingest("T", "1,a,,,,\n2,b,,,,\n", "streamFormat=csv", {"x-ms-client-request-id: KNC.ingest;42"}).status, 200);
  // A retry with the same id ingests nothing twice.
  ASSERT_EQ(ingest("T", "1,a,,,,\n2,b,,,,\n", "streamFormat=csv", {"x-ms-client-request-id: KNC.ingest;42"}).status, 200);
  EXPECT_EQ(primary_rows(query("T | count"))[0][0], 2);
  // Options the engine has are honoured, given as an object or as a JSON string (Python's SDK).
  auto limited = query("T", "v2", json{{"Options", {{"truncationmaxrecords", 1}}}});
  EXPECT_EQ(limited.status, 400);
  EXPECT_EQ(error_of(limited)["code"], "QueryResultSetTooLarge");
  auto as_string = query("T", "v2", json(R"({"Options":{"truncationmaxrecords":1}})"));
  EXPECT_EQ(as_string.status, 400);
  auto timeout = query("T | count", "v2", json{{"Options", {{"servertimeout", "00:01:00.000"}}}});
  EXPECT_EQ(timeout.status, 200);
  // The request id comes back, with an activity id.
  auto a = call("POST", base_ + "/v2/rest/query", json{{"db", "Db"}, {"csl", "T | count"}}.dump(),
                {"Content-Type: application/json", "x-ms-client-request-id: MyApp.query;7"});
  EXPECT_NE(a.headers.find("MyApp.query;7"), std::string::npos) << a.headers;
  EXPECT_NE(a.headers.find("x-ms-activity-id"), std::string::npos) << a.headers;
}

TEST_F(http_test, large_answers_are_gzipped_for_clients_that_accept_it) {
  create_table();
  std::string rows;
  for (int i = 0; i < 2000; ++i) rows += std::to_string(i) + ",row " + std::to_string(i) + ",,,,\n";
  ASSERT_EQ(ingest("T", rows).status, 200);
  auto a = call("POST", base_ + "/v2/rest/query", json{{"db", "Db"}, {"csl", "T | project a, b"}}.dump(),
                {"Content-Type: application/json"}, false, /*accept_gzip=*/true);
  ASSERT_EQ(a.status, 200);
  EXPECT_NE(a.headers.find("Content-Encoding: gzip"), std::string::npos) << a.headers;
  EXPECT_EQ(primary_rows(a).size(), 2000u);  // curl decoded it
}

// REST calls count in the RPC families, as protocol "http" (what Prometheus scrapes).
TEST_F(http_test, calls_are_counted_as_protocol_http) {
  create_table();
  ASSERT_EQ(ingest("T", "1,a,,,,\n").status, 200);
  ASSERT_EQ(query("T | count").status, 200);
  ASSERT_EQ(query("Nope").status, 400);
  auto text = call("GET", "http://127.0.0.1:" + std::to_string(node_->metrics_port()) + "/metrics").body;
  EXPECT_EQ(sample(text, R"(tributary_rpc_requests_total{method="ingest",protocol="http",result="ok"})"), 1.0) << text;
  EXPECT_EQ(sample(text, R"(tributary_rpc_requests_total{method="query",protocol="http",result="ok"})"), 1.0);
  EXPECT_EQ(sample(text, R"(tributary_rpc_requests_total{method="query",protocol="http",result="error"})"), 1.0);
  EXPECT_GE(sample(text, R"(tributary_rpc_requests_total{method="command",protocol="http",result="ok"})").value_or(0), 3.0);
  EXPECT_EQ(sample(text, R"(tributary_rpc_requests_total{method="query",protocol="capnp",result="ok"})"), 0.0);
}

TEST(http_limits, connections_past_the_limit_are_refused_with_503_and_the_rest_are_served) {
  temp_dir dir;
  node_process node(dir.path() / "data", {"--max-http-connections", "2"});
  const auto port = node.http_port();
  auto open = [&] {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    return fd;
  };
  const int first = open(), second = open();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // both accepted and counted
  const int third = open();
  std::string answer(512, '\0');
  const auto n = ::recv(third, answer.data(), answer.size(), 0);
  ASSERT_GT(n, 0);
  answer.resize(static_cast<size_t>(n));
  EXPECT_EQ(answer.rfind("HTTP/1.1 503", 0), 0u) << answer;
  EXPECT_NE(answer.find("Throttling"), std::string::npos) << answer;
  ::close(third);
  ::close(first);
  ::close(second);
  // Once they are gone, a new connection is served.
  bool served = false;
  for (int i = 0; i < 50 && !served; ++i) {
    served = call("GET", "http://127.0.0.1:" + std::to_string(port) + "/v1/rest/ping").status == 200;
    if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(served);
}

// A client that waits for `100 Continue` (curl does for large bodies, .NET's clients may) gets it
// before it sends the body; one whose declared body is over the limit gets the error instead, at
// once, without sending it.
TEST_F(http_test, expect_100_continue_is_answered_and_an_oversized_body_is_refused_unsent) {
  create_pair_table();
  const std::string body = "1,a\n2,b\n";
  raw_connection c(node_->http_port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.send(ingest_head("P", "continue-1", "Content-Length: " + std::to_string(body.size()),
                                 "Expect: 100-continue\r\n")));
  EXPECT_EQ(c.read_until("\r\n\r\n").rfind("HTTP/1.1 100 Continue\r\n", 0), 0u) << c.read_until("\r\n\r\n");
  ASSERT_TRUE(c.send(body));
  const auto& answer = c.read_until("\"Rows\":[[2,");
  EXPECT_NE(answer.find("HTTP/1.1 200 OK"), std::string::npos) << answer;

  for (const bool expect : {true, false}) {
    raw_connection big(node_->http_port());
    ASSERT_TRUE(big.send(ingest_head("P", "continue-big", "Content-Length: 5000000",
                                     expect ? "Expect: 100-continue\r\n" : "")));
    const auto& refused = big.read_until("}}");
    EXPECT_EQ(refused.rfind("HTTP/1.1 400", 0), 0u) << refused;  // no 100 before it
    EXPECT_NE(refused.find("5000000 bytes (Content-Length), larger than 4194304 bytes"), std::string::npos) << refused;
  }
  EXPECT_EQ(primary_rows(query("P | count"))[0][0], 2);
}

// A client that goes away mid-request leaves either nothing or the whole request, never part of
// it; its retry with the same request id then stores the rows exactly once.
TEST_F(http_test, a_client_gone_mid_ingest_leaves_all_or_nothing_and_its_retry_stores_once) {
  create_pair_table();
  std::string body;
  for (int i = 0; i < 2000; ++i) body += std::to_string(i) + ",row-" + std::to_string(i) + "\n";
  std::mt19937 rng(7);
  int64_t stored = 0;
  for (int round = 0; round < 12; ++round) {
    const auto id = "gone-" + std::to_string(round);
    {
      raw_connection c(node_->http_port());
      ASSERT_TRUE(c.connected());
      // Even rounds: chunked, odd: Content-Length; cut anywhere, body whole included.
      const bool chunked = round % 2 == 0;
      const size_t cut = round % 3 == 2 ? body.size() : std::uniform_int_distribution<size_t>(0, body.size() - 1)(rng);
      std::string wire = ingest_head("P", id, chunked ? "Transfer-Encoding: chunked"
                                                       : "Content-Length: " + std::to_string(body.size()));
      if (chunked) {
        char size[32];
        std::snprintf(size, sizeof size, "%zx\r\n", body.size());
        wire += size + body.substr(0, cut);
        if (cut == body.size()) wire += "\r\n0\r\n\r\n";
      } else {
        wire += body.substr(0, cut);
      }
      ASSERT_TRUE(c.send(wire));
    }  // closed without reading an answer
    // Whatever the node made of it, it is all of the request or none of it.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const int64_t now = primary_rows(query("P | count"))[0][0];
    EXPECT_TRUE(now == stored || now == stored + 2000) << "round " << round << ": " << now - stored << " rows";
    // The client's retry: stored once.
    const auto retried = ingest("P", body, "streamFormat=csv", {"x-ms-client-request-id: " + id});
    EXPECT_EQ(retried.status, 200) << retried.body;
    stored += 2000;
    EXPECT_EQ(primary_rows(query("P | count"))[0][0], stored) << "round " << round;
  }
}

// Kusto's managed streaming clients retry with the attempt as the request id's last part: every
// attempt of one source is one request.
TEST_F(http_test, the_managed_clients_attempts_of_one_source_ingest_once) {
  create_pair_table();
  for (const char* client : {"KNC.executeManagedStreamingIngestFromStream", "KPC.executeManagedStreamingIngest"})
    for (int attempt = 0; attempt < 3; ++attempt) {
      const auto a = ingest("P", "1,a\n2,b\n", "streamFormat=csv",
                            {std::string("x-ms-client-request-id: ") + client +
                             ";5b0c6a3e-2f4d-4c1e-9a7b-0d8e6f1a2b3c;" + std::to_string(attempt)});
      EXPECT_EQ(a.status, 200) << a.body;
    }
  EXPECT_EQ(primary_rows(query("P | count"))[0][0], 4);  // once per client
  // Another source is another request.
  EXPECT_EQ(ingest("P", "3,c\n", "streamFormat=csv",
                   {"x-ms-client-request-id: KNC.executeManagedStreamingIngestFromStream;"
                    "11111111-2222-4333-8444-555555555555;0"})
                .status,
            200);
  EXPECT_EQ(primary_rows(query("P | count"))[0][0], 5);
}

// A body that trickles in slower than --http-body-timeout, or runs past the limit, is refused and
// its connection closed; other clients are served meanwhile; nothing of it is stored.
TEST(http_limits, a_slow_or_endless_body_is_refused_and_others_are_served_meanwhile) {
  temp_dir dir;
  node_process node(dir.path() / "data", {"--streaming-ingestion=on", "--http-body-timeout=1s"});
  const auto base = "http://127.0.0.1:" + std::to_string(node.http_port());
  auto mgmt = [&](const std::string& db, const std::string& csl) {
    return call("POST", base + "/v1/rest/mgmt", json{{"db", db}, {"csl", csl}}.dump(), {"Content-Type: application/json"});
  };
  ASSERT_EQ(mgmt("", ".create database Db").status, 200);
  ASSERT_EQ(mgmt("Db", ".create table T (a:long, b:string)").status, 200);
  ASSERT_EQ(mgmt("Db", ".alter table T policy streamingingestion enable").status, 200);

  // Slow: a chunk every 100 ms, for longer than the body timeout.
  raw_connection slow(node.http_port());
  ASSERT_TRUE(slow.send(ingest_head("T", "slow", "Transfer-Encoding: chunked")));
  bool refused = false;
  for (int i = 0; i < 40 && !refused; ++i) {
    refused = !slow.send("4\r\n1,a\n\r\n");
    // Meanwhile another client is served at once.
    if (i == 3) {
      EXPECT_EQ(call("GET", base + "/v1/rest/ping").status, 200);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (!refused && i > 15) refused = slow.read_until("}}").find("}}") != std::string::npos;
  }
  const auto& slow_answer = slow.read_until("}}");
  EXPECT_EQ(slow_answer.rfind("HTTP/1.1 400", 0), 0u) << slow_answer;
  EXPECT_NE(slow_answer.find("did not arrive whole within 1 s"), std::string::npos) << slow_answer;
  EXPECT_TRUE(slow.closed_by_peer());

  // Endless: chunked (no length to refuse up front), fast, past 4 MiB.
  raw_connection endless(node.http_port());
  ASSERT_TRUE(endless.send(ingest_head("T", "endless", "Transfer-Encoding: chunked")));
  const std::string chunk = "10000\r\n" + std::string(0x10000, '7') + "\r\n";
  size_t sent = 0;
  while (sent < (6u << 20) && endless.send(chunk)) sent += 0x10000;
  const auto& endless_answer = endless.read_until("}}");
  EXPECT_EQ(endless_answer.rfind("HTTP/1.1 400", 0), 0u) << endless_answer.substr(0, 300);
  EXPECT_NE(endless_answer.find("larger than 4194304 bytes"), std::string::npos) << endless_answer.substr(0, 300);
  EXPECT_TRUE(endless.closed_by_peer());

  auto count = call("POST", base + "/v2/rest/query", json{{"db", "Db"}, {"csl", "T | count"}}.dump(),
                    {"Content-Type: application/json"});
  EXPECT_NE(count.body.find("\"Rows\":[[0]]"), std::string::npos) << count.body;
}

// The node's resident memory, in bytes (VmRSS); -1 when /proc cannot tell.
int64_t resident_bytes(int pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);)
    if (line.starts_with("VmRSS:")) return std::stoll(line.substr(6)) * 1024;
  return -1;
}

// 10,000 idle keep-alive connections, each after one request: all held, at a bounded cost each;
// the next is refused cleanly (503) and, once one closes, served.
TEST(http_limits, ten_thousand_idle_keep_alive_connections_cost_bounded_memory) {
  constexpr size_t connections = 10'000;
  rlimit files{};
  ::getrlimit(RLIMIT_NOFILE, &files);
  files.rlim_cur = files.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &files);
  if (files.rlim_cur != RLIM_INFINITY && files.rlim_cur < connections + 512)
    GTEST_SKIP() << "this test opens " << connections << " sockets; the hard limit of open files is " << files.rlim_cur
                 << " (ulimit -Hn)";
  temp_dir dir;
  node_process node(dir.path() / "data", {"--max-http-connections", std::to_string(connections)});
  const auto before = resident_bytes(node.pid());
  std::vector<raw_connection> open;
  open.reserve(connections);
  const std::string ping = "GET /v1/rest/ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  for (size_t i = 0; i < connections; ++i) {
    open.emplace_back(node.http_port());
    ASSERT_TRUE(open.back().connected()) << "connection " << i;
    ASSERT_TRUE(open.back().send(ping)) << "connection " << i;
    ASSERT_NE(open.back().read_until("{\"status\":\"ok\"}").find("200 OK"), std::string::npos) << "connection " << i;
  }
  const auto after = resident_bytes(node.pid());
  const auto metrics = http_get(node.metrics_port(), "/metrics");
  EXPECT_EQ(sample(metrics, R"(tributary_rpc_connections{protocol="http"})"), static_cast<double>(connections));
  // Measured: ~5 KiB a connection (KJ's connection state and its header buffer); 32 KiB leaves room
  // for sanitizers and allocator slack, and still bounds 10,000 connections to 320 MiB.
  if (before > 0 && after > 0) {
    EXPECT_LT((after - before) / static_cast<int64_t>(connections), 32 * 1024)
        << "RSS grew " << (after - before) / (1 << 20) << " MiB for " << connections << " idle connections";
  }
  std::cout << "RSS " << before / 1024 << " KiB -> " << after / 1024 << " KiB for " << connections << " connections\n";
  raw_connection past(node.http_port());
  EXPECT_EQ(past.read_until("}}").rfind("HTTP/1.1 503", 0), 0u) << past.read_until("}}");
  // One closes: the next connection is served.
  open.pop_back();
  bool served = false;
  for (int i = 0; i < 50 && !served; ++i) {
    raw_connection next(node.http_port());
    served = next.send(ping) && next.read_until("\r\n\r\n").rfind("HTTP/1.1 200", 0) == 0;
    if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(served);
}

}  // namespace
}  // namespace tributary::testing
