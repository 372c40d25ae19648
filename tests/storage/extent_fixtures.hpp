#pragma once
// Shared by the extent tests: batch builders, a read-everything helper and a temp-dir fixture.
#include <gtest/gtest.h>
#include <unistd.h>

#include <bit>
#include <climits>
#include <filesystem>
#include <fstream>
#include <limits>
#include <stdexcept>

#include "storage/extent.hpp"

namespace tributary::storage::extent_testing {

namespace fs = std::filesystem;
using model::column;
using model::column_batch;
using model::column_type;
using model::value;
using rows_t = std::vector<std::vector<value>>;

inline std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void write_bytes(const fs::path& p, std::string_view bytes) {
  // A new file rather than a truncated one: ext4 flushes data on truncate-and-rewrite.
  fs::remove(p);
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

template <class T>
T must(std::variant<T, model::error>&& v) {
  if (auto* e = std::get_if<model::error>(&v))
    throw std::runtime_error(e->code + ": " + e->message);
  return std::move(std::get<T>(v));
}

// Bit-exact for reals (NaN equals NaN, -0.0 differs from 0.0).
inline bool same(const value& a, const value& b) {
  if (std::holds_alternative<double>(a) && std::holds_alternative<double>(b))
    return std::bit_cast<uint64_t>(std::get<double>(a)) ==
           std::bit_cast<uint64_t>(std::get<double>(b));
  return a == b;
}

inline column_batch make_batch(const std::vector<column>& schema, int64_t ticks,
                               const rows_t& rows) {
  auto b = column_batch::with_columns(schema);
  b.ingestion_ticks = ticks;
  for (const auto& row : rows) {
    for (size_t c = 0; c < schema.size(); ++c) {
      auto& d = b.columns[c];
      const auto& v = row[c];
      if (std::holds_alternative<std::monostate>(v))
        d.append_null();
      else if (auto* x = std::get_if<bool>(&v))
        d.append_int(*x ? 1 : 0);
      else if (auto* i = std::get_if<int64_t>(&v))
        d.append_int(*i);
      else if (auto* r = std::get_if<double>(&v))
        d.append_real(*r);
      else
        d.append_text(std::get<std::string>(v));
    }
    ++b.rows;
  }
  return b;
}

inline const std::vector<column> all_types = {
    {"b", column_type::bool_},    {"i", column_type::int_},      {"l", column_type::long_},
    {"r", column_type::real},     {"d", column_type::decimal},   {"s", column_type::string},
    {"t", column_type::datetime}, {"ts", column_type::timespan}, {"g", column_type::guid},
    {"j", column_type::dynamic}};

inline rows_t all_types_rows() {
  const value null;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  return {
      {true, int64_t{INT32_MAX}, int64_t{INT64_MAX}, 1.5, std::string("1.25"), std::string("hello"),
       int64_t{638'000'000'000'000'000}, int64_t{36'000'000'000},
       std::string("00000000-0000-0000-0000-000000000001"), std::string("{\"a\":1}")},
      {null, null, null, null, null, null, null, null, null, null},
      {false, int64_t{INT32_MIN}, int64_t{INT64_MIN}, -0.0, std::string("0"), std::string(""),
       int64_t{0}, int64_t{-1}, std::string("ffffffff-ffff-ffff-ffff-ffffffffffff"),
       std::string("[]")},
      {true, null, int64_t{7}, nan, null, std::string("x"), null, int64_t{5}, null,
       std::string("null")},
      {null, int64_t{-3}, null, -inf, std::string("-0.5"), null, int64_t{-1}, null, std::string(""),
       null},
  };
}

struct read_back {
  rows_t rows;
  std::vector<int64_t> ticks;
};

inline read_back read_all(const extent_reader& r) {
  read_back out;
  auto err = r.scan([&](const extent_block& b) {
    EXPECT_EQ(b.ingestion_ticks.size(), b.batch.rows);
    EXPECT_EQ(b.batch.columns.size(), r.columns().size());
    for (uint32_t i = 0; i < b.batch.rows; ++i) {
      std::vector<value> row;
      for (const auto& c : b.batch.columns) row.push_back(c.at(i));
      out.rows.push_back(std::move(row));
      out.ticks.push_back(b.ingestion_ticks[i]);
    }
    return true;
  });
  if (err) throw std::runtime_error(err->message);
  return out;
}

inline void expect_rows(const rows_t& got, const rows_t& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_EQ(got[i].size(), want[i].size()) << "row " << i;
    for (size_t c = 0; c < want[i].size(); ++c)
      EXPECT_TRUE(same(got[i][c], want[i][c])) << "row " << i << " column " << c;
  }
}

class extent_test : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("tributary-extent-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  extent_stats write(const fs::path& path, const std::vector<column>& schema,
                     const std::vector<column_batch>& batches, extent_options options = {}) {
    auto w = must(extent_writer::create(path, schema, options));
    for (const auto& b : batches)
      if (auto e = w.append(b)) throw std::runtime_error(e->message);
    return must(w.finish());
  }

  fs::path dir_;
};

}  // namespace tributary::storage::extent_testing
