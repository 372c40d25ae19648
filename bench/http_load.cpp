#include "bench/http_load.hpp"

#include <curl/curl.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace tributary::bench {
namespace {

using steady = std::chrono::steady_clock;
using dialect = http_endpoint::dialect;

/// A request may wait this long for its answer before the transfer counts as failed: far above
/// any ack the scenarios expect, short enough that a hung server does not hang the bench.
constexpr long request_timeout_ms = 60'000;

void global_init() {
  // curl_global_init is not guaranteed thread-safe on every build; the load starts threads.
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

size_t append_to_string(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

std::string insert_url(const http_endpoint& e, const std::string& table) {
  if (e.kind == dialect::kusto)
    return fmt::format("{}/v1/rest/ingest/{}/{}?streamFormat=csv", e.base_url, e.database, table);
  return fmt::format("{}/?query=INSERT%20INTO%20{}%20FORMAT%20CSV&date_time_input_format=best_effort",
                     e.base_url, table);
}

/// Options every handle shares: HTTP/1.1 without a proxy, Nagle off (as the RPC client), no
/// `Expect: 100-continue` round trip, the answer appended to `answer`.
void configure(CURL* c, std::string* answer, char* error) {
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROXY, "");
  curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(c, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, request_timeout_ms);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, append_to_string);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, answer);
}

/// Points `c` at one insert; returns the header list, which must live until the transfer ends.
curl_slist* prepare_insert(CURL* c, const std::string& url, std::string_view body, const std::string& request_id,
                           dialect kind) {
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_slist* headers = curl_slist_append(nullptr, "Expect:");
  headers = curl_slist_append(headers, "Content-Type: text/csv; charset=utf-8");
  if (kind == dialect::kusto)
    headers = curl_slist_append(headers, ("x-ms-client-request-id: " + request_id).c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  return headers;
}

/// Kusto's ingest answer is a v1 table whose first row starts with ConsumedRecordsCount.
std::optional<uint64_t> consumed_records(const std::string& answer) {
  const auto at = answer.find("\"Rows\":[[");
  if (at == std::string::npos) return std::nullopt;
  const char* first = answer.c_str() + at + 9;
  char* end = nullptr;
  const auto n = std::strtoull(first, &end, 10);
  if (end == first) return std::nullopt;
  return n;
}

/// The code of a refused insert: Kusto's `error.code`, ClickHouse's `Code: N`, else the status.
std::string error_code(dialect kind, long status, const std::string& answer) {
  if (kind == dialect::kusto) {
    const auto at = answer.find("\"code\":\"");
    if (at != std::string::npos) {
      const auto end = answer.find('"', at + 8);
      if (end != std::string::npos) return answer.substr(at + 8, end - at - 8);
    }
  } else if (answer.rfind("Code: ", 0) == 0) {
    return "Code " + answer.substr(6, answer.find(',') - 6);
  }
  return fmt::format("HTTP {}", status);
}

/// One thread of the load: `slots` easy handles in one multi handle, each keeping one request in
/// flight (or waiting to send a throttled one again).
class multi_driver {
 public:
  multi_driver(const http_endpoint& endpoint, const std::vector<std::string>& urls, size_t slots)
      : endpoint_(endpoint), urls_(urls), multi_(curl_multi_init()), slots_(slots) {
    if (!multi_) throw std::runtime_error("http load: curl_multi_init failed");
    // As many connections as handles, one request each: HTTP/1.1 keep-alive, no pipelining.
    curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS, static_cast<long>(slots));
    curl_multi_setopt(multi_, CURLMOPT_PIPELINING, static_cast<long>(CURLPIPE_NOTHING));
    for (auto& s : slots_) {
      s.easy = curl_easy_init();
      if (!s.easy) throw std::runtime_error("http load: curl_easy_init failed");
      configure(s.easy, &s.answer, s.error);
      curl_easy_setopt(s.easy, CURLOPT_PRIVATE, &s);
    }
  }

  ~multi_driver() {
    for (auto& s : slots_) {
      if (s.phase == state::sending) curl_multi_remove_handle(multi_, s.easy);
      if (s.easy) curl_easy_cleanup(s.easy);
      curl_slist_free_all(s.headers);
    }
    curl_multi_cleanup(multi_);
  }

  void run(load_stream& stream, steady::time_point until, load_totals& stats) {
    bool taking_new = true;
    for (;;) {
      const auto now = steady::now();
      if (now >= until) taking_new = false;
      bool busy = false;
      for (auto& s : slots_) {
        if (s.phase == state::idle && taking_new) {
          s.request = stream.next();
          s.first_sent = now;
          start(s);
        } else if (s.phase == state::waiting && now >= s.retry_at) {
          start(s);
        }
        busy = busy || s.phase != state::idle;
      }
      if (!busy) return;
      int running = 0;
      if (const auto rc = curl_multi_perform(multi_, &running); rc != CURLM_OK)
        throw std::runtime_error(fmt::format("http load to {}: curl_multi_perform: {}", endpoint_.base_url,
                                             curl_multi_strerror(rc)));
      bool answered = false;
      int left = 0;
      while (CURLMsg* m = curl_multi_info_read(multi_, &left)) {
        if (m->msg != CURLMSG_DONE) continue;
        CURL* easy = m->easy_handle;
        const CURLcode result = m->data.result;  // m is gone once the handle is removed
        slot* s = nullptr;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, &s);
        curl_multi_remove_handle(multi_, easy);
        answered = true;
        if (!finish(*s, result, steady::now(), stats)) taking_new = false;
      }
      if (answered) continue;
      // Nothing answered yet: sleep in poll until a socket is ready, a retry is due or the
      // slice ends (whichever is first).
      auto wake = steady::now() + std::chrono::milliseconds(100);
      if (taking_new) wake = std::min(wake, until);
      for (const auto& s : slots_)
        if (s.phase == state::waiting) wake = std::min(wake, s.retry_at);
      const auto wait_us = std::chrono::duration_cast<std::chrono::microseconds>(wake - steady::now()).count();
      curl_multi_poll(multi_, nullptr, 0, static_cast<int>(std::max<int64_t>(0, (wait_us + 999) / 1000)), nullptr);
    }
  }

 private:
  enum class state { idle, sending, waiting };
  struct slot {
    CURL* easy = nullptr;
    curl_slist* headers = nullptr;
    load_stream::request request;
    std::string answer;
    steady::time_point first_sent, retry_at;
    state phase = state::idle;
    char error[CURL_ERROR_SIZE] = {};
  };

  void start(slot& s) {
    s.answer.clear();
    s.error[0] = '\0';
    curl_slist_free_all(s.headers);
    s.headers = prepare_insert(s.easy, urls_[s.request.table], s.request.body, s.request.request_id, endpoint_.kind);
    if (const auto rc = curl_multi_add_handle(multi_, s.easy); rc != CURLM_OK)
      throw std::runtime_error(fmt::format("http load to {}: curl_multi_add_handle: {}", endpoint_.base_url,
                                           curl_multi_strerror(rc)));
    s.phase = state::sending;
  }

  /// Accounts one finished transfer; false when the connection failed (as the RPC load, this
  /// thread then stops sending new requests).
  bool finish(slot& s, CURLcode result, steady::time_point now, load_totals& stats) {
    s.phase = state::idle;
    if (result != CURLE_OK) {
      ++stats.errors["ConnectionFailed"];
      return false;
    }
    long status = 0;
    curl_easy_getinfo(s.easy, CURLINFO_RESPONSE_CODE, &status);
    if (status == 429) {
      ++stats.throttled;
      s.phase = state::waiting;
      s.retry_at = now + throttled_retry_delay;
      return true;
    }
    if (status != 200) {
      ++stats.errors[error_code(endpoint_.kind, status, s.answer)];
      return true;
    }
    uint64_t rows = rows_per_request;  // ClickHouse answers an insert with an empty body
    if (endpoint_.kind == dialect::kusto) {
      const auto consumed = consumed_records(s.answer);
      if (!consumed) {
        ++stats.errors["UnreadableAnswer"];
        return true;
      }
      rows = *consumed;
    }
    stats.latencies_us.push_back(micros(s.first_sent, now));
    stats.rows += rows;
    stats.bytes += s.request.body.size();
    return true;
  }

  const http_endpoint& endpoint_;
  const std::vector<std::string>& urls_;
  CURLM* multi_;
  std::vector<slot> slots_;
};

}  // namespace

struct http_connection::impl {
  http_endpoint endpoint;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  std::string answer;
  char error[CURL_ERROR_SIZE] = {};

  ~impl() {
    if (easy) curl_easy_cleanup(easy);
    curl_slist_free_all(headers);
  }

  /// Runs the transfer set up on `easy`; its status, or throws naming `what`.
  long perform(std::string_view what) {
    answer.clear();
    error[0] = '\0';
    const CURLcode rc = curl_easy_perform(easy);
    if (rc != CURLE_OK)
      throw std::runtime_error(fmt::format("{} at {}: HTTP request failed: {}", what, endpoint.base_url,
                                           error[0] ? error : curl_easy_strerror(rc)));
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    return status;
  }
};

http_connection::http_connection(http_endpoint endpoint) : impl_(std::make_unique<impl>()) {
  global_init();
  impl_->endpoint = std::move(endpoint);
  impl_->easy = curl_easy_init();
  if (!impl_->easy) throw std::runtime_error("http connection: curl_easy_init failed");
  configure(impl_->easy, &impl_->answer, impl_->error);
}

http_connection::~http_connection() = default;

double http_connection::ingest_us(const std::string& table, std::string_view body, const std::string& request_id) {
  auto& i = *impl_;
  const std::string url = insert_url(i.endpoint, table);
  const std::string what = fmt::format("ingest {} into {}", request_id, table);
  const auto t0 = steady::now();
  for (;;) {
    curl_slist_free_all(i.headers);
    i.headers = prepare_insert(i.easy, url, body, request_id, i.endpoint.kind);
    const long status = i.perform(what);
    if (status == 429) {
      std::this_thread::sleep_for(throttled_retry_delay);
      continue;
    }
    const auto t1 = steady::now();
    if (status != 200)
      throw std::runtime_error(fmt::format("{} at {}: answered HTTP {} ({}): {}", what, i.endpoint.base_url, status,
                                           error_code(i.endpoint.kind, status, i.answer), i.answer.substr(0, 1000)));
    if (i.endpoint.kind == dialect::kusto) {
      const auto consumed = consumed_records(i.answer);
      if (consumed != static_cast<uint64_t>(rows_per_request))
        throw std::runtime_error(fmt::format("{} at {}: acknowledged {} records instead of {}: {}", what,
                                             i.endpoint.base_url, consumed ? std::to_string(*consumed) : "no",
                                             rows_per_request, i.answer.substr(0, 1000)));
    }
    return micros(t0, t1);
  }
}

double http_connection::get_us(const std::string& path) {
  auto& i = *impl_;
  const std::string url = i.endpoint.base_url + path;
  curl_easy_setopt(i.easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(i.easy, CURLOPT_HTTPGET, 1L);
  curl_easy_setopt(i.easy, CURLOPT_HTTPHEADER, nullptr);
  const auto t0 = steady::now();
  const long status = i.perform("GET " + path);
  const auto t1 = steady::now();
  if (status != 200)
    throw std::runtime_error(fmt::format("GET {}{} answered HTTP {}: {}", i.endpoint.base_url, path, status,
                                         i.answer.substr(0, 1000)));
  return micros(t0, t1);
}

double run_http_load_slice(const http_endpoint& endpoint, const std::vector<std::string>& tables,
                           steady::time_point until, size_t round, load_totals& into) {
  global_init();
  std::vector<std::string> urls;
  urls.reserve(tables.size());
  for (const auto& t : tables) urls.push_back(insert_url(endpoint, t));
  const std::string_view prefix = endpoint.kind == dialect::kusto ? "h" : "c";
  return run_on_threads(
      many_tables_connections,
      [&](size_t i, load_totals& stats) {
        load_stream stream(prefix, i, round, tables.size());
        multi_driver driver(endpoint, urls, many_tables_in_flight_per_connection);
        driver.run(stream, until, stats);
      },
      into);
}

}  // namespace tributary::bench
