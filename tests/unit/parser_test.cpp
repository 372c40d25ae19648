#include <gtest/gtest.h>

#include "commands/lexer.hpp"
#include "commands/parser.hpp"
#include "test_util.hpp"

namespace tributary::testing {
namespace {

model::error syntax(std::string_view text) {
  auto parsed = commands::parse(text);
  if (!std::holds_alternative<model::error>(parsed)) {
    ADD_FAILURE() << "parsed but should not: " << text;
    return {};
  }
  return std::get<model::error>(parsed);
}

commands::parsed_command parsed(std::string_view text) {
  auto p = commands::parse(text);
  if (auto* e = std::get_if<model::error>(&p)) {
    ADD_FAILURE() << "parse failed: " << text << "\n  " << e->message;
    return {};
  }
  return std::get<commands::parsed_command>(p);
}

TEST(syntax_errors, name_line_column_expected_and_found) {
  auto e = syntax(".create table T (a int)");
  EXPECT_EQ(e.code, "BadRequest_SyntaxError");
  EXPECT_TRUE(e.permanent);
  EXPECT_EQ(e.message, "Syntax error at line 1, column 20: expected ':' after column name 'a', found 'int'");
}

TEST(syntax_errors, count_lines_and_columns_across_newlines) {
  auto e = syntax(".create table T (\n  a:int,\n  b string)");
  EXPECT_HAS(e.message, "line 3, column 5");
  EXPECT_HAS(e.message, "expected ':' after column name 'b', found 'string'");
}

TEST(syntax_errors, report_end_of_input) {
  auto e = syntax(".create table T (a:int");
  EXPECT_HAS(e.message, "line 1, column 23");
  EXPECT_HAS(e.message, "expected ')' or ',' after column 'a', found end of input");
}

TEST(syntax_errors, unknown_command_lists_supported_commands) {
  auto e = syntax(".frobnicate table T");
  EXPECT_EQ(e.code, "BadRequest_SyntaxError");
  EXPECT_HAS(e.message, "line 1, column 1: unknown command '.frobnicate'");
  EXPECT_HAS(e.message, ".create database");
  EXPECT_HAS(e.message, ".show tables");
  EXPECT_HAS(e.message, ".alter cluster policy streamingingestion");
}

TEST(syntax_errors, keywords_are_case_sensitive_with_a_hint) {
  auto e = syntax(".CREATE table T (a:int)");
  EXPECT_HAS(e.message, "commands are lower-case: '.create'");
  e = syntax(".create TABLE T (a:int)");
  EXPECT_HAS(e.message, "expected 'table' or 'database' after '.create', found 'TABLE'");
}

TEST(syntax_errors, a_query_or_empty_text_is_not_a_command) {
  EXPECT_HAS(syntax("T | take 10").message, "expected a management command starting with '.'");
  EXPECT_HAS(syntax("").message, "expected a management command, found end of input");
  EXPECT_HAS(syntax("   \n\t  ").message, "found end of input");
  EXPECT_HAS(syntax("// only a comment").message, "found end of input");
}

TEST(syntax_errors, trailing_tokens_are_refused) {
  auto e = syntax(".show tables extra");
  EXPECT_HAS(e.message, "line 1, column 14: expected end of command, found 'extra'");
  EXPECT_HAS(syntax(".show databases;").message, "found ';'");
}

TEST(syntax_errors, subcommands_say_what_was_expected) {
  EXPECT_HAS(syntax(".show functions").message, "expected 'databases', 'tables', 'table', 'database', 'cluster', 'data' or 'ingestion' after '.show'");
  EXPECT_HAS(syntax(".show table T schema").message, "expected end of command, 'details', 'extents', 'policy' or 'ingestion', found 'schema'");
  EXPECT_HAS(syntax(".alter table T policy caching").message, "expected 'streamingingestion' after 'policy'");
  EXPECT_HAS(syntax(".alter cluster policy streamingingestion '{}'").message, "expected 'enable' or 'disable'");
  EXPECT_HAS(syntax(".create table T ingestion avro mapping 'm' '[]'").message, "mapping kind 'avro' is not supported; supported kinds: csv, json");
  EXPECT_HAS(syntax(".create table T ingestion csv mapping 'm'").message, "expected the mapping as a JSON string literal after mapping name 'm'");
}

TEST(syntax_errors, unknown_type_lists_supported_types) {
  auto e = syntax(".create table T (a:int32)");
  EXPECT_HAS(e.message, "line 1, column 20: unknown type 'int32' for column 'a'");
  EXPECT_HAS(e.message, "bool (boolean), int, long");
}

TEST(lexer_errors, unterminated_string_names_where_it_started) {
  auto e = syntax(".create table T ingestion csv mapping 'm' '[{\"Column\":\"a\"}");
  EXPECT_EQ(e.code, "BadRequest_SyntaxError");
  EXPECT_HAS(e.message, "line 1, column 43: unterminated string literal starting at line 1, column 43");
}

TEST(lexer_errors, the_first_problem_in_reading_order_is_reported) {
  // A syntax error before a lexical one wins: the parser stops before lexing further.
  auto e = syntax(".show tabels 'unterminated");
  EXPECT_HAS(e.message, "line 1, column 7: expected 'databases', 'tables'");
  // A lexical error where a token is expected is reported as such.
  e = syntax(".show tables 'unterminated");
  EXPECT_HAS(e.message, "line 1, column 14: unterminated string literal");
  e = syntax(".show table ['x\n");
  EXPECT_HAS(e.message, "unterminated string literal");
  e = syntax(".show table ['x' ]");
  EXPECT_HAS(e.message, "line 1, column 17: expected ']' to close the bracketed name, found ' '");
}

TEST(lexer_errors, unknown_escape_suggests_verbatim_strings) {
  auto e = syntax(R"(.create table T (a:int) with (docstring='a\qb') )");
  EXPECT_HAS(e.message, "unknown escape sequence '\\q'");
  EXPECT_HAS(e.message, "@'...'");
}

TEST(lexer_errors, nul_bytes_and_invalid_utf8_are_refused_with_a_position) {
  auto e = syntax(std::string_view(".show\0 tables", 13));
  EXPECT_HAS(e.message, "line 1, column 6: a NUL character is not allowed");
  e = syntax(".show tables \xff");
  EXPECT_HAS(e.message, "line 1, column 14: invalid UTF-8 byte 0xFF");
  e = syntax(".create table T (a:int) with (docstring='\xc3\x28')");
  EXPECT_HAS(e.message, "invalid UTF-8 byte 0xC3 in a string literal");
}

TEST(lexer_errors, messages_escape_control_bytes_and_truncate_long_tokens) {
  auto e = syntax(".show tables \x01");
  EXPECT_HAS(e.message, "found '\\x01'");
  std::string longname(5000, 'x');
  e = syntax(".show tables " + longname);
  EXPECT_LT(e.message.size(), 400u);
  EXPECT_HAS(e.message, "(5000 bytes)");
}

TEST(string_literals, escapes_verbatim_obfuscated_and_multiline_forms) {
  EXPECT_EQ(*parsed(R"(.create table T (a:int) with (docstring='it\'s \"q\" \\ \t'))").docstring, "it's \"q\" \\ \t");
  EXPECT_EQ(*parsed(R"(.create table T (a:int) with (docstring="say \"hi\""))").docstring, "say \"hi\"");
  EXPECT_EQ(*parsed(R"(.create table T (a:int) with (docstring=@'C:\dir ''x'''))").docstring, "C:\\dir 'x'");
  EXPECT_EQ(*parsed(R"(.create table T (a:int) with (docstring=@"a""b"))").docstring, "a\"b");
  EXPECT_EQ(*parsed(R"(.create table T (a:int) with (docstring=h'secret'))").docstring, "secret");
  EXPECT_EQ(*parsed(".create table T (a:int) with (docstring=```line1\nline2```)").docstring, "line1\nline2");
}

TEST(string_literals, adjacent_literals_form_one_json_argument) {
  auto cmd = parsed(".create table T ingestion json mapping \"m\"\n"
                    "'['\n"
                    "'  {\"column\":\"a\",\"Properties\":{\"Path\":\"$.a\"}}' // first element\n"
                    "']'");
  EXPECT_EQ(cmd.what, commands::verb::create_mapping);
  EXPECT_EQ(*cmd.mapping_name, "m");
  EXPECT_EQ(cmd.json, "[  {\"column\":\"a\",\"Properties\":{\"Path\":\"$.a\"}}]");
  EXPECT_EQ(cmd.json_pos.line, 2);
  EXPECT_EQ(cmd.json_pos.column, 1);
}

TEST(names, bracketed_names_allow_spaces_dots_and_dashes) {
  auto cmd = parsed(R"(.create table ['my table'] (['a b']:int, ["x.y-z"]:string, plain_1:long))");
  EXPECT_EQ(cmd.table, "my table");
  ASSERT_EQ(cmd.columns.size(), 3u);
  EXPECT_EQ(cmd.columns[0].name, "a b");
  EXPECT_EQ(cmd.columns[1].name, "x.y-z");
  EXPECT_EQ(cmd.columns[1].type, model::column_type::string);
  EXPECT_EQ(cmd.columns[2].name, "plain_1");
  EXPECT_EQ(parsed(".create database ['Tele metry'] ifnotexists").database, "Tele metry");
  EXPECT_EQ(parsed(".create table ['Unicodé'] (a:int)").table, "Unicodé");
}

TEST(names, invalid_names_are_refused_with_the_reason) {
  auto e = syntax(".create table ['a;b'] (x:int)");
  EXPECT_EQ(e.code, "BadRequest_InvalidEntityName");
  EXPECT_HAS(e.message, "Invalid table name 'a;b' at line 1, column 15");
  EXPECT_HAS(e.message, "found ';'");
  EXPECT_HAS(syntax(".create table [''] (x:int)").message, "must not be empty");
  EXPECT_HAS(syntax(".create table ['   '] (x:int)").message, "spaces only");
  EXPECT_HAS(syntax(".create table __T (x:int)").message, "reserved");
  EXPECT_HAS(syntax(".create table T (x__:int)").message, "reserved");
  EXPECT_HAS(syntax(".create database ['a\\tb']").message, "byte 0x09");
}

TEST(names, length_limit_is_1024_characters) {
  std::string ok_name(1024, 'n');
  EXPECT_EQ(parsed(".create table " + ok_name + " (a:int)").table, ok_name);
  std::string long_name(1025, 'n');
  auto e = syntax(".create table " + long_name + " (a:int)");
  EXPECT_EQ(e.code, "BadRequest_InvalidEntityName");
  EXPECT_HAS(e.message, "at most 1024 characters long; this one has 1025");
  std::string unicode_name;
  for (int i = 0; i < 1024; ++i) unicode_name += "é";  // 2048 bytes, 1024 characters
  EXPECT_EQ(parsed(".create table ['" + unicode_name + "'] (a:int)").table, unicode_name);
}

// Code points that cannot be seen or that reorder the text around them (Trojan Source): a
// name holding one would look like another name, in a command, a result or a log.
TEST(names, invisible_and_bidirectional_code_points_are_refused_in_every_name) {
  auto e = syntax(".create table ['abc\xE2\x80\xAE" "def'] (x:int)");  // U+202E RIGHT-TO-LEFT OVERRIDE
  EXPECT_EQ(e.code, "BadRequest_InvalidEntityName");
  EXPECT_TRUE(e.permanent);
  EXPECT_HAS(e.message, "Invalid table name 'abc\\u202Edef' at line 1, column 15: character 4 of the name is "
                        "U+202E, a bidirectional control character, which would make the name look different "
                        "from what it is; names may contain only letters, digits, '_', and in ['bracketed names'] "
                        "also spaces, '.' and '-' (no invisible, control or format characters)");
  EXPECT_EQ(e.message.find("\xE2\x80\xAE"), std::string::npos) << "the message itself carries the override";

  struct hidden {
    const char* utf8;
    const char* shown;
    const char* why;
  };
  const hidden cases[] = {
      {"\xE2\x80\x8B", "U+200B", "an invisible format character"},  // zero width space
      {"\xE2\x80\x8C", "U+200C", "an invisible format character"},  // zero width non-joiner
      {"\xE2\x80\x8D", "U+200D", "an invisible format character"},  // zero width joiner
      {"\xE2\x80\x8E", "U+200E", "a bidirectional control character"},
      {"\xE2\x80\x8F", "U+200F", "a bidirectional control character"},
      {"\xE2\x80\xAA", "U+202A", "a bidirectional control character"},
      {"\xE2\x80\xAD", "U+202D", "a bidirectional control character"},
      {"\xE2\x81\xA0", "U+2060", "an invisible format character"},  // word joiner
      {"\xE2\x81\xA4", "U+2064", "an invisible format character"},
      {"\xE2\x81\xA6", "U+2066", "a bidirectional control character"},
      {"\xE2\x81\xA9", "U+2069", "a bidirectional control character"},
      {"\xEF\xBB\xBF", "U+FEFF", "an invisible format character"},  // byte order mark
      {"\xC2\xAD", "U+00AD", "an invisible format character"},      // soft hyphen
      {"\xD8\x9C", "U+061C", "a bidirectional control character"},  // Arabic letter mark
      {"\xE1\xA0\x8E", "U+180E", "an invisible format character"},  // Mongolian vowel separator
      {"\xF3\xA0\x81\x81", "U+E0041", "an invisible format character"},  // tag latin capital A
      {"\xC2\x85", "U+0085", "a control character"},                // next line (C1)
      {"\xC2\x9B", "U+009B", "a control character"},                // control sequence introducer
      {"\xC2\xA0", "U+00A0", "a space or separator other than ' '"},  // no-break space
      {"\xE2\x80\xA8", "U+2028", "a space or separator other than ' '"},
      {"\xE3\x80\x80", "U+3000", "a space or separator other than ' '"},
      {"\xE3\x85\xA4", "U+3164", "an invisible filler or variation selector"},  // Hangul filler
      {"\xEF\xB8\x8F", "U+FE0F", "an invisible filler or variation selector"},
      {"\xEF\xBF\xBE", "U+FFFE", "a noncharacter"},
  };
  for (const auto& h : cases) {
    const std::string name = std::string("ab") + h.utf8 + "c";
    const std::string what = std::string("character 3 of the name is ") + h.shown + ", " + h.why;
    const std::string commands[][2] = {
        {".create database ['" + name + "']", "Invalid database name"},
        {".create table ['" + name + "'] (x:int)", "Invalid table name"},
        {".create table T (ok:int, ['" + name + "']:string)", "Invalid column name"},
        {".create-merge table T (['" + name + "']:string)", "Invalid column name"},
        {".create table T ingestion csv mapping '" + name + "' '[]'", "Invalid mapping name"},
        {".create-or-alter table T ingestion json mapping ['" + name + "'] '[]'", "Invalid mapping name"},
    };
    for (const auto& [text, wanted] : commands) {
      auto err = syntax(text);
      EXPECT_EQ(err.code, "BadRequest_InvalidEntityName") << text;
      EXPECT_HAS(err.message, wanted);
      EXPECT_HAS(err.message, what);
      EXPECT_EQ(err.message.find(h.utf8), std::string::npos) << "unescaped " << h.shown << " in: " << err.message;
    }
  }
  // The position is the name's, on its own line.
  EXPECT_HAS(syntax(".create table T (a:int,\n  ['b\xE2\x80\x8B" "c']:string)").message,
             "Invalid column name 'b\\u200Bc' at line 2, column 3: character 2 of the name is U+200B");
  // Letters of every script stay names, and so does a visible non-ASCII character next to a hidden one's range.
  EXPECT_EQ(parsed(".create table ['Данные_数据_Ωmega'] (a:int)").table, "Данные_数据_Ωmega");
  EXPECT_EQ(parsed(".create table ['\xE2\x80\x90'] (a:int)").table, "\xE2\x80\x90");  // U+2010 hyphen
}

TEST(names, every_name_is_at_most_1024_characters) {
  const std::string long_name(1025, 'n');
  for (const auto& text : {".create database " + long_name, ".create table T (" + long_name + ":int)",
                           ".create table T ingestion csv mapping '" + long_name + "' '[]'"}) {
    auto e = syntax(text);
    EXPECT_EQ(e.code, "BadRequest_InvalidEntityName");
    EXPECT_HAS(e.message, "at most 1024 characters long; this one has 1025");
    EXPECT_LT(e.message.size(), 600u) << "the message repeats the whole name";
  }
}

TEST(columns, duplicates_and_empty_lists_are_refused) {
  auto e = syntax(".create table T (a:int, b:string, a:long)");
  EXPECT_EQ(e.code, "BadRequest_DuplicateColumnName");
  EXPECT_HAS(e.message, "Column 'a' is declared twice in table 'T' (line 1, column 35)");
  EXPECT_HAS(syntax(".create table T ()").message, "expected a column name");
  EXPECT_HAS(syntax(".create table T (a:int,)").message, "expected a column name");
  EXPECT_HAS(syntax(".create table T").message, "expected '(' to start the column list of table 'T'");
}

TEST(columns, aliases_map_to_canonical_types) {
  auto cmd = parsed(".create table T (a:boolean, b:date, c:double, d:time, e:uuid, f:uniqueid, g:decimal)");
  ASSERT_EQ(cmd.columns.size(), 7u);
  EXPECT_EQ(cmd.columns[0].type, model::column_type::bool_);
  EXPECT_EQ(cmd.columns[1].type, model::column_type::datetime);
  EXPECT_EQ(cmd.columns[2].type, model::column_type::real);
  EXPECT_EQ(cmd.columns[3].type, model::column_type::timespan);
  EXPECT_EQ(cmd.columns[4].type, model::column_type::guid);
  EXPECT_EQ(cmd.columns[5].type, model::column_type::guid);
  EXPECT_EQ(cmd.columns[6].type, model::column_type::decimal);
}

TEST(with_clause, folder_and_docstring_are_the_only_properties) {
  auto cmd = parsed(".create table T (a:int) with (docstring='Logs of X', folder=\"Ops\")");
  EXPECT_EQ(*cmd.docstring, "Logs of X");
  EXPECT_EQ(*cmd.folder, "Ops");
  EXPECT_HAS(syntax(".create table T (a:int) with (color='red')").message, "unknown table property 'color'; supported properties: docstring, folder");
  EXPECT_HAS(syntax(".create table T (a:int) with (folder='a', folder='b')").message, "property 'folder' is given twice");
  EXPECT_HAS(syntax(".create table T (a:int) with (folder=Ops)").message, "expected a string literal value for 'folder'");
}

TEST(verbs, every_command_form_parses_to_its_verb) {
  using commands::verb;
  struct example {
    const char* text;
    verb expected;
  };
  const example examples[] = {
      {".create database D", verb::create_database},
      {".drop database D ifexists", verb::drop_database},
      {".show databases", verb::show_databases},
      {".create table T (a:int)", verb::create_table},
      {".create-merge table T (a:int)", verb::create_merge_table},
      {".drop table T ifexists", verb::drop_table},
      {".show tables", verb::show_tables},
      {".show table T", verb::show_table},
      {".show table T details", verb::show_table_details},
      {".create table T ingestion csv mapping 'm' '[]'", verb::create_mapping},
      {".create-or-alter table T ingestion json mapping \"m\" '[]'", verb::create_or_alter_mapping},
      {".show table T ingestion mappings", verb::show_mappings},
      {".show table T ingestion csv mappings", verb::show_mappings},
      {".show table T ingestion json mapping 'm'", verb::show_mappings},
      {".drop table T ingestion csv mapping 'm'", verb::drop_mapping},
      {".alter table T policy streamingingestion enable", verb::alter_policy},
      {".alter database D policy streamingingestion '{}'", verb::alter_policy},
      {".alter-merge table T policy streamingingestion '{}'", verb::alter_merge_policy},
      {".delete database D policy streamingingestion", verb::delete_policy},
      {".show table T policy streamingingestion", verb::show_policy},
      {".show database D policy streamingingestion", verb::show_policy},
      {".alter cluster policy streamingingestion disable", verb::alter_cluster_policy},
      {".show cluster policy streamingingestion", verb::show_cluster_policy},
  };
  for (const auto& ex : examples) {
    EXPECT_EQ(parsed(ex.text).what, ex.expected) << ex.text;
  }
  EXPECT_EQ(commands::to_string(verb::create_or_alter_mapping), "create_or_alter_mapping");
  EXPECT_EQ(commands::to_string(verb::show_cluster_policy), "show_cluster_policy");
}

TEST(verbs, leading_and_trailing_whitespace_and_comments_are_ignored) {
  EXPECT_EQ(parsed("  \n\t.show   tables \r\n  // trailing comment\n").what, commands::verb::show_tables);
  EXPECT_EQ(parsed("// leading comment\n.show databases").what, commands::verb::show_databases);
}

TEST(csl_names, bare_when_possible_else_bracketed_and_escaped) {
  EXPECT_EQ(commands::csl_name("Abc_1"), "Abc_1");
  EXPECT_EQ(commands::csl_name("my col"), "['my col']");
  EXPECT_EQ(commands::csl_name("it's"), "['it\\'s']");
  EXPECT_EQ(commands::csl_name("1abc"), "['1abc']");
}

}  // namespace
}  // namespace tributary::testing
