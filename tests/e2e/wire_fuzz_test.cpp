// A wire-level fuzzer for ingest requests, through a real node: raw Cap'n Proto IngestRequests
// built with the generated schema (so every field can hold what the client library never sends:
// format values past the enum, names of any length and bytes, any properties, any data — random
// bytes, broken and valid gzip, CSV and JSON mutated, sizes around and past 4 MiB) from a
// fixed-seed PRNG. Every request must be answered with an ack or an error with a code and a
// message; an out-of-range format must never be acked (nor answered with an empty format name);
// a retry of an acknowledged request id must be answered as a duplicate; the node must still run
// at the end, take a valid ingest, and hold exactly the rows it acknowledged.
//
// TRIBUTARY_FUZZ_SEED=<n> replays a run (the seed is printed); TRIBUTARY_FUZZ_REQUESTS=<n> sets the
// length (default 300, a few seconds even under ASan). A failure names the seed, the request
// number and what the request held.

#include <gtest/gtest.h>

#include <capnp/ez-rpc.h>
#include <kj/async-io.h>
#include <kj/timer.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "client/client.hpp"
#include "schema/tributary.capnp.h"
#include "tests/support/gzip.hpp"
#include "tests/support/node_process.hpp"
#include "tests/support/outcomes.hpp"
#include "tests/support/printable.hpp"

namespace tributary::testing {
namespace {

using namespace std::string_literals;

constexpr uint64_t default_seed = 0x7769'7265'6675'7a7a;  // "wirefuzz"
constexpr int default_requests = 300;
constexpr size_t window = 4;  // requests in flight on the connection at once
constexpr size_t mib = size_t{1} << 20;
constexpr size_t limit_bytes = 4 * mib;  // Kusto's streaming limit (ingest::max_request_bytes)
constexpr int answer_timeout_seconds = 60;
constexpr size_t enum_size = 7;  // wire::Format has csv..multijson

const std::string db = "FuzzDb";
const std::string table = "T";

uint64_t env_number(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::stoull(v, nullptr, 0) : fallback;
}

struct fuzz_request {
  std::string database;
  std::string table;
  uint16_t format = 0;
  std::string mapping;
  std::string data;
  std::string request_id;
  std::vector<std::pair<std::string, std::string>> properties;
  std::string data_kind;  // what the generator put in `data`, for reports
  // Valid in every field (a well-formed request, or a verbatim resend of an acknowledged one):
  // with the request id of an acknowledged request it must be answered as a duplicate.
  bool well_formed = false;
};

struct answer {
  enum class kind { ack, error, none } what = kind::none;
  uint64_t consumed = 0;
  bool duplicate = false;
  std::string code;
  std::string message;
  bool permanent = false;
};

std::string describe(const fuzz_request& r) {
  std::string d = "database \"" + printable(r.database) + "\", table \"" + printable(r.table) +
                  "\", format " + std::to_string(r.format) + ", mapping \"" + printable(r.mapping) +
                  "\", requestId \"" + printable(r.request_id) + "\", " +
                  std::to_string(r.properties.size()) + " properties";
  for (size_t i = 0; i < r.properties.size() && i < 3; ++i)
    d += " \"" + printable(r.properties[i].first, 40) + "\"=\"" + printable(r.properties[i].second, 40) + "\"";
  return d + ", data " + r.data_kind + " of " + std::to_string(r.data.size()) + " bytes \"" +
         printable(r.data, 60) + "\"";
}

// Deterministic for a seed on every platform: mt19937_64's output is fixed by the standard, and
// we reduce it with % rather than with distributions, whose algorithms are not.
class generator {
 public:
  explicit generator(uint64_t seed) : rng_(seed) {}

  fuzz_request next() {
    fuzz_request r;
    // A third of the requests are well-formed (so acks, duplicates and the count check mean
    // something); the rest take every field from the fuzzer.
    if (!acked_.empty() && below(25) == 0) {  // a client's retry: the same request again
      r = acked_[below(acked_.size())];
      r.data_kind = "resent (" + r.data_kind + ")";
      return r;
    }
    if (below(3) == 0) {
      r.well_formed = true;
      r.database = db;
      r.table = table;
      r.format = static_cast<uint16_t>(below(enum_size));
      const bool json = r.format >= 5;
      r.mapping = below(2) ? "" : json ? "json1" : "csv1";
      r.data = json ? (r.format == 6 && below(2) ? multijson_rows(1 + below(50)) : json_rows(1 + below(100)))
                    : csv_rows(1 + below(100), separator(r.format));
      r.data_kind = "valid";
      if (below(4) == 0) {
        r.data = tributary::testing::gzip(r.data);
        r.data_kind = "gzip of valid";
      }
      r.request_id = request_id();
      if (below(6) == 0) {  // valid but for the format: what reaches the table with a bad enum
        r.format = out_of_range_format();
        r.mapping = below(2) ? "json1" : "csv1";
        r.well_formed = false;
      }
      return r;
    }
    r.database = name(db, "NoSuchDb");
    r.table = name(table, "NoSuchTable");
    if (below(25) == 0) r.table = "U";  // exists, streaming ingestion not enabled
    r.format = format();
    r.mapping = mapping();
    r.request_id = request_id();
    r.properties = properties();
    data(r);
    return r;
  }

  // Records an acknowledged request, for the retries the generator makes of them.
  void acked(const fuzz_request& r) {
    if (r.request_id.empty() || r.database != db || r.table != table) return;
    acked_ids_.push_back(r.request_id);
    if (r.well_formed && acked_.size() < 64) acked_.push_back(r);
  }

 private:
  size_t below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(rng_() % n); }

  std::string random_bytes(size_t n) {
    std::string s(n, '\0');
    for (size_t i = 0; i < n; i += 8) {
      uint64_t v = rng_();
      for (size_t k = 0; k < 8 && i + k < n; ++k) s[i + k] = static_cast<char>(v >> (8 * k));
    }
    return s;
  }

  // Printable ASCII, sometimes with separators, quotes and newlines.
  std::string random_text(size_t n) {
    static const std::string alphabet =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ,;|\t\n\"'{}[]:.-_$\\";
    std::string s(n, ' ');
    for (auto& c : s) c = alphabet[below(alphabet.size())];
    return s;
  }

  // Sizes that matter: empty, small, around the 4 MiB limit, past it.
  size_t big_size() {
    switch (below(8)) {
      case 0: return limit_bytes - 1;
      case 1: return limit_bytes;
      case 2: return limit_bytes + 1;
      case 3: return 5 * mib;
      default: return 64 * 1024 + below(limit_bytes);
    }
  }

  // Names: the good one most of the time, else empty, missing, wrong case, random bytes, at and
  // past Kusto's 1024-character limit, huge, or with invisible / bidirectional / NUL characters.
  std::string name(const std::string& good, const std::string& missing) {
    switch (below(24)) {
      case 0: return "";
      case 1: return missing;
      case 2: {
        std::string s = good;
        s[0] = static_cast<char>(s[0] ^ 0x20);
        return s;
      }
      case 3: return random_bytes(1 + below(64));
      case 4: return random_text(1 + below(64));
      case 5: return std::string(1024 + below(2), 'n');
      case 6: return random_text(64 * 1024 + below(mib));
      case 7: return good + "\u200b";
      case 8: return "\u202e" + good;
      case 9: return good + "\0x"s;
      case 10: return good + " ";
      default: return good;
    }
  }

  uint16_t format() { return below(5) != 0 ? static_cast<uint16_t>(below(enum_size)) : out_of_range_format(); }

  // Past wire::Format's last value: just past it, past ingest::format's uint8_t (wrapping to a
  // valid value), the largest, or any.
  uint16_t out_of_range_format() {
    static const uint16_t values[] = {7, 8, 100, 200, 255, 256, 261, 1000, 65535};
    if (below(4) == 0) return static_cast<uint16_t>(enum_size + below(65536 - enum_size));
    return values[below(std::size(values))];
  }

  std::string mapping() {
    switch (below(12)) {
      case 0: case 1: case 2: return "csv1";
      case 3: case 4: return "json1";
      case 5: return "missing";
      case 6: return random_bytes(1 + below(40));
      case 7: return std::string(64 * 1024 + below(mib), 'm');
      case 8: return "csv1\u200b";
      default: return "";
    }
  }

  std::string request_id() {
    switch (below(20)) {
      case 0: case 1: case 2: case 3: case 4: case 5: case 6: return "";
      case 7: case 8: case 9:  // a retry of an acknowledged request
        if (!acked_ids_.empty()) return acked_ids_[below(acked_ids_.size())];
        [[fallthrough]];
      case 10: return random_text(1 + below(40));
      case 11: return random_bytes(1 + below(40));
      case 12: return std::string(64 * 1024 + below(mib), 'r');
      default: return "fuzz-" + std::to_string(next_id_++);
    }
  }

  std::vector<std::pair<std::string, std::string>> properties() {
    static const std::vector<std::pair<std::string, std::string>> known = {
        {"ignoreFirstRecord", "true"},  {"tags", "[\"a\"]"},         {"ingestIfNotExists", "[\"x\"]"},
        {"format", "csv"},              {"format", "bogus"},         {"streamFormat", "MultiJSON"},
        {"mappingName", "csv1"},        {"ingestionMappingReference", "json1"},
        {"ingestionMappingType", "avro"}, {"ingestionMappingType", "json"},
        {"ingestionMapping", "[{\"Column\":\"n\"}]"}, {"creationTime", "2020-01-01"},
        {"validationPolicy", "{}"},     {"zipPattern", "*.csv"},     {"", ""},
        {"FORMAT", "TSV"}};
    std::vector<std::pair<std::string, std::string>> p;
    if (below(4) != 0) return p;
    const bool many = below(20) == 0;
    for (size_t n = many ? 500 + below(2000) : 1 + below(3); n > 0; --n) {
      switch (below(6)) {
        case 0: p.emplace_back(random_text(1 + below(30)), random_text(below(30))); break;
        case 1: p.emplace_back(random_bytes(1 + below(30)), random_bytes(below(30))); break;
        case 2:  // a huge value (a few, not thousands: the message would pass Cap'n Proto's limit)
          p.emplace_back("x", many ? random_text(below(100)) : random_text(64 * 1024 + below(mib)));
          break;
        default: p.push_back(known[below(known.size())]);
      }
    }
    return p;
  }

  static char separator(uint16_t format) {
    switch (format) {
      case 1: return '\t';
      case 2: return ';';
      case 3: return '\x01';
      case 4: return '|';
      default: return ',';
    }
  }

  // Rows of T (ts:datetime, name:string, v:real, n:long, d:dynamic).
  std::string csv_rows(size_t n, char sep = ',') {
    std::string s;
    for (size_t i = 0; i < n; ++i) {
      auto k = std::to_string(below(1000000));
      s += "2024-05-01T12:00:" + std::to_string(10 + below(50)) + "Z" + sep + "name " + k + sep + k + ".5" +
           sep + k + sep + "\"{\"\"k\"\":" + k + "}\"\n";
    }
    return s;
  }
  std::string json_row() {
    auto k = std::to_string(below(1000000));
    return "{\"ts\":\"2024-05-01T12:00:00Z\",\"name\":\"n" + k + "\",\"v\":" + k + ".25,\"n\":" + k +
           ",\"d\":{\"k\":[" + k + "]}}";
  }
  std::string json_rows(size_t n) {
    std::string s;
    for (size_t i = 0; i < n; ++i) s += json_row() + "\n";
    return s;
  }
  std::string multijson_rows(size_t n) {
    std::string s = "[";
    for (size_t i = 0; i < n; ++i) s += (i ? ",\n" : "\n") + json_row();
    return s + "\n]";
  }

  // What mutations insert: separators, quotes, brackets, NUL, control characters, invalid UTF-8,
  // a byte order mark, numbers at the edges.
  std::string fragment() {
    static const std::vector<std::string> f = {
        ",", ";", "\t", "|", "\x01", "\"", "\"\"", "'", "{", "}", "[", "]", ":", "\n", "\r\n", "\r",
        "\0"s, "\x1f\x8b", "\xff", "\x80", "\xc3\x28", "\xed\xa0\x80", "\xef\xbb\xbf", "\\u0000",
        "1e309", "-9223372036854775809", "NaN", "null", "true", "9999-12-31T23:59:59.9999999Z",
        "0001-01-01", "{\"ts\":", "[[[[[[[[", "]]]]]]]]", "\u200b", "漢字"};
    return f[below(f.size())];
  }

  std::string mutate(std::string s) {
    for (size_t ops = 1 + below(4); ops > 0; --ops) {
      switch (below(6)) {
        case 0:
          for (size_t n = 1 + below(8); n > 0 && !s.empty(); --n) s[below(s.size())] = static_cast<char>(rng_());
          break;
        case 1: s.insert(below(s.size() + 1), fragment()); break;
        case 2: s.resize(below(s.size() + 1)); break;
        case 3:
          if (!s.empty()) {
            size_t at = below(s.size());
            s.erase(at, 1 + below(std::min<size_t>(16, s.size() - at)));
          }
          break;
        case 4:
          if (!s.empty()) {
            size_t at = below(s.size());
            auto span = s.substr(at, 1 + below(std::min<size_t>(64, s.size() - at)));
            for (size_t n = 1 + below(8); n > 0; --n) s.insert(at, span);
          }
          break;
        case 5: {
          size_t at = below(s.size() + 1);
          s.insert(at, fragment() + fragment() + fragment());
          break;
        }
      }
    }
    return s;
  }

  // A gzip member that decompresses to `bytes` (cached: compressing 64 MiB is not free).
  const std::string& gzip_bomb(size_t bytes) {
    auto& g = bombs_[bytes];
    if (g.empty()) g = tributary::testing::gzip(std::string(bytes, ','), 9);
    return g;
  }

  void data(fuzz_request& r) {
    auto set = [&](std::string kind, std::string bytes) {
      r.data_kind = std::move(kind);
      r.data = std::move(bytes);
    };
    switch (below(24)) {
      case 0: return set("empty", "");
      case 1: return set("random bytes", random_bytes(1 + below(4096)));
      case 2: return set("large random bytes", random_bytes(big_size()));
      case 3: return set("random text", random_text(1 + below(8192)));
      case 4: return set("csv", csv_rows(1 + below(200)));
      case 5: return set("mutated csv", mutate(csv_rows(1 + below(200))));
      case 6: return set("json", json_rows(1 + below(200)));
      case 7: return set("mutated json", mutate(json_rows(1 + below(200))));
      case 8: return set("mutated multijson", mutate(multijson_rows(1 + below(100))));
      case 9: {  // valid CSV just under, at or just past the limit
        const size_t target = limit_bytes - 64 + below(128);
        std::string s;
        while (s.size() < target) s += csv_rows(256);
        if (target <= limit_bytes)
          s.resize(s.rfind('\n', target - 1) + 1);  // whole rows, at most the limit
        else
          s.resize(target);
        return set("csv near 4 MiB", std::move(s));
      }
      case 10: return set("gzip of csv", tributary::testing::gzip(csv_rows(1 + below(500))));
      case 11: return set("gzip of mutated json", tributary::testing::gzip(mutate(json_rows(1 + below(200)))));
      case 12: return set("gzip of random text", tributary::testing::gzip(random_text(1 + below(64 * 1024))));
      case 13: {
        auto g = tributary::testing::gzip(csv_rows(1 + below(500)));
        return set("truncated gzip", g.substr(0, below(g.size())));
      }
      case 14: {
        auto g = tributary::testing::gzip(json_rows(1 + below(500)));
        for (size_t n = 1 + below(4); n > 0; --n) g[10 + below(g.size() - 10)] = static_cast<char>(rng_());
        return set("corrupt gzip", std::move(g));
      }
      case 15: {
        static const size_t sizes[] = {limit_bytes, limit_bytes + 1, 16 * mib, 64 * mib};
        return set("gzip bomb", gzip_bomb(sizes[below(std::size(sizes))]));
      }
      case 16: return set("gzip magic only", below(2) ? "\x1f\x8b" : "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03");
      case 17: {
        auto a = tributary::testing::gzip(csv_rows(1 + below(20)));
        return set("two gzip members", a + tributary::testing::gzip(csv_rows(1 + below(20))));
      }
      case 18: return set("gzip of random bytes", tributary::testing::gzip(random_bytes(1 + below(mib))));
      case 19: return set("long field", "2024-05-01T12:00:00Z," + std::string(mib + below(mib), 'x') + ",1.5,1,{}\n");
      case 20: return set("many fields", std::string(10000 + below(100000), ',') + "\n");
      case 21: return set("deep json", std::string(10000 + below(100000), '[') + "\n");
      case 22: {
        std::string s = "[";
        for (size_t n = 64 * 1024 + below(mib) / 3; n > 0; --n) s += "{},";
        s += "{}]";
        return set("empty objects", std::move(s));
      }
      default: {
        auto g = tributary::testing::gzip(random_text(1 + below(4096)));
        g.resize(g.size() - 8 + below(8));  // the CRC and size trailer cut
        return set("gzip without trailer", std::move(g));
      }
    }
  }

  std::mt19937_64 rng_;
  uint64_t next_id_ = 0;
  std::vector<std::string> acked_ids_;
  std::vector<fuzz_request> acked_;  // well-formed acknowledged requests, small ones
  std::map<size_t, std::string> bombs_;
};

// A raw Cap'n Proto connection: IngestRequests exactly as the fuzzer built them.
class raw_connection {
 public:
  explicit raw_connection(const std::string& address)
      : rpc_(address), service_(rpc_.getMain<wire::Tributary>()) {}

  kj::Promise<answer> send(const fuzz_request& r) {
    auto req = service_.ingestRequest();
    auto w = req.initRequest();
    w.setDatabase(text(r.database));
    w.setTable(text(r.table));
    w.setFormat(static_cast<wire::Format>(r.format));
    w.setMappingName(text(r.mapping));
    w.setData(kj::arrayPtr(reinterpret_cast<const kj::byte*>(r.data.data()), r.data.size()));
    w.setRequestId(text(r.request_id));
    auto props = w.initProperties(static_cast<unsigned>(r.properties.size()));
    for (unsigned i = 0; i < r.properties.size(); ++i) {
      props[i].setName(text(r.properties[i].first));
      props[i].setValue(text(r.properties[i].second));
    }
    auto answered = req.send().then(
        [](capnp::Response<wire::Tributary::IngestResults>&& resp) {
          answer a;
          auto result = resp.getResult();
          if (result.isAck()) {
            a.what = answer::kind::ack;
            a.consumed = result.getAck().getConsumedRecords();
            a.duplicate = result.getAck().getDuplicate();
          } else {
            auto e = result.getError();
            a.what = answer::kind::error;
            a.code = std::string(e.getCode().cStr(), e.getCode().size());
            a.message = std::string(e.getMessage().cStr(), e.getMessage().size());
            a.permanent = e.getPermanent();
          }
          return a;
        },
        [](kj::Exception&& e) {
          answer a;
          a.message = std::string("RPC exception: ") + e.getDescription().cStr();
          return a;
        });
    auto timeout = rpc_.getIoProvider().getTimer().afterDelay(answer_timeout_seconds * kj::SECONDS).then([] {
      answer a;
      a.message = "no answer within " + std::to_string(answer_timeout_seconds) + " s";
      return a;
    });
    return answered.exclusiveJoin(kj::mv(timeout));
  }

  answer wait(kj::Promise<answer>& p) {
    auto promise = kj::mv(p);
    return promise.wait(rpc_.getWaitScope());
  }

 private:
  // Text with any bytes (embedded NULs too): std::string keeps a NUL after the last byte.
  static capnp::Text::Reader text(const std::string& s) { return capnp::Text::Reader(s.c_str(), s.size()); }

  capnp::EzRpcClient rpc_;
  wire::Tributary::Client service_;
};

// For a format value past the enum: why `message` misnames it (an empty or made-up name read past
// the end of the format names, or the name of the format it wrapped around to), or nullopt.
std::optional<std::string> misnamed_format(uint16_t format, const std::string& message) {
  static const std::set<std::string> names = {"csv", "tsv", "scsv", "sohsv", "psv", "json", "multijson"};
  const std::string value = std::to_string(format);
  for (size_t at = message.find("format "); at != std::string::npos; at = message.find("format ", at + 1)) {
    const size_t begin = at + 7;
    const size_t end = std::min(message.find_first_of(" '\",;:.\n", begin), message.size());
    const std::string token = message.substr(begin, end - begin);
    const std::string_view after = std::string_view(message).substr(end);
    if (names.count(token))
      return "format " + value + " is named as format " + token + " (the value wrapped to " +
             std::to_string(format % 256) + "?)";
    // The messages that name the request's format: "but format X needs / takes a ... mapping".
    if ((after.starts_with(" needs") || after.starts_with(" takes")) && token != value)
      return "format " + value + " answered with the format name \"" + printable(token) +
             "\" (read past the end of the format names?)";
  }
  for (const char* empty_name : {"format  ", "format ''", "format \"\""})
    if (message.find(empty_name) != std::string::npos)
      return "format " + value + " answered with an empty format name";
  return std::nullopt;
}

// Why an answer breaks the contract, or nullopt.
std::optional<std::string> violation(const fuzz_request& r, const answer& a,
                                     const std::map<std::string, uint64_t>& acked_ids) {
  if (a.what == answer::kind::none) return "not answered: " + a.message;
  if (a.what == answer::kind::error) {
    if (a.code.empty()) return "an error without a code: \"" + printable(a.message, 400) + "\"";
    if (a.message.empty()) return "error " + a.code + " without a message";
    // An actor that failed inside the node: a bug the input exposed, not a user error.
    if (a.code == "InternalServerError") return "internal error: " + a.message;
  }
  if (r.format >= enum_size) {
    // (A duplicate is answered from the acknowledged request with that id: no format involved.)
    if (a.what == answer::kind::ack && !a.duplicate)
      return "format " + std::to_string(r.format) + " is not a wire::Format value, yet the request was acknowledged (" +
             std::to_string(a.consumed) + " records; read as format " + std::to_string(r.format % 256) + "?)";
    if (auto why = misnamed_format(r.format, a.message)) return *why + ": " + a.code + ": " + a.message;
  }
  // A valid request with the id of an acknowledged one is a duplicate: never ingested twice, never
  // refused permanently (a client that re-routes a refused request would ingest it twice). An
  // invalid one (a field too long, say) may be refused before its id is looked up.
  if (r.well_formed && !r.request_id.empty()) {
    if (auto it = acked_ids.find(r.request_id); it != acked_ids.end()) {
      if (a.what == answer::kind::ack && (!a.duplicate || a.consumed != it->second))
        return "a retry of acknowledged request id \"" + printable(r.request_id) + "\" (" +
               std::to_string(it->second) + " records) was acknowledged as " +
               (a.duplicate ? "a duplicate of " : "new, ") + std::to_string(a.consumed) + " records";
      if (a.what == answer::kind::error && a.code != "Throttling")
        return "a retry of acknowledged request id \"" + printable(r.request_id) + "\" was refused: " + a.code +
               ": " + a.message;
    }
  }
  return std::nullopt;
}

// Peak resident memory of a process (VmHWM), in bytes; 0 when unknown.
uint64_t peak_rss(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.starts_with("VmHWM:")) return std::stoull(line.substr(6)) * 1024;
  return 0;
}

void must(client::connection& c, const std::string& database, const std::string& text) {
  auto o = c.command(database, text);
  if (const auto* e = std::get_if<model::error>(&o)) FAIL() << text << " → " << e->code << ": " << e->message;
}

TEST(wire_fuzz, every_ingest_request_is_answered_and_the_node_keeps_exact_counts) {
  const uint64_t seed = env_number("TRIBUTARY_FUZZ_SEED", default_seed);
  const auto requests = static_cast<int>(env_number("TRIBUTARY_FUZZ_REQUESTS", default_requests));
  std::cout << "wire fuzz: seed " << seed << " (TRIBUTARY_FUZZ_SEED), " << requests
            << " requests (TRIBUTARY_FUZZ_REQUESTS)" << std::endl;

  temp_dir dir;
  node_process node(dir.path() / "data", {"--streaming-ingestion=on"});
  client::connection c(node.rpc_address());
  must(c, "", ".create database " + db);
  must(c, db, ".create table T (ts:datetime, name:string, v:real, n:long, d:dynamic)");
  must(c, db, ".create table U (ts:datetime, name:string, v:real, n:long, d:dynamic)");
  must(c, db,
       R"(.create table T ingestion csv mapping 'csv1' '[{"Column":"ts","Properties":{"Ordinal":"0"}},{"Column":"name","Properties":{"Ordinal":"1"}},{"Column":"v","Properties":{"Ordinal":"2"}},{"Column":"n","Properties":{"Ordinal":"3"}},{"Column":"d","Properties":{"Ordinal":"4"}}]')");
  must(c, db,
       R"(.create table T ingestion json mapping 'json1' '[{"Column":"ts","Properties":{"Path":"$.ts"}},{"Column":"name","Properties":{"Path":"$.name"}},{"Column":"v","Properties":{"Path":"$.v"}},{"Column":"n","Properties":{"Path":"$.n"}},{"Column":"d","Properties":{"Path":"$.d"}}]')");
  must(c, db, ".alter table T policy streamingingestion enable");
  if (HasFatalFailure()) return;

  generator gen(seed);
  auto raw = std::make_unique<raw_connection>(node.rpc_address());
  std::vector<std::string> failures;
  size_t failure_count = 0;
  auto fail = [&](std::string what) {
    if (++failure_count <= 20) failures.push_back(std::move(what));
  };
  std::map<std::string, size_t> errors;            // by code
  std::map<std::string, uint64_t> acked_ids;       // request id → consumed records (FuzzDb.T)
  uint64_t acked_records = 0;                      // non-duplicate acks of FuzzDb.T
  size_t acks = 0, duplicates = 0, largest = 0;
  bool node_died = false;
  const auto start = std::chrono::steady_clock::now();

  for (int sent = 0; sent < requests && !node_died;) {
    std::vector<fuzz_request> batch;
    std::vector<kj::Promise<answer>> pending;
    for (; batch.size() < window && sent < requests; ++sent) {
      batch.push_back(gen.next());
      largest = std::max(largest, batch.back().data.size());
      pending.push_back(raw->send(batch.back()));
    }
    bool transport_failed = false;
    for (size_t i = 0; i < batch.size(); ++i) {
      const auto& r = batch[i];
      auto a = raw->wait(pending[i]);
      const int index = sent - static_cast<int>(batch.size()) + static_cast<int>(i);
      if (auto why = violation(r, a, acked_ids))
        fail("seed " + std::to_string(seed) + ", request " + std::to_string(index) + " (" + describe(r) +
             "): " + *why);
      if (a.what == answer::kind::none) {
        transport_failed = true;
        continue;
      }
      if (a.what == answer::kind::error) {
        ++errors[a.code];
        continue;
      }
      ++acks;
      if (a.duplicate) {
        ++duplicates;
        continue;
      }
      if (r.database != db || r.table != table) {
        fail("seed " + std::to_string(seed) + ", request " + std::to_string(index) + " (" + describe(r) +
             "): acknowledged " + std::to_string(a.consumed) + " records into a table that does not take them");
        continue;
      }
      acked_records += a.consumed;
      if (!r.request_id.empty()) acked_ids.emplace(r.request_id, a.consumed);
      gen.acked(r);
    }
    if (!node.running()) {
      fail("seed " + std::to_string(seed) + ": tributaryd exited during requests " +
           std::to_string(sent - static_cast<int>(batch.size())) + ".." + std::to_string(sent - 1) +
           " (the failures above name them; the node's stderr has the cause)");
      node_died = true;
    } else if (transport_failed) {
      pending.clear();  // before the connection they belong to
      raw = std::make_unique<raw_connection>(node.rpc_address());  // carry on over a new connection
    }
  }
  const auto took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::cout << "wire fuzz: " << requests << " requests in " << took << " s (largest data " << largest
            << " bytes): " << acks << " acks (" << duplicates << " duplicates, " << acked_records
            << " records), node peak RSS " << (peak_rss(node.pid()) >> 20) << " MiB\n";
  for (const auto& [code, n] : errors) std::cout << "  " << n << "\t" << code << "\n";
  for (const auto& f : failures) ADD_FAILURE() << f;
  if (failure_count > failures.size()) ADD_FAILURE() << (failure_count - failures.size()) << " more failures not shown";
  ASSERT_FALSE(node_died);
  ASSERT_TRUE(node.running()) << "tributaryd is no longer running";

  // The node still takes a valid ingest, and holds exactly the rows it acknowledged.
  client::ingest_request valid;
  valid.database = db;
  valid.table = table;
  valid.fmt = client::format::csv;
  valid.data = "2024-05-01T12:00:00Z,last,1.5,1,{}\n2024-05-01T12:00:01Z,last,2.5,2,{}\n";
  auto o = c.ingest(valid);
  ASSERT_TRUE(std::holds_alternative<client::ingest_ack>(o))
      << std::get<model::error>(o).code << ": " << std::get<model::error>(o).message;
  EXPECT_EQ(std::get<client::ingest_ack>(o).consumed_records, 2u);
  auto counted = ok(c.query(db, "T | count"));
  ASSERT_EQ(counted.rows.size(), 1u);
  EXPECT_EQ(std::get<int64_t>(counted.rows[0][0]), static_cast<int64_t>(acked_records + 2))
      << "T holds other rows than the " << acked_records << " acknowledged (+2)";
  // The run must exercise both answers, or it proves little.
  if (requests >= default_requests) {
    EXPECT_GE(acks, static_cast<size_t>(requests / 20)) << "too few requests were acknowledged";
    EXPECT_GE(errors.size(), 8u) << "too few kinds of error";
  }
}

}  // namespace
}  // namespace tributary::testing
