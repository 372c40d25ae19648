#pragma once
/// What the node's front ends call — Cap'n Proto (node/rpc_server.cpp) and Kusto's REST API
/// (node/http_server.cpp): one admission, the same limits and in-flight counts, the same paths
/// into the actors. Every method is called on the RPC loop thread and resolves there.

#include <kj/async.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "actors/gateway.hpp"
#include "actors/interfaces.hpp"

namespace tributary::node {

/// An answer rendered by the thread that produced it, so that a large result is serialized off
/// the loop: what goes back to the caller.
struct rendered {
  bool ok = true;       ///< a table, not an error (for the request metrics)
  unsigned status = 200;
  std::string body;
  std::string code;     ///< the error's code, empty on success
};
/// Renders an outcome, with the warnings a query's answer carries (else empty).
using renderer = std::function<rendered(const model::outcome&, const std::vector<std::string>& warnings)>;

class front_door {
 public:
  // noexcept(false): the RPC service that implements it is a Cap'n Proto server, whose
  // destructor may throw.
  virtual ~front_door() noexcept(false) = default;
  /// A management command, within --max-commands-in-flight (else Throttling, rendered).
  virtual kj::Promise<rendered> command(std::string database, std::string text, renderer render) = 0;
  /// A query, within --max-queries-in-flight; set `cancelled` once the caller is gone.
  virtual kj::Promise<rendered> query(std::string database, std::string text, actors::query_overrides overrides,
                                      std::shared_ptr<std::atomic<bool>> cancelled, renderer render) = 0;
  /// An ingest, admitted as over Cap'n Proto: the in-flight count and bytes, the 4 MiB bound,
  /// tributary.previousNodes among `call.properties`. `wire_bytes` is what the request carried.
  virtual kj::Promise<actors::ingest_outcome> ingest(actors::ingest_call call, size_t wire_bytes) = 0;
};

}  // namespace tributary::node
