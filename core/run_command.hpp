// Runs a program with an argument vector (never through a shell), stdin on /dev/null and
// stdout+stderr captured into one bounded text, with a deadline after which it is killed.
// Used for iptables, nginx and compose: the arguments hold ports, paths and names that must
// never be parsed as shell syntax. Blocking: never on a scheduler thread.
#pragma once

#include <caf/expected.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace tf {

struct command_result {
  /// The exit status (0-255), or 128 + signal when the program died of a signal.
  int exit_code = 0;
  /// stdout and stderr as they interleaved, cut at the output cap (stdout alone with
  /// command_options::stderr_apart).
  std::string output;
  /// stderr, with command_options::stderr_apart only; cut at the output cap.
  std::string error_output;
};

struct command_options {
  std::chrono::milliseconds timeout = std::chrono::seconds{30};
  /// What the result keeps of the output; the rest is read and dropped.
  size_t max_output = 64 * 1024;
  /// stderr into command_result::error_output rather than into the output: for a program
  /// whose stdout is a document (compose config) and whose stderr has warnings.
  bool stderr_apart = false;
  /// The program's working directory; empty: the daemon's.
  std::string cwd;
  /// The program's whole environment ("NAME=value" each); empty: the daemon's. A program
  /// that interpolates its environment into what it runs (compose) gets only what it needs,
  /// never the daemon's own variables (TINYFORGE_ADMIN_PASSWORD).
  std::vector<std::string> env;
  bool replace_env = false;
  /// Asked every 100 ms while the program runs: true kills it (a shutdown), and the run
  /// answers unavailable.
  std::function<bool()> cancelled;
  /// Each line of output as it arrives (without its newline, cut at 4 KiB), for a log
  /// followed live; a last line without a newline comes at the end.
  std::function<void(std::string_view)> on_line;
};

/// argv[0] is looked up in PATH when it has no '/'. Error ec::unavailable when the program
/// cannot be started or does not finish within the timeout (it is then killed).
caf::expected<command_result> run_command(const std::vector<std::string>& argv,
                                          const command_options& options);

caf::expected<command_result> run_command(const std::vector<std::string>& argv,
                                          std::chrono::milliseconds timeout
                                          = std::chrono::seconds{30},
                                          size_t max_output = 64 * 1024);

/// The output trimmed and on one line, for an error message.
std::string one_line(const std::string& output);

} // namespace tf
