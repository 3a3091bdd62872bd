// A container row's JSON object as the API shows it, from views of its fields: the HTTP
// layer writes it from a container_row, the store reader a whole list straight from a
// statement's columns (no row object, no string copies). One shape, one place.
//
// The list is written by appending to one string, not through RapidJSON's writer: a page
// of 5,000 rows is some 2 MB of mostly plain ASCII, and checking a value for a character
// to escape and then copying it whole is several times faster than RapidJSON's byte-at-a-
// time escaping (which was a third of a read's CPU). The escapes are RapidJSON's own, so
// the bytes are those write_container gave before.
#pragma once

#include "core/model.hpp"
#include "net/json.hpp"

#include <charconv>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace tf::net {

/// Appends `s` as a JSON string: '"' and '\' escaped, control characters as RapidJSON
/// writes them (\b \t \n \f \r, else \u00XX); other bytes as they are.
inline void append_json_string(std::string& out, std::string_view s) {
  auto needs_escape = [](unsigned char c) { return c < 0x20 || c == '"' || c == '\\'; };
  out += '"';
  size_t plain = 0;
  size_t i = 0;
  // Eight bytes at a time while none needs escaping (nearly every value): a byte below
  // 0x20, a '"' or a '\' in the word sets its high bit in `hit` (exact: no false negative),
  // and the byte loop below takes over from that word.
  constexpr uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    auto quote = w ^ (ones * '"'), backslash = w ^ (ones * '\\');
    auto hit = ((w - ones * 0x20) & ~w) | ((quote - ones) & ~quote)
               | ((backslash - ones) & ~backslash);
    if ((hit & highs) != 0)
      break;
  }
  for (; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (!needs_escape(c))
      continue;
    out.append(s.data() + plain, i - plain);
    plain = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\t': out += "\\t"; break;
      case '\n': out += "\\n"; break;
      case '\f': out += "\\f"; break;
      case '\r': out += "\\r"; break;
      default: {
        static constexpr char hex[] = "0123456789ABCDEF";
        char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        out.append(u, sizeof u);
      }
    }
  }
  out.append(s.data() + plain, s.size() - plain);
  out += '"';
}

/// Appends an integer.
inline void append_json_int(std::string& out, int64_t v) {
  char buf[24];
  auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;
  out.append(buf, static_cast<size_t>(end - buf));
}

/// Appends `,"key":` (without the comma for the first key of an object).
inline void append_json_key(std::string& out, std::string_view key, bool first = false) {
  if (!first)
    out += ',';
  out += '"';
  out += key; // our own keys: plain ASCII, nothing to escape
  out += "\":";
}

/// Appends a text value, or null when it is empty ("not set" in the API).
inline void append_json_nullable(std::string& out, std::string_view s) {
  if (s.empty())
    out += "null";
  else
    append_json_string(out, s);
}

/// {"id","workload_id","workload_kind","role","stage_id","subdomain","image_tag",
/// "container_id","state","image_ref","host","port","last_seen_at","created_at",
/// "updated_at"}: the optional texts empty are null.
inline void append_container_json(std::string& out, const container_view& c) {
  out += '{';
  append_json_key(out, "id", true);
  append_json_string(out, c.id);
  append_json_key(out, "workload_id");
  append_json_string(out, c.workload_id);
  append_json_key(out, "workload_kind");
  append_json_string(out, c.workload_kind);
  append_json_key(out, "role");
  append_json_string(out, c.role);
  append_json_key(out, "stage_id");
  append_json_nullable(out, c.stage_id);
  append_json_key(out, "subdomain");
  append_json_nullable(out, c.subdomain);
  append_json_key(out, "image_tag");
  append_json_nullable(out, c.image_tag);
  append_json_key(out, "container_id");
  append_json_nullable(out, c.container_id);
  append_json_key(out, "state");
  append_json_string(out, c.state);
  append_json_key(out, "image_ref");
  append_json_nullable(out, c.image_ref);
  append_json_key(out, "host");
  append_json_string(out, c.host);
  append_json_key(out, "port");
  append_json_int(out, c.port);
  append_json_key(out, "last_seen_at");
  append_json_nullable(out, c.last_seen_at);
  append_json_key(out, "created_at");
  append_json_string(out, c.created_at);
  append_json_key(out, "updated_at");
  append_json_string(out, c.updated_at);
  out += '}';
}

/// A stored row's fields as the view above (borrowed: the row outlives the view).
inline container_view view_of(const container_row& c) {
  return container_view{c.id,           c.workload_id,  c.workload_kind, c.role,
                        c.stage_id,     c.subdomain,    c.image_tag,     c.container_id,
                        c.state,        c.image_ref,    c.host,          c.last_seen_at,
                        c.created_at,   c.updated_at,   c.port};
}

/// The same object inside a document a RapidJSON writer is writing.
inline void write_container_fields(json_writer& w, const container_view& c) {
  std::string text;
  text.reserve(512);
  append_container_json(text, c);
  w.RawValue(text.data(), text.size(), rapidjson::kObjectType);
}

} // namespace tf::net
