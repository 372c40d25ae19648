#include "node/rpc_server.hpp"

#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>
#include <kj/async-unix.h>
#include <fmt/format.h>
#include <memory>
#include <spdlog/spdlog.h>

#include "actors/gateway.hpp"
#include "monitoring/metrics.hpp"
#include "schema/convert.hpp"

namespace tributary::node {
namespace {

std::string text(capnp::Text::Reader r) { return std::string(r.cStr(), r.size()); }

// Calls in flight, touched only on the event-loop thread.
struct call_count {
  int in_flight = 0;
  size_t ingests = 0;
  size_t ingest_bytes = 0;
};

// The actor that held the answer went away without giving it (a table dropped while the request
// was queued to it, or the node stopping): the request did not complete; a retry is safe.
model::error lost(const kj::Exception& e) {
  return {"InternalServerError",
          fmt::format("the request was dropped inside the node before it completed ({}); retry it "
                      "(with the same requestId for ingests)",
                      e.getDescription().cStr()),
          false};
}

model::error throttled(const char* what, size_t limit) {
  return {"Throttling",
          fmt::format("the node is at its limit of {} {}; retry after a short backoff (with the same "
                      "requestId)",
                      limit, what),
          false};
}

class service final : public wire::Tributary::Server {
 public:
  service(const rpc_options& options, const actors::gateway& gateway, monitoring::rpc_probe& probe,
          monitoring::ingest_probe& ingest_probe, call_count& calls)
      : options_(options), gateway_(gateway), probe_(probe), ingest_probe_(ingest_probe), calls_(calls) {}

  kj::Promise<void> command(CommandContext ctx) override {
    auto p = ctx.getParams();
    return forward("command", ctx, [&](actors::gateway::reply done) {
      gateway_.command(text(p.getDatabase()), text(p.getText()), std::move(done));
    });
  }

  kj::Promise<void> query(QueryContext ctx) override {
    auto p = ctx.getParams();
    return forward("query", ctx, [&](actors::gateway::reply done) {
      gateway_.query(text(p.getDatabase()), text(p.getText()), std::move(done));
    });
  }

  kj::Promise<void> ingest(IngestContext ctx) override {
    auto start = std::chrono::steady_clock::now();
    auto r = ctx.getParams().getRequest();
    auto data = r.getData();
    auto answer = [ctx, start, this](const actors::ingest_outcome& o) mutable {
      auto out = ctx.getResults().initResult();
      if (const auto* e = std::get_if<model::error>(&o)) {
        wire::to_wire(*e, out.initError());
      } else {
        const auto& ack = std::get<actors::ingest_ack>(o);
        auto a = out.initAck();
        a.setConsumedRecords(ack.consumed_records);
        a.setDuplicate(ack.duplicate);
      }
      probe_.finished("ingest", std::holds_alternative<actors::ingest_ack>(o),
                      std::chrono::steady_clock::now() - start);
    };
    // Overload is answered here, at once, before anything is copied or queued.
    if (calls_.ingests >= options_.max_ingests_in_flight) {
      ingest_probe_.throttled();
      answer(throttled("ingest requests in flight", options_.max_ingests_in_flight));
      return kj::READY_NOW;
    }
    if (calls_.ingest_bytes + data.size() > options_.max_ingest_bytes_in_flight) {
      ingest_probe_.throttled();
      answer(throttled("bytes of ingest requests in flight", options_.max_ingest_bytes_in_flight));
      return kj::READY_NOW;
    }
    if (data.size() > ingest::max_request_bytes) {
      answer(model::error{"BadRequest_RequestTooLarge",
                          fmt::format("the request carries {} bytes; streaming ingestion takes at most {} "
                                      "bytes per request: split the data into smaller requests",
                                      data.size(), ingest::max_request_bytes),
                          true});
      return kj::READY_NOW;
    }
    actors::ingest_call call;
    call.database = text(r.getDatabase());
    call.table = text(r.getTable());
    call.format = static_cast<ingest::format>(r.getFormat());
    call.mapping_name = text(r.getMappingName());
    call.data.assign(reinterpret_cast<const char*>(data.begin()), data.size());
    call.request_id = text(r.getRequestId());
    for (auto p : r.getProperties()) call.properties.emplace_back(text(p.getName()), text(p.getValue()));
    const size_t bytes = data.size();
    ++calls_.in_flight;
    ++calls_.ingests;
    calls_.ingest_bytes += bytes;
    probe_.in_flight(+1);
    ingest_probe_.in_flight(+1);
    auto paf = kj::newPromiseAndCrossThreadFulfiller<actors::ingest_outcome>();
    auto fulfiller = std::make_shared<kj::Own<kj::CrossThreadPromiseFulfiller<actors::ingest_outcome>>>(
        kj::mv(paf.fulfiller));
    gateway_.ingest(std::move(call), [fulfiller](actors::ingest_outcome o) { (*fulfiller)->fulfill(std::move(o)); });
    return paf.promise.catch_([](kj::Exception&& e) -> actors::ingest_outcome { return lost(e); })
        .then(kj::mv(answer))
        .attach(kj::defer([this, bytes] {
      --calls_.in_flight;
      --calls_.ingests;
      calls_.ingest_bytes -= bytes;
      probe_.in_flight(-1);
      ingest_probe_.in_flight(-1);
    }));
  }

 private:
  // Hands the call to the actors and answers on this loop when they reply.
  template <class Context, class Send>
  kj::Promise<void> forward(const char* method, Context ctx, Send&& send) {
    auto start = std::chrono::steady_clock::now();
    ++calls_.in_flight;
    probe_.in_flight(+1);
    auto paf = kj::newPromiseAndCrossThreadFulfiller<model::outcome>();
    auto fulfiller = std::make_shared<kj::Own<kj::CrossThreadPromiseFulfiller<model::outcome>>>(
        kj::mv(paf.fulfiller));
    send([fulfiller](model::outcome o) { (*fulfiller)->fulfill(std::move(o)); });
    return paf.promise.catch_([](kj::Exception&& e) -> model::outcome { return lost(e); })
        .then([ctx, method, start, this](model::outcome o) mutable {
          wire::to_wire(o, ctx.getResults().initResult());
          probe_.finished(method, std::holds_alternative<model::result_table>(o),
                          std::chrono::steady_clock::now() - start);
        })
        .attach(kj::defer([this] {
          --calls_.in_flight;
          probe_.in_flight(-1);
        }));
  }

  const rpc_options& options_;
  const actors::gateway& gateway_;
  monitoring::rpc_probe& probe_;
  monitoring::ingest_probe& ingest_probe_;
  call_count& calls_;
};

}  // namespace

void serve_rpc(const rpc_options& options, const actors::gateway& gateway,
               monitoring::rpc_probe& probe, monitoring::ingest_probe& ingest_probe) {
  auto io = kj::setupAsyncIo();
  auto& ws = io.waitScope;
  auto address = io.provider->getNetwork().parseAddress(options.listen).wait(ws);
  auto listener = address->listen();
  call_count calls;
  capnp::TwoPartyServer server(kj::heap<service>(options, gateway, probe, ingest_probe, calls));
  kj::Promise<void> accepting = server.listen(*listener);
  if (options.on_listening) options.on_listening(static_cast<uint16_t>(listener->getPort()));

  auto signalled = io.unixEventPort.onSignal(SIGTERM).exclusiveJoin(io.unixEventPort.onSignal(SIGINT));
  auto info = signalled.wait(ws);
  spdlog::info("signal {}: no longer accepting RPC connections; draining {} call(s)",
               info.si_signo, calls.in_flight);

  accepting = kj::NEVER_DONE;  // cancels the accept loop
  listener = nullptr;
  auto deadline = std::chrono::steady_clock::now() + options.drain_timeout;
  while (calls.in_flight > 0 && std::chrono::steady_clock::now() < deadline)
    io.provider->getTimer().afterDelay(5 * kj::MILLISECONDS).wait(ws);
  if (calls.in_flight > 0)
    spdlog::warn("{} RPC call(s) still running after the drain timeout; closing anyway",
                 calls.in_flight);
}

}  // namespace tributary::node
