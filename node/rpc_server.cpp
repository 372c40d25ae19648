#include "node/rpc_server.hpp"

#include <algorithm>
#include <atomic>
#include <capnp/message.h>
#include <capnp/rpc-twoparty.h>
#include <cctype>
#include <fmt/format.h>
#include <kj/async-io.h>
#include <kj/async-unix.h>
#include <kj/debug.h>
#include <kj/timer.h>
#include <future>
#include <memory>
#include <random>
#include <spdlog/spdlog.h>

#include "actors/gateway.hpp"
#include "actors/table_query.hpp"
#include "cluster/view.hpp"
#include "monitoring/metrics.hpp"
#include "schema/buffered_stream.hpp"
#include "node/front_door.hpp"
#include "node/http_server.hpp"
#include "node/peer_pool.hpp"
#include "query/parser.hpp"
#include "schema/convert.hpp"

namespace tributary::node {
namespace {

using clock = std::chrono::steady_clock;

// The wire enum mirrors ingest::format one to one (same order); values past its end are refused.
static_assert(static_cast<int>(wire::Format::CSV) == static_cast<int>(ingest::format::csv));
static_assert(static_cast<int>(wire::Format::MULTIJSON) == static_cast<int>(ingest::format::multijson));

// Bounds of the request fields besides an ingest's data (ingest::max_request_bytes).
constexpr size_t max_name_chars = 1024;  // database, table, mapping: Kusto's entity names
constexpr size_t max_request_id_bytes = 256;
constexpr size_t max_properties = 32;
constexpr size_t max_property_name_bytes = 128;
constexpr size_t max_property_value_bytes = 4096;
constexpr size_t max_text_bytes = 1u << 20;  // a command's or query's text

// The largest message the node sends or reads: a result at its byte limit and the RPC envelope
// around it. Cap'n Proto refuses to send a message past the limit it reads with.
constexpr uint64_t max_message_words = (actors::max_result_bytes + (1u << 20)) / 8;

// Rows copied into a call's results before the loop serves other events.
constexpr auto hand_over_slice = std::chrono::microseconds(1000);

std::string text(capnp::Text::Reader r) { return std::string(r.cStr(), r.size()); }

// Characters of UTF-8 text (bytes that do not continue a sequence).
size_t chars(std::string_view r) {
  size_t n = 0;
  for (char c : r) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// The node's calls in flight. Commands and queries are counted on the loop thread; ingests by
// tickets that the node releases on any thread once their work is finished, possibly after
// serve_rpc has returned: they hold this alive.
struct call_load {
  int calls = 0;  // RPC calls not yet answered (drained at shutdown)
  size_t commands = 0;
  size_t queries = 0;
  std::atomic<size_t> ingests{0};
  std::atomic<size_t> ingest_bytes{0};
};

// One ingest's in-flight accounting, from admission until its call and its reply are both gone
// inside the node (actors::ingest_ticket): a caller that cancels or disconnects does not free
// its slot while its data is still queued.
class ingest_hold final : public actors::ingest_ticket {
 public:
  ingest_hold(std::shared_ptr<call_load> load, size_t bytes, monitoring::ingest_probe& probe)
      : load_(std::move(load)), bytes_(bytes), probe_(probe) {
    load_->ingests.fetch_add(1);
    load_->ingest_bytes.fetch_add(bytes_);
    probe_.in_flight(+1);
    probe_.in_flight_bytes(static_cast<int64_t>(bytes_));
  }
  ~ingest_hold() override {
    if (caller_gone.load() && !answered.load()) probe_.abandoned();
    load_->ingests.fetch_sub(1);
    load_->ingest_bytes.fetch_sub(bytes_);
    probe_.in_flight(-1);
    probe_.in_flight_bytes(-static_cast<int64_t>(bytes_));
  }
  ingest_hold(const ingest_hold&) = delete;
  ingest_hold& operator=(const ingest_hold&) = delete;

  std::atomic<bool> answered{false};

 private:
  std::shared_ptr<call_load> load_;
  size_t bytes_;
  monitoring::ingest_probe& probe_;
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

// A command's answer lost inside the node: it may have been applied (see gateway::command).
model::error command_lost(const kj::Exception& e) {
  return {"CommandOutcomeUnknown",
          fmt::format("the command's answer was lost inside the node ({}); it may or may not have been applied. "
                      "Check the state before retrying (.show databases, .show tables, .show table T ...)",
                      e.getDescription().cStr()),
          true};
}

model::error throttled(const char* what, size_t limit) {
  return {"Throttling",
          fmt::format("the node is at its limit of {} {}; retry after a short backoff (with the same "
                      "requestId)",
                      limit, what),
          false};
}

model::error calls_throttled(const char* what, size_t limit, const char* flag) {
  return {"Throttling",
          fmt::format("the node is at its limit of {} {} in flight ({}); retry after a short backoff", limit, what,
                      flag),
          false};
}

// A field longer than its bound: permanent, naming the field, the bound and the fix.
std::optional<model::error> too_long(const char* request, std::string_view field, size_t size, size_t limit,
                                     const char* unit, std::string_view fix) {
  if (size <= limit) return std::nullopt;
  return model::error{"BadRequest_FieldTooLong",
                      fmt::format("the {} request's {} is {} {} long; it takes at most {} {}: {}", request, field,
                                  size, unit, limit, unit, fix),
                      true};
}

std::optional<model::error> check_name(const char* request, const char* field, std::string_view name) {
  return too_long(request, field, chars(name), max_name_chars, "characters",
                  "names of databases, tables and mappings are at most 1024 characters (Kusto's entity "
                  "names); check the name");
}
std::optional<model::error> check_name(const char* request, const char* field, capnp::Text::Reader name) {
  return check_name(request, field, std::string_view(name.cStr(), name.size()));
}

// Every field of an ingest request but its data, before anything is copied.
std::optional<model::error> check_ingest(wire::IngestRequest::Reader r) {
  if (const auto f = static_cast<uint16_t>(r.getFormat()); f > static_cast<uint16_t>(wire::Format::MULTIJSON))
    return model::error{"BadRequest_FormatNotSupported",
                        fmt::format("the ingest request's format is {}, which is no format: format takes 0 (csv), "
                                    "1 (tsv), 2 (scsv), 3 (sohsv), 4 (psv), 5 (json) or 6 (multijson) "
                                    "(schema/tributary.capnp); send one of these",
                                    f),
                        true};
  if (auto e = check_name("ingest", "database", r.getDatabase())) return e;
  if (auto e = check_name("ingest", "table", r.getTable())) return e;
  if (auto e = check_name("ingest", "mappingName", r.getMappingName())) return e;
  if (auto e = too_long("ingest", "requestId", r.getRequestId().size(), max_request_id_bytes, "bytes",
                        "use a shorter id (a GUID takes 36)"))
    return e;
  auto properties = r.getProperties();
  if (auto e = too_long("ingest", "properties", properties.size(), max_properties, "entries",
                        "streaming ingestion takes only format, streamFormat, mappingName, "
                        "ingestionMappingReference and ingestionMappingType, each once"))
    return e;
  for (unsigned i = 0; i < properties.size(); ++i) {
    if (auto e = too_long("ingest", fmt::format("property name #{}", i), properties[i].getName().size(),
                          max_property_name_bytes, "bytes", "check the property's name"))
      return e;
    if (auto e = too_long("ingest", fmt::format("property value #{}", i), properties[i].getValue().size(),
                          max_property_value_bytes, "bytes", "check the property's value"))
      return e;
  }
  return std::nullopt;
}

// Nodes a retry names in tributary.previousNodes at most: each is asked before it ingests.
constexpr size_t max_previous_nodes = 32;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

model::error malformed_previous_nodes(std::string_view why) {
  return {"BadRequest_MalformedIngestionProperty",
          fmt::format("property '{}' {}; it lists the \"host:port\" RPC addresses the request was sent to before, "
                      "comma-separated, e.g. \"10.0.0.1:7400,10.0.0.2:7400\"",
                      ingest::previous_nodes_property, why),
          true};
}

// The addresses in the request's tributary.previousNodes (none without it), each once.
std::variant<std::vector<std::string>, model::error> previous_nodes(
    const std::vector<std::pair<std::string, std::string>>& properties) {
  std::vector<std::string> nodes;
  bool seen = false;
  for (const auto& [name, value] : properties) {
    if (!iequals(name, ingest::previous_nodes_property)) continue;
    if (std::exchange(seen, true)) return malformed_previous_nodes("is given twice; give it once");
    size_t from = 0;
    while (from <= value.size()) {
      size_t to = value.find(',', from);
      if (to == std::string::npos) to = value.size();
      auto entry = value.substr(from, to - from);
      entry.erase(0, entry.find_first_not_of(" \t"));
      entry.erase(entry.find_last_not_of(" \t") + 1);
      from = to + 1;
      if (entry.empty()) continue;
      const auto colon = entry.rfind(':');
      const auto port = colon == std::string::npos ? std::string() : entry.substr(colon + 1);
      if (colon == 0 || port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
          std::stoul(port) == 0 || std::stoul(port) > 65535)
        return malformed_previous_nodes(fmt::format("names '{}', which is no host:port", entry));
      if (std::find(nodes.begin(), nodes.end(), entry) == nodes.end()) nodes.push_back(std::move(entry));
    }
    if (nodes.size() > max_previous_nodes)
      return malformed_previous_nodes(
          fmt::format("names {} nodes; it takes at most {}", nodes.size(), max_previous_nodes));
  }
  return nodes;
}

// A node a retry names could not say whether it has the request: it may, so nothing is ingested
// here until it can (cluster/README.md "Retries across nodes": the window).
model::error previous_node_unreachable(const std::string& request_id, const std::vector<std::string>& why) {
  return {"PreviousNodeUnreachable",
          fmt::format("request id '{}' was sent before to {}; the request may already be ingested there, so nothing "
                      "was ingested here. Retry later (at that node or here) with the same requestId",
                      request_id, fmt::join(why, "; ")),
          false};
}

// A random token for this server instance: a claim that carries it was sent by this node to
// itself under another address (Peer.claimIngest's claimant).
std::string instance_token() {
  std::random_device rd;
  return fmt::format("{:08x}{:08x}{:08x}{:08x}", rd(), rd(), rd(), rd());
}

// The bytes an ingest holds while in flight: its data and every other field.
size_t request_bytes(wire::IngestRequest::Reader r) {
  size_t n = r.getData().size() + r.getDatabase().size() + r.getTable().size() + r.getMappingName().size() +
             r.getRequestId().size();
  for (auto p : r.getProperties()) n += p.getName().size() + p.getValue().size();
  return n;
}

std::optional<model::error> check_call(const char* request, capnp::Text::Reader database, capnp::Text::Reader text) {
  if (auto e = check_name(request, "database", database)) return e;
  return too_long(request, "text", text.size(), max_text_bytes, "bytes",
                  "split it into smaller commands, or narrow the query");
}

// "localhost:7400" and "[::1]:7400" as "127.0.0.1:7400": the spellings of a loopback address a
// client may have used for a node that registered itself as 127.0.0.1.
std::string loopback_as_ip(const std::string& address) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos) return address;
  const auto host = address.substr(0, colon);
  if (host == "localhost" || host == "[::1]") return "127.0.0.1" + address.substr(colon);
  return address;
}

// An answer built as a Cap'n Proto message (root: wire::Result) by the thread that produced it.
using built = kj::Own<capnp::MallocMessageBuilder>;

// A built answer and, for a query, its warnings (the Warning properties the gateway added).
struct built_answer {
  built message;
  std::vector<std::string> warnings;
};

built build(const model::outcome& o) {
  auto m = kj::heap<capnp::MallocMessageBuilder>();
  wire::to_wire(o, m->initRoot<wire::Result>());
  return m;
}

// What one answer cost the loop thread (measured for the debug log).
struct hand_over_stats {
  clock::duration total{};
  clock::duration longest{};
  unsigned slices = 0;
};

// Copies rows [from, end) of `in` into `out`, a slice of about `hand_over_slice` at a time, with a
// zero timer between slices: the event loop polls sockets and cross-thread answers only when its
// queue is empty, so yielding with evalLater would still starve every other call.
kj::Promise<void> copy_rows(kj::Timer& timer, capnp::List<wire::Row>::Builder out,
                            capnp::List<wire::Row>::Reader in, unsigned from, std::shared_ptr<hand_over_stats> stats) {
  const auto start = clock::now();
  unsigned i = from;
  while (i < in.size()) {
    out.setWithCaveats(i, in[i]);
    ++i;
    if (i % 256 == 0 && clock::now() - start >= hand_over_slice) break;
  }
  const auto took = clock::now() - start;
  stats->total += took;
  stats->longest = std::max(stats->longest, took);
  ++stats->slices;
  if (i == in.size()) return kj::READY_NOW;
  return timer.afterDelay(0 * kj::MILLISECONDS).then([&timer, out, in, i, stats]() mutable {
    return copy_rows(timer, out, in, i, stats);
  });
}

class service final : public wire::Tributary::Server, public front_door {
 public:
  service(const rpc_options& options, const actors::gateway& gateway, monitoring::rpc_probe& probe,
          monitoring::ingest_probe& ingest_probe, std::shared_ptr<call_load> load, kj::Timer& timer, peer_pool& peers);

  kj::Promise<void> command(CommandContext ctx) override {
    auto p = ctx.getParams();
    return forward("command", ctx, check_call("command", p.getDatabase(), p.getText()), load_->commands,
                   options_.max_commands_in_flight, "--max-commands-in-flight", [&](actors::gateway::reply done) {
                     gateway_.command(text(p.getDatabase()), text(p.getText()), std::move(done));
                   });
  }

  // A query; in a cluster its plan's shard parts run on every node (actors/table_query.hpp,
  // remote_shards), which it counts as one query in flight here and each as one on its node.
  kj::Promise<void> query(QueryContext ctx) override {
    auto p = ctx.getParams();
    // A client that goes away (or cancels the call) stops its query: Cap'n Proto drops the
    // call's promise (once allowed to), and with it this flag is set; the engine checks it
    // between chunks.
    ctx.allowCancellation();
    auto cancelled = std::make_shared<std::atomic<bool>>(false);
    return forward("query", ctx, check_call("query", p.getDatabase(), p.getText()), load_->queries,
                   options_.max_queries_in_flight, "--max-queries-in-flight",
                   [&](actors::gateway::reply done) {
                     gateway_.query(text(p.getDatabase()), text(p.getText()), std::move(done), cancelled);
                   })
        .attach(kj::defer([cancelled] { cancelled->store(true); }));
  }

  kj::Promise<void> peer(PeerContext ctx) override {
    ctx.getResults().setPeer(peer_);
    return kj::READY_NOW;
  }

  // Peer.queryShard: the query on this node's shard alone (the part of a plan another node
  // sends), as `query` runs it on a node alone.
  kj::Promise<void> query_shard(capnp::CallContext<wire::Peer::QueryShardParams, wire::Peer::QueryShardResults> ctx) {
    auto p = ctx.getParams();
    return forward("query_shard", ctx, check_call("queryShard", p.getDatabase(), p.getText()), load_->queries,
                   options_.max_queries_in_flight, "--max-queries-in-flight", [&](actors::gateway::reply done) {
                     gateway_.query_shard(text(p.getDatabase()), text(p.getText()), std::move(done));
                   });
  }

  kj::Promise<void> ingest(IngestContext ctx) override {
    // A caller that cancels or disconnects drops this promise: the ticket then tells the table to
    // skip the work if it has not started it.
    ctx.allowCancellation();
    auto start = clock::now();
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
      probe_.finished("ingest", std::holds_alternative<actors::ingest_ack>(o), clock::now() - start);
    };
    // Malformed and oversized requests and overload are answered here, at once, before anything
    // is copied or queued.
    if (auto e = check_ingest(r)) {
      answer(*e);
      return kj::READY_NOW;
    }
    std::vector<std::pair<std::string, std::string>> properties;
    for (auto p : r.getProperties()) properties.emplace_back(text(p.getName()), text(p.getValue()));
    auto previous = previous_nodes(properties);
    if (auto* e = std::get_if<model::error>(&previous)) {
      answer(*e);
      return kj::READY_NOW;
    }
    const size_t bytes = std::max(request_bytes(r), ingest_overhead_bytes);
    if (auto e = admission(bytes, data.size())) {
      answer(*e);
      return kj::READY_NOW;
    }
    actors::ingest_call call;
    call.database = text(r.getDatabase());
    call.table = text(r.getTable());
    call.format = static_cast<ingest::format>(r.getFormat());
    call.mapping_name = text(r.getMappingName());
    call.data.assign(reinterpret_cast<const char*>(data.begin()), data.size());
    call.request_id = text(r.getRequestId());
    call.properties = std::move(properties);
    // The call's own copy is all the node keeps: the request message (up to 4 MiB) goes now, not
    // when the answer leaves, so an ingest in flight holds its bytes once, not twice.
    ctx.releaseParams();
    return admitted(std::move(call), bytes, std::move(std::get<std::vector<std::string>>(previous)))
        .then(kj::mv(answer));
  }

  // front_door (the HTTP endpoint): the same checks, admission and path as `ingest`.
  kj::Promise<actors::ingest_outcome> ingest(actors::ingest_call call, size_t wire_bytes) override {
    std::optional<model::error> invalid = check_name("ingest", "database", std::string_view(call.database));
    if (!invalid) invalid = check_name("ingest", "table", std::string_view(call.table));
    if (!invalid) invalid = check_name("ingest", "mappingName", std::string_view(call.mapping_name));
    if (!invalid)
      invalid = too_long("ingest", "requestId", call.request_id.size(), max_request_id_bytes, "bytes",
                         "use a shorter id (a GUID takes 36)");
    if (invalid) return actors::ingest_outcome{*invalid};
    auto previous = previous_nodes(call.properties);
    if (auto* e = std::get_if<model::error>(&previous)) return actors::ingest_outcome{*e};
    const size_t bytes = std::max(wire_bytes, ingest_overhead_bytes);
    if (auto e = admission(bytes, call.data.size())) return actors::ingest_outcome{*e};
    const auto start = clock::now();
    return admitted(std::move(call), bytes, std::move(std::get<std::vector<std::string>>(previous)))
        .then([this, start](actors::ingest_outcome o) {
          probe_.finished("ingest", std::holds_alternative<actors::ingest_ack>(o), clock::now() - start,
                          monitoring::rpc_probe::protocol::http);
          return o;
        });
  }

  // front_door: a command or query rendered by the thread that answers it.
  kj::Promise<rendered> command(std::string database, std::string text, renderer render) override {
    return forward_rendered("command", check_text("command", database, text), load_->commands,
                            options_.max_commands_in_flight, "--max-commands-in-flight",
                            [&](actors::gateway::reply done) { gateway_.command(database, text, std::move(done)); },
                            std::move(render));
  }
  kj::Promise<rendered> query(std::string database, std::string text, actors::query_overrides overrides,
                              std::shared_ptr<std::atomic<bool>> cancelled, renderer render) override {
    return forward_rendered(
               "query", check_text("query", database, text), load_->queries, options_.max_queries_in_flight,
               "--max-queries-in-flight",
               [&](actors::gateway::reply done) {
                 gateway_.query(database, text, std::move(done), cancelled, std::move(overrides));
               },
               std::move(render))
        .attach(kj::defer([cancelled] { cancelled->store(true); }));
  }

  // Peer.claimIngest: another node retries a request this one may have (table_actor's claim).
  kj::Promise<void> claim_ingest(
      capnp::CallContext<wire::Peer::ClaimIngestParams, wire::Peer::ClaimIngestResults> ctx) {
    const auto start = clock::now();
    auto p = ctx.getParams();
    auto answer = [ctx, start, this](const actors::claim_outcome& o) mutable {
      auto out = ctx.getResults().initResult();
      if (const auto* ack = std::get_if<actors::ingest_ack>(&o)) {
        auto a = out.initAcked();
        a.setConsumedRecords(ack->consumed_records);
        a.setDuplicate(true);
      } else if (const auto* e = std::get_if<model::error>(&o)) {
        wire::to_wire(*e, out.initError());
      } else {
        out.setUnknown();
      }
      probe_.finished("claim_ingest", !std::holds_alternative<model::error>(o), clock::now() - start);
    };
    std::optional<model::error> invalid = check_name("claimIngest", "database", p.getDatabase());
    if (!invalid) invalid = check_name("claimIngest", "table", p.getTable());
    if (!invalid)
      invalid = too_long("claimIngest", "requestId", p.getRequestId().size(), max_request_id_bytes, "bytes",
                         "use a shorter id (a GUID takes 36)");
    if (!invalid && p.getRequestId().size() == 0)
      invalid = model::error{"BadRequest_MissingRequestId",
                             "the claimIngest request's requestId is empty; only requests with an id are claimed",
                             true};
    if (invalid) {
      answer(*invalid);
      return kj::READY_NOW;
    }
    // The caller is this node (a retry named it under an address other than the one it knows
    // itself by): its own table settles the request; a tombstone here would refuse it.
    if (text(p.getClaimant()) == claimant_) {
      answer(actors::claim_unknown{});
      return kj::READY_NOW;
    }
    ++load_->calls;
    probe_.in_flight(+1);
    auto paf = kj::newPromiseAndCrossThreadFulfiller<actors::claim_outcome>();
    auto fulfiller =
        std::make_shared<kj::Own<kj::CrossThreadPromiseFulfiller<actors::claim_outcome>>>(kj::mv(paf.fulfiller));
    gateway_.claim(text(p.getDatabase()), text(p.getTable()), text(p.getRequestId()),
                   [fulfiller](actors::claim_outcome o) { (*fulfiller)->fulfill(std::move(o)); });
    return paf.promise.catch_([](kj::Exception&& e) -> actors::claim_outcome { return lost(e); })
        .then(kj::mv(answer))
        .attach(kj::defer([this] {
          --load_->calls;
          probe_.in_flight(-1);
        }));
  }

 private:
  // Overload and the size bound, answered before anything of the request is copied.
  std::optional<model::error> admission(size_t bytes, size_t data_bytes) {
    if (options_.max_ingests_in_flight && load_->ingests.load() >= options_.max_ingests_in_flight) {
      ingest_probe_.throttled();
      return throttled("ingest requests in flight", options_.max_ingests_in_flight);
    }
    if (load_->ingest_bytes.load() + bytes > options_.max_ingest_bytes_in_flight) {
      ingest_probe_.throttled();
      return throttled("bytes of ingest requests in flight", options_.max_ingest_bytes_in_flight);
    }
    if (data_bytes > ingest::max_request_bytes)
      return model::error{"BadRequest_RequestTooLarge",
                          fmt::format("the request carries {} bytes; streaming ingestion takes at most {} "
                                      "bytes per request: split the data into smaller requests",
                                      data_bytes, ingest::max_request_bytes),
                          true};
    return std::nullopt;
  }

  // An admitted ingest, in flight (its ticket) until its table is done with it.
  kj::Promise<actors::ingest_outcome> admitted(actors::ingest_call call, size_t bytes, std::vector<std::string> earlier) {
    auto ticket = std::make_shared<ingest_hold>(load_, bytes, ingest_probe_);
    call.ticket = ticket;
    ++load_->calls;
    probe_.in_flight(+1);
    auto outcome = call.request_id.empty() || earlier.empty()
                       ? to_table(std::move(call), ticket)
                       : claim_then_ingest(std::move(earlier), std::move(call), ticket);
    return outcome.attach(kj::defer([this, gone = std::weak_ptr<ingest_hold>(ticket)] {
      // Answered, or cancelled: either way nobody waits here any more.
      if (auto t = gone.lock()) t->caller_gone = true;
      --load_->calls;
      probe_.in_flight(-1);
    }));
  }

  static std::optional<model::error> check_text(const char* request, const std::string& database,
                                                const std::string& text) {
    if (auto e = too_long(request, "database", database.size(), max_name_chars * 4, "bytes",
                          "names of databases are at most 1024 characters (Kusto's entity names); check the name"))
      return e;
    return too_long(request, "text", text.size(), max_text_bytes, "bytes",
                    "split it into smaller commands, or narrow the query");
  }

  // As `forward`, for the front_door (Kusto's REST API: counted as protocol "http"): the answer
  // rendered (JSON) by the replying thread.
  template <class Send>
  kj::Promise<rendered> forward_rendered(const char* method, std::optional<model::error> invalid, size_t& in_flight,
                                         size_t limit, const char* flag, Send&& send, renderer render) {
    const auto start = clock::now();
    if (invalid || in_flight >= limit) {
      if (!invalid) probe_.throttled(method, monitoring::rpc_probe::protocol::http);
      auto e = invalid ? *invalid
                       : calls_throttled(method == std::string_view("command") ? "commands" : "queries", limit, flag);
      probe_.finished(method, false, clock::now() - start, monitoring::rpc_probe::protocol::http);
      return render(e, {});
    }
    ++in_flight;
    ++load_->calls;
    probe_.in_flight(+1);
    auto paf = kj::newPromiseAndCrossThreadFulfiller<rendered>();
    auto fulfiller = std::make_shared<kj::Own<kj::CrossThreadPromiseFulfiller<rendered>>>(kj::mv(paf.fulfiller));
    send([fulfiller, render](model::outcome o) {
      try {
        std::vector<std::string> warnings;
        if (auto* t = std::get_if<model::result_table>(&o))
          std::erase_if(t->properties, [&](auto& p) {
            if (p.first != "Warning") return false;
            warnings.push_back(std::move(p.second));
            return true;
          });
        (*fulfiller)->fulfill(render(o, warnings));
      } catch (const std::exception& e) {  // e.g. bad_alloc: the call fails, the actor lives on
        (*fulfiller)->reject(KJ_EXCEPTION(FAILED, "rendering the answer failed", e.what()));
      }
    });
    const bool is_command = method == std::string_view("command");
    return paf.promise
        .catch_([is_command, render](kj::Exception&& e) { return render(is_command ? command_lost(e) : lost(e), {}); })
        .then([this, method, start](rendered r) {
          if (method == std::string_view("query") && r.code == "PartialQueryFailure") probe_.partial_query_failure(false);
          probe_.finished(method, r.ok, clock::now() - start, monitoring::rpc_probe::protocol::http);
          return r;
        })
        .attach(kj::defer([this, &in_flight] {
          --in_flight;
          --load_->calls;
          probe_.in_flight(-1);
        }));
  }

  // Hands an admitted ingest to its table; resolves with the table's answer.
  kj::Promise<actors::ingest_outcome> to_table(actors::ingest_call call, std::shared_ptr<ingest_hold> ticket) {
    // Its queueing delay runs from here (after any claims of a retry at other nodes).
    call.received = clock::now();
    call.in_flight_at_receipt = load_->ingests.load(std::memory_order_relaxed);
    auto paf = kj::newPromiseAndCrossThreadFulfiller<actors::ingest_outcome>();
    auto fulfiller = std::make_shared<kj::Own<kj::CrossThreadPromiseFulfiller<actors::ingest_outcome>>>(
        kj::mv(paf.fulfiller));
    // When the answer was handed over, for the stage histogram of the hop back to this thread.
    auto handed_over = std::make_shared<std::atomic<clock::rep>>(0);
    // The answer gives its hold on the ticket up at once: the closure itself may live on a little
    // (the writer frees its group after answering all of it), and a client answered must be able
    // to send its next request without being throttled by its previous one.
    gateway_.ingest(std::move(call), [fulfiller, handed_over, ticket = std::move(ticket)](actors::ingest_outcome o) mutable {
      ticket->answered = true;
      handed_over->store(clock::now().time_since_epoch().count(), std::memory_order_relaxed);
      (*fulfiller)->fulfill(std::move(o));
      ticket.reset();
    });
    return paf.promise
        .then([this, handed_over](actors::ingest_outcome o) {
          if (const auto at = handed_over->load(std::memory_order_relaxed))
            ingest_probe_.answer_handed_over(clock::now() - clock::time_point(clock::duration(at)));
          return o;
        })
        .catch_([](kj::Exception&& e) -> actors::ingest_outcome { return lost(e); });
  }

  // A retry that names the nodes it went to before (tributary.previousNodes): each of them,
  // this one aside, is asked (Peer.claimIngest, in parallel) whether it has the request. One
  // that acked it: its ack is the answer, as a duplicate. One that cannot say (unreachable,
  // timed out, an error): PreviousNodeUnreachable, nothing ingested. All answer "unknown": none
  // of them ingests it any more, so it is ingested here. The call (and its ticket: the request
  // stays in flight) waits meanwhile.
  kj::Promise<actors::ingest_outcome> claim_then_ingest(std::vector<std::string> earlier, actors::ingest_call call,
                                                        std::shared_ptr<ingest_hold> ticket) {
    // A request this node would refuse anyway leaves no tombstone elsewhere.
    if (auto e = ingest::check_properties(call.properties)) {
      ticket->answered = true;
      return actors::ingest_outcome{*e};
    }
    // Only the cluster's nodes are asked: the addresses come from the client, and this node
    // neither connects to arbitrary ones nor keeps a connection per address it was told. An
    // address that is no node now (a node that moved) cannot say whether it has the request.
    std::vector<std::string> others;
    for (auto& a : earlier) a = loopback_as_ip(a);
    if (options_.cluster)
      for (const auto& n : options_.cluster->nodes()) {
        if (n.self) std::erase(earlier, loopback_as_ip(n.rpc_address));
        else others.push_back(loopback_as_ip(n.rpc_address));
      }
    if (earlier.empty()) return to_table(std::move(call), std::move(ticket));
    using asked = std::pair<std::string, claim_call>;  // a node's address, and what it answered
    kj::Vector<kj::Promise<asked>> claims;
    for (auto& address : earlier) {
      if (std::find(others.begin(), others.end(), address) == others.end()) {
        claim_call none;
        none.failure = "it is not the address of a node of this cluster now (.show cluster lists them)";
        claims.add(kj::Promise<asked>(asked{std::move(address), std::move(none)}));
        continue;
      }
      claims.add(pool_.claim_ingest(address, call.database, call.table, call.request_id, claimant_)
                     .then([address](claim_call c) mutable { return asked{std::move(address), std::move(c)}; }));
    }
    return kj::joinPromises(claims.releaseAsArray())
        .then([this, call = std::move(call), ticket = std::move(ticket)](
                  kj::Array<asked> answers) mutable -> kj::Promise<actors::ingest_outcome> {
          // Answered here, without the table: the request is not abandoned (ingest_hold).
          auto settled = [&](actors::ingest_outcome o) {
            ticket->answered = true;
            return o;
          };
          std::vector<std::string> unsettled;
          for (auto& [address, c] : answers) {
            if (!c.answer) {
              unsettled.push_back(fmt::format("{}, which cannot be asked now ({})", address, c.failure));
              continue;
            }
            switch (c.answer->what) {
              case claim_answer::kind::acked:
                return settled(actors::ingest_ack{c.answer->consumed_records, true});
              case claim_answer::kind::error:
                unsettled.push_back(fmt::format("{}, which answered {}: {}", address, c.answer->error.code,
                                                c.answer->error.message));
                break;
              case claim_answer::kind::unknown:
                break;
            }
          }
          if (!unsettled.empty()) return settled(previous_node_unreachable(call.request_id, unsettled));
          return to_table(std::move(call), std::move(ticket));
        });
  }

  // Hands the call to the actors and answers on this loop when they reply. The answer's message
  // is built by the replying actor; this loop only copies it into the call's results.
  template <class Context, class Send>
  kj::Promise<void> forward(const char* method, Context ctx, std::optional<model::error> invalid, size_t& in_flight,
                            size_t limit, const char* flag, Send&& send) {
    auto start = clock::now();
    if (invalid) {
      wire::to_wire(*invalid, ctx.getResults().initResult().initError());
      probe_.finished(method, false, clock::now() - start);
      return kj::READY_NOW;
    }
    if (in_flight >= limit) {
      probe_.throttled(method);
      wire::to_wire(calls_throttled(method == std::string_view("command") ? "commands" : "queries", limit, flag),
                    ctx.getResults().initResult().initError());
      probe_.finished(method, false, clock::now() - start);
      return kj::READY_NOW;
    }
    ++in_flight;
    ++load_->calls;
    probe_.in_flight(+1);
    auto paf = kj::newPromiseAndCrossThreadFulfiller<built_answer>();
    auto fulfiller = std::make_shared<kj::Own<kj::CrossThreadPromiseFulfiller<built_answer>>>(kj::mv(paf.fulfiller));
    send([fulfiller](model::outcome o) {
      try {
        built_answer a;
        if (auto* t = std::get_if<model::result_table>(&o))
          std::erase_if(t->properties, [&](auto& p) {
            if (p.first != "Warning") return false;
            a.warnings.push_back(std::move(p.second));
            return true;
          });
        a.message = build(o);
        (*fulfiller)->fulfill(kj::mv(a));
      } catch (const std::exception& e) {  // e.g. bad_alloc: the call fails, the actor lives on
        (*fulfiller)->reject(KJ_EXCEPTION(FAILED, "building the answer failed", e.what()));
      }
    });
    const bool is_command = method == std::string_view("command");
    return paf.promise
        .catch_([is_command](kj::Exception&& e) { return built_answer{build(is_command ? command_lost(e) : lost(e)), {}}; })
        .then([this, ctx, method, start](built_answer a) mutable {
          auto root = a.message->getRoot<wire::Result>().asReader();
          const bool ok = root.isTable();
          if (method == std::string_view("query") &&
              (!a.warnings.empty() || (root.isError() && root.getError().getCode() == "PartialQueryFailure")))
            probe_.partial_query_failure(!a.warnings.empty());
          return hand_over(ctx, kj::mv(a.message))
              .then([this, ctx, method, start, ok, warnings = kj::mv(a.warnings)]() mutable {
                if constexpr (requires { ctx.getResults().initWarnings(0u); }) {
                  if (!warnings.empty()) {
                    auto out = ctx.getResults().initWarnings(static_cast<unsigned>(warnings.size()));
                    for (unsigned i = 0; i < warnings.size(); ++i) out.set(i, warnings[i]);
                  }
                }
                probe_.finished(method, ok, clock::now() - start);
              });
        })
        .attach(kj::defer([this, &in_flight] {
          --in_flight;
          --load_->calls;
          probe_.in_flight(-1);
        }));
  }

  // Copies a built answer into the call's results: a table in slices (copy_rows), anything
  // else at once.
  template <class Context>
  kj::Promise<void> hand_over(Context ctx, built m) {
    auto root = m->getRoot<wire::Result>().asReader();
    if (!root.isTable()) {
      ctx.getResults().setResult(root);
      return kj::READY_NOW;
    }
    auto table = root.getTable();
    const unsigned n = table.getRows().size();
    auto stats = std::make_shared<hand_over_stats>();
    const auto start = clock::now();
    auto out = ctx.getResults(capnp::MessageSize{m->sizeInWords() + 16, 0}).initResult().initTable();
    out.setColumns(table.getColumns());
    if (table.hasProperties()) out.setProperties(table.getProperties());
    auto rows = out.initRows(n);
    stats->total += clock::now() - start;
    return copy_rows(timer_, rows, table.getRows(), 0, stats).attach(kj::mv(m)).then([stats, n] {
      using us = std::chrono::microseconds;
      if (n >= 10'000)
        spdlog::debug("an answer of {} rows handed over in {} slices: {} us on the RPC loop, the longest slice {} us",
                      n, stats->slices, std::chrono::duration_cast<us>(stats->total).count(),
                      std::chrono::duration_cast<us>(stats->longest).count());
    });
  }

  const rpc_options& options_;
  const actors::gateway& gateway_;
  monitoring::rpc_probe& probe_;
  monitoring::ingest_probe& ingest_probe_;
  std::shared_ptr<call_load> load_;
  kj::Timer& timer_;
  peer_pool& pool_;
  const std::string claimant_ = instance_token();
  wire::Peer::Client peer_;
};

// The internal Peer interface: what other nodes call during their queries' fan-out.
class peer_service final : public wire::Peer::Server {
 public:
  explicit peer_service(service& node) : node_(node) {}
  kj::Promise<void> queryShard(QueryShardContext ctx) override { return node_.query_shard(ctx); }
  kj::Promise<void> claimIngest(ClaimIngestContext ctx) override { return node_.claim_ingest(ctx); }

 private:
  // Outlives this: it holds the capability (peer_) and lives until the last connection, the
  // only other holder, is gone.
  service& node_;
};

service::service(const rpc_options& options, const actors::gateway& gateway, monitoring::rpc_probe& probe,
                 monitoring::ingest_probe& ingest_probe, std::shared_ptr<call_load> load, kj::Timer& timer,
                 peer_pool& peers)
    : options_(options),
      gateway_(gateway),
      probe_(probe),
      ingest_probe_(ingest_probe),
      load_(std::move(load)),
      timer_(timer),
      pool_(peers),
      peer_(kj::heap<peer_service>(*this)) {}

// One accepted connection: what capnp::TwoPartyServer builds, plus the flow limit it does not
// expose.
struct connection {
  connection(kj::Own<kj::AsyncIoStream>&& s, capnp::Capability::Client bootstrap, size_t flow_limit_bytes,
             monitoring::rpc_probe& probe)
      : stream(kj::mv(s)),
        network(*stream, capnp::rpc::twoparty::Side::SERVER, receive_options()),
        rpc(capnp::makeRpcServer(network, kj::mv(bootstrap))),
        probe(probe) {
    rpc.setFlowLimit(std::max<size_t>(flow_limit_bytes / 8, 1));
    probe.connections(monitoring::rpc_probe::protocol::capnp, +1);
  }
  ~connection() { probe.connections(monitoring::rpc_probe::protocol::capnp, -1); }
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;
  static capnp::ReaderOptions receive_options() {
    capnp::ReaderOptions o;
    o.traversalLimitInWords = max_message_words;
    return o;
  }
  kj::Own<kj::AsyncIoStream> stream;
  capnp::TwoPartyVatNetwork network;
  capnp::RpcSystem<capnp::rpc::twoparty::VatId> rpc;
  monitoring::rpc_probe& probe;
};

// The other nodes of a cluster for this node's queries (actors/table_query.hpp): a query pool
// thread asks, this loop calls every other node's Peer.queryShard through the pool, and the
// answers go back through a std::promise. Lives on this loop; close() before the pool goes.
class cluster_shards final : public actors::remote_shards {
 public:
  cluster_shards(const cluster::view& cluster, peer_pool& pool, monitoring::rpc_probe& probe)
      : cluster_(cluster), self_(cluster.self_id()), pool_(&pool), probe_(probe),
        executor_(kj::getCurrentThreadExecutor()), tasks_(kj::heap<kj::TaskSet>(errors_)) {}

  // close() has run by then (tasks_ go on the loop thread).
  ~cluster_shards() noexcept override {}

  const std::string& self_id() const override { return self_; }

  std::future<std::vector<answer>> query(const std::string& database, const std::string& text) const override {
    auto done = std::make_shared<std::promise<std::vector<answer>>>();
    auto future = done->get_future();
    try {
      executor_.executeSync([&] { start(database, text, done); });
    } catch (const kj::Exception& e) {  // the loop has stopped: the node is shutting down
      done->set_value({{"(the other nodes)", std::nullopt,
                        fmt::format("not asked: the node is shutting down ({})", e.getDescription().cStr())}});
    }
    return future;
  }

  // On the loop thread, before the pool goes: calls not answered yet end as failures.
  void close() {
    pool_ = nullptr;
    tasks_ = nullptr;
  }

 private:
  // On the loop thread.
  void start(const std::string& database, const std::string& text,
             const std::shared_ptr<std::promise<std::vector<answer>>>& done) const {
    if (!pool_) {
      done->set_value({{"(the other nodes)", std::nullopt, "not asked: the node is shutting down"}});
      return;
    }
    kj::Vector<kj::Promise<answer>> parts;
    for (auto& n : cluster_.nodes()) {
      if (n.self || n.id == self_) continue;
      if (!n.live || n.rpc_address.empty()) {
        probe_.peer_call(monitoring::rpc_probe::peer_result::unavailable, {});
        parts.add(answer{n.id, std::nullopt,
                         n.live ? "no RPC address registered" : "down: holds no lease in the cluster"});
        continue;
      }
      parts.add(pool_->query_shard(n.rpc_address, database, text).then([id = n.id](shard_call c) mutable {
        return answer{std::move(id), std::move(c.answer), std::move(c.failure)};
      }));
    }
    // A promise dropped unfulfilled (close()) breaks it: the query reads that as "not asked".
    tasks_->add(kj::joinPromises(parts.releaseAsArray()).then([done](kj::Array<answer> all) {
      std::vector<answer> out;
      for (auto& a : all) out.push_back(std::move(a));
      done->set_value(std::move(out));
    }));
  }
  struct errors final : kj::TaskSet::ErrorHandler {
    void taskFailed(kj::Exception&& e) override {
      spdlog::warn("a query's call to other nodes failed: {}", e.getDescription().cStr());
    }
  };

  const cluster::view& cluster_;
  const std::string self_;
  peer_pool* pool_;
  monitoring::rpc_probe& probe_;
  const kj::Executor& executor_;
  errors errors_;
  mutable kj::Own<kj::TaskSet> tasks_;
};

class connection_errors final : public kj::TaskSet::ErrorHandler {
 public:
  void taskFailed(kj::Exception&& e) override {
    spdlog::debug("RPC connection ended: {}", e.getDescription().cStr());
  }
};

// Accepts connections until cancelled; each runs until its peer disconnects. A failed accept
// (out of file descriptors) is retried shortly rather than ending the loop for good.
kj::Promise<void> accept_loop(kj::ConnectionReceiver& listener, kj::Timer& timer, capnp::Capability::Client bootstrap,
                              kj::TaskSet& connections, size_t flow_limit_bytes, monitoring::rpc_probe& probe) {
  return listener.accept()
      .then(
          [&connections, bootstrap, flow_limit_bytes, &probe](kj::Own<kj::AsyncIoStream>&& s) mutable -> kj::Promise<void> {
            auto c = kj::heap<connection>(kj::heap<wire::buffered_stream>(kj::mv(s)), kj::mv(bootstrap), flow_limit_bytes,
                                          probe);
            auto ended = c->network.onDisconnect();
            connections.add(ended.attach(kj::mv(c)));
            return kj::READY_NOW;
          },
          [&timer](kj::Exception&& e) -> kj::Promise<void> {
            spdlog::warn("accepting an RPC connection failed: {}; trying again in 100 ms", e.getDescription().cStr());
            return timer.afterDelay(100 * kj::MILLISECONDS);
          })
      .then([&listener, &timer, bootstrap = kj::mv(bootstrap), &connections, flow_limit_bytes, &probe]() mutable {
        return accept_loop(listener, timer, kj::mv(bootstrap), connections, flow_limit_bytes, probe);
      });
}

}  // namespace

void serve_rpc(const rpc_options& options, const actors::gateway& gateway,
               monitoring::rpc_probe& probe, monitoring::ingest_probe& ingest_probe) {
  auto io = kj::setupAsyncIo();
  auto& ws = io.waitScope;
  auto address = io.provider->getNetwork().parseAddress(options.listen).wait(ws);
  auto listener = address->listen();
  auto load = std::make_shared<call_load>();
  // Before the service and the connections: their calls' promises use it until they go.
  peer_pool peers(*io.provider,
                  {.timeout = options.peer_timeout,
                   .max_outstanding_per_peer = options.max_calls_per_peer,
                   .max_message_words = max_message_words},
                  probe);
  // In a cluster, every query's shard parts also run on the other nodes.
  std::shared_ptr<cluster_shards> shards;
  if (options.cluster) {
    shards = std::make_shared<cluster_shards>(*options.cluster, peers, probe);
    gateway.set_remote_shards(shards);
  }
  KJ_DEFER(if (shards) {
    gateway.set_remote_shards(nullptr);
    shards->close();
  });
  auto node = kj::heap<service>(options, gateway, probe, ingest_probe, load, io.provider->getTimer(), peers);
  front_door& door = *node;
  capnp::Capability::Client bootstrap = kj::mv(node);
  connection_errors errors;
  kj::TaskSet connections(errors);
  kj::Promise<void> accepting =
      accept_loop(*listener, io.provider->getTimer(), bootstrap, connections, options.max_call_bytes_per_connection,
                  probe);
  // Kusto's REST API, on this loop, through the same front door.
  kj::Own<kj::ConnectionReceiver> http_listener;
  kj::Own<http_server> http;
  kj::Promise<void> http_accepting = kj::NEVER_DONE;
  if (!options.http.listen.empty()) {
    KJ_IF_MAYBE(e, kj::runCatchingExceptions([&] {
      http_listener = io.provider->getNetwork().parseAddress(options.http.listen).wait(ws)->listen();
    })) {
      KJ_FAIL_REQUIRE("cannot serve HTTP; choose another --http-listen", options.http.listen, e->getDescription());
    }
    http = kj::heap<http_server>(io.provider->getTimer(), door, options.http, probe);
    http_accepting = http->listen(*http_listener).eagerlyEvaluate([](kj::Exception&& e) {
      spdlog::error("the HTTP endpoint stopped accepting connections: {}", e.getDescription().cStr());
    });
  }
  if (options.on_listening)
    options.on_listening(static_cast<uint16_t>(listener->getPort()),
                         http_listener ? static_cast<uint16_t>(http_listener->getPort()) : uint16_t{0});

  auto signalled = io.unixEventPort.onSignal(SIGTERM).exclusiveJoin(io.unixEventPort.onSignal(SIGINT));
  auto info = signalled.wait(ws);
  spdlog::info("signal {}: no longer accepting RPC connections; draining {} call(s)",
               info.si_signo, load->calls);

  accepting = kj::NEVER_DONE;  // cancels the accept loops
  listener = nullptr;
  http_accepting = kj::NEVER_DONE;
  http_listener = nullptr;
  // HTTP connections finish their running requests and close (idle ones at once).
  kj::Promise<void> http_drained = http ? http->drain().eagerlyEvaluate(nullptr) : kj::Promise<void>(kj::READY_NOW);
  auto deadline = clock::now() + options.drain_timeout;
  while (load->calls > 0 && clock::now() < deadline)
    io.provider->getTimer().afterDelay(5 * kj::MILLISECONDS).wait(ws);
  if (load->calls > 0)
    spdlog::warn("{} RPC call(s) still running after the drain timeout; closing anyway", load->calls);
}

}  // namespace tributary::node
