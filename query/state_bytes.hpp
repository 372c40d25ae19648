#pragma once
/// Private to query/: the portable byte form of aggregate states (aggregator::save/load, the
/// HyperLogLog and the t-digest). Integers little-endian of fixed width, doubles as their IEEE
/// bits, strings as a u32 length and the bytes. Readers consume the front of a view and return
/// false at the first short or malformed field, never reading past the end.

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace tributary::query::bytes {

inline void put_u64(std::string& out, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out.append(b, 8);
}
inline void put_u32(std::string& out, uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out.append(b, 4);
}
inline void put_u8(std::string& out, uint8_t v) { out.push_back(static_cast<char>(v)); }
inline void put_i64(std::string& out, int64_t v) { put_u64(out, static_cast<uint64_t>(v)); }
inline void put_f64(std::string& out, double v) { put_u64(out, std::bit_cast<uint64_t>(v)); }
inline void put_str(std::string& out, std::string_view s) {
  put_u32(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}

inline bool get_u64(std::string_view& in, uint64_t& v) {
  if (in.size() < 8) return false;
  v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t{static_cast<uint8_t>(in[i])} << (8 * i);
  in.remove_prefix(8);
  return true;
}
inline bool get_u32(std::string_view& in, uint32_t& v) {
  if (in.size() < 4) return false;
  v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t{static_cast<uint8_t>(in[i])} << (8 * i);
  in.remove_prefix(4);
  return true;
}
inline bool get_u8(std::string_view& in, uint8_t& v) {
  if (in.empty()) return false;
  v = static_cast<uint8_t>(in[0]);
  in.remove_prefix(1);
  return true;
}
inline bool get_i64(std::string_view& in, int64_t& v) {
  uint64_t u;
  if (!get_u64(in, u)) return false;
  v = static_cast<int64_t>(u);
  return true;
}
inline bool get_f64(std::string_view& in, double& v) {
  uint64_t u;
  if (!get_u64(in, u)) return false;
  v = std::bit_cast<double>(u);
  return true;
}
inline bool get_str(std::string_view& in, std::string_view& s) {
  uint32_t n;
  if (!get_u32(in, n) || in.size() < n) return false;
  s = in.substr(0, n);
  in.remove_prefix(n);
  return true;
}

}  // namespace tributary::query::bytes
