#include "net/address_policy.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <memory>

namespace tf::net {

namespace {

/// What kind of address a v4 address (host order) is, "" for a public one.
const char* v4_class(uint32_t a) {
  auto in = [a](uint32_t net, int bits) {
    return bits == 0 || (a >> (32 - bits)) == (net >> (32 - bits));
  };
  if (in(0x7f000000, 8))
    return "loopback";
  if (in(0x00000000, 8))
    return "unspecified";
  if (in(0xa9fe0000, 16))
    return "link-local";
  if (in(0x0a000000, 8) || in(0xac100000, 12) || in(0xc0a80000, 16))
    return "private";
  if (in(0x64400000, 10))
    return "shared (CGNAT)";
  return "";
}

const char* v6_class(const in6_addr& a) {
  static const in6_addr any = IN6ADDR_ANY_INIT;
  if (IN6_IS_ADDR_LOOPBACK(&a))
    return "loopback";
  if (std::memcmp(&a, &any, sizeof a) == 0)
    return "unspecified";
  if (IN6_IS_ADDR_LINKLOCAL(&a))
    return "link-local";
  if ((a.s6_addr[0] & 0xfe) == 0xfc)
    return "private";
  return "";
}

/// The v4 address inside a v4-mapped or v4-compatible (deprecated, ::a.b.c.d) v6 one.
bool embedded_v4(const in6_addr& a, uint32_t& out) {
  if (!IN6_IS_ADDR_V4MAPPED(&a) && !IN6_IS_ADDR_V4COMPAT(&a))
    return false;
  std::memcpy(&out, a.s6_addr + 12, 4);
  out = ntohl(out);
  return true;
}

std::string text_of(const sockaddr* addr) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (addr->sa_family == AF_INET)
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(addr)->sin_addr, buf, sizeof buf);
  else
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr, buf,
                sizeof buf);
  return buf;
}

/// Whether `addr` is the daemon's own listen address (any local address when it listens on
/// all of them).
bool is_own(const sockaddr* addr, uint16_t port, const char* kind, const target_policy& p) {
  if (p.own_port == 0 || port != p.own_port)
    return false;
  if (std::strcmp(kind, "loopback") == 0 || std::strcmp(kind, "unspecified") == 0)
    return true;
  if (p.own_host.empty() || p.own_host == "0.0.0.0" || p.own_host == "::")
    return true; // listening everywhere: any address of this host (the check cannot know them all)
  return text_of(addr) == p.own_host;
}

} // namespace

std::string forbidden_target(const sockaddr* addr, const target_policy& policy) {
  const char* kind = "";
  uint16_t port = 0;
  if (addr->sa_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(addr);
    kind = v4_class(ntohl(v4->sin_addr.s_addr));
    port = ntohs(v4->sin_port);
  } else if (addr->sa_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(addr);
    uint32_t inner = 0;
    kind = embedded_v4(v6->sin6_addr, inner) ? v4_class(inner) : v6_class(v6->sin6_addr);
    port = ntohs(v6->sin6_port);
  } else {
    return "not an IP address";
  }
  if (is_own(addr, port, kind, policy))
    return text_of(addr) + " port " + std::to_string(port) + " is this daemon's own API";
  if (*kind == '\0' || policy.allow_private)
    return {};
  return text_of(addr) + " is a " + kind
         + " address (refused unless notify.private_targets is \"allow\")";
}

std::string forbidden_host(const std::string& host, uint16_t port, const target_policy& policy) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  auto service = std::to_string(port);
  if (::getaddrinfo(host.c_str(), service.c_str(), &hints, &found) != 0)
    return {};
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> addresses{found, ::freeaddrinfo};
  for (auto* ai = found; ai != nullptr; ai = ai->ai_next)
    if (auto why = forbidden_target(ai->ai_addr, policy); !why.empty())
      return why;
  return {};
}

} // namespace tf::net
