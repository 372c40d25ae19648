// Golden files of every response shape of Kusto's REST API (node/http_server.cpp,
// node/kusto_json.cpp): one real node, a table with every column type, a json mapping, a few
// rows with nulls; each answer's body, its volatile values replaced by placeholders, pretty-printed
// in its own key order, compared whole with tests/e2e/golden/rest/<case>.json. The statuses and
// Content-Type are checked here, in code. After an intended change of a shape, regenerate with
//   TRIBUTARY_UPDATE_GOLDEN=1 build/tests/e2e/http_test --gtest_filter='http_golden*'
// and read the diff against reference/kusto-rest.md before committing it.
//
// Normalized (volatile): "@context"."timestamp" of the error envelope; the Timestamp,
// ActivityId, SubActivityId and ParentActivityId cells of QueryCompletionInformation (activity
// ids only when not the zero guid, which the node sends today, as the reference shows); the
// numbers of its QueryResourceConsumption payload (times, bytes, and the rowstore/extent split,
// which depends on when the node seals); LastUpdatedOn of mappings; a non-empty "Version" cell.
// Nothing else: ClientRequestId is the fixed x-ms-client-request-id each request sends.
//
// Where these shapes differ from reference/kusto-rest.md's captures (§3.1 and §7 are the stub's
// answers the SDKs accepted; §4.3 and §5 quote the service), and why:
// - mgmt_create_table: Schema is the CSL schema ("b:bool, i:int, ..."); §3.1 and Kusto's own
//   `.create table` answer carry the JSON schema (`.show table T schema as json`'s):
//   {"Name":"T","OrderedColumns":[{"Name":"a","Type":"System.Int32","CslType":"int"}]}.
//   The SDKs do not read it; a user's code that parses it does.
// - mgmt_create_table, mgmt_show_tables: Folder and DocString are "" where §3.1 has null; the
//   SDKs take either.
// - ingest_ok: the columns carry ColumnType as well as DataType; §4.3's answer (the service's,
//   and Python's mock) has DataType only. §4.1 asks for both; both SDKs read either.
// - v2_query_unknown_table, v1_query_error: code BadRequest_TableNotExist, @type
//   EntityNotFoundException; §7's answer to the same query is code General_BadRequest, @type
//   Kusto.Data.Exceptions.SemanticException. v2_query_syntax_error and mgmt_error: code
//   BadRequest_SyntaxError, as §7's stub. ingest_unknown_table: code BadRequest_TableNotExist
//   where §5.1 has BadRequest_EntityNotFound ("Entity ID 'Nope' of kind 'Table' was not
//   found."), same @type and status. Neither SDK branches on code or @type.
// - v2_query_truncated: an HTTP 400 envelope. Kusto reports a result past its truncation limits
//   in band (§5.2: HTTP 200, the partial rows, a {"OneApiErrors":[...]} row object, then
//   DataSetCompletion with HasErrors:true and OneApiErrors). The node answers every query error
//   over HTTP, never in band: both SDKs raise either way; the partial rows are lost.
// - QueryResourceConsumption's payload is the node's own statistics (ExtentsScanned, ...), not
//   the service's (ExecutionTime, resource_usage, ...); no SDK reads it.
// - v2_query_render: the Visualization value has the kind only ({"Visualization":"piechart"});
//   the service's also lists Title, XColumn, YColumns, Series, ... (null when unset). The SDKs
//   hand it over as it is.
// - v1_query_all_types: one table (Table_0). The service adds @ExtendedProperties, QueryStatus
//   and a table of contents; §4.1: with one or two tables the SDKs take table 0 as the primary
//   result.
// - no second result table: the engine has no `fork` and no multi-statement queries (a query
//   after the query's ';' is a syntax error), so that case is not captured.
// - the error envelope's @context has timestamp and clientRequestId only, as §5.1; the service
//   adds machine, process and activity fields no SDK reads.
// - ping.json: written by hand, the test disabled (see ping_answers_json): the node's
//   answer is not that JSON today. The reference does not describe /v1/rest/ping.

#include <curl/curl.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/e2e/http_call.hpp"
#include "tests/support/node_process.hpp"

namespace tributary::testing {
namespace {

using ordered_json = nlohmann::ordered_json;
const std::filesystem::path golden_dir =
    std::filesystem::path(TRIBUTARY_SOURCE_DIR) / "tests/e2e/golden/rest";

// One request over a fresh connection. Every request carries a fixed x-ms-client-request-id, so
// that the ids echoed in bodies are part of the golden text.
http_answer request(const std::string& method, const std::string& url, const std::string& body,
                    const std::vector<std::string>& headers) {
  return call(method, url, body, headers);
}

// --- normalization of volatile values --------------------------------------------------------

// The placeholder of a volatile cell, by its column's name; empty when the column is stable.
// Activity ids stay as they are while they are the zero guid (what the node sends today).
std::string placeholder_of(const std::string& column, const ordered_json& cell) {
  if (!cell.is_string() || cell.get<std::string>().empty()) return {};
  if (cell == "00000000-0000-0000-0000-000000000000") return {};
  static const std::map<std::string, std::string> volatile_columns = {
      {"Timestamp", "<datetime>"},           {"LastUpdatedOn", "<datetime>"},
      {"ActivityId", "<activity-id>"},       {"SubActivityId", "<activity-id>"},
      {"ParentActivityId", "<activity-id>"}, {"Version", "<version>"},
  };
  auto it = volatile_columns.find(column);
  return it == volatile_columns.end() ? std::string() : it->second;
}

// Every number in `j` becomes 0 of its own kind (integer or floating), keys and order kept.
void zero_numbers(ordered_json& j) {
  if (j.is_number_float())
    j = 0.0;
  else if (j.is_number_unsigned())
    j = 0u;
  else if (j.is_number_integer())
    j = 0;
  else if (j.is_structured())
    for (auto& v : j) zero_numbers(v);
}

// A table's rows (v1 table or v2 DataTable): volatile cells replaced, strings by strings, null
// kept null; QueryResourceConsumption payloads (JSON in a string) with their numbers zeroed.
void normalize_table(ordered_json& table) {
  if (!table.contains("Columns") || !table.contains("Rows")) return;
  std::vector<std::string> names;
  for (const auto& c : table["Columns"]) names.push_back(c.value("ColumnName", ""));
  const auto at = [&](const std::string& name) {
    return static_cast<size_t>(std::find(names.begin(), names.end(), name) - names.begin());
  };
  const size_t event = at("EventTypeName"), payload = at("Payload");
  for (auto& row : table["Rows"]) {
    if (!row.is_array()) continue;  // an in-band {"OneApiErrors":[...]} row object
    for (size_t c = 0; c < row.size() && c < names.size(); ++c) {
      if (const auto p = placeholder_of(names[c], row[c]); !p.empty()) row[c] = p;
    }
    if (event < row.size() && payload < row.size() && row[event] == "QueryResourceConsumption" &&
        row[payload].is_string()) {
      auto stats = ordered_json::parse(row[payload].get<std::string>(), nullptr, false);
      if (!stats.is_discarded()) {
        zero_numbers(stats);
        row[payload] = stats.dump();
      }
    }
  }
}

void normalize_error(ordered_json& e) {
  if (e.is_object() && e.contains("@context") && e["@context"].is_object() &&
      e["@context"].contains("timestamp"))
    e["@context"]["timestamp"] = "<datetime>";
}

// The body as golden text: parsed in its key order, normalized, pretty-printed. A body that is
// not JSON is kept as it is (and will not match a JSON golden file).
std::string golden_text(const std::string& body) {
  auto j = ordered_json::parse(body, nullptr, false);
  if (j.is_discarded()) return body;
  if (j.is_object() && j.contains("Tables"))
    for (auto& t : j["Tables"]) normalize_table(t);
  if (j.is_object() && j.contains("error")) normalize_error(j["error"]);
  if (j.is_array())
    for (auto& frame : j) {
      if (!frame.is_object()) continue;
      normalize_table(frame);
      if (frame.contains("OneApiErrors"))
        for (auto& e : frame["OneApiErrors"])
          if (e.contains("error")) normalize_error(e["error"]);
      if (frame.contains("Rows"))
        for (auto& row : frame["Rows"])
          if (row.is_object() && row.contains("OneApiErrors"))
            for (auto& e : row["OneApiErrors"])
              if (e.contains("error")) normalize_error(e["error"]);
    }
  return j.dump(2) + "\n";
}

// --- comparison ------------------------------------------------------------------------------

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// A unified-style diff (3 lines of context) of two small texts, by their longest common
// subsequence of lines; golden files are a few hundred lines at most.
std::string unified_diff(const std::string& expected, const std::string& actual,
                         const std::string& name) {
  const auto a = lines_of(expected), b = lines_of(actual);
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<uint32_t>> lcs(n + 1, std::vector<uint32_t>(m + 1, 0));
  for (size_t i = n; i-- > 0;)
    for (size_t j = m; j-- > 0;)
      lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
  struct edit {
    char op;
    size_t ai, bi;  // line numbers (0-based) in a and b at this edit
    std::string text;
  };
  std::vector<edit> edits;
  size_t i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] == b[j]) {
      edits.push_back({' ', i, j, a[i]});
      ++i, ++j;
    } else if (i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1])) {
      edits.push_back({'-', i, j, a[i]});
      ++i;
    } else {
      edits.push_back({'+', i, j, b[j]});
      ++j;
    }
  }
  std::ostringstream out;
  out << "--- " << name << " (golden)\n+++ " << name << " (this run)\n";
  // Hunks: changes less than 2*context unchanged lines apart share one, with `context` lines
  // around.
  constexpr size_t context = 3;
  std::vector<size_t> changed;
  for (size_t k = 0; k < edits.size(); ++k)
    if (edits[k].op != ' ') changed.push_back(k);
  for (size_t c = 0; c < changed.size();) {
    size_t last = c;
    while (last + 1 < changed.size() && changed[last + 1] - changed[last] <= 2 * context) ++last;
    const size_t begin = changed[c] >= context ? changed[c] - context : 0;
    const size_t end = std::min(edits.size(), changed[last] + context + 1);
    size_t a_count = 0, b_count = 0;
    for (size_t t = begin; t < end; ++t) {
      if (edits[t].op != '+') ++a_count;
      if (edits[t].op != '-') ++b_count;
    }
    out << "@@ -" << edits[begin].ai + 1 << "," << a_count << " +" << edits[begin].bi + 1 << ","
        << b_count << " @@\n";
    for (size_t t = begin; t < end; ++t) out << edits[t].op << edits[t].text << "\n";
    c = last + 1;
  }
  return out.str();
}

// The fixture: one node for every case, set up once (SetUpTestSuite); the answers of the set-up
// steps that are cases themselves are kept in `captured`.
class http_golden : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new temp_dir();
    node_ = new node_process(dir_->path() / "data", {"--streaming-ingestion=on"});
    base_ = "http://127.0.0.1:" + std::to_string(node_->http_port());
    captured_ = new std::map<std::string, http_answer>();
    auto must = [](const std::string& what, const http_answer& a) {
      if (a.status != 200)
        ADD_FAILURE() << "set-up step " << what << " answered " << a.status << ": " << a.body;
      return a;
    };
    (*captured_)["mgmt_create_database"] = must("create database", mgmt("", ".create database Db"));
    (*captured_)["mgmt_create_table"] =
        must("create table",
             mgmt("Db",
                  ".create table T (b:bool, i:int, l:long, r:real, dec:decimal, s:string, "
                  "ts:datetime, span:timespan, g:guid, d:dynamic)"));
    must("streaming policy", mgmt("Db", ".alter table T policy streamingingestion enable"));
    (*captured_)["mgmt_create_mapping"] = must(
        "create mapping",
        mgmt(
            "Db",
            R"(.create table T ingestion json mapping 'j' '[{"Column":"b","Properties":{"Path":"$.flag"}},)"
            R"({"Column":"i","Properties":{"Path":"$.n"}},{"Column":"l","Properties":{"Path":"$.big"}},)"
            R"({"Column":"r","Properties":{"Path":"$.x"}},{"Column":"dec","Properties":{"Path":"$.money"}},)"
            R"({"Column":"s","Properties":{"Path":"$.text"}},{"Column":"ts","Properties":{"Path":"$.at"}},)"
            R"({"Column":"span","Properties":{"Path":"$.took"}},{"Column":"g","Properties":{"Path":"$.id"}},)"
            R"({"Column":"d","Properties":{"Path":"$.extra"}}]')"));
    // Three rows as CSV (one all null but its string), two as JSON through the mapping (missing
    // and explicit nulls, NaN, a whole real).
    (*captured_)["ingest_ok"] =
        must("ingest csv",
             ingest("golden-csv", "T", "csv", "",
                    "true,1,10000000000,1.5,12.345,hello,2024-01-02T03:04:05.1234567Z,1.02:03:04.5,"
                    "0b5a4c1e-6f3d-4e2a-9c1b-2d3e4f5a6b7c,\"{\"\"a\"\":[1,2],\"\"b\"\":null}\"\n"
                    ",,,,,,,,,\n"
                    "false,-2,-3,2.0,-0.5,\"quotes \"\" and, comma\",2024-02-29,-00:00:01,"
                    "00000000-0000-0000-0000-000000000000,\"[1,\"\"x\"\",null]\"\n"));
    must(
        "ingest json",
        ingest(
            "golden-json", "T", "json", "j",
            R"({"flag":false,"n":7,"big":9007199254740993,"x":"NaN","money":"0.1",)"
            R"("text":"json \u00e9\t\"q\"","at":"2024-12-31T23:59:59.9999999Z","took":"00:00:00.0000001",)"
            R"("id":"ffffffff-ffff-ffff-ffff-ffffffffffff","extra":{"k":"v","n":[]}})"
            "\n"
            R"({"n":8,"big":null,"x":3,"extra":"plain string"})"
            "\n"));
  }

  static void TearDownTestSuite() {
    delete captured_;
    delete node_;
    delete dir_;
  }

  static http_answer mgmt(const std::string& db, const std::string& csl) {
    return post("/v1/rest/mgmt", ordered_json{{"db", db}, {"csl", csl}}.dump());
  }
  static http_answer query(const std::string& version, const std::string& csl) {
    return post("/" + version + "/rest/query", ordered_json{{"db", "Db"}, {"csl", csl}}.dump());
  }
  static http_answer post(const std::string& path, const std::string& body) {
    return request("POST", base_ + path, body,
                   {"Content-Type: application/json; charset=utf-8",
                    "x-ms-client-request-id: KNC.execute;golden"});
  }
  // `id` names the request: the node answers a second ingest with the same request id as the
  // retry of the first (deduplicated), so every ingest has its own.
  static http_answer ingest(const std::string& id, const std::string& table, const std::string& format,
                       const std::string& mapping, const std::string& data) {
    return request("POST",
                   base_ + "/v1/rest/ingest/Db/" + table + "?streamFormat=" + format +
                       (mapping.empty() ? "" : "&mappingName=" + mapping),
                   data,
                   {"Content-Type: application/octet-stream",
                    "x-ms-client-request-id: KNC.executeStreamingIngest;" + id});
  }

  // `a`'s status and Content-Type, then its golden text against golden/rest/<name>.json (or
  // written there, under TRIBUTARY_UPDATE_GOLDEN=1).
  static void expect_golden(const std::string& name, const http_answer& a, long status) {
    SCOPED_TRACE(name);
    EXPECT_EQ(a.status, status) << a.body;
    EXPECT_EQ(a.content_type, "application/json; charset=utf-8");
    const auto actual = golden_text(a.body);
    const auto file = golden_dir / (name + ".json");
    if (const char* update = std::getenv("TRIBUTARY_UPDATE_GOLDEN");
        update && std::string(update) == "1") {
      std::filesystem::create_directories(golden_dir);
      std::ofstream(file, std::ios::binary) << actual;
      return;
    }
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      ADD_FAILURE()
          << file << " does not exist; write it with\n  TRIBUTARY_UPDATE_GOLDEN=1 "
          << "build/tests/e2e/http_test --gtest_filter='http_golden*'\nthis run's answer:\n"
          << actual;
      return;
    }
    const std::string expected((std::istreambuf_iterator<char>(in)),
                               std::istreambuf_iterator<char>());
    if (expected != actual)
      ADD_FAILURE() << "the answer differs from " << file << ":\n"
                    << unified_diff(expected, actual, name + ".json")
                    << "if the change is intended (and still what Kusto's SDKs parse, "
                       "reference/kusto-rest.md), "
                       "regenerate with\n  TRIBUTARY_UPDATE_GOLDEN=1 build/tests/e2e/http_test "
                       "--gtest_filter='http_golden*'";
  }

  static http_answer captured(const std::string& name) { return captured_->at(name); }

  static inline temp_dir* dir_ = nullptr;
  static inline node_process* node_ = nullptr;
  static inline std::string base_;
  static inline std::map<std::string, http_answer>* captured_ = nullptr;
};

TEST_F(http_golden, management_commands_answer_v1_tables) {
  expect_golden("mgmt_create_database", captured("mgmt_create_database"), 200);
  expect_golden("mgmt_create_table", captured("mgmt_create_table"), 200);
  expect_golden("mgmt_create_mapping", captured("mgmt_create_mapping"), 200);
  expect_golden("mgmt_show_tables", mgmt("Db", ".show tables"), 200);
  expect_golden("mgmt_show_mappings", mgmt("Db", ".show table T ingestion mappings"), 200);
  expect_golden("mgmt_error", mgmt("Db", ".frobnicate table T"), 400);
  expect_golden("mgmt_error_missing_table", mgmt("Db", ".show table Nope ingestion mappings"), 400);
}

TEST_F(http_golden, v2_queries_answer_frames) {
  expect_golden("v2_query_all_types", query("v2", "T | order by l asc, i asc"), 200);
  expect_golden("v2_query_render",
                query("v2", "T | summarize n = count() by b | order by b asc | render piechart"),
                200);
  // Errors: the node answers every query error over HTTP, never in band (see the top).
  expect_golden("v2_query_unknown_table", query("v2", "Nope | count"), 400);
  expect_golden("v2_query_syntax_error", query("v2", "T | where"), 400);
  expect_golden("v2_query_truncated", query("v2", "set truncationmaxrecords=1; T"), 400);
  expect_golden("v2_query_command_refused", query("v2", ".show tables"), 400);
}

TEST_F(http_golden, v1_queries_answer_one_table) {
  expect_golden("v1_query_all_types", query("v1", "T | order by l asc, i asc"), 200);
  expect_golden("v1_query_error", query("v1", "Nope | count"), 400);
}

TEST_F(http_golden, streaming_ingest_answers) {
  expect_golden("ingest_ok", captured("ingest_ok"), 200);
  expect_golden("ingest_unknown_table", ingest("golden-nope", "Nope", "csv", "", "1\n"), 400);
  expect_golden("ingest_wrong_field_count", ingest("golden-fields", "T", "csv", "", "true,1\n"),
                400);
  expect_golden(
      "ingest_bad_value",
      ingest("golden-bad", "T", "csv", "", "true,notanumber,1,1.0,1,s,2024-01-01,00:00:01,,{}\n"),
      400);
  expect_golden(
      "ingest_zip_refused",
      ingest("golden-zip", "T", "csv", "", std::string("PK\x03\x04", 4) + "rest of a zip"), 400);
}

TEST_F(http_golden, auth_metadata_is_404_with_no_body) {
  // The SDKs take a 404 as "no cloud metadata: the public cloud's defaults" (§2).
  const auto metadata = request("GET", base_ + "/v1/rest/auth/metadata", "", {});
  EXPECT_EQ(metadata.status, 404);
  EXPECT_EQ(metadata.body, "");
}

// The probes answer JSON (a short body: the node once wrote it from a moved small string).
TEST_F(http_golden, ping_answers_json) {
  expect_golden("ping", request("GET", base_ + "/v1/rest/ping", "", {}), 200);
}

}  // namespace
}  // namespace tributary::testing
