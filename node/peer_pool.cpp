#include "node/peer_pool.hpp"

#include <capnp/message.h>
#include <capnp/rpc-twoparty.h>
#include <cstring>
#include <fmt/format.h>
#include <kj/debug.h>
#include <kj/timer.h>

#include "monitoring/metrics.hpp"
#include "schema/convert.hpp"

namespace tributary::node {

using clock = std::chrono::steady_clock;
using vat_id = capnp::rpc::twoparty::VatId;

// One connection to a node, or the attempt to open one. Calls hold a reference until they end,
// so a link replaced after a failure goes away only once nothing uses it. Members are destroyed
// in reverse order: the pending connect and the disconnect watch first, then the capability and
// the RPC system, then the network they use, then the socket.
struct peer_pool::link final : kj::Refcounted {
  kj::Own<kj::AsyncIoStream> stream;
  kj::Own<capnp::TwoPartyVatNetwork> network;
  kj::Own<capnp::RpcSystem<vat_id>> rpc;
  kj::Maybe<wire::Peer::Client> cap;
  kj::Maybe<kj::Promise<void>> watching;
  kj::Maybe<kj::ForkedPromise<void>> ready;  // resolves once `cap` is set; rejects when the connect fails
  bool broken = false;                       // disconnected, or a call failed: the next call opens a new link
};

struct peer_pool::peer {
  explicit peer(std::string a) : address(std::move(a)) {}
  std::string address;
  size_t outstanding = 0;
  kj::Own<link> current;
};

namespace {

enum class ended { ok, error, timeout };

template <class Result>
struct attempt {
  Result call;
  ended how;
};

std::string failure_reason(const kj::Exception& e) {
  const char* description = e.getDescription().cStr();
  switch (e.getType()) {
    case kj::Exception::Type::DISCONNECTED:
      return fmt::format("not reachable: {}", description);
    case kj::Exception::Type::OVERLOADED:
      return fmt::format("overloaded: {}", description);
    default:
      return fmt::format("the call failed: {}", description);
  }
}

monitoring::rpc_probe::peer_result metric(ended how) {
  switch (how) {
    case ended::ok:
      return monitoring::rpc_probe::peer_result::ok;
    case ended::timeout:
      return monitoring::rpc_probe::peer_result::timeout;
    case ended::error:
      break;
  }
  return monitoring::rpc_probe::peer_result::error;
}

}  // namespace

peer_pool::peer_pool(kj::AsyncIoProvider& io, options opts, monitoring::rpc_probe& probe)
    : io_(io), options_(opts), probe_(probe) {}

peer_pool::~peer_pool() = default;

kj::Promise<void> peer_pool::connected(peer& p) {
  if (p.current && !p.current->broken) return KJ_ASSERT_NONNULL(p.current->ready).addBranch();
  // The old link, if any, lives on while its calls end.
  p.current = kj::refcounted<link>();
  link& l = *p.current;
  l.ready = io_.getNetwork()
                .parseAddress(p.address)
                .then([](kj::Own<kj::NetworkAddress>&& address) {
                  auto connecting = address->connect();
                  return connecting.attach(kj::mv(address));
                })
                .then([&l, words = options_.max_message_words](kj::Own<kj::AsyncIoStream>&& stream) {
                  l.stream = kj::mv(stream);
                  capnp::ReaderOptions reading;
                  reading.traversalLimitInWords = words;
                  l.network = kj::heap<capnp::TwoPartyVatNetwork>(*l.stream, capnp::rpc::twoparty::Side::CLIENT,
                                                                  reading);
                  l.rpc = kj::heap<capnp::RpcSystem<vat_id>>(capnp::makeRpcClient(*l.network));
                  capnp::word scratch[4];
                  std::memset(scratch, 0, sizeof scratch);
                  capnp::MallocMessageBuilder message(scratch);
                  auto server = message.getRoot<vat_id>();
                  server.setSide(capnp::rpc::twoparty::Side::SERVER);
                  // Pipelined: the first queryShard goes out with the peer() call, not after it.
                  l.cap = l.rpc->bootstrap(server).castAs<wire::Tributary>().peerRequest().send().getPeer();
                  l.watching = l.network->onDisconnect().then([&l] { l.broken = true; }).eagerlyEvaluate(nullptr);
                })
                .fork();
  return KJ_ASSERT_NONNULL(l.ready).addBranch();
}

template <class Result, class Send>
kj::Promise<Result> peer_pool::call(const std::string& address, Send send) {
  auto& slot = peers_[address];
  if (!slot) slot = std::make_unique<peer>(address);
  peer& p = *slot;
  if (p.outstanding >= options_.max_outstanding_per_peer) {
    probe_.peer_call(monitoring::rpc_probe::peer_result::unavailable, {});
    return Result{std::nullopt, fmt::format("overloaded: {} calls to it outstanding from this node, the limit",
                                            p.outstanding)};
  }
  ++p.outstanding;
  const auto start = clock::now();
  auto ready = connected(p);
  kj::Own<link> held = kj::addRef(*p.current);
  link& l = *held;
  auto call = ready.then([&l, send = kj::mv(send)]() mutable { return send(KJ_ASSERT_NONNULL(l.cap)); })
                  .then([](Result&& r) { return attempt<Result>{kj::mv(r), ended::ok}; },
                        [](kj::Exception&& e) {
                          return attempt<Result>{{std::nullopt, failure_reason(e)}, ended::error};
                        });
  const auto timeout = options_.timeout;
  auto timed_out = io_.getTimer().afterDelay(timeout.count() * kj::MILLISECONDS).then([timeout] {
    return attempt<Result>{{std::nullopt, fmt::format("timed out after {} ms", timeout.count())}, ended::timeout};
  });
  return call.exclusiveJoin(kj::mv(timed_out))
      .then([this, &l, start](attempt<Result> a) {
        // A failed or timed-out call may have left the connection half-open or unusable: the
        // next call opens a new one rather than queueing behind it.
        if (a.how != ended::ok) l.broken = true;
        probe_.peer_call(metric(a.how), clock::now() - start);
        return kj::mv(a.call);
      })
      .attach(kj::mv(held), kj::defer([&p] { --p.outstanding; }));
}

kj::Promise<shard_call> peer_pool::query_shard(const std::string& address, std::string database, std::string text) {
  return call<shard_call>(address, [database = std::move(database), text = std::move(text)](wire::Peer::Client& cap) {
    auto request = cap.queryShardRequest();
    request.setDatabase(database);
    request.setText(text);
    return request.send().then([](capnp::Response<wire::Peer::QueryShardResults>&& response) {
      // Converted on this loop thread: O(rows) of the answer (at most 500,000 records).
      return shard_call{wire::from_wire(response.getResult()), {}};
    });
  });
}

kj::Promise<claim_call> peer_pool::claim_ingest(const std::string& address, std::string database, std::string table,
                                                std::string request_id, std::string claimant) {
  return call<claim_call>(address, [database = std::move(database), table = std::move(table),
                                    request_id = std::move(request_id),
                                    claimant = std::move(claimant)](wire::Peer::Client& cap) {
    auto request = cap.claimIngestRequest();
    request.setDatabase(database);
    request.setTable(table);
    request.setRequestId(request_id);
    request.setClaimant(claimant);
    return request.send().then([](capnp::Response<wire::Peer::ClaimIngestResults>&& response) {
      auto r = response.getResult();
      claim_answer a;
      switch (r.which()) {
        case wire::ClaimResult::ACKED:
          a.what = claim_answer::kind::acked;
          a.consumed_records = r.getAcked().getConsumedRecords();
          break;
        case wire::ClaimResult::UNKNOWN:
          a.what = claim_answer::kind::unknown;
          break;
        case wire::ClaimResult::ERROR:
          a.what = claim_answer::kind::error;
          a.error = wire::from_wire(r.getError());
          break;
        default:  // a union member added by a newer node: no answer this node can act on
          return claim_call{std::nullopt, "answered a claim this node does not understand (a newer version)"};
      }
      return claim_call{std::move(a), {}};
    });
  });
}

}  // namespace tributary::node
