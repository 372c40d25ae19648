// Corrupt extents are reported as "StorageCorruption" errors naming the file (and the column and
// block group when one is at fault), never a crash or an out-of-bounds read: truncation at every
// length, every flipped byte, and forged files whose checksums are right but whose contents lie.
#include <zlib.h>
#include <zstd.h>

#include <cstring>
#include <random>

#include "tests/storage/extent_fixtures.hpp"

namespace tributary::storage {
namespace {

using namespace extent_testing;

// Just enough of storage/FORMAT.md "Extents" to forge files with valid checksums.
struct forged {
  std::string footer_head;  // schema and counts: the footer up to the first block group
  std::vector<uint32_t> group_rows;
  std::vector<std::vector<std::string>> entries;  // 41-byte index entries
  std::vector<std::vector<std::string>> blocks;   // stored (compressed) bytes
};

template <class T>
T load(std::string_view s, size_t at) {
  T v;
  std::memcpy(&v, s.data() + at, sizeof(T));
  return v;
}

template <class T>
void store(std::string& s, size_t at, T v) {
  std::memcpy(s.data() + at, &v, sizeof(T));
}

template <class T>
void put(std::string& s, T v) {
  s.append(reinterpret_cast<const char*>(&v), sizeof(T));
}

uint32_t crc(std::string_view s) {
  return static_cast<uint32_t>(
      crc32(0, reinterpret_cast<const Bytef*>(s.data()), static_cast<uInt>(s.size())));
}

forged parse(const std::string& file) {
  forged x;
  auto footer = std::string_view(file).substr(load<uint64_t>(file, file.size() - 24),
                                              load<uint32_t>(file, file.size() - 16));
  auto columns = load<uint32_t>(footer, 0);
  size_t p = 4;
  for (uint32_t c = 0; c < columns; ++c) p += 3 + load<uint16_t>(footer, p + 1);
  p += 8 + 8 + 8 + 4;
  auto groups = load<uint32_t>(footer, p);
  p += 4;
  x.footer_head = footer.substr(0, p);
  for (uint32_t g = 0; g < groups; ++g) {
    x.group_rows.push_back(load<uint32_t>(footer, p));
    p += 4;
    x.entries.emplace_back();
    x.blocks.emplace_back();
    for (uint32_t c = 0; c <= columns; ++c, p += 41) {
      auto e = std::string(footer.substr(p, 41));
      x.blocks.back().push_back(file.substr(load<uint64_t>(e, 0), load<uint32_t>(e, 8)));
      x.entries.back().push_back(std::move(e));
    }
  }
  return x;
}

// Offsets, stored sizes and every checksum recomputed; everything else as forged.
std::string build(const forged& x) {
  std::string out("TRXE\x01\x00\x00\x00", 8);
  std::string footer = x.footer_head;
  for (size_t g = 0; g < x.blocks.size(); ++g) {
    put<uint32_t>(footer, x.group_rows[g]);
    for (size_t c = 0; c < x.blocks[g].size(); ++c) {
      auto e = x.entries[g][c];
      store<uint64_t>(e, 0, out.size());
      store<uint32_t>(e, 8, static_cast<uint32_t>(x.blocks[g][c].size()));
      store<uint32_t>(e, 16, crc(x.blocks[g][c]));
      out += x.blocks[g][c];
      footer += e;
    }
  }
  std::string trailer;
  put<uint64_t>(trailer, out.size());
  put<uint32_t>(trailer, static_cast<uint32_t>(footer.size()));
  put<uint32_t>(trailer, crc(footer));
  trailer.append("\x01\x00\x00\x00TRXE", 8);
  return out + footer + trailer;
}

std::string decompress(const std::string& stored) {
  std::string raw(ZSTD_getFrameContentSize(stored.data(), stored.size()), '\0');
  raw.resize(ZSTD_decompress(raw.data(), raw.size(), stored.data(), stored.size()));
  return raw;
}

// Replaces block (g, c) by `raw` compressed, with a matching uncompressed size in its entry.
void replace_raw(forged& x, size_t g, size_t c, const std::string& raw) {
  std::string stored(ZSTD_compressBound(raw.size()), '\0');
  stored.resize(ZSTD_compress(stored.data(), stored.size(), raw.data(), raw.size(), 3));
  x.blocks[g][c] = stored;
  store<uint32_t>(x.entries[g][c], 12, static_cast<uint32_t>(raw.size()));
}

// Opens `path` and reads every block and column; the first error, if any.
std::optional<model::error> read_everything(const fs::path& path) {
  auto opened = extent_reader::open(path);
  if (auto* e = std::get_if<model::error>(&opened)) return *e;
  const auto& r = std::get<extent_reader>(opened);
  for (size_t b = 0; b < r.blocks().size(); ++b) {
    auto block = r.read_block(b);
    if (auto* e = std::get_if<model::error>(&block)) return *e;
    EXPECT_EQ(std::get<extent_block>(block).batch.rows, r.blocks()[b].rows);
    for (size_t c = 0; c < r.columns().size(); ++c) {
      auto col = r.read_column(c, b);
      if (auto* e = std::get_if<model::error>(&col)) return *e;
      EXPECT_EQ(std::get<model::column_data>(col).size(), r.blocks()[b].rows);
    }
  }
  return std::nullopt;
}

class extent_corruption : public extent_test {
 protected:
  // Every type, nulls, three block groups.
  std::string sample() {
    auto path = dir_ / "sample.trx";
    if (!fs::exists(path))
      write(path, all_types, {make_batch(all_types, 7, all_types_rows())}, {.block_rows = 2});
    return read_bytes(path);
  }
  // Writes `bytes` and expects reading it to fail with a message containing `needle`.
  void expect_corrupt(const std::string& bytes, const std::string& needle) {
    auto path = dir_ / "bad.trx";
    write_bytes(path, bytes);
    auto e = read_everything(path);
    ASSERT_TRUE(e) << "not detected: " << needle;
    EXPECT_EQ(e->code, "StorageCorruption");
    EXPECT_NE(e->message.find(path.string()), std::string::npos) << e->message;
    EXPECT_NE(e->message.find(needle), std::string::npos) << e->message;
  }
};

TEST_F(extent_corruption, sample_reads_back_before_it_is_damaged) {
  write_bytes(dir_ / "copy.trx", sample());
  EXPECT_FALSE(read_everything(dir_ / "copy.trx"));
  EXPECT_EQ(must(extent_reader::open(dir_ / "copy.trx")).blocks().size(), 3u);
}

TEST_F(extent_corruption, every_truncation_is_reported) {
  auto bytes = sample();
  for (size_t n = 0; n < bytes.size(); ++n) {
    SCOPED_TRACE(n);
    expect_corrupt(bytes.substr(0, n), "is corrupt");
  }
}

TEST_F(extent_corruption, every_flipped_byte_is_reported_and_blocks_are_named) {
  auto bytes = sample();
  const auto blocks_end = load<uint64_t>(bytes, bytes.size() - 24);
  for (size_t pos = 0; pos < bytes.size(); ++pos) {
    for (uint8_t mask : {0x01, 0x80, 0xff}) {
      SCOPED_TRACE(testing::Message() << "byte " << pos << " mask " << int{mask});
      auto bad = bytes;
      bad[pos] = static_cast<char>(bad[pos] ^ mask);
      if (pos >= 8 && pos < blocks_end)
        expect_corrupt(bad, "block group");
      else
        expect_corrupt(bad, "is corrupt");
    }
  }
}

TEST_F(extent_corruption, forged_index_entries_are_rejected_with_the_reason) {
  auto x = parse(sample());
  auto with = [&](auto change) {
    auto y = x;
    change(y);
    return build(y);
  };
  EXPECT_EQ(build(x), sample()) << "the forger matches the writer";
  expect_corrupt(with([](forged& y) { store<uint32_t>(y.entries[0][2], 12, 99); }),
                 "column 'l' (#2), block group 0: index entry: uncompressed size 99");
  expect_corrupt(with([](forged& y) { store<uint32_t>(y.entries[1][0], 20, 3); }),
                 "3 nulls in 2 rows");
  expect_corrupt(with([](forged& y) { store<uint32_t>(y.entries[0][10], 20, 1); }),
                 "column 'ingestion_time', block group 0: index entry: ingestion_time has nulls");
  expect_corrupt(with([](forged& y) { y.entries[0][5][24] = 1; }),
                 "min/max present for a text column");
  expect_corrupt(with([](forged& y) { y.entries[0][2][24] = 4; }), "unknown flags");
  expect_corrupt(with([](forged& y) { store<int64_t>(y.entries[1][2], 25, INT64_MAX); }),
                 "min is not <= max");
  expect_corrupt(with([](forged& y) { store<int64_t>(y.entries[0][5], 33, 1); }),
                 "without the min/max flag");
  expect_corrupt(with([](forged& y) { y.group_rows[1] = 0; }), "block group 1: 0 rows");
  expect_corrupt(
      with([](forged& y) { store<uint64_t>(y.footer_head, y.footer_head.size() - 32, 6); }),
      "row count 6 but the block groups hold 5");
  expect_corrupt(with([](forged& y) { y.footer_head[4] = 42; }), "unknown type 42");
  expect_corrupt(
      with([](forged& y) { store<int64_t>(y.footer_head, y.footer_head.size() - 24, 8); }),
      "min/max ingestion time disagree");
  expect_corrupt(
      with([](forged& y) { store<uint32_t>(y.footer_head, y.footer_head.size() - 4, 2); }),
      "do not hold 2 block groups");
  // The text column's uncompressed size no longer matches its zstd frame.
  expect_corrupt(with([](forged& y) {
                   store<uint32_t>(y.entries[0][5], 12, load<uint32_t>(y.entries[0][5], 12) + 1);
                 }),
                 "zstd frame holds");
  expect_corrupt(with([](forged& y) { y.blocks[2][3] = "definitely not zstd"; }),
                 "column 'r' (#3), block group 2: not a zstd frame");
}

TEST_F(extent_corruption, forged_block_contents_are_rejected_with_the_reason) {
  auto x = parse(sample());
  auto with_raw = [&](size_t g, size_t c, auto change) {
    auto y = x;
    auto raw = decompress(y.blocks[g][c]);
    change(raw);
    replace_raw(y, g, c, raw);
    return build(y);
  };
  // Group 0 holds rows 0 and 1; row 1 is all nulls, so every block there starts with a bitmap.
  expect_corrupt(with_raw(0, 2, [](std::string& r) { r[0] = 0x03; }),
                 "null bitmap has 2 nulls, the index says 1");
  expect_corrupt(with_raw(0, 2, [](std::string& r) { r[0] = 0x06; }), "padding bits are set");
  expect_corrupt(with_raw(0, 0, [](std::string& r) { r[1] = 2; }),
                 "column 'b' (#0), block group 0: row 0: bool byte 2");
  expect_corrupt(with_raw(0, 5, [](std::string& r) { r[1] = 6; }),
                 "text lengths up to row 0 sum to 6");
  expect_corrupt(with_raw(0, 5, [](std::string& r) { r.push_back('!'); }),
                 "text lengths sum to 5, the block holds 6");
  expect_corrupt(with_raw(0, 5, [](std::string& r) { r[1] = 0, r[5] = 5; }),
                 "row 1 is null but has 5 bytes");
}

TEST_F(extent_corruption, random_forgeries_with_valid_checksums_never_crash) {
  auto x = parse(sample());
  std::mt19937 rng(20240501);
  auto path = dir_ / "forged.trx";
  size_t rejected = 0, tries = 0;
  for (int i = 0; i < 1500; ++i, ++tries) {  // the footer
    auto y = x;
    auto& target = rng() % 4 == 0 ? y.footer_head : y.entries[rng() % y.entries.size()][rng() % 11];
    for (int k = 0, n = 1 + static_cast<int>(rng() % 3); k < n; ++k)
      target[rng() % target.size()] = static_cast<char>(rng());
    write_bytes(path, build(y));
    if (auto e = read_everything(path)) {
      ++rejected;
      EXPECT_EQ(e->code, "StorageCorruption") << e->message;
    }
  }
  for (size_t g = 0; g < x.blocks.size(); ++g) {  // every block's uncompressed content
    for (size_t c = 0; c < x.blocks[g].size(); ++c) {
      for (int i = 0; i < 40; ++i, ++tries) {
        auto y = x;
        auto raw = decompress(y.blocks[g][c]);
        if (rng() % 3 == 0) raw.resize(raw.size() + rng() % 9 - std::min<size_t>(raw.size(), 4));
        for (int k = 0, n = 1 + static_cast<int>(rng() % 3); k < n && !raw.empty(); ++k)
          raw[rng() % raw.size()] = static_cast<char>(rng() % 4 == 0 ? rng() : rng() % 3);
        replace_raw(y, g, c, raw);
        write_bytes(path, build(y));
        if (auto e = read_everything(path)) {
          ++rejected;
          EXPECT_EQ(e->code, "StorageCorruption") << e->message;
        }
      }
    }
  }
  // Most forgeries are caught; the rest changed a value into another valid value.
  EXPECT_GT(rejected, tries / 2);
}

}  // namespace
}  // namespace tributary::storage
