// Kusto's own npm SDKs, unmodified (azure-kusto-data 7.0.4, azure-kusto-ingest 7.0.1, installed
// by scripts/kusto-sdk from the npm registry on first use), run tests/sdk/scenario.mjs against a
// real node's REST API: management commands, streaming ingestion of csv, tsv, json and multijson
// with a mapping, and a pre-gzipped file, queries in v2 and v1, the managed streaming client's
// retries (rows once), and the errors as the SDKs raise them against Azure Data Explorer
// (reference/kusto-rest.md §5): permanent ones as 400, throttling as ThrottlingError (429), the
// cluster's switch off as 404. Every row is then read back over Cap'n Proto too and compared.

#include <gtest/gtest.h>

#include <filesystem>
#include <cctype>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "client/client.hpp"
#include "tests/support/node_process.hpp"
#include "tests/support/outcomes.hpp"
#include "tests/support/run_process.hpp"

namespace tributary::testing {
namespace {

using json = nlohmann::json;
const std::string source_dir = TRIBUTARY_SOURCE_DIR;

TEST(kusto_sdk, the_npm_sdks_manage_stream_into_and_query_a_node_unmodified) {
  auto installed = run_process({"/bin/bash", source_dir + "/scripts/kusto-sdk"});
  // Installs the SDKs (and Node 20 where the machine's is older). Only a machine that cannot reach
  // the npm registry skips, said loudly; the REST API's own tests (http_test) still run.
  if (installed.exit_code != 0) GTEST_SKIP() << "Kusto's npm SDKs are not installed (scripts/kusto-sdk):\n" << installed.err;
  temp_dir dir;
  node_process node(dir.path() / "data", {"--streaming-ingestion=on"});
  // A second node that throttles every ingest: its bytes-in-flight limit is below the 4 KiB each
  // request counts for.
  node_process throttling(dir.path() / "throttling", {"--streaming-ingestion=on", "--max-ingest-bytes-in-flight=1K"});
  const auto url = [](const node_process& n) { return "http://127.0.0.1:" + std::to_string(n.http_port()); };
  // The script's last line: the Node (>= 20) to run the SDKs with.
  std::string node_bin = installed.out;
  while (!node_bin.empty() && std::isspace(static_cast<unsigned char>(node_bin.back()))) node_bin.pop_back();
  node_bin = node_bin.substr(node_bin.rfind('\n') + 1);
  auto ran = run_process({node_bin, source_dir + "/tests/sdk/scenario.mjs", url(node),
                          dir.path().string(), url(throttling)});
  ASSERT_EQ(ran.exit_code, 0) << ran.err << ran.out;
  std::map<std::string, json> steps;
  std::istringstream lines(ran.out);
  for (std::string line; std::getline(lines, line);)
    if (auto j = json::parse(line, nullptr, false); !j.is_discarded() && j.contains("step")) steps[j["step"]] = j;
  auto step = [&](const std::string& name) -> json {
    if (!steps.count(name)) {
      ADD_FAILURE() << "the scenario did not report step " << name << ":\n" << ran.out << ran.err;
      return json::object();
    }
    return steps[name];
  };
  // Everything that should work, works.
  for (const char* s : {"create", "ingest_csv_stream", "ingest_tsv_file", "ingest_gzip_file", "ingest_json_mapping",
                        "ingest_multijson_mapping", "query_v2", "query_v2_json", "query_v1", "query_properties",
                        "managed_stream", "managed_retry", "count_after_errors", "switch_off", "count_after_switch_off"})
    EXPECT_EQ(step(s).value("ok", false), true) << s << ": " << step(s).dump();
  EXPECT_EQ(step("create")["tables"], json::parse(R"(["J","Later","Off","T"])"));
  EXPECT_EQ(step("ingest_csv_stream")["consumed"], 2);
  const auto rows = step("query_v2")["rows"];
  ASSERT_EQ(rows.size(), 5u) << rows.dump();
  const char* first[] = {"one", "two", "three", "four", "five"};
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(rows[i]["a"], i + 1);
    EXPECT_EQ(rows[i]["b"], first[i]);
  }
  EXPECT_EQ(step("query_v2_json")["rows"].size(), 4u);
  EXPECT_EQ(step("query_v1")["rows"][0]["n"], 5);
  // Errors surface as the SDK raises them against Azure Data Explorer: permanent ones as HTTP 400
  // with Kusto's envelope, nothing ingested.
  for (const char* s : {"error_unknown_table_query", "error_unknown_table_ingest", "error_bad_data",
                        "error_too_large", "error_syntax", "error_policy_disabled"}) {
    const auto e = step(s);
    EXPECT_EQ(e.value("ok", true), false) << s << ": " << e.dump();
    EXPECT_EQ(e.value("status", 0), 400) << s << ": " << e.dump();
    if (e.contains("body") && e["body"].is_object()) {
      EXPECT_EQ(e["body"]["error"]["@permanent"], true) << s << ": " << e.dump();
    }
  }
  // Throttling: the SDK's ThrottlingError, from a 429 that says it is not permanent.
  const auto throttled = step("error_throttled");
  EXPECT_EQ(throttled.value("error", ""), "ThrottlingError") << throttled.dump();
  EXPECT_EQ(throttled.value("status", 0), 429) << throttled.dump();
  EXPECT_EQ(throttled["body"]["error"]["@permanent"], false) << throttled.dump();
  // The managed client: its first attempt met the disabled policy, its retry a second later the
  // enabled one; the three rows are there once.
  EXPECT_EQ(step("managed_stream")["count"], 6);
  EXPECT_EQ(step("managed_retry")["count"], 3);
  EXPECT_GE(step("managed_retry").value("ms", 0), 900) << "the first attempt should have failed and been retried";
  // After three failed attempts it falls back to queued ingestion, which the node refuses clearly.
  const auto fallback = step("managed_fallback_refused");
  EXPECT_EQ(fallback.value("ok", true), false);
  EXPECT_NE(fallback.value("message", "").find("ingestion resources"), std::string::npos) << fallback.dump();
  EXPECT_EQ(step("count_after_errors")["rows"][0]["Count"], 6);
  // The cluster's switch off: 404 on the ingest endpoint, as Kusto answers it; nothing lost.
  EXPECT_EQ(step("error_switch_off").value("status", 0), 404) << step("error_switch_off").dump();
  EXPECT_EQ(step("count_after_switch_off")["count"], 6);
  EXPECT_EQ(step("count_after_switch_off")["later"], 3);
  // The same rows over Cap'n Proto.
  client::connection c(node.rpc_address());
  auto t = ok(c.query("SdkDb", "T | order by a asc | project a, b"));
  ASSERT_EQ(t.rows.size(), 6u);
  const char* names[] = {"one", "two", "three", "four", "five", "six"};
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(std::get<int64_t>(t.rows[i][0]), static_cast<int64_t>(i + 1));
    EXPECT_EQ(std::get<std::string>(t.rows[i][1]), names[i]);
  }
}

}  // namespace
}  // namespace tributary::testing
