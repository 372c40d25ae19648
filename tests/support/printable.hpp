#pragma once
/// Test helper: arbitrary bytes (fuzzed names, commands, payloads) shown in a failure message.

#include <string>
#include <string_view>

namespace tributary::testing {

/// The bytes of `s` as a C++ string literal body (`\` and `"` escaped, other bytes outside
/// printable ASCII as `\xNN`), cut at `max` bytes with "...(<size> bytes)" after the cut, so a
/// failing input can be pasted back into a test.
inline std::string printable(std::string_view s, size_t max = 120) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s.substr(0, max)) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 0xf];
    }
  }
  if (s.size() > max) out += "...(" + std::to_string(s.size()) + " bytes)";
  return out;
}

}  // namespace tributary::testing
