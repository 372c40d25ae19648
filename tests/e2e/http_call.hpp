#pragma once
// Test helper of the HTTP tests (http_test.cpp, http_golden_test.cpp): one request over a fresh
// libcurl connection.

#include <curl/curl.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

namespace tributary::testing {

struct http_answer {
  long status = 0;
  std::string body;
  std::string headers;
  std::string content_type;
};

inline size_t append_http_bytes(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// One request. `chunked`: the body goes with Transfer-Encoding: chunked, as the Node SDK streams.
inline http_answer call(const std::string& method, const std::string& url, const std::string& body = {},
                        std::vector<std::string> headers = {}, bool chunked = false, bool accept_gzip = false) {
  CURL* curl = curl_easy_init();
  http_answer a;
  curl_slist* list = nullptr;
  for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
  if (chunked) list = curl_slist_append(list, "Transfer-Encoding: chunked");
  list = curl_slist_append(list, "Expect:");
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, append_http_bytes);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &a.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, append_http_bytes);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &a.headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
  if (accept_gzip) curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "gzip");
  struct source {
    const std::string* body;
    size_t at = 0;
  } src{&body};
  if (method == "POST") {
    if (chunked) {
      curl_easy_setopt(curl, CURLOPT_POST, 1L);
      curl_easy_setopt(curl, CURLOPT_READFUNCTION, +[](char* out, size_t size, size_t n, void* p) -> size_t {
        auto* s = static_cast<source*>(p);
        const size_t k = std::min(size * n, std::min<size_t>(s->body->size() - s->at, 7));  // small chunks
        std::memcpy(out, s->body->data() + s->at, k);
        s->at += k;
        return k;
      });
      curl_easy_setopt(curl, CURLOPT_READDATA, &src);
    } else {
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    }
  }
  const auto rc = curl_easy_perform(curl);
  EXPECT_EQ(rc, CURLE_OK) << curl_easy_strerror(rc) << " " << method << " " << url;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &a.status);
  const char* type = nullptr;
  if (curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type) == CURLE_OK && type) a.content_type = type;
  curl_slist_free_all(list);
  curl_easy_cleanup(curl);
  return a;
}

}  // namespace tributary::testing
