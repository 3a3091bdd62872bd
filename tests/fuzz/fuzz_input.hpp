// How the fuzz targets read their input. A target that needs headers and a body (webhooks)
// reads "name: value" lines up to the first empty line, then the body; that keeps the seed
// corpora readable and lets the fuzzer mutate headers and body independently.
#pragma once

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace tf::fuzz {

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

/// Header lines and the body after them, as the HTTP front-end would hand them on: names
/// lowercased and values cut at 1024 bytes (routes_webhooks.cpp does the same).
struct headed_input {
  std::map<std::string, std::string> headers;
  std::string_view body;
};

inline headed_input split_headers(std::string_view in) {
  constexpr size_t max_header_value = 1024;
  headed_input out;
  for (;;) {
    auto nl = in.find('\n');
    if (nl == std::string_view::npos) {
      out.body = in;
      return out;
    }
    auto line = in.substr(0, nl);
    in.remove_prefix(nl + 1);
    if (!line.empty() && line.back() == '\r')
      line.remove_suffix(1);
    if (line.empty()) {
      out.body = in;
      return out;
    }
    auto colon = line.find(':');
    if (colon == std::string_view::npos)
      continue;
    std::string name{line.substr(0, colon)};
    for (auto& c : name)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ')
      value.remove_prefix(1);
    out.headers[name] = std::string{value.substr(0, max_header_value)};
  }
}

} // namespace tf::fuzz
