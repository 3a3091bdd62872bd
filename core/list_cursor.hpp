// The keyset cursor of a list in (created_at, id) order: `?after=` takes the `next_after`
// of the previous page. Opaque to clients (base64url of the two keys); decoding checks
// that it is one this server could have written, so a cursor is never SQL or a surprise.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace tf {

struct list_cursor {
  std::string created_at;
  std::string id;
};

namespace cursor_detail {

inline constexpr char alphabet[] =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

inline int value_of(char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '-')
    return 62;
  if (c == '_')
    return 63;
  return -1;
}

/// "2026-12-04T22:07:34.123Z" (core/clock.hpp's format_utc), the only form created_at has.
inline bool is_timestamp(std::string_view t) {
  static constexpr std::string_view shape = "dddd-dd-ddTdd:dd:dd.dddZ";
  if (t.size() != shape.size())
    return false;
  for (size_t i = 0; i < t.size(); ++i)
    if (shape[i] == 'd' ? (t[i] < '0' || t[i] > '9') : t[i] != shape[i])
      return false;
  return true;
}

/// An id as the API takes it in a filter: 1 to 128 printable ASCII characters, no space.
inline bool is_id(std::string_view id) {
  if (id.empty() || id.size() > 128)
    return false;
  for (char c : id)
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f)
      return false;
  return true;
}

} // namespace cursor_detail

/// The cursor of the row (created_at, id): base64url, no padding.
inline std::string encode_cursor(std::string_view created_at, std::string_view id) {
  std::string raw;
  raw.reserve(created_at.size() + 1 + id.size());
  raw.append(created_at).append(1, ' ').append(id);
  std::string out;
  out.reserve((raw.size() * 4 + 2) / 3);
  size_t i = 0;
  for (; i + 2 < raw.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(raw[i]) << 16)
                 | (static_cast<unsigned char>(raw[i + 1]) << 8)
                 | static_cast<unsigned char>(raw[i + 2]);
    for (int shift : {18, 12, 6, 0})
      out += cursor_detail::alphabet[(v >> shift) & 63];
  }
  if (auto rest = raw.size() - i; rest > 0) {
    unsigned v = static_cast<unsigned char>(raw[i]) << 16;
    if (rest == 2)
      v |= static_cast<unsigned char>(raw[i + 1]) << 8;
    out += cursor_detail::alphabet[(v >> 18) & 63];
    out += cursor_detail::alphabet[(v >> 12) & 63];
    if (rest == 2)
      out += cursor_detail::alphabet[(v >> 6) & 63];
  }
  return out;
}

/// The keys of a cursor encode_cursor wrote; nothing for anything else (a bad character or
/// length, a created_at that is no timestamp, an id that is no id).
inline std::optional<list_cursor> decode_cursor(std::string_view text) {
  if (text.empty() || text.size() > 256 || text.size() % 4 == 1)
    return std::nullopt;
  std::string raw;
  unsigned v = 0;
  int bits = 0;
  for (char c : text) {
    int x = cursor_detail::value_of(c);
    if (x < 0)
      return std::nullopt;
    v = (v << 6) | static_cast<unsigned>(x);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      raw += static_cast<char>((v >> bits) & 0xff);
    }
  }
  // Leftover bits must be zero, so each cursor has exactly one spelling.
  if ((v & ((1u << bits) - 1)) != 0)
    return std::nullopt;
  auto space = raw.find(' ');
  if (space == std::string::npos)
    return std::nullopt;
  list_cursor c{raw.substr(0, space), raw.substr(space + 1)};
  if (!cursor_detail::is_timestamp(c.created_at) || !cursor_detail::is_id(c.id))
    return std::nullopt;
  return c;
}

} // namespace tf
