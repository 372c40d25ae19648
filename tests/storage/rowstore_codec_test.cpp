// The rowstore value codec (storage/FORMAT.md "Rowstore"): encode_batch/decode_batch round trips,
// and whatever the bytes, decode_batch answers StorageCorruption or a well-formed batch — never a
// crash, an over-read (every input is its own exact-size heap block, so ASan sees one byte past
// it) or an allocation out of proportion to the value.
//
// Its own executable: it replaces the global operator new to cap the size of one allocation while
// decode_batch runs (a decoder that trusts a corrupt row count asks for gigabytes).

#include <gtest/gtest.h>

#include <bit>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <random>
#include <string>

#include "storage/rowstore.hpp"
#include "tests/storage/extent_fixtures.hpp"

namespace {

// 0 = no cap. Only the thread that arms it is capped.
thread_local size_t allocation_cap = 0;

struct allocation_refused : std::bad_alloc {
  const char* what() const noexcept override { return "allocation over the test's cap"; }
};

}  // namespace

// The replacements pair malloc with free; GCC, seeing them inlined, mistakes that for a mismatch.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

void* operator new(size_t size) {
  if (allocation_cap != 0 && size > allocation_cap) throw allocation_refused();
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace tributary::storage {
namespace {

using extent_testing::all_types;
using extent_testing::all_types_rows;
using extent_testing::make_batch;
using model::column_batch;
using model::column_type;

// The largest single allocation a decoder that checks lengths before allocating needs for a value
// of `bytes`: each per-row array is at most a few times the value (nulls are expanded from a flag,
// offsets and numbers are in the value), plus the columns vector. Generous on purpose: it only
// has to tell "proportional" from "trusts a row count".
size_t cap_for(size_t bytes) { return (1u << 20) + 64 * bytes; }

struct decoded {
  std::variant<column_batch, model::error> result;
  size_t refused = 0;  // the size of a refused allocation, 0 when none
};

// Decodes `bytes` from an exact-size heap copy, with the allocation cap armed.
decoded decode_exact(std::string_view bytes) {
  std::unique_ptr<char[]> copy(new char[bytes.size()]);
  if (!bytes.empty()) std::memcpy(copy.get(), bytes.data(), bytes.size());
  std::string_view view(copy.get(), bytes.size());
  allocation_cap = cap_for(bytes.size());
  try {
    auto r = decode_batch(view);
    allocation_cap = 0;
    return {std::move(r), 0};
  } catch (const allocation_refused&) {
    allocation_cap = 0;
    return {model::error{}, 1};
  }
}

void expect_same(const column_batch& got, const column_batch& want) {
  EXPECT_EQ(got.ingestion_ticks, want.ingestion_ticks);
  ASSERT_EQ(got.rows, want.rows);
  ASSERT_EQ(got.columns.size(), want.columns.size());
  for (size_t c = 0; c < want.columns.size(); ++c) {
    const auto& g = got.columns[c];
    const auto& w = want.columns[c];
    EXPECT_EQ(g.type, w.type) << "column " << c;
    EXPECT_EQ(g.nulls, w.nulls) << "column " << c;
    EXPECT_EQ(g.ints, w.ints) << "column " << c;
    ASSERT_EQ(g.reals.size(), w.reals.size()) << "column " << c;
    for (size_t i = 0; i < w.reals.size(); ++i)  // bit-exact: NaN, -0.0
      EXPECT_EQ(std::bit_cast<uint64_t>(g.reals[i]), std::bit_cast<uint64_t>(w.reals[i]))
          << "column " << c << " row " << i;
    EXPECT_EQ(g.text, w.text) << "column " << c;
    EXPECT_EQ(g.offsets, w.offsets) << "column " << c;
  }
}

column_batch round_trip(const column_batch& b) {
  auto d = decode_exact(encode_batch(b));
  if (d.refused) ADD_FAILURE() << "decode_batch allocated over the cap";
  if (auto* e = std::get_if<model::error>(&d.result)) {
    ADD_FAILURE() << e->code << ": " << e->message;
    return {};
  }
  return std::get<column_batch>(std::move(d.result));
}

// A decoded batch is usable: every column has one null flag and one value per row, offsets
// rise from 0 to the text's end, and every cell reads (ASan checks the reads).
void expect_well_formed(const column_batch& b, const std::string& where) {
  for (size_t c = 0; c < b.columns.size(); ++c) {
    const auto& d = b.columns[c];
    ASSERT_LE(static_cast<unsigned>(d.type), static_cast<unsigned>(column_type::dynamic)) << where;
    ASSERT_EQ(d.nulls.size(), b.rows) << where << " column " << c;
    switch (d.type) {
      case column_type::real:
        ASSERT_EQ(d.reals.size(), b.rows) << where << " column " << c;
        break;
      case column_type::string:
      case column_type::decimal:
      case column_type::guid:
      case column_type::dynamic:
        ASSERT_EQ(d.offsets.size(), size_t{b.rows} + 1) << where << " column " << c;
        ASSERT_EQ(d.offsets.front(), 0u) << where << " column " << c;
        ASSERT_EQ(d.offsets.back(), d.text.size()) << where << " column " << c;
        for (size_t i = 0; i < b.rows; ++i)
          ASSERT_LE(d.offsets[i], d.offsets[i + 1]) << where << " column " << c << " row " << i;
        break;
      default:
        ASSERT_EQ(d.ints.size(), b.rows) << where << " column " << c;
    }
    for (size_t i = 0; i < b.rows; ++i) (void)d.at(i);
  }
}

// A corrupt value's outcome: StorageCorruption, or (bytes that still parse: the value has no
// checksum of its own, RocksDB's block checksums guard it) a well-formed batch. Returns true when
// it was an error.
bool expect_corrupt_or_well_formed(std::string_view bytes, const std::string& where) {
  auto d = decode_exact(bytes);
  if (d.refused) {
    ADD_FAILURE() << where << ": decode_batch asked for an allocation over " << cap_for(bytes.size())
                  << " bytes for a value of " << bytes.size()
                  << " bytes (it allocates by the row count before checking the value holds the rows)";
    return true;
  }
  if (auto* e = std::get_if<model::error>(&d.result)) {
    EXPECT_EQ(e->code, "StorageCorruption") << where << ": " << e->message;
    EXPECT_FALSE(e->message.empty()) << where;
    EXPECT_TRUE(e->permanent) << where;
    return true;
  }
  expect_well_formed(std::get<column_batch>(d.result), where);
  return false;
}

column_batch all_types_batch() { return make_batch(all_types, 638'000'000'000'000'000, all_types_rows()); }

TEST(rowstore_codec, round_trips_every_column_type_with_nulls) {
  auto b = all_types_batch();
  ASSERT_EQ(b.rows, 5u);
  expect_same(round_trip(b), b);
}

TEST(rowstore_codec, round_trips_columns_without_nulls_and_empty_texts) {
  std::vector<model::column> schema = {{"l", column_type::long_}, {"r", column_type::real},
                                       {"s", column_type::string}, {"j", column_type::dynamic}};
  extent_testing::rows_t rows;
  for (int i = 0; i < 300; ++i)
    rows.push_back({int64_t{i} * -7, i * 0.5, std::string(i % 3 ? "" : "text"), std::string("{}")});
  auto b = make_batch(schema, -1, rows);
  expect_same(round_trip(b), b);
}

TEST(rowstore_codec, round_trips_zero_rows_and_zero_columns) {
  auto empty_rows = make_batch(all_types, 0, {});
  expect_same(round_trip(empty_rows), empty_rows);
  column_batch no_columns;
  no_columns.ingestion_ticks = 42;
  expect_same(round_trip(no_columns), no_columns);
}

TEST(rowstore_codec, round_trips_a_large_text_column) {
  std::vector<model::column> schema = {{"s", column_type::string}};
  extent_testing::rows_t rows;
  for (int i = 0; i < 64; ++i) rows.push_back({std::string(size_t{16} << 10, static_cast<char>('a' + i % 26))});
  auto b = make_batch(schema, 7, rows);
  expect_same(round_trip(b), b);
}

// A query reads only the columns it names: the others come back typed and empty, the rest as
// written, and a value cut short is still corruption whichever columns are read.
TEST(rowstore_codec, decodes_only_the_columns_asked_for) {
  const auto b = all_types_batch();
  const auto value = encode_batch(b);
  for (size_t wanted = 0; wanted <= b.columns.size(); ++wanted) {
    std::vector<bool> mask(b.columns.size(), false);
    if (wanted < mask.size()) mask[wanted] = true;  // one column, or none (a count)
    auto r = decode_batch(value, &mask);
    ASSERT_TRUE(std::holds_alternative<column_batch>(r)) << std::get<model::error>(r).message;
    const auto& got = std::get<column_batch>(r);
    EXPECT_EQ(got.rows, b.rows);
    EXPECT_EQ(got.ingestion_ticks, b.ingestion_ticks);
    ASSERT_EQ(got.columns.size(), b.columns.size());
    for (size_t c = 0; c < b.columns.size(); ++c) {
      EXPECT_EQ(got.columns[c].type, b.columns[c].type) << c;
      if (c == wanted) {
        EXPECT_EQ(got.columns[c].nulls, b.columns[c].nulls) << c;
        EXPECT_EQ(got.columns[c].ints, b.columns[c].ints) << c;
        EXPECT_EQ(got.columns[c].text, b.columns[c].text) << c;
        EXPECT_EQ(got.columns[c].offsets, b.columns[c].offsets) << c;
        EXPECT_EQ(got.columns[c].reals.size(), b.columns[c].reals.size()) << c;
      } else {
        EXPECT_TRUE(got.columns[c].size() == 0 && got.columns[c].ints.empty() && got.columns[c].text.empty() &&
                    got.columns[c].offsets.size() <= 1 && got.columns[c].reals.empty())
            << "column " << c << " was not asked for";
      }
    }
    for (size_t len = 0; len < value.size(); len += 7) {
      auto cut = decode_batch(std::string_view(value).substr(0, len), &mask);
      ASSERT_TRUE(std::holds_alternative<model::error>(cut)) << "cut to " << len << " of " << value.size();
      EXPECT_EQ(std::get<model::error>(cut).code, "StorageCorruption");
    }
  }
}

TEST(rowstore_codec, every_truncation_is_storage_corruption) {
  for (const auto& b : {all_types_batch(), make_batch(all_types, 1, {})}) {
    auto value = encode_batch(b);
    for (size_t len = 0; len < value.size(); ++len) {
      auto d = decode_exact(std::string_view(value).substr(0, len));
      ASSERT_EQ(d.refused, 0u) << "truncated to " << len << " of " << value.size();
      auto* e = std::get_if<model::error>(&d.result);
      ASSERT_NE(e, nullptr) << "truncated to " << len << " of " << value.size() << " bytes decoded";
      EXPECT_EQ(e->code, "StorageCorruption") << len;
      EXPECT_NE(e->message.find("rowstore batch"), std::string::npos) << e->message;
    }
  }
}

TEST(rowstore_codec, flipped_header_fields_are_storage_corruption) {
  const auto value = encode_batch(all_types_batch());
  auto flipped = [&](size_t at, uint8_t mask) {
    auto v = value;
    v[at] = static_cast<char>(v[at] ^ mask);
    return v;
  };
  for (size_t at = 0; at < 5; ++at)  // magic and version
    for (int bit = 0; bit < 8; ++bit)
      EXPECT_TRUE(expect_corrupt_or_well_formed(flipped(at, uint8_t(1u << bit)), "magic/version byte " +
                                                std::to_string(at) + " bit " + std::to_string(bit)));
  // A larger row count than the value holds: every column runs past the end.
  for (size_t at = 16; at < 20; ++at)
    for (int bit = 0; bit < 8; ++bit) {
      auto v = flipped(at, uint8_t(1u << bit));
      uint32_t rows;
      std::memcpy(&rows, v.data() + 16, 4);
      if (rows <= 5) continue;
      EXPECT_TRUE(expect_corrupt_or_well_formed(v, "row count " + std::to_string(rows)))
          << "a row count of " << rows << " decoded from a value holding 5 rows";
    }
  // An unknown column type (the first column's type byte is at 20).
  for (uint8_t type : {uint8_t{10}, uint8_t{0x80}, uint8_t{0xFF}}) {
    auto v = value;
    v[20] = static_cast<char>(type);
    EXPECT_TRUE(expect_corrupt_or_well_formed(v, "column type " + std::to_string(type)));
  }
}

TEST(rowstore_codec, every_flipped_byte_decodes_safely) {
  for (const auto& b : {all_types_batch(), make_batch(all_types, 1, {})}) {
    const auto value = encode_batch(b);
    for (size_t at = 0; at < value.size(); ++at)
      for (uint8_t mask : {0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xFF}) {
        auto v = value;
        v[at] = static_cast<char>(v[at] ^ mask);
        expect_corrupt_or_well_formed(v, "byte " + std::to_string(at) + " ^ " + std::to_string(mask));
        if (::testing::Test::HasFailure()) return;  // the first finding is enough
      }
  }
}

TEST(rowstore_codec, random_overwrites_decode_safely) {
  const unsigned seed = std::getenv("TRIBUTARY_CODEC_SEED") ? std::stoul(std::getenv("TRIBUTARY_CODEC_SEED")) : 20240607;
  std::mt19937 rng(seed);
  const auto value = encode_batch(all_types_batch());
  for (int round = 0; round < 5000; ++round) {
    auto v = value;
    const int bytes = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < bytes; ++k) v[rng() % v.size()] = static_cast<char>(rng());
    if (rng() % 4 == 0) v.resize(rng() % (v.size() + 1));
    expect_corrupt_or_well_formed(v, "seed " + std::to_string(seed) + " round " + std::to_string(round));
    if (::testing::Test::HasFailure()) return;  // the first finding is enough
  }
}

}  // namespace
}  // namespace tributary::storage
