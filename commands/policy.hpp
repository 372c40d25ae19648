#pragma once
/// Private to commands/: parsing of streaming ingestion policy JSON. Never throws.

#include <optional>
#include <string_view>
#include <variant>

#include "model/catalog.hpp"

namespace tributary::commands {

/// The properties a policy JSON literal gives; unset members were absent.
struct policy_patch {
  std::optional<bool> is_enabled;
  bool has_hint_allocated_rate = false;      ///< true when HintAllocatedRate was given
  std::optional<double> hint_allocated_rate;  ///< the value given; nullopt for JSON null
};

/// The largest HintAllocatedRate a policy may give, in GB per hour (a petabyte an hour): the
/// table actor turns the rate into a byte count (rate * 1e9 / 12) that must fit in 64 bits.
constexpr double max_hint_allocated_rate = 1e6;

/// Parses `{"IsEnabled": bool, "HintAllocatedRate": number|null}` (property names matched
/// case-insensitively, as Kusto's deserializer does). Unknown properties, wrong types, a
/// rate that is negative, not finite or above max_hint_allocated_rate, or nesting past
/// max_json_depth give a BadRequest_InvalidPolicy error naming the property; `entity`
/// ("table 'T' in database 'D'") is used in messages.
std::variant<policy_patch, model::error> parse_policy(std::string_view json, std::string_view entity);

/// `base` with the properties of `patch` applied.
model::streaming_policy apply(model::streaming_policy base, const policy_patch& patch);

}  // namespace tributary::commands
