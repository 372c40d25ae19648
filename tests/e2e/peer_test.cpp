// The node-to-node side of query fan-out against one real node: the internal Peer interface
// (Tributary.peer → Peer.queryShard) answers this node's shard; the peer pool (node/peer_pool.hpp)
// run in this process calls it, and reports refused, stopped and overloaded nodes as missing
// with their reason; the CLI goes on with the next --node when one cannot be reached.
// The fan-out across several nodes needs the cluster's catalog and is tested with it.

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <capnp/ez-rpc.h>
#include <csignal>
#include <fstream>
#include <kj/async-io.h>
#include <kj/vector.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/client.hpp"
#include "monitoring/metrics.hpp"
#include "node/peer_pool.hpp"
#include "schema/convert.hpp"
#include "tests/support/exposition.hpp"
#include "tests/support/node_process.hpp"
#include "tests/support/outcomes.hpp"
#include "tests/support/run_process.hpp"

namespace tributary::testing {
namespace {

using namespace std::chrono_literals;

// A bare Cap'n Proto connection to the node, holding its Peer capability.
struct peer_connection {
  static capnp::ReaderOptions options() {
    capnp::ReaderOptions o;
    o.traversalLimitInWords = uint64_t{1} << 30;
    return o;
  }
  explicit peer_connection(const std::string& address)
      : rpc(address, 0, options()),
        peer(rpc.getMain<wire::Tributary>().peerRequest().send().getPeer()) {}

  model::outcome query_shard(const std::string& database, const std::string& text) {
    auto req = peer.queryShardRequest();
    req.setDatabase(database);
    req.setText(text);
    return wire::from_wire(req.send().wait(rpc.getWaitScope()).getResult());
  }

  capnp::EzRpcClient rpc;
  wire::Peer::Client peer;
};

// A loopback port nothing listens on (bound, then closed).
uint16_t closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

std::string csv_rows(int from, int n) {
  std::string s;
  for (int i = from; i < from + n; ++i) s += std::to_string(i) + ",row " + std::to_string(i) + "\n";
  return s;
}

// One node with table Db.T (a:long, s:string) holding 10 rows.
class peer_test : public ::testing::Test {
 protected:
  void SetUp() override {
    node_ = std::make_unique<node_process>(dir_.path() / "data", std::vector<std::string>{"--streaming-ingestion=on"});
    client::connection c(node_->rpc_address());
    ok(c.command("", ".create database Db"));
    ok(c.command("Db", ".create table T (a:long, s:string)"));
    ok(c.command("Db", ".alter table T policy streamingingestion enable"));
    client::ingest_request r;
    r.database = "Db";
    r.table = "T";
    r.data = csv_rows(0, 10);
    auto answer = c.ingest(r);
    ASSERT_TRUE(std::holds_alternative<client::ingest_ack>(answer)) << std::get<model::error>(answer).message;
  }

  int64_t count(const std::string& text = "T | count") {
    client::connection c(node_->rpc_address());
    return long_cell(ok(c.query("Db", text)), "Count");
  }

  temp_dir dir_;
  std::unique_ptr<node_process> node_;
};

TEST_F(peer_test, query_shard_answers_this_nodes_shard) {
  peer_connection p(node_->rpc_address());
  EXPECT_EQ(long_cell(ok(p.query_shard("Db", "T | count")), "Count"), 10);
  auto taken = ok(p.query_shard("Db", "T | take 3"));
  EXPECT_EQ(taken.rows.size(), 3u);
  ASSERT_EQ(taken.columns.size(), 2u);
  EXPECT_EQ(taken.columns[0].name, "a");
  EXPECT_EQ(taken.columns[1].type, model::column_type::string);
  EXPECT_EQ(long_cell(ok(p.query_shard("Db", "set best_effort=true; T | count")), "Count"), 10);
  EXPECT_EQ(ok(p.query_shard("Db", "T | where ingestion_time() > ago(1h)")).rows.size(), 10u);
}

TEST_F(peer_test, query_shard_answers_errors_as_the_query_does) {
  peer_connection p(node_->rpc_address());
  client::connection c(node_->rpc_address());
  auto missing = failed(p.query_shard("Db", "Nope | count"));
  EXPECT_EQ(missing, failed(c.query("Db", "Nope | count")));
  EXPECT_TRUE(missing.permanent);
  auto syntax = failed(p.query_shard("Db", "set nope=1; T | count"));
  EXPECT_EQ(syntax.code, "BadRequest_SyntaxError");
  EXPECT_NE(syntax.message.find("'nope'"), std::string::npos) << syntax.message;
  auto too_long = failed(p.query_shard("Db", std::string(2u << 20, ' ') + "T | count"));
  EXPECT_EQ(too_long.code, "BadRequest_FieldTooLong");
  EXPECT_NE(too_long.message.find("queryShard request's text"), std::string::npos) << too_long.message;
}

TEST_F(peer_test, a_node_alone_answers_queries_without_warnings_and_accepts_best_effort) {
  client::connection c(node_->rpc_address());
  auto answer = c.query_with_warnings("Db", "set best_effort=true; T | count");
  EXPECT_EQ(long_cell(ok(answer.outcome), "Count"), 10);
  EXPECT_TRUE(answer.warnings.empty());
  EXPECT_TRUE(c.query_with_warnings("Db", "T | take 2").warnings.empty());
  auto exposition = http_get(node_->metrics_port(), "/metrics");
  EXPECT_EQ(sample(exposition, "tributary_peer_calls_total{result=\"ok\"}"), 0.0);
  EXPECT_EQ(sample(exposition, "tributary_peer_calls_total{result=\"unavailable\"}"), 0.0);
  EXPECT_EQ(sample(exposition, "tributary_query_partial_failures_total{best_effort=\"false\"}"), 0.0);
  EXPECT_EQ(sample(exposition, "tributary_peer_call_seconds_count"), 0.0);
}

// The pool as the fan-out uses it, on an event loop of this process.
struct pool_fixture {
  explicit pool_fixture(node::peer_pool::options o) : io(kj::setupAsyncIo()), pool(*io.provider, o, probe) {}
  node::shard_call call(const std::string& address, const std::string& text = "T | count") {
    return pool.query_shard(address, "Db", text).wait(io.waitScope);
  }
  kj::AsyncIoContext io;
  monitoring::rpc_probe probe;  // detached
  node::peer_pool pool;
};

int64_t count_of(const node::shard_call& c) {
  if (!c.answer) {
    ADD_FAILURE() << "no answer: " << c.failure;
    return -1;
  }
  return long_cell(ok(*c.answer), "Count");
}

TEST_F(peer_test, the_pool_calls_a_node_and_many_calls_share_it) {
  pool_fixture f({.timeout = 10s});
  EXPECT_EQ(count_of(f.call(node_->rpc_address())), 10);
  kj::Vector<kj::Promise<node::shard_call>> calls;
  for (int i = 0; i < 20; ++i) calls.add(f.pool.query_shard(node_->rpc_address(), "Db", "T | take 4"));
  for (auto& c : kj::joinPromises(calls.releaseAsArray()).wait(f.io.waitScope)) {
    ASSERT_TRUE(c.answer) << c.failure;
    EXPECT_EQ(ok(*c.answer).rows.size(), 4u);
  }
  // An error the node answers is an answer, not a failed call.
  auto missing = f.call(node_->rpc_address(), "Nope | count");
  ASSERT_TRUE(missing.answer) << missing.failure;
  EXPECT_TRUE(failed(*missing.answer).permanent);
  EXPECT_EQ(count_of(f.call(node_->rpc_address())), 10);
}

TEST_F(peer_test, the_pool_reports_a_node_nobody_listens_for_as_not_reachable) {
  pool_fixture f({.timeout = 10s});
  auto c = f.call("127.0.0.1:" + std::to_string(closed_port()));
  EXPECT_FALSE(c.answer);
  EXPECT_EQ(c.failure.rfind("not reachable: ", 0), 0u) << c.failure;
  EXPECT_NE(c.failure.find("refused"), std::string::npos) << c.failure;
}

TEST_F(peer_test, the_pool_times_out_a_stopped_node_and_reconnects_once_it_runs_again) {
  pool_fixture f({.timeout = 1s});
  // On a loaded machine (CI runs suites side by side) one call may itself take longer than the
  // timeout; what is tested is the stopped node, so the calls around it may be tried again.
  const auto answered_within_tries = [&f, this] {
    node::shard_call c;
    for (int attempt = 0; attempt < 5 && !c.answer; ++attempt) c = f.call(node_->rpc_address());
    return c;
  };
  EXPECT_EQ(count_of(answered_within_tries()), 10);
  ASSERT_EQ(::kill(node_->pid(), SIGSTOP), 0);
  const auto start = std::chrono::steady_clock::now();
  auto stopped = f.call(node_->rpc_address());
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(::kill(node_->pid(), SIGCONT), 0);
  EXPECT_FALSE(stopped.answer);
  EXPECT_EQ(stopped.failure, "timed out after 1000 ms");
  // KJ's timer counts from the event loop's last look at the clock, which may be a little earlier
  // than the call.
  EXPECT_GE(took, 800ms);
  EXPECT_LT(took, 5s);
  EXPECT_EQ(count_of(answered_within_tries()), 10);
}

TEST_F(peer_test, the_pool_reports_a_node_gone_and_calls_it_again_when_back) {
  pool_fixture f({.timeout = 10s});
  EXPECT_EQ(count_of(f.call(node_->rpc_address())), 10);
  const auto address = node_->rpc_address();
  node_->kill();
  auto gone = f.call(address);
  EXPECT_FALSE(gone.answer);
  EXPECT_EQ(gone.failure.rfind("not reachable: ", 0), 0u) << gone.failure;
  node_->restart();  // on another port
  EXPECT_EQ(count_of(f.call(node_->rpc_address())), 10);
}

TEST_F(peer_test, the_pool_bounds_the_calls_outstanding_to_one_node) {
  pool_fixture f({.timeout = 10s, .max_outstanding_per_peer = 2});
  kj::Vector<kj::Promise<node::shard_call>> calls;
  for (int i = 0; i < 3; ++i) calls.add(f.pool.query_shard(node_->rpc_address(), "Db", "T | count"));
  auto answers = kj::joinPromises(calls.releaseAsArray()).wait(f.io.waitScope);
  EXPECT_EQ(count_of(answers[0]), 10);
  EXPECT_EQ(count_of(answers[1]), 10);
  EXPECT_FALSE(answers[2].answer);
  EXPECT_EQ(answers[2].failure.rfind("overloaded: 2 calls", 0), 0u) << answers[2].failure;
  // Slots free again once answered.
  EXPECT_EQ(count_of(f.call(node_->rpc_address())), 10);
}

TEST_F(peer_test, the_cli_goes_on_with_the_next_node_when_one_cannot_be_reached) {
  const std::string dead = "127.0.0.1:" + std::to_string(closed_port());
  auto q = run_process({binary_path("tributary").string(), "--node", dead + "," + node_->rpc_address(), "-d", "Db",
                        "--format", "csv", "query", "T | count"});
  EXPECT_EQ(q.exit_code, 0) << q.err;
  EXPECT_NE(q.out.find("10"), std::string::npos) << q.out;
  EXPECT_NE(q.err.find("warning: cannot reach tributaryd at " + dead), std::string::npos) << q.err;

  const auto file = dir_.path() / "more.csv";
  std::ofstream(file) << csv_rows(100, 25);
  auto in = run_process({binary_path("tributary").string(), "--node", dead, "--node", node_->rpc_address(), "-d",
                         "Db", "ingest", "--table", "T", file.string()});
  EXPECT_EQ(in.exit_code, 0) << in.err;
  EXPECT_NE(in.err.find("warning: cannot reach tributaryd at " + dead), std::string::npos) << in.err;
  EXPECT_EQ(count(), 35);

  // Every node unreachable: the last one's error.
  auto none = run_process({binary_path("tributary").string(), "--node", dead + "," + dead, "query", "T | count"});
  EXPECT_EQ(none.exit_code, 2) << none.err;
  EXPECT_NE(none.err.find("error: ConnectionFailed"), std::string::npos) << none.err;
}

}  // namespace
}  // namespace tributary::testing
