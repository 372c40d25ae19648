#pragma once
/// Helpers shared by the unit tests of commands/: run a command, unwrap its outcome, read cells,
/// and snapshot a catalog so a test can prove an error left it unchanged.

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <string_view>
#include <variant>

#include "commands/commands.hpp"
#include "commands/mapping.hpp"

/// Expects `haystack` (a string) to contain `needle`, showing the haystack when it does not.
#define EXPECT_HAS(haystack, needle) \
  EXPECT_PRED_FORMAT2(::tributary::testing::contains_text, haystack, needle)

namespace tributary::testing {

inline ::testing::AssertionResult contains_text(const char* h_expr, const char* n_expr, std::string_view haystack,
                                                std::string_view needle) {
  if (haystack.find(needle) != std::string_view::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << h_expr << " does not contain " << n_expr << "\n  text:   " << haystack
                                       << "\n  wanted: " << needle;
}

inline constexpr int64_t test_now_ticks = 17'000'000'000'000'000;

/// Runs `text` against `cat` with `database` in context.
inline commands::executed run(model::catalog& cat, std::string_view text, std::string_view database = "") {
  return commands::execute(cat, commands::context{database, test_now_ticks}, text);
}

/// The result table of a successful command; fails the test (showing the error) otherwise.
inline model::result_table table_of(const commands::executed& ex) {
  if (const auto* e = std::get_if<model::error>(&ex.outcome)) {
    ADD_FAILURE() << "expected success, got " << e->code << ": " << e->message;
    return {};
  }
  return std::get<model::result_table>(ex.outcome);
}

/// The error of a failed command; fails the test otherwise.
inline model::error error_of(const commands::executed& ex) {
  if (!std::holds_alternative<model::error>(ex.outcome)) {
    ADD_FAILURE() << "expected an error, got a result (kind " << ex.kind << ")";
    return {};
  }
  return std::get<model::error>(ex.outcome);
}

/// Runs a command that must succeed and returns its table.
inline model::result_table ok(model::catalog& cat, std::string_view text, std::string_view database = "") {
  auto ex = run(cat, text, database);
  if (const auto* e = std::get_if<model::error>(&ex.outcome)) {
    ADD_FAILURE() << "command failed: " << text << "\n  " << e->code << ": " << e->message;
    return {};
  }
  return std::get<model::result_table>(ex.outcome);
}

/// Runs a command that must fail and returns its error.
inline model::error fails(model::catalog& cat, std::string_view text, std::string_view database = "") {
  auto ex = run(cat, text, database);
  EXPECT_TRUE(ex.changes.empty()) << text;
  if (!std::holds_alternative<model::error>(ex.outcome)) {
    ADD_FAILURE() << "command succeeded but should fail: " << text;
    return {};
  }
  return std::get<model::error>(ex.outcome);
}

/// Column names of a result, comma-separated: "TableName,DatabaseName".
inline std::string column_names(const model::result_table& t) {
  std::string out;
  for (const auto& c : t.columns) out += (out.empty() ? "" : ",") + c.name;
  return out;
}

/// Index of column `name`; -1 when absent.
inline int column_index(const model::result_table& t, std::string_view name) {
  for (size_t i = 0; i < t.columns.size(); ++i) {
    if (t.columns[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

/// The cell at (row, column name) rendered as text: strings as-is, null as "<null>".
inline std::string cell(const model::result_table& t, size_t row, std::string_view column) {
  int c = column_index(t, column);
  if (c < 0 || row >= t.rows.size()) {
    ADD_FAILURE() << "no cell (" << row << ", " << column << ")";
    return "<missing>";
  }
  const auto& v = t.rows[row][static_cast<size_t>(c)];
  std::ostringstream out;
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          out << "<null>";
        } else if constexpr (std::is_same_v<T, bool>) {
          out << (x ? "true" : "false");
        } else {
          out << x;
        }
      },
      v);
  return out.str();
}

/// Every row has exactly as many cells as there are columns.
inline bool well_formed(const model::result_table& t) {
  for (const auto& r : t.rows) {
    if (r.size() != t.columns.size()) return false;
  }
  return true;
}

/// A complete textual snapshot of a catalog, for equality checks.
inline std::string snapshot(const model::catalog& cat) {
  std::ostringstream out;
  out << "v" << cat.version << " next" << cat.next_id << " sw" << static_cast<int>(cat.streaming) << "\n";
  for (const auto& [name, db] : cat.databases) {
    out << "db " << name << " #" << static_cast<uint64_t>(db.id) << " " << (db.policy ? to_json(*db.policy) : "-")
        << "\n";
    for (const auto& [tname, t] : db.tables) {
      out << " table " << tname << " #" << static_cast<uint64_t>(t.id) << " f=" << t.folder << " d=" << t.docstring
          << " " << (t.policy ? to_json(*t.policy) : "-") << "\n  ";
      for (const auto& c : t.columns) out << c.name << ":" << model::to_string(c.type) << " ";
      for (const auto& m : t.mappings) {
        out << "\n  mapping " << m.name << " " << model::to_string(m.kind) << " " << m.last_updated_ticks << " "
            << commands::mapping_json(m.elements);
      }
      out << "\n";
    }
    for (const auto& [cname, c] : db.data_connections) {
      out << " connection " << cname << " #" << c.id << " " << c.kind << " " << c.bootstrap_servers << " " << c.topic
          << " " << c.consumer_group << " " << c.table << " " << c.format << " " << c.mapping_name << " "
          << c.compression << " " << c.start_from << " " << c.security_protocol << " " << c.sasl_mechanism << " "
          << c.sasl_username << " " << c.sasl_password << " " << c.paused << " " << c.created_ticks << " "
          << c.updated_ticks;
      for (const auto& p : c.event_system_properties) out << " " << p;
      out << "\n";
    }
  }
  return out.str();
}

/// A catalog with the switch on, database "Db" and table "T (a:int, b:string, c:datetime)".
inline model::catalog sample_catalog() {
  model::catalog cat;
  ok(cat, ".alter cluster policy streamingingestion enable");
  ok(cat, ".create database Db");
  ok(cat, ".create table T (a:int, b:string, c:datetime)", "Db");
  return cat;
}

}  // namespace tributary::testing
