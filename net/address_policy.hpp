// Which addresses an outbound request that a user of the API points somewhere (a
// notification URL) may reach. Checked on the resolved address, never on the spelling of
// the host, so 127.1, 0x7f000001, 2130706433, [::1] and ::ffff:127.0.0.1 are all loopback;
// and the connection goes to the address that was checked (client_target::address_check),
// so a name cannot resolve to a public address for the check and a private one for the
// connection.
#pragma once

#include <cstdint>
#include <string>

struct sockaddr;

namespace tf::net {

struct target_policy {
  /// Loopback, link-local (169.254/16, fe80::/10, the cloud metadata address among them),
  /// unspecified, and private (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7) targets
  /// are refused unless this is set (for a receiver inside the network).
  bool allow_private = false;
  /// The daemon's own API (its listen address and port): refused even when private targets
  /// are allowed. Port 0: unknown.
  std::string own_host;
  uint16_t own_port = 0;
};

/// "" when `addr` (with its port) may be connected to, otherwise why not ("169.254.169.254
/// is link-local ..."), never naming more than the address.
std::string forbidden_target(const sockaddr* addr, const target_policy& policy);

/// Resolves `host` (a name or any IP literal spelling) and checks every address it gives
/// with forbidden_target: "" when all are allowed or the name does not resolve (a send
/// then fails and is recorded), otherwise why the first forbidden one is. Blocks on the
/// resolver: call it off the actor threads or on names the resolver answers quickly.
std::string forbidden_host(const std::string& host, uint16_t port, const target_policy& policy);

} // namespace tf::net
