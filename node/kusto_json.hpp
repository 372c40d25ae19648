#pragma once
/// Kusto's REST shapes (reference/kusto-rest.md §4–5), as Kusto's SDKs parse them: v1 tables
/// (management commands, /v1/rest/query, streaming ingest's answer), v2 frames (/v2/rest/query),
/// the error envelope, and the one mapping of the node's errors onto HTTP statuses and Kusto's
/// exception types. Pure functions over model values.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/types.hpp"

namespace tributary::node::rest {

/// {"Tables":[{"TableName":"Table_0","Columns":[{"ColumnName","DataType","ColumnType"}],"Rows":[...]}]}:
/// DataType the .NET name, ColumnType Kusto's; dynamic values as JSON text in a string, as
/// Kusto's v1 writes them.
std::string v1(const model::result_table& t);

/// A query's answer as v2 frames, keys in the order Python's streaming parser needs:
/// DataSetHeader, @ExtendedProperties (the Visualization), PrimaryResult,
/// QueryCompletionInformation (the query's statistics, then one Warning row per warning, which
/// the SDKs do not raise), DataSetCompletion.
std::string v2(const model::result_table& t, std::string_view client_request_id,
               const std::vector<std::string>& warnings, int64_t now_ticks);

/// An error's HTTP status and Kusto's exception type for it.
struct http_error {
  unsigned status = 400;
  std::string_view type;
};

/// The one mapping of the node's errors (the same codes, messages and permanence as over Cap'n
/// Proto) onto HTTP: Throttling → 429 (the SDKs raise ThrottlingError and retry it); any other
/// permanent error → 400 (a missing table or database too: the SDKs read a 404 from the ingest
/// route as "streaming ingestion is not enabled"); transient errors → 503, and 500 for
/// InternalServerError.
http_error map_error(const model::error& e);

/// {"error":{"code","message","@type","@message","@context":{"timestamp","clientRequestId"},
/// "@permanent"}}: `@message` is the node's message (Python's SDK shows it).
std::string error_body(const model::error& e, std::string_view client_request_id, int64_t now_ticks);

/// One cell as Kusto's JSON writes it: numbers and bools as JSON, datetimes as ISO 8601 with
/// `Z`, timespans as [-][d.]hh:mm:ss[.fffffff], guid/decimal/string as strings, real NaN and
/// infinities as the strings "NaN", "Infinity", "-Infinity", null as null; dynamic as its JSON
/// (v2) or that JSON in a string (`dynamic_as_text`, v1).
void append_value(std::string& out, const model::value& v, model::column_type type, bool dynamic_as_text);

}  // namespace tributary::node::rest
