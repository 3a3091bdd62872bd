#include "store/validate.hpp"

#include "core/errors.hpp"

#include <algorithm>
#include <set>

namespace tf::store {

namespace {

caf::error invalid(std::string field, std::string why) {
  return make_error(ec::invalid_argument, std::move(field) + ": " + std::move(why));
}

bool is_env_name(std::string_view s) {
  if (s.empty() || s.size() > 256 || (s[0] >= '0' && s[0] <= '9'))
    return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
           || c == '_';
  });
}

caf::error validate_env(const std::string& field, const env_map& env) {
  if (env.size() > 500)
    return invalid(field, "at most 500 variables");
  size_t total = 0;
  for (const auto& [k, v] : env) {
    if (!is_env_name(k))
      return invalid(field, "\"" + k.substr(0, 64)
                              + "\" is not a variable name ([A-Za-z_][A-Za-z0-9_]*)");
    if (v.find('\0') != std::string::npos)
      return invalid(field + "." + k, "must not contain a NUL byte");
    total += k.size() + v.size();
  }
  if (total > 256 * 1024)
    return invalid(field, "larger than 256 KiB");
  return {};
}

caf::error check_name(const std::string& field, const std::string& name) {
  if (!is_dns_label(name))
    return invalid(field, "\"" + name.substr(0, 80)
                            + "\" is not a lowercase DNS label ([a-z0-9-]{1,63}, no leading or "
                              "trailing '-')");
  return {};
}

caf::error check_range(const std::string& field, int64_t v, int64_t lo, int64_t hi) {
  if (v < lo || v > hi)
    return invalid(field, "must be from " + std::to_string(lo) + " to " + std::to_string(hi)
                            + ", got " + std::to_string(v));
  return {};
}

// An image repository without its tag or digest: path components of [a-z0-9._-], the
// first of which may be a registry host with a port ("registry:5000/team/api"). A ':' in
// any other place would be a tag, which a deploy adds itself.
bool is_image_repository(std::string_view s) {
  if (s.empty() || s.size() > 255)
    return false;
  size_t start = 0;
  bool first = true;
  while (start <= s.size()) {
    auto end = s.find('/', start);
    auto last = end == std::string_view::npos;
    auto part = s.substr(start, last ? std::string_view::npos : end - start);
    if (part.empty())
      return false;
    auto colon = part.find(':');
    if (colon != std::string_view::npos) {
      // Only a registry (a first component followed by more) may carry a numeric port.
      auto port = part.substr(colon + 1);
      if (!first || last || colon == 0 || port.empty()
          || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return false;
      part = part.substr(0, colon);
    }
    if (!std::all_of(part.begin(), part.end(), [](char c) {
          return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-'
                 || c == '_';
        }))
      return false;
    if (last)
      return true;
    start = end + 1;
    first = false;
  }
  return false;
}

} // namespace

std::string image_repository_key(std::string_view image) {
  if (image.size() > 512)
    return {};
  std::string s{image};
  for (auto& c : s)
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  if (auto at = s.find('@'); at != std::string::npos)
    s.resize(at); // a digest
  auto slash = s.rfind('/');
  auto colon = s.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash))
    s.resize(colon); // a tag (a registry's port comes before a '/')
  if (!is_image_repository(s))
    return {};
  // The first component names a registry when it looks like a host: a '.', a port, or
  // localhost. Otherwise the image is on Docker Hub.
  auto first_end = s.find('/');
  std::string host = "docker.io";
  std::string path = s;
  if (first_end != std::string::npos) {
    auto first = s.substr(0, first_end);
    if (first.find_first_of(".:") != std::string::npos || first == "localhost") {
      host = first;
      path = s.substr(first_end + 1);
    }
  }
  if (host == "index.docker.io" || host == "registry-1.docker.io")
    host = "docker.io";
  if (host == "docker.io" && path.find('/') == std::string::npos)
    path = "library/" + path;
  return host + "/" + path;
}

bool is_dns_label(std::string_view s) {
  if (s.empty() || s.size() > 63 || s.front() == '-' || s.back() == '-')
    return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

caf::error validate_stage(const stage& s) {
  if (auto err = check_name("name", s.name))
    return err;
  if (!s.subdomain.empty())
    if (auto err = check_name("subdomain", s.subdomain))
      return err;
  if (auto err = check_range("port", s.port, 1, 65535))
    return err;
  if (auto err = check_range("instances", s.instances, 1, 32))
    return err;
  if (auto err = validate_env("env", s.env))
    return err;
  if (s.health_path.empty() || s.health_path.front() != '/' || s.health_path.size() > 1024)
    return invalid("health_path", "must start with '/' (at most 1024 characters)");
  if (std::any_of(s.health_path.begin(), s.health_path.end(),
                  [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; }))
    return invalid("health_path", "must not contain spaces or control characters");
  if (auto err = check_range("health_timeout_ms", s.health_timeout_ms, 100, 600000))
    return err;
  if (auto err = check_range("health_interval_ms", s.health_interval_ms, 100, 600000))
    return err;
  if (auto err = check_range("memory_limit_bytes", s.memory_limit_bytes, 0,
                             int64_t{1} << 40))
    return err;
  if (s.memory_limit_bytes != 0 && s.memory_limit_bytes < 6 * 1024 * 1024)
    return invalid("memory_limit_bytes", "Docker needs at least 6 MiB (or 0 for no limit)");
  if (auto err = check_range("cpu_limit_millis", s.cpu_limit_millis, 0, 1024 * 1000))
    return err;
  static const std::set<std::string> policies{"no", "always", "unless-stopped",
                                              "on-failure"};
  if (policies.count(s.restart_policy) == 0)
    return invalid("restart_policy", "must be one of no, always, unless-stopped, on-failure");
  return {};
}

caf::error validate_project(const project& p) {
  if (auto err = check_name("name", p.name))
    return err;
  if (!is_image_repository(p.image))
    return invalid("image", "\"" + p.image.substr(0, 80)
                              + "\" is not an image repository (e.g. "
                                "registry.example.com/team/api, without a tag)");
  if (p.stages.size() > 32)
    return invalid("stages", "at most 32 stages");
  std::set<std::string> names;
  for (size_t i = 0; i < p.stages.size(); ++i) {
    if (auto err = validate_stage(p.stages[i]))
      return make_error(ec::invalid_argument,
                        "stages[" + std::to_string(i) + "]." + error_message(err));
    if (!names.insert(p.stages[i].name).second)
      return invalid("stages[" + std::to_string(i) + "].name",
                     "\"" + p.stages[i].name + "\" appears twice");
  }
  return {};
}

caf::error validate_stack(const stack& s) {
  if (auto err = check_name("name", s.name))
    return err;
  if (s.compose.empty())
    return invalid("compose", "must not be empty");
  if (s.compose.size() > 1024 * 1024)
    return invalid("compose", "larger than 1 MiB");
  return validate_env("env", s.env);
}

caf::error validate_site(const site& s) {
  if (auto err = check_name("name", s.name))
    return err;
  if (!s.subdomain.empty())
    if (auto err = check_name("subdomain", s.subdomain))
      return err;
  return check_range("keep_releases", s.keep_releases, 1, 100);
}

caf::error validate_workload(const workload& w) {
  const auto& url = w.notification_url;
  if (!url.empty()) {
    auto http = url.rfind("http://", 0) == 0;
    auto https = url.rfind("https://", 0) == 0;
    if ((!http && !https) || url.size() > 2048 || url.size() <= (https ? 8u : 7u))
      return invalid("notification_url", "must be an http:// or https:// URL");
    if (std::any_of(url.begin(), url.end(),
                    [](char c) { return static_cast<unsigned char>(c) <= 0x20; }))
      return invalid("notification_url", "must not contain spaces or control characters");
  }
  return {};
}

bool is_container_state(std::string_view s) {
  static const std::set<std::string, std::less<>> states{
    "", "created", "running", "stopped", "failed", "removing", "missing", "restarting", "paused"};
  return states.count(s) != 0;
}

bool is_workload_kind(std::string_view s) {
  return s == "project" || s == "stack" || s == "site";
}

caf::error validate_container(const container_row& c) {
  if (c.workload_id.empty())
    return invalid("workload_id", "must not be empty");
  if (c.role.size() > 255)
    return invalid("role", "at most 255 characters");
  if (!is_container_state(c.state))
    return invalid("state", "unknown state \"" + c.state.substr(0, 32) + "\"");
  return check_range("port", c.port, 0, 65535);
}

} // namespace tf::store
