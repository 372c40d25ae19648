#include "client/client.hpp"

#include <algorithm>
#include <capnp/ez-rpc.h>
#include <cctype>

#include "schema/convert.hpp"

namespace tributary::client {
namespace {

model::error connection_failed(const std::string& address, const kj::Exception& e) {
  return {"ConnectionFailed",
          "cannot reach tributaryd at " + address + ": " + e.getDescription().cStr() +
              "; is the node running and --node right?",
          false};
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
      : address(a), rpc(a), service(rpc.getMain<wire::Tributary>()) {}
};

connection::connection(const std::string& address) : impl_(std::make_unique<impl>(address)) {}
connection::~connection() = default;

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
  try {
    auto req = impl_->service.queryRequest();
    req.setDatabase({database.data(), database.size()});
    req.setText({text.data(), text.size()});
    return wire::from_wire(req.send().wait(impl_->rpc.getWaitScope()).getResult());
  } catch (const kj::Exception& e) {
    return connection_failed(impl_->address, e);
  }
}

ingest_outcome connection::ingest(const ingest_request& r) {
  try {
    auto req = impl_->service.ingestRequest();
    auto w = req.initRequest();
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
    auto result = req.send().wait(impl_->rpc.getWaitScope()).getResult();
    if (result.isError()) return wire::from_wire(result.getError());
    auto ack = result.getAck();
    return ingest_ack{ack.getConsumedRecords(), ack.getDuplicate()};
  } catch (const kj::Exception& e) {
    return connection_failed(impl_->address, e);
  }
}

}  // namespace tributary::client
