// Robustness of the ingest library against hostile input: 20,000 mutated payloads (fixed seed)
// through every format, with and without mappings, and gzip streams through decompress. Each
// must end in a well-formed batch or an error; none may crash, hang or take quadratic time.

#include <gtest/gtest.h>
#include <zlib.h>

#include "tests/support/gzip.hpp"

#include <algorithm>
#include <chrono>
#include <functional>
#include <random>

#include "ingest/ingest.hpp"

namespace tributary::testing {
namespace {

using ingest::format;

model::table wide_table() {
  model::table t;
  t.name = "T";
  using ct = model::column_type;
  t.columns = {{"b", ct::bool_},   {"i", ct::int_},   {"l", ct::long_},    {"r", ct::real},
               {"m", ct::decimal}, {"s", ct::string}, {"d", ct::datetime}, {"t", ct::timespan},
               {"g", ct::guid},    {"y", ct::dynamic}};
  return t;
}

model::mapping csv_mapping() {
  model::mapping m;
  m.name = "c";
  m.kind = model::mapping_kind::csv;
  for (int i = 0; i < 9; ++i) {
    model::mapping_element e;
    e.column = std::string(1, "bilrmsdtg"[i]);
    e.ordinal = 8 - i;
    m.elements.push_back(e);
  }
  model::mapping_element k;
  k.column = "y";
  k.const_value = "{\"k\":1}";
  m.elements.push_back(k);
  return m;
}

model::mapping json_mapping() {
  model::mapping m;
  m.name = "j";
  m.kind = model::mapping_kind::json;
  auto add = [&](std::string col, std::string path, std::optional<std::string> transform = {}) {
    model::mapping_element e;
    e.column = std::move(col);
    e.path = std::move(path);
    e.transform = std::move(transform);
    m.elements.push_back(e);
  };
  add("b", "$.flags[0]");
  add("i", "$['x y'].n");
  add("l", "$.n", "SourceLineNumber");
  add("r", "$.a.b.c");
  add("m", "$[\"m\"]");
  add("s", "$");
  add("d", "$.ts", "DateTimeFromUnixMilliseconds");
  add("t", "$.span");
  add("y", "$.bags", "PropertyBagArrayToDictionary");
  m.elements[2].path.reset();
  return m;
}

const std::vector<std::string>& csv_seeds() {
  static const std::vector<std::string> seeds = {
      "true,1,2,1.5,2.25,text,2024-05-01T12:00:00Z,01:02:03,74be27de-1e4e-49d9-b579-fe0b331d3642,{"
      "\"a\":1}\n"
      "false,-1,-2,NaN,-0.5,\"q,\"\"x\"\"\",2024-05-01,1.5h,74BE27DE1E4E49D9B579FE0B331D3642,[1,2]"
      "\r\n"
      ",,,,,,,,,\n",
      "1,2147483647,9223372036854775807,1e308,79228162514264337593543950335,\"multi\nline\",Sat, 8 "
      "Nov 14 "
      "15:05:02 GMT,100ms,{74be27de-1e4e-49d9-b579-fe0b331d3642},\"{\"\"k\"\":[true,null]}\"",
  };
  return seeds;
}

const std::vector<std::string>& json_seeds() {
  static const std::vector<std::string> seeds = {
      "{\"b\":true,\"i\":1,\"l\":2,\"r\":1.5,\"m\":\"2.25\",\"s\":\"x\",\"d\":\"2024-05-01\",\"t\":"
      "\"1h\","
      "\"g\":\"74be27de-1e4e-49d9-b579-fe0b331d3642\",\"y\":{\"a\":[1,2]}}\n"
      "{\"flags\":[false],\"x y\":{\"n\":5},\"a\":{\"b\":{\"c\":2}},\"m\":1e3,\"ts\":1714564800000,"
      "\"span\":\"00:01:00\",\"bags\":[{\"p\":1},{\"q\":2}]}\n",
      "[{\"i\":1,\"s\":\"a\\n\\u00e9\"},\n {\"i\":2,\"y\":null}]\n{\"r\":-1e-5}",
  };
  return seeds;
}

char separator(format f) {
  switch (f) {
    case format::tsv:
      return '\t';
    case format::scsv:
      return ';';
    case format::psv:
      return '|';
    case format::sohsv:
      return '\x01';
    default:
      return ',';
  }
}

class mutator {
 public:
  explicit mutator(uint32_t seed) : rng_(seed) {}

  // Up to four mutations; one input in eight stays intact so that the conversion paths run too.
  std::string mutate(std::string s) {
    const size_t rounds = pick(8) == 0 ? 0 : 1 + pick(4);
    for (size_t i = 0; i < rounds; ++i) s = once(std::move(s));
    return s;
  }

  size_t pick(size_t n) {
    return n == 0 ? 0 : std::uniform_int_distribution<size_t>(0, n - 1)(rng_);
  }

 private:
  char byte() {
    static const char interesting[] = {',', '"', '\n', '\r', '\t', ';',  '|',  '\x01',
                                       '{', '}', '[',  ']',  ':',  '\\', '\0', '-',
                                       '.', 'e', 'T',  'Z',  '$',  '\'', ' ',  '0'};
    if (pick(3) == 0) return static_cast<char>(pick(256));
    return interesting[pick(sizeof interesting)];
  }

  std::string once(std::string s) {
    const size_t at = pick(s.size() + 1);
    switch (pick(7)) {
      case 0:  // flip a byte
        if (!s.empty()) s[pick(s.size())] = byte();
        return s;
      case 1:  // insert a byte
        s.insert(s.begin() + static_cast<ptrdiff_t>(at), byte());
        return s;
      case 2:  // delete a range
        if (!s.empty()) s.erase(pick(s.size()), 1 + pick(8));
        return s;
      case 3:  // duplicate a range
        if (!s.empty()) {
          const size_t from = pick(s.size());
          s.insert(at, s.substr(from, 1 + pick(40)));
        }
        return s;
      case 4:  // truncate
        s.resize(at);
        return s;
      case 5:  // repeat a byte many times (long fields, deep nesting)
        s.insert(at, 1 + pick(3000), byte());
        return s;
      default:  // splice in an invalid UTF-8 sequence
        s.insert(at, pick(2) ? "\xC3" : "\xED\xA0\x80");
        return s;
    }
  }

  std::mt19937 rng_;
};

// A batch's shape holds whatever its values are; an error has a code and a message.
void check(const std::variant<model::column_batch, model::error>& r, const model::table& t) {
  if (auto* e = std::get_if<model::error>(&r)) {
    ASSERT_FALSE(e->code.empty());
    ASSERT_FALSE(e->message.empty());
    return;
  }
  const auto& b = std::get<model::column_batch>(r);
  ASSERT_EQ(b.columns.size(), t.columns.size());
  for (const auto& c : b.columns) {
    ASSERT_EQ(c.size(), b.rows);
    ASSERT_TRUE(c.offsets.size() == 1 || c.offsets.size() == b.rows + 1);
    ASSERT_TRUE(std::is_sorted(c.offsets.begin(), c.offsets.end()));
    ASSERT_EQ(c.offsets.back(), c.text.size());
  }
}

TEST(robustness, mutated_payloads_in_every_format_give_a_batch_or_an_error) {
  const auto table = wide_table();
  const auto csv_map = csv_mapping();
  const auto json_map = json_mapping();
  mutator m(20240501);
  const std::vector<format> csv_like = {format::csv, format::tsv, format::scsv, format::sohsv,
                                        format::psv};
  size_t batches = 0;
  for (int i = 0; i < 20000; ++i) {
    const bool json = i % 2 == 1;
    const auto& seeds = json ? json_seeds() : csv_seeds();
    std::string input = m.mutate(seeds[m.pick(seeds.size())]);
    const format f =
        json ? (m.pick(2) ? format::json : format::multijson) : csv_like[m.pick(csv_like.size())];
    if (!json && f != format::csv) std::replace(input.begin(), input.end(), ',', separator(f));
    const model::mapping* mapping = m.pick(2) ? (json ? &json_map : &csv_map) : nullptr;
    auto r = ingest::parse(f, input, table, mapping);
    ASSERT_NO_FATAL_FAILURE(check(r, table)) << "input " << i;
    batches += std::holds_alternative<model::column_batch>(r) ? 1 : 0;
    if (i % 10 == 0) {
      // The same payload gzipped and mutated again must decompress or fail cleanly.
      auto d = ingest::decompress(m.mutate(tributary::testing::gzip(input)), 1 << 20);
      if (auto* e = std::get_if<model::error>(&d)) {
        ASSERT_FALSE(e->code.empty());
      }
    }
  }
  // The mutations must leave enough inputs valid that the conversion paths run too.
  EXPECT_GT(batches, 1000u);
}

// Inputs built to hit worst cases. Each must take time linear in its size: 8 times the input
// may take at most 24 times as long (quadratic work would take 64 times), and no case may hang.
TEST(robustness, worst_case_payloads_stay_linear) {
  const auto table = wide_table();
  model::table one;
  one.name = "One";
  one.columns = {{"y", model::column_type::dynamic}};
  auto filled = [](std::string piece) {
    return [piece](size_t n) {
      std::string s;
      while (s.size() < n) s += piece;
      return s;
    };
  };
  const std::vector<std::pair<format, std::function<std::string(size_t)>>> cases = {
      {format::csv, filled(",")},
      {format::csv, filled("\"")},
      {format::csv, [](size_t n) { return "\"" + std::string(n - 1, 'x'); }},
      {format::csv, filled("\n")},
      {format::csv, filled("\"a\"\"b\"\"\",")},
      {format::tsv, filled("\t")},
      {format::json, filled("{")},
      {format::json, filled("\n")},
      {format::json, filled("{}\n")},
      {format::multijson, filled("[")},
      {format::multijson,
       [](size_t n) { return std::string(n / 2, '[') + std::string(n / 2, ']'); }},
      {format::multijson, filled(" ")},
      {format::multijson, filled("{}")},
      {format::multijson, filled("[{},")},
  };
  using clock = std::chrono::steady_clock;
  for (const auto& [f, make] : cases) {
    for (const model::table* t : std::vector<const model::table*>{&table, &one}) {
      std::vector<clock::duration> took;
      for (size_t n : {ingest::max_request_bytes / 8, ingest::max_request_bytes}) {
        const std::string input = make(n);
        // The fastest of three: a quadratic parse is slow every time, a busy machine only sometimes.
        auto best = clock::duration::max();
        for (int attempt = 0; attempt < 3; ++attempt) {
          const auto start = clock::now();
          auto r = ingest::parse(f, input, *t, nullptr);
          best = std::min<clock::duration>(best, clock::now() - start);
          ASSERT_NO_FATAL_FAILURE(check(r, *t));
        }
        took.push_back(best);
      }
      const std::string what = std::string(ingest::to_string(f)) + " input starting " + make(8);
      // 8x the input in at most 24x the time, plus what a 4 MiB input costs whatever the parse
      // (fresh buffers' page faults, caches): a quadratic parse takes 64x.
      EXPECT_LT(took[1], 24 * took[0] + std::chrono::milliseconds(150)) << what;
      EXPECT_LT(took[1], std::chrono::seconds(60)) << what;
    }
  }
}

TEST(robustness, every_byte_of_a_gzip_stream_flipped) {
  const std::string plain = "a,1\nb,2\nc,3\n";
  const std::string z = tributary::testing::gzip(plain);
  for (size_t i = 0; i < z.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = z;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      auto d = ingest::decompress(bad, 1000);
      if (auto* s = std::get_if<std::string>(&d)) {
        EXPECT_LE(s->size(), 1000u);
      }
    }
  }
}

}  // namespace
}  // namespace tributary::testing
