#include <fmt/format.h>

#include <array>

#include "ingest/ingest.hpp"

namespace tributary::ingest {
namespace {

constexpr std::string_view not_supported = "BadRequest_IngestionPropertyNotSupportedInThisContext";

// Ingestion properties a streaming request may carry (Kusto's names; compared ignoring case).
// Tributary's own previous_nodes_property is accepted too; the RPC layer, which acts on it,
// checks its value.
constexpr std::array<std::string_view, 5> supported{
    "format", "streamFormat", "mappingName", "ingestionMappingReference", "ingestionMappingType"};

// Properties of queued ingestion that streaming refuses, each with the reason and the fix.
struct refusal {
  std::string_view name;
  std::string_view why;
};
constexpr std::string_view tags_why =
    "streaming ingestion does not support extent tags (tags, ingest-by and drop-by tags, "
    "ingestIfNotExists): streamed rows land in the rowstore, which has no extents to tag";
constexpr std::string_view inline_mapping_why =
    "inline mappings are not supported by streaming ingestion; pre-create the mapping with .create "
    "table T "
    "ingestion csv|json mapping 'name' '[...]' and pass its name as mappingName";
constexpr std::array<refusal, 15> refused{{
    {"ignoreFirstRecord",
     "streaming ingestion does not support ignoreFirstRecord; the data must not contain a header "
     "row"},
    {"tags", tags_why},
    {"additionalTags", tags_why},
    {"ingestIfNotExists", tags_why},
    {"dropByTags", tags_why},
    {"ingestByTags", tags_why},
    {"ingestionMapping", inline_mapping_why},
    {"csvMapping", inline_mapping_why},
    {"jsonMapping", inline_mapping_why},
    {"avroMapping", inline_mapping_why},
    {"creationTime",
     "streaming ingestion does not support creationTime: rows take the time they are ingested"},
    {"extend_schema",
     "streaming ingestion does not change the table schema; alter it with .create-merge table"},
    {"recreate_schema",
     "streaming ingestion does not change the table schema; alter it with .create-merge table"},
    {"validationPolicy",
     "streaming ingestion always validates every record and fails the request on the first bad "
     "one; validationPolicy cannot change that"},
    {"zipPattern", "streaming ingestion takes gzip or uncompressed data, not archives"},
}};

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    auto l = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (l(a[i]) != l(b[i])) return false;
  }
  return true;
}

}  // namespace

std::optional<model::error> check_properties(
    const std::vector<std::pair<std::string, std::string>>& properties) {
  for (size_t i = 0; i < properties.size(); ++i) {
    const auto& [name, value] = properties[i];
    for (const auto& r : refused)
      if (iequals(name, r.name))
        return model::error{std::string(not_supported),
                            fmt::format("property '{}': {}", name, r.why), true};
    bool known = iequals(name, previous_nodes_property);
    for (auto s : supported) known = known || iequals(name, s);
    if (!known) {
      return model::error{
          std::string(not_supported),
          fmt::format("property '{}' is not supported by streaming ingestion; the supported "
                      "properties are {}",
                      name, fmt::join(supported, ", ")),
          true};
    }
    for (size_t j = 0; j < i; ++j) {
      if (iequals(properties[j].first, name))
        return model::error{"BadRequest_MalformedIngestionProperty",
                            fmt::format("property '{}' is given twice; give it once", name), true};
    }
    if ((iequals(name, "format") || iequals(name, "streamFormat")) && !parse_format(value)) {
      return model::error{
          "BadRequest_FormatNotSupported",
          fmt::format(
              "property '{}' is '{}'; streaming ingestion takes csv, tsv, scsv, sohsv, psv, "
              "json or multijson",
              name, value),
          true};
    }
    if (iequals(name, "ingestionMappingType") && !iequals(value, "csv") &&
        !iequals(value, "json")) {
      return model::error{
          "BadRequest_MalformedIngestionProperty",
          fmt::format("property 'ingestionMappingType' is '{}'; it is csv or json", value), true};
    }
  }
  return std::nullopt;
}

}  // namespace tributary::ingest
