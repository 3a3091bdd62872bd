// Runs a program with an argument vector (never through a shell), stdin on /dev/null and
// stdout+stderr captured into one bounded text, with a deadline after which it is killed.
// Used for iptables and nginx: the arguments hold ports and paths that must never be parsed
// as shell syntax.
#pragma once

#include <caf/expected.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace tf::proxy {

struct command_result {
  /// The exit status (0-255), or 128 + signal when the program died of a signal.
  int exit_code = 0;
  /// stdout and stderr as they interleaved, cut at the output cap.
  std::string output;
};

/// argv[0] is looked up in PATH when it has no '/'. Error ec::unavailable when the program
/// cannot be started or does not finish within `timeout` (it is then killed).
caf::expected<command_result> run_command(const std::vector<std::string>& argv,
                                          std::chrono::milliseconds timeout
                                          = std::chrono::seconds{30},
                                          size_t max_output = 64 * 1024);

/// The output trimmed and on one line, for an error message.
std::string one_line(const std::string& output);

} // namespace tf::proxy
