#pragma once
/// Streaming ingest payloads: decompression and parsing of CSV-like and JSON formats into typed
/// column batches against a table's schema and (optionally) a pre-created mapping. Pure
/// functions: no I/O, no threads; safe to call from any actor.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "model/batch.hpp"
#include "model/catalog.hpp"

namespace tributary::ingest {

/// Kusto's streamFormat values; same order as wire::Format.
enum class format : uint8_t { csv, tsv, scsv, sohsv, psv, json, multijson };

/// "csv", "tsv", "scsv", "sohsv", "psv", "json", "multijson".
std::string_view to_string(format f);
/// The format named `name` (Kusto's streamFormat values, case-insensitive: "CSV", "SCsv",
/// "MultiJSON", ...); nullopt when unknown.
std::optional<format> parse_format(std::string_view name);
/// The mapping kind a format takes (csv for CSV-like formats, json for json/multijson).
model::mapping_kind mapping_kind_for(format f);

/// Kusto's limit for one streaming request, compressed and uncompressed.
constexpr size_t max_request_bytes = 4 * 1024 * 1024;

/// The most one request's rows may take once decoded, counted as model::column_batch holds them:
/// per row and column a null flag plus 8 bytes (bool, int, long, real, datetime, timespan) or a
/// 4-byte text offset (string, decimal, guid, dynamic), plus the text bytes. Input of
/// max_request_bytes can decode to far more (`[{},{},...]` is a full row per 3 bytes, a
/// ConstValue-only mapping a full row per line): 16 times the input leaves room for any honest
/// request and bounds what a hostile one costs.
constexpr size_t max_decoded_bytes = 64 * 1024 * 1024;

/// Returns `data` decompressed when it starts with gzip's magic bytes (1f 8b), else unchanged.
/// Stops as soon as the output would exceed `limit` (a decompression bomb costs at most `limit`
/// bytes of memory) and fails with code "BadRequest_RequestTooLarge"; corrupt gzip fails with
/// "BadRequest_InvalidCompressedData". Uncompressed data longer than `limit` fails with
/// "BadRequest_RequestTooLarge" too.
std::variant<std::string, model::error> decompress(std::string_view data,
                                                   size_t limit = max_request_bytes);
/// The same, taking `data` over: when it is not gzip it is returned as it is, not copied.
std::variant<std::string, model::error> decompress(std::string&& data, size_t limit = max_request_bytes);

/// Tributary's own ingestion property: on a request retried at another node, the "host:port"
/// RPC addresses (comma-separated) of the nodes it was sent to before. The receiving node asks
/// each whether it has the request before ingesting (cluster/README.md "Retries across nodes").
constexpr std::string_view previous_nodes_property = "tributary.previousNodes";

/// Refuses ingestion properties that streaming ingestion does not support, by name (e.g.
/// ignoreFirstRecord, tags, ingestionMapping as inline mapping); nullopt when all are accepted.
std::optional<model::error> check_properties(
    const std::vector<std::pair<std::string, std::string>>& properties);

/// Parses `data` (uncompressed, UTF-8) into a batch with one column per column of `table`.
/// Without a mapping, CSV-like formats map fields by position and JSON maps properties by column
/// name; with one, CSV maps by Ordinal and JSON by Path, ConstValue fills constants. The whole
/// request fails on the first bad record, and the error names the record number (1-based), the
/// column and the reason. `mapping`, when given, must be of mapping_kind_for(f). Rows are
/// counted against `decoded_limit` before they are stored: past it the request fails with the
/// permanent "Stream_InputStreamTooLarge", naming the table, the limit and the record, having
/// allocated no more than the limit (plus the vectors' spare capacity) for the batch.
std::variant<model::column_batch, model::error> parse(format f, std::string_view data,
                                                      const model::table& table,
                                                      const model::mapping* mapping,
                                                      size_t decoded_limit = max_decoded_bytes);

}  // namespace tributary::ingest
