// docker compose, as a program run with an argument vector (never a shell): which one the
// host has (the v2 plugin first, then the v1 `docker-compose` binary Debian 12 ships), a
// stack's directory of files, its label override, and the checks before a deploy.
// Blocking (runs compose): deployer jobs and workers only, never a scheduler thread.
#pragma once

#include "core/run_command.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace tf::docker {

/// The compose program a host has.
struct compose_tool {
  /// The command that starts it: {"docker", "compose"} or {"docker-compose"}; empty: none.
  std::vector<std::string> command;
  std::string flavor;  // "v2" (the docker CLI plugin), "v1" (docker-compose) or ""
  std::string version; // as it prints it, e.g. "1.29.2"
  bool found() const { return !command.empty(); }
};

/// Looks for the v2 plugin (`docker compose version`), then the v1 binary; none found is a
/// tool with an empty command (stacks then answer 503 and /healthz says so).
compose_tool detect_compose(const std::string& docker_cli = "docker",
                            const std::string& v1_binary = "docker-compose");

/// A stack's files: the directory they live in and the compose project's name.
struct compose_project {
  std::string name;      // -p: [a-z0-9][a-z0-9_-]*, the stack's id-derived name
  std::string directory; // absolute; holds compose.yml and override.yml
  bool with_override = true;
};

/// How compose is reached and what its process sees.
struct compose_runner {
  compose_tool tool;
  std::string docker_host; // unix:///var/run/docker.sock or tcp://…; passed as --host
  std::chrono::milliseconds timeout = std::chrono::minutes{10};
  /// True once the daemon shuts down: a compose run in flight is then killed.
  std::function<bool()> cancelled;

  /// The argument vector of `compose -p NAME --project-directory DIR -f compose.yml
  /// [-f override.yml] ARGS…`.
  std::vector<std::string> argv(const compose_project& p,
                                const std::vector<std::string>& args) const;

  /// Runs one compose command. Its environment is PATH, HOME and the stack's variables
  /// only (the YAML interpolates `${NAME}` from them; the daemon's own variables never
  /// reach a compose file). Error unavailable when compose cannot run or takes too long;
  /// a non-zero exit is a result, not an error.
  caf::expected<command_result> run(const compose_project& p,
                                    const std::vector<std::string>& args,
                                    const std::map<std::string, std::string>& env,
                                    const std::function<void(std::string_view)>& on_line
                                    = {},
                                    bool stderr_apart = false) const;
};

/// The names of a stack's files inside its directory.
constexpr const char* compose_file_name = "compose.yml";
constexpr const char* override_file_name = "override.yml";

/// Writes `text` to `dir/name` (0600) through a temporary file and a rename, so a reader
/// never sees half of it; `dir` is created 0700 when missing.
caf::error write_private_file(const std::string& dir, const std::string& name,
                              const std::string& text);

/// The override that gives every service the labels, and `role_label` (when not empty) set
/// to the service's own name, as YAML (names and values quoted, so no service name can be
/// read as YAML syntax).
/// `published` adds ports to services (service -> "127.0.0.1:<host port>:<port>"): how the
/// proxy reaches a stack's routed service.
std::string label_override(const std::vector<std::string>& services,
                           const std::map<std::string, std::string>& labels,
                           const std::string& role_label = {},
                           const std::map<std::string, std::string>& published = {});

/// compose's normalized configuration of a stack whose override is not written yet
/// (`config`: variables interpolated, relative paths made absolute; its warnings apart);
/// invalid_argument with compose's own message when the file does not parse.
caf::expected<std::string> compose_config(const compose_runner& compose, compose_project p,
                                          const std::map<std::string, std::string>& env);

/// The service names (sorted) of that configuration.
caf::expected<std::vector<std::string>>
compose_services(const compose_runner& compose, compose_project p,
                 const std::map<std::string, std::string>& env);

} // namespace tf::docker
