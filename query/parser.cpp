// The KQL lexer and recursive-descent parser. The grammar and its precedence follow Kusto's
// (grammar/Kql.g4 as summarised in ast.hpp and kql.md §2.1); what is accepted was checked
// against Kusto.Language 12.4.1 (kql-oracle). The whole text is lexed first (one pass), then
// parsed with at most a few tokens of look-ahead, so both passes are linear.
//
// A syntax error stops the parse: it is thrown as a syntax_error (private to this file) and
// turned into a model::error at parse_kql, the only entry point; nothing else throws past it.

#include "query/parser.hpp"

#include "query/functions.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "ingest/convert.hpp"

namespace tributary::query {
namespace {

namespace ingest = tributary::ingest::detail;

constexpr int max_chain = 2000;  // chained binary operators in one expression (tree depth)

struct syntax_error {
  position pos;
  std::string message;
};

[[noreturn]] void fail(position pos, std::string message) {
  throw syntax_error{pos, std::move(message)};
}

// ---------------------------------------------------------------------------------------
// Lexer

enum class tk : uint8_t {
  end,
  ident,     // identifiers and keywords; also `project-away` style words, `in~`, `!has`, `$left`
  string,    // decoded text (one literal; adjacent literals are joined by the parser)
  integer,   // `u` (unsigned, so that -9223372036854775808 can be folded)
  real,      // `d`
  timespan,  // `i` ticks; `d` the number before the unit, `u` its unit in ticks, `frac` if it had a fraction
  raw,       // the text between the parentheses of datetime(...)/time(...)/guid(...)
  punct,     // operators and punctuation, `text`
};

struct token {
  tk kind = tk::end;
  position pos;
  uint32_t end = 0;            // offset just past the token
  bool space_before = false;   // whitespace or a comment between this and the previous token
  std::string text;
  uint64_t u = 0;
  bool overflow = false;       // integer literal beyond uint64 / timespan beyond range
  double d = 0;
  int64_t i = 0;
};

bool is_ident_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_ident_char(char c) { return is_ident_start(c) || (c >= '0' && c <= '9'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Keywords spelled with '-' are one token (Kusto's lexer does the same).
bool is_dashed_keyword(std::string_view w) {
  static const std::unordered_set<std::string_view> words{
      "project-away", "project-keep", "project-rename", "project-reorder", "project-smart",
      "make-series", "mv-expand", "mv-apply", "top-nested", "top-hitters", "parse-where",
      "parse-kv", "make-graph", "graph-match", "graph-merge", "graph-to-table",
      "graph-shortest-paths", "graph-mark-components", "make-bag", "bag-unpack"};
  return words.contains(w);
}

// Words that may follow '!' to form a negated operator.
bool is_negatable(std::string_view w) {
  static const std::unordered_set<std::string_view> words{
      "has", "has_cs", "hasprefix", "hasprefix_cs", "hassuffix", "hassuffix_cs", "contains",
      "contains_cs", "startswith", "startswith_cs", "endswith", "endswith_cs", "in", "in~",
      "between", "has_any", "has_all"};
  return words.contains(w);
}

// Timespan units → ticks (kql.md §2.1; the long forms Kusto.Language also accepts).
std::optional<int64_t> timespan_unit(std::string_view u) {
  constexpr int64_t tick = 1, ms = 10'000, s = 10'000'000, m = 60 * s, h = 60 * m, d = 24 * h;
  static const std::pair<std::string_view, int64_t> units[] = {
      {"d", d}, {"day", d}, {"days", d},
      {"h", h}, {"hr", h}, {"hrs", h}, {"hour", h}, {"hours", h},
      {"m", m}, {"min", m}, {"minute", m}, {"minutes", m},
      {"s", s}, {"sec", s}, {"second", s}, {"seconds", s},
      {"ms", ms}, {"milli", ms}, {"millis", ms}, {"millisecond", ms}, {"milliseconds", ms},
      {"microsecond", 10}, {"microseconds", 10},
      {"tick", tick}, {"ticks", tick}};
  for (const auto& [name, ticks] : units) {
    if (name == u) return ticks;
  }
  return std::nullopt;
}

class lexer {
 public:
  explicit lexer(std::string_view text) : text_(text) {}

  std::vector<token> run() {
    std::vector<token> out;
    for (;;) {
      bool space = skip_space();
      token t;
      t.pos = here();
      t.space_before = space;
      if (i_ >= text_.size()) {
        t.end = t.pos.offset;
        out.push_back(std::move(t));
        return out;
      }
      lex_one(t, out);
      t.end = static_cast<uint32_t>(i_);
      out.push_back(std::move(t));
    }
  }

 private:
  position here() const {
    return position{static_cast<uint32_t>(i_), line_, static_cast<uint32_t>(i_ - line_start_ + 1)};
  }
  position at(size_t offset) const {
    // Only used within the current line.
    return position{static_cast<uint32_t>(offset), line_,
                    static_cast<uint32_t>(offset - line_start_ + 1)};
  }
  char peek(size_t k = 0) const { return i_ + k < text_.size() ? text_[i_ + k] : '\0'; }
  void newline_at(size_t offset) {
    ++line_;
    line_start_ = offset + 1;
  }

  bool skip_space() {
    bool any = false;
    while (i_ < text_.size()) {
      char c = text_[i_];
      if (c == '\n') {
        newline_at(i_);
        ++i_;
      } else if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
        ++i_;
      } else if (c == '/' && peek(1) == '/') {
        while (i_ < text_.size() && text_[i_] != '\n') ++i_;
      } else {
        break;
      }
      any = true;
    }
    return any;
  }

  void lex_one(token& t, std::vector<token>& out) {
    char c = peek();
    if (c == '"' || c == '\'') return lex_string(t, false);
    if (c == '@' && (peek(1) == '"' || peek(1) == '\'')) {
      ++i_;
      return lex_string(t, true);
    }
    if ((c == 'h' || c == 'H') && (peek(1) == '"' || peek(1) == '\'')) {
      ++i_;
      return lex_string(t, false);
    }
    if ((c == 'h' || c == 'H') && peek(1) == '@' && (peek(2) == '"' || peek(2) == '\'')) {
      i_ += 2;
      return lex_string(t, true);
    }
    if (c == '`' && peek(1) == '`' && peek(2) == '`') return lex_multiline(t);
    if (is_digit(c)) return lex_number(t);
    if (is_ident_start(c)) return lex_word(t, out);
    if (c == '$' && is_ident_start(peek(1))) {
      size_t start = i_++;
      while (is_ident_char(peek())) ++i_;
      t.kind = tk::ident;
      t.text = std::string(text_.substr(start, i_ - start));
      return;
    }
    if (c == '!' && is_ident_start(peek(1))) {
      size_t start = ++i_;
      while (is_ident_char(peek())) ++i_;
      std::string word(text_.substr(start, i_ - start));
      if (word == "in" && peek() == '~') {
        ++i_;
        word += '~';
      }
      if (!is_negatable(word)) {
        fail(t.pos, fmt::format("'!{}' is not an operator; negated operators are !has, !contains, "
                                "!startswith, !endswith, !hasprefix, !hassuffix, !in, !in~, "
                                "!between (and their _cs forms); use not(...) to negate a value",
                                word));
      }
      t.kind = tk::ident;
      t.text = "!" + word;
      return;
    }
    static constexpr std::string_view two[] = {"==", "!=", "<>", "<=", ">=", "=~", "!~", ".."};
    for (auto op : two) {
      if (text_.substr(i_, 2) == op) {
        t.kind = tk::punct;
        t.text = std::string(op);
        i_ += 2;
        return;
      }
    }
    if (std::strchr("|()[]{},;.=<>+-*/%:~!", c) != nullptr && c != '\0') {
      t.kind = tk::punct;
      t.text = std::string(1, c);
      ++i_;
      return;
    }
    if (static_cast<unsigned char>(c) >= 0x80) {
      fail(t.pos, "unexpected non-ASCII character outside a string literal; names with such "
                  "characters must be bracketed, e.g. ['name']");
    }
    fail(t.pos, fmt::format("unexpected character '{}'", c));
  }

  void lex_word(token& t, std::vector<token>& out) {
    size_t start = i_;
    while (is_ident_char(peek())) ++i_;
    // project-away, make-series, mv-expand, ...
    if (peek() == '-' && is_ident_start(peek(1))) {
      size_t j = i_ + 1;
      while (j < text_.size() && is_ident_char(text_[j])) ++j;
      if (is_dashed_keyword(text_.substr(start, j - start))) i_ = j;
    }
    if (text_.substr(start, i_ - start) == "in" && peek() == '~') ++i_;
    t.kind = tk::ident;
    t.text = std::string(text_.substr(start, i_ - start));
    // The text of these literals is not KQL tokens (`datetime(2024-01-01 10:00)`, guids):
    // it is taken raw up to the closing parenthesis.
    static const std::unordered_set<std::string_view> raw_types{"datetime", "date", "time",
                                                                "timespan", "guid", "uuid",
                                                                "uniqueid"};
    if (!raw_types.contains(t.text)) return;
    size_t save_i = i_, save_line = line_, save_start = line_start_;
    skip_space();
    if (peek() != '(') {
      i_ = save_i;
      line_ = static_cast<uint32_t>(save_line);
      line_start_ = save_start;
      return;
    }
    t.end = static_cast<uint32_t>(save_i);
    out.push_back(std::move(t));
    t = token{};
    t.pos = here();
    t.kind = tk::punct;
    t.text = "(";
    ++i_;
    t.end = static_cast<uint32_t>(i_);
    out.push_back(std::move(t));
    t = token{};
    t.pos = here();
    size_t body = i_;
    while (i_ < text_.size() && text_[i_] != ')' && text_[i_] != '\n') ++i_;
    if (i_ >= text_.size() || text_[i_] != ')') {
      fail(t.pos, fmt::format("unterminated {}(...) literal: expected ')' on the same line",
                              out[out.size() - 2].text));
    }
    t.kind = tk::raw;
    t.text = std::string(text_.substr(body, i_ - body));
    t.end = static_cast<uint32_t>(i_);
    out.push_back(std::move(t));
    t = token{};
    t.pos = here();
    t.kind = tk::punct;
    t.text = ")";
    ++i_;
  }

  void lex_number(token& t) {
    size_t start = i_;
    if (peek() == '0' && (peek(1) == 'x' || peek(1) == 'X')) {
      i_ += 2;
      size_t digits = i_;
      uint64_t v = 0;
      while (std::isxdigit(static_cast<unsigned char>(peek()))) {
        char c = peek();
        int dv = is_digit(c) ? c - '0' : (std::tolower(static_cast<unsigned char>(c)) - 'a' + 10);
        if (v > (std::numeric_limits<uint64_t>::max() >> 4)) t.overflow = true;
        v = (v << 4) | static_cast<uint64_t>(dv);
        ++i_;
      }
      if (i_ == digits || is_ident_char(peek())) {
        fail(t.pos, fmt::format("invalid hexadecimal number '{}'",
                                text_.substr(start, i_ - start + (i_ < text_.size() ? 1 : 0))));
      }
      t.kind = tk::integer;
      t.u = v;
      return;
    }
    bool is_real = false;
    while (is_digit(peek())) ++i_;
    // `1.` is a real, but `1..2` is 1 followed by `..`.
    if (peek() == '.' && peek(1) != '.') {
      is_real = true;
      ++i_;
      while (is_digit(peek())) ++i_;
    }
    if ((peek() == 'e' || peek() == 'E') &&
        (is_digit(peek(1)) || ((peek(1) == '+' || peek(1) == '-') && is_digit(peek(2))))) {
      is_real = true;
      i_ += 2;
      while (is_digit(peek())) ++i_;
    }
    std::string_view number = text_.substr(start, i_ - start);
    if (is_ident_start(peek())) {
      size_t ustart = i_;
      while (is_ident_char(peek())) ++i_;
      std::string_view unit = text_.substr(ustart, i_ - ustart);
      auto ticks = timespan_unit(unit);
      if (!ticks) {
        fail(t.pos, fmt::format("invalid number '{}{}': '{}' is not a timespan unit (d, h, m, "
                                "s, ms, microsecond, tick)",
                                number, unit, unit));
      }
      t.kind = tk::timespan;
      t.u = static_cast<uint64_t>(*ticks);
      double v = std::strtod(std::string(number).c_str(), nullptr);
      t.d = v;
      if (!is_real) {
        uint64_t n = 0;
        for (char c : number) {
          if (n > (std::numeric_limits<uint64_t>::max() - 9) / 10) t.overflow = true;
          n = n * 10 + static_cast<uint64_t>(c - '0');
        }
        if (t.overflow || n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) /
                                  static_cast<uint64_t>(*ticks)) {
          t.overflow = true;
        } else {
          t.i = static_cast<int64_t>(n) * *ticks;
        }
      } else {
        double ticks_d = v * static_cast<double>(*ticks);
        if (!(ticks_d < 9.2e18)) {
          t.overflow = true;
        } else {
          t.i = std::llround(ticks_d);
        }
      }
      return;
    }
    if (is_real) {
      t.kind = tk::real;
      t.d = std::strtod(std::string(number).c_str(), nullptr);
      return;
    }
    t.kind = tk::integer;
    uint64_t n = 0;
    for (char c : number) {
      if (n > (std::numeric_limits<uint64_t>::max() - 9) / 10) t.overflow = true;
      n = n * 10 + static_cast<uint64_t>(c - '0');
    }
    t.u = n;
  }

  void lex_string(token& t, bool verbatim) {
    char q = peek();
    ++i_;
    t.kind = tk::string;
    std::string out;
    for (;;) {
      if (i_ >= text_.size() || text_[i_] == '\n') {
        fail(t.pos, fmt::format("unterminated string literal: expected the closing {} before the "
                                "end of the line (use ``` for multi-line strings)",
                                q == '"' ? "\"" : "'"));
      }
      char c = text_[i_];
      if (c == q) {
        if (verbatim && peek(1) == q) {  // @"a""b" is a"b
          out += q;
          i_ += 2;
          continue;
        }
        ++i_;
        break;
      }
      if (c == '\\' && !verbatim) {
        position epos = here();
        char e = peek(1);
        i_ += 2;
        switch (e) {
          case '\\': out += '\\'; break;
          case '"': out += '"'; break;
          case '\'': out += '\''; break;
          case 'n': out += '\n'; break;
          case 't': out += '\t'; break;
          case 'r': out += '\r'; break;
          case '0': out += '\0'; break;
          case 'a': out += '\a'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'v': out += '\v'; break;
          case 'x': append_utf8(out, hex_escape(epos, 2)); break;
          case 'u': append_utf8(out, hex_escape(epos, 4)); break;
          case 'U': append_utf8(out, hex_escape(epos, 8)); break;
          default:
            if (e == '\n' || e == '\0') {
              fail(epos, "unterminated string literal: a '\\' ends the line");
            }
            fail(epos, fmt::format("unknown escape sequence '\\{}' in a string literal; use "
                                   "'\\\\' for a backslash or a verbatim string @\"...\"",
                                   e));
        }
        continue;
      }
      out += c;
      ++i_;
    }
    t.text = std::move(out);
  }

  // After `\x`, `\u` or `\U`: exactly `digits` hex digits.
  uint32_t hex_escape(position epos, int digits) {
    uint32_t v = 0;
    for (int n = 0; n < digits; ++n) {
      char c = peek();
      if (!std::isxdigit(static_cast<unsigned char>(c))) {
        fail(epos, fmt::format("invalid escape sequence in a string literal: expected {} hex "
                               "digits",
                               digits));
      }
      v = v * 16 + static_cast<uint32_t>(is_digit(c) ? c - '0'
                                                    : std::tolower(static_cast<unsigned char>(c)) - 'a' + 10);
      ++i_;
    }
    if (v > 0x10FFFF) fail(epos, "invalid escape sequence in a string literal: beyond U+10FFFF");
    return v;
  }

  static void append_utf8(std::string& out, uint32_t cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;  // a lone surrogate is not a character
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  void lex_multiline(token& t) {
    i_ += 3;
    size_t body = i_;
    size_t close = text_.find("```", i_);
    if (close == std::string_view::npos) {
      fail(t.pos, "unterminated multi-line string literal: expected the closing ```");
    }
    for (size_t k = body; k < close; ++k) {
      if (text_[k] == '\n') newline_at(k);
    }
    t.kind = tk::string;
    t.text = std::string(text_.substr(body, close - body));
    i_ = close + 3;
  }

  std::string_view text_;
  size_t i_ = 0;
  uint32_t line_ = 1;
  size_t line_start_ = 0;
};

// ---------------------------------------------------------------------------------------
// Keywords that must be bracketed to be used as names (Kusto's KS228), as Kusto.Language
// 12.4.1 reports them. Declarations (`extend first = 1`) and references (`where by > 1`)
// differ slightly: e.g. `where`, `by` may be declared but not referenced.

const std::unordered_set<std::string_view>& common_reserved() {
  static const std::unordered_set<std::string_view> words{
      "asc", "desc", "first", "last", "union", "and", "or", "between", "has_any", "has_all",
      "startswith", "startswith_cs", "endswith", "endswith_cs", "hasprefix", "hasprefix_cs",
      "hassuffix", "hassuffix_cs", "has_cs", "contains_cs", "containscs", "notcontains",
      "notcontainscs", "like", "likecs", "notlike", "notlikecs", "isfuzzy", "boolean", "int",
      "int8", "int16", "int32", "int64", "long", "real", "double", "float", "decimal",
      "datetime", "date", "time", "timespan", "string", "uniqueid", "dynamic", "uint", "uint8",
      "uint16", "uint32", "uint64", "ulong", "byte", "char", "timechart", "linechart",
      "barchart", "columnchart", "piechart", "areachart", "stackedareachart", "scatterchart",
      "anomalychart", "ladderchart", "pivotchart", "timepivot", "timeline", "card", "treemap",
      "simple", "relaxed"};
  return words;
}
bool reserved_as_declaration(std::string_view w) {
  return common_reserved().contains(w) || w == "project" || w == "kind" || w == "withsource" ||
         w == "true" || w == "false";
}
bool reserved_as_reference(std::string_view w) {
  static const std::unordered_set<std::string_view> more{
      "where", "by", "to", "in", "has", "contains", "set", "print", "as", "project",
      "datatable", "in~", "matches"};
  return common_reserved().contains(w) || more.contains(w) || w.starts_with("!");
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::string bracket_hint(std::string_view w) { return fmt::format("['{}']", w); }

// ---------------------------------------------------------------------------------------
// Parser

std::optional<model::column_type> type_from_name(std::string_view name) {
  if (name == "int32") return model::column_type::int_;
  if (name == "int64") return model::column_type::long_;
  return model::parse_column_type(name);
}

expr_ptr freeze(expr e) { return std::make_shared<const expr>(std::move(e)); }

class parser {
 public:
  parser(std::string_view text, std::vector<token> toks) : text_(text), t_(std::move(toks)) {}

  query_ast parse_query() {
    query_ast q;
    for (;;) {
      if (at_end()) {
        if (!q.lets.empty() || !q.sets.empty()) {
          fail(cur().pos, "expected a query after the let and set statements, found end of query");
        }
        fail(cur().pos, "expected a query, found end of query");
      }
      if (is_word("set") && peek_kind(1) == tk::ident) {
        q.sets.push_back(parse_set());
      } else if (is_word("let")) {
        q.lets.push_back(parse_let());
      } else if (is_word("declare") || is_word("alias") || is_word("pattern") ||
                 is_word("restrict")) {
        fail(cur().pos, fmt::format("'{}' statements are not supported", cur().text));
      } else {
        q.body = parse_tabular();
        if (is_punct(";")) next();
        if (!at_end()) {
          if (prev_was_semicolon()) {
            fail(cur().pos, fmt::format("only one query statement per request is supported, "
                                        "found {} after the query's ';'",
                                        describe(cur())));
          }
          fail(cur().pos, fmt::format("expected '|' or the end of the query, found {}",
                                      describe(cur())));
        }
        return q;
      }
    }
  }

 private:
  // --- token access --------------------------------------------------------------------
  const token& cur() const { return t_[i_]; }
  const token& peek_tok(size_t k) const {
    size_t j = std::min(i_ + k, t_.size() - 1);
    return t_[j];
  }
  tk peek_kind(size_t k) const { return peek_tok(k).kind; }
  bool at_end() const { return cur().kind == tk::end; }
  const token& next() {
    const token& t = t_[i_];
    if (i_ + 1 < t_.size()) ++i_;
    return t;
  }
  bool is_punct(std::string_view p, size_t k = 0) const {
    const token& t = peek_tok(k);
    return t.kind == tk::punct && t.text == p;
  }
  bool is_word(std::string_view w, size_t k = 0) const {
    const token& t = peek_tok(k);
    return t.kind == tk::ident && t.text == w;
  }
  bool prev_was_semicolon() const {
    return i_ > 0 && t_[i_ - 1].kind == tk::punct && t_[i_ - 1].text == ";";
  }

  static std::string describe(const token& t) {
    auto clip = [](std::string_view s) {
      std::string out(s.substr(0, 30));
      if (s.size() > 30) out += "...";
      return out;
    };
    switch (t.kind) {
      case tk::end: return "end of query";
      case tk::ident: return fmt::format("'{}'", clip(t.text));
      case tk::string: return fmt::format("string literal \"{}\"", clip(t.text));
      case tk::integer:
      case tk::real:
      case tk::timespan: return "a number";
      case tk::raw: return fmt::format("'{}'", clip(t.text));
      case tk::punct: return fmt::format("'{}'", t.text);
    }
    return "?";
  }

  void expect_punct(std::string_view p, std::string_view context) {
    if (!is_punct(p)) {
      fail(cur().pos, fmt::format("expected '{}' {}, found {}", p, context, describe(cur())));
    }
    next();
  }
  void expect_word(std::string_view w, std::string_view context) {
    if (!is_word(w)) {
      fail(cur().pos, fmt::format("expected '{}' {}, found {}", w, context, describe(cur())));
    }
    next();
  }

  // --- nesting guard -------------------------------------------------------------------
  struct nest_guard {
    parser& p;
    nest_guard(parser& p_, position pos) : p(p_) {
      if (++p.nest_ > max_kql_nesting) {
        fail(pos, fmt::format("the query nests more than {} levels deep (parentheses, brackets, "
                              "sub-queries); simplify it",
                              max_kql_nesting));
      }
    }
    ~nest_guard() { --p.nest_; }
    nest_guard(const nest_guard&) = delete;
    nest_guard& operator=(const nest_guard&) = delete;
  };
  // Counts chained binary operators of the expressions being parsed, so that the depth of
  // the tree (left-deep chains) stays bounded too.
  void chain_step(position pos) {
    if (++chain_ > max_chain) {
      fail(pos, fmt::format("the expression chains more than {} binary operators; use "
                            "'in (...)' or split the query",
                            max_chain));
    }
  }
  struct chain_scope {
    parser& p;
    int saved;
    explicit chain_scope(parser& p_) : p(p_), saved(p_.chain_) {}
    ~chain_scope() { p.chain_ = saved; }
  };

  // --- names ---------------------------------------------------------------------------
  // Tokens spanned by a name at offset k: ident (any word; callers check reserved) or
  // `[ 'x' ]`; 0 when there is none.
  size_t name_span(size_t k) const {
    const token& t = peek_tok(k);
    if (t.kind == tk::ident && t.text[0] != '$' && t.text[0] != '!') return 1;
    if (t.kind == tk::punct && t.text == "[" && peek_tok(k + 1).kind == tk::string) {
      size_t j = k + 1;
      while (peek_tok(j).kind == tk::string) ++j;
      if (peek_tok(j).kind == tk::punct && peek_tok(j).text == "]") return j - k + 1;
    }
    return 0;
  }
  bool at_bracketed_name() const { return is_punct("[") && name_span(0) > 1; }

  // A name being declared (left of '=' or a let): bracketed, or a word Kusto allows.
  std::string parse_decl_name(std::string_view what) {
    if (at_bracketed_name()) return parse_bracketed_name();
    const token& t = cur();
    if (t.kind != tk::ident || t.text[0] == '$' || t.text[0] == '!') {
      fail(t.pos, fmt::format("expected {}, found {}", what, describe(t)));
    }
    if (reserved_as_declaration(t.text)) {
      fail(t.pos, fmt::format("the name '{}' needs to be bracketed as {}", t.text,
                              bracket_hint(t.text)));
    }
    return next().text;
  }
  // A name being referenced (a column, a table).
  std::string parse_ref_name(std::string_view what) {
    if (at_bracketed_name()) return parse_bracketed_name();
    const token& t = cur();
    if (t.kind != tk::ident || t.text[0] == '$' || t.text[0] == '!') {
      fail(t.pos, fmt::format("expected {}, found {}", what, describe(t)));
    }
    if (reserved_as_reference(t.text)) {
      fail(t.pos, fmt::format("expected {}, found keyword '{}' (a name '{}' needs to be "
                              "bracketed as {})",
                              what, t.text, t.text, bracket_hint(t.text)));
    }
    return next().text;
  }
  std::string parse_bracketed_name() {
    next();  // [
    std::string name;
    while (cur().kind == tk::string) name += next().text;
    expect_punct("]", "to close the bracketed name");
    return name;
  }

  // --- statements ----------------------------------------------------------------------
  set_statement parse_set() {
    set_statement s;
    s.pos = next().pos;  // set
    if (cur().kind != tk::ident) {
      fail(cur().pos, fmt::format("expected an option name after 'set', found {}", describe(cur())));
    }
    s.name = next().text;
    while (is_punct(".") && peek_kind(1) == tk::ident && !cur().space_before) {
      next();
      s.name += "." + next().text;
    }
    if (is_punct("=")) {
      next();
      if (cur().kind == tk::string) {
        while (cur().kind == tk::string) s.value += next().text;
      } else {
        if (is_punct(";") || at_end()) {
          fail(cur().pos, fmt::format("expected a value after 'set {} =', found {}", s.name,
                                      describe(cur())));
        }
        uint32_t from = cur().pos.offset;
        parse_expr();
        s.value = std::string(text_.substr(from, t_[i_ - 1].end - from));
      }
    } else {
      s.value = "true";
    }
    expect_punct(";", fmt::format("after 'set {}'", s.name));
    return s;
  }

  let_statement parse_let() {
    let_statement l;
    l.pos = next().pos;  // let
    l.name = parse_decl_name("a name after 'let'");
    expect_punct("=", fmt::format("after 'let {}'", l.name));
    if (is_udf_start()) {
      fail(cur().pos, fmt::format("user-defined functions are not supported yet ('let {} = "
                                  "(...) {{ ... }}' or a view)",
                                  l.name));
    }
    expr_ptr v = parse_expr_or_tabular();
    if (v->kind == expr_kind::tabular) {
      l.table = v->subquery;
    } else {
      l.scalar = std::move(v);
    }
    if (!is_punct(";")) {
      fail(cur().pos, fmt::format("expected ';' after the value of 'let {}', found {}", l.name,
                                  describe(cur())));
    }
    next();
    return l;
  }

  bool is_udf_start() const {
    size_t k = 0;
    if (is_word("view") && is_punct("(", 1)) return true;
    if (!is_punct("(", k)) return false;
    if (is_punct(")", 1) && is_punct("{", 2)) return true;
    size_t n = name_span(1);
    return n > 0 && is_punct(":", 1 + n);
  }

  // --- tabular expressions -------------------------------------------------------------
  tabular_ptr parse_tabular() {
    nest_guard g(*this, cur().pos);
    auto t = std::make_shared<tabular>();
    parse_source(*t);
    parse_pipes(*t);
    return t;
  }

  void parse_pipes(tabular& t) {
    while (is_punct("|")) {
      next();
      t.ops.push_back(parse_operator());
      t.ops.back().end = t_[i_ - 1].end;
    }
  }

  bool at_tabular_keyword() const {
    if (is_word("datatable") && is_punct("(", 1)) return true;
    if (is_word("print")) return true;
    if (is_word("union")) return true;
    if (is_word("range") && peek_kind(1) == tk::ident) return true;
    return false;
  }

  void parse_source(tabular& t) {
    t.pos = cur().pos;
    if (is_punct("(")) {
      next();
      t.source = source_kind::subquery;
      t.inner = parse_tabular();
      expect_punct(")", "to close the parenthesised query");
      return;
    }
    if (is_word("datatable")) return parse_datatable(t);
    if (is_word("print")) {
      next();
      t.source = source_kind::print;
      if (at_op_end()) {
        fail(cur().pos, fmt::format("expected an expression after 'print', found {}",
                                    describe(cur())));
      }
      parse_named_list(t.exprs);
      return;
    }
    if (is_word("range") && peek_kind(1) == tk::ident) {
      next();
      t.source = source_kind::range;
      t.name = parse_decl_name("the range column's name");
      expect_word("from", "in 'range x from a to b step s'");
      t.range_from = parse_expr();
      expect_word("to", "in 'range x from a to b step s'");
      t.range_to = parse_expr();
      expect_word("step", "in 'range x from a to b step s'");
      t.range_step = parse_expr();
      return;
    }
    if (is_word("union")) {
      next();
      t.source = source_kind::union_;
      parse_union_body(t.options, t.legs);
      return;
    }
    if (name_span(0) > 0) {
      t.source = source_kind::name;
      t.name = parse_ref_name("a table name");
      return;
    }
    fail(cur().pos, fmt::format("expected a table name or a tabular expression (datatable, "
                                "print, range, union, ( ... )), found {}",
                                describe(cur())));
  }

  void parse_datatable(tabular& t) {
    next();  // datatable
    t.source = source_kind::datatable;
    expect_punct("(", "after 'datatable'");
    for (;;) {
      model::column c;
      c.name = parse_decl_name("a column name in datatable(name:type, ...)");
      expect_punct(":", fmt::format("after datatable column '{}'", c.name));
      const token& ty = cur();
      auto type = ty.kind == tk::ident ? model::parse_column_type(ty.text) : std::nullopt;
      if (!type) {
        fail(ty.pos, fmt::format("expected a type for datatable column '{}' (bool, int, long, "
                                 "real, decimal, string, datetime, timespan, guid, dynamic), "
                                 "found {}",
                                 c.name, describe(ty)));
      }
      next();
      c.type = *type;
      t.schema.push_back(std::move(c));
      if (is_punct(",")) {
        next();
        continue;
      }
      expect_punct(")", "to close datatable's column list");
      break;
    }
    expect_punct("[", "before datatable's values");
    while (!is_punct("]")) {
      position pos = cur().pos;
      expr_ptr v = parse_expr();
      if (v->kind != expr_kind::literal) {
        fail(pos, "datatable values must be literals (e.g. 1, \"x\", int(null), "
                  "datetime(2024-01-01), dynamic([1, 2]))");
      }
      t.values.push_back(std::move(v));
      if (is_punct(",")) {
        next();
        continue;
      }
      if (!is_punct("]")) {
        fail(cur().pos, fmt::format("expected ',' or ']' in datatable's values, found {}",
                                    describe(cur())));
      }
    }
    next();  // ]
  }

  // `[kind=..] [withsource=..] [isfuzzy=..] leg, leg, ...`
  void parse_union_body(std::vector<std::pair<std::string, std::string>>& options,
                        std::vector<tabular_ptr>& legs) {
    parse_options(options, {"kind", "withsource", "isfuzzy"});
    for (;;) {
      legs.push_back(parse_leg("a union leg (a table name or a parenthesised query)"));
      if (!is_punct(",")) break;
      next();
    }
  }

  // A table name (with `*` wildcards for union) or a parenthesised query.
  tabular_ptr parse_leg(std::string_view what) {
    auto t = std::make_shared<tabular>();
    t->pos = cur().pos;
    if (is_punct("(")) {
      nest_guard g(*this, cur().pos);
      next();
      auto inner = parse_tabular();
      expect_punct(")", "to close the parenthesised query");
      return inner;
    }
    if (name_span(0) == 0 && !is_punct("*")) {
      fail(cur().pos, fmt::format("expected {}, found {}", what, describe(cur())));
    }
    t->source = source_kind::name;
    t->name = parse_pattern(what);
    return t;
  }

  // A name or a wildcard pattern (`Pr*`, `*Time`, `*`): adjacent words and '*'.
  std::string parse_pattern(std::string_view what) {
    if (at_bracketed_name()) return parse_bracketed_name();
    std::string out;
    bool first = true;
    while (!at_end()) {
      const token& t = cur();
      if (!first && t.space_before) break;
      if (t.kind == tk::punct && t.text == "*") {
        out += '*';
      } else if (t.kind == tk::ident && t.text[0] != '$' && t.text[0] != '!' &&
                 (!first || !reserved_as_reference(t.text) || is_punct("*", 1))) {
        if (!first && out.back() != '*') break;
        out += t.text;
      } else {
        break;
      }
      next();
      first = false;
    }
    if (out.empty()) fail(cur().pos, fmt::format("expected {}, found {}", what, describe(cur())));
    return out;
  }

  // key=value options; keys from `allowed` or `hint.*`. Values are kept as text.
  void parse_options(std::vector<std::pair<std::string, std::string>>& options,
                     std::initializer_list<std::string_view> allowed) {
    for (;;) {
      if (cur().kind != tk::ident) return;
      std::string key;
      size_t k = 0;
      if (cur().text == "hint" && is_punct(".", 1) && peek_kind(2) == tk::ident) {
        key = "hint." + peek_tok(2).text;
        k = 3;
      } else {
        bool ok = false;
        for (auto a : allowed) ok = ok || a == cur().text;
        if (!ok) return;
        key = cur().text;
        k = 1;
      }
      if (!is_punct("=", k)) return;
      for (size_t j = 0; j <= k; ++j) next();
      const token& v = cur();
      if (v.kind == tk::ident || v.kind == tk::string) {
        options.emplace_back(key, v.text);
      } else if (v.kind == tk::integer || v.kind == tk::real) {
        options.emplace_back(key, std::string(text_.substr(v.pos.offset, v.end - v.pos.offset)));
      } else {
        fail(v.pos, fmt::format("expected a value for option '{}', found {}", key, describe(v)));
      }
      next();
    }
  }

  // The token that may end an operator: '|', ';', ')' or the end.
  bool at_op_end() const { return at_end() || is_punct("|") || is_punct(";") || is_punct(")"); }

  // --- query operators -----------------------------------------------------------------
  tab_op parse_operator() {
    const token& t = cur();
    tab_op op;
    op.pos = t.pos;
    if (t.kind != tk::ident) {
      fail(t.pos, fmt::format("expected a query operator after '|' (where, project, summarize, "
                              "...), found {}",
                              describe(t)));
    }
    std::string name = t.text;
    next();
    if (name == "where" || name == "filter") {
      op.kind = op_kind::where;
      parse_where(op);
    } else if (name == "project") {
      op.kind = op_kind::project;
      parse_named_list(op.exprs);
    } else if (name == "project-away" || name == "project-keep" || name == "project-reorder") {
      op.kind = name == "project-away"   ? op_kind::project_away
                : name == "project-keep" ? op_kind::project_keep
                                         : op_kind::project_reorder;
      for (;;) {
        op.patterns.push_back(parse_pattern("a column name or pattern"));
        if (op.kind == op_kind::project_reorder) {
          for (auto dir : {"asc", "desc", "granny-asc", "granny-desc"}) {
            if (is_word(dir)) {
              next();
              break;
            }
          }
        }
        if (!is_punct(",")) break;
        next();
      }
    } else if (name == "project-rename") {
      op.kind = op_kind::project_rename;
      for (;;) {
        std::string to = parse_decl_name("a new column name");
        expect_punct("=", "in 'project-rename new = old'");
        std::string from = parse_ref_name("the column to rename");
        op.renames.emplace_back(std::move(to), std::move(from));
        if (!is_punct(",")) break;
        next();
      }
    } else if (name == "extend") {
      op.kind = op_kind::extend;
      parse_named_list(op.exprs);
    } else if (name == "summarize") {
      op.kind = op_kind::summarize;
      parse_options(op.options, {});
      if (!is_word("by") && !at_op_end()) parse_named_list(op.exprs);
      if (is_word("by")) {
        next();
        parse_named_list(op.by);
      }
    } else if (name == "top") {
      op.kind = op_kind::top;
      op.count = parse_expr();
      expect_word("by", "in 'top N by expression'");
      op.keys.push_back(parse_sort_key());
    } else if (name == "sort" || name == "order") {
      op.kind = op_kind::sort;
      expect_word("by", fmt::format("after '{}'", name));
      for (;;) {
        op.keys.push_back(parse_sort_key());
        if (!is_punct(",")) break;
        next();
      }
    } else if (name == "take" || name == "limit") {
      op.kind = op_kind::take;
      op.count = parse_expr();
    } else if (name == "distinct") {
      op.kind = op_kind::distinct;
      if (is_punct("*")) {
        expr e;
        e.kind = expr_kind::star;
        e.pos = next().pos;
        op.exprs.push_back(named_expr{{}, {}, freeze(std::move(e)), op.pos});
      } else {
        parse_named_list(op.exprs);
      }
    } else if (name == "count") {
      op.kind = op_kind::count;
    } else if (name == "union") {
      op.kind = op_kind::union_;
      parse_union_body(op.options, op.legs);
    } else if (name == "join" || name == "lookup") {
      op.kind = name == "join" ? op_kind::join : op_kind::lookup;
      parse_options(op.options, {"kind", "withsource"});
      op.right = parse_leg("the right side of " + name + " (a table name or a parenthesised query)");
      expect_word("on", fmt::format("after the right side of '{}'", name));
      parse_join_keys(op);
    } else if (name == "as") {
      op.kind = op_kind::as;
      parse_options(op.options, {});
      op.alias = parse_decl_name("a name after 'as'");
    } else if (name == "make-series") {
      op.kind = op_kind::make_series;
      parse_make_series(op);
    } else if (name == "render") {
      op.kind = op_kind::render;
      parse_render(op);
    } else if (name == "getschema") {
      op.kind = op_kind::getschema;
    } else if (name == "mv-expand") {
      op.kind = op_kind::mv_expand;
      parse_mv_expand(op);
    } else if (name == "serialize") {
      op.kind = op_kind::serialize;
      if (!at_op_end()) parse_named_list(op.exprs);
    } else if (name == "parse" || name == "parse-where") {
      op.kind = name == "parse" ? op_kind::parse : op_kind::parse_where;
      parse_parse(op, name);
    } else {
      static const std::unordered_set<std::string_view> known{
          "parse-kv", "evaluate", "search", "find", "mv-apply",
          "top-nested", "top-hitters", "sample", "sample-distinct", "fork", "facet", "invoke",
          "scan", "partition", "reduce", "make-graph", "graph-match", "project-smart",
          "extend-schema", "consume", "execute-and-cache", "externaldata", "lookup-kv",
          "assert-schema", "macro-expand", "graph-merge", "graph-to-table"};
      if (known.contains(name)) {
        fail(op.pos, fmt::format("the query operator '{}' is not supported yet", name));
      }
      fail(op.pos, fmt::format("expected a query operator after '|' (where, project, summarize, "
                               "...), found '{}'",
                               name));
    }
    if (!at_op_end()) {
      fail(cur().pos, fmt::format("unexpected {} after the '{}' operator; expected '|' or the "
                                  "end of the query",
                                  describe(cur()), name));
    }
    return op;
  }

  void parse_where(tab_op& op) {
    if (at_op_end()) {
      fail(cur().pos, fmt::format("expected a predicate after 'where', found {}", describe(cur())));
    }
    // `where Name = value` is valid syntax in Kusto (the binder wants a bool value).
    size_t n = name_span(0);
    if (n > 0 && is_punct("=", n)) {
      position pos = cur().pos;
      std::string name = parse_decl_name("a name");
      next();  // =
      expr_ptr v = parse_expr();
      op.exprs.push_back(named_expr{std::move(name), {}, v, pos});
      op.predicate = std::move(v);
      return;
    }
    op.predicate = parse_expr();
  }

  sort_key parse_sort_key() {
    sort_key k;
    k.value = parse_expr();
    if (is_word("asc")) {
      next();
      k.ascending = true;
    } else if (is_word("desc")) {
      next();
    }
    if (is_word("nulls")) {
      next();
      if (is_word("first")) {
        k.nulls_first = true;
      } else if (is_word("last")) {
        k.nulls_first = false;
      } else {
        fail(cur().pos, fmt::format("expected 'first' or 'last' after 'nulls', found {}",
                                    describe(cur())));
      }
      next();
    }
    return k;
  }

  void parse_join_keys(tab_op& op) {
    for (;;) {
      join_key k;
      k.pos = cur().pos;
      if (cur().kind == tk::ident && (cur().text == "$left" || cur().text == "$right")) {
        auto side = [&] {
          bool left = next().text == "$left";
          expect_punct(".", "after $left/$right");
          std::string col = parse_ref_name("a column name after '$left.' or '$right.'");
          return std::pair<bool, std::string>{left, std::move(col)};
        };
        auto [a_left, a_col] = side();
        expect_punct("==", "in a join condition '$left.a == $right.b'");
        if (!(cur().kind == tk::ident && (cur().text == "$left" || cur().text == "$right"))) {
          fail(cur().pos, fmt::format("expected '$left.' or '$right.' after '==' in a join "
                                      "condition, found {}",
                                      describe(cur())));
        }
        auto [b_left, b_col] = side();
        if (a_left == b_left) {
          fail(k.pos, "a join condition compares $left with $right: '$left.a == $right.b'");
        }
        k.left = a_left ? a_col : b_col;
        k.right = a_left ? b_col : a_col;
      } else {
        std::string col = parse_ref_name("a join key column or '$left.a == $right.b'");
        k.left = col;
        k.right = col;
      }
      op.join_on.push_back(std::move(k));
      if (is_punct(",") || is_word("and")) {
        next();
        continue;
      }
      break;
    }
  }

  void parse_make_series(tab_op& op) {
    parse_options(op.options, {"kind"});
    for (;;) {
      op.exprs.push_back(parse_named());
      expr_ptr def;
      if (is_word("default") && is_punct("=", 1)) {
        next();
        next();
        def = parse_expr();
      }
      op.series_defaults.push_back(std::move(def));
      if (!is_punct(",")) break;
      next();
    }
    expect_word("on", "in 'make-series aggregate on axis from a to b step s'");
    op.series_on = parse_expr();
    if (is_word("from")) {
      next();
      op.series_from = parse_expr();
    }
    if (is_word("to")) {
      next();
      op.series_to = parse_expr();
    }
    expect_word("step", "in 'make-series aggregate on axis from a to b step s'");
    op.series_step = parse_expr();
    if (is_word("by")) {
      next();
      parse_named_list(op.by);
    }
  }

  void parse_render(tab_op& op) {
    if (cur().kind != tk::ident) {
      fail(cur().pos, fmt::format("expected a chart kind after 'render' (timechart, barchart, "
                                  "table, ...), found {}",
                                  describe(cur())));
    }
    op.alias = next().text;
    if (!is_word("with")) return;
    next();
    expect_punct("(", "after 'render ... with'");
    while (!is_punct(")")) {
      if (cur().kind != tk::ident) {
        fail(cur().pos, fmt::format("expected a render property name (title, xcolumn, ...), "
                                    "found {}",
                                    describe(cur())));
      }
      std::string key = next().text;
      expect_punct("=", fmt::format("after render property '{}'", key));
      std::string value = parse_option_value();
      // ycolumns=a, b, c: a comma list until the next `name =`.
      while (is_punct(",") && !(name_span(1) > 0 && is_punct("=", 1 + name_span(1))) &&
             !is_punct(")", 1)) {
        next();
        value += "," + parse_option_value();
      }
      op.options.emplace_back(std::move(key), std::move(value));
      if (is_punct(",")) {
        next();
        continue;
      }
      if (!is_punct(")")) {
        fail(cur().pos, fmt::format("expected ',' or ')' in render's properties, found {}",
                                    describe(cur())));
      }
    }
    next();  // )
  }

  std::string parse_option_value() {
    if (cur().kind == tk::string) {
      std::string s;
      while (cur().kind == tk::string) s += next().text;
      return s;
    }
    if (at_bracketed_name()) return parse_bracketed_name();
    uint32_t from = cur().pos.offset;
    parse_expr();
    return std::string(text_.substr(from, t_[i_ - 1].end - from));
  }

  // parse [kind=simple|regex|relaxed] [flags=...] <expr> with <pattern>: string literals, `*`
  // and columns (`name` or `name:type`), in any order.
  void parse_parse(tab_op& op, std::string_view name) {
    parse_options(op.options, {"kind", "flags"});
    op.predicate = parse_expr();
    expect_word("with", fmt::format("after the text of '{}' ({} Text with \"key=\" value)", name, name));
    while (!at_op_end()) {
      parse_element e;
      e.pos = cur().pos;
      if (cur().kind == tk::string) {
        e.what = parse_element::kind::text;
        while (cur().kind == tk::string) e.text += next().text;  // adjacent literals join
      } else if (is_punct("*")) {
        next();
        e.what = parse_element::kind::wildcard;
      } else {
        e.what = parse_element::kind::column;
        e.text = parse_decl_name("a column name, a string or '*' in the pattern");
        if (is_punct(":")) {
          next();
          const token& ty = cur();
          auto t = ty.kind == tk::ident ? type_from_name(ty.text) : std::nullopt;
          if (!t) fail(ty.pos, fmt::format("expected a type name after ':', found {}", describe(ty)));
          next();
          e.type = t;
        }
      }
      op.parse_pattern.push_back(std::move(e));
    }
    if (op.parse_pattern.empty()) fail(cur().pos, fmt::format("expected a pattern after 'with' in '{}'", name));
  }

  void parse_mv_expand(tab_op& op) {
    parse_options(op.options, {"bagexpansion", "with_itemindex", "kind"});
    for (;;) {
      named_expr n = parse_named();
      if (is_word("to")) {
        next();
        expect_word("typeof", "after 'to' in mv-expand");
        expect_punct("(", "after 'typeof'");
        const token& ty = cur();
        if (ty.kind != tk::ident || !type_from_name(ty.text)) {
          fail(ty.pos, fmt::format("expected a type name in typeof(...), found {}", describe(ty)));
        }
        std::string col = !n.name.empty()                      ? n.name
                          : n.value->kind == expr_kind::name   ? n.value->name
                                                               : std::string();
        op.options.emplace_back("to_typeof:" + col, next().text);
        expect_punct(")", "to close typeof(...)");
      }
      op.exprs.push_back(std::move(n));
      if (!is_punct(",")) break;
      next();
    }
    if (is_word("limit")) {
      next();
      uint32_t from = cur().pos.offset;
      parse_expr();
      op.options.emplace_back("limit", std::string(text_.substr(from, t_[i_ - 1].end - from)));
    }
  }

  // --- named expressions ---------------------------------------------------------------
  void parse_named_list(std::vector<named_expr>& out) {
    for (;;) {
      out.push_back(parse_named());
      if (!is_punct(",")) return;
      next();
    }
  }

  named_expr parse_named() {
    named_expr n;
    n.pos = cur().pos;
    // (a, b) = expr
    if (is_punct("(")) {
      size_t k = 1;
      bool names = true;
      for (;;) {
        size_t s = name_span(k);
        if (s == 0) {
          names = false;
          break;
        }
        k += s;
        if (is_punct(",", k)) {
          ++k;
          continue;
        }
        if (is_punct(")", k) && is_punct("=", k + 1)) break;
        names = false;
        break;
      }
      if (names) {
        next();  // (
        for (;;) {
          n.names.push_back(parse_decl_name("a column name"));
          if (is_punct(",")) {
            next();
            continue;
          }
          break;
        }
        expect_punct(")", "after the names");
        expect_punct("=", "after the names");
        n.value = parse_expr();
        return n;
      }
    }
    size_t s = name_span(0);
    if (s > 0 && is_punct("=", s)) {
      n.name = parse_decl_name("a column name");
      next();  // =
    }
    if (at_op_end() || is_punct(",")) {
      fail(cur().pos, fmt::format("expected an expression, found {}", describe(cur())));
    }
    n.value = parse_expr();
    return n;
  }

  // --- expressions ---------------------------------------------------------------------
  expr_ptr parse_expr() {
    nest_guard g(*this, cur().pos);
    chain_scope c(*this);
    return parse_or();
  }

  expr_ptr make_binary(binary_op op, position pos, expr_ptr l, expr_ptr r) {
    expr e;
    e.kind = expr_kind::binary;
    e.pos = pos;
    e.binary = op;
    e.args = {std::move(l), std::move(r)};
    return freeze(std::move(e));
  }

  expr_ptr parse_or() {
    expr_ptr l = parse_and();
    while (is_word("or")) {
      chain_step(cur().pos);
      next();
      expr_ptr r = parse_and();
      position pos = l->pos;
      l = make_binary(binary_op::or_, pos, std::move(l), std::move(r));
    }
    return l;
  }

  expr_ptr parse_and() {
    expr_ptr l = parse_equality();
    while (is_word("and")) {
      chain_step(cur().pos);
      next();
      expr_ptr r = parse_equality();
      position pos = l->pos;
      l = make_binary(binary_op::and_, pos, std::move(l), std::move(r));
    }
    return l;
  }

  std::optional<binary_op> equality_op() const {
    if (is_punct("==")) return binary_op::equal;
    if (is_punct("!=") || is_punct("<>")) return binary_op::not_equal;
    return std::nullopt;
  }
  std::optional<list_op> list_operator() const {
    if (cur().kind != tk::ident) return std::nullopt;
    const std::string& w = cur().text;
    if (w == "in") return list_op::in;
    if (w == "!in") return list_op::not_in;
    if (w == "in~") return list_op::in_ci;
    if (w == "!in~") return list_op::not_in_ci;
    if (w == "has_any") return list_op::has_any;
    if (w == "has_all") return list_op::has_all;
    return std::nullopt;
  }
  bool at_equality_level() const {
    return equality_op() || list_operator() || is_word("between") || is_word("!between");
  }

  expr_ptr parse_equality() {
    expr_ptr l = parse_relational();
    if (!at_equality_level()) return l;
    chain_step(cur().pos);
    position pos = l->pos;
    if (auto op = equality_op()) {
      next();
      l = make_binary(*op, pos, std::move(l), parse_relational());
    } else if (auto lop = list_operator()) {
      std::string word = next().text;
      l = parse_list(*lop, word, pos, std::move(l));
    } else {
      bool negated = next().text == "!between";
      expect_punct("(", "after 'between' (between (low .. high))");
      expr e;
      e.kind = expr_kind::between;
      e.pos = pos;
      e.negated = negated;
      expr_ptr low = parse_expr();
      expect_punct("..", "in 'between (low .. high)'");
      expr_ptr high = parse_expr();
      expect_punct(")", "to close 'between (low .. high)'");
      e.args = {std::move(l), std::move(low), std::move(high)};
      l = freeze(std::move(e));
    }
    if (at_equality_level()) {
      fail(cur().pos, fmt::format("comparison operators do not chain: add parentheses before {}",
                                  describe(cur())));
    }
    return l;
  }

  expr_ptr parse_list(list_op op, const std::string& word, position pos, expr_ptr left) {
    expr e;
    e.kind = expr_kind::list;
    e.pos = pos;
    e.list = op;
    e.args.push_back(std::move(left));
    nest_guard g(*this, cur().pos);
    expect_punct("(", fmt::format("after '{}' ({} (a, b, ...))", word, word));
    if (is_punct(")")) {
      fail(cur().pos, fmt::format("expected at least one value in '{} (...)', found ')'", word));
    }
    for (;;) {
      expr_ptr v = parse_expr_or_tabular();
      if (v->kind == expr_kind::tabular) {
        if (e.args.size() != 1 || !is_punct(")")) {
          fail(v->pos, fmt::format("a query in '{} (...)' must be its only value", word));
        }
        e.subquery = v->subquery;
      } else {
        if (e.subquery) fail(v->pos, fmt::format("a query in '{} (...)' must be its only value", word));
        e.args.push_back(std::move(v));
      }
      if (is_punct(",")) {
        next();
        continue;
      }
      expect_punct(")", fmt::format("or ',' in '{} (...)'", word));
      break;
    }
    return freeze(std::move(e));
  }

  std::optional<binary_op> relational_op() const {
    if (is_punct("<")) return binary_op::less;
    if (is_punct("<=")) return binary_op::less_equal;
    if (is_punct(">")) return binary_op::greater;
    if (is_punct(">=")) return binary_op::greater_equal;
    return std::nullopt;
  }

  expr_ptr parse_relational() {
    expr_ptr l = parse_additive();
    auto op = relational_op();
    if (!op) return l;
    chain_step(cur().pos);
    next();
    position pos = l->pos;
    l = make_binary(*op, pos, std::move(l), parse_additive());
    if (relational_op()) {
      fail(cur().pos, fmt::format("comparison operators do not chain: add parentheses before {}",
                                  describe(cur())));
    }
    return l;
  }

  expr_ptr parse_additive() {
    expr_ptr l = parse_multiplicative();
    for (;;) {
      binary_op op;
      if (is_punct("+")) {
        op = binary_op::add;
      } else if (is_punct("-")) {
        op = binary_op::subtract;
      } else {
        return l;
      }
      chain_step(cur().pos);
      next();
      position pos = l->pos;
      l = make_binary(op, pos, std::move(l), parse_multiplicative());
    }
  }

  expr_ptr parse_multiplicative() {
    expr_ptr l = parse_string_op();
    for (;;) {
      binary_op op;
      if (is_punct("*")) {
        op = binary_op::multiply;
      } else if (is_punct("/")) {
        op = binary_op::divide;
      } else if (is_punct("%")) {
        op = binary_op::modulo;
      } else {
        return l;
      }
      chain_step(cur().pos);
      next();
      position pos = l->pos;
      l = make_binary(op, pos, std::move(l), parse_string_op());
    }
  }

  // The string operator at the cursor and how many tokens it spans.
  std::optional<std::pair<binary_op, size_t>> string_op() const {
    if (is_punct("=~")) return std::pair{binary_op::equal_ci, size_t{1}};
    if (is_punct("!~")) return std::pair{binary_op::not_equal_ci, size_t{1}};
    if (cur().kind != tk::ident) return std::nullopt;
    static const std::pair<std::string_view, binary_op> ops[] = {
        {"has", binary_op::has}, {"!has", binary_op::not_has},
        {"has_cs", binary_op::has_cs}, {"!has_cs", binary_op::not_has_cs},
        {"hasprefix", binary_op::hasprefix}, {"!hasprefix", binary_op::not_hasprefix},
        {"hasprefix_cs", binary_op::hasprefix_cs}, {"!hasprefix_cs", binary_op::not_hasprefix_cs},
        {"hassuffix", binary_op::hassuffix}, {"!hassuffix", binary_op::not_hassuffix},
        {"hassuffix_cs", binary_op::hassuffix_cs}, {"!hassuffix_cs", binary_op::not_hassuffix_cs},
        {"contains", binary_op::contains}, {"!contains", binary_op::not_contains},
        {"contains_cs", binary_op::contains_cs}, {"!contains_cs", binary_op::not_contains_cs},
        {"startswith", binary_op::startswith}, {"!startswith", binary_op::not_startswith},
        {"startswith_cs", binary_op::startswith_cs},
        {"!startswith_cs", binary_op::not_startswith_cs},
        {"endswith", binary_op::endswith}, {"!endswith", binary_op::not_endswith},
        {"endswith_cs", binary_op::endswith_cs}, {"!endswith_cs", binary_op::not_endswith_cs}};
    for (const auto& [w, op] : ops) {
      if (cur().text == w) return std::pair{op, size_t{1}};
    }
    if (cur().text == "matches" && is_word("regex", 1)) {
      return std::pair{binary_op::matches_regex, size_t{2}};
    }
    return std::nullopt;
  }

  expr_ptr parse_string_op() {
    expr_ptr l = parse_unary();
    auto op = string_op();
    if (!op) return l;
    if (cur().text == "matches" && !is_word("regex", 1)) {
      fail(peek_tok(1).pos, fmt::format("expected 'regex' after 'matches', found {}",
                                        describe(peek_tok(1))));
    }
    chain_step(cur().pos);
    for (size_t k = 0; k < op->second; ++k) next();
    position pos = l->pos;
    l = make_binary(op->first, pos, std::move(l), parse_unary());
    if (string_op()) {
      fail(cur().pos, fmt::format("string operators do not chain: add parentheses before {}",
                                  describe(cur())));
    }
    return l;
  }

  expr_ptr parse_unary() {
    if (!is_punct("-") && !is_punct("+")) return parse_postfix();
    const token& sign = next();
    bool negate = sign.text == "-";
    if (is_punct("-") || is_punct("+")) {
      fail(cur().pos, fmt::format("expected an expression after '{}', found {} (write -(-x))",
                                  sign.text, describe(cur())));
    }
    // A sign directly before a number is part of the literal.
    const token& t = cur();
    if ((t.kind == tk::integer || t.kind == tk::real || t.kind == tk::timespan) &&
        !is_punct(".", 1) && !is_punct("[", 1)) {
      expr_ptr lit = parse_number(negate, sign.pos);
      return lit;
    }
    expr e;
    e.kind = expr_kind::unary;
    e.pos = sign.pos;
    e.unary = negate ? unary_op::negate : unary_op::plus;
    e.operand = parse_postfix();
    return freeze(std::move(e));
  }

  expr_ptr parse_postfix() {
    expr_ptr e = parse_primary();
    for (;;) {
      if (is_punct(".") && (peek_kind(1) == tk::ident || is_punct("[", 1))) {
        chain_step(cur().pos);
        next();
        expr m;
        m.kind = expr_kind::member;
        m.pos = e->pos;
        if (is_punct("[")) {  // d.['x']
          if (!at_bracketed_name()) {
            fail(cur().pos, fmt::format("expected a bracketed name after '.', found {}",
                                        describe(peek_tok(1))));
          }
          m.name = parse_bracketed_name();
        } else {
          if (cur().text[0] == '$' || cur().text[0] == '!') {
            fail(cur().pos, fmt::format("expected a name after '.', found {}", describe(cur())));
          }
          if (reserved_as_reference(cur().text)) {
            fail(cur().pos, fmt::format("the name '{}' after '.' needs to be bracketed as {}",
                                        cur().text, bracket_hint(cur().text)));
          }
          m.name = next().text;
        }
        m.operand = std::move(e);
        e = freeze(std::move(m));
      } else if (is_punct("[")) {
        chain_step(cur().pos);
        nest_guard g(*this, cur().pos);
        next();
        expr ix;
        ix.kind = expr_kind::index;
        ix.pos = e->pos;
        ix.operand = std::move(e);
        ix.args.push_back(parse_expr());
        expect_punct("]", "to close the index");
        e = freeze(std::move(ix));
      } else {
        return e;
      }
    }
  }

  expr_ptr literal(position pos, model::value v, model::column_type type) {
    expr e;
    e.kind = expr_kind::literal;
    e.pos = pos;
    e.value = std::move(v);
    e.type = type;
    return freeze(std::move(e));
  }

  expr_ptr parse_number(bool negate, position pos) {
    const token& t = next();
    if (t.kind == tk::integer) {
      constexpr uint64_t max = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
      if (t.overflow || t.u > max + (negate ? 1 : 0)) {
        fail(pos, "the integer literal is out of range for long (-9223372036854775808 to "
                  "9223372036854775807); write it as a real, e.g. 1e20");
      }
      int64_t v = negate ? static_cast<int64_t>(0 - t.u) : static_cast<int64_t>(t.u);
      return literal(pos, v, model::column_type::long_);
    }
    if (t.kind == tk::real) {
      return literal(pos, negate ? -t.d : t.d, model::column_type::real);
    }
    if (t.overflow) fail(pos, "the timespan literal is out of range");
    return literal(pos, negate ? -t.i : t.i, model::column_type::timespan);
  }

  expr_ptr parse_primary() {
    const token& t = cur();
    switch (t.kind) {
      case tk::end:
        fail(t.pos, "expected an expression, found end of query");
      case tk::integer:
      case tk::real:
      case tk::timespan:
        return parse_number(false, t.pos);
      case tk::string: {
        position pos = t.pos;
        std::string s;
        while (cur().kind == tk::string) s += next().text;
        return literal(pos, std::move(s), model::column_type::string);
      }
      case tk::raw:
        fail(t.pos, fmt::format("expected an expression, found {}", describe(t)));
      case tk::punct:
        if (t.text == "(") {
          nest_guard g(*this, t.pos);
          next();
          expr_ptr e = parse_expr_or_tabular();
          expect_punct(")", "to close the parenthesis");
          return e;
        }
        if (at_bracketed_name()) {
          expr e;
          e.kind = expr_kind::name;
          e.pos = t.pos;
          e.name = parse_bracketed_name();
          return freeze(std::move(e));
        }
        fail(t.pos, fmt::format("expected an expression, found {}", describe(t)));
      case tk::ident:
        break;
    }
    position pos = t.pos;
    const std::string& w = t.text;
    if (w == "true" || w == "false") {
      next();
      return literal(pos, w == "true", model::column_type::bool_);
    }
    if (w == "$left" || w == "$right") {
      fail(pos, fmt::format("'{}' can only be used in a join or lookup condition ('on $left.a "
                            "== $right.b')",
                            w));
    }
    if (is_punct("(", 1)) {
      if (w == "dynamic") return parse_dynamic();
      if (auto type = type_from_name(w); type && w != "string") return parse_typed(*type);
      if (reserved_as_reference(w)) {
        fail(pos, fmt::format("expected an expression, found keyword '{}'", w));
      }
      return parse_call();
    }
    if (reserved_as_reference(w)) {
      fail(pos, fmt::format("expected an expression, found keyword '{}' (a name '{}' needs to "
                            "be bracketed as {})",
                            w, w, bracket_hint(w)));
    }
    next();
    expr e;
    e.kind = expr_kind::name;
    e.pos = pos;
    e.name = w;
    return freeze(std::move(e));
  }

  expr_ptr parse_call() {
    expr e;
    e.kind = expr_kind::call;
    e.pos = cur().pos;
    e.name = next().text;
    nest_guard g(*this, cur().pos);
    next();  // (
    if (is_punct(")")) {
      next();
      return freeze(std::move(e));
    }
    for (;;) {
      if (is_punct("*") && (is_punct(",", 1) || is_punct(")", 1))) {
        expr s;
        s.kind = expr_kind::star;
        s.pos = next().pos;
        e.args.push_back(freeze(std::move(s)));
      } else if (cur().kind == tk::ident && is_punct("=", 1) && !reserved_as_reference(cur().text)) {
        std::string name = next().text;
        next();  // =
        e.named_args.emplace_back(std::move(name), parse_expr());
      } else {
        if (is_punct(",") || is_punct(")")) {
          fail(cur().pos, fmt::format("expected an argument of {}(), found {}", e.name,
                                      describe(cur())));
        }
        e.args.push_back(parse_expr_or_tabular());
      }
      if (is_punct(",")) {
        next();
        continue;
      }
      expect_punct(")", fmt::format("or ',' in the arguments of {}()", e.name));
      break;
    }
    return freeze(std::move(e));
  }

  // An expression, or a tabular expression where Kusto allows one in scalar position
  // (`in (T | project y)`, `toscalar(T | count)`, `let R = T | ...`). Returns an expr of kind
  // tabular for the latter.
  expr_ptr parse_expr_or_tabular() {
    position pos = cur().pos;
    if (at_tabular_keyword()) return wrap_tabular(parse_tabular(), pos);
    expr_ptr e = parse_expr();
    if (!is_punct("|")) return e;
    auto t = std::make_shared<tabular>();
    t->pos = e->pos;
    if (e->kind == expr_kind::name) {
      t->source = source_kind::name;
      t->name = e->name;
    } else if (e->kind == expr_kind::tabular) {
      t->source = source_kind::subquery;
      t->inner = e->subquery;
    } else {
      fail(cur().pos, "expected a table name or a parenthesised query before '|'");
    }
    nest_guard g(*this, pos);
    parse_pipes(*t);
    return wrap_tabular(std::move(t), pos);
  }

  expr_ptr wrap_tabular(tabular_ptr t, position pos) {
    expr e;
    e.kind = expr_kind::tabular;
    e.pos = pos;
    e.subquery = std::move(t);
    return freeze(std::move(e));
  }

  // int(5), real(nan), datetime(2024-01-01), guid(...), ...: literals, not calls.
  expr_ptr parse_typed(model::column_type type) {
    const token& name_tok = next();
    std::string name = name_tok.text;
    position pos = name_tok.pos;
    next();  // (
    if (cur().kind == tk::raw) {
      std::string raw = next().text;
      expect_punct(")", fmt::format("to close {}(...)", name));
      return raw_literal(type, name, raw, pos);
    }
    model::value v;
    if (is_word("null")) {
      next();
    } else {
      bool negate = false;
      bool signed_ = false;
      if (is_punct("-") || is_punct("+")) {
        negate = next().text == "-";
        signed_ = true;
      }
      const token& t = cur();
      switch (type) {
        case model::column_type::bool_:
          if (!signed_ && t.kind == tk::ident && (iequals(t.text, "true") || iequals(t.text, "false"))) {
            v = iequals(t.text, "true");
          } else if (!signed_ && t.kind == tk::integer && (t.u == 0 || t.u == 1)) {
            v = t.u == 1;
          } else {
            bad_typed(name, "true, false or null");
          }
          next();
          break;
        case model::column_type::int_:
        case model::column_type::long_: {
          if (t.kind != tk::integer) bad_typed(name, "an integer or null");
          uint64_t limit = type == model::column_type::int_
                               ? uint64_t{2147483647}
                               : static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
          if (t.overflow || t.u > limit + (negate ? 1 : 0)) {
            fail(t.pos, fmt::format("the value is out of range for {}", name));
          }
          v = negate ? static_cast<int64_t>(0 - t.u) : static_cast<int64_t>(t.u);
          next();
          break;
        }
        case model::column_type::real: {
          double d;
          if (t.kind == tk::integer) {
            d = static_cast<double>(t.u);
          } else if (t.kind == tk::real) {
            d = t.d;
          } else if (t.kind == tk::ident && (t.text == "nan" || t.text == "NaN")) {
            d = std::numeric_limits<double>::quiet_NaN();
          } else if (t.kind == tk::ident && (t.text == "inf" || t.text == "infinity")) {
            d = std::numeric_limits<double>::infinity();
          } else {
            bad_typed(name, "a number, nan, +inf, -inf or null");
          }
          v = negate ? -d : d;
          next();
          break;
        }
        case model::column_type::decimal: {
          if (t.kind != tk::integer && t.kind != tk::real) bad_typed(name, "a number or null");
          std::string text = (negate ? "-" : "") +
                             std::string(text_.substr(t.pos.offset, t.end - t.pos.offset));
          std::string out;
          if (auto problem = ingest::parse_decimal(text, out); !problem.empty()) {
            fail(t.pos, fmt::format("'{}' {}", text, problem));
          }
          v = std::move(out);
          next();
          break;
        }
        default:
          bad_typed(name, "a value");
      }
    }
    expect_punct(")", fmt::format("to close {}(...)", name));
    return literal(pos, std::move(v), type);
  }

  [[noreturn]] void bad_typed(const std::string& name, std::string_view expected) {
    fail(cur().pos,
         fmt::format("expected {} in {}(...), found {}", expected, name, describe(cur())));
  }

  expr_ptr raw_literal(model::column_type type, const std::string& name, const std::string& raw,
                       position pos) {
    std::string_view body = ingest::trim_space(raw);
    if (body == "null") return literal(pos, std::monostate{}, type);
    position inner{pos.offset, pos.line, pos.column};
    if (type == model::column_type::datetime) {
      int64_t ticks = 0;
      if (auto problem = ingest::parse_datetime(body, ticks); !problem.empty()) {
        fail(inner, fmt::format("invalid {} literal: '{}' {}", name, body, problem));
      }
      return literal(pos, ticks, type);
    }
    if (type == model::column_type::timespan) {
      int64_t ticks = 0;
      if (auto problem = ingest::parse_timespan(body, ticks); !problem.empty()) {
        fail(inner, fmt::format("invalid {} literal: '{}' {}", name, body, problem));
      }
      return literal(pos, ticks, type);
    }
    std::array<char, 36> g{};
    if (auto problem = ingest::parse_guid(body, g); !problem.empty()) {
      fail(inner, fmt::format("invalid {} literal: '{}' {}", name, body, problem));
    }
    return literal(pos, std::string(g.data(), g.size()), type);
  }

  // dynamic(<JSON>): objects, arrays, numbers, strings (either quote), true/false/null.
  expr_ptr parse_dynamic() {
    position pos = next().pos;  // dynamic
    next();                     // (
    nlohmann::ordered_json j = parse_json_value();
    expect_punct(")", "to close dynamic(...)");
    if (j.is_null()) return literal(pos, std::monostate{}, model::column_type::dynamic);
    return literal(pos, normalize_dynamic(j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace)),
                   model::column_type::dynamic);
  }

  nlohmann::ordered_json parse_json_value() {
    nest_guard g(*this, cur().pos);
    const token& t = cur();
    if (is_punct("{")) {
      next();
      auto obj = nlohmann::ordered_json::object();
      while (!is_punct("}")) {
        if (cur().kind != tk::string) {
          fail(cur().pos, fmt::format("expected a string key in dynamic({{...}}), found {}",
                                      describe(cur())));
        }
        std::string key = next().text;
        expect_punct(":", "after a key in dynamic({...})");
        obj[key] = parse_json_value();
        if (is_punct(",") && !is_punct("}", 1)) {
          next();
          continue;
        }
        if (!is_punct("}")) {
          fail(cur().pos, fmt::format("expected ',' or '}}' in dynamic({{...}}), found {}",
                                      describe(cur())));
        }
      }
      next();
      return obj;
    }
    if (is_punct("[")) {
      next();
      auto arr = nlohmann::ordered_json::array();
      while (!is_punct("]")) {
        arr.push_back(parse_json_value());
        if (is_punct(",") && !is_punct("]", 1)) {
          next();
          continue;
        }
        if (!is_punct("]")) {
          fail(cur().pos, fmt::format("expected ',' or ']' in dynamic([...]), found {}",
                                      describe(cur())));
        }
      }
      next();
      return arr;
    }
    if (t.kind == tk::string) {
      std::string s;
      while (cur().kind == tk::string) s += next().text;
      return s;
    }
    if (t.kind == tk::ident && (t.text == "true" || t.text == "false" || t.text == "null")) {
      next();
      if (t.text == "null") return nullptr;
      return t.text == "true";
    }
    bool negate = false;
    if (is_punct("-") || is_punct("+")) negate = next().text == "-";
    const token& n = cur();
    if (n.kind == tk::integer && !n.overflow) {
      next();
      constexpr uint64_t max = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
      if (n.u <= max) return negate ? -static_cast<int64_t>(n.u) : static_cast<int64_t>(n.u);
      if (negate && n.u == max + 1) return std::numeric_limits<int64_t>::min();
      return negate ? -static_cast<double>(n.u) : static_cast<double>(n.u);
    }
    if (n.kind == tk::integer || n.kind == tk::real) {
      next();
      double d = n.kind == tk::real ? n.d : static_cast<double>(n.u);
      return negate ? -d : d;
    }
    fail(n.pos, fmt::format("expected a JSON value in dynamic(...), found {}", describe(n)));
  }

  std::string_view text_;
  std::vector<token> t_;
  size_t i_ = 0;
  int nest_ = 0;
  int chain_ = 0;
};

}  // namespace

std::variant<query_ast, model::error> parse_kql(std::string_view text) {
  try {
    lexer lx(text);
    parser p(text, lx.run());
    auto q = p.parse_query();
    q.text = std::string(text);
    return q;
  } catch (const syntax_error& e) {
    return model::error{"BadRequest_SyntaxError",
                        fmt::format("Syntax error at line {}, column {}: {}", e.pos.line,
                                    e.pos.column, e.message),
                        true};
  }
}

}  // namespace tributary::query
