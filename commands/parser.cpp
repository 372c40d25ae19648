#include "commands/parser.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <utility>

namespace tributary::commands {

namespace {

constexpr size_t max_name_chars = 1024;
constexpr size_t max_columns = 10000;  // Kusto's per-table column limit

constexpr std::string_view supported_commands =
    ".create database D [ifnotexists], .drop database D [ifexists], .show databases, "
    ".create table T (col:type, ...), .create-merge table T (col:type, ...), .drop table T [ifexists], "
    ".show tables, .show table T [details|extents], .clear table T data, .show data operations, "
    ".create|.create-or-alter table T ingestion csv|json mapping 'm' '<json>', "
    ".show table T ingestion [csv|json] mappings, .drop table T ingestion csv|json mapping 'm', "
    ".alter|.alter-merge|.delete|.show table T|database D policy streamingingestion [enable|disable|'<json>'], "
    ".alter cluster policy streamingingestion enable|disable, .show cluster policy streamingingestion, "
    ".show cluster streamingingestion, .show cluster, .clear table T|database cache streamingingestion schema, "
    ".drop cluster node N, .create|.alter|.drop|.pause|.resume database D data connection N ..., "
    ".show database D data connections, .show ingestion failures";

constexpr std::string_view supported_types =
    "bool (boolean), int, long, real (double), decimal, string, datetime (date), timespan (time), guid (uuid, "
    "uniqueid), dynamic";

class parser {
 public:
  explicit parser(std::string_view text) : lexer_(text), current_(lexer_.next()) {}

  std::variant<parsed_command, model::error> run() {
    if (!parse_command() || !expect_end()) return *error_;
    return std::move(cmd_);
  }

 private:
  const token& peek() const { return current_; }
  token next() { return std::exchange(current_, lexer_.next()); }
  bool at_word(std::string_view w) const { return peek().kind == token_kind::identifier && peek().text == w; }
  bool at_punct(char p) const { return peek().kind == token_kind::punct && peek().text.size() == 1 && peek().text[0] == p; }
  bool accept_word(std::string_view w) {
    if (!at_word(w)) return false;
    next();
    return true;
  }

  bool fail(const position& at, std::string_view what) {
    // A lexical error where a token was expected explains the problem better than "found ...".
    error_ = peek().kind == token_kind::error ? syntax_error(peek().pos, peek().text) : syntax_error(at, what);
    return false;
  }
  bool fail_expected(std::string_view expected) {
    return fail(peek().pos, fmt::format("expected {}, found {}", expected, describe(peek())));
  }
  bool expect_word(std::string_view w, std::string_view context) {
    if (accept_word(w)) return true;
    return fail_expected(fmt::format("'{}' {}", w, context));
  }
  bool expect_punct(char p, std::string_view context) {
    if (at_punct(p)) {
      next();
      return true;
    }
    return fail_expected(fmt::format("'{}' {}", p, context));
  }
  bool expect_end() {
    if (peek().kind == token_kind::end) return true;
    return fail_expected("end of command");
  }

  // A name: bare identifier or ['bracketed name']; mapping names may also be string literals.
  bool parse_name(std::string& out, std::string_view what, bool allow_string = false) {
    const token& t = peek();
    bool ok = t.kind == token_kind::identifier || t.kind == token_kind::bracket_name ||
              (allow_string && t.kind == token_kind::string);
    if (!ok) {
      return fail_expected(fmt::format("a {} name ({}['{} name'])", what,
                                       allow_string ? "'quoted', " : "identifier or ", what));
    }
    if (auto reason = check_entity_name(t.text, what)) {
      error_ = model::error{"BadRequest_InvalidEntityName",
                            fmt::format("Invalid {} name {} at line {}, column {}: {}", what, quote(t.text),
                                        t.pos.line, t.pos.column, *reason),
                            true};
      return false;
    }
    out = t.text;
    next();
    return true;
  }

  // One or more adjacent string literals, concatenated (Kusto joins adjacent literals, which
  // lets long mappings be written one element per line).
  bool parse_json_literal(std::string_view what) {
    if (peek().kind != token_kind::string) return fail_expected(what);
    cmd_.json_pos = peek().pos;
    while (peek().kind == token_kind::string) cmd_.json += next().text;
    return true;
  }

  bool parse_command() {
    const token& t = peek();
    if (t.kind == token_kind::end) {
      return fail(t.pos, fmt::format("expected a management command, found end of input; supported commands: {}",
                                     supported_commands));
    }
    if (t.kind != token_kind::command_word) {
      return fail(t.pos, fmt::format("expected a management command starting with '.', such as '.show tables', "
                                     "found {}; queries are sent with the query API, not as commands",
                                     describe(t)));
    }
    const std::string word = t.text;
    const position word_pos = t.pos;
    next();
    if (word == ".create") return parse_create();
    if (word == ".create-merge") return parse_create_merge();
    if (word == ".create-or-alter") return parse_create_or_alter();
    if (word == ".drop") return parse_drop();
    if (word == ".show") return parse_show();
    if (word == ".alter") return parse_alter(false);
    if (word == ".alter-merge") return parse_alter(true);
    if (word == ".delete") return parse_delete();
    if (word == ".pause" || word == ".resume") {
      cmd_.what = word == ".pause" ? verb::pause_data_connection : verb::resume_data_connection;
      if (!expect_word("database", fmt::format("after '{}' (.{} database D data connection N)", word, word.substr(1))))
        return false;
      if (!parse_name(cmd_.database, "database")) return false;
      if (!expect_word("data", "after the database name")) return false;
      if (!expect_word("connection", "after 'data'")) return false;
      return parse_name(cmd_.connection, "data connection");
    }
    if (word == ".clear") {
      if (accept_word("database")) {
        cmd_.what = verb::clear_schema_cache;
        return parse_schema_cache_words("'.clear database'");
      }
      if (!expect_word("table", "or 'database' after '.clear'")) return false;
      if (!parse_name(cmd_.table, "table")) return false;
      if (at_word("cache")) {
        cmd_.what = verb::clear_schema_cache;
        return parse_schema_cache_words("the table name");
      }
      if (!expect_word("data", "or 'cache' after the table name (.clear table T data)")) return false;
      cmd_.what = verb::clear_table_data;
      return true;
    }
    if (word == ".get")
      // What Kusto's managed streaming clients ask for when they fall back to queued ingestion.
      return fail(word_pos, "'.get' commands (.get ingestion resources, .get kusto identity token) serve queued "
                            "(batched) ingestion through blob storage, which this node does not have: ingest with "
                            "streaming ingestion (StreamingIngestClient; ManagedStreamingIngestClient works while its "
                            "streaming requests succeed and stay within 4 MiB)");
    std::string hint;
    static constexpr std::string_view known[] = {".create", ".create-merge", ".create-or-alter", ".drop",  ".show",
                                                 ".alter",  ".alter-merge",  ".delete",           ".clear", ".pause",
                                                 ".resume"};
    for (auto k : known) {
      if (ascii_lower(word) == k) hint = fmt::format(" (commands are lower-case: '{}')", k);
    }
    return fail(word_pos, fmt::format("unknown command {}{}; supported commands: {}", quote(word), hint,
                                   supported_commands));
  }

  bool parse_create() {
    if (accept_word("database")) {
      cmd_.what = verb::create_database;
      if (!parse_name(cmd_.database, "database")) return false;
      if (accept_word("data")) {
        cmd_.what = verb::create_data_connection;
        if (!expect_word("connection", "after 'data'")) return false;
        if (!parse_name(cmd_.connection, "data connection")) return false;
        if (!expect_word("kind", fmt::format("after data connection name {} (kind=kafka)", quote(cmd_.connection))))
          return false;
        if (!expect_punct('=', "after 'kind'")) return false;
        if (peek().kind != token_kind::identifier && peek().kind != token_kind::string)
          return fail_expected("a data connection kind after 'kind=' (kafka)");
        cmd_.connection_kind = ascii_lower(next().text);
        return parse_connection_properties(true);
      }
      cmd_.if_not_exists = accept_word("ifnotexists");
      return true;
    }
    if (!expect_word("table", "or 'database' after '.create'")) return false;
    if (!parse_name(cmd_.table, "table")) return false;
    if (accept_word("ingestion")) {
      cmd_.what = verb::create_mapping;
      return parse_mapping_definition();
    }
    cmd_.what = verb::create_table;
    if (!at_punct('(')) {
      return fail_expected(fmt::format("'(' to start the column list of table {}, or 'ingestion'", quote(cmd_.table)));
    }
    return parse_columns() && parse_with_clause();
  }

  bool parse_create_merge() {
    if (!expect_word("table", "after '.create-merge'")) return false;
    cmd_.what = verb::create_merge_table;
    if (!parse_name(cmd_.table, "table")) return false;
    if (!at_punct('(')) return fail_expected(fmt::format("'(' to start the column list of table {}", quote(cmd_.table)));
    return parse_columns() && parse_with_clause();
  }

  bool parse_create_or_alter() {
    if (!expect_word("table", "after '.create-or-alter'")) return false;
    cmd_.what = verb::create_or_alter_mapping;
    if (!parse_name(cmd_.table, "table")) return false;
    if (!expect_word("ingestion", fmt::format("after table name {}", quote(cmd_.table)))) return false;
    return parse_mapping_definition();
  }

  // After "ingestion": csv|json mapping 'name' '<json>'
  bool parse_mapping_definition() {
    if (!parse_mapping_kind()) return false;
    if (!expect_word("mapping", fmt::format("after mapping kind '{}'", model::to_string(*cmd_.kind)))) return false;
    cmd_.mapping_name.emplace();
    if (!parse_name(*cmd_.mapping_name, "mapping", true)) return false;
    return parse_json_literal(fmt::format(
        "the mapping as a JSON string literal after mapping name {}, e.g. '[{{\"Column\":\"a\",\"Properties\":{{{}}}}}]'",
        quote(*cmd_.mapping_name),
        *cmd_.kind == model::mapping_kind::csv ? "\"Ordinal\":\"0\"" : "\"Path\":\"$.a\""));
  }

  bool parse_mapping_kind() {
    const token& t = peek();
    if (t.kind == token_kind::identifier && (t.text == "csv" || t.text == "json")) {
      cmd_.kind = t.text == "csv" ? model::mapping_kind::csv : model::mapping_kind::json;
      next();
      return true;
    }
    static constexpr std::string_view other[] = {"avro", "parquet", "orc", "w3clogfile", "apacheavro",
                                                 "sstream"};
    if (t.kind == token_kind::identifier && std::find(std::begin(other), std::end(other), t.text) != std::end(other)) {
      return fail(t.pos, fmt::format("mapping kind {} is not supported; supported kinds: csv, json", quote(t.text)));
    }
    return fail_expected("a mapping kind ('csv' or 'json')");
  }

  bool parse_columns() {
    next();
    std::set<std::string, std::less<>> seen;
    while (true) {
      const position name_pos = peek().pos;
      model::column col;
      if (!parse_name(col.name, "column")) return false;
      if (seen.count(col.name) != 0) {
        error_ = model::error{"BadRequest_DuplicateColumnName",
                              fmt::format("Column {} is declared twice in table {} (line {}, column {}); each column "
                                          "name may appear once",
                                          quote(col.name), quote(cmd_.table), name_pos.line, name_pos.column),
                              true};
        return false;
      }
      if (!expect_punct(':', fmt::format("after column name {}", quote(col.name)))) return false;
      const token& type_token = peek();
      if (type_token.kind != token_kind::identifier) {
        return fail_expected(fmt::format("a type for column {} (one of {})", quote(col.name), supported_types));
      }
      auto type = model::parse_column_type(type_token.text);
      if (!type) {
        return fail(type_token.pos, fmt::format("unknown type {} for column {}; supported types: {}",
                                                quote(type_token.text), quote(col.name), supported_types));
      }
      next();
      col.type = *type;
      seen.insert(col.name);
      cmd_.columns.push_back(std::move(col));
      if (cmd_.columns.size() > max_columns) {
        return fail(name_pos, fmt::format("table {} has more than {} columns", quote(cmd_.table), max_columns));
      }
      if (at_punct(',')) {
        next();
        continue;
      }
      return expect_punct(')', fmt::format("or ',' after column {}", quote(cmd_.columns.back().name)));
    }
  }

  bool parse_with_clause() {
    if (!accept_word("with")) return true;
    if (!expect_punct('(', "after 'with'")) return false;
    while (true) {
      const token& prop = peek();
      if (prop.kind != token_kind::identifier) return fail_expected("a table property ('docstring' or 'folder')");
      std::string key = ascii_lower(prop.text);
      std::optional<std::string>* target = nullptr;
      if (key == "docstring") target = &cmd_.docstring;
      if (key == "folder") target = &cmd_.folder;
      if (target == nullptr) {
        return fail(prop.pos, fmt::format("unknown table property {}; supported properties: docstring, folder",
                                          quote(prop.text)));
      }
      if (target->has_value()) return fail(prop.pos, fmt::format("property {} is given twice", quote(prop.text)));
      next();
      if (!expect_punct('=', fmt::format("after property {}", quote(key)))) return false;
      if (peek().kind != token_kind::string) return fail_expected(fmt::format("a string literal value for {}", quote(key)));
      *target = next().text;
      if (at_punct(',')) {
        next();
        continue;
      }
      return expect_punct(')', "or ',' in the 'with' clause");
    }
  }

  // with (name='value', ...) of a data connection; `required`: .create needs the clause.
  bool parse_connection_properties(bool required) {
    if (!accept_word("with")) {
      if (!required) return fail_expected("'with' and the properties to change, e.g. with (topic='t')");
      return fail_expected(
          "'with' and the connection's properties, e.g. with (bootstrapServers='host:9092', topic='t', "
          "consumerGroup='g', table='T', format='json')");
    }
    if (!expect_punct('(', "after 'with'")) return false;
    while (true) {
      const token& name = peek();
      if (name.kind != token_kind::identifier) return fail_expected("a data connection property name, e.g. topic");
      parsed_command::property p{name.text, "", name.pos};
      next();
      if (!expect_punct('=', fmt::format("after property {}", quote(p.name)))) return false;
      if (peek().kind != token_kind::string)
        return fail_expected(fmt::format("a string literal value for {} (e.g. {}='...')", quote(p.name), p.name));
      p.value = next().text;
      cmd_.properties.push_back(std::move(p));
      if (at_punct(',')) {
        next();
        continue;
      }
      return expect_punct(')', "or ',' in the 'with' clause");
    }
  }

  // Kusto's `cache streamingingestion schema` after `.clear table T` or `.clear database`.
  bool parse_schema_cache_words(std::string_view after) {
    if (!expect_word("cache", fmt::format("after {}", after))) return false;
    if (!expect_word("streamingingestion", "after 'cache'")) return false;
    return expect_word("schema", "after 'streamingingestion'");
  }

  bool parse_drop() {
    if (accept_word("cluster")) {
      if (!expect_word("node", "after '.drop cluster'")) return false;
      cmd_.what = verb::drop_cluster_node;
      return parse_name(cmd_.node, "node");
    }
    if (accept_word("database")) {
      cmd_.what = verb::drop_database;
      if (!parse_name(cmd_.database, "database")) return false;
      if (accept_word("data")) {
        cmd_.what = verb::drop_data_connection;
        if (!expect_word("connection", "after 'data'")) return false;
        return parse_name(cmd_.connection, "data connection");
      }
      cmd_.if_exists = accept_word("ifexists");
      return true;
    }
    if (!expect_word("table", "or 'database' after '.drop'")) return false;
    if (!parse_name(cmd_.table, "table")) return false;
    if (accept_word("ingestion")) {
      cmd_.what = verb::drop_mapping;
      if (!parse_mapping_kind()) return false;
      if (!expect_word("mapping", fmt::format("after mapping kind '{}'", model::to_string(*cmd_.kind)))) return false;
      cmd_.mapping_name.emplace();
      return parse_name(*cmd_.mapping_name, "mapping", true);
    }
    cmd_.what = verb::drop_table;
    cmd_.if_exists = accept_word("ifexists");
    return true;
  }

  bool parse_policy_words(std::string_view entity) {
    if (!expect_word("policy", fmt::format("after {}", entity))) return false;
    return expect_word("streamingingestion", "after 'policy' (the only policy Tributary manages)");
  }

  bool parse_show() {
    if (accept_word("databases")) {
      cmd_.what = verb::show_databases;
      return true;
    }
    if (accept_word("tables")) {
      cmd_.what = verb::show_tables;
      return true;
    }
    if (accept_word("cluster")) {
      if (accept_word("streamingingestion")) {
        cmd_.what = verb::show_cluster_streaming;
        return true;
      }
      if (!at_word("policy")) {
        cmd_.what = verb::show_cluster;
        return true;
      }
      cmd_.what = verb::show_cluster_policy;
      cmd_.scope = policy_scope::cluster;
      return parse_policy_words("'cluster'");
    }
    if (accept_word("database")) {
      cmd_.what = verb::show_policy;
      cmd_.scope = policy_scope::database;
      if (!parse_name(cmd_.database, "database")) return false;
      if (accept_word("data")) {
        cmd_.what = verb::show_data_connections;
        return expect_word("connections", "after 'data'");
      }
      return parse_policy_words(fmt::format("database name {}", quote(cmd_.database)));
    }
    if (accept_word("ingestion")) {
      cmd_.what = verb::show_ingestion_failures;
      return expect_word("failures", "after '.show ingestion'");
    }
    if (accept_word("data")) {
      if (!expect_word("operations", "after '.show data'")) return false;
      cmd_.what = verb::show_data_operations;
      return true;
    }
    if (!at_word("table"))
      return fail_expected("'databases', 'tables', 'table', 'database', 'cluster', 'data' or 'ingestion' after '.show'");
    next();
    if (!parse_name(cmd_.table, "table")) return false;
    if (accept_word("details")) {
      cmd_.what = verb::show_table_details;
      return true;
    }
    if (accept_word("extents")) {
      cmd_.what = verb::show_table_extents;
      return true;
    }
    if (at_word("policy")) {
      cmd_.what = verb::show_policy;
      cmd_.scope = policy_scope::table;
      return parse_policy_words("table name");
    }
    if (accept_word("ingestion")) {
      cmd_.what = verb::show_mappings;
      if (accept_word("mappings")) return true;
      if (!parse_mapping_kind()) return false;
      if (accept_word("mappings")) return true;
      if (!expect_word("mapping", "or 'mappings' after the mapping kind")) return false;
      cmd_.mapping_name.emplace();
      return parse_name(*cmd_.mapping_name, "mapping", true);
    }
    cmd_.what = verb::show_table;
    if (peek().kind == token_kind::end) return true;
    return fail_expected("end of command, 'details', 'extents', 'policy' or 'ingestion'");
  }

  bool parse_alter(bool merge) {
    const std::string_view command = merge ? "'.alter-merge'" : "'.alter'";
    if (!merge && accept_word("cluster")) {
      cmd_.what = verb::alter_cluster_policy;
      cmd_.scope = policy_scope::cluster;
      if (!parse_policy_words("'cluster'")) return false;
      if (accept_word("enable")) {
        cmd_.action = policy_action::enable;
        return true;
      }
      if (accept_word("disable")) {
        cmd_.action = policy_action::disable;
        return true;
      }
      return fail_expected("'enable' or 'disable' (the cluster switch takes no JSON)");
    }
    cmd_.what = merge ? verb::alter_merge_policy : verb::alter_policy;
    if (!merge && accept_word("database")) {
      cmd_.scope = policy_scope::database;
      if (!parse_name(cmd_.database, "database")) return false;
      if (accept_word("data")) {
        cmd_.what = verb::alter_data_connection;
        if (!expect_word("connection", "after 'data'")) return false;
        if (!parse_name(cmd_.connection, "data connection")) return false;
        return parse_connection_properties(false);
      }
      if (!parse_policy_words(fmt::format("database name {} (or 'data connection')", quote(cmd_.database))))
        return false;
    } else if (!parse_policy_target(command)) {
      return false;
    }
    if (!merge && accept_word("enable")) {
      cmd_.action = policy_action::enable;
      return true;
    }
    if (!merge && accept_word("disable")) {
      cmd_.action = policy_action::disable;
      return true;
    }
    cmd_.action = policy_action::json;
    return parse_json_literal(merge ? "the policy as a JSON string literal, e.g. '{\"IsEnabled\": true}'"
                                    : "'enable', 'disable' or the policy as a JSON string literal, e.g. "
                                      "'{\"IsEnabled\": true, \"HintAllocatedRate\": null}'");
  }

  bool parse_delete() {
    cmd_.what = verb::delete_policy;
    return parse_policy_target("'.delete'");
  }

  // table T | database D, then "policy streamingingestion".
  bool parse_policy_target(std::string_view command) {
    if (accept_word("table")) {
      cmd_.scope = policy_scope::table;
      if (!parse_name(cmd_.table, "table")) return false;
      return parse_policy_words(fmt::format("table name {}", quote(cmd_.table)));
    }
    if (accept_word("database")) {
      cmd_.scope = policy_scope::database;
      if (!parse_name(cmd_.database, "database")) return false;
      return parse_policy_words(fmt::format("database name {}", quote(cmd_.database)));
    }
    return fail_expected(fmt::format("'table', 'database'{} after {}",
                                     command == "'.alter'" ? " or 'cluster'" : "", command));
  }

  lexer lexer_;
  token current_;
  parsed_command cmd_;
  std::optional<model::error> error_;
};

}  // namespace

std::string_view to_string(verb v) {
  switch (v) {
    case verb::create_database: return "create_database";
    case verb::drop_database: return "drop_database";
    case verb::show_databases: return "show_databases";
    case verb::create_table: return "create_table";
    case verb::create_merge_table: return "create_merge_table";
    case verb::drop_table: return "drop_table";
    case verb::show_tables: return "show_tables";
    case verb::show_table: return "show_table";
    case verb::show_table_details: return "show_table_details";
    case verb::show_table_extents: return "show_table_extents";
    case verb::show_data_operations: return "show_data_operations";
    case verb::clear_table_data: return "clear_table_data";
    case verb::show_cluster_streaming: return "show_cluster_streaming";
    case verb::create_mapping: return "create_mapping";
    case verb::create_or_alter_mapping: return "create_or_alter_mapping";
    case verb::show_mappings: return "show_mappings";
    case verb::drop_mapping: return "drop_mapping";
    case verb::alter_policy: return "alter_policy";
    case verb::alter_merge_policy: return "alter_merge_policy";
    case verb::delete_policy: return "delete_policy";
    case verb::show_policy: return "show_policy";
    case verb::alter_cluster_policy: return "alter_cluster_policy";
    case verb::show_cluster_policy: return "show_cluster_policy";
    case verb::show_cluster: return "show_cluster";
    case verb::clear_schema_cache: return "clear_schema_cache";
    case verb::drop_cluster_node: return "drop_cluster_node";
    case verb::create_data_connection: return "create_data_connection";
    case verb::alter_data_connection: return "alter_data_connection";
    case verb::drop_data_connection: return "drop_data_connection";
    case verb::show_data_connections: return "show_data_connections";
    case verb::pause_data_connection: return "pause_data_connection";
    case verb::resume_data_connection: return "resume_data_connection";
    case verb::show_ingestion_failures: return "show_ingestion_failures";
  }
  return "invalid";
}

std::optional<std::string> check_entity_name(std::string_view name, std::string_view what) {
  if (name.empty()) return fmt::format("a {} name must not be empty", what);
  constexpr std::string_view allowed =
      "names may contain only letters, digits, '_', and in ['bracketed names'] also spaces, '.' and '-'";
  size_t chars = 0;
  bool any_visible = false;
  for (size_t i = 0; i < name.size(); ++i) {
    auto c = static_cast<unsigned char>(name[i]);
    if ((c & 0xC0u) == 0x80u) continue;  // continuation byte; the lexer checked the sequence
    ++chars;
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
              c == ' ' || c == '.' || c == '-' || c >= 0xC2;
    if (!ok) {
      std::string shown = c >= 0x20 && c < 0x7F ? fmt::format("'{}'", static_cast<char>(c)) : fmt::format("byte 0x{:02X}", c);
      return fmt::format("{}; found {}", allowed, shown);
    }
    // A name must read as what it is: no character that cannot be seen or that reorders the
    // text around it (Trojan Source, CVE-2021-42574), as Kusto's letters-and-digits rule implies.
    if (c >= 0x80) {
      const char32_t cp = decode_utf8(name, i).first;
      if (auto why = hidden_code_point(cp)) {
        return fmt::format("character {} of the name is U+{:04X}, {}, which would make the name look "
                           "different from what it is; {} (no invisible, control or format characters)",
                           chars, static_cast<uint32_t>(cp), *why, allowed);
      }
    }
    if (c != ' ') any_visible = true;
  }
  if (!any_visible) return fmt::format("a {} name must not consist of spaces only", what);
  if (chars > max_name_chars) {
    return fmt::format("a {} name may be at most {} characters long; this one has {}", what, max_name_chars, chars);
  }
  if (name.size() >= 2 && (name.substr(0, 2) == "__" || name.substr(name.size() - 2) == "__")) {
    return "names that start or end with '__' are reserved by Kusto";
  }
  return std::nullopt;
}

std::variant<parsed_command, model::error> parse(std::string_view text) {
  return parser(text).run();
}

}  // namespace tributary::commands
