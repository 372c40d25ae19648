#include "commands/lexer.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace tributary::commands {

namespace {

bool is_ident_start(unsigned char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
bool is_ident_char(unsigned char c) { return is_ident_start(c) || is_digit(c); }

// Length of the well-formed UTF-8 sequence at text[i] (RFC 3629: no overlongs, no surrogates,
// nothing past U+10FFFF), or 0 when the bytes there are not one.
size_t utf8_length(std::string_view text, size_t i) {
  auto byte = [&](size_t k) -> unsigned { return i + k < text.size() ? static_cast<unsigned char>(text[i + k]) : 0u; };
  unsigned b0 = byte(0);
  auto cont = [&](size_t k) { return (byte(k) & 0xC0u) == 0x80u; };
  if (b0 < 0x80) return 1;
  if (b0 >= 0xC2 && b0 <= 0xDF) return cont(1) ? 2 : 0;
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    unsigned b1 = byte(1);
    if (b0 == 0xE0 && b1 < 0xA0) return 0;
    if (b0 == 0xED && b1 > 0x9F) return 0;
    return cont(1) && cont(2) ? 3 : 0;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    unsigned b1 = byte(1);
    if (b0 == 0xF0 && b1 < 0x90) return 0;
    if (b0 == 0xF4 && b1 > 0x8F) return 0;
    return cont(1) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

class cursor {
 public:
  cursor(std::string_view text, position at) : text_(text), pos_(at) {}

  bool done() const { return pos_.offset >= text_.size(); }
  unsigned char peek(size_t ahead = 0) const {
    size_t i = pos_.offset + ahead;
    return i < text_.size() ? static_cast<unsigned char>(text_[i]) : 0;
  }
  bool has(size_t ahead) const { return pos_.offset + ahead < text_.size(); }
  const position& pos() const { return pos_; }
  std::string_view text() const { return text_; }

  void bump() {
    unsigned char c = peek();
    ++pos_.offset;
    if (c == '\n') {
      ++pos_.line;
      pos_.column = 1;
    } else if ((c & 0xC0u) != 0x80u) {
      ++pos_.column;
    }
  }
  void bump(size_t n) {
    for (size_t i = 0; i < n; ++i) bump();
  }

 private:
  std::string_view text_;
  position pos_;
};

std::string escape_byte(unsigned char c) {
  switch (c) {
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    default: return fmt::format("\\x{:02X}", c);
  }
}

// Reads one string literal whose opening delimiter starts at the cursor. Returns the error text
// (empty on success) and fills `out` with the decoded value.
std::string read_string(cursor& c, std::string& out) {
  position start = c.pos();
  bool verbatim = false;
  if (c.peek() == 'h' || c.peek() == 'H') c.bump();  // obfuscated literal: same value
  if (c.peek() == '@') {
    verbatim = true;
    c.bump();
  }
  if (c.peek() == '`') {
    c.bump(3);
    while (true) {
      if (c.done()) {
        return fmt::format("unterminated multi-line string literal starting at line {}, column {}; expected a closing ```",
                           start.line, start.column);
      }
      if (c.peek() == '`' && c.peek(1) == '`' && c.peek(2) == '`') {
        c.bump(3);
        return {};
      }
      unsigned char ch = c.peek();
      if (ch == 0) return "a NUL character is not allowed in a string literal";
      size_t n = utf8_length(c.text(), c.pos().offset);
      if (n == 0) return fmt::format("invalid UTF-8 byte 0x{:02X} in a string literal", ch);
      out.append(c.text().substr(c.pos().offset, n));
      c.bump(n);
    }
  }
  const unsigned char quote = c.peek();
  c.bump();
  auto unterminated = [&] {
    return fmt::format("unterminated string literal starting at line {}, column {}; expected a closing {} before the end of the line",
                       start.line, start.column, static_cast<char>(quote));
  };
  while (true) {
    if (c.done()) return unterminated();
    unsigned char ch = c.peek();
    if (ch == '\n' || ch == '\r') return unterminated();
    if (ch == 0) return "a NUL character is not allowed in a string literal";
    if (ch == quote) {
      if (verbatim && c.peek(1) == quote) {
        out.push_back(static_cast<char>(quote));
        c.bump(2);
        continue;
      }
      c.bump();
      return {};
    }
    if (ch == '\\' && !verbatim) {
      if (!c.has(1)) return unterminated();
      unsigned char e = c.peek(1);
      switch (e) {
        case '\\': out.push_back('\\'); break;
        case '\'': out.push_back('\''); break;
        case '"': out.push_back('"'); break;
        case 'n': out.push_back('\n'); break;
        case 't': out.push_back('\t'); break;
        case 'r': out.push_back('\r'); break;
        default: {
          std::string shown = e >= 0x20 && e < 0x7F ? std::string(1, static_cast<char>(e)) : escape_byte(e);
          return fmt::format(
              "unknown escape sequence '\\{}' in a string literal; write \\\\ for a backslash, or use a verbatim "
              "string @'...' in which backslashes stand for themselves",
              shown);
        }
      }
      c.bump(2);
      continue;
    }
    size_t n = utf8_length(c.text(), c.pos().offset);
    if (n == 0) return fmt::format("invalid UTF-8 byte 0x{:02X} in a string literal", ch);
    out.append(c.text().substr(c.pos().offset, n));
    c.bump(n);
  }
}

bool starts_string(const cursor& c) {
  auto q = [](unsigned char ch) { return ch == '\'' || ch == '"'; };
  unsigned char a = c.peek();
  if (q(a)) return true;
  if (a == '`') return c.peek(1) == '`' && c.peek(2) == '`';
  if (a == '@') return q(c.peek(1));
  if (a == 'h' || a == 'H') return q(c.peek(1)) || (c.peek(1) == '@' && q(c.peek(2)));
  return false;
}

}  // namespace

token lexer::next() {
  if (failed_) return *failed_;
  cursor c(text_, pos_);
  auto finish = [&](token t) {
    pos_ = c.pos();
    if (t.kind == token_kind::error) failed_ = t;
    return t;
  };
  auto fail = [&](const position& at, std::string what) {
    token t;
    t.kind = token_kind::error;
    t.pos = at;
    t.text = std::move(what);
    return finish(std::move(t));
  };
  while (true) {
    unsigned char ch = c.peek();
    if (c.done()) break;
    if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == '\v' || ch == '\f') {
      c.bump();
      continue;
    }
    if (ch == '/' && c.peek(1) == '/') {
      while (!c.done() && c.peek() != '\n') c.bump();
      continue;
    }
    token t;
    t.pos = c.pos();
    const size_t begin = c.pos().offset;
    if (starts_string(c)) {
      t.kind = token_kind::string;
      std::string err = read_string(c, t.text);
      if (!err.empty()) return fail(t.pos, err);
    } else if (ch == '.' && (is_ident_start(c.peek(1)))) {
      c.bump();
      while (is_ident_char(c.peek()) || c.peek() == '-') c.bump();
      t.kind = token_kind::command_word;
      t.text = std::string(text_.substr(begin, c.pos().offset - begin));
    } else if (is_ident_start(ch)) {
      while (is_ident_char(c.peek())) c.bump();
      t.kind = token_kind::identifier;
      t.text = std::string(text_.substr(begin, c.pos().offset - begin));
    } else if (is_digit(ch)) {
      while (is_ident_char(c.peek()) || c.peek() == '.') c.bump();
      t.kind = token_kind::number;
      t.text = std::string(text_.substr(begin, c.pos().offset - begin));
    } else if (ch == '[' && (c.peek(1) == '\'' || c.peek(1) == '"')) {
      c.bump();
      t.kind = token_kind::bracket_name;
      std::string err = read_string(c, t.text);
      if (!err.empty()) return fail(t.pos, err);
      if (c.peek() != ']') {
        std::string found = c.done() ? std::string("end of input") : fmt::format("'{}'", escape_byte(c.peek()));
        if (!c.done() && c.peek() >= 0x20 && c.peek() < 0x7F) found = fmt::format("'{}'", static_cast<char>(c.peek()));
        return fail(c.pos(), fmt::format("expected ']' to close the bracketed name, found {}", found));
      }
      c.bump();
    } else if (ch == 0) {
      return fail(t.pos, "a NUL character is not allowed in a command");
    } else if (ch >= 0x80) {
      size_t n = utf8_length(text_, begin);
      if (n == 0) return fail(t.pos, fmt::format("invalid UTF-8 byte 0x{:02X}", ch));
      c.bump(n);
      t.kind = token_kind::invalid;
      t.text = std::string(text_.substr(begin, n));
    } else if (ch < 0x20 || ch == 0x7F) {
      c.bump();
      t.kind = token_kind::invalid;
      t.text = std::string(1, static_cast<char>(ch));
    } else {
      c.bump();
      t.kind = token_kind::punct;
      t.text = std::string(1, static_cast<char>(ch));
    }
    return finish(std::move(t));
  }
  token end;
  end.kind = token_kind::end;
  end.pos = c.pos();
  return finish(std::move(end));
}

std::pair<char32_t, size_t> decode_utf8(std::string_view s, size_t i) {
  const size_t n = utf8_length(s, i);
  if (n == 0) return {0xFFFD, 1};
  auto b = [&](size_t k) { return static_cast<char32_t>(static_cast<unsigned char>(s[i + k])); };
  switch (n) {
    case 1: return {b(0), 1};
    case 2: return {((b(0) & 0x1Fu) << 6) | (b(1) & 0x3Fu), 2};
    case 3: return {((b(0) & 0x0Fu) << 12) | ((b(1) & 0x3Fu) << 6) | (b(2) & 0x3Fu), 3};
    default: return {((b(0) & 0x07u) << 18) | ((b(1) & 0x3Fu) << 12) | ((b(2) & 0x3Fu) << 6) | (b(3) & 0x3Fu), 4};
  }
}

std::optional<std::string_view> hidden_code_point(char32_t cp) {
  struct range {
    char32_t first, last;
  };
  auto in = [cp](std::initializer_list<range> ranges) {
    return std::any_of(ranges.begin(), ranges.end(), [cp](range r) { return cp >= r.first && cp <= r.last; });
  };
  if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) return "a control character";
  // Unicode's Bidi_Control property.
  if (in({{0x061C, 0x061C}, {0x200E, 0x200F}, {0x202A, 0x202E}, {0x2066, 0x2069}}))
    return "a bidirectional control character";
  // General category Cf (Unicode 15.1), less the bidirectional controls above.
  if (in({{0x00AD, 0x00AD},
          {0x0600, 0x0605},
          {0x06DD, 0x06DD},
          {0x070F, 0x070F},
          {0x0890, 0x0891},
          {0x08E2, 0x08E2},
          {0x180E, 0x180E},
          {0x200B, 0x200D},
          {0x2060, 0x2064},
          {0x206A, 0x206F},
          {0xFEFF, 0xFEFF},
          {0xFFF9, 0xFFFB},
          {0x110BD, 0x110BD},
          {0x110CD, 0x110CD},
          {0x13430, 0x1343F},
          {0x1BCA0, 0x1BCA3},
          {0x1D173, 0x1D17A},
          {0xE0001, 0xE0001},
          {0xE0020, 0xE007F}}))
    return "an invisible format character";
  // Default-ignorable code points outside Cf: they render as nothing.
  if (in({{0x034F, 0x034F},
          {0x115F, 0x1160},
          {0x17B4, 0x17B5},
          {0x180B, 0x180D},
          {0x180F, 0x180F},
          {0x3164, 0x3164},
          {0xFE00, 0xFE0F},
          {0xFFA0, 0xFFA0},
          {0xE0100, 0xE01EF}}))
    return "an invisible filler or variation selector";
  // Zs other than U+0020, Zl, Zp.
  if (in({{0x00A0, 0x00A0}, {0x1680, 0x1680}, {0x2000, 0x200A}, {0x2028, 0x2029}, {0x202F, 0x202F},
          {0x205F, 0x205F}, {0x3000, 0x3000}}))
    return "a space or separator other than ' '";
  if ((cp >= 0xFDD0 && cp <= 0xFDEF) || (cp & 0xFFFEu) == 0xFFFEu) return "a noncharacter";
  return std::nullopt;
}

std::string quote(std::string_view s) {
  constexpr size_t max_bytes = 80;
  std::string out = "'";
  size_t limit = s.size() > max_bytes ? max_bytes : s.size();
  // Never cut inside a UTF-8 sequence.
  while (limit < s.size() && limit > 0 && (static_cast<unsigned char>(s[limit]) & 0xC0u) == 0x80u) --limit;
  for (size_t i = 0; i < limit; ++i) {
    auto ch = static_cast<unsigned char>(s[i]);
    if (ch < 0x20 || ch == 0x7F) {
      out += escape_byte(ch);
    } else if (ch >= 0x80) {
      auto [cp, n] = decode_utf8(s, i);
      if (hidden_code_point(cp))
        out += cp > 0xFFFF ? fmt::format("\\U{:08X}", static_cast<uint32_t>(cp))
                           : fmt::format("\\u{:04X}", static_cast<uint32_t>(cp));
      else
        out.append(s.substr(i, std::min(n, limit - i)));
      i += n - 1;
    } else {
      out.push_back(static_cast<char>(ch));
    }
  }
  if (limit < s.size()) out += fmt::format("...' ({} bytes)", s.size());
  else out += "'";
  return out;
}

std::string describe(const token& t) {
  switch (t.kind) {
    case token_kind::end: return "end of input";
    case token_kind::string: return "the string literal " + quote(t.text);
    case token_kind::bracket_name: return "the name [" + quote(t.text) + "]";
    default: return quote(t.text);
  }
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; });
  return out;
}

std::string csl_name(std::string_view name) {
  bool bare = !name.empty() && is_ident_start(static_cast<unsigned char>(name[0])) &&
              std::all_of(name.begin(), name.end(), [](char ch) { return is_ident_char(static_cast<unsigned char>(ch)); });
  if (bare) return std::string(name);
  std::string out = "['";
  for (char ch : name) {
    if (ch == '\\' || ch == '\'') out.push_back('\\');
    out.push_back(ch);
  }
  return out + "']";
}

model::error syntax_error(const position& at, std::string_view what) {
  return model::error{"BadRequest_SyntaxError",
                      fmt::format("Syntax error at line {}, column {}: {}", at.line, at.column, what), true};
}

}  // namespace tributary::commands
