// JSON in and out through RapidJSON: bounded parsing of request bodies and small writers.
#pragma once

#include <caf/expected.hpp>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <string>
#include <string_view>

namespace tf::net {

using json_writer = rapidjson::Writer<rapidjson::StringBuffer>;

/// Parses a request body. Rejects (ec::invalid_argument, message with the offset) malformed
/// JSON, a top level that is not an object, and nesting deeper than `max_depth`.
caf::expected<rapidjson::Document> parse_object(std::string_view body, int max_depth = 32);

/// Writes a string value (RapidJSON needs the length for strings with NUL bytes).
inline void write_string(json_writer& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

/// Writes `"key": "value"`.
inline void field(json_writer& w, const char* key, std::string_view value) {
  w.Key(key);
  write_string(w, value);
}

/// Writes `"key": value`.
inline void field(json_writer& w, const char* key, int64_t value) {
  w.Key(key);
  w.Int64(value);
}

/// Empty means "not set": null in the API.
inline void nullable(json_writer& w, const char* key, std::string_view value) {
  w.Key(key);
  if (value.empty())
    w.Null();
  else
    write_string(w, value);
}

/// Builds a JSON text with `fill(writer)`.
template <class F>
std::string make_json(F&& fill) {
  rapidjson::StringBuffer buf;
  json_writer w{buf};
  fill(w);
  return {buf.GetString(), buf.GetSize()};
}

} // namespace tf::net
