#include "proxy/tcp_table.hpp"

#include <algorithm>

namespace tf::proxy {

namespace {

bool is_hex(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  });
}

long hex_value(std::string_view s) {
  long v = 0;
  for (char c : s) {
    int d = c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
    v = v * 16 + d;
  }
  return v;
}

/// The next whitespace-separated field of `line` from `pos`.
std::string_view next_field(std::string_view line, size_t& pos) {
  while (pos < line.size() && (line[pos] == ' ' || line[pos] == '\t'))
    ++pos;
  auto start = pos;
  while (pos < line.size() && line[pos] != ' ' && line[pos] != '\t')
    ++pos;
  return line.substr(start, pos - start);
}

/// The local port of one row, or -1 when the row is not an ESTABLISHED socket that parses.
long established_local_port(std::string_view line) {
  size_t pos = 0;
  auto slot = next_field(line, pos);    // "0:"
  auto local = next_field(line, pos);   // "0100007F:1F90" or 32 hex digits ":" port
  auto remote = next_field(line, pos);  // same shape
  auto state = next_field(line, pos);   // "01" = TCP_ESTABLISHED
  if (slot.empty() || slot.back() != ':' || state != "01" || remote.empty())
    return -1;
  auto colon = local.find(':');
  if (colon == std::string_view::npos)
    return -1;
  auto addr = local.substr(0, colon);
  auto port = local.substr(colon + 1);
  if ((addr.size() != 8 && addr.size() != 32) || !is_hex(addr) || port.size() != 4
      || !is_hex(port))
    return -1;
  return hex_value(port);
}

} // namespace

int64_t count_established(std::string_view table, const std::vector<int64_t>& ports) {
  int64_t count = 0;
  size_t start = 0;
  bool header = true;
  while (start < table.size()) {
    auto end = table.find('\n', start);
    if (end == std::string_view::npos)
      end = table.size();
    auto line = table.substr(start, end - start);
    start = end + 1;
    if (header) { // "  sl  local_address rem_address   st ..."
      header = false;
      continue;
    }
    auto port = established_local_port(line);
    if (port > 0 && std::find(ports.begin(), ports.end(), port) != ports.end())
      ++count;
  }
  return count;
}

} // namespace tf::proxy
