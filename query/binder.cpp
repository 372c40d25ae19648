// The binder: a syntax tree (ast.hpp) becomes a plan (plan.hpp). Names resolve to column
// indexes, every expression gets Kusto's type, functions and aggregates are bound, constants are
// folded, result columns get Kusto's names. Errors are BadRequest_SemanticError (or
// BadRequest_TableNotExist) naming the thing, where it is, and a close name when there is one.

#include "query/binder.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include <re2/re2.h>

#include "ingest/convert.hpp"
#include "query/functions_internal.hpp"
#include "query/parser.hpp"

namespace tributary::query {
namespace {

using model::column_type;

struct bind_failure {
  model::error error;
};

[[noreturn]] void fail_at(const position& p, const std::string& message) {
  throw bind_failure{{"BadRequest_SemanticError",
                      fmt::format("Semantic error at line {}, column {}: {}", p.line, p.column, message), true}};
}

// Levenshtein distance, capped: enough to suggest a close name.
size_t distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      const bool same = std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                        std::tolower(static_cast<unsigned char>(b[j - 1]));
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (same ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

template <typename Names>
std::string suggestion(std::string_view name, const Names& names) {
  std::string best;
  size_t best_distance = std::max<size_t>(2, name.size() / 3) + 1;
  for (const auto& n : names) {
    const size_t d = distance(name, n);
    if (d < best_distance) {
      best_distance = d;
      best = std::string(n);
    }
  }
  return best.empty() ? "" : fmt::format(" (did you mean '{}'?)", best);
}

bool is_numeric(column_type t) {
  return t == column_type::int_ || t == column_type::long_ || t == column_type::real;
}

struct scope_column {
  std::string name;
  column_type type = column_type::string;
  // The table column it is, unchanged; -1 for anything computed; -2 - k for a union's output
  // column, whose use reads the leg columns in the binder's feeds_[k].
  int origin = -1;
};
using scope = std::vector<scope_column>;

std::vector<model::column> schema_of(const scope& s) {
  std::vector<model::column> out;
  out.reserve(s.size());
  for (const auto& c : s) out.push_back({c.name, c.type});
  return out;
}

// Kusto makes a name unique by appending 1, 2, ...: count_, count_1; dcount_Level, dcount_Level1.
std::string unique_name(const std::string& name, const std::set<std::string>& taken) {
  if (!taken.count(name)) return name;
  for (int i = 1;; ++i) {
    auto candidate = name + std::to_string(i);
    if (!taken.count(candidate)) return candidate;
  }
}

// A name pattern of project-away/keep/reorder: '*' matches any run of characters.
bool matches_pattern(std::string_view pattern, std::string_view name) {
  if (pattern.empty()) return name.empty();
  if (pattern[0] == '*') {
    for (size_t i = 0; i <= name.size(); ++i)
      if (matches_pattern(pattern.substr(1), name.substr(i))) return true;
    return false;
  }
  return !name.empty() && pattern[0] == name[0] && matches_pattern(pattern.substr(1), name.substr(1));
}

// The name Kusto gives an unnamed expression: a column's own, d.a.b → d_a_b, d['x'] → d_x,
// conversions their argument's, some functions theirs and their argument's; "" for the rest
// (Column1, Column2, ... or print_0, ...).
std::string expression_name(const expr& e) {
  switch (e.kind) {
    case expr_kind::name: return e.name;
    case expr_kind::member: {
      auto base = e.operand ? expression_name(*e.operand) : "";
      return base.empty() ? "" : base + "_" + e.name;
    }
    case expr_kind::index: {
      auto base = e.operand ? expression_name(*e.operand) : "";
      if (base.empty() || e.args.empty()) return "";
      // A computed index (d[Level], d[tostring(x)]) leaves the key out: d_ (Kusto.Language).
      if (e.args[0]->kind != expr_kind::literal) return base + "_";
      const auto& v = e.args[0]->value;
      if (const auto* s = std::get_if<std::string>(&v)) return base + "_" + *s;
      if (const auto* i = std::get_if<int64_t>(&v)) return base + "_" + std::to_string(*i);
      return "";
    }
    case expr_kind::call: {
      if (e.name == "ingestion_time" && e.args.empty()) return "$IngestionTime";  // as Kusto names it
      const auto* f = find_scalar_function(e.name);
      if (!f || e.args.empty()) return "";
      if (f->naming == result_naming::first_argument) return expression_name(*e.args[0]);
      if (f->naming == result_naming::function_and_argument) {
        auto arg = expression_name(*e.args[0]);
        // gettype(Value) is type_Value: some functions name after a prefix of their own.
        const std::string prefix = f->result_prefix.empty() ? e.name : std::string(f->result_prefix);
        return arg.empty() ? "" : prefix + "_" + arg;
      }
      return "";
    }
    default: return "";
  }
}

std::string describe(column_type t) { return std::string(model::to_string(t)); }

std::string re2_quote(const std::string& text) { return re2::RE2::QuoteMeta(text); }

bool regex_valid(const std::string& pattern, std::string& error) {
  re2::RE2 re(pattern, re2::RE2::Quiet);
  if (!re.ok()) error = re.error();
  return re.ok();
}

class binder {
 public:
  binder(const data_source& source, int64_t now, query_options& options, subquery_runner run_subquery)
      : source_(source), options_(options), run_subquery_(std::move(run_subquery)) {
    context_.now_ticks = now;
  }

  plan_ptr bind_query(const query_ast& q) {
    text_ = q.text;
    for (const auto& s : q.sets) apply_set(s);
    for (const auto& l : q.lets) {
      let_binding b;
      if (l.table) {
        b.table = l.table;
      } else if (l.scalar && l.scalar->kind == expr_kind::call && l.scalar->name == "materialize" &&
                 l.scalar->args.size() == 1 && l.scalar->args[0]->kind == expr_kind::tabular) {
        // materialize() caches a tabular result in Kusto; here every use runs it again, which
        // gives the same rows (one snapshot per query).
        b.table = l.scalar->args[0]->subquery;
      } else if (l.scalar && l.scalar->kind == expr_kind::name && !lets_.count(l.scalar->name) &&
                 source_.schema(l.scalar->name)) {
        // `let X = T;`: a bare table name is tabular.
        auto t = std::make_shared<tabular>();
        t->source = source_kind::name;
        t->name = l.scalar->name;
        t->pos = l.scalar->pos;
        b.table = t;
      } else {
        scope empty;
        b.scalar = bind_expr(*l.scalar, empty, nullptr);
        if (!b.scalar->is_constant())
          fail_at(l.pos, fmt::format("let '{}' must be a constant or a tabular expression", l.name));
      }
      lets_[l.name] = std::move(b);
    }
    if (!q.body) fail_at({}, "the query has no tabular expression after its let and set statements");
    auto root = bind_tabular(*q.body);
    split_legs(0);
    return root;
  }

  const std::vector<std::string>& tables() const { return tables_; }
  int64_t now_ticks() const { return context_.now_ticks; }
  std::string visualization;

 private:
  struct let_binding {
    std::optional<bound_expr> scalar;
    tabular_ptr table;
  };
  // A table column of some plan: what a union's output column reads in one leg.
  struct feed {
    plan* p;
    size_t column;
  };
  // The pipeline being bound: its table's column mask, marked as expressions use columns.
  struct pipeline {
    plan* p = nullptr;
    const std::vector<std::vector<feed>>* feeds = nullptr;
    void use(const scope_column& c) const {
      if (c.origin >= 0 && p && !p->scan.columns.empty()) p->scan.columns[static_cast<size_t>(c.origin)] = true;
      if (c.origin <= -2 && feeds)
        for (const auto& f : (*feeds)[static_cast<size_t>(-2 - c.origin)])
          if (f.column < f.p->scan.columns.size()) f.p->scan.columns[f.column] = true;
    }
  };

  void apply_set(const set_statement& s) {
    auto as_bool = [&] { return s.value.empty() || s.value == "true" || s.value == "True" || s.value == "TRUE"; };
    auto as_count = [&]() -> uint64_t {
      try {
        return std::stoull(s.value);
      } catch (...) {
        fail_at(s.pos, fmt::format("set {}: '{}' is not a number", s.name, s.value));
      }
    };
    if (s.name == "best_effort") options_.best_effort = as_bool();
    else if (s.name == "notruncation") options_.no_truncation = as_bool();
    else if (s.name == "truncationmaxrecords") truncation_records_ = as_count();
    else if (s.name == "truncationmaxsize") truncation_size_ = as_count();
    else if (s.name == "query_shard_partial") options_.shard_partial = as_bool();
    else if (s.name == "query_now") {
      // Kusto's query_now: the instant now() and ago() stand for in the whole query.
      auto parsed = parse_kql("print " + s.value);
      const expr* v = nullptr;
      if (auto* q = std::get_if<query_ast>(&parsed); q && q->body && q->body->exprs.size() == 1)
        v = q->body->exprs[0].value.get();
      if (!v || v->kind != expr_kind::literal || v->type != column_type::datetime ||
          !std::holds_alternative<int64_t>(v->value))
        fail_at(s.pos, fmt::format("set query_now: '{}' is not a datetime; write e.g. set query_now=datetime(2024-01-01);",
                                   s.value));
      context_.now_ticks = std::get<int64_t>(v->value);
    } else if (s.name == "servertimeout" || s.name == "query_datetimescope_column" || s.name == "request_readonly") {
      // Accepted and not needed: Kusto's client libraries send some of these.
    } else {
      throw bind_failure{{"BadRequest_SyntaxError",
                          fmt::format("Syntax error at line {}, column {}: the query sets option '{}', which this "
                                      "node does not support; supported: best_effort, notruncation, "
                                      "truncationmaxrecords, truncationmaxsize, query_now",
                                      s.pos.line, s.pos.column, s.name),
                          true}};
    }
    // Any explicit limit overrides notruncation; the lowest wins (Kusto's query limits).
    if (truncation_records_ || truncation_size_) {
      if (truncation_records_) options_.truncation_max_records = *truncation_records_;
      if (truncation_size_) options_.truncation_max_size = *truncation_size_;
      options_.no_truncation = false;
    }
  }

  // ----- expressions -----

  bound_expr constant(column_type t, const model::value& v) {
    bound_expr b;
    b.what = bound_expr::kind::constant;
    b.type = t;
    b.constant = vec::constant(t, v);
    return b;
  }

  bound_expr call(const std::string& function, const position& pos, std::vector<bound_expr> args,
                  const std::string& shown = "") {
    const auto* f = find_scalar_function(function);
    if (!f) fail_at(pos, fmt::format("unknown function '{}'", function));
    std::vector<arg_info> infos;
    infos.reserve(args.size());
    for (const auto& a : args) {
      arg_info i;
      i.type = a.type;
      if (a.is_constant()) i.constant = a.constant.at(0);
      infos.push_back(std::move(i));
    }
    auto bound = f->bind(infos);
    if (auto* message = std::get_if<std::string>(&bound))
      fail_at(pos, fmt::format("{}(): {}", shown.empty() ? function : shown, *message));
    auto& fn = std::get<bound_function>(bound);
    bound_expr b;
    b.what = bound_expr::kind::call;
    b.type = fn.result;
    b.eval = std::move(fn.eval);
    b.args = std::move(args);
    // Constants fold, but not functions with a value per row (rand(), new_guid()).
    const bool all_constant = std::all_of(b.args.begin(), b.args.end(), [](const auto& a) { return a.is_constant(); });
    if (all_constant && !f->per_row) return fold(std::move(b), pos);
    return b;
  }

  bound_expr fold(bound_expr b, const position& pos) {
    std::vector<const model::column_data*> args;
    for (const auto& a : b.args) args.push_back(&a.constant);
    auto value = b.eval(args, 1, context_);
    if (context_.error) fail_at(pos, *context_.error);
    bound_expr c;
    c.what = bound_expr::kind::constant;
    c.type = b.type;
    c.constant = std::move(value);
    return c;
  }

  const char* binary_name(binary_op op) {
    switch (op) {
      case binary_op::add: return "+";
      case binary_op::subtract: return "-";
      case binary_op::multiply: return "*";
      case binary_op::divide: return "/";
      case binary_op::modulo: return "%";
      case binary_op::less: return "<";
      case binary_op::less_equal: return "<=";
      case binary_op::greater: return ">";
      case binary_op::greater_equal: return ">=";
      case binary_op::equal: return "==";
      case binary_op::not_equal: return "!=";
      case binary_op::and_: return "and";
      case binary_op::or_: return "or";
      case binary_op::equal_ci: return "=~";
      case binary_op::not_equal_ci: return "!~";
      case binary_op::has: return "has";
      case binary_op::not_has: return "!has";
      case binary_op::has_cs: return "has_cs";
      case binary_op::not_has_cs: return "!has_cs";
      case binary_op::hasprefix: return "hasprefix";
      case binary_op::not_hasprefix: return "!hasprefix";
      case binary_op::hasprefix_cs: return "hasprefix_cs";
      case binary_op::not_hasprefix_cs: return "!hasprefix_cs";
      case binary_op::hassuffix: return "hassuffix";
      case binary_op::not_hassuffix: return "!hassuffix";
      case binary_op::hassuffix_cs: return "hassuffix_cs";
      case binary_op::not_hassuffix_cs: return "!hassuffix_cs";
      case binary_op::contains: return "contains";
      case binary_op::not_contains: return "!contains";
      case binary_op::contains_cs: return "contains_cs";
      case binary_op::not_contains_cs: return "!contains_cs";
      case binary_op::startswith: return "startswith";
      case binary_op::not_startswith: return "!startswith";
      case binary_op::startswith_cs: return "startswith_cs";
      case binary_op::not_startswith_cs: return "!startswith_cs";
      case binary_op::endswith: return "endswith";
      case binary_op::not_endswith: return "!endswith";
      case binary_op::endswith_cs: return "endswith_cs";
      case binary_op::not_endswith_cs: return "!endswith_cs";
      case binary_op::matches_regex: return "matches regex";
    }
    return "?";
  }

  const char* list_name(list_op op) {
    switch (op) {
      case list_op::in: return "in";
      case list_op::not_in: return "!in";
      case list_op::in_ci: return "in~";
      case list_op::not_in_ci: return "!in~";
      case list_op::has_any: return "has_any";
      case list_op::has_all: return "has_all";
    }
    return "?";
  }

  std::string scope_names(const scope& s) {
    std::string out;
    for (const auto& c : s) out += (out.empty() ? "" : ", ") + c.name;
    return out;
  }

  // Column `i` of the scope, read (and so marked for the scan).
  static bound_expr column_ref(const scope& s, size_t i, const pipeline* p) {
    if (p) p->use(s[i]);
    bound_expr b;
    b.what = bound_expr::kind::column;
    b.type = s[i].type;
    b.column = i;
    return b;
  }

  bound_expr bind_name(const expr& e, const scope& s, const pipeline* p) {
    for (size_t i = 0; i < s.size(); ++i)
      if (s[i].name == e.name) return column_ref(s, i, p);
    if (auto it = lets_.find(e.name); it != lets_.end()) {
      if (it->second.scalar) return *it->second.scalar;
      fail_at(e.pos, fmt::format("'{}' is a tabular expression, not a scalar", e.name));
    }
    std::vector<std::string> names;
    for (const auto& c : s) names.push_back(c.name);
    for (const auto& [n, _] : lets_) names.push_back(n);
    fail_at(e.pos, fmt::format("Failed to resolve scalar expression named '{}'{}{}", e.name, suggestion(e.name, names),
                               s.empty() ? "" : fmt::format("; the columns here are: {}", scope_names(s))));
  }

  bound_expr bind_expr(const expr& e, const scope& s, const pipeline* p) {
    switch (e.kind) {
      case expr_kind::literal: return constant(e.type, e.value);
      case expr_kind::name: return bind_name(e, s, p);
      case expr_kind::member: {
        std::vector<bound_expr> args;
        args.push_back(bind_expr(*e.operand, s, p));
        args.push_back(constant(column_type::string, e.name));
        return call(".member", e.pos, std::move(args), "member access ." + e.name);
      }
      case expr_kind::index: {
        std::vector<bound_expr> args;
        args.push_back(bind_expr(*e.operand, s, p));
        args.push_back(bind_expr(*e.args.at(0), s, p));
        return call("[]", e.pos, std::move(args), "indexing []");
      }
      case expr_kind::unary: {
        std::vector<bound_expr> args;
        args.push_back(bind_expr(*e.operand, s, p));
        return call(e.unary == unary_op::negate ? "-u" : "+u", e.pos, std::move(args),
                    e.unary == unary_op::negate ? "unary -" : "unary +");
      }
      case expr_kind::binary: {
        std::vector<bound_expr> args;
        args.push_back(bind_expr(*e.args.at(0), s, p));
        args.push_back(bind_expr(*e.args.at(1), s, p));
        const char* op = binary_name(e.binary);
        return call(op, e.pos, std::move(args), fmt::format("operator '{}'", op));
      }
      case expr_kind::list: {
        std::vector<bound_expr> args;
        args.push_back(bind_expr(*e.args.at(0), s, p));
        // `in (T | project y)`, or a tabular let / table named in the list: its first column's
        // values (at most Kusto's 1,000,000).
        auto add_rows = [&](const tabular& t) {
          auto rows = run_tabular(t, "the list of " + std::string(list_name(e.list)));
          for (const auto& row : rows.rows) args.push_back(constant(rows.columns[0].type, row[0]));

        };
        if (e.subquery) add_rows(*e.subquery);
        for (size_t i = 1; i < e.args.size(); ++i) {
          if (auto t = as_tabular(*e.args[i], s)) add_rows(*t);
          else args.push_back(bind_expr(*e.args[i], s, p));
        }
        // A subquery with no rows leaves nothing to match: `in` is false, `!in` true.
        if (args.size() == 1)
          return constant(column_type::bool_, e.list == list_op::not_in || e.list == list_op::not_in_ci ||
                                                  e.list == list_op::has_all);
        const char* op = list_name(e.list);
        return call(op, e.pos, std::move(args), fmt::format("operator '{}'", op));
      }
      case expr_kind::between: {
        std::vector<bound_expr> args;
        for (const auto& a : e.args) args.push_back(bind_expr(*a, s, p));
        const char* op = e.negated ? "!between" : "between";
        return call(op, e.pos, std::move(args), fmt::format("operator '{}'", op));
      }
      case expr_kind::call: return bind_call(e, s, p);
      case expr_kind::star: fail_at(e.pos, "'*' is only an argument of arg_max/arg_min (and distinct *)");
      case expr_kind::tabular: fail_at(e.pos, "a tabular expression in a scalar position is not supported yet");
    }
    fail_at(e.pos, "unsupported expression");
  }

  // A name in scalar position that stands for a table or a tabular let (not a column or a
  // scalar let): the tabular expression it names.
  std::optional<tabular> as_tabular(const expr& e, const scope& s) {
    if (e.kind == expr_kind::tabular && e.subquery) return *e.subquery;
    if (e.kind != expr_kind::name) return std::nullopt;
    if (std::any_of(s.begin(), s.end(), [&](const auto& c) { return c.name == e.name; })) return std::nullopt;
    auto it = lets_.find(e.name);
    if (it != lets_.end() && !it->second.table) return std::nullopt;
    if (it == lets_.end() && !source_.schema(e.name)) return std::nullopt;
    tabular t;
    t.source = source_kind::name;
    t.name = e.name;
    t.pos = e.pos;
    return t;
  }

  // Runs a subquery now: its rows, which must have at least one column.
  model::result_table run_tabular(const tabular& t, const std::string& what) {
    const size_t outer_legs = unsplit_.size();  // legs of the query around it: still being bound
    auto p = bind_tabular(t);
    split_legs(outer_legs);
    if (!run_subquery_) fail_at(t.pos, what + " cannot be a query here");
    auto result = run_subquery_(*p);
    if (auto* e = std::get_if<model::error>(&result)) throw bind_failure{*e};
    auto rows = std::move(std::get<model::result_table>(result));
    if (rows.columns.empty()) fail_at(t.pos, what + ": the query has no columns");
    constexpr size_t max_values = 1'000'000;
    if (rows.rows.size() > max_values)
      fail_at(t.pos, fmt::format("{}: the query has more than {} rows (Kusto's limit); narrow it", what, max_values));
    return rows;
  }

  bound_expr bind_call(const expr& e, const scope& s, const pipeline* p) {
    if (e.name == "column_ifexists" || e.name == "columnifexists") {
      // The column named by a constant string if the input has it, else the default.
      if (e.args.size() != 2) fail_at(e.pos, e.name + "() takes a column name and a default value");
      scope empty;
      auto name = bind_expr(*e.args[0], empty, nullptr);
      if (name.type != column_type::string || !name.is_constant())
        fail_at(e.pos, e.name + "(): argument 1 must be a constant string, the column's name");
      const auto wanted = std::get<std::string>(name.constant.at(0));
      for (size_t i = 0; i < s.size(); ++i)
        if (s[i].name == wanted) return column_ref(s, i, p);
      return bind_expr(*e.args[1], s, p);
    }
    if (e.name == "toscalar") {
      if (e.args.size() != 1) fail_at(e.pos, "toscalar() takes one tabular expression, as in toscalar(T | count)");
      auto t = as_tabular(*e.args[0], s);
      if (!t) fail_at(e.pos, "toscalar() takes a tabular expression, as in toscalar(T | count)");
      auto rows = run_tabular(*t, "toscalar()");
      // The first column of the first row; null when there is no row.
      return constant(rows.columns[0].type, rows.rows.empty() ? model::value{} : rows.rows[0][0]);
    }
    if (e.name == "ingestion_time") {
      if (!e.args.empty()) fail_at(e.pos, "ingestion_time() takes no arguments");
      if (p && p->p) p->p->scan.ingestion_time = true;
      bound_expr b;
      b.what = bound_expr::kind::ingestion_time;
      b.type = column_type::datetime;
      return b;
    }
    if (!find_scalar_function(e.name)) {
      if (find_aggregate_function(e.name))
        fail_at(e.pos, fmt::format("'{}' is an aggregation function: use it in summarize (or make-series), as in "
                                   "summarize {}(...) by ...",
                                   e.name, e.name));
      auto names = scalar_function_names();
      fail_at(e.pos, fmt::format("unknown function '{}'{}", e.name, suggestion(e.name, names)));
    }
    std::vector<bound_expr> args;
    for (const auto& a : e.args) args.push_back(bind_expr(*a, s, p));
    return call(e.name, e.pos, std::move(args));
  }

  bound_expr bind_predicate(const expr& e, const scope& s, const pipeline* p, const char* op) {
    auto b = bind_expr(e, s, p);
    if (b.type != column_type::bool_)
      fail_at(e.pos, fmt::format("the expression of '{}' must have the type bool, found {}", op, describe(b.type)));
    return b;
  }

  // ----- tabular -----

  // `output`: a union's leg, whose output columns are read only as far as what follows the
  // union uses them; its final scope goes there, unmarked. Otherwise every output column is read.
  std::shared_ptr<plan> bind_tabular(const tabular& t, scope* output = nullptr) {
    if (++depth_ > 64) fail_at(t.pos, "the query nests tabular expressions more than 64 deep");
    auto p = std::make_shared<plan>();
    p->source = t.source;
    scope s;
    pipeline pipe{p.get(), &feeds_};
    switch (t.source) {
      case source_kind::name: {
        if (auto it = lets_.find(t.name); it != lets_.end()) {
          if (!it->second.table) fail_at(t.pos, fmt::format("'{}' is a scalar, not a tabular expression", t.name));
          p->source = source_kind::subquery;
          p->inner = bind_tabular(*it->second.table);
          s = inner_scope(*p->inner);
        } else {
          auto schema = source_.schema(t.name);
          if (!schema) {
            auto names = source_.tables();
            throw bind_failure{{"BadRequest_TableNotExist",
                                fmt::format("Semantic error at line {}, column {}: table '{}' does not exist in "
                                            "this database{}; list the tables with .show tables",
                                            t.pos.line, t.pos.column, t.name, suggestion(t.name, names)),
                                true}};
          }
          if (std::find(tables_.begin(), tables_.end(), t.name) == tables_.end()) tables_.push_back(t.name);
          p->scan.table = t.name;
          p->scan.columns.assign(schema->size(), false);
          p->source_schema = *schema;
          for (size_t i = 0; i < schema->size(); ++i)
            s.push_back({(*schema)[i].name, (*schema)[i].type, static_cast<int>(i)});
        }
        break;
      }
      case source_kind::subquery:
        p->inner = bind_tabular(*t.inner);
        s = inner_scope(*p->inner);
        break;
      case source_kind::datatable: s = bind_datatable(t, *p); break;
      case source_kind::print: s = bind_print(t, *p); break;
      case source_kind::range: s = bind_range(t, *p); break;
      case source_kind::union_: {
        // `union A, B` as a source: the first leg is the input of a union operator.
        auto legs = existing_legs(t.legs, t.options);
        if (legs.empty()) fail_at(t.pos, "union needs at least one table");
        p->source = source_kind::subquery;
        auto first = bind_tabular(*legs[0], &s);
        p->inner = first;
        tab_op u;
        u.kind = op_kind::union_;
        u.pos = t.pos;
        u.options = t.options;
        u.legs.assign(legs.begin() + 1, legs.end());
        bind_union(u, *p, s, /*source_leg_name=*/leg_name(*legs[0]), *first);
        break;
      }
    }
    const bool table = p->source == source_kind::name;
    shard_cut cut;
    for (size_t i = 0; i < t.ops.size(); ++i) {
      const auto& op = t.ops[i];
      if (op.kind == op_kind::render && i + 1 != t.ops.size())
        fail_at(op.pos, "render must be the last operator of the query");
      const size_t before = p->ops.size();
      bind_op(op, *p, s, pipe);
      if (table) extend_cut(cut, t, i, before, *p);
    }
    // Whatever reaches the output is read.
    if (output) *output = s;
    else
      for (const auto& c : s) pipe.use(c);
    p->schema = schema_of(s);
    // A union leg's split names the columns it reads, known once what follows the union is bound.
    if (table && output) unsplit_.push_back({p.get(), cut, &t});
    else if (table) p->shard = shard_of(cut, t, *p);
    --depth_;
    return p;
  }

  // Splits the union legs bound since `unsplit_[from]`, whose reads are all known now.
  void split_legs(size_t from) {
    for (size_t i = from; i < unsplit_.size(); ++i) unsplit_[i].p->shard = shard_of(unsplit_[i].cut, *unsplit_[i].t, *unsplit_[i].p);
    unsplit_.resize(from);
  }

  // ----- the split for a cluster (plan.hpp, shard_part) -----

  // How far the shards can run a table's pipeline, as its operators bind.
  struct shard_cut {
    bool open = true;
    size_t ops = 0;
    size_t reapply_from = SIZE_MAX;  ///< a sort waiting for its take
    uint32_t text_end = 0;
    shard_part::merge_kind merge = shard_part::merge_kind::rows;
    std::set<std::string> lets;  ///< the scalar lets the shards' operators name
  };

  // Can `e` run on a shard as written? Not when it reads another table (a subquery, toscalar,
  // a table or tabular let named in scalar position): on a shard it would see that shard's rows
  // only. The scalar lets it may name are collected (sent as literals).
  bool shard_safe(const expr& e, std::set<std::string>& lets) const {
    if (e.kind == expr_kind::tabular || e.subquery) return false;
    if (e.kind == expr_kind::call && (e.name == "toscalar" || e.name == "materialize")) return false;
    if (e.kind == expr_kind::name) {
      if (auto it = lets_.find(e.name); it != lets_.end()) {
        if (!it->second.scalar) return false;
        lets.insert(e.name);
      } else if (source_.schema(e.name)) {
        return false;  // may be a table (`x in (T2)`); a column of that name costs the split only
      }
    }
    if (e.operand && !shard_safe(*e.operand, lets)) return false;
    for (const auto& a : e.args)
      if (a && !shard_safe(*a, lets)) return false;
    for (const auto& [name, a] : e.named_args)
      if (a && !shard_safe(*a, lets)) return false;
    return true;
  }

  bool shard_safe(const tab_op& op, std::set<std::string>& lets) const {
    auto ok = [&](const expr_ptr& e) { return !e || shard_safe(*e, lets); };
    if (!ok(op.predicate) || !ok(op.count)) return false;
    for (const auto* list : {&op.exprs, &op.by})
      for (const auto& ne : *list)
        if (!ok(ne.value)) return false;
    for (const auto& k : op.keys)
      if (!ok(k.value)) return false;
    return op.legs.empty() && !op.right;
  }

  // Takes the table pipeline's operator t.ops[i] (bound into p.ops[before..]) into the shards'
  // part while the part may grow: row-local operators, then at most one operator that shrinks
  // the rows in a way the merging node can finish.
  void extend_cut(shard_cut& c, const tabular& t, size_t i, size_t before, const plan& p) const {
    using mk = shard_part::merge_kind;
    if (!c.open) return;
    const tab_op& op = t.ops[i];
    std::set<std::string> lets;
    if (p.ops.size() != before + 1 || !shard_safe(op, lets)) {
      c.open = false;
      return;
    }
    auto take = [&](mk m, bool last) {
      c.ops = p.ops.size();
      c.text_end = op.end;
      c.merge = m;
      c.lets.insert(lets.begin(), lets.end());
      if (last) c.open = false;
    };
    const bool after_sort = c.reapply_from != SIZE_MAX;
    switch (op.kind) {
      case op_kind::where:
      case op_kind::project:
      case op_kind::project_away:
      case op_kind::project_keep:
      case op_kind::project_rename:
      case op_kind::project_reorder:
      case op_kind::extend:
      case op_kind::parse:
      case op_kind::parse_where:
      case op_kind::mv_expand:
        if (after_sort) return void(c.open = false);
        return take(mk::rows, false);
      case op_kind::summarize:
      case op_kind::distinct:
        if (after_sort || p.ops.back().kind != op_kind::summarize) return void(c.open = false);
        return take(mk::summarize, true);
      case op_kind::count:
        if (after_sort) return void(c.open = false);
        return take(mk::count, true);
      case op_kind::take:
        if (!after_sort) c.reapply_from = before;
        return take(mk::reapply, true);
      case op_kind::top:
        c.reapply_from = before;
        return take(mk::reapply, true);
      case op_kind::sort:
        // sort then take is a top: each shard's first N, sorted again; a sort alone gains nothing.
        if (!after_sort && i + 1 < t.ops.size() && t.ops[i + 1].kind == op_kind::take) {
          c.reapply_from = before;
          c.lets.insert(lets.begin(), lets.end());
          return;
        }
        return void(c.open = false);
      default: c.open = false;
    }
  }

  static std::string quoted_name(const std::string& name) {
    std::string out = "[";
    detail::append_json_quoted(name, out);
    return out + "]";
  }

  // A KQL literal of a bound constant: what the shards read for a scalar let.
  static std::string literal_text(const bound_expr& b) {
    const auto& c = b.constant;
    const std::string type(model::to_string(b.type));
    if (c.is_null(0)) return b.type == column_type::string ? "\"\"" : type + "(null)";
    switch (b.type) {
      case column_type::bool_: return c.ints[0] ? "true" : "false";
      case column_type::int_:
      case column_type::long_: return fmt::format("{}({})", type, c.ints[0]);
      case column_type::real: {
        const double d = c.reals[0];
        if (std::isnan(d)) return "real(nan)";
        if (std::isinf(d)) return d > 0 ? "real(+inf)" : "real(-inf)";
        return fmt::format("real({})", d);  // shortest text that reads back as the same double
      }
      case column_type::datetime: return fmt::format("datetime({})", ingest::detail::format_datetime(c.ints[0]));
      case column_type::timespan: return fmt::format("{}tick", c.ints[0]);
      case column_type::dynamic: return fmt::format("dynamic({})", dynamic_text(c, 0));
      case column_type::guid:
      case column_type::decimal: return fmt::format("{}({})", type, c.text_at(0));
      default: {
        std::string out;
        detail::append_json_quoted(c.text_at(0), out);
        return out;
      }
    }
  }

  shard_part shard_of(const shard_cut& c, const tabular& t, const plan& p) const {
    using mk = shard_part::merge_kind;
    shard_part out;
    out.ops = c.ops;
    out.merge = c.merge;
    out.reapply_from = c.merge == mk::reapply ? c.reapply_from : c.ops;
    out.text = fmt::format("set query_now=datetime({});\n", ingest::detail::format_datetime(context_.now_ticks));
    if (c.merge == mk::summarize) out.text += "set query_shard_partial;\n";
    for (const auto& name : c.lets)
      out.text += fmt::format("let {} = {};\n", name, literal_text(*lets_.at(name).scalar));
    if (c.ops == 0) {
      // Nothing runs there but the scan: the columns the plan reads.
      out.text += quoted_name(p.scan.table) + " | project ";
      bool any = false;
      for (size_t i = 0; i < p.source_schema.size(); ++i) {
        if (!p.scan.columns[i]) continue;
        out.text += (any ? ", " : "") + quoted_name(p.source_schema[i].name);
        out.schema.push_back(p.source_schema[i]);
        any = true;
      }
      if (!any) {
        out.text += "['tributary_row_'] = true";
        out.schema.push_back({"tributary_row_", column_type::bool_});
      }
    } else {
      out.text += text_.substr(t.pos.offset, c.text_end - t.pos.offset);
      out.schema = p.ops[c.ops - 1].schema;
      if (c.merge == mk::summarize) out.schema = partial_schema(p.ops[c.ops - 1]);
    }
    if (c.merge == mk::rows && p.scan.ingestion_time) {
      // Operators after the shards' part may read ingestion_time(): each row's comes along.
      out.text += " | extend ['tributary_ingestion_time_'] = ingestion_time()";
      out.schema.push_back({"tributary_ingestion_time_", column_type::datetime});
      out.ingestion_column = true;
    }
    return out;
  }

 public:
  // A summarize's output on a shard: its keys, then each aggregate's partial state.
  static std::vector<model::column> partial_schema(const bound_op& op) {
    std::vector<model::column> out(op.schema.begin(), op.schema.begin() + static_cast<std::ptrdiff_t>(op.keys.size()));
    for (size_t a = 0; a < op.aggregates.size(); ++a) out.push_back({fmt::format("state_{}", a), column_type::string});
    return out;
  }

 private:
  static scope inner_scope(const plan& inner) {
    scope s;
    for (const auto& c : inner.schema) s.push_back({c.name, c.type, -1});
    return s;
  }

  std::string leg_name(const tabular& t) { return t.source == source_kind::name ? t.name : ""; }

  // union isfuzzy=true leaves out the legs that name no table (L/union-operator).
  std::vector<tabular_ptr> existing_legs(const std::vector<tabular_ptr>& legs,
                                         const std::vector<std::pair<std::string, std::string>>& options) {
    const bool fuzzy = std::any_of(options.begin(), options.end(),
                                   [](const auto& o) { return o.first == "isfuzzy" && o.second == "true"; });
    if (!fuzzy) return legs;
    std::vector<tabular_ptr> out;
    for (const auto& l : legs)
      if (l->source != source_kind::name || lets_.count(l->name) || source_.schema(l->name)) out.push_back(l);
    return out;
  }

  // A literal of a datatable or range, converted to the column's type where Kusto converts.
  model::value convert_literal(const bound_expr& b, column_type to, const position& pos, const std::string& what) {
    if (!b.is_constant()) fail_at(pos, fmt::format("{} must be a constant", what));
    auto v = b.constant.at(0);
    if (std::holds_alternative<std::monostate>(v)) return v;
    if (b.type == to) return v;
    if (to == column_type::real && (b.type == column_type::long_ || b.type == column_type::int_))
      return static_cast<double>(std::get<int64_t>(v));
    if ((to == column_type::int_ || to == column_type::long_) &&
        (b.type == column_type::long_ || b.type == column_type::int_))
      return v;
    if (to == column_type::dynamic) {
      // Any scalar fits a dynamic column; as JSON.
      if (b.type == column_type::string) return nlohmann_quote(std::get<std::string>(v));
      if (const auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
      if (const auto* r = std::get_if<double>(&v)) return fmt::format("{}", *r);
      if (const auto* x = std::get_if<bool>(&v)) return std::string(*x ? "true" : "false");
    }
    fail_at(pos, fmt::format("{} is a {}, but its column is {}", what, describe(b.type), describe(to)));
  }

  static std::string nlohmann_quote(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    return out + "\"";
  }

  scope bind_datatable(const tabular& t, plan& p) {
    scope s;
    for (const auto& c : t.schema) s.push_back({c.name, c.type, -1});
    const size_t width = t.schema.size();
    if (width == 0) fail_at(t.pos, "datatable needs at least one column");
    if (t.values.size() % width != 0)
      fail_at(t.pos, fmt::format("datatable has {} values, not a multiple of its {} columns", t.values.size(), width));
    chunk c;
    c.rows = t.values.size() / width;
    for (const auto& col : t.schema) c.columns.push_back(vec::make(col.type, c.rows));
    scope empty;
    for (size_t i = 0; i < t.values.size(); ++i) {
      const auto& e = *t.values[i];
      auto b = bind_expr(e, empty, nullptr);
      const auto& col = t.schema[i % width];
      vec::append_value(c.columns[i % width], convert_literal(b, col.type, e.pos,
                                                         fmt::format("the value of column '{}' in row {}", col.name,
                                                                     i / width + 1)));
    }
    p.rows.push_back(std::move(c));
    return s;
  }

  scope bind_print(const tabular& t, plan& p) {
    scope s;
    chunk c;
    c.rows = 1;
    scope empty;
    std::set<std::string> taken;
    for (size_t i = 0; i < t.exprs.size(); ++i) {
      const auto& ne = t.exprs[i];
      auto b = bind_expr(*ne.value, empty, nullptr);
      // print has no columns: a bare name is a let, and Kusto names it print_i.
      std::string name = !ne.name.empty()                   ? ne.name
                         : ne.value->kind == expr_kind::name ? ""
                                                             : expression_name(*ne.value);
      if (name.empty()) name = fmt::format("print_{}", i);
      if (taken.count(name)) fail_at(ne.pos, fmt::format("the column '{}' is named twice", name));
      taken.insert(name);
      s.push_back({name, b.type, -1});
      c.columns.push_back(b.constant);
    }
    p.rows.push_back(std::move(c));
    return s;
  }

  scope bind_range(const tabular& t, plan& p) {
    scope empty;
    auto from = bind_expr(*t.range_from, empty, nullptr);
    auto to = bind_expr(*t.range_to, empty, nullptr);
    auto step = bind_expr(*t.range_step, empty, nullptr);
    if (!from.is_constant() || !to.is_constant() || !step.is_constant())
      fail_at(t.pos, "range's from, to and step must be constants");
    const column_type type = from.type == column_type::int_ ? column_type::long_ : from.type;
    chunk c;
    c.columns.push_back(vec::make(type, 0));
    auto& out = c.columns[0];
    auto f = from.constant.at(0), l = to.constant.at(0), st = step.constant.at(0);
    if (std::holds_alternative<std::monostate>(f) || std::holds_alternative<std::monostate>(l) ||
        std::holds_alternative<std::monostate>(st))
      fail_at(t.pos, "range's from, to and step must not be null");
    constexpr uint64_t max_rows = 10'000'000;
    if (type == column_type::real || to.type == column_type::real || step.type == column_type::real) {
      auto num = [](const model::value& v) {
        return std::holds_alternative<double>(v) ? std::get<double>(v) : static_cast<double>(std::get<int64_t>(v));
      };
      const double a = num(f), b = num(l), d = num(step.constant.at(0));
      if (d == 0 || std::isnan(d)) fail_at(t.pos, "range's step must not be 0");
      const double n = std::floor((b - a) / d) + 1;
      if (n > max_rows) fail_at(t.pos, fmt::format("range makes more than {} rows", max_rows));
      out = vec::make(column_type::real, 0);
      for (int64_t i = 0; i < static_cast<int64_t>(std::max(0.0, n)); ++i) out.append_real(a + d * static_cast<double>(i));
    } else {
      if (!std::holds_alternative<int64_t>(f) || !std::holds_alternative<int64_t>(l) ||
          !std::holds_alternative<int64_t>(st))
        fail_at(t.pos, "range's from, to and step must be numbers, datetimes or timespans");
      const int64_t a = std::get<int64_t>(f), b = std::get<int64_t>(l), d = std::get<int64_t>(st);
      if (d == 0) fail_at(t.pos, "range's step must not be 0");
      if ((d > 0 && b >= a) || (d < 0 && b <= a)) {
        const uint64_t n = (d > 0 ? static_cast<uint64_t>(b) - static_cast<uint64_t>(a)
                                    : static_cast<uint64_t>(a) - static_cast<uint64_t>(b)) /
                                 static_cast<uint64_t>(d > 0 ? d : -d) +
                             1;
        if (n > max_rows) fail_at(t.pos, fmt::format("range makes more than {} rows", max_rows));
        for (uint64_t i = 0; i < n; ++i) out.append_int(a + d * static_cast<int64_t>(i));
      }
    }
    c.rows = out.size();
    p.rows.push_back(std::move(c));
    return {{t.name, type, -1}};
  }

  // ----- operators -----

  void bind_op(const tab_op& op, plan& p, scope& s, const pipeline& pipe) {
    bound_op b;
    b.kind = op.kind;
    switch (op.kind) {
      case op_kind::where: {
        b.name = "where";
        b.predicate = bind_predicate(*op.predicate, s, &pipe, "where");
        if (pushable(p)) collect_constraints(*op.predicate, s, p);
        break;
      }
      case op_kind::project: bind_project(op, b, s, pipe); break;
      case op_kind::extend: bind_extend(op, b, s, pipe); break;
      case op_kind::project_away:
      case op_kind::project_keep: {
        b.name = op.kind == op_kind::project_away ? "project-away" : "project-keep";
        std::vector<bool> matched(s.size(), false);
        for (const auto& pattern : op.patterns) {
          bool any = false;
          for (size_t i = 0; i < s.size(); ++i)
            if (matches_pattern(pattern, s[i].name)) matched[i] = any = true;
          if (!any && pattern.find('*') == std::string::npos) unknown_column(op.pos, pattern, s);
        }
        scope out;
        for (size_t i = 0; i < s.size(); ++i)
          if (matched[i] == (op.kind == op_kind::project_keep)) {
            b.columns.push_back(i);
            out.push_back(s[i]);
          }
        s = std::move(out);
        b.kind = op_kind::project_keep;  // both select columns by index
        break;
      }
      case op_kind::project_reorder: {
        b.name = "project-reorder";
        std::vector<bool> placed(s.size(), false);
        scope out;
        for (const auto& pattern : op.patterns) {
          bool any = false;
          for (size_t i = 0; i < s.size(); ++i)
            if (!placed[i] && matches_pattern(pattern, s[i].name)) {
              placed[i] = any = true;
              b.columns.push_back(i);
              out.push_back(s[i]);
            }
          if (!any && pattern.find('*') == std::string::npos) unknown_column(op.pos, pattern, s);
        }
        for (size_t i = 0; i < s.size(); ++i)
          if (!placed[i]) {
            b.columns.push_back(i);
            out.push_back(s[i]);
          }
        s = std::move(out);
        b.kind = op_kind::project_keep;
        break;
      }
      case op_kind::project_rename: {
        b.name = "project-rename";
        for (size_t i = 0; i < s.size(); ++i) b.columns.push_back(i);
        for (const auto& [to, from] : op.renames) {
          auto it = std::find_if(s.begin(), s.end(), [&](const auto& c) { return c.name == from; });
          if (it == s.end()) unknown_column(op.pos, from, s);
          it->name = to;
        }
        std::set<std::string> names;
        for (const auto& c : s)
          if (!names.insert(c.name).second) fail_at(op.pos, fmt::format("project-rename makes two columns named '{}'", c.name));
        b.kind = op_kind::project_keep;
        break;
      }
      case op_kind::summarize:
        if (!std::all_of(op.exprs.begin(), op.exprs.end(), [](const named_expr& ne) { return is_aggregate_call(*ne.value); })) {
          bind_summarize_expressions(op, p, b, s, pipe);
          break;
        }
        bind_summarize(op, b, s, pipe);
        break;
      case op_kind::distinct: bind_distinct(op, b, s, pipe); break;
      case op_kind::count: {
        b.name = "count";
        s = {{"Count", column_type::long_, -1}};
        break;
      }
      case op_kind::take: {
        b.name = "take";
        b.count = constant_count(*op.count, "take");
        if (pushable(p) && p.scan.limit == UINT64_MAX) p.scan.limit = b.count;
        break;
      }
      case op_kind::top:
      case op_kind::sort: {
        b.name = op.kind == op_kind::top ? "top" : "sort";
        if (op.kind == op_kind::top) b.count = constant_count(*op.count, "top");
        for (const auto& k : op.keys) {
          bound_sort_key key;
          key.value = bind_expr(*k.value, s, &pipe);
          if (key.value.type == column_type::dynamic || key.value.type == column_type::guid)
            fail_at(k.value->pos, fmt::format("{} cannot order by a {} value; convert it (tostring(), tolong())",
                                              b.name, describe(key.value.type)));
          key.ascending = k.ascending;
          key.nulls_first = k.nulls_first.value_or(k.ascending);
          b.sort_keys.push_back(std::move(key));
        }
        if (op.kind == op_kind::top && pushable(p) && b.sort_keys.size() == 1 && b.count > 0) {
          // top N by a column, nulls last, straight over the table's filtered rows: the scan
          // may skip the blocks that cannot beat the N-th row so far (runtime_bound).
          const auto& key = b.sort_keys[0];
          const auto t = key.value.type;
          if (key.value.what == bound_expr::kind::column && !key.nulls_first &&
              (t == column_type::long_ || t == column_type::int_ || t == column_type::real ||
               t == column_type::datetime || t == column_type::timespan)) {
            b.runtime = std::make_shared<runtime_bound>();
            b.runtime->bound.column = key.value.column;
            b.runtime->bound.op = key.ascending ? scan_constraint::kind::less : scan_constraint::kind::greater;
            p.scan.runtime = b.runtime;
          }
        }
        break;
      }
      case op_kind::union_: bind_union(op, p, s, "", p); return;
      case op_kind::join:
      case op_kind::lookup: bind_join(op, b, s, pipe); break;
      case op_kind::as:
      case op_kind::serialize:
        if (op.kind == op_kind::serialize && !op.exprs.empty()) {
          bind_extend(op, b, s, pipe);
          break;
        }
        return;  // nothing to run
      case op_kind::render: {
        static const std::set<std::string> charts{
            "table",       "list",       "barchart",     "piechart",   "ladderchart",  "timechart",
            "linechart",   "anomalychart", "pivotchart", "areachart",  "stackedareachart", "scatterchart",
            "timepivot",   "columnchart", "card",        "treemap",    "graph",        "plotly",
            "3Dchart"};
        if (!charts.count(op.alias))
          fail_at(op.pos, fmt::format("render: '{}' is not a chart kind; use one of timechart, linechart, barchart, "
                                      "columnchart, piechart, areachart, stackedareachart, scatterchart, "
                                      "anomalychart, ladderchart, pivotchart, timepivot, table, list, card",
                                      op.alias));
        std::string v = fmt::format("{{\"Visualization\":\"{}\"", op.alias);
        for (const auto& [k, value] : op.options) v += fmt::format(",\"{}\":\"{}\"", k, value);
        visualization = v + "}";
        return;
      }
      case op_kind::getschema: {
        b.name = "getschema";
        chunk c;
        c.rows = s.size();
        c.columns = {vec::make(column_type::string, s.size()), vec::make(column_type::long_, s.size()),
                     vec::make(column_type::string, s.size()), vec::make(column_type::string, s.size())};
        for (size_t i = 0; i < s.size(); ++i) {
          c.columns[0].append_text(s[i].name);
          c.columns[1].append_int(static_cast<int64_t>(i));
          c.columns[2].append_text(model::dotnet_name(s[i].type));
          c.columns[3].append_text(model::to_string(s[i].type));
        }
        b.literal = std::move(c);  // getschema's answer: its input's schema
        s = {{"ColumnName", column_type::string, -1},
             {"ColumnOrdinal", column_type::long_, -1},
             {"DataType", column_type::string, -1},
             {"ColumnType", column_type::string, -1}};
        break;
      }
      case op_kind::make_series: bind_make_series(op, b, s, pipe); break;
      case op_kind::mv_expand: bind_mv_expand(op, b, s, pipe); break;
      case op_kind::parse:
      case op_kind::parse_where: bind_parse(op, b, s, pipe); break;
    }
    b.schema = schema_of(s);
    p.ops.push_back(std::move(b));
  }

  [[noreturn]] void unknown_column(const position& pos, const std::string& name, const scope& s) {
    std::vector<std::string> names;
    for (const auto& c : s) names.push_back(c.name);
    fail_at(pos, fmt::format("Failed to resolve column named '{}'{}; the columns here are: {}", name,
                             suggestion(name, names), scope_names(s)));
  }

  // Only filters straight on the table's rows can prune its extents.
  static bool pushable(const plan& p) {
    if (p.source != source_kind::name || p.scan.table.empty()) return false;
    return std::all_of(p.ops.begin(), p.ops.end(), [](const auto& o) { return o.kind == op_kind::where; });
  }

  // Conjuncts of the form column <op> constant (or constant <op> column, between, isnull)
  // become scan constraints.
  void collect_constraints(const expr& e, const scope& s, plan& p) {
    if (e.kind == expr_kind::binary && e.binary == binary_op::and_) {
      collect_constraints(*e.args[0], s, p);
      collect_constraints(*e.args[1], s, p);
      return;
    }
    auto column_of = [&](const expr& x) -> std::optional<size_t> {
      if (x.kind == expr_kind::call && x.name == "ingestion_time" && x.args.empty()) return SIZE_MAX;
      if (x.kind != expr_kind::name) return std::nullopt;
      for (const auto& c : s)
        if (c.name == x.name && c.origin >= 0 && is_prunable(c.type)) return static_cast<size_t>(c.origin);
      return std::nullopt;
    };
    auto constant_of = [&](const expr& x, column_type want) -> std::optional<model::value> {
      try {
        scope empty;
        auto b = bind_expr(x, empty, nullptr);
        if (!b.is_constant()) return std::nullopt;
        auto v = b.constant.at(0);
        if (std::holds_alternative<std::monostate>(v)) return std::nullopt;
        const bool ticks = want == column_type::datetime || want == column_type::timespan;
        if (ticks && b.type != want) return std::nullopt;
        if (!ticks && !is_numeric(b.type) && b.type != want) return std::nullopt;
        if (want == column_type::real && std::holds_alternative<int64_t>(v))
          return static_cast<double>(std::get<int64_t>(v));
        if (want != column_type::real && std::holds_alternative<double>(v)) return std::nullopt;
        return v;
      } catch (const bind_failure&) {
        return std::nullopt;
      }
    };
    auto type_of = [&](size_t column) {
      return column == SIZE_MAX ? column_type::datetime : p.source_schema[column].type;
    };
    using k = scan_constraint::kind;
    if (e.kind == expr_kind::binary) {
      std::optional<k> op;
      bool flip = false;
      switch (e.binary) {
        case binary_op::equal: op = k::equal; break;
        case binary_op::less: op = k::less; break;
        case binary_op::less_equal: op = k::less_equal; break;
        case binary_op::greater: op = k::greater; break;
        case binary_op::greater_equal: op = k::greater_equal; break;
        default: return;
      }
      auto column = column_of(*e.args[0]);
      const expr* other = e.args[1].get();
      if (!column) {
        column = column_of(*e.args[1]);
        other = e.args[0].get();
        flip = true;
      }
      if (!column) return;
      auto v = constant_of(*other, type_of(*column));
      if (!v) return;
      if (flip) {
        if (*op == k::less) op = k::greater;
        else if (*op == k::less_equal) op = k::greater_equal;
        else if (*op == k::greater) op = k::less;
        else if (*op == k::greater_equal) op = k::less_equal;
      }
      p.scan.constraints.push_back({*column, *op, *v});
    } else if (e.kind == expr_kind::between && !e.negated) {
      auto column = column_of(*e.args[0]);
      if (!column) return;
      auto low = constant_of(*e.args[1], type_of(*column));
      auto high = constant_of(*e.args[2], type_of(*column));
      if (low) p.scan.constraints.push_back({*column, k::greater_equal, *low});
      if (high) p.scan.constraints.push_back({*column, k::less_equal, *high});
    } else if (e.kind == expr_kind::call && (e.name == "isnull" || e.name == "isnotnull") && e.args.size() == 1) {
      auto column = column_of(*e.args[0]);
      if (column && *column != SIZE_MAX)
        p.scan.constraints.push_back({*column, e.name == "isnull" ? k::is_null : k::is_not_null, {}});
    }
  }

  static bool is_prunable(column_type t) {
    return t == column_type::int_ || t == column_type::long_ || t == column_type::real ||
           t == column_type::datetime || t == column_type::timespan || t == column_type::bool_;
  }

  uint64_t constant_count(const expr& e, const char* op) {
    scope empty;
    auto b = bind_expr(e, empty, nullptr);
    auto v = b.is_constant() ? b.constant.at(0) : model::value{};
    if ((b.type != column_type::long_ && b.type != column_type::int_) || !std::holds_alternative<int64_t>(v) ||
        std::get<int64_t>(v) < 0)
      fail_at(e.pos, fmt::format("{} needs a constant, non-negative row count (as in {} 10)", op, op));
    return static_cast<uint64_t>(std::get<int64_t>(v));
  }

  // A named or unnamed column expression of project/extend/summarize by.
  struct named {
    std::string name;
    bound_expr value;
    int origin = -1;
    bool derived = false;  // made up by the binder (Column1, d_a), not written in the query
  };

  // Kusto numbers unnamed expressions Column1, Column2, ... in their order among the unnamed ones
  // of the operator; a derived name (Column1, d_a) that is taken gets 1, 2, ... appended.
  named bind_named(const named_expr& ne, const scope& s, const pipeline& pipe, int& column_n,
                   const std::set<std::string>& taken) {
    named n;
    n.value = bind_expr(*ne.value, s, &pipe);
    if (!ne.names.empty()) fail_at(ne.pos, "(a, b) = ... names are only for functions that return several columns");
    n.name = ne.name;
    // column_ifexists() that found its column is named after it.
    if (n.name.empty() && ne.value->kind == expr_kind::call && n.value.what == bound_expr::kind::column &&
        (ne.value->name == "column_ifexists" || ne.value->name == "columnifexists"))
      n.name = s[n.value.column].name;
    // A column named again is an error (KS171); a name the binder makes up is made unique.
    n.derived = n.name.empty() && (ne.value->kind != expr_kind::name || lifted_.count(ne.value->name));
    if (n.name.empty()) n.name = expression_name(*ne.value);
    if (n.name.empty()) n.name = fmt::format("Column{}", ++column_n);
    (void)taken;
    if (ne.name.empty() && ne.value->kind == expr_kind::name && n.value.what == bound_expr::kind::column)
      n.origin = s[n.value.column].origin;
    return n;
  }

  void bind_project(const tab_op& op, bound_op& b, scope& s, const pipeline& pipe) {
    b.name = "project";
    scope out;
    std::set<std::string> taken, made_up;
    int column_n = 0;
    for (const auto& ne : op.exprs) {
      auto n = bind_named(ne, s, pipe, column_n, taken);
      // A name clashing with one the binder made up (Column1, d_a) is made unique, as Kusto
      // does; two columns the query names alike are an error (KS171).
      if (taken.count(n.name)) {
        if (!n.derived && !made_up.count(n.name))
          fail_at(ne.pos, fmt::format("project names the column '{}' twice; rename one (project a, b2 = b)", n.name));
        n.name = unique_name(n.name, taken);
      }
      taken.insert(n.name);
      if (n.derived) made_up.insert(n.name);
      out.push_back({n.name, n.value.type, n.origin});
      b.exprs.push_back(std::move(n.value));
    }
    s = std::move(out);
  }

  void bind_extend(const tab_op& op, bound_op& b, scope& s, const pipeline& pipe) {
    b.name = "extend";
    b.kind = op_kind::extend;
    // Every input column passes (as a column expression), replaced ones in place.
    scope out = s;
    for (size_t i = 0; i < s.size(); ++i) {
      bound_expr c;
      c.what = bound_expr::kind::column;
      c.type = s[i].type;
      c.column = i;
      b.exprs.push_back(std::move(c));
    }
    std::set<std::string> assigned;
    int column_n = 0;
    for (const auto& ne : op.exprs) {
      // A made-up name (Column1) replaces the column of that name, as Kusto does; the query
      // assigning one name twice is an error.
      auto n = bind_named(ne, s, pipe, column_n, assigned);
      if (!assigned.insert(n.name).second && !n.derived)
        fail_at(ne.pos, fmt::format("extend assigns the column '{}' twice", n.name));
      auto it = std::find_if(out.begin(), out.end(), [&](const auto& c) { return c.name == n.name; });
      if (it != out.end()) {
        const size_t at = static_cast<size_t>(it - out.begin());
        *it = {n.name, n.value.type, n.origin};
        b.exprs[at] = std::move(n.value);
      } else {
        out.push_back({n.name, n.value.type, n.origin});
        b.exprs.push_back(std::move(n.value));
      }
    }
    s = std::move(out);
  }

  // summarize by keys: named per Kusto (bin(ts, 1m) keeps ts), never dynamic.
  void bind_keys(const std::vector<named_expr>& by, bound_op& b, const scope& s, const pipeline& pipe, scope& out,
                 std::set<std::string>& taken, const char* op) {
    int column_n = 0;
    for (const auto& ne : by) {
      auto n = bind_named(ne, s, pipe, column_n, taken);
      if (n.value.type == column_type::dynamic)
        fail_at(ne.pos, fmt::format("{} cannot group by a dynamic value; convert it first, as in by tostring(...)", op));
      if (!taken.insert(n.name).second) fail_at(ne.pos, fmt::format("{} names the column '{}' twice", op, n.name));
      out.push_back({n.name, n.value.type, -1});
      b.keys.push_back(std::move(n.value));
    }
  }

  bound_aggregate_call bind_aggregate(const named_expr& ne, const scope& s, const pipeline& pipe,
                                      const std::vector<std::string>& key_names, const char* op) {
    const expr& e = *ne.value;
    if (e.kind != expr_kind::call || !find_aggregate_function(e.name)) {
      if (e.kind == expr_kind::call && find_scalar_function(e.name))
        fail_at(e.pos, fmt::format("{} needs an aggregation function such as count(), sum(x), avg(x); '{}' is a "
                                   "scalar function",
                                   op, e.name));
      auto names = aggregate_function_names();
      if (e.kind == expr_kind::call)
        fail_at(e.pos, fmt::format("unknown aggregation function '{}'{}", e.name, suggestion(e.name, names)));
      fail_at(e.pos, fmt::format("{} needs an aggregation function such as count(), sum(x), avg(x)", op));
    }
    const auto* f = find_aggregate_function(e.name);
    bound_aggregate_call call;
    std::vector<aggregate_arg> infos;
    for (size_t i = 0; i < e.args.size(); ++i) {
      const auto& a = *e.args[i];
      if (a.kind == expr_kind::star) {
        // Every column but the first argument's and the keys.
        const std::string first = i > 0 ? expression_name(*e.args[0]) : "";
        for (size_t c = 0; c < s.size(); ++c) {
          if (s[c].name == first) continue;
          if (std::find(key_names.begin(), key_names.end(), s[c].name) != key_names.end()) continue;
          pipe.use(s[c]);
          bound_expr col;
          col.what = bound_expr::kind::column;
          col.type = s[c].type;
          col.column = c;
          aggregate_arg info;
          info.info.type = col.type;
          info.name_part = s[c].name;
          info.star = true;
          infos.push_back(std::move(info));
          call.args.push_back(std::move(col));
        }
        continue;
      }
      auto b = bind_expr(a, s, &pipe);
      aggregate_arg info;
      info.info.type = b.type;
      if (b.is_constant()) info.info.constant = b.constant.at(0);
      info.name_part = expression_name(a);
      infos.push_back(std::move(info));
      call.args.push_back(std::move(b));
    }
    auto bound = f->bind(infos);
    if (auto* message = std::get_if<std::string>(&bound)) fail_at(e.pos, fmt::format("{}(): {}", e.name, *message));
    call.aggregate = std::move(std::get<bound_aggregate>(bound));
    // `name = agg(...)` names a single output; `(a, b) = arg_max(...)` several.
    if (!ne.name.empty()) call.aggregate.outputs[0].name = ne.name;
    for (size_t i = 0; i < ne.names.size() && i < call.aggregate.outputs.size(); ++i)
      call.aggregate.outputs[i].name = ne.names[i];
    return call;
  }

  void bind_summarize(const tab_op& op, bound_op& b, scope& s, const pipeline& pipe) {
    b.name = "summarize";
    scope out;
    std::set<std::string> taken;
    bind_keys(op.by, b, s, pipe, out, taken, "summarize");
    std::vector<std::string> key_names;
    for (const auto& c : out) key_names.push_back(c.name);
    for (const auto& ne : op.exprs) {
      auto call = bind_aggregate(ne, s, pipe, key_names, "summarize");
      for (auto& o : call.aggregate.outputs) {
        if (!ne.name.empty() && taken.count(o.name))
          fail_at(ne.pos, fmt::format("summarize names the column '{}' twice", o.name));
        o.name = unique_name(o.name, taken);
        taken.insert(o.name);
        out.push_back({o.name, o.type, -1});
      }
      b.aggregates.push_back(std::move(call));
    }
    s = std::move(out);
  }

  static bool is_aggregate_call(const expr& e) {
    return e.kind == expr_kind::call && find_aggregate_function(e.name) && !find_scalar_function(e.name);
  }

  // Replaces every aggregate call inside `e` by a name that refers to a column of the
  // summarize's output (the aggregate's own name, count_, made unique), collecting the calls.
  expr_ptr lift_aggregates(const expr_ptr& e, std::vector<named_expr>& calls, std::set<std::string>& taken) {
    if (is_aggregate_call(*e)) {
      named_expr call;
      call.value = e;
      call.pos = e->pos;
      // The name Kusto would give the aggregate (count_, sum_x), so that tostring(count()) is
      // named count_ as in Kusto.
      call.name = unique_name(aggregate_default_name(*e), taken);
      taken.insert(call.name);
      lifted_.insert(call.name);
      auto ref = std::make_shared<expr>();
      ref->kind = expr_kind::name;
      ref->name = call.name;
      ref->pos = e->pos;
      calls.push_back(std::move(call));
      return ref;
    }
    if (e->kind == expr_kind::call && !find_scalar_function(e->name) && e->name != "ingestion_time") {
      auto names = aggregate_function_names();
      fail_at(e->pos, fmt::format("unknown aggregation function '{}'{}", e->name, suggestion(e->name, names)));
    }
    auto copy = std::make_shared<expr>(*e);
    if (copy->operand) copy->operand = lift_aggregates(copy->operand, calls, taken);
    for (auto& a : copy->args)
      if (a) a = lift_aggregates(a, calls, taken);
    return copy;
  }

  std::string aggregate_default_name(const expr& e) {
    const auto* f = find_aggregate_function(e.name);
    std::vector<aggregate_arg> infos;
    for (const auto& a : e.args) {
      aggregate_arg info;
      info.name_part = a->kind == expr_kind::star ? "" : expression_name(*a);
      info.star = a->kind == expr_kind::star;
      infos.push_back(std::move(info));
    }
    auto bound = f->bind(infos);
    if (auto* b = std::get_if<bound_aggregate>(&bound); b && !b->outputs.empty()) return b->outputs[0].name;
    return e.name + "_";
  }

  void check_grouped(const expr& e, const std::set<std::string>& visible) {
    if (e.kind == expr_kind::name && !visible.count(e.name))
      fail_at(e.pos, fmt::format("summarize: '{}' is neither a by key nor inside an aggregation function; aggregate "
                                 "it (as in take_any({}), max({})) or add it to the by keys",
                                 e.name, e.name, e.name));
    if (e.operand) check_grouped(*e.operand, visible);
    for (const auto& a : e.args)
      if (a) check_grouped(*a, visible);
  }

  // mv-expand: each expression's array (or property bag) becomes rows; the rest of the row is
  // repeated (L/mv-expand-operator).
  void bind_mv_expand(const tab_op& op, bound_op& b, scope& s, const pipeline& pipe) {
    b.name = "mv-expand";
    b.count = UINT64_MAX;
    std::string index_name;
    for (const auto& [k, v] : op.options) {
      if (k == "kind" || k == "bagexpansion") {
        if (v != "bag" && v != "array") fail_at(op.pos, fmt::format("mv-expand kind '{}' is unknown: bag or array", v));
        b.bag_as_array = v == "array";
      } else if (k == "with_itemindex") {
        index_name = v;
      } else if (k == "limit") {
        try {
          b.count = std::stoull(v);
        } catch (...) {
          fail_at(op.pos, fmt::format("mv-expand's limit must be a constant row count, found '{}'", v));
        }
      }
    }
    scope out = s;
    for (const auto& ne : op.exprs) {
      auto value = bind_expr(*ne.value, s, &pipe);
      if (value.type != column_type::dynamic)
        fail_at(ne.pos, fmt::format("mv-expand expands dynamic arrays and property bags, found a {} value",
                                    describe(value.type)));
      std::string name = ne.name.empty() ? expression_name(*ne.value) : ne.name;
      if (name.empty()) name = "Column1";
      column_type type = column_type::dynamic;
      for (const auto& [k, v] : op.options)
        if (k == "to_typeof:" + name) {
          auto t = model::parse_column_type(v);
          if (!t) fail_at(ne.pos, fmt::format("mv-expand: '{}' in typeof() is not a type", v));
          type = *t;
        }
      auto it = std::find_if(out.begin(), out.end(), [&](const auto& c) { return c.name == name; });
      if (it != out.end()) {
        *it = {name, type, -1};
        b.columns.push_back(static_cast<size_t>(it - out.begin()));
      } else {
        out.push_back({name, type, -1});
        b.columns.push_back(out.size() - 1);
      }
      b.exprs.push_back(std::move(value));
      b.expand_types.push_back(type);
    }
    // Every input column passes through (the expanded ones replaced).
    for (const auto& c : s) pipe.use(c);
    if (!index_name.empty()) {
      b.with_index = true;
      out.push_back({index_name, column_type::long_, -1});
    }
    s = std::move(out);
  }

  // parse / parse-where (L/parse-operator): the pattern becomes one regular expression anchored
  // at the start of the text, a lazy group per column (the last one, when nothing follows it,
  // takes the rest), `*` skipping; kind=regex takes the text pieces as regular expressions.
  void bind_parse(const tab_op& op, bound_op& b, scope& s, const pipeline& pipe) {
    b.name = op.kind == op_kind::parse ? "parse" : "parse-where";
    std::string kind = "simple";
    for (const auto& [k, v] : op.options)
      if (k == "kind") kind = v;
    if (kind != "simple" && kind != "regex" && kind != "relaxed")
      fail_at(op.pos, fmt::format("{} kind '{}' is unknown: simple (the default), regex or relaxed", b.name, kind));
    b.parse_strict = kind != "relaxed";
    b.predicate = bind_expr(*op.predicate, s, &pipe);
    if (b.predicate.type != column_type::string && b.predicate.type != column_type::dynamic)
      fail_at(op.predicate->pos, fmt::format("{} reads a string, found {}; convert it with tostring()", b.name,
                                             describe(b.predicate.type)));
    std::string regex = "(?s)";  // the text may span lines
    scope out = s;
    std::set<std::string> declared;
    const auto& pattern = op.parse_pattern;
    for (size_t i = 0; i < pattern.size(); ++i) {
      const auto& e = pattern[i];
      const bool last = i + 1 == pattern.size();
      switch (e.what) {
        case parse_element::kind::text:
          regex += kind == "regex" ? "(?:" + e.text + ")" : re2_quote(e.text);
          break;
        case parse_element::kind::wildcard: regex += last ? ".*" : ".*?"; break;
        case parse_element::kind::column: {
          if (!declared.insert(e.text).second)
            fail_at(e.pos, fmt::format("{} declares the column '{}' twice", b.name, e.text));
          const column_type type = e.type.value_or(column_type::string);
          // A number takes the number's text (so that `id:long *` stops after the digits); other
          // columns take text lazily up to what follows, the last one all the rest.
          // (kind=simple; relaxed takes any text and leaves what does not convert null).
          if (kind == "simple" && (type == column_type::long_ || type == column_type::int_)) regex += R"(([-+]?\d+))";
          else if (kind == "simple" && type == column_type::real) regex += R"(([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?))";
          else regex += last ? "(.*)" : "(.*?)";
          auto it = std::find_if(out.begin(), out.end(), [&](const auto& c) { return c.name == e.text; });
          if (it != out.end()) {
            *it = {e.text, type, -1};
            b.columns.push_back(static_cast<size_t>(it - out.begin()));
          } else {
            out.push_back({e.text, type, -1});
            b.columns.push_back(out.size() - 1);
          }
          b.expand_types.push_back(type);
          break;
        }
      }
    }
    if (b.columns.empty()) fail_at(op.pos, fmt::format("{}'s pattern declares no column to extract", b.name));
    std::string error;
    if (!regex_valid(regex, error))
      fail_at(op.pos, fmt::format("{}'s pattern is not a valid regular expression ({})", b.name, error));
    b.parse_regex = std::move(regex);
    for (const auto& c : s) pipe.use(c);
    s = std::move(out);
  }

  // summarize with expressions over aggregates (Total = sum(x) * 2, tostring(count()), x = 1):
  // a summarize of the aggregates alone, then a project computing each expression per group.
  void bind_summarize_expressions(const tab_op& op, plan& p, bound_op& b, scope& s, const pipeline& pipe) {
    tab_op aggregates = op;
    aggregates.exprs.clear();
    std::set<std::string> hidden;
    for (const auto& ne : op.by) hidden.insert(ne.name.empty() ? expression_name(*ne.value) : ne.name);
    std::vector<named_expr> outputs;
    for (const auto& ne : op.exprs) {
      named_expr out = ne;
      out.value = lift_aggregates(ne.value, aggregates.exprs, hidden);
      if (out.name.empty() && !is_aggregate_call(*ne.value)) {
        // Named as Kusto names the expression: after its argument for conversions, else Column1...
        out.name = expression_name(*out.value);
      }
      outputs.push_back(std::move(out));
    }
    // Outside aggregates, an expression may only use the by keys (and lets).
    std::set<std::string> visible = hidden;
    for (const auto& [name, _] : lets_) visible.insert(name);
    for (const auto& o : outputs) check_grouped(*o.value, visible);
    bind_summarize(aggregates, b, s, pipe);
    b.schema = schema_of(s);
    p.ops.push_back(std::move(b));
    // The project: the keys, then each expression over the summarize's columns.
    tab_op project;
    project.kind = op_kind::project;
    project.pos = op.pos;
    for (size_t i = 0; i < op.by.size(); ++i) {
      named_expr key;
      auto ref = std::make_shared<expr>();
      ref->kind = expr_kind::name;
      ref->name = s[i].name;
      ref->pos = op.pos;
      key.value = ref;
      key.pos = op.pos;
      project.exprs.push_back(std::move(key));
    }
    for (auto& o : outputs) project.exprs.push_back(std::move(o));
    b = bound_op{};
    b.kind = op_kind::project;
    bind_project(project, b, s, pipe);
  }

  void bind_distinct(const tab_op& op, bound_op& b, scope& s, const pipeline& pipe) {
    b.name = "distinct";
    b.kind = op_kind::summarize;
    const bool star = op.exprs.size() == 1 && op.exprs[0].value->kind == expr_kind::star;
    std::vector<named_expr> keys;
    if (star) {
      for (const auto& c : s) {
        named_expr ne;
        auto e = std::make_shared<expr>();
        e->kind = expr_kind::name;
        e->name = c.name;
        e->pos = op.pos;
        ne.value = e;
        ne.pos = op.pos;
        keys.push_back(std::move(ne));
      }
    } else {
      keys = op.exprs;
    }
    scope out;
    std::set<std::string> taken;
    bind_keys(keys, b, s, pipe, out, taken, "distinct");
    s = std::move(out);
  }

  // `s`: the first leg's columns, as its plan `first` (`p`, or p.inner for `union` as a source)
  // has them. Each output column reads, in each leg, only the column it is made of, and only
  // when used (a count after a union reads none of its legs' columns).
  void bind_union(const tab_op& op, plan& p, scope& s, const std::string& first_leg_name, plan& first) {
    bound_op b;
    b.kind = op_kind::union_;
    b.name = "union";
    std::string kind = "outer", withsource;
    for (const auto& [k, v] : op.options) {
      if (k == "kind") kind = v;
      else if (k == "withsource") withsource = v;
      else if (k == "isfuzzy") {
      } else fail_at(op.pos, fmt::format("union does not know the option '{}'", k));
    }
    if (kind != "outer" && kind != "inner") fail_at(op.pos, fmt::format("union kind '{}' is unknown: outer or inner", kind));
    std::vector<scope> legs{s};
    std::vector<plan*> leg_plans{&first};
    std::vector<std::string> names{first_leg_name};
    for (const auto& leg : existing_legs(op.legs, op.options)) {
      scope ls;
      auto lp = bind_tabular(*leg, &ls);
      legs.push_back(std::move(ls));
      leg_plans.push_back(lp.get());
      names.push_back(leg_name(*leg));
      b.legs.push_back(lp);
    }
    // Columns by name; one name with two types becomes name_type for each.
    std::vector<std::pair<std::string, column_type>> columns;
    for (const auto& l : legs)
      for (const auto& c : l) {
        std::pair<std::string, column_type> key{c.name, c.type};
        if (std::find(columns.begin(), columns.end(), key) == columns.end()) columns.push_back(key);
      }
    if (kind == "inner") {
      std::vector<std::pair<std::string, column_type>> common;
      for (const auto& c : columns)
        if (std::all_of(legs.begin(), legs.end(), [&](const scope& l) {
              return std::any_of(l.begin(), l.end(), [&](const auto& x) { return x.name == c.first && x.type == c.second; });
            }))
          common.push_back(c);
      columns = std::move(common);
    }
    scope out;
    if (!withsource.empty()) out.push_back({withsource, column_type::string, -1});
    for (const auto& [name, type] : columns) {
      const bool clash = std::count_if(columns.begin(), columns.end(), [&](const auto& c) { return c.first == name; }) > 1;
      out.push_back({clash ? name + "_" + describe(type) : name, type, -1});
    }
    std::vector<std::vector<feed>> reads(columns.size());  // per output column: the leg columns it reads
    for (size_t l = 0; l < legs.size(); ++l) {
      std::vector<size_t> map;
      if (!withsource.empty()) map.push_back(SIZE_MAX);
      for (size_t k = 0; k < columns.size(); ++k) {
        const auto& [name, type] = columns[k];
        size_t at = SIZE_MAX;
        for (size_t i = 0; i < legs[l].size(); ++i)
          if (legs[l][i].name == name && legs[l][i].type == type) at = i;
        map.push_back(at);
        if (at == SIZE_MAX) continue;
        const int origin = legs[l][at].origin;
        if (origin >= 0) reads[k].push_back({leg_plans[l], static_cast<size_t>(origin)});
        else if (origin <= -2) {
          const auto& nested = feeds_[static_cast<size_t>(-2 - origin)];
          reads[k].insert(reads[k].end(), nested.begin(), nested.end());
        }
      }
      b.union_maps.push_back(std::move(map));
    }
    for (size_t k = 0; k < columns.size(); ++k) {
      if (reads[k].empty()) continue;
      feeds_.push_back(std::move(reads[k]));
      out[k + (withsource.empty() ? 0 : 1)].origin = -1 - static_cast<int>(feeds_.size());
    }
    b.with_source = !withsource.empty();
    b.leg_names = names;
    s = std::move(out);
    b.schema = schema_of(s);
    p.ops.push_back(std::move(b));
  }

  void bind_join(const tab_op& op, bound_op& b, scope& s, const pipeline& pipe) {
    const bool lookup = op.kind == op_kind::lookup;
    b.name = lookup ? "lookup" : "join";
    b.join_kind = lookup ? "leftouter" : "innerunique";
    for (const auto& [k, v] : op.options) {
      if (k == "kind") b.join_kind = v;
      else if (k.rfind("hint.", 0) == 0) {
      } else fail_at(op.pos, fmt::format("{} does not know the option '{}'", b.name, k));
    }
    if (b.join_kind == "anti" || b.join_kind == "leftantisemi") b.join_kind = "leftanti";
    if (b.join_kind == "rightantisemi") b.join_kind = "rightanti";
    static const std::set<std::string> join_kinds{"innerunique", "inner", "leftouter", "rightouter", "fullouter",
                                                  "leftsemi", "leftanti", "rightsemi", "rightanti"};
    if (lookup ? (b.join_kind != "leftouter" && b.join_kind != "inner") : !join_kinds.count(b.join_kind))
      fail_at(op.pos, fmt::format("{} kind '{}' is unknown; the kinds are {}", b.name, b.join_kind,
                                  lookup ? "leftouter, inner" :
                                           "innerunique (the default), inner, leftouter, rightouter, fullouter, "
                                           "leftsemi, leftanti, rightsemi, rightanti"));
    b.right = bind_tabular(*op.right);
    const auto right = inner_scope(*b.right);
    if (op.join_on.empty()) fail_at(op.pos, fmt::format("{} needs its keys: on Key, or on $left.a == $right.b", b.name));
    for (const auto& k : op.join_on) {
      auto l = std::find_if(s.begin(), s.end(), [&](const auto& c) { return c.name == k.left; });
      if (l == s.end()) unknown_column(k.pos, k.left, s);
      auto r = std::find_if(right.begin(), right.end(), [&](const auto& c) { return c.name == k.right; });
      if (r == right.end()) unknown_column(k.pos, k.right, right);
      if (l->type != r->type)
        fail_at(k.pos, fmt::format("{} keys '{}' ({}) and '{}' ({}) have different types", b.name, k.left,
                                   describe(l->type), k.right, describe(r->type)));
      pipe.use(*l);
      b.join_keys.push_back({static_cast<size_t>(l - s.begin()), static_cast<size_t>(r - right.begin())});
    }
    scope out;
    const bool left_only = b.join_kind == "leftsemi" || b.join_kind == "leftanti";
    const bool right_only = b.join_kind == "rightsemi" || b.join_kind == "rightanti";
    std::set<std::string> taken;
    if (!right_only)
      for (const auto& c : s) {
        out.push_back(c);
        taken.insert(c.name);
      }
    if (!left_only)
      for (size_t i = 0; i < right.size(); ++i) {
        // lookup leaves the right side's key columns out (the left's are the same values)
        if (lookup && std::any_of(b.join_keys.begin(), b.join_keys.end(), [&](const auto& k) {
              return k.second == i && s[k.first].name == right[i].name;
            }))
          continue;
        b.right_columns.push_back(i);
        out.push_back({unique_name(right[i].name, taken), right[i].type, -1});
        taken.insert(out.back().name);
      }
    s = std::move(out);
  }

  void bind_make_series(const tab_op& op, bound_op& b, scope& s, const pipeline& pipe) {
    b.name = "make-series";
    if (!op.series_on || !op.series_step) fail_at(op.pos, "make-series needs on <column> [from <start>] [to <end>] step <step>");
    b.series_on = bind_expr(*op.series_on, s, &pipe);
    scope empty;
    b.series_type = b.series_on.type;
    if (b.series_type != column_type::datetime && b.series_type != column_type::timespan &&
        b.series_type != column_type::long_ && b.series_type != column_type::int_)
      fail_at(op.series_on->pos, "make-series' axis (on ...) must be a datetime, timespan, int or long column");
    auto ticks = [&](const expr& x, const char* what) {
      auto bound = bind_expr(x, empty, nullptr);
      if (!bound.is_constant()) fail_at(x.pos, fmt::format("make-series' {} must be a constant", what));
      auto v = bound.constant.at(0);
      if (!std::holds_alternative<int64_t>(v))
        fail_at(x.pos, fmt::format("make-series' {} must be a datetime, timespan or long value, not null", what));
      return std::get<int64_t>(v);
    };
    b.series_step = ticks(*op.series_step, "step");
    if (b.series_step <= 0) fail_at(op.pos, "make-series' step must be positive");
    if (op.series_from) {
      b.series_from = ticks(*op.series_from, "from");
      b.series_has_from = true;
    }
    if (op.series_to) {
      b.series_to = ticks(*op.series_to, "to");
      b.series_has_to = true;
    }
    if (b.series_has_from && b.series_has_to && b.series_to > b.series_from &&
        (static_cast<uint64_t>(b.series_to) - static_cast<uint64_t>(b.series_from)) / static_cast<uint64_t>(b.series_step) >
            (1u << 20))
      fail_at(op.pos, "make-series would make more than 1,048,576 points per series; widen the step");
    scope out;
    std::set<std::string> taken;
    bind_keys(op.by, b, s, pipe, out, taken, "make-series");
    std::vector<std::string> key_names;
    for (const auto& c : out) key_names.push_back(c.name);
    for (size_t i = 0; i < op.exprs.size(); ++i) {
      auto call = bind_aggregate(op.exprs[i], s, pipe, key_names, "make-series");
      if (call.aggregate.outputs.size() != 1)
        fail_at(op.exprs[i].pos, "make-series takes aggregates with one result each");
      model::value def = int64_t{0};
      if (i < op.series_defaults.size() && op.series_defaults[i]) {
        auto d = bind_expr(*op.series_defaults[i], empty, nullptr);
        if (!d.is_constant()) fail_at(op.series_defaults[i]->pos, "make-series' default must be a constant");
        def = d.constant.at(0);
      }
      b.series_defaults.push_back(def);
      auto& o = call.aggregate.outputs[0];
      o.name = unique_name(o.name, taken);
      taken.insert(o.name);
      out.push_back({o.name, column_type::dynamic, -1});
      b.aggregates.push_back(std::move(call));
    }
    auto axis = expression_name(*op.series_on);
    if (axis.empty()) axis = "Column1";
    out.push_back({unique_name(axis, taken), column_type::dynamic, -1});
    s = std::move(out);
  }

  const data_source& source_;
  query_options& options_;
  subquery_runner run_subquery_;
  eval_context context_;
  std::map<std::string, let_binding> lets_;
  std::vector<std::string> tables_;
  std::vector<std::vector<feed>> feeds_;  ///< what union output columns read (scope_column::origin)
  struct unsplit_leg {
    plan* p;
    shard_cut cut;
    const tabular* t;
  };
  std::vector<unsplit_leg> unsplit_;  ///< union legs whose cluster split waits for their reads
  std::optional<uint64_t> truncation_records_, truncation_size_;
  std::string text_;  ///< the query's text (shard parts are cut out of it)
  // The columns summarize made for the aggregates inside expressions (named as Kusto names
  // the aggregate, count_): in the project after it, their names count as made up.
  std::set<std::string> lifted_;
  int depth_ = 0;
};

}  // namespace

std::variant<bound_query, model::error> bind(const query_ast& ast, const data_source& source, int64_t now_ticks,
                                             query_options options, subquery_runner run_subquery) {
  try {
    binder b(source, now_ticks, options, std::move(run_subquery));
    bound_query q;
    q.root = b.bind_query(ast);
    q.tables = b.tables();
    q.visualization = b.visualization;
    q.options = options;
    q.now_ticks = b.now_ticks();
    if (options.shard_partial) {
      // A shard part sent by the node that merges it: its summarize answers partial states.
      auto root = std::make_shared<plan>(*q.root);
      if (root->source != source_kind::name || root->ops.empty() || root->ops.back().kind != op_kind::summarize)
        return model::error{"BadRequest_SemanticError",
                            "set query_shard_partial; is for a table's rows ending in summarize (a shard part that "
                            "nodes send each other)",
                            true};
      root->ops.back().partial = true;
      root->ops.back().schema = binder::partial_schema(root->ops.back());
      root->schema = root->ops.back().schema;
      q.root = root;
    }
    return q;
  } catch (const bind_failure& f) {
    return f.error;
  }
}

}  // namespace tributary::query
