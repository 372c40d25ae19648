// Kusto's REST API of a real node (node/http_server.hpp), over real HTTP (libcurl): the shapes
// Kusto's SDKs parse (reference/kusto-rest.md §4), the error envelope and its statuses (§5), the
// streaming ingest route (gzip detected by its bytes, the request id deduplicating retries), and
// what SDKs never send (malformed JSON, wrong content types, zip, oversized bodies, too many
// connections).

#include <arpa/inet.h>
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "client/client.hpp"
#include "tests/support/exposition.hpp"
#include "tests/support/gzip.hpp"
#include "tests/support/node_process.hpp"
#include "tests/support/outcomes.hpp"

namespace tributary::testing {
namespace {

using json = nlohmann::json;

struct http_answer {
  long status = 0;
  std::string body;
  std::string headers;
};

size_t append(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// One request. `chunked`: the body goes with Transfer-Encoding: chunked, as the Node SDK streams.
http_answer call(const std::string& method, const std::string& url, const std::string& body = {},
                 std::vector<std::string> headers = {}, bool chunked = false, bool accept_gzip = false) {
  CURL* curl = curl_easy_init();
  http_answer a;
  curl_slist* list = nullptr;
  for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
  if (chunked) list = curl_slist_append(list, "Transfer-Encoding: chunked");
  list = curl_slist_append(list, "Expect:");
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, append);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &a.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, append);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &a.headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
  if (accept_gzip) curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "gzip");
  struct source {
    const std::string* body;
    size_t at = 0;
  } src{&body};
  if (method == "POST") {
    if (chunked) {
      curl_easy_setopt(curl, CURLOPT_POST, 1L);
      curl_easy_setopt(curl, CURLOPT_READFUNCTION, +[](char* out, size_t size, size_t n, void* p) -> size_t {
        auto* s = static_cast<source*>(p);
        const size_t k = std::min(size * n, std::min<size_t>(s->body->size() - s->at, 7));  // small chunks
        std::memcpy(out, s->body->data() + s->at, k);
        s->at += k;
        return k;
      });
      curl_easy_setopt(curl, CURLOPT_READDATA, &src);
    } else {
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    }
  }
  const auto rc = curl_easy_perform(curl);
  EXPECT_EQ(rc, CURLE_OK) << curl_easy_strerror(rc) << " " << method << " " << url;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &a.status);
  curl_slist_free_all(list);
  curl_easy_cleanup(curl);
  return a;
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

}  // namespace
}  // namespace tributary::testing
