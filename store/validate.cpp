#include "store/validate.hpp"

#include "core/errors.hpp"

#include <algorithm>

namespace tf::store {

caf::error invalid(std::string field, std::string why) {
  return make_error(ec::invalid_argument, std::move(field) + ": " + std::move(why));
}

namespace {

bool is_env_name(std::string_view s) {
  if (s.empty() || s.size() > 256 || (s[0] >= '0' && s[0] <= '9'))
    return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
           || c == '_';
  });
}

} // namespace

caf::error check_env(const std::string& field, const env_map& env) {
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

namespace {

bool is_lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool is_alnum(char c) {
  return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

// path-component := [a-z0-9]+ (separator [a-z0-9]+)*, separator := [_.] | "__" | "-"+
// (docker/distribution reference/regexp.go). So no leading or trailing separator, no "..",
// no "." or "-" alone.
bool is_path_component(std::string_view s) {
  size_t i = 0;
  while (true) {
    auto run = i;
    while (i < s.size() && is_lower_alnum(s[i]))
      ++i;
    if (i == run)
      return false; // a separator must sit between alphanumerics
    if (i == s.size())
      return true;
    if (s[i] == '.')
      ++i;
    else if (s[i] == '_')
      i += (i + 1 < s.size() && s[i + 1] == '_') ? 2 : 1;
    else if (s[i] == '-')
      while (i < s.size() && s[i] == '-')
        ++i;
    else
      return false;
  }
}

// domain := domain-component ('.' domain-component)* [':' port], where a domain-component
// is [a-zA-Z0-9] or [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]; the port is 1-5 digits <= 65535
// (the grammar allows any digits; a port no socket can have is refused here).
bool is_registry_domain(std::string_view s) {
  auto colon = s.find(':');
  if (colon != std::string_view::npos) {
    auto port = s.substr(colon + 1);
    if (port.empty() || port.size() > 5
        || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })
        || std::stoul(std::string{port}) > 65535 || std::stoul(std::string{port}) == 0)
      return false;
    s = s.substr(0, colon);
  }
  if (s.empty())
    return false;
  size_t start = 0;
  while (true) {
    auto dot = s.find('.', start);
    auto label = s.substr(start, dot == std::string_view::npos ? std::string_view::npos
                                                               : dot - start);
    if (label.empty() || label.size() > 63 || !is_alnum(label.front()) || !is_alnum(label.back())
        || !std::all_of(label.begin(), label.end(),
                        [](char c) { return is_alnum(c) || c == '-'; }))
      return false;
    if (dot == std::string_view::npos)
      return true;
    start = dot + 1;
  }
}

} // namespace

// An image repository without its tag or digest, by the distribution reference grammar:
// [domain '/'] path-component ('/' path-component)*, at most 255 characters. A ':' outside
// the registry's port would be a tag, which a deploy adds itself; '@' (a digest) likewise.
// Paths such as "../../etc/passwd", "-a", "a..b" or "." are no repository: an image name
// reaches the engine's API URLs and the log, so it is held to the grammar the registry uses.
bool is_image_repository(std::string_view s) {
  if (s.empty() || s.size() > 255)
    return false;
  size_t start = 0;
  bool first = true;
  while (true) {
    auto end = s.find('/', start);
    auto last = end == std::string_view::npos;
    auto part = s.substr(start, last ? std::string_view::npos : end - start);
    // Only a first component followed by more may name a registry (a host, a port).
    bool ok = is_path_component(part) || (first && !last && is_registry_domain(part));
    if (!ok)
      return false;
    if (last)
      return true;
    start = end + 1;
    first = false;
  }
}

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

void cap(std::string& s, size_t n) {
  if (s.size() > n)
    s.resize(n);
}

caf::error check_health_path(const std::string& path) {
  if (path.empty() || path.front() != '/' || path.size() > 1024)
    return invalid("health_path", "must start with '/' (at most 1024 characters)");
  if (std::any_of(path.begin(), path.end(),
                  [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; }))
    return invalid("health_path", "must not contain spaces or control characters");
  return {};
}

bool is_dns_label(std::string_view s) {
  if (s.empty() || s.size() > 63 || s.front() == '-' || s.back() == '-')
    return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

} // namespace tf::store
