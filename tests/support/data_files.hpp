#pragma once
/// Test helper for data-driven runners (one ctest per file): the files named on the command
/// line, or every file with `extension` in `dir` when none is named.

#include <algorithm>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace tributary::testing {

inline std::vector<std::filesystem::path> data_files(int argc, char** argv, const std::filesystem::path& dir,
                                                     std::string_view extension) {
  std::vector<std::filesystem::path> files;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg.size() > extension.size() && arg.ends_with(extension)) files.emplace_back(arg);
  }
  if (!files.empty()) return files;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == extension) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace tributary::testing
