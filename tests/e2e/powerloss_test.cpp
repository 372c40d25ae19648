// Power-loss test: where crash_test.cpp kills only the process (its unsynced writes still reach the
// disk through the page cache), this one also loses the page cache, so a missing fsync shows.
//
// The node's data directory is on an ext4 file system in an image file, mounted through a loop
// device. At the kill the test copies the image file at once: the copy holds what the loop device
// has been given (what was fsynced, plus whatever the kernel happened to write back), never the
// upper file system's dirty pages. The copy is then mounted on a new loop device (ext4 replays its
// journal as after a power cut), a node starts on it, and every acknowledged request must be
// there exactly once with its payload; the next round goes on with the copy. ext4 is mounted with
// commit=600 (its periodic journal commit would otherwise write unsynced data within 5 s) and
// noauto_da_alloc (no write-back when a replaced file is closed), so only fsyncs make data durable.
// It catches a missing fsync of the rowstore's group commit or of an extent file (both checked by
// removing them). It cannot catch a missing fsync of an extent's directory: on ext4, fsyncing a
// new file commits the journal transaction that holds its directory entry.
//
// Needs root and loop devices; skips otherwise. TRIBUTARY_POWERLOSS_ROUNDS sets the number of
// power losses per test (default 3).

#include <gtest/gtest.h>
#include <csignal>
#include <fcntl.h>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <unistd.h>

#include "client/client.hpp"
#include "tests/support/acked_requests.hpp"
#include "tests/support/node_process.hpp"
#include "tests/support/run_process.hpp"

namespace tributary::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr int max_new_per_round = 3000;  // as in crash_test.cpp: bounds a round waiting for its crash point
constexpr off_t image_bytes = 512 << 20;  // sparse: only what ext4 and the node write takes space
constexpr const char* mount_options = "commit=600,noauto_da_alloc";

/// Absolute path of a system tool, or empty when it is not installed.
std::string tool(const std::string& name) {
  for (const char* dir : {"/usr/sbin", "/sbin", "/usr/bin", "/bin"})
    if (::access((fs::path(dir) / name).c_str(), X_OK) == 0) return (fs::path(dir) / name).string();
  return {};
}

/// Runs a system tool; throws std::runtime_error naming the command and its stderr on failure.
std::string run_tool(std::vector<std::string> argv) {
  const auto name = argv.at(0);
  argv[0] = tool(name);
  if (argv[0].empty()) throw std::runtime_error(name + " is not installed (scripts/install-deps)");
  auto r = run_process(argv);
  if (r.exit_code != 0) {
    std::string cmd;
    for (const auto& a : argv) cmd += a + " ";
    throw std::runtime_error(cmd + "failed with status " + std::to_string(r.exit_code) + ": " + r.err);
  }
  return r.out;
}

/// A fresh ext4 file system in a sparse image file at `image`.
void make_image(const fs::path& image) {
  int fd = ::open(image.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0 || ::ftruncate(fd, image_bytes) != 0) throw std::runtime_error("cannot create " + image.string());
  ::close(fd);
  // Inode tables and journal zeroed now: no lazy-init thread writing to the device during the test.
  run_tool({"mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", image.string()});
}

/// The state of the disk at this instant, as a power cut would leave it: a byte copy of the image
/// file (its page cache holds everything the loop device has written). Sparse: holes stay holes.
void snapshot(const fs::path& from, const fs::path& to) {
  int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  struct closer {
    int a, b;
    ~closer() { ::close(a), ::close(b); }
  } close_both{in, out};
  if (in < 0 || out < 0) throw std::runtime_error("cannot open " + from.string() + " or " + to.string());
  const off_t size = ::lseek(in, 0, SEEK_END);
  if (::ftruncate(out, size) != 0) throw std::runtime_error("cannot size " + to.string());
  std::vector<char> buf(1 << 20);
  for (off_t at = ::lseek(in, 0, SEEK_DATA); at >= 0 && at < size; at = ::lseek(in, at, SEEK_DATA)) {
    const off_t end = std::min(size, ::lseek(in, at, SEEK_HOLE));
    while (at < end) {
      const auto n = ::pread(in, buf.data(), static_cast<size_t>(std::min<off_t>(end - at, buf.size())), at);
      if (n <= 0 || ::pwrite(out, buf.data(), static_cast<size_t>(n), at) != n)
        throw std::runtime_error("cannot copy " + from.string() + " at byte " + std::to_string(at));
      at += n;
    }
  }
}

/// `image` attached to a free loop device and mounted (ext4, `mount_options`) at `dir` for the
/// lifetime of this object; mounting replays the journal. The destructor unmounts and detaches
/// (lazily when the file system is still busy). Throws std::runtime_error when either step fails.
class mounted_image {
 public:
  mounted_image(const fs::path& image, fs::path dir) : dir_(std::move(dir)) {
    fs::create_directories(dir_);
    device_ = run_tool({"losetup", "--find", "--show", image.string()});
    while (!device_.empty() && std::isspace(static_cast<unsigned char>(device_.back()))) device_.pop_back();
    try {
      run_tool({"mount", "-t", "ext4", "-o", mount_options, device_, dir_.string()});
    } catch (...) {
      run_process({tool("losetup"), "-d", device_});
      throw;
    }
  }
  ~mounted_image() {
    bool unmounted = false;
    for (int attempt = 0; attempt < 20 && !unmounted; ++attempt) {
      unmounted = run_process({tool("umount"), dir_.string()}).exit_code == 0;
      if (!unmounted) std::this_thread::sleep_for(100ms);
    }
    if (!unmounted) run_process({tool("umount"), "-l", dir_.string()});
    run_process({tool("losetup"), "-d", device_});
  }
  mounted_image(const mounted_image&) = delete;
  mounted_image& operator=(const mounted_image&) = delete;

 private:
  fs::path dir_;
  std::string device_;
};

/// Why this machine cannot run the test (not root, tools missing), or nullopt.
std::optional<std::string> cannot_run() {
  if (::geteuid() != 0) return "needs root to attach loop devices and mount them";
  for (const char* t : {"mkfs.ext4", "losetup", "mount", "umount"})
    if (tool(t).empty()) return std::string(t) + " is not installed (Debian e2fsprogs / mount; scripts/install-deps)";
  return std::nullopt;
}

/// Rounds of: ingest (retries of requests in doubt first, same ids), power loss, recovery on the
/// disk as it was at the loss, check. Without `crash_points` the test kills the node at a random
/// moment; with them, round r arms crash_points[r % size] on a random pass and the node kills
/// itself there. The last round sends until every request is answered, then loses power.
void run_powerloss_rounds(std::vector<std::string> node_args, unsigned seed,
                          const std::vector<std::string>& crash_points = {}) {
  if (auto reason = cannot_run()) GTEST_SKIP() << *reason;
  const char* env_rounds = std::getenv("TRIBUTARY_POWERLOSS_ROUNDS");
  // With crash points, at least one round per point plus the last, which runs to completion.
  const int rounds = std::max({1, env_rounds ? std::atoi(env_rounds) : 3, static_cast<int>(crash_points.size()) + 1});
  std::mt19937 rng(seed);
  temp_dir work;
  const auto mnt = work.path() / "mnt";
  int generation = 0;
  auto image = [&](int g) { return work.path() / ("disk-" + std::to_string(g) + ".img"); };
  std::optional<mounted_image> disk;
  try {
    make_image(image(0));
    disk.emplace(image(0), mnt);
  } catch (const std::exception& e) {
    GTEST_SKIP() << "loop-mounted ext4 is unavailable on this machine: " << e.what();
  }
  std::optional<node_process> node;  // destroyed (killed) before `disk` is unmounted
  node.emplace(mnt / "data", std::move(node_args));
  ASSERT_NO_FATAL_FAILURE(create_request_table(*node));
  auto arm = [&](int round) {
    if (crash_points.empty()) return;
    if (round + 1 >= rounds) return node->set_env({});  // the last round runs to completion
    const auto pass = std::uniform_int_distribution<int>(1, 4)(rng);
    node->set_env({"TRIBUTARY_CRASH_AT=" + crash_points[round % crash_points.size()] + ":" + std::to_string(pass)});
  };
  arm(0);
  node->restart();
  std::set<int> acked;     // acknowledged at least once
  std::set<int> in_doubt;  // sent, answer lost
  int next_request = 0;
  size_t extents_seen = 0;
  for (int round = 0; round < rounds; ++round) {
    const bool last = round + 1 == rounds;
    std::atomic<bool> dead{false};
    std::mutex m;
    std::vector<int> to_send(in_doubt.begin(), in_doubt.end());
    int new_this_round = 0;
    std::thread load([&] {
      client::connection c(node->rpc_address());
      size_t retry_pos = 0;
      c.ingest_pipelined(
          8,
          [&]() -> std::optional<client::ingest_request> {
            if (dead) return std::nullopt;
            std::lock_guard lock(m);
            int i;
            if (retry_pos < to_send.size()) i = to_send[retry_pos++];
            else if (last && next_request >= 60 * rounds) return std::nullopt;
            else if (++new_this_round > max_new_per_round) return std::nullopt;
            else i = next_request++;
            in_doubt.insert(i);
            return numbered_request(i);
          },
          [&](const client::ingest_request& r, const client::ingest_outcome& o)
              -> std::optional<std::chrono::milliseconds> {
            const int i = request_number(r);
            if (const auto* e = std::get_if<model::error>(&o)) {
              if (e->code == "Throttling" && !dead) return 20ms;  // same request id, as a client must
              EXPECT_TRUE(e->code == "ConnectionFailed" || e->code == "ShuttingDown") << e->code << ": " << e->message;
              dead = true;
              return std::nullopt;
            }
            EXPECT_EQ(std::get<client::ingest_ack>(o).consumed_records, static_cast<uint64_t>(rows_per_request));
            std::lock_guard lock(m);
            acked.insert(i);
            in_doubt.erase(i);
            return std::nullopt;
          });
    });
    struct joiner {  // also when a step below throws: a joinable std::thread must not be destroyed
      std::thread& t;
      std::atomic<bool>& dead;
      ~joiner() {
        dead = true;
        if (t.joinable()) t.join();
      }
    } join_load{load, dead};
    if (last) {
      load.join();  // every request answered
      auto extents = client::connection(node->rpc_address()).command("Db", ".show table T extents");
      if (std::holds_alternative<model::result_table>(extents))
        extents_seen = std::get<model::result_table>(extents).rows.size();
      node->kill();
    } else if (crash_points.empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(100, 600)(rng)));
      node->kill();
    } else {
      const auto status = node->wait_exit(30s);
      EXPECT_EQ(status, 128 + SIGKILL) << "the node did not die at crash point "
                                       << crash_points[round % crash_points.size()];
      node->kill();
    }
    // The power cut: the disk keeps what the loop device was given, nothing of the page cache.
    snapshot(image(generation), image(generation + 1));
    dead = true;
    if (load.joinable()) load.join();
    disk.reset();  // the node is dead: nothing holds the file system
    fs::remove(image(generation));
    ++generation;
    disk.emplace(image(generation), mnt);
    node->set_env({});  // the check runs on an unarmed node
    node->restart();
    expect_acknowledged_rows(*node, acked, in_doubt, "after power loss " + std::to_string(round + 1));
    if (::testing::Test::HasFailure()) return;  // later rounds would only repeat the loss
    if (!crash_points.empty() && !last) {
      arm(round + 1);
      node->restart();
    }
  }
  EXPECT_TRUE(in_doubt.empty()) << in_doubt.size() << " requests never got an answer in the last round";
  EXPECT_GT(acked.size(), 50u);
  auto extents = client::connection(node->rpc_address()).command("Db", ".show table T extents");
  ASSERT_TRUE(std::holds_alternative<model::result_table>(extents)) << std::get<model::error>(extents).message;
  const auto extents_recovered = std::get<model::result_table>(extents).rows.size();
  EXPECT_GT(extents_recovered, 0u) << "the test meant to cut the power during extent moves";
  EXPECT_GE(extents_recovered, extents_seen) << "every extent registered before the last power loss is still registered";
  std::printf("power-loss test: %d power losses, %zu requests acknowledged, %zu extents\n", rounds, acked.size(),
              extents_recovered);
}

TEST(powerloss, acknowledged_rows_survive_power_loss_during_ingest_and_moves) {
  run_powerloss_rounds({"--streaming-ingestion=on", "--seal-after-bytes", "4000"}, 20261207);
}

// The node kills itself right after an extent's file and directory fsyncs, right after its
// registration (and the delete of its rowstore range) commits, and right after a group commit;
// the power cut then checks that what those steps rely on was really on the disk.
TEST(powerloss, extents_and_group_commits_are_on_disk_at_each_durability_step) {
  run_powerloss_rounds({"--streaming-ingestion=on", "--seal-after-bytes", "4000"}, 20261208,
                       {"extent.synced", "rowstore.seal_committed", "rowstore.group_committed"});
}

}  // namespace
}  // namespace tributary::testing
