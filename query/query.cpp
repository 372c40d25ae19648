#include "query/query.hpp"

#include <cctype>
#include <charconv>
#include <fmt/format.h>

namespace tributary::query {
namespace {

constexpr const char* supported =
    "supported queries: T | count, T | take N, T | where ingestion_time() > ago(5m) | count, each optionally "
    "after set best_effort=true;";

class cursor {
 public:
  explicit cursor(std::string_view text) : text_(text) {}

  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool at_end() {
    skip_space();
    return pos_ >= text_.size();
  }
  bool eat(std::string_view token) {
    skip_space();
    if (text_.substr(pos_, token.size()) != token) return false;
    // A word token must not be the prefix of a longer word.
    if (std::isalpha(static_cast<unsigned char>(token.back())) && pos_ + token.size() < text_.size() &&
        (std::isalnum(static_cast<unsigned char>(text_[pos_ + token.size()])) || text_[pos_ + token.size()] == '_'))
      return false;
    pos_ += token.size();
    return true;
  }
  std::optional<std::string> name() {
    skip_space();
    if (eat("['") || eat("[\"")) {
      char quote = text_[pos_ - 1];
      auto end = text_.find(quote, pos_);
      if (end == std::string_view::npos || end + 1 >= text_.size() || text_[end + 1] != ']') return std::nullopt;
      std::string n(text_.substr(pos_, end - pos_));
      pos_ = end + 2;
      return n;
    }
    size_t start = pos_;
    while (pos_ < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '_')) ++pos_;
    if (start == pos_ || std::isdigit(static_cast<unsigned char>(text_[start]))) {
      pos_ = start;
      return std::nullopt;
    }
    return std::string(text_.substr(start, pos_ - start));
  }
  std::optional<uint64_t> number() {
    skip_space();
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(text_.data() + pos_, text_.data() + text_.size(), v);
    if (ec != std::errc()) return std::nullopt;
    pos_ = static_cast<size_t>(p - text_.data());
    return v;
  }
  // Kusto timespan literal: <number><unit>, unit d, h, m, s, ms, microsecond, tick.
  std::optional<int64_t> timespan() {
    auto n = number();
    if (!n) return std::nullopt;
    static const std::pair<const char*, int64_t> units[] = {
        {"ms", 10'000}, {"d", 864'000'000'000}, {"h", 36'000'000'000}, {"m", 600'000'000},
        {"s", 10'000'000}};
    for (const auto& [u, ticks] : units) {
      if (text_.substr(pos_, std::string_view(u).size()) == u) {
        pos_ += std::string_view(u).size();
        if (*n > static_cast<uint64_t>(INT64_MAX / ticks)) return std::nullopt;
        return static_cast<int64_t>(*n) * ticks;
      }
    }
    return std::nullopt;
  }
  size_t position() const { return pos_; }
  model::error error_at(size_t pos, std::string_view what) const {
    return {"BadRequest_SyntaxError", fmt::format("Syntax error at position {}: {}", pos + 1, what), true};
  }
  model::error error(std::string_view expected) {
    skip_space();
    auto found = pos_ >= text_.size() ? std::string("end of query")
                                      : fmt::format("'{}'", text_.substr(pos_, std::min<size_t>(20, text_.size() - pos_)));
    return {"BadRequest_SyntaxError",
            fmt::format("Syntax error at position {}: expected {}, found {}; {}", pos_ + 1, expected, found, supported),
            true};
  }

 private:
  std::string_view text_;
  size_t pos_ = 0;
};

// Kusto's set statements before the query: `set name[=value];`, each ending with ';'. Option
// names are case-sensitive, as in Kusto.
std::optional<model::error> parse_set_statements(cursor& c, plan& p) {
  while (c.eat("set")) {
    c.skip_space();
    const size_t at = c.position();
    auto option = c.name();
    if (!option) return c.error("an option name after set, as in set best_effort=true;");
    if (*option != "best_effort")
      return c.error_at(at, fmt::format("the query sets option '{}', which this node does not support; the "
                                        "supported option is best_effort (set best_effort=true;)",
                                        *option));
    bool value = true;
    if (c.eat("=")) {
      if (c.eat("true") || c.eat("True") || c.eat("TRUE")) value = true;
      else if (c.eat("false") || c.eat("False") || c.eat("FALSE")) value = false;
      else return c.error("true or false as the value of best_effort");
    }
    if (!c.eat(";")) return c.error("';' after the set statement");
    p.best_effort = value;
  }
  return std::nullopt;
}

}  // namespace

std::variant<plan, model::error> parse(std::string_view text) {
  cursor c(text);
  plan p;
  if (auto e = parse_set_statements(c, p)) return *e;
  auto table = c.name();
  if (!table) return c.error("a table name");
  p.table = *table;
  bool done = false;
  while (!c.at_end()) {
    if (done) return c.error("end of query after count");
    if (!c.eat("|")) return c.error("'|'");
    if (c.eat("count")) {
      p.what = plan::op::count;
      done = true;
    } else if (c.eat("take") || c.eat("limit")) {
      auto n = c.number();
      if (!n) return c.error("a row count after take");
      p.take = std::min(p.take, *n);
    } else if (c.eat("where")) {
      if (!c.eat("ingestion_time") || !c.eat("(") || !c.eat(")")) return c.error("ingestion_time()");
      if (!c.eat(">")) return c.error("'>'");
      if (!c.eat("ago") || !c.eat("(")) return c.error("ago(<timespan>)");
      auto ts = c.timespan();
      if (!ts) return c.error("a timespan such as 5m, 1h, 30s, 1d or 100ms");
      if (!c.eat(")")) return c.error("')'");
      p.ingested_within_ticks = std::min(p.ingested_within_ticks.value_or(INT64_MAX), *ts);
    } else {
      return c.error("count, take N or where ingestion_time() > ago(...)");
    }
  }
  return p;
}

}  // namespace tributary::query
