#include "docker/compose.hpp"

#include "core/errors.hpp"
#include "docker/compose_policy.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace tf::docker {

namespace {

/// The first line of `output` that starts with a digit or 'v', trimmed: the version a
/// `version --short` prints, or the number inside "docker-compose version 1.29.2, build …".
std::string version_in(const std::string& output) {
  auto at = output.find_first_of("0123456789");
  if (at == std::string::npos)
    return {};
  auto end = output.find_first_of(" ,\n\r", at);
  return output.substr(at, end == std::string::npos ? std::string::npos : end - at)
    .substr(0, 64);
}

/// A YAML double-quoted scalar: every character that is not printable ASCII escaped.
std::string yaml_quoted(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string errno_text() {
  return std::strerror(errno);
}

} // namespace

compose_tool detect_compose(const std::string& docker_cli, const std::string& v1_binary) {
  using namespace std::chrono_literals;
  compose_tool t;
  if (auto r = run_command({docker_cli, "compose", "version", "--short"}, 10s, 4096);
      r && r->exit_code == 0) {
    t.command = {docker_cli, "compose"};
    t.flavor = "v2";
    t.version = version_in(r->output);
    return t;
  }
  if (auto r = run_command({v1_binary, "version", "--short"}, 10s, 4096);
      r && r->exit_code == 0) {
    t.command = {v1_binary};
    t.flavor = "v1";
    t.version = version_in(r->output);
  }
  return t;
}

std::vector<std::string> compose_runner::argv(const compose_project& p,
                                              const std::vector<std::string>& args) const {
  std::vector<std::string> v;
  // The engine is named on the command line, not through DOCKER_HOST: the v2 plugin takes
  // it before "compose", the v1 binary after its name.
  if (tool.flavor == "v2") {
    v.push_back(tool.command.front());
    if (!docker_host.empty())
      v.insert(v.end(), {"--host", docker_host});
    v.insert(v.end(), tool.command.begin() + 1, tool.command.end());
  } else {
    v = tool.command;
    if (!docker_host.empty())
      v.insert(v.end(), {"--host", docker_host});
  }
  v.insert(v.end(), {"--project-name", p.name, "--project-directory", p.directory, "--file",
                     p.directory + "/" + compose_file_name});
  if (p.with_override)
    v.insert(v.end(), {"--file", p.directory + "/" + override_file_name});
  v.insert(v.end(), args.begin(), args.end());
  return v;
}

caf::expected<command_result>
compose_runner::run(const compose_project& p, const std::vector<std::string>& args,
                    const std::map<std::string, std::string>& env,
                    const std::function<void(std::string_view)>& on_line,
                    bool stderr_apart) const {
  if (!tool.found())
    return make_error(ec::unavailable,
                      "no docker compose on this host (neither the v2 plugin nor docker-compose)");
  command_options o;
  o.timeout = timeout;
  o.cwd = p.directory;
  o.on_line = on_line;
  o.stderr_apart = stderr_apart;
  o.cancelled = cancelled;
  o.replace_env = true;
  auto inherit = [&](const char* name, const char* fallback) {
    const char* v = std::getenv(name);
    o.env.push_back(std::string{name} + "=" + (v ? v : fallback));
  };
  inherit("PATH", "/usr/local/bin:/usr/bin:/bin");
  inherit("HOME", "/root");
  o.env.emplace_back("LANG=C.UTF-8");
  // The v1 binary prints its progress with terminal escapes unless told it has none.
  o.env.emplace_back("COMPOSE_INTERACTIVE_NO_CLI=1");
  for (const auto& [k, v] : env)
    o.env.push_back(k + "=" + v);
  return run_command(argv(p, args), o);
}

caf::error write_private_file(const std::string& dir, const std::string& name,
                              const std::string& text) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return make_error(ec::internal, "cannot create " + dir + ": " + errno_text());
  auto tmp = dir + "/." + name + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return make_error(ec::internal, "cannot write " + tmp + ": " + errno_text());
  size_t done = 0;
  while (done < text.size()) {
    auto n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      auto err = errno_text();
      ::close(fd);
      ::unlink(tmp.c_str());
      return make_error(ec::internal, "cannot write " + tmp + ": " + err);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    return make_error(ec::internal, "cannot write " + tmp + ": " + errno_text());
  }
  if (::rename(tmp.c_str(), (dir + "/" + name).c_str()) != 0) {
    auto err = errno_text();
    ::unlink(tmp.c_str());
    return make_error(ec::internal, "cannot write " + dir + "/" + name + ": " + err);
  }
  return {};
}

std::string label_override(const std::vector<std::string>& services,
                           const std::map<std::string, std::string>& labels,
                           const std::string& role_label,
                           const std::map<std::string, std::string>& published) {
  // No "version": a file without one merges with any main file (v1 since 1.27, and v2).
  std::string y = "# Written by Tinyforge at each deploy: the labels that make these\n"
                  "# containers its own. Edits are overwritten.\nservices:\n";
  for (const auto& s : services) {
    y += "  " + yaml_quoted(s) + ":\n    labels:\n";
    for (const auto& [k, v] : labels)
      if (k != role_label)
        y += "      " + yaml_quoted(k) + ": " + yaml_quoted(v) + "\n";
    if (!role_label.empty())
      y += "      " + yaml_quoted(role_label) + ": " + yaml_quoted(s) + "\n";
    auto port = published.find(s);
    if (port != published.end())
      y += "    ports:\n      - " + yaml_quoted(port->second) + "\n";
  }
  return y;
}

caf::expected<std::string> compose_config(const compose_runner& compose, compose_project p,
                                          const std::map<std::string, std::string>& env) {
  p.with_override = false;
  auto r = compose.run(p, {"config"}, env, {}, true);
  if (!r)
    return r.error();
  if (r->exit_code != 0)
    return make_error(ec::invalid_argument,
                      "the compose file does not parse: "
                        + one_line(r->error_output.empty() ? r->output : r->error_output));
  return std::move(r->output);
}

caf::expected<std::vector<std::string>>
compose_services(const compose_runner& compose, compose_project p,
                 const std::map<std::string, std::string>& env) {
  auto config = compose_config(compose, std::move(p), env);
  if (!config)
    return config.error();
  return config_services(*config);
}

} // namespace tf::docker
