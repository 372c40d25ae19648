#pragma once
/// Test helper: reads Prometheus text exposition.

#include <optional>
#include <sstream>
#include <string>

namespace tributary::testing {

/// The value of the sample whose name-and-labels text is exactly `series` (for example
/// `tributary_extent_bytes` or `tributary_storage_corruptions_total{what="extent"}`), or nullopt.
inline std::optional<double> sample(const std::string& exposition, const std::string& series) {
  std::istringstream lines(exposition);
  for (std::string line; std::getline(lines, line);)
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ')
      return std::stod(line.substr(series.size() + 1));
  return std::nullopt;
}

}  // namespace tributary::testing
