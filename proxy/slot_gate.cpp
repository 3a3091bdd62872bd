#include "proxy/slot_gate.hpp"

#include "core/errors.hpp"
#include "core/run_command.hpp"
#include "proxy/tcp_table.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

namespace tf::proxy {

namespace {

/// The address health checks connect from: the reset rule spares it, so a closed slot's
/// container can still be probed.
constexpr const char* probe_source = "127.0.0.2";

/// Bounds the removal loop in open(): more duplicates than this means something else keeps
/// adding the rule.
constexpr int max_duplicate_rules = 64;

/// The rule's arguments after "iptables -w <op>".
std::vector<std::string> rule_args(const std::string& iptables, const char* op, int64_t port) {
  auto p = std::to_string(port);
  return {iptables, "-w",  op,         "INPUT",     "-i",         "lo",
          "-p",     "tcp", "--dport",  p,           "--syn",      "!",
          "-s",     probe_source,      "-m",        "comment",    "--comment",
          "tinyforge-slot:" + p,       "-j",        "REJECT",     "--reject-with",
          "tcp-reset"};
}

caf::error check_port(int64_t port) {
  if (port < 1 || port > 65535)
    return make_error(ec::invalid_argument,
                      "slot gate: port " + std::to_string(port) + " is out of range");
  return caf::none;
}

/// Runs `iptables <op>` (-C checks, -D deletes one copy) for the port's rule: true when a
/// rule matched, false when iptables exits 1 saying "does a matching rule exist"; anything
/// else that fails is an error (no permission, no iptables).
caf::expected<bool> rule_matched(const std::string& iptables, const char* op, int64_t port) {
  auto res = run_command(rule_args(iptables, op, port));
  if (!res)
    return res.error();
  if (res->exit_code == 0)
    return true;
  if (res->exit_code == 1 && res->output.find("does a matching rule exist") != std::string::npos)
    return false;
  return make_error(ec::unavailable, std::string{"slot gate: iptables "} + op + " for port "
                                       + std::to_string(port) + " failed (exit "
                                       + std::to_string(res->exit_code)
                                       + "): " + one_line(res->output));
}

caf::expected<bool> rule_exists(const std::string& iptables, int64_t port) {
  return rule_matched(iptables, "-C", port);
}

caf::error run_rule(const std::string& iptables, const char* op, int64_t port) {
  auto res = run_command(rule_args(iptables, op, port));
  if (!res)
    return res.error();
  if (res->exit_code != 0)
    return make_error(ec::unavailable, std::string{"slot gate: iptables "} + op + " for port "
                                         + std::to_string(port) + " failed (exit "
                                         + std::to_string(res->exit_code)
                                         + "): " + one_line(res->output));
  return caf::none;
}

/// `step(port)` for each port in turn, each checked first; the first error stops it.
template <class Step>
caf::error for_each_port(const std::vector<int64_t>& ports, Step step) {
  for (auto port : ports) {
    if (auto err = check_port(port))
      return err;
    if (auto err = step(port))
      return err;
  }
  return caf::none;
}

} // namespace

slot_gate::slot_gate(std::string mode, std::string iptables_bin)
  : mode_{std::move(mode)}, iptables_{std::move(iptables_bin)} {
}

caf::error slot_gate::close(const std::vector<int64_t>& ports) {
  if (!enabled())
    return caf::none;
  return for_each_port(ports, [this](int64_t port) -> caf::error {
    auto exists = rule_exists(iptables_, port);
    if (!exists)
      return exists.error();
    if (!*exists)
      return run_rule(iptables_, "-I", port);
    return caf::none;
  });
}

caf::error slot_gate::open(const std::vector<int64_t>& ports) {
  if (!enabled())
    return caf::none;
  // Deleted until iptables says there is none left: one run per rule plus the last, not a
  // -C before each -D (each run of iptables costs ~8 ms here, on the way to serving).
  return for_each_port(ports, [this](int64_t port) -> caf::error {
    for (int i = 0;; ++i) {
      if (i == max_duplicate_rules)
        return make_error(ec::internal, "slot gate: the rule for port " + std::to_string(port)
                                          + " keeps coming back");
      auto deleted = rule_matched(iptables_, "-D", port);
      if (!deleted)
        return deleted.error();
      if (!*deleted)
        return caf::none;
    }
  });
}

caf::expected<bool> slot_gate::is_closed(int64_t port) {
  if (!enabled())
    return false;
  if (auto err = check_port(port))
    return err;
  return rule_exists(iptables_, port);
}

namespace {

/// Closes a file descriptor when it goes out of scope.
struct fd_closer {
  int fd;
  ~fd_closer() {
    if (fd >= 0)
      ::close(fd);
  }
};

/// The established TCP sockets of one address family whose local port is in `ports`, from
/// the kernel's socket dump filtered by state.
caf::expected<int64_t> sock_diag_count(int family, const std::vector<int64_t>& ports) {
  int fd = ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0)
    return make_error(ec::unavailable,
                      std::string{"slot gate: no NETLINK_SOCK_DIAG socket: "} + std::strerror(errno));
  fd_closer closer{fd};
  timeval timeout{2, 0}; // the kernel answers at once; never hang a drain on it
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  struct {
    nlmsghdr header;
    inet_diag_req_v2 request;
  } ask{};
  ask.header.nlmsg_len = sizeof(ask);
  ask.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  ask.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  ask.request.sdiag_family = static_cast<uint8_t>(family);
  ask.request.sdiag_protocol = IPPROTO_TCP;
  ask.request.idiag_states = 1u << TCP_ESTABLISHED;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd, &ask, sizeof(ask), 0, reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel))
      != static_cast<ssize_t>(sizeof(ask)))
    return make_error(ec::unavailable,
                      std::string{"slot gate: sock_diag request: "} + std::strerror(errno));
  // Bounded like the /proc read: more than this is not a loopback slot server's table.
  constexpr size_t max_answer_bytes = 64 * 1024 * 1024;
  size_t answered = 0;
  int64_t count = 0;
  alignas(nlmsghdr) char buf[65536];
  for (;;) {
    auto n = ::recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return make_error(ec::unavailable, std::string{"slot gate: sock_diag answer: "}
                                           + (n < 0 ? std::strerror(errno) : "closed"));
    answered += static_cast<size_t>(n);
    if (answered > max_answer_bytes)
      return make_error(ec::internal, "slot gate: the sock_diag answer is too large");
    auto left = static_cast<int>(n); // NLMSG_OK and NLMSG_NEXT count in int
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_type == NLMSG_DONE)
        return count;
      if (h->nlmsg_type == NLMSG_ERROR) {
        int code = 0;
        if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(nlmsgerr)))
          code = -static_cast<const nlmsgerr*>(NLMSG_DATA(h))->error;
        return make_error(ec::unavailable, std::string{"slot gate: sock_diag: "}
                                             + std::strerror(code));
      }
      if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY
          || h->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg)))
        continue; // a message of another shape: not a socket
      const auto* m = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
      auto port = static_cast<int64_t>(ntohs(m->id.idiag_sport));
      if (m->idiag_state == TCP_ESTABLISHED
          && std::find(ports.begin(), ports.end(), port) != ports.end())
        ++count;
    }
  }
}

} // namespace

caf::expected<int64_t> established_by_sock_diag(const std::vector<int64_t>& ports) {
  auto v4 = sock_diag_count(AF_INET, ports);
  if (!v4)
    return v4;
  // A kernel without IPv6 answers the AF_INET6 dump with an error: its count is none.
  auto v6 = sock_diag_count(AF_INET6, ports);
  return *v4 + (v6 ? *v6 : 0);
}

caf::expected<int64_t> established_connections(const std::vector<int64_t>& ports) {
  if (auto n = established_by_sock_diag(ports))
    return n;
  return established_by_proc(ports);
}

caf::expected<int64_t> established_by_proc(const std::vector<int64_t>& ports) {
  int64_t total = 0;
  bool any = false;
  for (const char* path : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in{path};
    if (!in)
      continue; // no IPv6 in this kernel: tcp6 is missing
    any = true;
    // Bounded: a table larger than this is not a loopback slot server's.
    constexpr size_t max_table_bytes = 64 * 1024 * 1024;
    std::string text;
    char buf[65536];
    while (in.read(buf, sizeof(buf)) || in.gcount() > 0) {
      text.append(buf, static_cast<size_t>(in.gcount()));
      if (text.size() > max_table_bytes)
        return make_error(ec::internal, std::string{"slot gate: "} + path + " is too large");
    }
    total += count_established(text, ports);
  }
  if (!any)
    return make_error(ec::unavailable, "slot gate: cannot read /proc/net/tcp");
  return total;
}

} // namespace tf::proxy
