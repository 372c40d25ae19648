#include "client/client.hpp"

#include <algorithm>
#include <capnp/ez-rpc.h>
#include <kj/async-io.h>
#include <kj/timer.h>
#include <kj/vector.h>
#include <cctype>

#include "schema/convert.hpp"

namespace tributary::client {
namespace {

model::error connection_failed(const std::string& address, const kj::Exception& e) {
  if (e.getType() != kj::Exception::Type::DISCONNECTED)
    return {"RpcFailed", "the call to tributaryd at " + address + " failed: " + e.getDescription().cStr(), false};
  return {"ConnectionFailed",
          "cannot reach tributaryd at " + address + ": " + e.getDescription().cStr() +
              "; is the node running and --node right?",
          false};
}

// The node is trusted and bounds its answers itself (query results: 500,000 records); Cap'n
// Proto's default 64 MiB traversal limit would refuse a large result it sends.
capnp::ReaderOptions reader_options() {
  capnp::ReaderOptions o;
  o.traversalLimitInWords = uint64_t{1} << 30;
  return o;
}

}  // namespace

std::optional<format> parse_format(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  static const std::pair<const char*, format> names[] = {
      {"csv", format::csv},   {"tsv", format::tsv},   {"scsv", format::scsv},
      {"sohsv", format::sohsv}, {"psv", format::psv}, {"json", format::json},
      {"multijson", format::multijson},
  };
  for (const auto& [n, f] : names)
    if (lower == n) return f;
  return std::nullopt;
}

struct connection::impl {
  std::string address;
  capnp::EzRpcClient rpc;
  wire::Tributary::Client service;
  explicit impl(const std::string& a)
      : address(a), rpc(a, 0, reader_options()), service(rpc.getMain<wire::Tributary>()) {}
};

connection::connection(const std::string& address) : impl_(std::make_unique<impl>(address)) {}
connection::~connection() = default;

std::optional<model::error> connection::wait_connected() {
  try {
    // The bootstrap capability resolves once the node answered on the open connection.
    impl_->service.whenResolved().wait(impl_->rpc.getWaitScope());
    return std::nullopt;
  } catch (const kj::Exception& e) {
    return connection_failed(impl_->address, e);
  }
}

void add_previous_node(ingest_request& request, std::string_view address) {
  for (auto& [name, value] : request.properties) {
    if (name != previous_nodes_property) continue;
    // Listed once: a request that comes back to a node after others names it once.
    for (size_t from = 0; from <= value.size();) {
      const size_t to = std::min(value.find(',', from), value.size());
      if (std::string_view(value).substr(from, to - from) == address) return;
      from = to + 1;
    }
    value += ',';
    value += address;
    return;
  }
  request.properties.emplace_back(std::string(previous_nodes_property), std::string(address));
}

model::outcome connection::command(std::string_view database, std::string_view text) {
  try {
    auto req = impl_->service.commandRequest();
    req.setDatabase({database.data(), database.size()});
    req.setText({text.data(), text.size()});
    return wire::from_wire(req.send().wait(impl_->rpc.getWaitScope()).getResult());
  } catch (const kj::Exception& e) {
    return connection_failed(impl_->address, e);
  }
}

model::outcome connection::query(std::string_view database, std::string_view text) {
  return query_with_warnings(database, text).outcome;
}

query_answer connection::query_with_warnings(std::string_view database, std::string_view text) {
  try {
    auto req = impl_->service.queryRequest();
    req.setDatabase({database.data(), database.size()});
    req.setText({text.data(), text.size()});
    auto response = req.send().wait(impl_->rpc.getWaitScope());
    query_answer answer{wire::from_wire(response.getResult()), {}};
    for (auto w : response.getWarnings()) answer.warnings.emplace_back(w.cStr(), w.size());
    return answer;
  } catch (const kj::Exception& e) {
    return {connection_failed(impl_->address, e), {}};
  }
}

namespace {

void fill(wire::Tributary::IngestParams::Builder params, const ingest_request& r) {
  auto w = params.initRequest();
  w.setDatabase(r.database);
  w.setTable(r.table);
  w.setFormat(static_cast<wire::Format>(r.fmt));
  w.setMappingName(r.mapping_name);
  w.setData(kj::arrayPtr(reinterpret_cast<const kj::byte*>(r.data.data()), r.data.size()));
  w.setRequestId(r.request_id);
  auto props = w.initProperties(static_cast<unsigned>(r.properties.size()));
  for (unsigned i = 0; i < r.properties.size(); ++i) {
    props[i].setName(r.properties[i].first);
    props[i].setValue(r.properties[i].second);
  }
}

ingest_outcome read(wire::IngestResult::Reader result) {
  if (result.isError()) return wire::from_wire(result.getError());
  auto ack = result.getAck();
  return ingest_ack{ack.getConsumedRecords(), ack.getDuplicate()};
}

}  // namespace

void connection::ingest_pipelined(size_t window, const std::function<std::optional<ingest_request>()>& next,
                                  const on_answer& answered) {
  auto& timer = impl_->rpc.getIoProvider().getTimer();
  // One chain per slot: send, answer, maybe retry after a delay, then take the next request.
  std::function<kj::Promise<void>(std::shared_ptr<ingest_request>)> send;
  std::function<kj::Promise<void>()> slot = [&]() -> kj::Promise<void> {
    auto r = next();
    if (!r) return kj::READY_NOW;
    return send(std::make_shared<ingest_request>(std::move(*r)));
  };
  send = [&](std::shared_ptr<ingest_request> r) -> kj::Promise<void> {
    auto req = impl_->service.ingestRequest();
    fill(req, *r);
    return req.send()
        .then([](capnp::Response<wire::Tributary::IngestResults>&& resp) { return read(resp.getResult()); },
              [this](kj::Exception&& e) -> ingest_outcome { return connection_failed(impl_->address, e); })
        .then([&, r](ingest_outcome o) -> kj::Promise<void> {
          if (auto delay = answered(*r, o))
            return timer.afterDelay(delay->count() * kj::MILLISECONDS).then([&send, r] { return send(r); });
          return slot();
        });
  };
  kj::Vector<kj::Promise<void>> slots;
  for (size_t i = 0; i < std::max<size_t>(window, 1); ++i) slots.add(slot());
  kj::joinPromises(slots.releaseAsArray()).wait(impl_->rpc.getWaitScope());
}

ingest_outcome connection::ingest(const ingest_request& r) {
  try {
    auto req = impl_->service.ingestRequest();
    fill(req, r);
    return read(req.send().wait(impl_->rpc.getWaitScope()).getResult());
  } catch (const kj::Exception& e) {
    return connection_failed(impl_->address, e);
  }
}

}  // namespace tributary::client
