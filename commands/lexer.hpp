#pragma once
/// Private to commands/: splits Kusto management-command text into tokens, one at a time, so a
/// parser that stops at the first error never lexes (or stores) the rest of a huge input.
/// Linear in the input, never throws.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "model/types.hpp"

namespace tributary::commands {

/// 1-based line and column (columns count Unicode code points), plus the byte offset.
struct position {
  int line = 1;
  int column = 1;
  size_t offset = 0;
};

enum class token_kind {
  end,           ///< end of input
  command_word,  ///< '.' followed by a lower-case word with dashes: ".create-or-alter"
  identifier,    ///< [A-Za-z_][A-Za-z0-9_]*
  bracket_name,  ///< ['...'] or ["..."]; `text` is the name inside
  string,        ///< '...', "...", @'...', @"...", h'...', ```...```; `text` is the decoded value
  number,        ///< a run starting with a digit, e.g. "123" or "1day"
  punct,         ///< one of ( ) , : = [ ] { } ; | and similar single characters
  invalid,       ///< a character that starts no token
  error,         ///< a lexical error (unterminated string, bad escape, invalid UTF-8, NUL);
                 ///< `text` is the message
};

struct token {
  token_kind kind = token_kind::end;
  std::string text;  ///< decoded value (strings, bracket names) or the raw source text
  position pos;
};

/// Tokenizes a command text; `//` starts a comment that runs to the end of the line. Holds a
/// view of the text, which must outlive it.
class lexer {
 public:
  explicit lexer(std::string_view text) : text_(text) {}

  /// The next token. After the last one it returns `end` tokens; after an `error` token it
  /// returns that error again.
  token next();

 private:
  std::string_view text_;
  position pos_;
  std::optional<token> failed_;
};

/// How a token reads in an error message: 'int', "end of input", the string literal '...';
/// truncated and with control bytes escaped so messages stay printable and short.
std::string describe(const token& t);

/// `s` quoted for a message: 'Name', truncated past 80 characters, control bytes escaped, and
/// the code points hidden_code_point() names written as \u202E (so a message never carries a
/// bidirectional override or an invisible character into a terminal or a log).
std::string quote(std::string_view s);

/// Why code point `cp` cannot appear in a name although it is well-formed: it cannot be seen, or
/// it changes how the text around it displays. "a control character" (Cc), "a bidirectional
/// control character" (U+061C, U+200E/F, U+202A–U+202E, U+2066–U+2069), "an invisible format
/// character" (the other Cf code points, e.g. U+200B, U+2060, U+FEFF, U+00AD, tag characters),
/// "an invisible filler or variation selector" (U+034F, U+115F, U+3164, U+FE00–U+FE0F, ...),
/// "a space or separator other than ' '" (Zs, Zl, Zp), "a noncharacter"; nullopt otherwise.
std::optional<std::string_view> hidden_code_point(char32_t cp);

/// The code point of the well-formed UTF-8 sequence starting at `s[i]`, and its length in bytes;
/// {U+FFFD, 1} for a byte that starts no well-formed sequence.
std::pair<char32_t, size_t> decode_utf8(std::string_view s, size_t i);

/// `s` with ASCII letters lower-cased (Kusto's case-insensitive property names).
std::string ascii_lower(std::string_view s);

/// `name` as written in a command: bare when it is an identifier, else ['...'] with escapes.
std::string csl_name(std::string_view name);

/// A BadRequest_SyntaxError "Syntax error at line L, column C: <what>".
model::error syntax_error(const position& at, std::string_view what);

}  // namespace tributary::commands
