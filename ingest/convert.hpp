#pragma once
/// Private to ingest/: one text value → one Kusto scalar, by Kusto's literal rules and the .NET
/// parsing rules its ingestion follows (the choices are listed in ingest/README.md). Pure
/// functions; none allocates except parse_decimal (its output) and format_datetime.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace tributary::ingest::detail {

inline constexpr int64_t ticks_per_second = 10'000'000;

/// Every parse_* returns an empty view on success; on failure a fixed phrase that completes the
/// sentence "'<value>' <phrase>", e.g. "is out of range for int (-2147483648 to 2147483647)".
/// Leading and trailing ASCII whitespace is ignored; the callers map empty text to null first.
using problem = std::string_view;

/// `s` without leading and trailing spaces, tabs, CR and LF.
std::string_view trim_space(std::string_view s);

/// true/false in any case, or 1/0.
problem parse_bool(std::string_view s, bool& out);
/// A 32-bit integer: optional sign, decimal digits.
problem parse_int(std::string_view s, int64_t& out);
/// A 64-bit integer: optional sign, decimal digits.
problem parse_long(std::string_view s, int64_t& out);
/// A double: decimal or exponent form, NaN, Infinity, -Infinity, inf (any case). Underflow
/// gives ±0; overflow is an error.
problem parse_real(std::string_view s, double& out);
/// A decimal (.NET System.Decimal range: at most 29 integer digits, scale ≤ 28); exponent forms
/// are expanded. `out` receives the normalised text: optional '-', no leading zeros, '.' and
/// the fraction digits as given (scale kept, like .NET), rounded where .NET would round.
problem parse_decimal(std::string_view s, std::string& out);
/// A datetime in one of Kusto's documented forms (ISO 8601, RFC 822, RFC 850, sortable) with
/// an optional zone (Z, ±hh:mm, ±hhmm, ±hh, GMT, UTC, US zones) → 100-ns ticks since
/// 1970-01-01 UTC. Years 0001–9999; fractions beyond 7 digits are truncated.
problem parse_datetime(std::string_view s, int64_t& ticks);
/// A timespan: [-][d.]hh:mm[:ss[.fffffff]], an integer number of days, or a number with a unit
/// (d, h, m, s, ms, microsecond, tick and their long names, e.g. 1.5h, 100ms) → ticks.
problem parse_timespan(std::string_view s, int64_t& ticks);
/// A GUID as 32 hex digits, optionally hyphenated 8-4-4-4-12 and wrapped in {} or () →
/// lower-case 8-4-4-4-12.
problem parse_guid(std::string_view s, std::array<char, 36>& out);

/// ISO 8601 text of a datetime, e.g. "2024-05-01T12:00:00.1234567Z" (fraction only if nonzero).
std::string format_datetime(int64_t ticks);
/// The unit of a Unix time (Kusto's DateTimeFromUnix* transforms).
enum class unix_unit : uint8_t { seconds, milliseconds, microseconds, nanoseconds };
/// Ticks since the Unix epoch of `value` units; false when outside datetime's range.
bool unix_time_to_ticks(int64_t value, unix_unit unit, int64_t& ticks);
bool unix_time_to_ticks(double value, unix_unit unit, int64_t& ticks);

}  // namespace tributary::ingest::detail
