// JSON in and out through RapidJSON: bounded parsing of request bodies and small writers.
#pragma once

#include <caf/expected.hpp>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <string>
#include <string_view>

namespace tf::http {

using json_writer = rapidjson::Writer<rapidjson::StringBuffer>;

/// Parses a request body. Rejects (ec::invalid_argument, message with the offset) malformed
/// JSON, a top level that is not an object, and nesting deeper than `max_depth`.
caf::expected<rapidjson::Document> parse_object(std::string_view body, int max_depth = 32);

/// Writes a string value (RapidJSON needs the length for strings with NUL bytes).
inline void write_string(json_writer& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

/// Builds a JSON text with `fill(writer)`.
template <class F>
std::string make_json(F&& fill) {
  rapidjson::StringBuffer buf;
  json_writer w{buf};
  fill(w);
  return {buf.GetString(), buf.GetSize()};
}

} // namespace tf::http
