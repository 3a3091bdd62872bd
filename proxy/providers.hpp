// Private to proxy/: the constructors of each provider, and the checks every provider
// runs on a route before it reaches a proxy's configuration (a host or id lands in a
// config file, a URL path or a JSON body; only plain characters may).
#pragma once

#include "proxy/provider.hpp"

#include <caf/error.hpp>

#include <memory>
#include <string>

namespace tf::proxy {

std::unique_ptr<provider> make_none_provider();
std::unique_ptr<provider> make_caddy_provider(const config& cfg);
std::unique_ptr<provider> make_nginx_provider(const config& cfg);
std::unique_ptr<provider> make_npm_provider(const config& cfg);

/// id: 1-64 of [A-Za-z0-9-]; host: 1-253 of [a-z0-9.-], not starting with '.' or '-';
/// slots: 1-64 ports in 1-65535; health_path: starts with '/', no space or control
/// character, at most 1024 bytes; serving: ports among the slots.
/// Error: ec::invalid_argument naming the field.
caf::error validate_route(const proxy_route& route);

/// "http://host:port" with any trailing '/' removed.
std::string trim_base_url(std::string url);

/// A proxy's error body cut to one line of at most 500 bytes, for an error message.
std::string short_text(const std::string& body);

} // namespace tf::proxy
