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

}  // namespace tributary::testing
