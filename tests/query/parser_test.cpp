// The KQL parser: precedence, every operator and source, literals and their decoded values,
// errors with line and column, and the oracle's accept/reject answers (golden.jsonl).

#include "query/parser.hpp"

#include <cmath>
#include <fstream>
#include <string>
#include <variant>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace tributary::query {
namespace {

// A compact S-expression of a tree, so that tests compare shapes in one line.
std::string show(const expr_ptr& e);
std::string show(const tabular_ptr& t);

std::string show_value(const model::value& v) {
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) return "null";
        else if constexpr (std::is_same_v<T, bool>) return x ? "true" : "false";
        else if constexpr (std::is_same_v<T, int64_t>) return std::to_string(x);
        else if constexpr (std::is_same_v<T, double>) return fmt::format("{}", x);
        else return "\"" + x + "\"";
      },
      v);
}

const char* binary_name(binary_op op) {
  static const char* names[] = {
      "+", "-", "*", "/", "%", "<", "<=", ">", ">=", "==", "!=", "and", "or", "=~", "!~",
      "has", "!has", "has_cs", "!has_cs", "hasprefix", "!hasprefix", "hasprefix_cs",
      "!hasprefix_cs", "hassuffix", "!hassuffix", "hassuffix_cs", "!hassuffix_cs", "contains",
      "!contains", "contains_cs", "!contains_cs", "startswith", "!startswith", "startswith_cs",
      "!startswith_cs", "endswith", "!endswith", "endswith_cs", "!endswith_cs",
      "matches_regex"};
  return names[static_cast<int>(op)];
}

std::string show(const expr_ptr& e) {
  if (!e) return "<null>";
  switch (e->kind) {
    case expr_kind::literal:
      return fmt::format("{}:{}", show_value(e->value), model::to_string(e->type));
    case expr_kind::name: return e->name;
    case expr_kind::member: return fmt::format("(. {} {})", show(e->operand), e->name);
    case expr_kind::index: return fmt::format("([] {} {})", show(e->operand), show(e->args[0]));
    case expr_kind::unary:
      return fmt::format("({} {})", e->unary == unary_op::negate ? "neg" : "pos", show(e->operand));
    case expr_kind::binary:
      return fmt::format("({} {} {})", binary_name(e->binary), show(e->args[0]), show(e->args[1]));
    case expr_kind::list: {
      static const char* ops[] = {"in", "!in", "in~", "!in~", "has_any", "has_all"};
      std::string s = fmt::format("({}", ops[static_cast<int>(e->list)]);
      for (const auto& a : e->args) s += " " + show(a);
      if (e->subquery) s += " " + show(e->subquery);
      return s + ")";
    }
    case expr_kind::between:
      return fmt::format("({} {} {} {})", e->negated ? "!between" : "between", show(e->args[0]),
                         show(e->args[1]), show(e->args[2]));
    case expr_kind::call: {
      std::string s = "(call " + e->name;
      for (const auto& a : e->args) s += " " + show(a);
      for (const auto& [n, a] : e->named_args) s += " " + n + "=" + show(a);
      return s + ")";
    }
    case expr_kind::star: return "*";
    case expr_kind::tabular: return "(tab " + show(e->subquery) + ")";
  }
  return "?";
}

std::string show(const std::vector<named_expr>& list) {
  std::string s;
  for (const auto& n : list) {
    if (!s.empty()) s += ", ";
    if (!n.names.empty()) {
      s += "(";
      for (size_t i = 0; i < n.names.size(); ++i) s += (i ? "," : "") + n.names[i];
      s += ")=";
    }
    if (!n.name.empty()) s += n.name + "=";
    s += show(n.value);
  }
  return s;
}

std::string show(const tabular_ptr& t) {
  if (!t) return "<null>";
  std::string s;
  switch (t->source) {
    case source_kind::name: s = t->name; break;
    case source_kind::datatable: {
      s = "datatable(";
      for (const auto& c : t->schema) s += c.name + ":" + std::string(model::to_string(c.type)) + " ";
      s += ")[";
      for (const auto& v : t->values) s += show(v) + " ";
      s += "]";
      break;
    }
    case source_kind::print: s = "print " + show(t->exprs); break;
    case source_kind::range:
      s = fmt::format("range {} {} {} {}", t->name, show(t->range_from), show(t->range_to),
                      show(t->range_step));
      break;
    case source_kind::union_: {
      s = "union";
      for (const auto& [k, v] : t->options) s += " " + k + "=" + v;
      for (const auto& l : t->legs) s += " " + show(l);
      break;
    }
    case source_kind::subquery: s = "(" + show(t->inner) + ")"; break;
  }
  for (const auto& op : t->ops) {
    s += " | ";
    switch (op.kind) {
      case op_kind::where:
        s += "where " + show(op.predicate);
        if (!op.exprs.empty()) s += " [" + show(op.exprs) + "]";
        break;
      case op_kind::project: s += "project " + show(op.exprs); break;
      case op_kind::project_away:
      case op_kind::project_keep:
      case op_kind::project_reorder:
        s += op.kind == op_kind::project_away   ? "project-away"
             : op.kind == op_kind::project_keep ? "project-keep"
                                                : "project-reorder";
        for (const auto& p : op.patterns) s += " " + p;
        break;
      case op_kind::project_rename:
        s += "project-rename";
        for (const auto& [to, from] : op.renames) s += " " + to + "=" + from;
        break;
      case op_kind::extend: s += "extend " + show(op.exprs); break;
      case op_kind::summarize:
        s += "summarize " + show(op.exprs);
        if (!op.by.empty()) s += " by " + show(op.by);
        break;
      case op_kind::top:
      case op_kind::sort:
        s += op.kind == op_kind::top ? "top " + show(op.count) + " by" : "sort by";
        for (const auto& k : op.keys) {
          s += " " + show(k.value) + (k.ascending ? " asc" : " desc");
          if (k.nulls_first) s += *k.nulls_first ? " nulls-first" : " nulls-last";
        }
        break;
      case op_kind::take: s += "take " + show(op.count); break;
      case op_kind::distinct: s += "distinct " + show(op.exprs); break;
      case op_kind::count: s += "count"; break;
      case op_kind::union_:
        s += "union";
        for (const auto& l : op.legs) s += " " + show(l);
        break;
      case op_kind::join:
      case op_kind::lookup:
        s += op.kind == op_kind::join ? "join" : "lookup";
        s += " " + show(op.right) + " on";
        for (const auto& k : op.join_on) s += " " + k.left + "==" + k.right;
        break;
      case op_kind::as: s += "as " + op.alias; break;
      case op_kind::make_series:
        s += "make-series " + show(op.exprs) + " on " + show(op.series_on) + " from " +
             show(op.series_from) + " to " + show(op.series_to) + " step " +
             show(op.series_step);
        if (!op.by.empty()) s += " by " + show(op.by);
        break;
      case op_kind::render: s += "render " + op.alias; break;
      case op_kind::getschema: s += "getschema"; break;
      case op_kind::mv_expand: s += "mv-expand " + show(op.exprs); break;
      case op_kind::serialize: s += "serialize " + show(op.exprs); break;
      case op_kind::parse:
      case op_kind::parse_where: {
        s += std::string(op.kind == op_kind::parse ? "parse " : "parse-where ") + show(op.predicate) + " with";
        for (const auto& e : op.parse_pattern)
          s += e.what == parse_element::kind::wildcard ? " *" : e.what == parse_element::kind::text ? " \"" + e.text + "\"" : " " + e.text;
        break;
      }
    }
    for (const auto& [k, v] : op.options) {
      if (op.kind != op_kind::union_) s += " {" + k + "=" + v + "}";
    }
  }
  return s;
}

query_ast parse_ok(std::string_view text) {
  auto r = parse_kql(text);
  if (auto* e = std::get_if<model::error>(&r)) {
    ADD_FAILURE() << "parse failed: " << text << "\n  " << e->message;
    return {};
  }
  return std::get<query_ast>(std::move(r));
}

std::string body(std::string_view text) { return show(parse_ok(text).body); }

// The scalar of `print e`.
expr_ptr scalar(std::string_view e) {
  auto q = parse_ok("print " + std::string(e));
  if (!q.body || q.body->exprs.empty()) return nullptr;
  return q.body->exprs[0].value;
}
std::string sexpr(std::string_view e) { return show(scalar(e)); }

std::string error_of(std::string_view text) {
  auto r = parse_kql(text);
  auto* e = std::get_if<model::error>(&r);
  if (e == nullptr) {
    ADD_FAILURE() << "expected a syntax error: " << text;
    return "";
  }
  EXPECT_EQ(e->code, "BadRequest_SyntaxError");
  EXPECT_TRUE(e->permanent);
  return e->message;
}

// --- precedence ------------------------------------------------------------------------

TEST(parser_precedence, string_operators_bind_tighter_than_equality) {
  EXPECT_EQ(sexpr(R"(a has "x" == true)"), R"((== (has a "x":string) true:bool))");
  EXPECT_EQ(sexpr(R"(a contains "x" and b !startswith_cs "y")"),
            R"((and (contains a "x":string) (!startswith_cs b "y":string)))");
}

TEST(parser_precedence, arithmetic) {
  EXPECT_EQ(sexpr("1 + 2 * 3"), "(+ 1:long (* 2:long 3:long))");
  EXPECT_EQ(sexpr("(1 + 2) * 3"), "(* (+ 1:long 2:long) 3:long)");
  EXPECT_EQ(sexpr("1 - 2 - 3"), "(- (- 1:long 2:long) 3:long)");
  EXPECT_EQ(sexpr("a % b / c"), "(/ (% a b) c)");
  EXPECT_EQ(sexpr("-a * b"), "(* (neg a) b)");
  EXPECT_EQ(sexpr("a < b + 1"), "(< a (+ b 1:long))");
}

TEST(parser_precedence, logical) {
  EXPECT_EQ(sexpr("a or b and c"), "(or a (and b c))");
  EXPECT_EQ(sexpr("a and b or c"), "(or (and a b) c)");
  EXPECT_EQ(sexpr("a == 1 or b != 2 and c <> 3"),
            "(or (== a 1:long) (and (!= b 2:long) (!= c 3:long)))");
  EXPECT_EQ(sexpr("not(a) and b"), "(and (call not a) b)");
  EXPECT_EQ(sexpr("a > 1 == true"), "(== (> a 1:long) true:bool)");
}

TEST(parser_precedence, non_associative_levels_are_errors) {
  EXPECT_NE(error_of("print 1 < 2 < 3").find("do not chain"), std::string::npos);
  EXPECT_NE(error_of("print a == b == c").find("do not chain"), std::string::npos);
  EXPECT_NE(error_of(R"(print a has "x" has "y")").find("do not chain"), std::string::npos);
  error_of("print - - x");
  error_of("T | where not x == 1");
}

TEST(parser_precedence, string_operators_all_forms) {
  EXPECT_EQ(sexpr(R"(a =~ "x")"), R"((=~ a "x":string))");
  EXPECT_EQ(sexpr(R"(a !~ "x")"), R"((!~ a "x":string))");
  for (std::string op : {"has", "has_cs", "hasprefix", "hasprefix_cs", "hassuffix",
                         "hassuffix_cs", "contains", "contains_cs", "startswith",
                         "startswith_cs", "endswith", "endswith_cs"}) {
    EXPECT_EQ(sexpr("a " + op + " 'x'"), "(" + op + " a \"x\":string)");
    EXPECT_EQ(sexpr("a !" + op + " 'x'"), "(!" + op + " a \"x\":string)");
  }
  EXPECT_EQ(sexpr(R"(a matches regex "[0-9]+")"), R"((matches_regex a "[0-9]+":string))");
}

// --- expressions -----------------------------------------------------------------------

TEST(parser_expr, lists_and_between) {
  EXPECT_EQ(sexpr("x in (1, 2, 3)"), "(in x 1:long 2:long 3:long)");
  EXPECT_EQ(sexpr("x !in ('a')"), "(!in x \"a\":string)");
  EXPECT_EQ(sexpr("x in~ ('a', 'b')"), "(in~ x \"a\":string \"b\":string)");
  EXPECT_EQ(sexpr("x !in~ ('a')"), "(!in~ x \"a\":string)");
  EXPECT_EQ(sexpr("x has_any ('a', 'b')"), "(has_any x \"a\":string \"b\":string)");
  EXPECT_EQ(sexpr("x has_all ('a')"), "(has_all x \"a\":string)");
  EXPECT_EQ(sexpr("x in (dynamic([1,2]))"), "(in x \"[1,2]\":dynamic)");
  EXPECT_EQ(sexpr("x in (T | project y)"), "(in x T | project y)");
  EXPECT_EQ(sexpr("x between (1 .. 10)"), "(between x 1:long 10:long)");
  EXPECT_EQ(sexpr("x !between(1..10)"), "(!between x 1:long 10:long)");
  EXPECT_EQ(sexpr("ts between (ago(1h) .. now())"),
            "(between ts (call ago 36000000000:timespan) (call now))");
  EXPECT_EQ(sexpr("a + 1 in (2)"), "(in (+ a 1:long) 2:long)");
}

TEST(parser_expr, calls_members_indexes) {
  EXPECT_EQ(sexpr("count()"), "(call count)");
  EXPECT_EQ(sexpr("arg_max(ts, *)"), "(call arg_max ts *)");
  EXPECT_EQ(sexpr("bin(ts, 1m)"), "(call bin ts 600000000:timespan)");
  EXPECT_EQ(sexpr("f(x = 1)"), "(call f x=1:long)");
  EXPECT_EQ(sexpr("d.a.b"), "(. (. d a) b)");
  EXPECT_EQ(sexpr("d['x']"), "([] d \"x\":string)");
  EXPECT_EQ(sexpr("d[0][-1]"), "([] ([] d 0:long) -1:long)");
  EXPECT_EQ(sexpr("tostring(d.a['b'][0])"), "(call tostring ([] ([] (. d a) \"b\":string) 0:long))");
  EXPECT_EQ(sexpr("toscalar(T | count)"), "(call toscalar (tab T | count))");
  EXPECT_EQ(sexpr("['my col'] + [\"x\"]"), "(+ my col x)");
  EXPECT_EQ(sexpr("-x"), "(neg x)");
  EXPECT_EQ(sexpr("+x"), "(pos x)");
}

TEST(parser_expr, positions) {
  auto q = parse_ok("T\n| where  a == 1");
  ASSERT_EQ(q.body->ops.size(), 1u);
  const auto& op = q.body->ops[0];
  EXPECT_EQ(op.pos.line, 2u);
  EXPECT_EQ(op.pos.column, 3u);
  EXPECT_EQ(op.predicate->pos.line, 2u);
  EXPECT_EQ(op.predicate->pos.column, 10u);
  EXPECT_EQ(op.predicate->args[1]->pos.column, 15u);
  EXPECT_EQ(op.predicate->args[1]->pos.offset, 16u);
}

// --- literals --------------------------------------------------------------------------

TEST(parser_literals, numbers_and_bools) {
  EXPECT_EQ(sexpr("42"), "42:long");
  EXPECT_EQ(sexpr("-42"), "-42:long");
  EXPECT_EQ(sexpr("-9223372036854775808"), "-9223372036854775808:long");
  EXPECT_EQ(sexpr("0x1F"), "31:long");
  EXPECT_EQ(sexpr("1.5"), "1.5:real");
  EXPECT_EQ(sexpr("1e3"), "1000:real");
  EXPECT_EQ(sexpr("2.5E-1"), "0.25:real");
  EXPECT_EQ(sexpr("1."), "1:real");
  EXPECT_EQ(sexpr("true"), "true:bool");
  EXPECT_EQ(sexpr("false"), "false:bool");
  error_of("print 9223372036854775808");
  error_of("print 12abc");
}

TEST(parser_literals, strings) {
  EXPECT_EQ(sexpr(R"("a\tb\n\\\"'")"), "\"a\tb\n\\\"'\":string");
  EXPECT_EQ(sexpr(R"('it\'s')"), "\"it's\":string");
  EXPECT_EQ(sexpr(R"(@"C:\path")"), "\"C:\\path\":string");
  EXPECT_EQ(sexpr(R"(@'a''b')"), "\"a'b\":string");
  EXPECT_EQ(sexpr(R"(h"secret")"), "\"secret\":string");
  EXPECT_EQ(sexpr(R"(H@'s\x')"), "\"s\\x\":string");
  EXPECT_EQ(sexpr("```line1\nline2```"), "\"line1\nline2\":string");
  EXPECT_EQ(sexpr(R"("a" 'b' @"c")"), "\"abc\":string");
  EXPECT_EQ(sexpr(R"("\u00e9\x41")"), "\"\xC3\xA9" "A\":string");
  error_of(R"(print "\q")");
  error_of("print \"abc");
  error_of("print 'a\nb'");
  error_of("print ```abc");
}

TEST(parser_literals, timespans) {
  constexpr int64_t s = 10'000'000;
  EXPECT_EQ(sexpr("1d"), std::to_string(86400 * s) + ":timespan");
  EXPECT_EQ(sexpr("2h"), std::to_string(7200 * s) + ":timespan");
  EXPECT_EQ(sexpr("30m"), std::to_string(1800 * s) + ":timespan");
  EXPECT_EQ(sexpr("10s"), std::to_string(10 * s) + ":timespan");
  EXPECT_EQ(sexpr("100ms"), std::to_string(1'000'000) + ":timespan");
  EXPECT_EQ(sexpr("10microsecond"), "100:timespan");
  EXPECT_EQ(sexpr("1tick"), "1:timespan");
  EXPECT_EQ(sexpr("1.5h"), std::to_string(5400 * s) + ":timespan");
  EXPECT_EQ(sexpr("2min"), std::to_string(120 * s) + ":timespan");
  EXPECT_EQ(sexpr("30sec"), std::to_string(30 * s) + ":timespan");
  EXPECT_EQ(sexpr("-1h"), std::to_string(-3600 * s) + ":timespan");
  EXPECT_EQ(sexpr("time(1.02:03:04.5)"),
            std::to_string((86400 + 2 * 3600 + 3 * 60 + 4) * s + s / 2) + ":timespan");
  EXPECT_EQ(sexpr("time(2h)"), std::to_string(7200 * s) + ":timespan");
  EXPECT_EQ(sexpr("timespan(2)"), std::to_string(2 * 86400 * s) + ":timespan");
  EXPECT_EQ(sexpr("timespan(null)"), "null:timespan");
  error_of("print 1w");
}

TEST(parser_literals, datetimes) {
  constexpr int64_t s = 10'000'000;
  EXPECT_EQ(sexpr("datetime(1970-01-02)"), std::to_string(86400 * s) + ":datetime");
  EXPECT_EQ(sexpr("datetime(2024-01-01)"), std::to_string(int64_t{1704067200} * s) + ":datetime");
  EXPECT_EQ(sexpr("datetime(2015-12-31 23:59:59.9)"),
            std::to_string(int64_t{1451606399} * s + 9'000'000) + ":datetime");
  EXPECT_EQ(sexpr("datetime(2014-05-25T08:20:03.123456Z)"),
            std::to_string(int64_t{1401006003} * s + 1'234'560) + ":datetime");
  EXPECT_EQ(sexpr("datetime(null)"), "null:datetime");
  EXPECT_EQ(sexpr("date(1970-01-01)"), "0:datetime");
  EXPECT_NE(error_of("print datetime(yesterday)").find("datetime"), std::string::npos);
  error_of("print datetime(2024-01-01");
}

TEST(parser_literals, typed) {
  EXPECT_EQ(sexpr("int(5)"), "5:int");
  EXPECT_EQ(sexpr("int(-5)"), "-5:int");
  EXPECT_EQ(sexpr("int(null)"), "null:int");
  EXPECT_EQ(sexpr("long(-3)"), "-3:long");
  EXPECT_EQ(sexpr("real(1.5)"), "1.5:real");
  EXPECT_EQ(sexpr("real(2)"), "2:real");
  EXPECT_EQ(sexpr("double(-0.5)"), "-0.5:real");
  EXPECT_EQ(sexpr("real(+inf)"), "inf:real");
  EXPECT_EQ(sexpr("real(-inf)"), "-inf:real");
  auto nan = scalar("real(nan)");
  ASSERT_TRUE(nan);
  EXPECT_TRUE(std::isnan(std::get<double>(nan->value)));
  EXPECT_EQ(sexpr("bool(true)"), "true:bool");
  EXPECT_EQ(sexpr("bool(null)"), "null:bool");
  EXPECT_EQ(sexpr("guid(74be27de-1e4e-49d9-b579-fe0b331d3642)"),
            "\"74be27de-1e4e-49d9-b579-fe0b331d3642\":guid");
  EXPECT_EQ(sexpr("guid(null)"), "null:guid");
  EXPECT_EQ(sexpr("decimal(1.5)"), "\"1.5\":decimal");
  EXPECT_EQ(sexpr("dynamic({\"a\": [1, 2.5, 'x', null, true, -3], \"b\": {}})"),
            R"("{"a":[1,2.5,"x",null,true,-3],"b":{}}":dynamic)");
  EXPECT_EQ(sexpr("dynamic([])"), "\"[]\":dynamic");
  EXPECT_EQ(sexpr("dynamic(null)"), "null:dynamic");
  EXPECT_EQ(sexpr("dynamic(1)"), "\"1\":dynamic");
  EXPECT_EQ(scalar("int(5)")->kind, expr_kind::literal);
  error_of("print int(2147483648)");
  error_of("print string(null)");
  error_of("print dynamic(x)");
  error_of("print guid(xyz)");
}

// --- statements ------------------------------------------------------------------------

TEST(parser_statements, set_and_let) {
  auto q = parse_ok(
      "set notruncation;\nset truncationmaxrecords = 10;\nset query_now = datetime(2024-01-01);"
      "set x = 'abc';\n"
      "let Threshold = 5m;\nlet ['a b'] = 1;\nlet R = T | where x > Threshold;\n"
      "let P = (T | count);\nlet D = datatable(a:long)[1];\nlet S = x;\nR | count;");
  ASSERT_EQ(q.sets.size(), 4u);
  EXPECT_EQ(q.sets[0].name, "notruncation");
  EXPECT_EQ(q.sets[0].value, "true");
  EXPECT_EQ(q.sets[1].value, "10");
  EXPECT_EQ(q.sets[2].value, "datetime(2024-01-01)");
  EXPECT_EQ(q.sets[3].value, "abc");
  ASSERT_EQ(q.lets.size(), 6u);
  EXPECT_EQ(q.lets[0].name, "Threshold");
  EXPECT_EQ(show(q.lets[0].scalar), "3000000000:timespan");
  EXPECT_EQ(q.lets[1].name, "a b");
  EXPECT_EQ(show(q.lets[2].table), "T | where (> x Threshold)");
  EXPECT_FALSE(q.lets[2].scalar);
  EXPECT_EQ(show(q.lets[3].table), "T | count");
  EXPECT_EQ(show(q.lets[4].table), "datatable(a:long )[1:long ]");
  EXPECT_EQ(show(q.lets[5].scalar), "x");
  EXPECT_EQ(show(q.body), "R | count");
  EXPECT_EQ(q.lets[1].pos.line, 5u);
}

TEST(parser_statements, comments_and_trailing_semicolon) {
  EXPECT_EQ(body("// leading\nT // after the table\n| count // done\n;"), "T | count");
}

TEST(parser_statements, refusals) {
  EXPECT_NE(error_of("let f = (x:long) { x * 5 }; T").find("user-defined functions are not supported"),
            std::string::npos);
  EXPECT_NE(error_of("let f = () { 5 }; T").find("user-defined functions"), std::string::npos);
  EXPECT_NE(error_of("let v = view () { T }; v").find("user-defined functions"), std::string::npos);
  error_of("let x = 1;");
  error_of("");
  error_of("T | count; T | take 1");
  error_of("let x = 1 T");
  error_of("declare query_parameters(x:long); T");
}

// --- sources ---------------------------------------------------------------------------

TEST(parser_sources, all) {
  EXPECT_EQ(body("T"), "T");
  EXPECT_EQ(body("['my table'] | count"), "my table | count");
  EXPECT_EQ(body("[\"x\"]"), "x");
  EXPECT_EQ(body("datatable(a:long, b:string, c:int, d:dynamic, e:datetime)"
                 "[1, \"x\", int(null), dynamic({\"k\": 1}), datetime(null), -2, 'y', 3, "
                 "dynamic([1]), datetime(1970-01-01)]"),
            "datatable(a:long b:string c:int d:dynamic e:datetime )[1:long \"x\":string null:int "
            "\"{\"k\":1}\":dynamic null:datetime -2:long \"y\":string 3:long \"[1]\":dynamic "
            "0:datetime ]");
  EXPECT_EQ(body("datatable(x:long)[]"), "datatable(x:long )[]");
  EXPECT_EQ(body("print 1, b = 'x'"), "print 1:long, b=\"x\":string");
  EXPECT_EQ(body("range x from 1 to 10 step 2"), "range x 1:long 10:long 2:long");
  EXPECT_EQ(body("range t from ago(1h) to now() step 1m | count"),
            "range t (call ago 36000000000:timespan) (call now) 600000000:timespan | count");
  EXPECT_EQ(body("union T, (U | count), V*"), "union T U | count V*");
  EXPECT_EQ(body("union kind=inner withsource=Src isfuzzy=true T, U"),
            "union kind=inner withsource=Src isfuzzy=true T U");
  EXPECT_EQ(body("(T | take 1) | count"), "(T | take 1:long) | count");
  error_of("datatable(a:long)[x]");
  error_of("datatable(a:blob)[1]");
}

// --- operators -------------------------------------------------------------------------

TEST(parser_operators, where_and_project_family) {
  EXPECT_EQ(body("T | where a > 1 | filter b"), "T | where (> a 1:long) | where b");
  EXPECT_EQ(body("T | where Level = \"Error\""),
            "T | where \"Error\":string [Level=\"Error\":string]");
  EXPECT_EQ(body("T | project a, b = c * 2, ['d e'] = 1"),
            "T | project a, b=(* c 2:long), d e=1:long");
  EXPECT_EQ(body("T | project-away Pr*, ['x'], *Time, a*b"), "T | project-away Pr* x *Time a*b");
  EXPECT_EQ(body("T | project-keep a, b*"), "T | project-keep a b*");
  EXPECT_EQ(body("T | project-reorder b asc, a* desc"), "T | project-reorder b a*");
  EXPECT_EQ(body("T | project-rename New = Old, ['x y'] = z"),
            "T | project-rename New=Old x y=z");
  EXPECT_EQ(body("T | extend x = 1, y"), "T | extend x=1:long, y");
}

TEST(parser_operators, summarize) {
  EXPECT_EQ(body("T | summarize count(), s = sum(x) by bin(ts, 1h), k"),
            "T | summarize (call count), s=(call sum x) by (call bin ts 36000000000:timespan), k");
  EXPECT_EQ(body("T | summarize by x"), "T | summarize  by x");
  EXPECT_EQ(body("T | summarize count()"), "T | summarize (call count)");
  EXPECT_EQ(body("T | summarize (a, b) = arg_max(ts, x) by k"),
            "T | summarize (a,b)=(call arg_max ts x) by k");
  EXPECT_EQ(body("T | summarize hint.strategy=shuffle count() by k"),
            "T | summarize (call count) by k {hint.strategy=shuffle}");
  EXPECT_EQ(body("T | summarize"), "T | summarize ");
  error_of("T | summarize count() by");
}

TEST(parser_operators, sort_top_take_distinct_count) {
  EXPECT_EQ(body("T | top 5 by x"), "T | top 5:long by x desc");
  EXPECT_EQ(body("T | top 5 by x asc nulls last"), "T | top 5:long by x asc nulls-last");
  EXPECT_EQ(body("T | sort by a asc nulls first, b desc, c"),
            "T | sort by a asc nulls-first b desc c desc");
  EXPECT_EQ(body("T | order by a"), "T | sort by a desc");
  EXPECT_EQ(body("T | take 10 | limit 5"), "T | take 10:long | take 5:long");
  EXPECT_EQ(body("T | distinct a, b"), "T | distinct a, b");
  EXPECT_EQ(body("T | distinct *"), "T | distinct *");
  EXPECT_EQ(body("T | count"), "T | count");
  error_of("T | sort a");
  error_of("T | take");
  error_of("T | top 5 x");
  error_of("T | sort by a nulls middle");
}

TEST(parser_operators, union_join_lookup_as) {
  EXPECT_EQ(body("T | union U, (V | count)"), "T | union U V | count");
  EXPECT_EQ(body("T | join kind=inner hint.strategy=broadcast (U | where x) on a, $left.b == "
                 "$right.c and $right.d == $left.e"),
            "T | join U | where x on a==a b==c e==d {kind=inner} {hint.strategy=broadcast}");
  EXPECT_EQ(body("T | join U on a"), "T | join U on a==a");
  EXPECT_EQ(body("T | lookup kind=leftouter (U) on k"), "T | lookup U on k==k {kind=leftouter}");
  EXPECT_EQ(body("T | as X | count"), "T | as X | count");
  error_of("T | join U");
  error_of("T | join U on $left.a == $left.b");
  error_of("T | where $left.a == 1");
}

TEST(parser_operators, make_series_render_getschema_mv_expand_serialize) {
  auto q = parse_ok(
      "T | make-series c = count() default=0, avg(v) on ts from ago(1h) to now() step 1m by k");
  ASSERT_EQ(q.body->ops.size(), 1u);
  const auto& ms = q.body->ops[0];
  EXPECT_EQ(ms.kind, op_kind::make_series);
  ASSERT_EQ(ms.series_defaults.size(), 2u);
  EXPECT_EQ(show(ms.series_defaults[0]), "0:long");
  EXPECT_FALSE(ms.series_defaults[1]);
  EXPECT_EQ(show(q.body),
            "T | make-series c=(call count), (call avg v) on ts from (call ago "
            "36000000000:timespan) to (call now) step 600000000:timespan by k");
  EXPECT_EQ(body("T | make-series count() on ts step 1h"),
            "T | make-series (call count) on ts from <null> to <null> step 36000000000:timespan");
  auto r = parse_ok("T | render timechart with (title=\"x y\", ycolumns=a, b, xtitle='t')");
  const auto& render = r.body->ops[0];
  EXPECT_EQ(render.alias, "timechart");
  ASSERT_EQ(render.options.size(), 3u);
  EXPECT_EQ(render.options[0], (std::pair<std::string, std::string>{"title", "x y"}));
  EXPECT_EQ(render.options[1], (std::pair<std::string, std::string>{"ycolumns", "a,b"}));
  EXPECT_EQ(render.options[2], (std::pair<std::string, std::string>{"xtitle", "t"}));
  EXPECT_EQ(body("T | take 1 | render barchart"), "T | take 1:long | render barchart");
  EXPECT_EQ(body("T | getschema"), "T | getschema");
  EXPECT_EQ(body("T | mv-expand a = d, e to typeof(long) limit 10"),
            "T | mv-expand a=d, e {to_typeof:e=long} {limit=10}");
  EXPECT_EQ(body("T | serialize"), "T | serialize ");
  EXPECT_EQ(body("T | serialize rn = row_number()"), "T | serialize rn=(call row_number)");
}

TEST(parser_operators, unknown_and_unsupported) {
  EXPECT_NE(error_of("T | frobnicate").find("expected a query operator after '|'"),
            std::string::npos);
  EXPECT_NE(error_of("T | evaluate bag_unpack(d)").find("'evaluate' is not supported yet"),
            std::string::npos);
  EXPECT_NE(error_of("T | parse x with").find("expected a pattern after 'with'"), std::string::npos);
  EXPECT_EQ(error_of("T | where Level = \"Error\" |"),
            "Syntax error at line 1, column 28: expected a query operator after '|' (where, "
            "project, summarize, ...), found end of query");
}

// --- names and errors ------------------------------------------------------------------

TEST(parser_errors, keyword_as_name_needs_brackets) {
  EXPECT_EQ(error_of("T | extend first = 1"),
            "Syntax error at line 1, column 12: the name 'first' needs to be bracketed as "
            "['first']");
  EXPECT_EQ(body("T | extend ['first'] = 1"), "T | extend first=1:long");
  EXPECT_NE(error_of("T | where by > 1").find("['by']"), std::string::npos);
  EXPECT_NE(error_of("T | project where").find("['where']"), std::string::npos);
  EXPECT_NE(error_of("let int = 1; T").find("['int']"), std::string::npos);
  EXPECT_EQ(body("T | where count > 1"), "T | where (> count 1:long)");  // not reserved
}

TEST(parser_errors, line_and_column_in_a_multi_line_query) {
  EXPECT_EQ(error_of("T\n| where x > 1\n| summarize count() by\n"),
            "Syntax error at line 4, column 1: expected an expression, found end of query");
  EXPECT_EQ(error_of("T\n| where x > 1\n|   sort x"),
            "Syntax error at line 3, column 10: expected 'by' after 'sort', found 'x'");
  EXPECT_EQ(error_of("let a = 1;\n  T | where a == (1 + )"),
            "Syntax error at line 2, column 23: expected an expression, found ')'");
  EXPECT_EQ(error_of("T | where x == \"abc\nd\""),
            "Syntax error at line 1, column 16: unterminated string literal: expected the "
            "closing \" before the end of the line (use ``` for multi-line strings)");
  EXPECT_EQ(error_of("print ```a\nb``` + \n  #"),
            "Syntax error at line 3, column 3: unexpected character '#'");
  EXPECT_EQ(error_of("T | where x > 1 = true"),
            "Syntax error at line 1, column 17: unexpected '=' after the 'where' operator; "
            "expected '|' or the end of the query");
}

TEST(parser_errors, nesting_is_capped) {
  std::string deep = "print " + std::string(5000, '(') + "1" + std::string(5000, ')');
  EXPECT_NE(error_of(deep).find("nests more than"), std::string::npos);
  std::string deep_json = "print dynamic(" + std::string(5000, '[') + std::string(5000, ']') + ")";
  EXPECT_NE(error_of(deep_json).find("nests more than"), std::string::npos);
  std::string deep_query = "T | where x in (" ;
  for (int i = 0; i < 3000; ++i) deep_query += "T | where x in (";
  EXPECT_NE(error_of(deep_query).find("nests more than"), std::string::npos);
  std::string chain = "print 1";
  for (int i = 0; i < 100000; ++i) chain += " + 1";
  EXPECT_NE(error_of(chain).find("chains more than"), std::string::npos);
  std::string ok = "print 1";
  for (int i = 0; i < 1000; ++i) ok += " + 1";
  parse_ok(ok);
  std::string parens = "print " + std::string(60, '(') + "1" + std::string(60, ')');
  parse_ok(parens);
}

// --- the oracle ------------------------------------------------------------------------

TEST(parser_oracle, accepts_exactly_what_kusto_accepts) {
  std::ifstream in(std::string(TRIBUTARY_SOURCE_DIR) + "/tests/query/oracle/golden.jsonl");
  ASSERT_TRUE(in) << "missing tests/query/oracle/golden.jsonl";
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line);
    std::string query = j.at("query");
    bool syntax_ok = j.at("syntax_ok");
    auto r = parse_kql(query);
    if (syntax_ok) {
      EXPECT_TRUE(std::holds_alternative<query_ast>(r))
          << query << "\n  " << std::get<model::error>(r).message;
    } else {
      EXPECT_TRUE(std::holds_alternative<model::error>(r)) << "accepted: " << query;
    }
    ++n;
  }
  EXPECT_GE(n, 61);
}

}  // namespace
}  // namespace tributary::query
