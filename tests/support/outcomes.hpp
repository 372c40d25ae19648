#pragma once
/// Test helpers: unwrap a command/query outcome, recording a gtest failure when it is not what
/// the test expects.

#include <gtest/gtest.h>

#include "client/render.hpp"
#include "model/types.hpp"

namespace tributary::testing {

/// The table of a successful outcome (an empty table, and a test failure, on error).
inline model::result_table ok(const model::outcome& o) {
  if (const auto* e = std::get_if<model::error>(&o)) {
    ADD_FAILURE() << e->code << ": " << e->message;
    return {};
  }
  return std::get<model::result_table>(o);
}

/// The error of a failed outcome (an empty error, and a test failure, on success).
inline model::error failed(const model::outcome& o) {
  if (const auto* e = std::get_if<model::error>(&o)) return *e;
  ADD_FAILURE() << "expected an error, got a table:\n" << client::render_table(std::get<model::result_table>(o));
  return {};
}

/// The value in column `name` of row `row` (a null value, and a test failure, when the table has
/// no such column or row).
inline model::value cell(const model::result_table& t, std::string_view name, size_t row = 0) {
  for (size_t c = 0; c < t.columns.size(); ++c) {
    if (t.columns[c].name != name) continue;
    if (row < t.rows.size()) return t.rows[row][c];
    ADD_FAILURE() << "no row " << row << " in a table of " << t.rows.size() << " rows";
    return {};
  }
  ADD_FAILURE() << "no column '" << name << "' in\n" << client::render_table(t);
  return {};
}

/// A long (or bool) cell as an integer (-1, and a test failure, when it is neither).
inline int64_t long_cell(const model::result_table& t, std::string_view name, size_t row = 0) {
  auto v = cell(t, name, row);
  if (const auto* n = std::get_if<int64_t>(&v)) return *n;
  if (const auto* b = std::get_if<bool>(&v)) return *b ? 1 : 0;
  ADD_FAILURE() << "column '" << name << "' is not a long";
  return -1;
}

}  // namespace tributary::testing
