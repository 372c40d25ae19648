#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <climits>

#include "ingest/ingest.hpp"

namespace tributary::ingest {
namespace {

bool is_gzip(std::string_view d) {
  return d.size() >= 2 && static_cast<unsigned char>(d[0]) == 0x1f &&
         static_cast<unsigned char>(d[1]) == 0x8b;
}

model::error too_large(size_t limit, std::string_view what) {
  return {
      "BadRequest_RequestTooLarge",
      fmt::format(
          "{} exceeds the limit of {} bytes for one streaming request; split the data into smaller "
          "requests",
          what, limit),
      true};
}

model::error corrupt(std::string_view what) {
  return {"BadRequest_InvalidCompressedData", fmt::format("the gzip data is invalid: {}", what),
          true};
}

// Frees the inflate state however decompress() returns.
struct inflater {
  z_stream z{};
  bool ready = false;
  ~inflater() {
    if (ready) inflateEnd(&z);
  }
};

}  // namespace

std::variant<std::string, model::error> decompress(std::string&& data, size_t limit) {
  if (is_gzip(data) || data.size() > limit) return decompress(std::string_view(data), limit);
  return std::move(data);
}

std::variant<std::string, model::error> decompress(std::string_view data, size_t limit) {
  if (!is_gzip(data)) {
    if (data.size() > limit)
      return too_large(limit, fmt::format("the data ({} bytes)", data.size()));
    return std::string(data);
  }
  inflater inf;
  // 16 + MAX_WBITS: gzip framing only, so a zlib or raw deflate stream is refused as corrupt.
  if (inflateInit2(&inf.z, 16 + MAX_WBITS) != Z_OK)
    return model::error{"General_InternalServerError", "cannot initialise gzip decompression",
                        false};
  inf.ready = true;

  // The output grows through capacities (limit + 1) / 2^k, so the last step lands on limit + 1
  // exactly (libstdc++ doubles a string's capacity when it grows): a bomb costs at most about
  // limit bytes, never more.
  const size_t cap = limit + 1;
  size_t size = cap;
  const size_t first = std::max<size_t>(64 * 1024, data.size() * 4);
  while (size / 2 >= first) size = (size + 1) / 2;
  std::string out;
  out.resize(size);
  size_t produced = 0;
  size_t consumed = 0;
  for (;;) {
    inf.z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data() + consumed));
    inf.z.avail_in = static_cast<uInt>(std::min<size_t>(data.size() - consumed, UINT_MAX));
    inf.z.next_out = reinterpret_cast<Bytef*>(out.data() + produced);
    inf.z.avail_out = static_cast<uInt>(std::min<size_t>(out.size() - produced, UINT_MAX));
    const size_t in_before = inf.z.avail_in;
    const size_t out_before = inf.z.avail_out;
    const int rc = inflate(&inf.z, Z_NO_FLUSH);
    consumed += in_before - inf.z.avail_in;
    produced += out_before - inf.z.avail_out;
    if (produced > limit) return too_large(limit, "the data after gzip decompression");
    if (rc == Z_STREAM_END) {
      // Concatenated gzip members form one stream (RFC 1952 §2.2); anything else after the
      // end is garbage.
      if (consumed == data.size()) break;
      if (!is_gzip(data.substr(consumed)))
        return corrupt(
            fmt::format("{} bytes after the end of the gzip stream are not another gzip member",
                        data.size() - consumed));
      inflateReset(&inf.z);
      continue;
    }
    if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT)
      return corrupt(fmt::format("{} (at compressed byte {})",
                                 inf.z.msg ? inf.z.msg : "corrupt data", consumed));
    if (rc == Z_MEM_ERROR)
      return model::error{"General_InternalServerError",
                          "out of memory while decompressing gzip data", false};
    if (inf.z.avail_out == 0) {
      // Full below limit + 1 (a full buffer of limit + 1 bytes was reported above).
      out.resize(std::min(cap, out.size() * 2));
      continue;
    }
    if (consumed == data.size())
      return corrupt(fmt::format("it ends after {} bytes, in the middle of the compressed stream",
                                 data.size()));
    if (rc != Z_OK && rc != Z_BUF_ERROR) return corrupt(fmt::format("zlib error {}", rc));
  }
  out.resize(produced);
  return out;
}

}  // namespace tributary::ingest
