#include "node/http_server.hpp"

#include <fmt/format.h>
#include <kj/compat/gzip.h>
#include <kj/compat/http.h>
#include <kj/compat/url.h>
#include <kj/debug.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <nlohmann/json.hpp>
#include <random>

#include "ingest/convert.hpp"
#include "ingest/ingest.hpp"
#include "node/kusto_json.hpp"

namespace tributary::node {
namespace {

using json = nlohmann::json;

// A command's or query's body: its text (1 MiB at most, as over Cap'n Proto) and the JSON around.
constexpr uint64_t max_call_body = 2u << 20;
// Answers at least this long are gzipped for a client that accepts gzip.
constexpr size_t gzip_from_bytes = 1024;

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

model::error bad_request(std::string code, std::string message) { return {std::move(code), std::move(message), true}; }

std::string activity_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const uint64_t a = rng(), b = rng();
  return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", a >> 32, (a >> 16) & 0xffff, a & 0xffff, b >> 48,
                     b & 0xffffffffffffULL);
}

// The streaming ingest's answer (what Kusto returns, and what Python's SDK needs: a v1 table).
std::string ingest_answer(uint64_t consumed) {
  model::result_table t;
  t.columns = {{"ConsumedRecordsCount", model::column_type::long_},
               {"UpdatePolicyStatus", model::column_type::string},
               {"UpdatePolicyFailureCode", model::column_type::string},
               {"UpdatePolicyFailureReason", model::column_type::string}};
  t.rows.push_back({static_cast<int64_t>(consumed), std::string("Inactive"), std::string("Unknown"), model::value{}});
  return rest::v1(t);
}

// Kusto's client request properties: `properties` is an object, a JSON string of one, null or
// absent; its "Options" that the engine has become the query's overrides.
std::variant<actors::query_overrides, model::error> overrides_of(const json& body) {
  actors::query_overrides o;
  auto it = body.find("properties");
  if (it == body.end() || it->is_null()) return o;
  json properties = *it;
  if (properties.is_string()) {
    properties = json::parse(properties.get<std::string>(), nullptr, false);
    if (properties.is_discarded())
      return bad_request("BadRequest_InvalidProperties", "the request's \"properties\" string is not JSON; send "
                                                         "{\"Options\":{...}} as an object or as a JSON string");
  }
  if (!properties.is_object()) return o;
  auto options = properties.find("Options");
  if (options == properties.end() || !options->is_object()) return o;
  auto count = [](const json& v) -> std::optional<uint64_t> {
    if (v.is_number_unsigned()) return v.get<uint64_t>();
    if (v.is_number_integer() && v.get<int64_t>() >= 0) return static_cast<uint64_t>(v.get<int64_t>());
    if (v.is_string()) {
      try {
        return std::stoull(v.get<std::string>());
      } catch (...) {
      }
    }
    return std::nullopt;
  };
  for (const auto& [name, value] : options->items()) {
    const auto key = lower(name);
    if (key == "servertimeout") {
      int64_t ticks = 0;
      if (!value.is_string() || !ingest::detail::parse_timespan(value.get<std::string>(), ticks).empty() || ticks <= 0)
        return bad_request("BadRequest_InvalidProperties",
                           fmt::format("option servertimeout is {}, which is no positive timespan; write e.g. "
                                       "\"00:01:00\"",
                                       value.dump()));
      o.timeout = std::chrono::milliseconds(ticks / 10'000);
    } else if (key == "truncationmaxrecords" || key == "truncationmaxsize") {
      auto n = count(value);
      if (!n)
        return bad_request("BadRequest_InvalidProperties",
                           fmt::format("option {} is {}, which is no count of {}", name, value.dump(),
                                       key == "truncationmaxsize" ? "bytes" : "records"));
      (key == "truncationmaxsize" ? o.truncation_max_size : o.truncation_max_records) = *n;
    } else if (key == "notruncation") {
      o.no_truncation = value.is_boolean() ? value.get<bool>() : value.is_string() && lower(value.get<std::string>()) == "true";
    }
    // Other options (request_readonly, queryconsistency, ...) change nothing here.
  }
  return o;
}

// Kusto's managed streaming clients retry an ingest up to three times with the attempt as the last
// part of the request id (KNC.executeManagedStreamingIngestFromStream;<sourceId>;<attempt> from
// Node, KPC.executeManagedStreamingIngest;<sourceId>;<attempt> from Python; the source id is one
// per ingest call). Every attempt of one source is one request, so a retry after a lost answer
// ingests nothing twice.
std::string idempotency_key(std::string_view id) {
  if (!id.starts_with("KNC.executeManagedStreamingIngest") && !id.starts_with("KPC.executeManagedStreamingIngest"))
    return std::string(id);
  const auto last = id.rfind(';');
  if (last == std::string_view::npos || id.find(';') == last || last + 1 == id.size() || id.size() - last > 4)
    return std::string(id);
  for (char c : id.substr(last + 1))
    if (c < '0' || c > '9') return std::string(id);
  return std::string(id.substr(0, last));
}

// The body length a request declares (Content-Length), if it declares one.
std::optional<uint64_t> declared_length(const kj::HttpHeaders& headers) {
  KJ_IF_MAYBE(value, headers.get(kj::HttpHeaderId::CONTENT_LENGTH)) {
    uint64_t n = 0;
    const char* end = value->end();
    if (auto [p, ec] = std::from_chars(value->begin(), end, n); ec == std::errc() && p == end) return n;
  }
  return std::nullopt;
}

}  // namespace

struct http_server::impl final : kj::HttpServerErrorHandler, kj::TaskSet::ErrorHandler {
  using Response = kj::HttpService::Response;

  // One connection's requests, with its stream: KJ 0.9.2's server does not answer
  // `Expect: 100-continue` itself, so the request handler writes the interim answer on the
  // connection before it reads the body (nothing else is written to it then: the previous answer
  // is complete and this one has not started).
  struct connection final : kj::HttpService {
    connection(impl& server, kj::AsyncIoStream& stream) : server(server), stream(stream) {}
    kj::Promise<void> request(kj::HttpMethod method, kj::StringPtr url, const kj::HttpHeaders& headers,
                              kj::AsyncInputStream& body, Response& response) override {
      return server.request(method, url, headers, body, response, stream);
    }
    impl& server;
    kj::AsyncIoStream& stream;
  };

  impl(kj::Timer& timer, front_door& node, const http_options& options, monitoring::rpc_probe& probe)
      : timer(timer), node(node), options(options), probe(probe), table(make_table()),
        server(timer, *table,
               [this](kj::AsyncIoStream& stream) -> kj::Own<kj::HttpService> {
                 return kj::heap<connection>(*this, stream);
               },
               settings()),
        tasks(*this) {
    const auto body = rest::error_body({"Throttling",
                                        fmt::format("the node has {} open HTTP connections, its limit "
                                                    "(--max-http-connections); retry shortly, or reuse a connection",
                                                    options.max_connections),
                                        false},
                                       "", model::now_ticks());
    refusal = fmt::format("HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: "
                          "application/json; charset=utf-8\r\nContent-Length: {}\r\n\r\n{}",
                          body.size(), body);
  }

  kj::Own<kj::HttpHeaderTable> make_table() {
    kj::HttpHeaderTable::Builder builder;
    request_id_header = builder.add("x-ms-client-request-id");
    activity_header = builder.add("x-ms-activity-id");
    content_encoding = builder.add("Content-Encoding");
    accept_encoding = builder.add("Accept-Encoding");
    expect_header = builder.add("Expect");
    return builder.build();
  }

  kj::HttpServerSettings settings() {
    kj::HttpServerSettings s;
    s.headerTimeout = options.header_timeout.count() * kj::MILLISECONDS;
    s.pipelineTimeout = options.idle_timeout.count() * kj::MILLISECONDS;
    s.errorHandler = *this;
    return s;
  }

  // --- answers -------------------------------------------------------------------------------

  kj::Promise<void> send(Response& response, const kj::HttpHeaders& request, unsigned status, std::string body,
                         std::string_view request_id) {
    kj::HttpHeaders headers(*table);
    headers.set(kj::HttpHeaderId::CONTENT_TYPE, "application/json; charset=utf-8");
    headers.set(activity_header, kj::str(activity_id().c_str()));
    if (!request_id.empty()) headers.set(request_id_header, kj::str(std::string(request_id).c_str()));
    bool gzip = false;
    KJ_IF_MAYBE(accepts, request.get(accept_encoding)) {
      gzip = body.size() >= gzip_from_bytes && lower(accepts->cStr()).find("gzip") != std::string::npos;
    }
    const auto text = status_text(status);
    // The text stays where the write reads it until the write is done: on the heap, since moving
    // a short std::string (kept inside the object) would move its bytes.
    auto owned = kj::heap<std::string>(std::move(body));
    const auto& bytes = *owned;
    if (!gzip) {
      auto stream = response.send(status, text, headers, static_cast<uint64_t>(bytes.size()));
      auto write = stream->write(bytes.data(), bytes.size());
      return write.attach(kj::mv(stream), kj::mv(owned));
    }
    headers.set(content_encoding, "gzip");
    auto stream = response.send(status, text, headers);
    auto zipped = kj::heap<kj::GzipAsyncOutputStream>(*stream);
    auto& z = *zipped;
    return z.write(bytes.data(), bytes.size())
        .then([&z] { return z.end(); })
        .attach(kj::mv(zipped), kj::mv(stream), kj::mv(owned));
  }

  static kj::StringPtr status_text(unsigned status) {
    switch (status) {
      case 200: return "OK";
      case 400: return "Bad Request";
      case 404: return "Not Found";
      case 405: return "Method Not Allowed";
      case 413: return "Payload Too Large";
      case 415: return "Unsupported Media Type";
      case 429: return "Too Many Requests";
      case 500: return "Internal Server Error";
      default: return "Service Unavailable";
    }
  }

  kj::Promise<void> send_error(Response& response, const kj::HttpHeaders& request, const model::error& e,
                               std::string_view request_id, unsigned status = 0) {
    return send(response, request, status ? status : rest::map_error(e).status,
                rest::error_body(e, request_id, model::now_ticks()), request_id);
  }

  // --- requests ------------------------------------------------------------------------------

  // A request's body as the handlers see it: the stream, and the connection to say
  // `100 Continue` on when the client waits for it before sending the body.
  struct request_body {
    kj::AsyncInputStream& stream;
    kj::AsyncIoStream* continue_on = nullptr;
  };

  kj::Promise<void> request(kj::HttpMethod method, kj::StringPtr url, const kj::HttpHeaders& headers,
                            kj::AsyncInputStream& stream, kj::HttpService::Response& response,
                            kj::AsyncIoStream& connection) {
    request_body body{stream};
    KJ_IF_MAYBE(expect, headers.get(expect_header)) {
      if (lower(expect->cStr()) == "100-continue") body.continue_on = &connection;
    }
    std::string request_id;
    KJ_IF_MAYBE(id, headers.get(request_id_header)) { request_id = std::string(id->cStr()).substr(0, 256); }
    kj::Url parsed;
    KJ_IF_MAYBE(u, kj::Url::tryParse(url, kj::Url::HTTP_REQUEST)) { parsed = kj::mv(*u); }
    else return send_error(response, headers, bad_request("BadRequest_InvalidUrl", fmt::format("'{}' is no URL", url.cStr())), request_id);
    std::vector<std::string> path;
    for (const auto& p : parsed.path) path.emplace_back(p.cStr());
    auto is = [&](std::initializer_list<std::string_view> want) {
      return path.size() == want.size() && std::equal(path.begin(), path.end(), want.begin());
    };

    if (method == kj::HttpMethod::GET) {
      // No cloud to discover: the SDKs take the public cloud's defaults, and send no token.
      if (is({"v1", "rest", "auth", "metadata"})) {
        kj::HttpHeaders h(*table);
        response.send(404, "Not Found", h, uint64_t{0});  // no body: the stream is complete as it goes
        return kj::READY_NOW;
      }
      if (is({"v1", "rest", "ping"}) || is({"ready"}) || is({"healthz"}))
        return send(response, headers, 200, "{\"status\":\"ok\"}", request_id);
    }
    const bool call_route = is({"v1", "rest", "mgmt"}) || is({"v1", "rest", "query"}) || is({"v2", "rest", "query"});
    const bool ingest_route = path.size() == 5 && path[0] == "v1" && path[1] == "rest" && path[2] == "ingest";
    if (!call_route && !ingest_route)
      return send_error(response, headers,
                        bad_request("NotFound", fmt::format("no route {} {}; Kusto's REST API here is POST /v1/rest/mgmt, "
                                                            "/v1/rest/query, /v2/rest/query and "
                                                            "/v1/rest/ingest/{{database}}/{{table}}",
                                                            kj::str(method).cStr(), url.cStr())),
                        request_id, 404);
    if (method != kj::HttpMethod::POST)
      return send_error(response, headers,
                        bad_request("BadRequest_MethodNotAllowed", fmt::format("{} takes POST, not {}", url.cStr(),
                                                                               kj::str(method).cStr())),
                        request_id, 405);
    if (ingest_route) return ingest(parsed, path, headers, body, response, request_id);
    return call(path[0] == "v2", path[2] == "mgmt", headers, body, response, request_id);
  }

  // The body, at most `limit` bytes, within the body timeout; null when it did not arrive whole
  // in time (a client gone, slow or sending more than the limit). A client waiting for
  // `100 Continue` gets it first.
  kj::Promise<kj::Maybe<kj::Array<kj::byte>>> read_body(request_body body, uint64_t limit) {
    static constexpr std::string_view go_on = "HTTP/1.1 100 Continue\r\n\r\n";
    auto said = body.continue_on ? body.continue_on->write(go_on.data(), go_on.size()) : kj::Promise<void>(kj::READY_NOW);
    auto read = said.then([&stream = body.stream, limit] { return stream.readAllBytes(limit + 1); });
    return timer.timeoutAfter(options.body_timeout.count() * kj::MILLISECONDS, kj::mv(read))
        .then([](kj::Array<kj::byte> bytes) -> kj::Maybe<kj::Array<kj::byte>> { return kj::mv(bytes); },
              [](kj::Exception&&) -> kj::Maybe<kj::Array<kj::byte>> { return nullptr; });
  }

  // A body declared longer than `limit`: refused before a byte of it is read (KJ then closes the
  // connection unless the client stops sending within its grace period).
  kj::Maybe<kj::Promise<void>> refuse_declared_too_long(const kj::HttpHeaders& headers, Response& response,
                                                        uint64_t limit, const char* what,
                                                        const std::string& request_id) {
    auto n = declared_length(headers);
    if (!n || *n <= limit) return nullptr;
    return send_error(response, headers,
                      {"BadRequest_RequestTooLarge",
                       fmt::format("the {} request's body is {} bytes (Content-Length), larger than {} bytes, the "
                                   "limit; {}",
                                   what, *n, limit,
                                   std::string_view(what) == "ingest"
                                       ? "split the data into smaller requests"
                                       : "send a shorter text"),
                       true},
                      request_id);
  }

  model::error body_failed(uint64_t limit, const char* what) {
    return {"BadRequest_RequestTooLarge",
            fmt::format("the {} request's body did not arrive whole within {} s, or is larger than {} bytes, the "
                        "limit; send a smaller body, faster",
                        what, options.body_timeout.count() / 1000, limit),
            true};
  }

  // POST /v1/rest/mgmt, /v1/rest/query, /v2/rest/query.
  kj::Promise<void> call(bool v2, bool mgmt, const kj::HttpHeaders& headers, request_body body,
                         Response& response, std::string request_id) {
    KJ_IF_MAYBE(type, headers.get(kj::HttpHeaderId::CONTENT_TYPE)) {
      const auto t = lower(type->cStr());
      if (t.find("json") == std::string::npos && !t.empty())
        return drain_then_error(body, response, headers,
                                bad_request("BadRequest_UnsupportedMediaType",
                                            fmt::format("the body's Content-Type is '{}'; send application/json: "
                                                        "{{\"db\":\"...\",\"csl\":\"...\"}}",
                                                        type->cStr())),
                                request_id, 415);
    }
    KJ_IF_MAYBE(refused, refuse_declared_too_long(headers, response, max_call_body, mgmt ? "management" : "query",
                                                  request_id)) {
      return kj::mv(*refused);
    }
    return read_body(body, max_call_body)
        .then([this, v2, mgmt, &headers, &response, request_id](kj::Maybe<kj::Array<kj::byte>> read) mutable
              -> kj::Promise<void> {
          KJ_IF_MAYBE(bytes, read) {
            if (bytes->size() > max_call_body)
              return send_error(response, headers, body_failed(max_call_body, mgmt ? "management" : "query"), request_id);
            std::string_view raw(reinterpret_cast<const char*>(bytes->begin()), bytes->size());
            auto text = ingest::decompress(raw, max_call_body);
            if (auto* e = std::get_if<model::error>(&text)) return send_error(response, headers, *e, request_id);
            return run_call(v2, mgmt, std::get<std::string>(text), headers, response, request_id);
          }
          return send_error(response, headers, body_failed(max_call_body, mgmt ? "management" : "query"), request_id);
        });
  }

  kj::Promise<void> run_call(bool v2, bool mgmt, const std::string& text, const kj::HttpHeaders& headers,
                             Response& response, const std::string& request_id) {
    json body;
    try {
      body = json::parse(text);
    } catch (const json::parse_error& e) {
      return send_error(response, headers,
                        bad_request("BadRequest_MalformedJson",
                                    fmt::format("the body is not JSON (byte {}: {}); send {{\"db\":\"...\",\"csl\":"
                                                "\"...\",\"properties\":{{...}}}}",
                                                e.byte, e.what())),
                        request_id);
    }
    if (!body.is_object() || !body.contains("csl") || !body["csl"].is_string())
      return send_error(response, headers,
                        bad_request("BadRequest_MissingCsl", "the body has no \"csl\" string; send {\"db\":\"...\","
                                                             "\"csl\":\"...\"}"),
                        request_id);
    std::string database = body.contains("db") && body["db"].is_string() ? body["db"].get<std::string>() : "";
    std::string csl = body["csl"].get<std::string>();
    const auto first = csl.find_first_not_of(" \t\r\n");
    const bool command = first != std::string::npos && csl[first] == '.';
    if (mgmt && !command)
      return send_error(response, headers,
                        bad_request("BadRequest_NotACommand",
                                    "/v1/rest/mgmt runs management commands (text starting with '.'); send queries to "
                                    "/v2/rest/query"),
                        request_id);
    if (!mgmt && command)
      return send_error(response, headers,
                        bad_request("BadRequest_NotAQuery",
                                    "this route runs queries; send management commands (text starting with '.') to "
                                    "/v1/rest/mgmt"),
                        request_id);
    auto render = [v2, request_id](const model::outcome& o, const std::vector<std::string>& warnings) {
      rendered r;
      if (const auto* e = std::get_if<model::error>(&o)) {
        r.ok = false;
        r.code = e->code;
        r.status = rest::map_error(*e).status;
        r.body = rest::error_body(*e, request_id, model::now_ticks());
        return r;
      }
      const auto& t = std::get<model::result_table>(o);
      r.body = v2 ? rest::v2(t, request_id, warnings, model::now_ticks()) : rest::v1(t);
      return r;
    };
    auto answer = [this, &headers, &response, request_id](rendered r) {
      return send(response, headers, r.status, std::move(r.body), request_id);
    };
    if (mgmt) return node.command(std::move(database), std::move(csl), render).then(kj::mv(answer));
    auto overrides = overrides_of(body);
    if (auto* e = std::get_if<model::error>(&overrides)) return send_error(response, headers, *e, request_id);
    auto cancelled = std::make_shared<std::atomic<bool>>(false);
    return node
        .query(std::move(database), std::move(csl), std::get<actors::query_overrides>(overrides), cancelled, render)
        .then(kj::mv(answer));
  }

  // POST /v1/rest/ingest/{db}/{table}?streamFormat=..&mappingName=..
  kj::Promise<void> ingest(const kj::Url& url, const std::vector<std::string>& path, const kj::HttpHeaders& headers,
                           request_body body, Response& response, std::string request_id) {
    actors::ingest_call call;
    call.database = path[3];
    call.table = path[4];
    call.request_id = idempotency_key(request_id);
    std::string format_name;
    for (const auto& p : url.query) {
      const auto name = lower(p.name.cStr());
      const std::string value = p.value == nullptr ? std::string() : std::string(p.value.cStr());
      if (name == "streamformat") format_name = value;
      else if (name == "mappingname") call.mapping_name = value;
      else if (name == "sourcekind" && lower(value) == "uri")
        return drain_then_error(body, response, headers,
                                bad_request("BadRequest_SourceKindNotSupported",
                                            "ingest from a blob URI (sourceKind=uri) is not supported: send the data "
                                            "itself in the request body (StreamingIngestClient.ingestFromStream or "
                                            "ingestFromFile)"),
                                request_id);
    }
    auto format = ingest::parse_format(format_name.empty() ? "csv" : format_name);
    if (!format)
      return drain_then_error(
          body, response, headers,
          bad_request("BadRequest_FormatNotSupported",
                      fmt::format("streamFormat '{}' is not a format streaming ingestion takes here; use csv, tsv, "
                                  "scsv, sohsv, psv, json or multijson",
                                  format_name)),
          request_id);
    call.format = *format;
    KJ_IF_MAYBE(refused, refuse_declared_too_long(headers, response, ingest::max_request_bytes, "ingest", request_id)) {
      return kj::mv(*refused);
    }
    return read_body(body, ingest::max_request_bytes)
        .then([this, call = std::move(call), &headers, &response, request_id](
                  kj::Maybe<kj::Array<kj::byte>> read) mutable -> kj::Promise<void> {
          KJ_IF_MAYBE(bytes, read) {
            if (bytes->size() > ingest::max_request_bytes)
              return send_error(response, headers,
                                {"BadRequest_RequestTooLarge",
                                 fmt::format("the request's body is larger than {} bytes, the limit of one streaming "
                                             "ingest request: split the data into smaller requests",
                                             ingest::max_request_bytes),
                                 true},
                                request_id);
            // The SDKs say gzip whatever they send: the body's first bytes tell.
            if (bytes->size() >= 4 && (*bytes)[0] == 'P' && (*bytes)[1] == 'K' && (*bytes)[2] == 3 && (*bytes)[3] == 4)
              return send_error(response, headers,
                                bad_request("BadRequest_ZipNotSupported",
                                            "the body is a zip archive, which streaming ingestion does not take: send "
                                            "the file itself, plain or gzipped"),
                                request_id);
            const size_t wire = bytes->size() + call.database.size() + call.table.size() + call.mapping_name.size() +
                                call.request_id.size();
            call.data.assign(reinterpret_cast<const char*>(bytes->begin()), bytes->size());
            return node.ingest(std::move(call), wire).then([this, &headers, &response, request_id](actors::ingest_outcome o) {
              if (const auto* e = std::get_if<model::error>(&o)) return send_error(response, headers, *e, request_id);
              return send(response, headers, 200, ingest_answer(std::get<actors::ingest_ack>(o).consumed_records),
                          request_id);
            });
          }
          return send_error(response, headers, body_failed(ingest::max_request_bytes, "ingest"), request_id);
        });
  }

  // An error answered before the body was needed: the body is read (and dropped) first, so that
  // the keep-alive connection stays in step, unless it is too large or too slow. A client waiting
  // for `100 Continue` gets the error instead and sends no body.
  kj::Promise<void> drain_then_error(request_body body, Response& response, const kj::HttpHeaders& headers,
                                     model::error e, std::string request_id, unsigned status = 0) {
    if (body.continue_on) return send_error(response, headers, e, request_id, status);
    return read_body(body, ingest::max_request_bytes)
        .then([this, &response, &headers, e = std::move(e), request_id, status](kj::Maybe<kj::Array<kj::byte>>) {
          return send_error(response, headers, e, request_id, status);
        });
  }

  // --- protocol errors (KJ's parser) -----------------------------------------------------------

  kj::Promise<void> handleClientProtocolError(kj::HttpHeaders::ProtocolError error, Response& response) override {
    kj::HttpHeaders none(*table);
    return send_error(response, none,
                      bad_request("BadRequest_MalformedHttp",
                                  fmt::format("the request is not valid HTTP/1.1 ({}); the connection is closed",
                                              error.description.cStr())),
                      "", error.statusCode);
  }

  kj::Promise<void> handleApplicationError(kj::Exception exception, kj::Maybe<Response&> response) override {
    spdlog::warn("HTTP request failed inside the node: {}", exception.getDescription().cStr());
    KJ_IF_MAYBE(r, response) {
      kj::HttpHeaders none(*table);
      return send_error(*r, none,
                        {"InternalServerError",
                         fmt::format("the request failed inside the node ({}); retry it (with the same "
                                     "x-ms-client-request-id for ingests)",
                                     exception.getDescription().cStr()),
                         false},
                        "");
    }
    return kj::READY_NOW;
  }

  // --- connections ---------------------------------------------------------------------------

  kj::Promise<void> accept(kj::ConnectionReceiver& port) {
    return port.accept().then([this, &port](kj::Own<kj::AsyncIoStream> stream) {
      if (open >= options.max_connections) {
        // Refused cleanly: a 503 the client can read, then the connection closes.
        auto& s = *stream;
        tasks.add(s.write(refusal.data(), refusal.size()).attach(kj::mv(stream)));
      } else {
        ++open;
        probe.connections(monitoring::rpc_probe::protocol::http, +1);
        tasks.add(server.listenHttp(kj::mv(stream)).attach(kj::defer([this] {
          --open;
          probe.connections(monitoring::rpc_probe::protocol::http, -1);
        })));
      }
      return accept(port);
    });
  }

  void taskFailed(kj::Exception&& e) override { spdlog::debug("HTTP connection ended: {}", e.getDescription().cStr()); }

  kj::Timer& timer;
  front_door& node;
  http_options options;
  monitoring::rpc_probe& probe;
  kj::HttpHeaderId request_id_header = kj::HttpHeaderId::HOST;
  kj::HttpHeaderId activity_header = kj::HttpHeaderId::HOST;
  kj::HttpHeaderId content_encoding = kj::HttpHeaderId::HOST;
  kj::HttpHeaderId accept_encoding = kj::HttpHeaderId::HOST;
  kj::HttpHeaderId expect_header = kj::HttpHeaderId::HOST;
  kj::Own<kj::HttpHeaderTable> table;
  kj::HttpServer server;
  kj::TaskSet tasks;
  size_t open = 0;
  std::string refusal;  ///< the whole answer to a connection past the limit
};

http_server::http_server(kj::Timer& timer, front_door& node, const http_options& options,
                         monitoring::rpc_probe& probe)
    : impl_(std::make_unique<impl>(timer, node, options, probe)) {}
http_server::~http_server() = default;

kj::Promise<void> http_server::listen(kj::ConnectionReceiver& port) { return impl_->accept(port); }
kj::Promise<void> http_server::drain() { return impl_->server.drain(); }
size_t http_server::open_connections() const { return impl_->open; }

}  // namespace tributary::node
