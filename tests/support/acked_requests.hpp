#pragma once
/// Test helpers: the workload of the crash and power-loss tests (tests/e2e/crash_test.cpp,
/// powerloss_test.cpp) and its check. Request i holds `rows_per_request` CSV rows
/// `i,k,payload <i*31+k>` for table Db.T under request id "req-<i>", so a table read back after a
/// kill shows for every row which request it came from and whether its payload is intact.

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>

#include "client/client.hpp"
#include "tests/support/node_process.hpp"

namespace tributary::testing {

/// Rows in every numbered request.
inline constexpr int rows_per_request = 7;

/// Creates database Db and table T (req:long, k:long, payload:string) with streaming ingestion
/// enabled on `node`. A fatal test failure when a command fails: call it in
/// ASSERT_NO_FATAL_FAILURE.
inline void create_request_table(node_process& node) {
  client::connection c(node.rpc_address());
  ASSERT_TRUE(std::holds_alternative<model::result_table>(c.command("", ".create database Db")));
  ASSERT_TRUE(std::holds_alternative<model::result_table>(
      c.command("Db", ".create table T (req:long, k:long, payload:string)")));
  ASSERT_TRUE(std::holds_alternative<model::result_table>(
      c.command("Db", ".alter table T policy streamingingestion enable")));
}

/// Request `i` into Db.T: `rows_per_request` rows, request id "req-<i>" (the same on a retry).
inline client::ingest_request numbered_request(int i) {
  client::ingest_request r;
  r.database = "Db";
  r.table = "T";
  r.fmt = client::format::csv;
  r.request_id = "req-" + std::to_string(i);
  for (int k = 0; k < rows_per_request; ++k)
    r.data += std::to_string(i) + "," + std::to_string(k) + ",payload " + std::to_string(i * 31 + k) + "\n";
  return r;
}

/// The i of a request built by numbered_request(i).
inline int request_number(const client::ingest_request& r) { return std::stoi(r.request_id.substr(4)); }

/// Reads the whole table Db.T from `node` (restarted after a kill or a power loss) and checks:
/// every acknowledged request is there exactly once with its payloads; a request in doubt (sent,
/// answer lost) is there whole once or not at all; nothing else is there; `T | count` agrees with
/// the rows read. `when` starts every failure message ("after power loss 2"). A fatal test failure
/// when a query fails: call it in ASSERT_NO_FATAL_FAILURE when later steps need the table.
inline void expect_acknowledged_rows(node_process& node, const std::set<int>& acked, const std::set<int>& in_doubt,
                                     std::string_view when) {
  client::connection c(node.rpc_address());
  auto out = c.query("Db", "T | take 10000000");
  ASSERT_TRUE(std::holds_alternative<model::result_table>(out))
      << when << ": " << std::get<model::error>(out).message;
  std::map<int, std::set<int>> seen;
  std::map<int, int> copies;
  size_t wrong_payloads = 0;
  const auto& rows = std::get<model::result_table>(out).rows;
  for (const auto& row : rows) {
    const int req = static_cast<int>(std::get<int64_t>(row[0]));
    const int k = static_cast<int>(std::get<int64_t>(row[1]));
    seen[req].insert(k);
    ++copies[req];
    wrong_payloads += std::get<std::string>(row[2]) != "payload " + std::to_string(req * 31 + k);
  }
  EXPECT_EQ(wrong_payloads, 0u) << when << ": every row's payload is the one ingested";
  auto copies_of = [&](int i) { return copies.count(i) ? copies.at(i) : 0; };
  size_t lost = 0;
  for (int i : acked) lost += copies_of(i) != rows_per_request;
  EXPECT_EQ(lost, 0u) << when << ": " << lost << " of " << acked.size()
                      << " acknowledged requests lost rows (acknowledged before it was durable, or an "
                         "extent registered before its file was?)";
  for (int i : acked) {
    if (copies_of(i) == rows_per_request) continue;
    ADD_FAILURE() << when << ": acknowledged request " << i << " has " << copies_of(i) << " rows instead of "
                  << rows_per_request;
    break;  // one example; the count is above
  }
  for (const auto& [req, n] : copies) {
    EXPECT_TRUE(acked.count(req) || in_doubt.count(req))
        << when << ": request " << req << " is present but was neither acknowledged nor in doubt";
    EXPECT_EQ(seen[req].size(), static_cast<size_t>(rows_per_request))
        << when << ": request " << req << " is half-present";
    EXPECT_EQ(n, rows_per_request) << when << ": request " << req << " is present " << n << " times";
  }
  auto count = c.query("Db", "T | count");
  ASSERT_TRUE(std::holds_alternative<model::result_table>(count)) << std::get<model::error>(count).message;
  EXPECT_EQ(std::get<int64_t>(std::get<model::result_table>(count).rows.at(0).at(0)),
            static_cast<int64_t>(rows.size()))
      << when << ": the count (extent registry + rowstore) agrees with the rows read";
}

}  // namespace tributary::testing
