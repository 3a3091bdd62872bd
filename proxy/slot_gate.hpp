// Taking slot ports out of rotation and back, so a colour leaves it without cutting the
// requests it is serving (bench/proxy_switch, finding 3), and a colour about to serve is
// already healthy in the proxy's eyes. Two kinds of rule, both found and removed by their
// comment "tinyforge-slot:<port>":
//  - a closed slot *redirects*: a nat OUTPUT rule sends new loopback connections to the
//    port on to a slot of the serving colour. The proxy's health checks of the closed slot
//    pass (they reach the serving container), so the moment the slot opens, new connections
//    reach its own container: no wait for the proxy's next health check (Caddy's 250 ms tick
//    was half the time to serving);
//  - a closed slot with nothing serving *resets*: a filter INPUT rule answers its SYN with a
//    TCP reset, a dial error both proxies retry on another slot.
// Connections already open stay where they are (conntrack keeps their address), so a drain
// still counts them on the old port. Our own health probes connect from 127.0.0.2, which
// neither rule touches. Blocking (runs iptables): proxy actor only.
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
  /// Takes each port out of rotation: new connections to ports[i] go to
  /// toward[i % toward.size()], or are reset when `toward` is empty. A port's other slot
  /// rules go (after the new one is in, so the port is never open between). Idempotent.
  caf::error close(const std::vector<int64_t>& ports, const std::vector<int64_t>& toward = {});
  /// Removes every slot rule of each port (idempotent).
  caf::error open(const std::vector<int64_t>& ports);
  /// Whether a port has a slot rule now.
  caf::expected<bool> is_closed(int64_t port);

private:
  std::string mode_;
  std::string iptables_;
};

/// The words of one line of `iptables -S` (double quotes group, a backslash escapes inside
/// them): the argument vector the line stands for.
std::vector<std::string> split_rule_line(const std::string& line);

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
