// Bad input through a real node: 10,000 management commands generated from a fixed-seed PRNG
// (valid commands covering every verb of the catalog, mutated byte by byte) must each get a
// result table or a structured error, and the node must stay up and keep answering.
//
// A failure prints the seed, the request number and the exact bytes sent, so it replays.

#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "client/client.hpp"
#include "tests/support/node_process.hpp"
#include "tests/support/printable.hpp"

namespace tributary::testing {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;

constexpr uint64_t base_seed = 0x7269'6275'7461'7279;  // "ributary"
constexpr int total_requests = 10'000;
constexpr int check_every = 1'000;
constexpr size_t max_request_bytes = 16 * 1024;
// Longer than any command should take, even one that fsyncs the catalog on a slow disk.
constexpr auto stall_limit = 20s;

const std::string fuzz_db = "Fuzz";

// Valid commands: every management verb of issue 2, with names the setup created (so many
// succeed) and scratch names (so creates and drops both happen).
const std::vector<std::string>& corpus() {
  static const std::vector<std::string> commands = [] {
    std::vector<std::string> c = {
        ".create database Fuzz ifnotexists",
        ".create database Scratch",
        ".create database Scratch ifnotexists",
        ".drop database Scratch",
        ".drop database Scratch ifexists",
        ".show databases",
        ".create table Logs (ts:datetime, level:string, msg:string, n:long)",
        ".create table Scratch (a:int, b:string, c:bool, d:real, e:decimal, f:guid, g:timespan, "
        "h:dynamic, i:long, j:datetime)",
        ".create table Aliases (a:boolean, b:date, c:double, d:time, e:uuid, f:uniqueid)",
        ".create table ['odd name.with-chars'] (['a b']:int, c:string)",
        ".create table Scratch2 (a:int) with (folder='Fuzz', docstring='scratch table')",
        ".create-merge table Logs (ts:datetime, level:string, msg:string, n:long, extra:dynamic)",
        ".create-merge table Scratch (a:int, z:string)",
        ".drop table Scratch",
        ".drop table Scratch ifexists",
        ".drop table ['odd name.with-chars']",
        ".show tables",
        ".show table Logs",
        ".show table Metrics details",
        ".show table Logs details",
        R"(.create table Logs ingestion csv mapping 'csv2' '[{"Column":"ts","Properties":{"Ordinal":"0"}},{"Column":"msg","Properties":{"Ordinal":"2"}}]')",
        R"(.create table Logs ingestion json mapping 'json2' '[{"Column":"ts","Properties":{"Path":"$.ts"}},{"Column":"msg","Properties":{"Path":"$['msg text']"}}]')",
        R"(.create table Metrics ingestion json mapping "jm" ```[{"Column":"name","Properties":{"Path":"$.name"}},{"Column":"v","Properties":{"Path":"$.v"}}]```)",
        R"(.create-or-alter table Logs ingestion csv mapping 'csv1' '[{"Column":"level","Properties":{"ConstValue":"info"}}]')",
        R"(.create table Logs ingestion csv mapping 'bad' '[{"Column":"nosuchcolumn","Properties":{"Ordinal":"0"}}]')",
        ".show table Logs ingestion csv mappings",
        ".show table Logs ingestion json mappings",
        ".show table Logs ingestion mappings",
        ".show table Logs ingestion csv mapping 'csv1'",
        ".drop table Logs ingestion csv mapping 'csv2'",
        ".drop table Logs ingestion json mapping 'json2'",
        ".alter table Logs policy streamingingestion enable",
        ".alter table Logs policy streamingingestion disable",
        R"(.alter table Logs policy streamingingestion '{"IsEnabled": true, "HintAllocatedRate": 2.5}')",
        R"(.alter table Metrics policy streamingingestion '{"IsEnabled": false}')",
        R"(.alter-merge table Logs policy streamingingestion '{"HintAllocatedRate": null}')",
        R"(.alter-merge table Logs policy streamingingestion '{"IsEnabled": false}')",
        ".delete table Logs policy streamingingestion",
        ".show table Logs policy streamingingestion",
        ".alter database Fuzz policy streamingingestion enable",
        ".alter database Fuzz policy streamingingestion disable",
        R"(.alter database Fuzz policy streamingingestion '{"IsEnabled": false, "HintAllocatedRate": 0}')",
        R"(.alter-merge database Fuzz policy streamingingestion '{"HintAllocatedRate": 1.5}')",
        ".delete database Fuzz policy streamingingestion",
        ".show database Fuzz policy streamingingestion",
        ".show cluster policy streamingingestion",
        ".alter cluster policy streamingingestion enable",
        // Succeeds only while no policy exists; then policy commands fail until it is enabled
        // again. Either way every answer must still be a table or a structured error.
        ".alter cluster policy streamingingestion disable",
    };
    // Names at and past Kusto's 1024-character limit.
    c.push_back(".create table " + std::string(1024, 'n') + " (a:int)");
    c.push_back(".create table " + std::string(1100, 'n') + " (a:int)");
    // Deeply nested JSON, for parsers that recurse.
    c.push_back(".alter table Logs policy streamingingestion '" + std::string(4000, '[') +
                std::string(4000, ']') + "'");
    c.push_back(".create table Logs ingestion json mapping 'deep' '" + std::string(4000, '{') +
                "'");
    return c;
  }();
  return commands;
}

const std::vector<std::string>& queries() {
  static const std::vector<std::string> q = {
      "Logs", "Logs | take 10", "Logs | where level == 'error' | count", "print 1",
      "Metrics | summarize avg(v) by name", ".show tables"};
  return q;
}

// What mutations insert: quotes, brackets, separators, NUL, control characters, valid UTF-8
// from several planes, and invalid UTF-8 (stray continuation, truncated sequence, overlong
// encoding, surrogate, 0xff).
const std::vector<std::string>& fragments() {
  static const std::vector<std::string> f = {
      "'", "\"", "```", "[", "]", "['", "']", "(", ")", "{", "}", ",", ":", ";", "|", "=",
      "\\", "\\'", "$", "$.", "//", "\n", "\r\n", "\t", " ", "  ", "\0"s, "\0\0"s, "\x01",
      "\x7f", "\x1b[2J", "é", "漢字", "🙂", "\u200b", "\xff", "\x80", "\xc3\x28", "\xe2\x82",
      "\xf0\x9f", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", ".create", ".drop", ".show",
      ".alter", "table", "database", "policy", "streamingingestion", "ingestion", "mapping",
      "csv", "json", "enable", "disable", "ifnotexists", "ifexists", "details", "with",
      "IsEnabled", "HintAllocatedRate", "null", "true", "-1", "1e309", "NaN"};
  return f;
}

const std::vector<std::string>& numbers() {
  static const std::vector<std::string> n = {
      "0", "-1", "-0", "99999999999999999999999", "1e309", "NaN", "4294967296",
      "1.7976931348623157e308", "0x10", "1_000", ""};
  return n;
}

// One request of the run.
struct request {
  bool as_query = false;
  std::string database;
  std::string text;
};

// Deterministic for a seed on every platform: mt19937_64's output is fixed by the standard,
// and we reduce it with % rather than with distributions, whose algorithms are not.
class generator {
 public:
  explicit generator(uint64_t seed) : rng_(seed) {}

  request next() {
    request r;
    r.as_query = below(10) == 0;
    switch (below(20)) {
      case 0: r.database = ""; break;
      case 1: r.database = "NoSuchDb"; break;
      case 2: r.database = mutate(fuzz_db); break;
      default: r.database = fuzz_db;
    }
    const auto& source = r.as_query && below(2) ? queries() : corpus();
    r.text = source[below(source.size())];
    if (below(20) != 0) r.text = mutate(std::move(r.text));  // 1 in 20 goes out intact
    return r;
  }

 private:
  size_t below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(rng_() % n); }

  std::string mutate(std::string s) {
    for (size_t ops = 1 + below(3); ops > 0; --ops) {
      switch (below(9)) {
        case 0:  // change bytes
          for (size_t n = 1 + below(4); n > 0 && !s.empty(); --n)
            s[below(s.size())] = static_cast<char>(rng_() & 0xff);
          break;
        case 1:  // drop a span
          if (!s.empty()) {
            size_t at = below(s.size());
            s.erase(at, 1 + below(std::min<size_t>(8, s.size() - at)));
          }
          break;
        case 2:  // repeat a span
          if (!s.empty()) {
            size_t at = below(s.size());
            std::string span = s.substr(at, 1 + below(std::min<size_t>(32, s.size() - at)));
            for (size_t n = 1 + below(5); n > 0; --n) s.insert(at, span);
          }
          break;
        case 3:  // insert a fragment
          s.insert(below(s.size() + 1), fragments()[below(fragments().size())]);
          break;
        case 4:  // truncate
          s.resize(below(s.size() + 1));
          break;
        case 5: {  // splice with another command
          const auto& other = corpus()[below(corpus().size())];
          s = s.substr(0, below(s.size() + 1)) + other.substr(below(other.size() + 1));
          break;
        }
        case 6: {  // replace a word with a keyword, a quote or garbage
          size_t at = below(s.size() + 1);
          size_t begin = s.rfind(' ', at == 0 ? 0 : at - 1);
          begin = begin == std::string::npos ? 0 : begin + 1;
          size_t end = std::min(s.find(' ', begin), s.size());
          s.replace(begin, end - begin, fragments()[below(fragments().size())]);
          break;
        }
        case 7: {  // flip the case of a letter
          for (size_t tries = 0; tries < 8 && !s.empty(); ++tries) {
            auto& c = s[below(s.size())];
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
              c = static_cast<char>(c ^ 0x20);
              break;
            }
          }
          break;
        }
        case 8: {  // replace a number with a boundary value
          size_t at = s.find_first_of("0123456789", below(s.size() + 1));
          if (at == std::string::npos) at = s.find_first_of("0123456789");
          if (at == std::string::npos) break;
          size_t end = s.find_first_not_of("0123456789.", at);
          s.replace(at, (end == std::string::npos ? s.size() : end) - at,
                    numbers()[below(numbers().size())]);
          break;
        }
      }
    }
    if (s.size() > max_request_bytes) s.resize(max_request_bytes);
    return s;
  }

  std::mt19937_64 rng_;
};

// Why an answer breaks the contract, or nullopt when it is a table or a proper error.
std::optional<std::string> violation(const request& r, const model::outcome& outcome) {
  const auto* e = std::get_if<model::error>(&outcome);
  if (!e) return std::nullopt;
  if (e->code == "ConnectionFailed") return "transport failure: " + e->message;
  if (e->code.empty()) return "error without a code: " + e->message;
  if (e->message.empty()) return "error " + e->code + " without a message";
  // An actor that failed inside the node: a bug the input exposed, not a user error.
  if (e->code == "InternalServerError") return "internal error: " + e->message;
  // Issue 2: a malformed command's error names the position. (Queries have no grammar yet.)
  if (!r.as_query && e->code == "BadRequest_SyntaxError" &&
      (e->message.find("line ") == std::string::npos ||
       e->message.find("column ") == std::string::npos))
    return "syntax error without a position: " + e->message;
  return std::nullopt;
}

// What every client thread reports into. Thread-safe.
class run_state {
 public:
  explicit run_state(node_process& node) : node_(node), node_pid_(node.pid()) {}

  // Counts one answer; records why it breaks the contract, if it does.
  // Returns false when the node is unreachable: the rest of the run would only repeat that.
  bool answered(uint64_t seed, int index, const request& r, const model::outcome& outcome,
                std::chrono::steady_clock::duration took) {
    progress_ = std::chrono::steady_clock::now().time_since_epoch().count();
    std::lock_guard lock(mutex_);
    slowest_ = std::max(slowest_, took);
    if (const auto* e = std::get_if<model::error>(&outcome))
      ++errors_[e->code];
    else
      ++results_;
    auto why = violation(r, outcome);
    if (!why) return true;
    note_failure("seed " + std::to_string(seed) + ", request " + std::to_string(index) + " (" +
                 (r.as_query ? "query" : "command") + ", database \"" + printable(r.database, 400) +
                 "\", text \"" + printable(r.text, 400) + "\"): " + *why);
    return std::get<model::error>(outcome).code != "ConnectionFailed";
  }

  // The node is alive and a known-good command still works. Returns false if not.
  bool healthy(client::connection& c, const std::string& when) {
    {
      std::lock_guard lock(node_mutex_);
      if (!node_.running()) {
        std::lock_guard lock2(mutex_);
        note_failure(when + ": tributaryd is no longer running");
        return false;
      }
    }
    for (const auto& [db, text] : {std::pair<std::string, std::string>{"", ".show databases"},
                                   {"", ".show cluster policy streamingingestion"}}) {
      auto outcome = c.command(db, text);
      if (const auto* e = std::get_if<model::error>(&outcome)) {
        std::lock_guard lock(mutex_);
        note_failure(when + ": known-good '" + text + "' failed: " + e->code + ": " + e->message);
        return false;
      }
    }
    return true;
  }

  // Runs until stop(): if no answer arrives for stall_limit, records the stall and kills the
  // node, so the blocked calls fail instead of hanging the test until ctest's timeout.
  void watch() {
    while (!stopping_.load()) {
      std::this_thread::sleep_for(200ms);
      auto idle = std::chrono::steady_clock::now().time_since_epoch() -
                  std::chrono::steady_clock::duration(progress_.load());
      if (idle < stall_limit) continue;
      std::lock_guard lock(node_mutex_);
      if (node_.running()) {
        {
          std::lock_guard lock2(mutex_);
          note_failure("no answer for " + std::to_string(stall_limit.count()) +
                       " s: killing tributaryd (the failures that follow name the requests "
                       "in flight)");
        }
        ::kill(node_pid_, SIGKILL);
      }
      return;
    }
  }
  void start_watch() {
    progress_ = std::chrono::steady_clock::now().time_since_epoch().count();
    stopping_ = false;
    watchdog_ = std::thread([this] { watch(); });
  }
  void stop_watch() {
    stopping_ = true;
    if (watchdog_.joinable()) watchdog_.join();
  }

  // Reports into gtest; call from the test's thread once every client thread has finished.
  void report(std::chrono::steady_clock::duration took) {
    for (const auto& f : failures_) ADD_FAILURE() << f;
    if (failure_count_ > failures_.size())
      ADD_FAILURE() << (failure_count_ - failures_.size()) << " more failures not shown";
    size_t errors = 0;
    for (const auto& [code, n] : errors_) errors += n;
    std::cout << "bad input: " << (results_ + errors) << " requests in "
              << std::chrono::duration<double>(took).count() << " s (slowest answer "
              << std::chrono::duration<double, std::milli>(slowest_).count() << " ms): "
              << results_ << " result tables, " << errors << " errors\n";
    for (const auto& [code, n] : errors_) std::cout << "  " << n << "\t" << code << "\n";
    EXPECT_GE(results_ + errors, static_cast<size_t>(total_requests));
    // The generator must exercise both paths, or the run proves little.
    EXPECT_GE(results_, 100u) << "too few commands succeeded";
    EXPECT_GE(errors_["BadRequest_SyntaxError"], 1000u) << "too few syntax errors";
  }

 private:
  void note_failure(std::string what) {  // mutex_ held
    if (++failure_count_ <= 20) failures_.push_back(std::move(what));
  }

  node_process& node_;
  const int node_pid_;
  std::mutex node_mutex_;  // node_process is not thread-safe
  std::mutex mutex_;
  size_t results_ = 0;
  std::map<std::string, size_t> errors_;
  std::vector<std::string> failures_;
  size_t failure_count_ = 0;
  std::chrono::steady_clock::duration slowest_{};
  std::atomic<std::chrono::steady_clock::rep> progress_{0};
  std::atomic<bool> stopping_{false};
  std::thread watchdog_;
};

void must_succeed(client::connection& c, const std::string& database, const std::string& text) {
  auto outcome = c.command(database, text);
  if (const auto* e = std::get_if<model::error>(&outcome))
    FAIL() << text << " → " << e->code << ": " << e->message;
}

// A database with tables, mappings and policies at both levels, so mutated commands hit
// existing objects as well as missing ones.
void populate(client::connection& c) {
  must_succeed(c, "", ".create database Fuzz");
  must_succeed(c, fuzz_db, ".create table Logs (ts:datetime, level:string, msg:string, n:long)");
  must_succeed(c, fuzz_db, ".create table Metrics (name:string, v:real, tags:dynamic)");
  must_succeed(c, fuzz_db,
               R"(.create table Logs ingestion csv mapping 'csv1' '[{"Column":"ts","Properties":{"Ordinal":"0"}},{"Column":"level","Properties":{"Ordinal":"1"}}]')");
  must_succeed(c, fuzz_db,
               R"(.create table Logs ingestion json mapping 'json1' '[{"Column":"msg","Properties":{"Path":"$.msg"}}]')");
  must_succeed(c, fuzz_db, ".alter database Fuzz policy streamingingestion enable");
  must_succeed(c, fuzz_db,
               R"(.alter table Metrics policy streamingingestion '{"IsEnabled": true, "HintAllocatedRate": 1}')");
}

// Sends `count` generated requests over one connection. `sent` counts requests across all
// threads; whoever sends a multiple of check_every runs the health check.
void send_share(const std::string& address, uint64_t seed, int count, std::atomic<int>& sent,
                run_state& state) {
  client::connection c(address);
  generator gen(seed);
  for (int i = 0; i < count; ++i) {
    auto r = gen.next();
    auto start = std::chrono::steady_clock::now();
    auto outcome = r.as_query ? c.query(r.database, r.text) : c.command(r.database, r.text);
    if (!state.answered(seed, i, r, outcome, std::chrono::steady_clock::now() - start)) return;
    int n = ++sent;
    if (n % check_every == 0 && !state.healthy(c, "after " + std::to_string(n) + " requests"))
      return;
  }
}

void run(int threads) {
  temp_dir dir;
  node_process node(dir.path() / "data", {"--streaming-ingestion=on"});
  {
    client::connection c(node.rpc_address());
    populate(c);
  }
  if (::testing::Test::HasFatalFailure()) return;

  run_state state(node);
  std::atomic<int> sent{0};
  auto start = std::chrono::steady_clock::now();
  state.start_watch();
  std::vector<std::thread> clients;
  for (int t = 0; t < threads; ++t)
    clients.emplace_back([&, t] {
      send_share(node.rpc_address(), base_seed + static_cast<uint64_t>(t),
                 total_requests / threads, sent, state);
    });
  for (auto& c : clients) c.join();
  state.stop_watch();
  auto took = std::chrono::steady_clock::now() - start;
  {
    client::connection c(node.rpc_address());
    state.healthy(c, "at the end");
  }
  state.report(took);
  EXPECT_EQ(node.stop(), 0) << "tributaryd must still shut down cleanly on SIGTERM";
}

TEST(bad_input, every_mutated_command_gets_a_table_or_a_structured_error) { run(1); }

TEST(bad_input, four_concurrent_clients_get_a_table_or_a_structured_error) { run(4); }

}  // namespace
}  // namespace tributary::testing
