// Opening and closing slot ports to new connections, so a colour leaves the rotation
// without cutting the requests it is serving (bench/proxy_switch, finding 3). Closing adds
// an iptables rule that answers a SYN to the loopback port with a TCP reset, which both
// proxies treat as a dial error and retry on another slot; connections already open stay.
// Every rule carries the comment "tinyforge-slot:<port>", so it can be found and removed.
// Blocking (runs iptables): proxy actor only.
#pragma once

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace tf::proxy {

class slot_gate {
public:
  /// mode "iptables" or "none" (closing is a no-op; established counts still work).
  explicit slot_gate(std::string mode, std::string iptables_bin = "iptables");
  bool enabled() const { return mode_ == "iptables"; }
  /// Adds the reset rule for each port that has none yet (idempotent).
  caf::error close(const std::vector<int64_t>& ports);
  /// Removes every reset rule of each port (idempotent).
  caf::error open(const std::vector<int64_t>& ports);
  /// Whether a port has a reset rule now.
  caf::expected<bool> is_closed(int64_t port);

private:
  std::string mode_;
  std::string iptables_;
};

/// TCP connections in state ESTABLISHED whose local port is one of `ports`: the requests a
/// draining slot still serves. Asked of the kernel through NETLINK_SOCK_DIAG, which sends
/// only the established sockets; /proc/net/tcp{,6} when netlink is not allowed here.
caf::expected<int64_t> established_connections(const std::vector<int64_t>& ports);

/// The same count through NETLINK_SOCK_DIAG alone (IPv4 and IPv6), unavailable when this
/// process may not open such a socket. A host that proxies keeps thousands of sockets in
/// TIME_WAIT: /proc/net/tcp formats every one of them on each read (~30 ms for 12,500
/// here), the kernel's dump filtered by state skips them.
caf::expected<int64_t> established_by_sock_diag(const std::vector<int64_t>& ports);

/// The same count read off /proc/net/tcp and /proc/net/tcp6 (tcp_table.hpp parses them).
caf::expected<int64_t> established_by_proc(const std::vector<int64_t>& ports);

} // namespace tf::proxy
