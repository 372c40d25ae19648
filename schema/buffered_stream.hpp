#pragma once
/// A read-ahead buffer in front of a connection. Cap'n Proto 0.9 reads each message with one read
/// for its segment table and one for its segments, exactly sized, so a request and the Finish
/// that follows it cost four read(2) calls; on a VM, where each system call is dear, that was a
/// visible share of an ingest's CPU. Here one read takes what the socket has (up to the buffer),
/// and later reads are served from memory. Large reads (a 4 MiB ingest body) go straight into the
/// caller's buffer once what is buffered has been handed over. Writes pass through.

#include <kj/async-io.h>

#include <algorithm>
#include <cstring>

namespace tributary::wire {

class buffered_stream final : public kj::AsyncIoStream {
 public:
  explicit buffered_stream(kj::Own<kj::AsyncIoStream> inner, size_t capacity = 32 * 1024)
      : inner_(kj::mv(inner)), buffer_(kj::heapArray<kj::byte>(capacity)) {}

  kj::Promise<size_t> tryRead(void* out, size_t min_bytes, size_t max_bytes) override {
    auto* dst = static_cast<kj::byte*>(out);
    const size_t taken = take(dst, max_bytes);
    if (taken >= min_bytes) return taken;
    dst += taken;
    min_bytes -= taken;
    max_bytes -= taken;
    if (max_bytes >= buffer_.size())  // as large as the buffer: no point copying through it
      return inner_->tryRead(dst, min_bytes, max_bytes).then([taken](size_t n) { return taken + n; });
    return inner_->tryRead(buffer_.begin(), min_bytes, buffer_.size()).then([this, dst, max_bytes, taken](size_t n) {
      begin_ = 0;
      end_ = n;
      return taken + take(dst, max_bytes);
    });
  }

  kj::Promise<void> write(const void* data, size_t size) override { return inner_->write(data, size); }
  kj::Promise<void> write(kj::ArrayPtr<const kj::ArrayPtr<const kj::byte>> pieces) override {
    return inner_->write(pieces);
  }
  kj::Promise<void> whenWriteDisconnected() override { return inner_->whenWriteDisconnected(); }
  void shutdownWrite() override { inner_->shutdownWrite(); }
  void abortRead() override { inner_->abortRead(); }
  void getsockopt(int level, int option, void* value, kj::uint* length) override {
    inner_->getsockopt(level, option, value, length);
  }
  void setsockopt(int level, int option, const void* value, kj::uint length) override {
    inner_->setsockopt(level, option, value, length);
  }
  void getsockname(struct sockaddr* addr, kj::uint* length) override { inner_->getsockname(addr, length); }
  void getpeername(struct sockaddr* addr, kj::uint* length) override { inner_->getpeername(addr, length); }

 private:
  // Hands over up to `max` buffered bytes.
  size_t take(kj::byte* dst, size_t max) {
    const size_t n = std::min(max, end_ - begin_);
    if (n) std::memcpy(dst, buffer_.begin() + begin_, n);
    begin_ += n;
    return n;
  }

  kj::Own<kj::AsyncIoStream> inner_;
  kj::Array<kj::byte> buffer_;
  size_t begin_ = 0, end_ = 0;  // the buffered bytes not yet handed over
};

}  // namespace tributary::wire
