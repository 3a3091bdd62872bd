// ASCII text helpers for HTTP fields: header names are compared lowercased, and values,
// cookie pairs and list items lose their surrounding blanks. One copy for the server's
// auth, the client core, the admin-API client and the webhook signatures.
#pragma once

#include <cctype>
#include <string>
#include <string_view>

namespace tf::net {

/// `s` with ASCII letters lowercased (header names, schemes, hex digests).
inline std::string ascii_lowercase(std::string_view s) {
  std::string out{s};
  for (auto& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

/// `s` without leading and trailing spaces and tabs (RFC 9110's optional whitespace).
inline std::string_view trim_blanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

} // namespace tf::net
