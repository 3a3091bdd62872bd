#include "proxy/slot_gate.hpp"

#include "core/errors.hpp"
#include "core/run_command.hpp"
#include "proxy/tcp_table.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string_view>

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

/// The address health checks connect from: neither rule touches it, so a closed slot's
/// container can still be probed.
constexpr const char* probe_source = "127.0.0.2";

constexpr const char* comment_prefix = "tinyforge-slot:";

/// What `iptables -S <chain>` may print before it is not a slot host's table.
constexpr size_t max_listing_bytes = 4 * 1024 * 1024;

/// One slot rule as iptables lists it.
struct slot_rule {
  const char* table = "filter"; // "filter": a reset; "nat": a redirect
  const char* chain = "INPUT";
  int64_t port = 0;
  int64_t toward = 0; // the port a redirect sends to; 0 for a reset
  std::vector<std::string> spec; // the words after "-A <chain>"
};

/// The rule that resets new connections to `port` ("iptables -w -t filter <op> INPUT ...").
std::vector<std::string> reset_args(const std::string& iptables, const char* op, int64_t port) {
  auto p = std::to_string(port);
  return {iptables, "-w",       "-t",      "filter",      op,         "INPUT",
          "-i",     "lo",       "-p",      "tcp",         "--dport",  p,
          "--syn",  "!",        "-s",      probe_source,  "-m",       "comment",
          "--comment", comment_prefix + p, "-j", "REJECT", "--reject-with", "tcp-reset"};
}

/// The rule that sends new loopback connections to `port` on to `toward`. In nat OUTPUT,
/// ahead of Docker's own rules: the proxy dials 127.0.0.1 from this host.
std::vector<std::string> redirect_args(const std::string& iptables, const char* op,
                                       int64_t port, int64_t toward) {
  auto p = std::to_string(port);
  return {iptables, "-w",        "-t",      "nat",         op,        "OUTPUT",
          "-o",     "lo",        "-p",      "tcp",         "-d",      "127.0.0.1",
          "--dport", p,          "!",       "-s",          probe_source, "-m",
          "comment", "--comment", comment_prefix + p,      "-j",      "DNAT",
          "--to-destination",    "127.0.0.1:" + std::to_string(toward)};
}

caf::error check_port(int64_t port) {
  if (port < 1 || port > 65535)
    return make_error(ec::invalid_argument,
                      "slot gate: port " + std::to_string(port) + " is out of range");
  return caf::none;
}

caf::error check_ports(const std::vector<int64_t>& ports) {
  for (auto port : ports)
    if (auto err = check_port(port))
      return err;
  return caf::none;
}

/// Adds the rule that closes `port`: a redirect to `toward`, or a reset when it is 0.
caf::error add_rule(const std::string& iptables, int64_t port, int64_t toward) {
  auto args = toward == 0 ? reset_args(iptables, "-I", port)
                          : redirect_args(iptables, "-I", port, toward);
  auto res = run_command(args);
  if (!res)
    return res.error();
  if (res->exit_code != 0)
    return make_error(ec::unavailable, std::string{"slot gate: iptables -I of the "}
                                         + (toward == 0 ? "reset" : "redirect")
                                         + " rule for port " + std::to_string(port)
                                         + " failed (exit "
                                         + std::to_string(res->exit_code)
                                         + "): " + one_line(res->output));
  return caf::none;
}

/// The port number `text` is, when it is only that, in [1, 65535]; else 0.
int64_t port_of(std::string_view text) {
  if (text.empty() || text.size() > 5)
    return 0;
  int64_t n = 0;
  for (char c : text) {
    if (c < '0' || c > '9')
      return 0;
    n = n * 10 + (c - '0');
  }
  return n > 65535 ? 0 : n;
}

/// The slot rule a listed line stands for, if it is one of ours for a port in `ports`.
bool parse_slot_rule(const std::string& line, const std::vector<int64_t>& ports,
                     slot_rule& rule) {
  auto words = split_rule_line(line);
  if (words.size() < 3 || words[0] != "-A" || words[1] != rule.chain)
    return false;
  constexpr std::string_view prefix{comment_prefix};
  rule.port = 0;
  rule.toward = 0;
  for (size_t i = 2; i + 1 < words.size(); ++i) {
    std::string_view next = words[i + 1];
    if (words[i] == "--comment" && next.substr(0, prefix.size()) == prefix)
      rule.port = port_of(next.substr(prefix.size()));
    else if (words[i] == "--to-destination" && next.rfind(':') != std::string_view::npos)
      rule.toward = port_of(next.substr(next.rfind(':') + 1));
  }
  if (rule.port == 0 || std::find(ports.begin(), ports.end(), rule.port) == ports.end())
    return false;
  // A nat rule of ours that sends nowhere readable matches no rule close() wants: it goes.
  if (rule.toward == 0 && std::string_view{rule.table} == "nat")
    rule.toward = -1;
  rule.spec.assign(words.begin() + 2, words.end());
  return true;
}

/// The slot rules of `ports` in one table's chain, as `iptables -S` lists them now.
caf::expected<std::vector<slot_rule>> list_chain(const std::string& iptables, const char* table,
                                                 const char* chain,
                                                 const std::vector<int64_t>& ports) {
  command_options opts;
  opts.max_output = max_listing_bytes;
  opts.stderr_apart = true;
  auto res = run_command({iptables, "-w", "-t", table, "-S", chain}, opts);
  if (!res)
    return res.error();
  if (res->exit_code != 0)
    return make_error(ec::unavailable, std::string{"slot gate: iptables -t "} + table + " -S "
                                         + chain + " failed (exit "
                                         + std::to_string(res->exit_code)
                                         + "): " + one_line(res->error_output));
  if (res->output.size() >= max_listing_bytes)
    return make_error(ec::internal, std::string{"slot gate: the "} + table + " " + chain
                                      + " chain lists more than 4 MiB of rules");
  std::vector<slot_rule> out;
  std::istringstream lines{res->output};
  std::string line;
  slot_rule rule;
  rule.table = table;
  rule.chain = chain;
  while (std::getline(lines, line))
    if (parse_slot_rule(line, ports, rule))
      out.push_back(rule);
  return out;
}

/// Every slot rule of `ports`: the resets, then the redirects.
caf::expected<std::vector<slot_rule>> list_rules(const std::string& iptables,
                                                 const std::vector<int64_t>& ports) {
  auto resets = list_chain(iptables, "filter", "INPUT", ports);
  if (!resets)
    return resets.error();
  auto redirects = list_chain(iptables, "nat", "OUTPUT", ports);
  if (!redirects)
    return redirects.error();
  resets->insert(resets->end(), redirects->begin(), redirects->end());
  return std::move(*resets);
}

caf::error delete_rule(const std::string& iptables, const slot_rule& rule) {
  std::vector<std::string> args{iptables, "-w", "-t", rule.table, "-D", rule.chain};
  args.insert(args.end(), rule.spec.begin(), rule.spec.end());
  auto res = run_command(args);
  if (!res)
    return res.error();
  // Gone already (another daemon's cleanup raced this one): what open wants anyway.
  if (res->exit_code == 1 && res->output.find("does a matching rule exist") != std::string::npos)
    return caf::none;
  if (res->exit_code != 0)
    return make_error(ec::unavailable, std::string{"slot gate: iptables -t "} + rule.table
                                         + " -D for port " + std::to_string(rule.port)
                                         + " failed (exit " + std::to_string(res->exit_code)
                                         + "): " + one_line(res->output));
  return caf::none;
}

} // namespace

std::vector<std::string> split_rule_line(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false, any = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char ch = line[i];
    if (ch == '"') {
      quoted = !quoted;
      any = true;
    } else if (ch == '\\' && quoted && i + 1 < line.size()) {
      cur += line[++i];
    } else if (ch == ' ' && !quoted) {
      if (any || !cur.empty())
        out.push_back(cur);
      cur.clear();
      any = false;
    } else {
      cur += ch;
    }
  }
  if (any || !cur.empty())
    out.push_back(cur);
  return out;
}

slot_gate::slot_gate(std::string mode, std::string iptables_bin)
  : mode_{std::move(mode)}, iptables_{std::move(iptables_bin)} {
}

caf::error slot_gate::close(const std::vector<int64_t>& ports,
                            const std::vector<int64_t>& toward) {
  if (!enabled())
    return caf::none;
  if (auto err = check_ports(ports))
    return err;
  if (auto err = check_ports(toward))
    return err;
  auto target_of = [&](size_t i) { return toward.empty() ? 0 : toward[i % toward.size()]; };
  for (size_t i = 0; i < ports.size(); ++i)
    if (target_of(i) == ports[i])
      return make_error(ec::invalid_argument, "slot gate: port " + std::to_string(ports[i])
                                                + " cannot be sent on to itself");
  auto rules = list_rules(iptables_, ports);
  if (!rules)
    return rules.error();
  for (size_t i = 0; i < ports.size(); ++i) {
    auto port = ports[i];
    auto want = target_of(i);
    bool have = std::any_of(rules->begin(), rules->end(), [&](const slot_rule& r) {
      return r.port == port && r.toward == want;
    });
    // The new rule first: the port is never open between the old rule and the new one.
    if (!have)
      if (auto err = add_rule(iptables_, port, want))
        return err;
    bool kept = false;
    for (const auto& r : *rules) {
      if (r.port != port)
        continue;
      if (r.toward == want && !kept && have) {
        kept = true; // the one rule that stays; duplicates of it go
        continue;
      }
      if (auto err = delete_rule(iptables_, r))
        return err;
    }
  }
  return caf::none;
}

caf::error slot_gate::open(const std::vector<int64_t>& ports) {
  if (!enabled())
    return caf::none;
  if (auto err = check_ports(ports))
    return err;
  auto rules = list_rules(iptables_, ports);
  if (!rules)
    return rules.error();
  for (const auto& r : *rules)
    if (auto err = delete_rule(iptables_, r))
      return err;
  return caf::none;
}

caf::expected<bool> slot_gate::is_closed(int64_t port) {
  if (!enabled())
    return false;
  if (auto err = check_port(port))
    return err;
  auto rules = list_rules(iptables_, {port});
  if (!rules)
    return rules.error();
  return !rules->empty();
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
