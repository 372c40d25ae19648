#include "node/kusto_json.hpp"

#include <fmt/format.h>

#include <cmath>
#include <iterator>

namespace tributary::node::rest {
namespace {

using model::column_type;

// v1's DataType: the .NET name without its namespace, as Kusto writes it.
std::string_view data_type(column_type t) {
  switch (t) {
    case column_type::bool_: return "Boolean";
    case column_type::int_: return "Int32";
    case column_type::long_: return "Int64";
    case column_type::real: return "Double";
    case column_type::decimal: return "Decimal";
    case column_type::datetime: return "DateTime";
    case column_type::timespan: return "TimeSpan";
    case column_type::guid: return "Guid";
    case column_type::dynamic: return "Object";
    default: return "String";
  }
}

void append_key(std::string& out, std::string_view key) {
  model::append_json_quoted(key, out);
  out += ':';
}

void append_rows(std::string& out, const model::result_table& t, bool dynamic_as_text) {
  out += "\"Rows\":[";
  for (size_t r = 0; r < t.rows.size(); ++r) {
    if (r) out += ',';
    out += '[';
    const auto& row = t.rows[r];
    for (size_t c = 0; c < t.columns.size(); ++c) {
      if (c) out += ',';
      if (c < row.size()) append_value(out, row[c], t.columns[c].type, dynamic_as_text);
      else out += "null";
    }
    out += ']';
  }
  out += ']';
}

// The columns of a v2 DataTable: {"ColumnName","ColumnType"}.
void append_v2_columns(std::string& out, const std::vector<std::pair<std::string_view, std::string_view>>& columns) {
  out += "\"Columns\":[";
  for (size_t i = 0; i < columns.size(); ++i) {
    if (i) out += ',';
    out += "{\"ColumnName\":";
    model::append_json_quoted(columns[i].first, out);
    out += ",\"ColumnType\":";
    model::append_json_quoted(columns[i].second, out);
    out += '}';
  }
  out += "],";
}

std::string_view property(const model::result_table& t, std::string_view name) {
  for (const auto& [k, v] : t.properties)
    if (k == name) return v;
  return {};
}

constexpr std::string_view zero_guid = "00000000-0000-0000-0000-000000000000";

// One QueryCompletionInformation row.
void append_completion_row(std::string& out, int64_t now_ticks, std::string_view request_id, int level,
                           std::string_view level_name, int event, std::string_view event_name,
                           std::string_view payload) {
  out += '[';
  model::append_json_quoted(model::format_datetime(now_ticks), out);
  out += ',';
  model::append_json_quoted(request_id, out);
  for (int i = 0; i < 3; ++i) {
    out += ',';
    model::append_json_quoted(zero_guid, out);
  }
  out += fmt::format(",{},", level);
  model::append_json_quoted(level_name, out);
  out += ",0,\"S_OK (0)\",";
  out += fmt::format("{},", event);
  model::append_json_quoted(event_name, out);
  out += ',';
  model::append_json_quoted(payload, out);
  out += ']';
}

}  // namespace

void append_value(std::string& out, const model::value& v, column_type type, bool dynamic_as_text) {
  if (std::holds_alternative<std::monostate>(v)) {
    out += "null";
    return;
  }
  if (const auto* b = std::get_if<bool>(&v)) {
    out += *b ? "true" : "false";
    return;
  }
  if (const auto* i = std::get_if<int64_t>(&v)) {
    if (type == column_type::datetime) return model::append_json_quoted(model::format_datetime(*i), out);
    if (type == column_type::timespan) return model::append_json_quoted(model::format_timespan(*i), out);
    if (type == column_type::bool_) {
      out += *i ? "true" : "false";
      return;
    }
    out += std::to_string(*i);
    return;
  }
  if (const auto* d = std::get_if<double>(&v)) {
    if (std::isnan(*d)) out += "\"NaN\"";
    else if (std::isinf(*d)) out += *d > 0 ? "\"Infinity\"" : "\"-Infinity\"";
    else {
      // Shortest round-trip text; a whole number keeps its ".0" so that clients (Python's json)
      // read a real as a float, as Kusto writes it.
      const auto at = out.size();
      fmt::format_to(std::back_inserter(out), "{}", *d);
      if (out.find_first_of(".e", at) == std::string::npos) out += ".0";
    }
    return;
  }
  const auto& s = std::get<std::string>(v);
  if (type == column_type::dynamic && !dynamic_as_text && !s.empty()) {
    out += s;  // the node keeps dynamic values as compact JSON
    return;
  }
  model::append_json_quoted(s, out);
}

std::string v1(const model::result_table& t) {
  std::string out = "{\"Tables\":[{\"TableName\":\"Table_0\",\"Columns\":[";
  for (size_t i = 0; i < t.columns.size(); ++i) {
    if (i) out += ',';
    out += "{\"ColumnName\":";
    model::append_json_quoted(t.columns[i].name, out);
    out += ",\"DataType\":";
    model::append_json_quoted(data_type(t.columns[i].type), out);
    out += ",\"ColumnType\":";
    model::append_json_quoted(model::to_string(t.columns[i].type), out);
    out += '}';
  }
  out += "],";
  append_rows(out, t, /*dynamic_as_text=*/true);
  out += "}]}";
  return out;
}

std::string v2(const model::result_table& t, std::string_view client_request_id,
               const std::vector<std::string>& warnings, int64_t now_ticks) {
  std::string out =
      "[{\"FrameType\":\"DataSetHeader\",\"IsProgressive\":false,\"Version\":\"v2.0\",\"IsFragmented\":false,"
      "\"ErrorReportingPlacement\":\"EndOfTable\"}";
  // @ExtendedProperties: the visualization, as Kusto reports it.
  out += ",{\"FrameType\":\"DataTable\",\"TableId\":0,\"TableKind\":\"QueryProperties\",\"TableName\":"
         "\"@ExtendedProperties\",";
  append_v2_columns(out, {{"TableId", "int"}, {"Key", "string"}, {"Value", "dynamic"}});
  out += "\"Rows\":[[1,\"Visualization\",";
  const auto visualization = property(t, "Visualization");
  model::append_json_quoted(visualization.empty() ? std::string_view("{\"Visualization\":null}") : visualization, out);
  out += "]]}";
  // The result.
  out += ",{\"FrameType\":\"DataTable\",\"TableId\":1,\"TableKind\":\"PrimaryResult\",\"TableName\":"
         "\"PrimaryResult\",";
  std::vector<std::pair<std::string_view, std::string_view>> columns;
  for (const auto& c : t.columns) columns.emplace_back(c.name, model::to_string(c.type));
  append_v2_columns(out, columns);
  append_rows(out, t, /*dynamic_as_text=*/false);
  out += '}';
  // QueryCompletionInformation: Level 4 (Info) for the completion and the statistics, 3
  // (Warning) for a warning; the SDKs raise only on levels 2 and below.
  out += ",{\"FrameType\":\"DataTable\",\"TableId\":2,\"TableKind\":\"QueryCompletionInformation\",\"TableName\":"
         "\"QueryCompletionInformation\",";
  append_v2_columns(out, {{"Timestamp", "datetime"},
                          {"ClientRequestId", "string"},
                          {"ActivityId", "guid"},
                          {"SubActivityId", "guid"},
                          {"ParentActivityId", "guid"},
                          {"Level", "int"},
                          {"LevelName", "string"},
                          {"StatusCode", "int"},
                          {"StatusCodeName", "string"},
                          {"EventType", "int"},
                          {"EventTypeName", "string"},
                          {"Payload", "string"}});
  out += "\"Rows\":[";
  append_completion_row(out, now_ticks, client_request_id, 4, "Info", 4, "QueryInfo",
                        "{\"Count\":1,\"Text\":\"Query completed successfully\"}");
  if (const auto stats = property(t, "QueryStats"); !stats.empty()) {
    out += ',';
    append_completion_row(out, now_ticks, client_request_id, 4, "Info", 5, "QueryResourceConsumption", stats);
  }
  for (const auto& w : warnings) {
    out += ',';
    std::string payload = "{\"Count\":1,\"Text\":";
    model::append_json_quoted(w, payload);
    payload += '}';
    append_completion_row(out, now_ticks, client_request_id, 3, "Warning", 4, "QueryInfo", payload);
  }
  out += "]}";
  out += ",{\"FrameType\":\"DataSetCompletion\",\"HasErrors\":false,\"Cancelled\":false}]";
  return out;
}

http_error map_error(const model::error& e) {
  struct entry {
    std::string_view code;
    unsigned status;
    std::string_view type;
  };
  // Kusto's exception types for the codes the node answers (their class names in Kusto.Data).
  static constexpr entry known[] = {
      {"Throttling", 429, "Kusto.DataNode.Exceptions.ThrottlingException"},
      // Kusto answers 404 on its ingest endpoint while the cluster's streaming switch is off; Python's
      // SDK then says "Please enable streaming ingestion on your cluster".
      {"StreamingIngestionFunctionalityDisabled", 404, "Kusto.Data.Exceptions.BadRequestException"},
      {"BadRequest_SyntaxError", 400, "Kusto.Data.Exceptions.SyntaxException"},
      {"BadRequest_SemanticError", 400, "Kusto.Data.Exceptions.SemanticException"},
      {"BadRequest_TableNotExist", 400, "Kusto.Data.Exceptions.EntityNotFoundException"},
      {"BadRequest_DatabaseNotExist", 400, "Kusto.Data.Exceptions.EntityNotFoundException"},
      {"BadRequest_EntityNotFound", 400, "Kusto.Data.Exceptions.EntityNotFoundException"},
      {"BadRequest_MappingReferenceWasNotFound", 400, "Kusto.Data.Exceptions.EntityNotFoundException"},
      {"QueryResultSetTooLarge", 400,
       "Kusto.Data.Exceptions.KustoServicePartialQueryFailureLimitsExceededException"},
      {"QueryMemoryLimitExceeded", 400,
       "Kusto.Data.Exceptions.KustoServicePartialQueryFailureLowMemoryConditionException"},
      {"QueryTimeout", 503, "Kusto.Data.Exceptions.KustoRequestTimeoutException"},
      {"QueryCancelled", 503, "Kusto.Data.Exceptions.KustoRequestCanceledException"},
      {"PartialQueryFailure", 503, "Kusto.Data.Exceptions.KustoServicePartialQueryFailureException"},
      {"InternalServerError", 500, "Kusto.DataNode.Exceptions.InternalServerError"},
  };
  for (const auto& k : known)
    if (k.code == e.code) return {k.status, k.type};
  if (e.permanent) return {400, "Kusto.Data.Exceptions.BadRequestException"};
  return {503, "Kusto.Data.Exceptions.KustoServiceException"};
}

std::string error_body(const model::error& e, std::string_view client_request_id, int64_t now_ticks) {
  const auto m = map_error(e);
  std::string out = "{\"error\":{";
  append_key(out, "code");
  model::append_json_quoted(e.code, out);
  out += ',';
  append_key(out, "message");
  model::append_json_quoted(m.status == 429   ? "The request was throttled; retry after a short backoff."
                            : m.status >= 500 ? "The service could not complete the request; retry it."
                                              : "Request is invalid and cannot be executed.",
                            out);
  out += ',';
  append_key(out, "@type");
  model::append_json_quoted(m.type, out);
  out += ',';
  append_key(out, "@message");
  model::append_json_quoted(e.message, out);
  out += ",\"@context\":{";
  append_key(out, "timestamp");
  model::append_json_quoted(model::format_datetime(now_ticks), out);
  out += ',';
  append_key(out, "clientRequestId");
  model::append_json_quoted(client_request_id, out);
  out += "},";
  append_key(out, "@permanent");
  out += e.permanent ? "true" : "false";
  out += "}}";
  return out;
}

}  // namespace tributary::node::rest
