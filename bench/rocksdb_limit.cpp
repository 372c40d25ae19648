#include "bench/rocksdb_limit.hpp"

#include <fmt/format.h>
#include <rocksdb/db.h>

#include <exception>
#include <stdexcept>
#include <thread>

#include "bench/common.hpp"

namespace tributary::bench {
namespace {

void check(const rocksdb::Status& s, std::string_view what) {
  if (!s.ok()) throw std::runtime_error(fmt::format("RocksDB limit: {}: {}", what, s.ToString()));
}

}  // namespace

struct limit_db::impl {
  std::filesystem::path dir;
  std::unique_ptr<rocksdb::DB> db;
};

limit_db::limit_db(std::filesystem::path dir) : impl_(std::make_unique<impl>()) {
  impl_->dir = std::move(dir);
  std::filesystem::remove_all(impl_->dir);
  rocksdb::Options o;
  o.create_if_missing = true;
  o.error_if_exists = true;
  rocksdb::DB* db = nullptr;
  check(rocksdb::DB::Open(o, impl_->dir.string(), &db), "open " + impl_->dir.string());
  impl_->db.reset(db);
}

limit_db::~limit_db() {
  impl_->db.reset();
  std::error_code ec;
  std::filesystem::remove_all(impl_->dir, ec);
}

double limit_db::synced_put_us(std::string_view key, std::string_view value) {
  rocksdb::WriteOptions w;
  w.sync = true;
  const auto t0 = std::chrono::steady_clock::now();
  check(impl_->db->Put(w, rocksdb::Slice(key.data(), key.size()),
                       rocksdb::Slice(value.data(), value.size())),
        "synced Put");
  return micros(t0, std::chrono::steady_clock::now());
}

concurrent_puts concurrent_synced_puts(const std::filesystem::path& dir, size_t threads,
                                       std::chrono::seconds duration) {
  limit_db db(dir);
  return concurrent_synced_puts(db, threads, duration, 0);
}

concurrent_puts concurrent_synced_puts(limit_db& db, size_t threads,
                                       std::chrono::milliseconds duration, uint64_t round) {
  struct per_thread {
    std::vector<double> latencies;
    uint64_t bytes = 0;
    std::exception_ptr failure;
  };
  std::vector<per_thread> results(threads);
  std::vector<std::thread> pool;
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + duration;
  for (size_t t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      auto& mine = results[t];
      payload_generator payloads(1000 + round * threads + t);
      try {
        for (uint64_t i = 0; std::chrono::steady_clock::now() < deadline; ++i) {
          auto value = payloads.next();  // made outside the timed Put, as the client makes requests
          mine.latencies.push_back(
              db.synced_put_us(fmt::format("r{:04}-t{:03}-{:010}", round, t, i), value));
          mine.bytes += value.size();
        }
      } catch (...) {
        mine.failure = std::current_exception();
      }
    });
  }
  for (auto& th : pool) th.join();
  concurrent_puts out;
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (auto& r : results) {
    if (r.failure) std::rethrow_exception(r.failure);
    out.writes += r.latencies.size();
    out.bytes += r.bytes;
    out.latencies_us.insert(out.latencies_us.end(), r.latencies.begin(), r.latencies.end());
  }
  return out;
}

}  // namespace tributary::bench
