#include "commands/policy.hpp"

#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "commands/lexer.hpp"
#include "commands/mapping.hpp"

namespace tributary::commands {

std::variant<policy_patch, model::error> parse_policy(std::string_view text, std::string_view entity) {
  auto fail = [&](std::string_view what) {
    return model::error{"BadRequest_InvalidPolicy",
                        fmt::format("Invalid streaming ingestion policy for {}: {}; a policy looks like "
                                    "{{\"IsEnabled\": true, \"HintAllocatedRate\": null}}",
                                    entity, what),
                        true};
  };
  if (auto deep = check_json_depth(text)) return fail(*deep);
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    return fail(fmt::format("the policy is not valid JSON: {}", json_error_text(e.what())));
  }
  if (!doc.is_object()) return fail(fmt::format("the policy must be a JSON object, found {}", doc.type_name()));
  policy_patch patch;
  bool seen_enabled = false;
  std::vector<std::string> unknown;
  for (const auto& [key, value] : doc.items()) {
    std::string k = ascii_lower(key);
    if (k == "isenabled") {
      if (seen_enabled) return fail("IsEnabled is given more than once");
      seen_enabled = true;
      if (!value.is_boolean()) {
        return fail(fmt::format("property {} must be true or false, found {}", quote(key), value.type_name()));
      }
      patch.is_enabled = value.get<bool>();
    } else if (k == "hintallocatedrate") {
      if (patch.has_hint_allocated_rate) return fail("HintAllocatedRate is given more than once");
      patch.has_hint_allocated_rate = true;
      if (value.is_null()) continue;
      if (!value.is_number()) {
        return fail(fmt::format("property {} must be a non-negative number (GB per hour) or null, found {}",
                                quote(key), value.type_name()));
      }
      double rate = value.get<double>();
      if (!std::isfinite(rate) || rate < 0) {
        return fail(fmt::format("property {} must be a non-negative number (GB per hour) or null, found {}",
                                quote(key), value.dump()));
      }
      if (rate > max_hint_allocated_rate) {
        return fail(fmt::format("property {} is {} GB per hour, more than the largest rate a table can be given "
                                "({:.0f} GB per hour, a petabyte an hour); give the expected hourly volume in "
                                "gigabytes, or null",
                                quote(key), value.dump(), max_hint_allocated_rate));
      }
      patch.hint_allocated_rate = rate == 0 ? 0.0 : rate;  // -0 reads as 0
    } else {
      unknown.push_back(quote(key));
    }
  }
  if (!unknown.empty()) {
    std::string list;
    for (size_t i = 0; i < unknown.size() && i < 10; ++i) list += (i > 0 ? ", " : "") + unknown[i];
    if (unknown.size() > 10) list += fmt::format(" and {} more", unknown.size() - 10);
    return fail(fmt::format("unknown propert{} {}; the streaming ingestion policy has only IsEnabled and "
                            "HintAllocatedRate",
                            unknown.size() == 1 ? "y" : "ies", list));
  }
  return patch;
}

model::streaming_policy apply(model::streaming_policy base, const policy_patch& patch) {
  if (patch.is_enabled) base.is_enabled = *patch.is_enabled;
  if (patch.has_hint_allocated_rate) base.hint_allocated_rate = patch.hint_allocated_rate;
  return base;
}

}  // namespace tributary::commands
