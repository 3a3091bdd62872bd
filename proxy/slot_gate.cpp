#include "proxy/slot_gate.hpp"

#include "core/errors.hpp"
#include "core/run_command.hpp"
#include "proxy/tcp_table.hpp"

#include <fstream>
#include <sstream>

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

caf::expected<int64_t> established_connections(const std::vector<int64_t>& ports) {
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
