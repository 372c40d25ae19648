#pragma once
/// Random tables and random KQL queries, each with an SQL translation for SQLite that encodes
/// Kusto's documented semantics (reference/kql.md §2), for the differential test.
///
/// The translation carries every difference between Kusto and SQL, so that the comparison can
/// stay strict (same names, same types, same rows; reals within a relative 1e-9):
///   - `a == b` is false when exactly one side is null and null when both are; `a != b` is true
///     when exactly one side is null (kql.md §2.2). `where` keeps only true, like SQL's WHERE.
///   - `x in (c…)` is an `or` of `==`, so false for a null x; `!in` is true for a null x.
///   - strings are never null: a string the SQL side could make null (an outer join's missing
///     side, a union leg without the column) is COALESCEd to ''.
///   - `%` is never negative: ((a % k) + |k|) % |k|; `/` truncates toward zero in both.
///   - `bin(x, k)` floors toward -inf: x - (((x % k) + k) % k); datetimes are Unix-epoch ticks,
///     and the only datetime bin is 1h, which divides a day, so the 0001-01-01 anchor of
///     kql.md §2.6 gives the same bins.
///   - `has` is a whole-term match, case-insensitive, where a term is a maximal run of ASCII
///     letters and digits; the constants are single alphanumeric words (Kusto does not document
///     non-alphanumeric right-hand sides). SQLite gets it as the function kql_term(text, term,
///     mode), which also does has_cs, hasprefix and hassuffix (a term starts / ends with it).
///   - `contains`, `startswith`, `=~` are ASCII case-insensitive (SQLite's lower() is ASCII).
///   - summarize: count/countif/dcount/sum give 0 over no rows, avg is real (NaN over no rows:
///     the comparison takes NaN and null as equal in real columns), sum keeps the input's type;
///     with `by`, empty input gives no rows (GROUP BY does the same).
///   - sort: asc puts nulls first, desc nulls last (SQLite's NULLS FIRST/LAST), strings ordinal.
///   - union is kind=outer: the first leg's columns, then the new ones of the next leg.
///   - join output: the left columns, then the right ones, a clashing right name suffixed "1".
///     Null keys match nothing (kql.md §2.11, inferred). innerunique is not generated (which
///     left duplicate survives is arbitrary).
/// Queries are deterministic for their seed: the same seed gives the same text.

#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "model/types.hpp"

namespace tributary::query::testing {

using model::column_type;

struct gen_table {
  std::string name;
  std::vector<model::column> schema;
  std::vector<std::vector<model::value>> rows;
};

/// How the two results must agree.
enum class compare_mode : uint8_t {
  multiset,  ///< the same rows, in any order
  sorted,    ///< the same rows, and the `sort_keys` columns in the same sequence (ties free)
  subset,    ///< an unsorted take: min(take, SQL rows) rows, each one of SQLite's rows
  /// `top take by key`: SQLite's rows are the whole sorted input; the engine's must be its
  /// first min(take, rows) by key, any of the rows tied at the cut.
  top,
};

struct gen_query {
  std::string kql;
  std::string sql;
  std::vector<model::column> columns;  ///< Kusto's names and types for the result
  compare_mode mode = compare_mode::multiset;
  std::vector<size_t> sort_keys;       ///< for `sorted`, `top`: result columns, in sort order
  uint64_t take = 0;                   ///< for `subset`, `top`
  std::vector<std::string> join_sides;  ///< a join's left and right input as SQL (else empty)
};

/// kql_term(text, term, mode): Kusto's term operators for an alphanumeric term (see above):
/// mode 0 `has`, 1 `has_cs`, 2 `hasprefix`, 3 `hassuffix` (a term starts / ends with it).
inline void register_sqlite_functions(sqlite3* db) {
  auto term_op = [](sqlite3_context* ctx, int, sqlite3_value** argv) {
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL || sqlite3_value_type(argv[1]) == SQLITE_NULL)
      return sqlite3_result_null(ctx);
    const int mode = sqlite3_value_int(argv[2]);
    auto fold = [mode](const unsigned char* p, int n) {
      std::string s(reinterpret_cast<const char*>(p), static_cast<size_t>(n));
      if (mode != 1)
        for (auto& c : s)
          if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      return s;
    };
    const auto* tp = sqlite3_value_text(argv[0]);
    const std::string text = fold(tp, sqlite3_value_bytes(argv[0]));
    const auto* up = sqlite3_value_text(argv[1]);
    const std::string term = fold(up, sqlite3_value_bytes(argv[1]));
    auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'); };
    bool found = false;
    for (size_t i = 0; i < text.size() && !found;) {
      if (!alnum(text[i])) {
        ++i;
        continue;
      }
      size_t j = i;
      while (j < text.size() && alnum(text[j])) ++j;
      const std::string_view t(text.data() + i, j - i);
      found = mode <= 1   ? t == term
              : mode == 2 ? t.substr(0, term.size()) == term
                          : t.size() >= term.size() && t.substr(t.size() - term.size()) == term;
      i = j;
    }
    sqlite3_result_int(ctx, found ? 1 : 0);
  };
  sqlite3_create_function_v2(db, "kql_term", 3, SQLITE_UTF8 | SQLITE_DETERMINISTIC, nullptr, term_op, nullptr,
                             nullptr, nullptr);
}

/// Constructs to leave out, e.g. while an engine bug they hit is open (the test's
/// TRIBUTARY_DIFF_AVOID names them).
struct gen_options {
  /// Outer joins whose nullable side has string columns (the engine keeps those strings null).
  bool outer_join_strings = true;
  /// Rows per table at most (a sanitized build uses fewer to stay quick).
  int max_rows = 300;
};

class kql_generator {
 public:
  explicit kql_generator(uint64_t seed, gen_options options = {}) : rng_(seed), options_(options) {}

  /// 1-3 tables T0.. of 0..300 rows. Column names say their type (n long, r real, s string,
  /// t datetime, b bool) and are shared between tables, so that unions line up and joins find
  /// a key; names are letters only, so a join's "1" suffix never meets another column.
  std::vector<gen_table> tables() {
    std::vector<gen_table> out;
    const int count = pick(1, 3);
    const int most = std::max(20, options_.max_rows);
    for (int i = 0; i < count; ++i) {
      gen_table t;
      t.name = "T" + std::to_string(i);
      static const std::vector<model::column> pool{
          {"na", column_type::long_}, {"nb", column_type::long_},   {"nc", column_type::long_},
          {"ra", column_type::real},  {"rb", column_type::real},    {"sa", column_type::string},
          {"sb", column_type::string}, {"ta", column_type::datetime}, {"tb", column_type::datetime},
          {"ba", column_type::bool_}, {"bb", column_type::bool_}};
      for (const auto& c : pool)
        if (chance(0.45)) t.schema.push_back(c);
      if (t.schema.empty()) t.schema.push_back(pool[static_cast<size_t>(pick(0, 2))]);
      std::shuffle(t.schema.begin(), t.schema.end(), rng_);
      const int size_class = pick(0, 9);
      const int rows = size_class == 0 ? 0 : size_class == 1 ? 1 : size_class < 6 ? pick(2, 20) : pick(20, most);
      for (int r = 0; r < rows; ++r) {
        std::vector<model::value> row;
        for (const auto& c : t.schema) row.push_back(random_value(c.type));
        t.rows.push_back(std::move(row));
      }
      out.push_back(std::move(t));
    }
    return out;
  }

  gen_query query(const std::vector<gen_table>& tables) {
    names_ = 0;
    avoid_.clear();
    stage s = source(tables);
    const int ops = pick(0, 4);
    bool ended = false;
    for (int i = 0; i < ops && !ended; ++i) {
      const int what = pick(0, 99);
      if (what < 30) where(s);
      else if (what < 45) extend(s);
      else if (what < 55) project(s);
      else if (what < 72) summarize(s);
      else if (what < 77) distinct(s);
      else if (what < 80) count(s);
      else if (what < 85) sorted_take(s);
      else ended = finish(s);
    }
    if (!ended && chance(0.2)) finish(s);
    s.q.columns = s.cols;
    return s.q;
  }

 private:
  struct expr {
    std::string k, s;  ///< KQL, SQL
    column_type t;
  };
  struct stage {
    std::vector<model::column> cols;
    gen_query q;  ///< kql and sql so far (sql: a SELECT)
  };

  std::mt19937_64 rng_;
  gen_options options_;
  int names_ = 0;
  /// avg columns: NaN over no values, which SQLite turns into NULL; isnull() would tell them
  /// apart, so later expressions leave them alone (their values are still compared).
  std::set<std::string> avoid_;

  int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  template <typename T>
  const T& one(const std::vector<T>& v) {
    return v[static_cast<size_t>(pick(0, static_cast<int>(v.size()) - 1))];
  }

  static constexpr int64_t base_ticks = 17'040'672'000'000'000;  // 2024-01-01T00:00:00Z
  static constexpr int64_t minute = 600'000'000, hour = 36'000'000'000;

  static const std::vector<std::string>& vocabulary() {
    static const std::vector<std::string> v{"",           "alpha", "Alpha",      "beta",       "alpha beta", "beta-gamma",
                                            "GAMMA",      "delta42", "x",        "alpha.beta", "gam ma",     "Beta Alpha",
                                            "ALPHA-beta", "b"};
    return v;
  }

  model::value random_value(column_type t) {
    if (t != column_type::string && chance(0.15)) return std::monostate{};
    switch (t) {
      case column_type::long_: return int64_t{pick(-50, 50)};
      case column_type::real:
        return chance(0.8) ? pick(-80, 80) * 0.25 : std::uniform_real_distribution<double>(-100, 100)(rng_);
      case column_type::string: return one(vocabulary());
      case column_type::datetime: return base_ticks + pick(0, 3 * 24 * 60 - 1) * minute + (chance(0.1) ? pick(1, 59) * 10'000'000 : 0);
      case column_type::bool_: return chance(0.5);
      default: return std::monostate{};
    }
  }

  static std::string q(const std::string& name) { return "\"" + name + "\""; }
  std::string fresh(const std::vector<model::column>& cols) {
    for (;;) {
      std::string n = "e" + std::to_string(++names_);
      if (std::none_of(cols.begin(), cols.end(), [&](const auto& c) { return c.name == n; })) return n;
    }
  }
  static bool has_name(const std::vector<model::column>& cols, const std::string& n) {
    return std::any_of(cols.begin(), cols.end(), [&](const auto& c) { return c.name == n; });
  }
  std::vector<model::column> of_type(const std::vector<model::column>& cols, column_type t) {
    std::vector<model::column> out;
    for (const auto& c : cols)
      if (c.type == t && !avoid_.contains(c.name)) out.push_back(c);
    return out;
  }
  static std::string datetime_literal(int64_t ticks) {
    const int64_t off = (ticks - base_ticks) / 10'000'000;
    char buf[64];
    std::snprintf(buf, sizeof buf, "datetime(2024-01-%02dT%02d:%02d:%02dZ)", static_cast<int>(1 + off / 86400),
                  static_cast<int>(off / 3600 % 24), static_cast<int>(off / 60 % 60), static_cast<int>(off % 60));
    return buf;
  }

  // ---- expressions -------------------------------------------------------------------------

  expr literal(column_type t) {
    switch (t) {
      case column_type::long_: {
        const int v = pick(-20, 20);
        return {v < 0 ? "(" + std::to_string(v) + ")" : std::to_string(v), "(" + std::to_string(v) + ")", t};
      }
      case column_type::real: {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.2f", pick(-80, 80) * 0.25);
        return {std::string("(") + buf + ")", std::string("(") + buf + ")", t};
      }
      case column_type::string: {
        const auto& v = one(vocabulary());
        return {"\"" + v + "\"", "'" + v + "'", t};
      }
      case column_type::datetime: {
        const int64_t v = base_ticks + pick(0, 3 * 24 * 60 - 1) * minute;
        return {datetime_literal(v), std::to_string(v), t};
      }
      default: return chance(0.5) ? expr{"true", "1", t} : expr{"false", "0", t};
    }
  }

  /// A value of type t: a column of that type when there is one (mostly), else a literal or
  /// a computed value.
  expr value(const std::vector<model::column>& cols, column_type t, int depth) {
    const auto have = of_type(cols, t);
    if (t == column_type::bool_) return predicate(cols, depth);
    if (depth <= 0 || chance(0.45)) {
      if (!have.empty() && chance(0.8)) {
        const auto& c = one(have);
        return {c.name, q(c.name), t};
      }
      return literal(t);
    }
    switch (t) {
      case column_type::long_: {
        const int what = pick(0, 6);
        if (what <= 2) {
          const char* op = what == 0 ? "+" : what == 1 ? "-" : "*";
          auto a = value(cols, t, depth - 1), b = value(cols, t, depth - 1);
          return {"(" + a.k + " " + op + " " + b.k + ")", "(" + a.s + " " + op + " " + b.s + ")", t};
        }
        auto a = value(cols, t, depth - 1);
        int k = pick(1, 7) * (chance(0.3) ? -1 : 1);
        const std::string ks = k < 0 ? "(" + std::to_string(k) + ")" : std::to_string(k);
        if (what == 3) return {"(" + a.k + " / " + ks + ")", "(" + a.s + " / " + ks + ")", t};
        const int ak = std::abs(k);
        if (what == 4)
          return {"(" + a.k + " % " + ks + ")",
                  "(((" + a.s + " % " + std::to_string(ak) + ") + " + std::to_string(ak) + ") % " + std::to_string(ak) + ")",
                  t};
        if (what == 5) {
          const std::string kk = std::to_string(ak);
          return {"bin(" + a.k + ", " + kk + ")", "(" + a.s + " - (((" + a.s + " % " + kk + ") + " + kk + ") % " + kk + "))", t};
        }
        auto s = value(cols, column_type::string, 0);
        return {"strlen(" + s.k + ")", "length(" + s.s + ")", t};
      }
      case column_type::real: {
        const int what = pick(0, 3);
        if (what <= 2) {
          const char* op = what == 0 ? "+" : what == 1 ? "-" : "*";
          auto a = value(cols, t, depth - 1);
          auto b = value(cols, chance(0.5) ? column_type::long_ : t, depth - 1);
          if (chance(0.5)) std::swap(a, b);
          return {"(" + a.k + " " + op + " " + b.k + ")", "(" + a.s + " " + op + " " + b.s + ")", t};
        }
        auto a = value(cols, t, depth - 1);
        const std::string d = one(std::vector<std::string>{"2.0", "0.5", "(-4.0)", "3.0"});
        return {"(" + a.k + " / " + d + ")", "(" + a.s + " / " + d + ")", t};
      }
      case column_type::datetime: {
        auto a = value(cols, t, depth - 1);
        const int h = pick(-30, 30);
        return {"(" + a.k + (h < 0 ? " - " : " + ") + std::to_string(std::abs(h)) + "h)",
                "(" + a.s + " + " + std::to_string(h * hour) + ")", t};
      }
      case column_type::string: {
        auto a = value(cols, t, depth - 1);
        return chance(0.5) ? expr{"tolower(" + a.k + ")", "lower(" + a.s + ")", t}
                           : expr{"toupper(" + a.k + ")", "upper(" + a.s + ")", t};
      }
      default: return literal(t);
    }
  }

  static expr kusto_equal(const expr& a, const expr& b, bool negate) {
    // Kusto: one null side → false (== ) / true (!=); both null → null.
    const std::string one_null = negate ? "1" : "0";
    return {"(" + a.k + (negate ? " != " : " == ") + b.k + ")",
            "(CASE WHEN " + a.s + " IS NULL AND " + b.s + " IS NULL THEN NULL WHEN " + a.s + " IS NULL OR " + b.s +
                " IS NULL THEN " + one_null + " ELSE (" + a.s + (negate ? " <> " : " = ") + b.s + ") END)",
            column_type::bool_};
  }

  expr predicate(const std::vector<model::column>& cols, int depth) {
    const int what = pick(0, depth > 0 ? 11 : 8);
    const auto numeric_type = [&] {
      std::vector<column_type> ts{column_type::long_, column_type::real, column_type::datetime};
      return one(ts);
    };
    switch (what) {
      case 0: {
        const auto bools = of_type(cols, column_type::bool_);
        if (!bools.empty()) {
          const auto& b = one(bools);
          return {b.name, q(b.name), column_type::bool_};
        }
        [[fallthrough]];
      }
      case 1:
      case 2: {  // an ordering comparison or ==, != of numbers / datetimes
        const auto t = numeric_type();
        auto a = value(cols, t, depth - 1);
        auto b = t == column_type::datetime ? value(cols, t, 0)
                                            : value(cols, chance(0.5) ? column_type::long_ : column_type::real, depth - 1);
        if (chance(0.2)) b = literal(t);
        const int op = pick(0, 5);
        if (op >= 4) return kusto_equal(a, b, op == 5);
        static const char* ops[] = {"<", "<=", ">", ">="};
        return {"(" + a.k + " " + ops[op] + " " + b.k + ")", "(" + a.s + " " + ops[op] + " " + b.s + ")", column_type::bool_};
      }
      case 3: {  // isnull / isnotnull
        std::vector<column_type> ts{column_type::long_, column_type::real, column_type::datetime, column_type::bool_};
        const auto t = one(ts);
        expr a = value(cols, column_type::long_, depth - 1);
        if (t == column_type::bool_) {
          const auto bools = of_type(cols, column_type::bool_);
          if (!bools.empty()) {
            const auto& b = one(bools);
            a = {b.name, q(b.name), t};
          }
        } else {
          a = value(cols, t, depth - 1);
        }
        const bool neg = chance(0.5);
        return {std::string(neg ? "isnotnull(" : "isnull(") + a.k + ")",
                "(" + a.s + (neg ? " IS NOT NULL)" : " IS NULL)"), column_type::bool_};
      }
      case 4:
      case 5: return string_predicate(cols, depth);
      case 6: {  // in / !in
        const bool str = chance(0.5);
        auto a = value(cols, str ? column_type::string : column_type::long_, str ? 0 : depth - 1);
        std::string kl, sl;
        const int n = pick(1, 4);
        for (int i = 0; i < n; ++i) {
          auto c = literal(str ? column_type::string : column_type::long_);
          kl += (i ? ", " : "") + c.k;
          sl += (i ? ", " : "") + c.s;
        }
        const bool neg = chance(0.4);
        return {"(" + a.k + (neg ? " !in (" : " in (") + kl + "))",
                neg ? "COALESCE(" + a.s + " NOT IN (" + sl + "), 1)" : "COALESCE(" + a.s + " IN (" + sl + "), 0)",
                column_type::bool_};
      }
      case 7: {  // between
        const auto t = numeric_type();
        auto a = value(cols, t, depth - 1);
        auto lo = literal(t), hi = literal(t);
        if (t == column_type::datetime && chance(0.7)) {
          const int64_t l = base_ticks + pick(0, 3 * 24 * 60 - 1) * minute;
          const int64_t h = l + pick(0, 24 * 60) * minute;
          lo = {datetime_literal(l), std::to_string(l), t};
          hi = {datetime_literal(h), std::to_string(h), t};
        }
        const bool neg = chance(0.3);
        return {"(" + a.k + (neg ? " !between (" : " between (") + lo.k + " .. " + hi.k + "))",
                "(" + a.s + (neg ? " NOT BETWEEN " : " BETWEEN ") + lo.s + " AND " + hi.s + ")", column_type::bool_};
      }
      case 8: {  // == / != on bools (null rules as for numbers)
        const auto bools = of_type(cols, column_type::bool_);
        if (bools.empty()) return string_predicate(cols, depth);
        const auto& x = one(bools);
        const auto& y = one(bools);
        expr a{x.name, q(x.name), column_type::bool_};
        expr b = chance(0.5) ? literal(column_type::bool_) : expr{y.name, q(y.name), column_type::bool_};
        return kusto_equal(a, b, chance(0.5));
      }
      case 9:
      case 10: {
        auto a = predicate(cols, depth - 1), b = predicate(cols, depth - 1);
        const bool both = what == 9;
        return {"(" + a.k + (both ? " and " : " or ") + b.k + ")", "(" + a.s + (both ? " AND " : " OR ") + b.s + ")",
                column_type::bool_};
      }
      default: {
        auto a = predicate(cols, depth - 1);
        return {"not(" + a.k + ")", "(NOT " + a.s + ")", column_type::bool_};
      }
    }
  }

  expr string_predicate(const std::vector<model::column>& cols, int depth) {
    auto a = value(cols, column_type::string, depth > 1 ? 1 : 0);
    const int what = pick(0, 11);
    const bool neg = chance(0.3);
    const std::string bang = neg ? "!" : "";
    auto wrap = [&](std::string k, std::string s) {
      return expr{"(" + k + ")", neg ? "(NOT " + s + ")" : "(" + s + ")", column_type::bool_};
    };
    auto constant = [&](const std::vector<std::string>& v) { return one(v); };
    switch (what) {
      case 0: {
        auto b = value(cols, column_type::string, 0);
        return wrap(a.k + (neg ? " != " : " == ") + b.k, a.s + " = " + b.s);
      }
      case 1: {
        auto b = literal(column_type::string);
        return wrap(a.k + (neg ? " !~ " : " =~ ") + b.k, "lower(" + a.s + ") = lower(" + b.s + ")");
      }
      case 2:
      case 3: {
        const auto c = constant({"alpha", "ALPHA", "beta", "Gamma", "delta42", "x", "alp", "ma", "42", "b", "delta"});
        const int mode = pick(0, 3);
        static const char* ops[] = {"has", "has_cs", "hasprefix", "hassuffix"};
        return wrap(a.k + " " + bang + ops[mode] + " \"" + c + "\"",
                    "kql_term(" + a.s + ", '" + c + "', " + std::to_string(mode) + ")");
      }
      case 4:
      case 5: {
        const auto c = constant({"alp", "ETA", "a b", "-", "a", "42", ".", "Alpha", "z"});
        if (chance(0.3))
          return wrap(a.k + " " + bang + "contains_cs \"" + c + "\"", "instr(" + a.s + ", '" + c + "') > 0");
        return wrap(a.k + " " + bang + "contains \"" + c + "\"", "instr(lower(" + a.s + "), lower('" + c + "')) > 0");
      }
      case 6:
      case 7: {
        const auto c = constant({"al", "Beta", "g", "x", "alpha ", "ALPHA", "b"});
        const bool cs = chance(0.3);
        const std::string n = std::to_string(c.size());
        return wrap(a.k + " " + bang + "startswith" + (cs ? "_cs" : "") + " \"" + c + "\"",
                    cs ? "substr(" + a.s + ", 1, " + n + ") = '" + c + "'"
                       : "substr(lower(" + a.s + "), 1, " + n + ") = lower('" + c + "')");
      }
      case 8: {
        const auto c = constant({"a", "Beta", "ma", "42", "-beta", "x", "ALPHA"});
        const bool cs = chance(0.3);
        const std::string n = std::to_string(c.size());
        // substr(x, -n) is all of x when x is shorter, which then differs from c: as wanted.
        return wrap(a.k + " " + bang + "endswith" + (cs ? "_cs" : "") + " \"" + c + "\"",
                    cs ? "substr(" + a.s + ", -" + n + ") = '" + c + "'"
                       : "substr(lower(" + a.s + "), -" + n + ") = lower('" + c + "')");
      }
      case 9: {  // in~ / !in~, =~ / !~ between columns
        if (chance(0.5)) {
          auto b = value(cols, column_type::string, 0);
          return wrap(a.k + (neg ? " !~ " : " =~ ") + b.k, "lower(" + a.s + ") = lower(" + b.s + ")");
        }
        std::string kl, sl;
        const int n = pick(1, 3);
        for (int i = 0; i < n; ++i) {
          auto c = literal(column_type::string);
          kl += (i ? ", " : "") + c.k;
          sl += (i ? ", " : "") + std::string("lower(") + c.s + ")";
        }
        return wrap(a.k + (neg ? " !in~ (" : " in~ (") + kl + ")", "lower(" + a.s + ") IN (" + sl + ")");
      }
      default:
        return {std::string(neg ? "isnotempty(" : "isempty(") + a.k + ")", "(" + a.s + (neg ? " <> '')" : " = '')"),
                column_type::bool_};
    }
  }

  // ---- sources -------------------------------------------------------------------------------

  static std::string select_all(const std::vector<model::column>& cols) {
    std::string out;
    for (const auto& c : cols) out += (out.empty() ? "" : ", ") + q(c.name);
    return out;
  }

  stage plain(const gen_table& t) {
    stage s;
    s.cols = t.schema;
    s.q.kql = t.name;
    s.q.sql = "SELECT " + select_all(t.schema) + " FROM " + q(t.name);
    return s;
  }

  stage source(const std::vector<gen_table>& tables) {
    const int what = tables.size() > 1 ? pick(0, 9) : 0;
    if (what < 5) return plain(one(tables));
    if (what < 7) {  // union (kind=outer), sometimes with a source column
      std::vector<const gen_table*> legs{&one(tables), &one(tables)};
      if (chance(0.2)) legs.push_back(&one(tables));
      stage s;
      const bool source = chance(0.3);
      if (source) s.cols.push_back({"src", column_type::string});
      for (const auto* t : legs)
        for (const auto& c : t->schema)
          if (!has_name(s.cols, c.name)) s.cols.push_back(c);
      auto leg = [&](const gen_table& t) {
        std::string list;
        for (const auto& c : s.cols) {
          const bool here = has_name(t.schema, c.name);
          std::string v = source && c.name == "src" ? "'" + t.name + "' AS \"src\""
                          : here                    ? q(c.name)
                                                    : std::string(c.type == column_type::string ? "''" : "NULL") + " AS " + q(c.name);
          list += (list.empty() ? "" : ", ") + v;
        }
        return "SELECT " + list + " FROM " + q(t.name);
      };
      s.q.kql = source ? "union withsource=src " : "union ";
      for (size_t i = 0; i < legs.size(); ++i) {
        s.q.kql += (i ? ", " : "") + legs[i]->name;
        s.q.sql += (i ? " UNION ALL " : "") + leg(*legs[i]);
      }
      return s;
    }
    return join(tables);
  }

  stage join(const std::vector<gen_table>& tables) {
    const auto& lt = one(tables);
    const auto& rt = one(tables);
    std::vector<model::column> keys;
    for (const auto& c : lt.schema)
      if (c.type != column_type::real && c.type != column_type::bool_ && has_name(rt.schema, c.name)) keys.push_back(c);
    if (keys.empty()) return plain(lt);
    stage l = plain(lt), r = plain(rt);
    // The condition: one or two shared names, or $left.a == $right.b of one type.
    std::vector<std::pair<std::string, std::string>> on_keys;
    std::string on_kql;
    const int shape = pick(0, 9);
    bool unique_left = false;
    if (shape < 6) {
      const auto key = one(keys);
      on_keys.push_back({key.name, key.name});
      on_kql = key.name;
      unique_left = shape == 0;
    } else if (shape < 8) {
      auto a = one(keys), b = one(keys);
      on_keys.push_back({a.name, a.name});
      on_kql = a.name;
      if (b.name != a.name) {
        on_keys.push_back({b.name, b.name});
        on_kql += ", " + b.name;
      }
    } else {
      const auto a = one(keys);
      const auto rs = of_type(rt.schema, a.type);
      const auto& b = one(rs);
      on_keys.push_back({a.name, b.name});
      on_kql = "$left." + a.name + " == $right." + b.name;
    }
    if (unique_left) {
      // innerunique (the default kind) keeps one left row per key, whichever it likes: a left
      // side already unique on the key makes the result determined.
      const auto& key = on_keys.front().first;
      const auto kt = std::find_if(lt.schema.begin(), lt.schema.end(), [&](const auto& c) { return c.name == key; })->type;
      l.cols = {{key, kt}, {"count_", column_type::long_}};
      l.q.kql = lt.name + " | summarize count() by " + key;
      l.q.sql = "SELECT " + q(key) + ", COUNT(*) AS \"count_\" FROM " + q(lt.name) + " GROUP BY " + q(key);
    }
    if (chance(0.4)) where(l);
    if (chance(0.4)) where(r);
    std::string on;
    for (const auto& [a, b] : on_keys) on += (on.empty() ? "" : " AND ") + std::string("l.") + q(a) + " = r." + q(b);
    static const std::vector<std::string> kinds{"inner", "leftouter", "leftsemi", "leftanti", "rightsemi",
                                                "rightanti", "rightouter", "fullouter"};
    auto kind = unique_left ? std::string(chance(0.5) ? "innerunique" : "") : one(kinds);
    auto strings = [](const stage& x) {
      return std::any_of(x.cols.begin(), x.cols.end(), [](const auto& c) { return c.type == column_type::string; });
    };
    if (!options_.outer_join_strings && (((kind == "leftouter" || kind == "fullouter") && strings(r)) ||
                                         ((kind == "rightouter" || kind == "fullouter") && strings(l))))
      kind = "inner";
    stage s;
    s.q.join_sides = {l.q.sql, r.q.sql};
    s.q.kql = l.q.kql + " | join " + (kind.empty() ? "" : "kind=" + kind + " ") + "(" + r.q.kql + ") on " + on_kql;
    if (kind == "leftsemi" || kind == "leftanti" || kind == "rightsemi" || kind == "rightanti") {
      const bool left = kind[0] == 'l';
      const auto& keep = left ? l : r;
      const char* side = left ? "l." : "r.";
      s.cols = keep.cols;
      std::string list;
      for (const auto& c : keep.cols) list += (list.empty() ? "" : ", ") + std::string(side) + q(c.name);
      s.q.sql = "SELECT " + list + " FROM (" + keep.q.sql + ") AS " + side[0] + " WHERE " +
                (kind.find("semi") != std::string::npos ? "" : "NOT ") + "EXISTS (SELECT 1 FROM (" +
                (left ? r : l).q.sql + ") AS " + (left ? 'r' : 'l') + " WHERE " + on + ")";
      return s;
    }
    const bool left_nullable = kind == "rightouter" || kind == "fullouter";
    const bool right_nullable = kind == "leftouter" || kind == "fullouter";
    std::string list;
    auto add = [&](const model::column& c, const std::string& side, bool nullable, const std::string& name) {
      const std::string ref = side + "." + q(c.name);
      list += (list.empty() ? "" : ", ") +
              (nullable && c.type == column_type::string ? "COALESCE(" + ref + ", '')" : ref) + " AS " + q(name);
      s.cols.push_back({name, c.type});
    };
    for (const auto& c : l.cols) add(c, "l", left_nullable, c.name);
    for (const auto& c : r.cols) add(c, "r", right_nullable, has_name(l.cols, c.name) ? c.name + "1" : c.name);
    const std::string how = kind == "inner" || kind == "innerunique" || kind.empty() ? " JOIN "
                            : kind == "leftouter"  ? " LEFT JOIN "
                            : kind == "rightouter" ? " RIGHT JOIN "
                                                   : " FULL JOIN ";
    s.q.sql = "SELECT " + list + " FROM (" + l.q.sql + ") AS l" + how + "(" + r.q.sql + ") AS r ON " + on;
    return s;
  }

  // ---- operators ---------------------------------------------------------------------------

  void where(stage& s) {
    auto p = predicate(s.cols, pick(1, 3));
    s.q.kql += " | where " + p.k;
    s.q.sql = "SELECT * FROM (" + s.q.sql + ") WHERE " + p.s;
  }

  std::vector<column_type> value_types() {
    return {column_type::long_, column_type::long_, column_type::real, column_type::string, column_type::datetime,
            column_type::bool_};
  }

  void extend(stage& s) {
    const int n = pick(1, 2);
    std::string kl, sl;
    auto cols = s.cols;
    std::vector<std::string> sel;
    for (const auto& c : cols) sel.push_back(q(c.name));
    for (int i = 0; i < n; ++i) {
      const auto t = one(value_types());
      auto e = value(s.cols, t, pick(0, 2));
      std::string name = fresh(cols);
      // Sometimes replace a column of the same type: Kusto keeps it in place (kql.md §2.4).
      const auto same = of_type(s.cols, t);
      if (i == n - 1 && !same.empty() && chance(0.15)) name = one(same).name;
      kl += (i ? ", " : "") + name + " = " + e.k;
      bool replaced = false;
      for (size_t j = 0; j < cols.size(); ++j)
        if (cols[j].name == name) {
          // Only the last assignment replaces: a later one would see the new value in Kusto.
          sel[j] = e.s + " AS " + q(name);
          replaced = true;
        }
      if (!replaced) {
        cols.push_back({name, t});
        sel.push_back(e.s + " AS " + q(name));
      }
      // Expressions read only the input's columns, never an earlier assignment of this extend.
    }
    std::string list;
    for (const auto& x : sel) list += (list.empty() ? "" : ", ") + x;
    s.q.kql += " | extend " + kl;
    s.q.sql = "SELECT " + list + " FROM (" + s.q.sql + ")";
    s.cols = cols;
  }

  void project(stage& s) {
    if (s.cols.size() > 1 && chance(0.25)) {  // project-away: the rest keep their order
      const auto& gone = one(s.cols);
      std::vector<model::column> out;
      for (const auto& c : s.cols)
        if (c.name != gone.name) out.push_back(c);
      s.q.kql += " | project-away " + gone.name;
      s.q.sql = "SELECT " + select_all(out) + " FROM (" + s.q.sql + ")";
      s.cols = out;
      return;
    }
    if (chance(0.2)) {  // project-rename: in place
      auto& c = s.cols[static_cast<size_t>(pick(0, static_cast<int>(s.cols.size()) - 1))];
      const std::string name = fresh(s.cols);
      std::string sl;
      for (const auto& x : s.cols)
        sl += (sl.empty() ? "" : ", ") + q(x.name) + (x.name == c.name ? " AS " + q(name) : "");
      s.q.kql += " | project-rename " + name + " = " + c.name;
      s.q.sql = "SELECT " + sl + " FROM (" + s.q.sql + ")";
      if (avoid_.contains(c.name)) avoid_.insert(name);
      c.name = name;
      return;
    }
    auto cols = s.cols;
    std::shuffle(cols.begin(), cols.end(), rng_);
    cols.resize(static_cast<size_t>(pick(1, static_cast<int>(cols.size()))));
    std::string kl, sl;
    std::vector<model::column> out;
    for (const auto& c : cols) {
      kl += (kl.empty() ? "" : ", ") + c.name;
      sl += (sl.empty() ? "" : ", ") + q(c.name);
      out.push_back(c);
    }
    if (chance(0.4)) {
      const auto t = one(value_types());
      auto e = value(s.cols, t, pick(1, 2));
      const std::string name = fresh(s.cols);
      kl += ", " + name + " = " + e.k;
      sl += ", " + e.s + " AS " + q(name);
      out.push_back({name, t});
    }
    s.q.kql += " | project " + kl;
    s.q.sql = "SELECT " + sl + " FROM (" + s.q.sql + ")";
    s.cols = out;
  }

  void summarize(stage& s) {
    std::vector<model::column> out;
    std::string kkeys, skeys, sgroup;
    const int nkeys = pick(0, 2);
    for (int i = 0; i < nkeys; ++i) {
      const auto& c = one(s.cols);
      std::string k, e;
      if (c.type == column_type::long_ && chance(0.4)) {
        const int b = one(std::vector<int>{1, 3, 5, 10, 25});
        k = "bin(" + c.name + ", " + std::to_string(b) + ")";
        e = "(" + q(c.name) + " - (((" + q(c.name) + " % " + std::to_string(b) + ") + " + std::to_string(b) + ") % " +
            std::to_string(b) + "))";
      } else if (c.type == column_type::datetime && chance(0.6)) {
        k = "bin(" + c.name + ", 1h)";
        e = "(" + q(c.name) + " - (((" + q(c.name) + " % " + std::to_string(hour) + ") + " + std::to_string(hour) +
            ") % " + std::to_string(hour) + "))";
      } else if (c.type == column_type::real && chance(0.5)) {
        k = "bin(" + c.name + ", 2.5)";
        e = "(floor(" + q(c.name) + " / 2.5) * 2.5)";
      } else if (c.type == column_type::real || c.type == column_type::dynamic ||
                 (c.type == column_type::long_ && chance(0.4))) {
        // Raw real keys would make few groups; dynamic ones Kusto refuses (KS116). A computed
        // key needs a name.
        const auto t = chance(0.7) ? column_type::long_ : column_type::string;
        auto x = value(s.cols, t, 1);
        const std::string name = fresh(out);
        kkeys += (kkeys.empty() ? "" : ", ") + name + " = " + x.k;
        skeys += (skeys.empty() ? "" : ", ") + x.s + " AS " + q(name);
        // An integer literal in GROUP BY would name a result column: make it an expression.
        sgroup += (sgroup.empty() ? "" : ", ") + (t == column_type::long_ ? "(" + x.s + " + 0)" : x.s);
        out.push_back({name, t});
        continue;
      } else {
        k = c.name;
        e = q(c.name);
      }
      std::string name = c.name;
      if (has_name(out, name)) {
        name = fresh(out);
        k = name + " = " + k;
      }
      kkeys += (kkeys.empty() ? "" : ", ") + k;
      skeys += (skeys.empty() ? "" : ", ") + e + " AS " + q(name);
      sgroup += (sgroup.empty() ? "" : ", ") + e;
      out.push_back({name, c.type});
    }
    std::string kaggs, saggs;
    const int naggs = pick(1, 3);
    for (int i = 0; i < naggs; ++i) {
      std::string k, e, name;
      column_type t = column_type::long_;
      bool nan = false;
      const int what = pick(0, 10);
      auto column_of = [&](std::vector<column_type> ts) -> const model::column* {
        std::vector<const model::column*> fit;
        for (const auto& c : s.cols)
          if (std::find(ts.begin(), ts.end(), c.type) != ts.end() && !avoid_.contains(c.name)) fit.push_back(&c);
        return fit.empty() ? nullptr : fit[static_cast<size_t>(pick(0, static_cast<int>(fit.size()) - 1))];
      };
      const model::column* c = nullptr;
      if (what >= 2) {
        c = column_of(what <= 3   ? std::vector{column_type::long_, column_type::real}
                      : what <= 5 ? std::vector{column_type::long_, column_type::real, column_type::datetime}
                      : what == 6 ? std::vector{column_type::long_, column_type::string, column_type::datetime}
                      : what <= 8 ? std::vector{column_type::long_, column_type::string}
                      : what == 9 ? std::vector{column_type::long_, column_type::real}
                                  : std::vector{column_type::long_, column_type::string, column_type::datetime});
      }
      if (what == 0 || (what >= 2 && c == nullptr)) {
        k = "count()", e = "COUNT(*)", name = "count_";
      } else if (what == 1) {
        auto p = predicate(s.cols, 1);
        k = "countif(" + p.k + ")", e = "COALESCE(SUM(CASE WHEN " + p.s + " THEN 1 ELSE 0 END), 0)", name = "countif_";
      } else if (what == 2) {
        t = c->type;
        k = "sum(" + c->name + ")";
        e = "COALESCE(SUM(" + q(c->name) + "), " + (t == column_type::real ? "0.0" : "0") + ")";
        name = "sum_" + c->name;
      } else if (what == 3) {
        t = column_type::real;
        k = "avg(" + c->name + ")", e = "AVG(" + q(c->name) + ")", name = "avg_" + c->name;
        nan = true;
      } else if (what <= 5) {
        t = c->type;
        const bool mn = what == 4;
        k = std::string(mn ? "min(" : "max(") + c->name + ")";
        e = std::string(mn ? "MIN(" : "MAX(") + q(c->name) + ")";
        name = std::string(mn ? "min_" : "max_") + c->name;
      } else if (what == 6) {
        k = "dcount(" + c->name + ")", e = "COUNT(DISTINCT " + q(c->name) + ")", name = "dcount_" + c->name;
      } else if (what == 9) {
        t = c->type;
        auto p = predicate(s.cols, 1);
        k = "sumif(" + c->name + ", " + p.k + ")";
        e = "COALESCE(SUM(CASE WHEN " + p.s + " THEN " + q(c->name) + " END), " + (t == column_type::real ? "0.0" : "0") + ")";
        name = "sumif_" + c->name;
      } else if (what == 10) {
        auto p = predicate(s.cols, 1);
        k = "dcountif(" + c->name + ", " + p.k + ")";
        e = "COUNT(DISTINCT CASE WHEN " + p.s + " THEN " + q(c->name) + " END)";
        name = "dcountif_" + c->name;
      } else {
        t = column_type::dynamic;
        k = "make_set(" + c->name + ")";
        e = "json_group_array(DISTINCT " + q(c->name) + ") FILTER (WHERE " + q(c->name) + " IS NOT NULL)";
        name = "set_" + c->name;
      }
      if (has_name(out, name) || chance(0.15)) {
        name = fresh(out);
        k = name + " = " + k;
      }
      if (nan) avoid_.insert(name);
      kaggs += (kaggs.empty() ? "" : ", ") + k;
      saggs += (saggs.empty() ? "" : ", ") + e + " AS " + q(name);
      out.push_back({name, t});
    }
    // Kusto puts the keys first; the generator wrote the names in that order already, but the
    // aggregates were pushed after the keys, so `out` is in Kusto's order.
    s.q.kql += " | summarize " + kaggs + (kkeys.empty() ? "" : " by " + kkeys);
    s.q.sql = "SELECT " + (skeys.empty() ? "" : skeys + ", ") + saggs + " FROM (" + s.q.sql + ")" +
              (sgroup.empty() ? "" : " GROUP BY " + sgroup);
    s.cols = out;
  }

  void distinct(stage& s) {
    auto cols = s.cols;
    std::erase_if(cols, [](const auto& c) { return c.type == column_type::dynamic; });
    if (cols.empty()) return;
    if (cols.size() == s.cols.size() && chance(0.3)) {
      s.q.kql += " | distinct *";
      s.q.sql = "SELECT DISTINCT * FROM (" + s.q.sql + ")";
      return;
    }
    std::shuffle(cols.begin(), cols.end(), rng_);
    cols.resize(static_cast<size_t>(pick(1, static_cast<int>(cols.size()))));
    std::string kl, sl;
    for (const auto& c : cols) {
      kl += (kl.empty() ? "" : ", ") + c.name;
      sl += (sl.empty() ? "" : ", ") + q(c.name);
    }
    s.q.kql += " | distinct " + kl;
    s.q.sql = "SELECT DISTINCT " + sl + " FROM (" + s.q.sql + ")";
    s.cols = cols;
  }

  void count(stage& s) {
    s.q.kql += " | count";
    s.q.sql = "SELECT COUNT(*) AS \"Count\" FROM (" + s.q.sql + ")";
    s.cols = {{"Count", column_type::long_}};
  }

  static bool sortable(column_type t) {
    return t == column_type::long_ || t == column_type::real || t == column_type::string || t == column_type::datetime;
  }

  /// Drops the columns that cannot be sort keys, so that a sort over the rest is total.
  void keep_sortable(stage& s) {
    if (std::all_of(s.cols.begin(), s.cols.end(), [](const auto& c) { return sortable(c.type); })) return;
    std::vector<model::column> cols;
    for (const auto& c : s.cols)
      if (sortable(c.type)) cols.push_back(c);
    if (cols.empty()) {
      count(s);
      return;
    }
    std::string kl, sl;
    for (const auto& c : cols) {
      kl += (kl.empty() ? "" : ", ") + c.name;
      sl += (sl.empty() ? "" : ", ") + q(c.name);
    }
    s.q.kql += " | project " + kl;
    s.q.sql = "SELECT " + sl + " FROM (" + s.q.sql + ")";
    s.cols = cols;
  }

  /// Sort keys over `cols` (all of them when `total`), in KQL and SQL, with their positions.
  std::pair<std::string, std::string> sort_keys(const std::vector<model::column>& cols, bool total,
                                                std::vector<size_t>& positions) {
    std::vector<size_t> idx;
    for (size_t i = 0; i < cols.size(); ++i)
      if (sortable(cols[i].type)) idx.push_back(i);
    std::shuffle(idx.begin(), idx.end(), rng_);
    if (!total && !idx.empty()) idx.resize(static_cast<size_t>(pick(1, static_cast<int>(idx.size()))));
    std::string kl, sl;
    for (size_t i : idx) {
      const int dir = pick(0, 2);  // 0: default (desc), 1: asc, 2: desc
      const bool asc = dir == 1;
      const int nulls = pick(0, 3);  // 0,1: default; 2: first; 3: last
      const bool nulls_first = nulls == 2 || (nulls < 2 && asc);
      kl += (kl.empty() ? "" : ", ") + cols[i].name + (dir == 1 ? " asc" : dir == 2 ? " desc" : "") +
            (nulls == 2 ? " nulls first" : nulls == 3 ? " nulls last" : "");
      sl += (sl.empty() ? "" : ", ") + q(cols[i].name) + (asc ? " ASC" : " DESC") + (nulls_first ? " NULLS FIRST" : " NULLS LAST");
      positions.push_back(i);
    }
    return {kl, sl};
  }

  /// `sort by <every column> | take n` in the middle of a pipeline: a total order, so the rows
  /// kept are determined. (`top` takes one key: used here only when one column is left.)
  void sorted_take(stage& s) {
    keep_sortable(s);
    std::vector<size_t> pos;
    auto [kl, sl] = sort_keys(s.cols, true, pos);
    const int n = pick(0, 30);
    s.q.kql += s.cols.size() == 1 && chance(0.5) ? " | top " + std::to_string(n) + " by " + kl
                                                 : " | sort by " + kl + " | take " + std::to_string(n);
    s.q.sql = "SELECT * FROM (" + s.q.sql + ") ORDER BY " + sl + " LIMIT " + std::to_string(n);
  }

  /// The last operator: a sort (any keys), a total top, or an unsorted take. True when added.
  bool finish(stage& s) {
    const int what = pick(0, 2);
    if (what == 0) {
      std::vector<size_t> pos;
      auto [kl, sl] = sort_keys(s.cols, false, pos);
      if (pos.empty()) return false;
      s.q.kql += " | " + std::string(chance(0.5) ? "sort" : "order") + " by " + kl;
      s.q.sql = "SELECT * FROM (" + s.q.sql + ") ORDER BY " + sl;
      s.q.mode = compare_mode::sorted;
      s.q.sort_keys = pos;
      return true;
    }
    if (what == 1) {  // top n by one key: ties at the cut are compared as such
      std::vector<size_t> pos;
      auto [kl, sl] = sort_keys(s.cols, false, pos);
      if (pos.empty()) return false;
      pos.resize(1);
      std::tie(kl, sl) = std::pair{kl.substr(0, kl.find(',')), sl.substr(0, sl.find(','))};
      const int n = pick(0, 30);
      s.q.kql += " | top " + std::to_string(n) + " by " + kl;
      s.q.sql = "SELECT * FROM (" + s.q.sql + ") ORDER BY " + sl;
      s.q.mode = compare_mode::top;
      s.q.sort_keys = pos;
      s.q.take = static_cast<uint64_t>(n);
      return true;
    }
    const int n = pick(0, 30);
    s.q.kql += std::string(chance(0.5) ? " | take " : " | limit ") + std::to_string(n);
    s.q.mode = compare_mode::subset;
    s.q.take = static_cast<uint64_t>(n);
    return true;
  }
};

}  // namespace tributary::query::testing
