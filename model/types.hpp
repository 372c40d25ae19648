#pragma once
/// Values every module shares: strong identifiers, Kusto column types, result tables and errors.
/// Plain data, no I/O, no threads: safe to copy into actor messages and across the RPC bridge.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace tributary::model {

/// Identifies a database for the life of the catalog; never reused.
enum class database_id : uint64_t {};
/// Identifies a table for the life of the catalog; never reused. Rowstore keys start with it.
enum class table_id : uint64_t {};

/// Kusto's time unit: 100-ns ticks. Datetimes are ticks since 1970-01-01T00:00:00Z.
constexpr int64_t ticks_per_second = 10'000'000;
/// The current time in ticks since the Unix epoch (system clock).
int64_t now_ticks();

/// Kusto's scalar types (docs: kusto/query/scalar-data-types).
enum class column_type : uint8_t {
  bool_, int_, long_, real, decimal, string, datetime, timespan, guid, dynamic,
};

/// Kusto's canonical name: "bool", "int", "long", "real", "decimal", "string", "datetime",
/// "timespan", "guid", "dynamic".
std::string_view to_string(column_type t);
/// The .NET type name Kusto shows in schema columns, e.g. "System.Int32".
std::string_view dotnet_name(column_type t);

/// ISO 8601 UTC text of a datetime in 100-ns ticks since the epoch: "2024-05-01T12:00:00Z",
/// the fraction (up to 7 digits) only when non-zero.
std::string format_datetime(int64_t ticks);
/// Kusto's text of a timespan: [-][d.]hh:mm:ss[.fffffff], the fraction only when non-zero.
std::string format_timespan(int64_t ticks);
/// A JSON string literal of `s` (quotes and escapes), appended to `out`.
void append_json_quoted(std::string_view s, std::string& out);
/// Parses a type name or one of Kusto's aliases (boolean, date, double, time, uuid,
/// uniqueid); case-sensitive like Kusto. nullopt when unknown.
std::optional<column_type> parse_column_type(std::string_view name);

/// One typed column of a table or of a result.
struct column {
  std::string name;
  column_type type = column_type::string;
  friend bool operator==(const column&, const column&) = default;
};

/// One cell of a result. The column type says how to read it:
/// bool → bool; int, long → int64; datetime, timespan → int64 100-ns ticks (datetime since the
/// Unix epoch, UTC); real → double; string, decimal, guid, dynamic → text (dynamic as JSON).
using value = std::variant<std::monostate, bool, int64_t, double, std::string>;

/// A typed result table: what every command and query returns on success.
struct result_table {
  std::vector<column> columns;
  std::vector<std::vector<value>> rows;
  /// A query result's extended properties, Kusto's names with JSON values: "Visualization"
  /// (render), "QueryStats". Empty for commands.
  std::vector<std::pair<std::string, std::string>> properties;
};

/// An error a client can act on: a stable code (Kusto's where one exists), a message that
/// names the object, the position and the fix, and whether retrying can ever succeed.
struct error {
  std::string code;
  std::string message;
  bool permanent = true;
  friend bool operator==(const error&, const error&) = default;
};

/// The answer to a command or query: a table, or an error.
using outcome = std::variant<result_table, error>;

}  // namespace tributary::model
