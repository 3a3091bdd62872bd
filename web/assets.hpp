// The web UI's files, compiled into the binary by CMake (cmake/EmbedFiles.cmake).
#pragma once

#include <string_view>
#include <vector>

namespace tf::web {

struct asset {
  std::string_view path;
  std::string_view content;
};

/// Every embedded file.
const std::vector<asset>& assets();

/// The file with this path (e.g. "index.html"), or nullptr.
inline const asset* find_asset(std::string_view path) {
  for (const auto& a : assets())
    if (a.path == path)
      return &a;
  return nullptr;
}

} // namespace tf::web
