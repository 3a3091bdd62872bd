#include "proxy/provider.hpp"

#include "core/errors.hpp"
#include "proxy/providers.hpp"

#include <algorithm>

namespace tf::proxy {

std::unique_ptr<provider> make_provider(const config& cfg) {
  if (cfg.proxy_provider == "caddy")
    return make_caddy_provider(cfg);
  if (cfg.proxy_provider == "nginx")
    return make_nginx_provider(cfg);
  if (cfg.proxy_provider == "npm")
    return make_npm_provider(cfg);
  // load_config admits only the four names; "none" and anything a hand-built config holds
  // fall back to no proxy.
  return make_none_provider();
}

namespace {

bool all_of(const std::string& s, bool (*ok)(char)) {
  return std::all_of(s.begin(), s.end(), ok);
}

bool id_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

bool host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
}

bool path_char(char c) {
  auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u < 0x7f && c != '"' && c != '\\' && c != '{' && c != '}' && c != ';';
}

} // namespace

caf::error validate_route(const proxy_route& route) {
  if (route.id.empty() || route.id.size() > 64 || !all_of(route.id, id_char))
    return make_error(ec::invalid_argument,
                      "proxy route: id must be 1-64 letters, digits or '-'");
  if (route.host.empty() || route.host.size() > 253 || !all_of(route.host, host_char)
      || route.host.front() == '.' || route.host.front() == '-' || route.host.back() == '.'
      || route.host.find("..") != std::string::npos)
    return make_error(ec::invalid_argument, "proxy route " + route.id + ": host \""
                                              + short_text(route.host)
                                              + "\" is not a lower-case host name");
  if (route.slots.empty() || route.slots.size() > 64)
    return make_error(ec::invalid_argument,
                      "proxy route " + route.id + ": needs 1-64 slots");
  for (auto port : route.slots)
    if (port < 1 || port > 65535)
      return make_error(ec::invalid_argument, "proxy route " + route.id + ": slot port "
                                                + std::to_string(port) + " is out of range");
  for (auto port : route.serving)
    if (std::find(route.slots.begin(), route.slots.end(), port) == route.slots.end())
      return make_error(ec::invalid_argument, "proxy route " + route.id + ": serving port "
                                                + std::to_string(port) + " is not a slot");
  if (route.health_path.empty() || route.health_path.front() != '/'
      || route.health_path.size() > 1024 || !all_of(route.health_path, path_char))
    return make_error(ec::invalid_argument,
                      "proxy route " + route.id + ": health_path must be a path starting with '/'");
  return caf::none;
}

std::string trim_base_url(std::string url) {
  while (!url.empty() && url.back() == '/')
    url.pop_back();
  return url;
}

std::string short_text(const std::string& body) {
  std::string s;
  for (char c : body) {
    if (s.size() >= 500) {
      s += "...";
      break;
    }
    auto u = static_cast<unsigned char>(c);
    s += (u < 0x20 || u == 0x7f) ? ' ' : c;
  }
  auto last = s.find_last_not_of(' ');
  return last == std::string::npos ? std::string{} : s.substr(0, last + 1);
}

} // namespace tf::proxy
