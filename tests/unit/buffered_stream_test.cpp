// The RPC connections' read-ahead buffer (schema/buffered_stream.hpp), over an in-memory pipe.

#include "schema/buffered_stream.hpp"

#include <gtest/gtest.h>

#include <string>

namespace tributary::wire {
namespace {

TEST(buffered_stream, hands_over_every_byte_in_order_whatever_the_read_sizes_then_the_end) {
  auto io = kj::setupAsyncIo();
  auto pipe = kj::newTwoWayPipe();
  buffered_stream in(kj::mv(pipe.ends[0]), 64);
  std::string data;
  for (int i = 0; i < 20'000; ++i) data.push_back(static_cast<char>('a' + i % 23));
  auto& out = *pipe.ends[1];
  auto writing = out.write(data.data(), data.size()).then([&out] { out.shutdownWrite(); }).eagerlyEvaluate(nullptr);
  // Small reads (served from the buffer), reads as large as the buffer and more (straight into
  // the caller's), and reads that want more than `min`.
  const size_t sizes[] = {1, 7, 8, 63, 64, 65, 300, 3, 4096, 1};
  std::string got;
  char buf[8192];
  for (size_t i = 0;; ++i) {
    const size_t want = sizes[i % std::size(sizes)];
    const size_t n = in.tryRead(buf, want, want + i % 3).wait(io.waitScope);
    got.append(buf, n);
    if (n < want) break;  // the end
  }
  writing.wait(io.waitScope);
  EXPECT_EQ(got.size(), data.size());
  EXPECT_EQ(got, data);
}

}  // namespace
}  // namespace tributary::wire
