// The kernel's ephemeral port range (/proc/sys/net/ipv4/ip_local_port_range) against the
// ports Tinyforge binds itself. A port in that range can be held at any moment by an
// outgoing connection's source port (or its TIME-WAIT), and a bind of it then fails: a slot
// port taken that way made a deploy fail (issue 11, item 6). Only a warning: the host's
// owner may have reasons, and most of the time the bind works.
#pragma once

#include "config/config.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tf {

/// An inclusive port range.
struct port_range {
  int64_t low = 0;
  int64_t high = 0;
};

/// Where the kernel keeps the range.
inline constexpr const char* ephemeral_range_path = "/proc/sys/net/ipv4/ip_local_port_range";

/// Parses the file's text, "low<blanks>high" and an optional newline. Nothing when it is
/// anything else (garbled, out of 1-65535, low > high, too long): then there is no check.
std::optional<port_range> parse_ephemeral_range(std::string_view text);

/// Reads and parses `path` (at most a few bytes); nothing when it cannot be read or parsed.
std::optional<port_range> read_ephemeral_range(const std::string& path = ephemeral_range_path);

/// One configured port (or range) inside the kernel's ephemeral range.
struct ephemeral_overlap {
  std::string key;   // "listen" or "proxy.slot_ports"
  std::string value; // as configured
  port_range kernel;
};

/// The keys of `cfg` whose ports fall inside `kernel`: `listen` unless its port is 0 (then
/// the kernel picks), and `proxy.slot_ports` when any of its ports does.
std::vector<ephemeral_overlap> ephemeral_overlaps(const config& cfg, const port_range& kernel);

/// The warning's text for one overlap.
std::string describe(const ephemeral_overlap& x);

} // namespace tf
