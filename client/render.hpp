#pragma once
/// Rendering of result tables and values for people and scripts (the `tributary` CLI).

#include <string>

#include "model/types.hpp"

namespace tributary::client {

/// One cell as text: null → "", bool → true/false, datetime → ISO 8601 UTC
/// ("2024-05-01T12:00:00Z", fraction only when non-zero), timespan → Kusto's [-][d.]hh:mm:ss[.f].
std::string render_value(const model::value& v, model::column_type type);

/// Column-aligned text with a header row and a separator line.
std::string render_table(const model::result_table& t);
/// RFC 4180 CSV with a header row.
std::string render_csv(const model::result_table& t);
/// {"columns":[{"name":..,"type":..}],"rows":[[..]]}; numbers and bools as JSON values.
std::string render_json(const model::result_table& t);

}  // namespace tributary::client
