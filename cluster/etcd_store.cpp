// The metadata store over etcd's JSON gateway (/v3/), with libcurl. What the gateway does, as
// measured on etcd 3.4.23, is in reference/cluster.md §1; the comments below point there.

#include <curl/curl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "cluster/metadata_store.hpp"

namespace tributary::cluster {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

constexpr std::string_view advice = "check that etcd is running and reachable";
/// An answer larger than this is refused rather than buffered (a range over a runaway prefix).
constexpr size_t max_answer_bytes = 64u << 20;
/// Unary handles kept for reuse (each keeps its connections alive); more are made on demand.
constexpr size_t max_idle_handles = 8;

// --- encoding ---

// Neither libcurl nor nlohmann_json exposes base64, and etcd's gateway carries every key and
// value as standard base64 with padding (Go's encoding/json for []byte).
constexpr std::string_view base64_digits =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  auto byte = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(in[i])); };
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    uint32_t n = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
    for (int shift : {18, 12, 6, 0}) out += base64_digits[(n >> shift) & 63];
  }
  if (in.size() - i == 1) {
    uint32_t n = byte(i) << 16;
    out += base64_digits[(n >> 18) & 63];
    out += base64_digits[(n >> 12) & 63];
    out += "==";
  } else if (in.size() - i == 2) {
    uint32_t n = byte(i) << 16 | byte(i + 1) << 8;
    for (int shift : {18, 12, 6}) out += base64_digits[(n >> shift) & 63];
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view in) {
  std::string out;
  out.reserve(in.size() / 4 * 3);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    auto digit = base64_digits.find(c);
    if (digit == std::string_view::npos) return std::nullopt;
    acc = (acc << 6 | static_cast<uint32_t>(digit)) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

/// The first key after every key that starts with `prefix` (etcd's range_end for a prefix):
/// the prefix with its last byte below 0xff incremented. "\0" (no upper bound) when there is none.
std::string prefix_end(std::string prefix) {
  while (!prefix.empty()) {
    auto last = static_cast<unsigned char>(prefix.back());
    if (last < 0xff) {
      prefix.back() = static_cast<char>(last + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\0');
}

/// An answer that does not have the shape etcd's gateway gives.
struct bad_answer : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The key and range_end fields of a request for `key`, or for every key under it.
void put_range(json& request, const std::string& key, bool prefix) {
  // etcd refuses an empty key; "\0" is the smallest key, so "\0".."\0" is every key.
  request["key"] = base64_encode(key.empty() && prefix ? std::string(1, '\0') : key);
  if (prefix) request["range_end"] = base64_encode(prefix_end(key));
}

// etcd's gateway writes every int64 as a JSON string (lease ids exceed 2^53, so they must never
// pass through a double) and leaves out fields holding 0 (§1.3).
int64_t int_field(const json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) return 0;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (!it->is_string())
    throw bad_answer(fmt::format("field '{}' is not an integer: {}", name, it->dump()));
  const auto& text = it->get_ref<const std::string&>();
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size())
    throw bad_answer(fmt::format("field '{}' is not an integer: '{}'", name, text));
  return value;
}

std::string bytes_field(const json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) return {};
  if (!it->is_string()) throw bad_answer(fmt::format("field '{}' is not base64 text", name));
  auto bytes = base64_decode(it->get_ref<const std::string&>());
  if (!bytes)
    throw bad_answer(fmt::format("field '{}' is not base64: '{}'", name, it->get<std::string>()));
  return std::move(*bytes);
}

bool bool_field(const json& object, const char* name) {
  auto it = object.find(name);
  return it != object.end() && it->is_boolean() && it->get<bool>();
}

const json& object_field(const json& object, const char* name) {
  static const json empty = json::object();
  auto it = object.find(name);
  return it != object.end() && it->is_object() ? *it : empty;
}

int64_t header_revision(const json& answer) {
  return int_field(object_field(answer, "header"), "revision");
}

key_value parse_kv(const json& kv) {
  return key_value{bytes_field(kv, "key"), bytes_field(kv, "value"),
                   int_field(kv, "create_revision"), int_field(kv, "mod_revision"),
                   int_field(kv, "lease")};
}

/// etcd's error text and gRPC code from an error answer: `{"error":"...","code":N}` from unary
/// calls, `{"error":{"grpc_code":N,"message":"..."}}` from streams (§1.5, §1.9).
struct etcd_fault {
  int code = -1;
  std::string message;
};

std::optional<etcd_fault> fault_of(const json& answer) {
  auto it = answer.find("error");
  if (it == answer.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) {
    auto code = answer.find("code");
    return etcd_fault{code != answer.end() && code->is_number_integer() ? code->get<int>() : -1,
                      it->get<std::string>()};
  }
  if (it->is_object()) {
    auto code = it->find("grpc_code");
    auto message = it->find("message");
    return etcd_fault{
        code != it->end() && code->is_number_integer() ? code->get<int>() : -1,
        message != it->end() && message->is_string() ? message->get<std::string>() : it->dump()};
  }
  return etcd_fault{-1, it->dump()};
}

// gRPC status codes etcd answers with.
constexpr int grpc_not_found = 5;
constexpr int grpc_out_of_range = 11;
constexpr int grpc_unavailable = 14;

bool lease_not_found(const etcd_fault& f) {
  return f.message.find("lease not found") != std::string::npos;
}

// A request that reached etcd and got no answer: it may still commit (reference/cluster.md §1.9:
// "request timed out" answers can). Transient, but the caller must read back before redoing it.
model::error outcome_unknown(const std::string& causes) {
  return {"ClusterMetadataOutcomeUnknown", causes + " (the outcome is unknown: read back to find out)", false};
}

model::error unavailable(std::string causes) {
  return model::error{"ClusterMetadataUnavailable", fmt::format("{}; {}", causes, advice), false};
}

// --- libcurl ---

void init_curl_once() {
  // curl_global_init is not thread-safe and must precede every other libcurl call; the process
  // keeps libcurl initialised until exit.
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct curl_slist_deleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using header_list = std::unique_ptr<curl_slist, curl_slist_deleter>;

header_list make_headers(std::initializer_list<const char*> lines) {
  curl_slist* list = nullptr;
  for (const char* line : lines) {
    auto* grown = curl_slist_append(list, line);
    if (!grown) {
      curl_slist_free_all(list);
      throw std::bad_alloc();
    }
    list = grown;
  }
  return header_list(list);
}

/// Options every handle of ours gets, unary or watch.
void set_common_options(CURL* curl, curl_slist* headers, char* error_buffer) {
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM for name-resolution timeouts
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPIDLE, 10L);
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPINTVL, 5L);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http");
  // etcd is reached directly: an http_proxy in the node's environment must not capture it.
  curl_easy_setopt(curl, CURLOPT_PROXY, "");
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
}

std::string curl_failure(CURLcode rc, const char* error_buffer) {
  std::string detail = error_buffer && *error_buffer ? error_buffer : curl_easy_strerror(rc);
  return detail;
}

/// Whether a failed transfer never sent its request, so that another endpoint may take it even
/// when it is not idempotent.
bool request_unsent(CURL* curl, CURLcode rc) {
  if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST) return true;
  long sent = 0;
  return curl_easy_getinfo(curl, CURLINFO_REQUEST_SIZE, &sent) == CURLE_OK && sent == 0;
}

/// One reusable handle for unary calls; its connection cache keeps etcd connections alive.
struct unary_handle {
  CURL* curl = nullptr;
  char error[CURL_ERROR_SIZE] = {};
  std::string answer;
  bool too_large = false;

  unary_handle() = default;
  unary_handle(const unary_handle&) = delete;
  unary_handle& operator=(const unary_handle&) = delete;
  ~unary_handle() {
    if (curl) curl_easy_cleanup(curl);
  }
};

size_t collect_answer(char* data, size_t, size_t bytes, void* user) {
  auto* h = static_cast<unary_handle*>(user);
  if (h->answer.size() + bytes > max_answer_bytes) {
    h->too_large = true;
    return 0;  // aborts the transfer
  }
  h->answer.append(data, bytes);
  return bytes;
}

// --- the watch stream ---

/// The state of one watch's HTTP stream, filled by libcurl's write callback and drained by the
/// watch loop, which calls `deliver` outside libcurl (a throwing callback must not unwind through
/// C).
struct watch_stream {
  CURL* curl = nullptr;
  std::string endpoint;
  char error[CURL_ERROR_SIZE] = {};
  long status = 0;
  std::string pending;     ///< bytes after the last complete line
  std::string error_body;  ///< the answer when the status is not 200
  std::deque<watch_batch> ready;
  std::optional<watch_end> end;
  bool heard = false;  ///< any line arrived
  steady::time_point last_line = steady::now();
};

watch_end failed(std::string message) {
  return watch_end{watch_end::reason::failed, 0, std::move(message)};
}

/// Turns one line of the watch stream into batches or an end (§1.6, §1.7, §1.9).
void take_line(watch_stream& s, std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.empty()) return;
  s.heard = true;
  s.last_line = steady::now();
  json message;
  try {
    message = json::parse(line);
  } catch (const json::exception& e) {
    s.end = failed(
        fmt::format("{}: unreadable watch message ({}): {:.200}", s.endpoint, e.what(), line));
    return;
  }
  if (auto fault = fault_of(message)) {
    // e.g. "etcdserver: no leader" from a member cut off from its cluster (hasleader header).
    s.end = failed(fmt::format("{}: the watch ended with etcd's error '{}' (code {})", s.endpoint,
                               fault->message, fault->code));
    return;
  }
  const json& result = object_field(message, "result");
  if (bool_field(result, "canceled")) {
    if (auto compact = int_field(result, "compact_revision"); compact > 0) {
      s.end = watch_end{watch_end::reason::compacted, compact, {}};
    } else {
      auto reason = result.find("cancel_reason");
      s.end = failed(fmt::format("{}: etcd canceled the watch: {}", s.endpoint,
                                 reason != result.end() && reason->is_string()
                                     ? reason->get<std::string>()
                                     : "no reason given"));
    }
    return;
  }
  // The creation answer's revision is the store's when the watch began, not a promise that
  // every earlier change was delivered (replayed history follows it), so it is no progress notice.
  if (bool_field(result, "created")) return;
  auto events = result.find("events");
  if (events == result.end() || !events->is_array() || events->empty()) {
    // etcd sends progress notices only to watches that have caught up.
    s.ready.push_back(watch_batch{header_revision(result), {}});
    return;
  }
  // One message may carry many revisions (a replay sends them together; §1.6), but never splits
  // one: deliver one batch per revision so that a batch is always one whole transaction.
  for (const json& e : *events) {
    watch_event event;
    auto type = e.find("type");
    if (type != e.end() && type->is_string() && type->get<std::string>() == "DELETE")
      event.what = watch_event::kind::erase;
    event.kv = parse_kv(object_field(e, "kv"));
    if (s.ready.empty() || s.ready.back().events.empty() ||
        s.ready.back().revision != event.kv.mod_revision)
      s.ready.push_back(watch_batch{event.kv.mod_revision, {}});
    s.ready.back().events.push_back(std::move(event));
  }
}

size_t on_watch_data(char* data, size_t, size_t bytes, void* user) {
  auto& s = *static_cast<watch_stream*>(user);
  try {
    if (s.status == 0) curl_easy_getinfo(s.curl, CURLINFO_RESPONSE_CODE, &s.status);
    if (s.status != 200) {
      s.error_body.append(
          data, std::min(bytes, size_t{4096} - std::min(s.error_body.size(), size_t{4096})));
      return bytes;
    }
    s.pending.append(data, bytes);
    size_t start = 0;
    for (size_t eol; (eol = s.pending.find('\n', start)) != std::string::npos; start = eol + 1) {
      take_line(s, std::string_view(s.pending).substr(start, eol - start));
      // etcd keeps a canceled watch's stream open (§1.7): ending the transfer closes it.
      if (s.end) return 0;
    }
    s.pending.erase(0, start);
    if (s.pending.size() > max_answer_bytes) {
      s.end =
          failed(fmt::format("{}: a watch message exceeds {} bytes", s.endpoint, max_answer_bytes));
      return 0;
    }
    return bytes;
  } catch (const std::exception& e) {
    s.end = failed(fmt::format("{}: unreadable watch message: {}", s.endpoint, e.what()));
    return 0;
  }
}

struct multi_transfer {
  CURLM* multi = curl_multi_init();
  CURL* easy = curl_easy_init();
  bool added = false;
  multi_transfer() = default;
  multi_transfer(const multi_transfer&) = delete;
  multi_transfer& operator=(const multi_transfer&) = delete;
  ~multi_transfer() {
    if (added) curl_multi_remove_handle(multi, easy);
    if (easy) curl_easy_cleanup(easy);
    if (multi) curl_multi_cleanup(multi);
  }
};

// --- the store ---

class etcd_store final : public metadata_store {
 public:
  etcd_store(std::string url, std::vector<std::string> endpoints,
             std::chrono::milliseconds call_timeout)
      : url_(std::move(url)),
        endpoints_(std::move(endpoints)),
        call_timeout_(call_timeout),
        unary_headers_(make_headers({"Content-Type: application/json", "Expect:"})),
        // The gateway's form of clientv3.WithRequireLeader: without it a watch on a member that
        // lost its cluster stays open and silent (§1.9).
        watch_headers_(make_headers(
            {"Content-Type: application/json", "Expect:", "Grpc-Metadata-hasleader: true"})) {}

  result<range_result> range(const std::string& key, bool prefix) override {
    json request = json::object();
    put_range(request, key, prefix);
    return call<range_result>("/v3/kv/range", request, retry::always, [](const json& answer) {
      range_result r{header_revision(answer), {}};
      if (auto kvs = answer.find("kvs"); kvs != answer.end() && kvs->is_array())
        for (const json& kv : *kvs) r.kvs.push_back(parse_kv(kv));
      return r;
    });
  }

  result<txn_result> txn(const std::vector<compare>& compares,
                         const std::vector<operation>& success) override {
    json request = {
        {"compare", json::array()}, {"success", json::array()}, {"failure", json::array()}};
    std::set<std::string> compared;
    for (const compare& c : compares) {
      bool mod = c.what == compare::target::mod;
      request["compare"].push_back(
          {{"target", mod ? "MOD" : "CREATE"},
           {"key", base64_encode(c.key)},
           {"result", "EQUAL"},
           {mod ? "mod_revision" : "create_revision", std::to_string(c.revision)}});
      // On failure etcd runs the failure branch: reading the compared keys there gives `current`
      // from the same revision as the failed compare, with no second round trip (§1.4).
      if (compared.insert(c.key).second)
        request["failure"].push_back({{"request_range", {{"key", base64_encode(c.key)}}}});
    }
    for (const operation& op : success) {
      json body = json::object();
      switch (op.what) {
        case operation::kind::put:
          body = {{"key", base64_encode(op.key)}, {"value", base64_encode(op.value)}};
          if (op.lease != 0) body["lease"] = std::to_string(op.lease);
          request["success"].push_back({{"request_put", body}});
          break;
        case operation::kind::erase:
          put_range(body, op.key, false);
          request["success"].push_back({{"request_delete_range", body}});
          break;
        case operation::kind::erase_prefix:
          put_range(body, op.key, true);
          request["success"].push_back({{"request_delete_range", body}});
          break;
      }
    }
    auto outcome = post("/v3/kv/txn", request, retry::unsent_only);
    if (auto* f = std::get_if<failure>(&outcome)) {
      if (f->fault && lease_not_found(*f->fault)) {
        std::string leases;
        for (const operation& op : success)
          if (op.lease != 0)
            leases +=
                fmt::format("{}{} (etcdctl: {:x})", leases.empty() ? "" : ", ", op.lease, op.lease);
        return model::error{
            "ClusterLeaseNotFound",
            fmt::format(
                "{}: etcd refused the transaction: lease {} no longer exists (expired or "
                "revoked, and its keys are gone); grant a new lease and write the keys again",
                f->endpoint, leases),
            true};
      }
      return std::move(f->error);
    }
    return parse_answer<txn_result>(std::get<json>(outcome), "/v3/kv/txn", [](const json& answer) {
      // A failed compare leaves `succeeded` out (false is its default; §1.4).
      txn_result r{bool_field(answer, "succeeded"), header_revision(answer), {}};
      if (r.succeeded) return r;
      if (auto responses = answer.find("responses");
          responses != answer.end() && responses->is_array())
        for (const json& response : *responses) {
          const json& read = object_field(response, "response_range");
          if (auto kvs = read.find("kvs"); kvs != read.end() && kvs->is_array())
            for (const json& kv : *kvs) r.current.push_back(parse_kv(kv));
        }
      return r;
    });
  }

  result<int64_t> grant_lease(std::chrono::seconds ttl) override {
    return call<int64_t>("/v3/lease/grant", {{"TTL", std::to_string(ttl.count())}},
                         retry::unsent_only, [](const json& answer) {
                           if (auto error = answer.find("error");
                               error != answer.end() && error->is_string() &&
                               !error->get_ref<const std::string&>().empty())
                             throw bad_answer("lease not granted: " + error->get<std::string>());
                           auto id = int_field(answer, "ID");
                           if (id == 0) throw bad_answer("lease grant answer without an ID");
                           return id;
                         });
  }

  result<int64_t> keep_alive(int64_t lease) override {
    // /v3/lease/keepalive is a stream; one request gives one line and the end of the answer.
    auto outcome = post("/v3/lease/keepalive", {{"ID", std::to_string(lease)}}, retry::always);
    if (auto* f = std::get_if<failure>(&outcome)) {
      if (f->fault && lease_not_found(*f->fault)) return int64_t{0};
      return std::move(f->error);
    }
    const json& answer = std::get<json>(outcome);
    if (auto fault = fault_of(answer)) {
      if (lease_not_found(*fault)) return int64_t{0};
      return model::error{"ClusterMetadataUnavailable",
                          fmt::format("{}: lease keep-alive failed: {} (code {}); {}", endpoint(),
                                      fault->message, fault->code, advice),
                          false};
    }
    // A dead lease still answers 200, without a TTL (§1.5).
    return parse_answer<int64_t>(answer, "/v3/lease/keepalive", [](const json& a) {
      return std::max<int64_t>(int_field(object_field(a, "result"), "TTL"), 0);
    });
  }

  std::optional<model::error> revoke_lease(int64_t lease) override {
    auto outcome = post("/v3/lease/revoke", {{"ID", std::to_string(lease)}}, retry::always);
    if (auto* f = std::get_if<failure>(&outcome)) {
      // Already gone: its keys are gone too, which is what revoking is for.
      if (f->fault && lease_not_found(*f->fault)) return std::nullopt;
      return std::move(f->error);
    }
    return std::nullopt;
  }

  result<int64_t> lease_ttl(int64_t lease) override {
    return call<int64_t>("/v3/lease/timetolive", {{"ID", std::to_string(lease)}}, retry::always,
                         [](const json& answer) -> int64_t {
                           if (!answer.contains("header")) throw bad_answer("no header");
                           auto ttl = int_field(answer, "TTL");
                           // -1: gone. 0 (left out): alive with under a second left, which our 0
                           // ("no longer exists") must not claim.
                           return ttl < 0 ? 0 : std::max<int64_t>(ttl, 1);
                         });
  }

  watch_end watch(const std::string& prefix, int64_t from_revision,
                  const std::function<void(const watch_batch&)>& deliver,
                  const std::atomic<bool>& stop, std::chrono::milliseconds silence) override {
    json create = {{"progress_notify", true}};
    put_range(create, prefix, true);
    if (from_revision > 0) create["start_revision"] = std::to_string(from_revision);
    const std::string body = json{{"create_request", create}}.dump();
    std::string causes;
    const size_t first = current_.load();
    // Connection failures (nothing sent yet) move on to the next endpoint within this call;
    // anything after the stream began ends the watch, and the caller reseeds.
    for (size_t attempt = 0; attempt < endpoints_.size(); ++attempt) {
      size_t index = (first + attempt) % endpoints_.size();
      bool unsent = false;
      watch_end end = watch_once(index, body, deliver, stop, silence, unsent);
      if (!unsent) return end;
      rotate_from(index);
      causes += (causes.empty() ? "" : "; ") + end.message;
    }
    return failed(fmt::format("{}; {}", causes, advice));
  }

  std::optional<model::error> compact(int64_t revision) override {
    auto outcome =
        post("/v3/kv/compaction", {{"revision", std::to_string(revision)}, {"physical", true}},
             retry::always);
    if (auto* f = std::get_if<failure>(&outcome)) {
      // "required revision has been compacted": history before `revision` is gone already.
      if (f->fault && f->fault->code == grpc_out_of_range &&
          f->fault->message.find("compacted") != std::string::npos)
        return std::nullopt;
      return std::move(f->error);
    }
    return std::nullopt;
  }

  std::string describe() const override { return url_; }

 private:
  /// When a failed call may be sent again to the next endpoint: `always` for idempotent calls,
  /// `unsent_only` when a second application could differ (a txn, a grant).
  enum class retry : uint8_t { always, unsent_only };

  struct failure {
    model::error error;
    std::string endpoint;
    std::optional<etcd_fault> fault;  ///< etcd's own error, when it answered with one
  };
  using outcome = std::variant<json, failure>;

  std::string endpoint() const { return endpoints_[current_.load() % endpoints_.size()]; }

  /// Moves calls on from the endpoint at `index` unless another thread already did.
  void rotate_from(size_t index) {
    size_t next = (index + 1) % endpoints_.size();
    if (current_.compare_exchange_strong(index, next) && endpoints_.size() > 1)
      spdlog::debug("etcd: moving from {} to {}", endpoints_[index], endpoints_[next]);
  }

  std::unique_ptr<unary_handle> acquire() {
    {
      std::lock_guard lock(pool_mutex_);
      if (!idle_.empty()) {
        auto h = std::move(idle_.back());
        idle_.pop_back();
        return h;
      }
    }
    auto h = std::make_unique<unary_handle>();
    h->curl = curl_easy_init();
    if (!h->curl) return nullptr;
    set_common_options(h->curl, unary_headers_.get(), h->error);
    curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, collect_answer);
    curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, h.get());
    return h;
  }

  void release(std::unique_ptr<unary_handle> h) {
    std::lock_guard lock(pool_mutex_);
    if (idle_.size() < max_idle_handles) idle_.push_back(std::move(h));
  }

  /// POSTs `request` to `path`, starting at the current endpoint and moving on after a transport
  /// failure (or etcd's "unavailable") as `r` allows, all within call_timeout. Returns the answer
  /// of a 200, or the failure.
  outcome post(const char* path, const json& request, retry r) {
    const auto deadline = steady::now() + call_timeout_;
    const std::string body = request.dump();
    auto handle = acquire();
    if (!handle) return failure{unavailable("libcurl could not create a handle"), "", std::nullopt};
    std::string causes;
    const size_t first = current_.load();
    const size_t n = endpoints_.size();
    for (size_t attempt = 0; attempt < n; ++attempt) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
      if (left <= 0ms) break;
      const size_t index = (first + attempt) % n;
      const std::string& endpoint = endpoints_[index];
      CURL* curl = handle->curl;
      handle->answer.clear();
      handle->too_large = false;
      handle->error[0] = '\0';
      const std::string url = endpoint + path;
      curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
      curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(left.count()));
      // A black-holed endpoint must leave time to try the others within this call.
      curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                       static_cast<long>(
                           std::max<int64_t>(left.count() / static_cast<int64_t>(n - attempt), 1)));
      CURLcode rc = curl_easy_perform(curl);
      if (rc != CURLE_OK) {
        std::string cause =
            handle->too_large ? fmt::format("answer to {} exceeds {} bytes", path, max_answer_bytes)
                              : curl_failure(rc, handle->error);
        causes += fmt::format("{}{}: {}", causes.empty() ? "" : "; ", endpoint, cause);
        rotate_from(index);
        if (r == retry::always || request_unsent(curl, rc)) continue;
        release(std::move(handle));
        return failure{outcome_unknown(causes),
                       endpoint, std::nullopt};
      }
      long status = 0;
      curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
      json answer = json::parse(handle->answer, nullptr, false);
      if (status == 200 && !answer.is_discarded()) {
        release(std::move(handle));
        return answer;
      }
      auto fault = answer.is_discarded() ? std::nullopt : fault_of(answer);
      std::string cause =
          fault ? fmt::format("HTTP {}: {} (code {})", status, fault->message, fault->code)
                : fmt::format("HTTP {}: {:.200}", status,
                              handle->answer.empty() ? "(empty answer)" : handle->answer);
      if (status >= 500 || status == 429 || (fault && fault->code == grpc_unavailable) || !fault) {
        // No leader, request timed out, too many requests, or not etcd answering: another member
        // may do better.
        causes += fmt::format("{}{}: {}", causes.empty() ? "" : "; ", endpoint, cause);
        rotate_from(index);
        if (r == retry::always) continue;
        release(std::move(handle));
        // "request timed out" may still commit.
        return failure{outcome_unknown(causes),
                       endpoint, fault};
      }
      release(std::move(handle));
      // etcd understood and refused the request: the same request will be refused again.
      return failure{model::error{"ClusterMetadataRejected",
                                  fmt::format("{}: etcd refused {}: {} (code {})", endpoint, path,
                                              fault->message, fault->code),
                                  true},
                     endpoint, fault};
    }
    release(std::move(handle));
    if (causes.empty())
      causes =
          fmt::format("{}: no answer within {} ms", endpoints_[first % n], call_timeout_.count());
    return failure{unavailable(causes), endpoints_[first % n], std::nullopt};
  }

  template <class T, class Parse>
  result<T> parse_answer(const json& answer, const char* path, Parse&& parse) {
    try {
      return parse(answer);
    } catch (const std::exception& e) {
      return model::error{"ClusterMetadataUnavailable",
                          fmt::format("{}: unexpected answer to {} ({}): {:.300}", endpoint(), path,
                                      e.what(), answer.dump()),
                          false};
    }
  }

  template <class T, class Parse>
  result<T> call(const char* path, const json& request, retry r, Parse&& parse) {
    auto outcome = post(path, request, r);
    if (auto* f = std::get_if<failure>(&outcome)) return std::move(f->error);
    return parse_answer<T>(std::get<json>(outcome), path, std::forward<Parse>(parse));
  }

  /// One watch stream on the endpoint at `index`. Sets `unsent` when it could not connect.
  watch_end watch_once(size_t index, const std::string& body,
                       const std::function<void(const watch_batch&)>& deliver,
                       const std::atomic<bool>& stop, std::chrono::milliseconds silence,
                       bool& unsent) {
    const std::string& endpoint = endpoints_[index];
    // The stop flag and the silence timer are checked between polls of at most this long.
    const auto poll_every = std::clamp<std::chrono::milliseconds>(silence / 4, 1ms, 100ms);
    multi_transfer t;
    if (!t.multi || !t.easy) return failed("libcurl could not create a watch handle");
    watch_stream s;
    s.curl = t.easy;
    s.endpoint = endpoint;
    const std::string url = endpoint + "/v3/watch";
    set_common_options(t.easy, watch_headers_.get(), s.error);
    curl_easy_setopt(t.easy, CURLOPT_URL, url.c_str());
    curl_easy_setopt(t.easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(t.easy, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(t.easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(call_timeout_.count()));
    curl_easy_setopt(t.easy, CURLOPT_WRITEFUNCTION, on_watch_data);
    curl_easy_setopt(t.easy, CURLOPT_WRITEDATA, &s);
    if (curl_multi_add_handle(t.multi, t.easy) != CURLM_OK)
      return failed("libcurl could not start a watch");
    t.added = true;
    auto give_up = [&](std::string message) {
      rotate_from(index);
      return failed(std::move(message));
    };
    auto ended = [&](watch_end& end) {
      return end.why == watch_end::reason::failed ? give_up(std::move(end.message)) : end;
    };
    // Hands what the stream produced to `deliver`; false when `stop` was set.
    auto drain = [&] {
      bool delivered = false;
      while (!s.ready.empty()) {
        if (stop.load()) return false;
        watch_batch batch = std::move(s.ready.front());
        s.ready.pop_front();
        deliver(batch);
        delivered = true;
      }
      // Time spent in `deliver` is the caller's, not the connection's silence.
      if (delivered) s.last_line = steady::now();
      return true;
    };
    for (;;) {
      int running = 0;
      if (CURLMcode mc = curl_multi_perform(t.multi, &running); mc != CURLM_OK)
        return give_up(fmt::format("{}: {}", endpoint, curl_multi_strerror(mc)));
      if (!drain()) return watch_end{};
      if (s.end) return ended(*s.end);
      if (stop.load()) return watch_end{};
      if (!running) {
        CURLcode rc = CURLE_OK;
        int left = 0;
        while (CURLMsg* msg = curl_multi_info_read(t.multi, &left))
          if (msg->msg == CURLMSG_DONE) rc = msg->data.result;
        if (s.status == 200 && rc == CURLE_OK && !s.pending.empty()) {
          // The gateway writes its last line, e.g. {"error":...no leader...}, without a newline.
          take_line(s, std::exchange(s.pending, {}));
          if (!drain()) return watch_end{};
          if (s.end) return ended(*s.end);
        }
        if (s.status != 0 && s.status != 200) {
          json answer = json::parse(s.error_body, nullptr, false);
          auto fault = answer.is_discarded() ? std::nullopt : fault_of(answer);
          return give_up(fmt::format("{}: watch refused with HTTP {}: {}", endpoint, s.status,
                                     fault ? fault->message : s.error_body));
        }
        if (rc != CURLE_OK) {
          unsent = !s.heard && request_unsent(t.easy, rc);
          return give_up(fmt::format("{}: {}", endpoint, curl_failure(rc, s.error)));
        }
        return give_up(fmt::format("{}: etcd closed the watch stream", endpoint));
      }
      if (steady::now() - s.last_line >= silence)
        return give_up(fmt::format(
            "{}: no watch message for {} ms, not even a progress notice (etcd sends one per "
            "--experimental-watch-progress-notify-interval, 10 min by default)",
            endpoint, silence.count()));
      curl_multi_poll(t.multi, nullptr, 0, static_cast<int>(poll_every.count()), nullptr);
    }
  }

  const std::string url_;
  const std::vector<std::string> endpoints_;  ///< "http://host:port"
  const std::chrono::milliseconds call_timeout_;
  std::atomic<size_t> current_{0};  ///< index of the endpoint calls start at
  const header_list unary_headers_;
  const header_list watch_headers_;
  std::mutex pool_mutex_;
  std::vector<std::unique_ptr<unary_handle>> idle_;
};

model::error bad_url(const std::string& url, std::string_view why) {
  return model::error{
      "BadRequest_InvalidClusterUrl",
      fmt::format("metadata store url '{}' {}; write it as etcd://host:port[,host:port...]", url,
                  why),
      true};
}

}  // namespace

result<std::unique_ptr<metadata_store>> open_etcd(const std::string& url,
                                                  std::chrono::milliseconds call_timeout) {
  constexpr std::string_view scheme = "etcd://";
  if (!url.starts_with(scheme)) return bad_url(url, "does not start with etcd://");
  std::vector<std::string> endpoints;
  std::string_view rest = std::string_view(url).substr(scheme.size());
  while (true) {
    auto comma = rest.find(',');
    std::string_view member = rest.substr(0, comma);
    auto colon = member.rfind(':');
    if (colon == std::string_view::npos || colon == 0)
      return bad_url(url, fmt::format("has a member '{}' without host:port", member));
    std::string_view host = member.substr(0, colon);
    std::string_view port_text = member.substr(colon + 1);
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 ||
        port > 65535)
      return bad_url(
          url, fmt::format("has a member '{}' whose port is not a number from 1 to 65535", member));
    if (host.find_first_of("/?#@ ") != std::string_view::npos)
      return bad_url(
          url, fmt::format("has a member '{}' whose host is not a host name or address", member));
    endpoints.push_back(fmt::format("http://{}:{}", host, port));
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  if (call_timeout <= 0ms)
    return model::error{
        "BadRequest_InvalidArgument",
        fmt::format("the call timeout for metadata store '{}' is {} ms; give a positive timeout",
                    url, call_timeout.count()),
        true};
  init_curl_once();
  return std::unique_ptr<metadata_store>(
      std::make_unique<etcd_store>(url, std::move(endpoints), call_timeout));
}

}  // namespace tributary::cluster
