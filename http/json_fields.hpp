// Writing the plain members of a row in one call: what every JSON writer in http/json_*.cpp
// would otherwise spell out one `net::field` at a time.
#pragma once

#include "net/json.hpp"

#include <initializer_list>
#include <string_view>
#include <utility>

namespace tf::http {

using json_text_members = std::initializer_list<std::pair<const char*, std::string_view>>;

/// `"key": "value"` for each member, in order.
inline void write_texts(net::json_writer& w, json_text_members members) {
  for (const auto& [key, value] : members)
    net::field(w, key, value);
}

/// `"key": "value"` for each member, in order; null for an empty value (not set).
inline void write_optional_texts(net::json_writer& w, json_text_members members) {
  for (const auto& [key, value] : members)
    net::nullable(w, key, value);
}

} // namespace tf::http
