#include "node/rpc_server.hpp"

#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>
#include <kj/async-unix.h>
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
};

class service final : public wire::Tributary::Server {
 public:
  service(const actors::gateway& gateway, monitoring::rpc_probe& probe, call_count& calls)
      : gateway_(gateway), probe_(probe), calls_(calls) {}

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
    return paf.promise
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

  const actors::gateway& gateway_;
  monitoring::rpc_probe& probe_;
  call_count& calls_;
};

}  // namespace

void serve_rpc(const rpc_options& options, const actors::gateway& gateway,
               monitoring::rpc_probe& probe) {
  auto io = kj::setupAsyncIo();
  auto& ws = io.waitScope;
  auto address = io.provider->getNetwork().parseAddress(options.listen).wait(ws);
  auto listener = address->listen();
  call_count calls;
  capnp::TwoPartyServer server(kj::heap<service>(gateway, probe, calls));
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
