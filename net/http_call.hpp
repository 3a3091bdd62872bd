// A small blocking HTTP/1.1 client for JSON admin APIs (Caddy, Nginx Proxy Manager),
// health checks and notifications, on our client core (net/client.hpp); https with the
// peer's certificate verified. Never through an HTTP proxy, no redirects. Bodies and
// headers are capped; errors are values.
#pragma once

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>

struct sockaddr;

namespace tf::net {

struct http_request {
  std::string method = "GET";
  std::string url; // http[s]://[user:password@]host[:port]/path (credentials: Basic auth)
  std::string body;
  std::map<std::string, std::string> headers; // e.g. Host, Content-Type, Authorization
  std::chrono::milliseconds timeout{5000};
  /// How long the connection may take to open; 0: as long as `timeout`.
  std::chrono::milliseconds connect_timeout{0};
  /// Local address to connect from ("" = any); health checks come from 127.0.0.2 so a
  /// closed slot can still be probed (the reset rule spares that source).
  std::string source_address;
  size_t max_response_bytes = 1 << 20;
  /// See client_target::address_check: addresses it refuses are never connected to.
  std::function<std::string(const sockaddr*)> address_check;
};

struct http_response {
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers; // names lowercased
};

/// Error: ec::unavailable (connect/timeout/transport), ec::payload_too_large (body cap).
/// Any HTTP status is a response, not an error.
caf::expected<http_response> http_call(const http_request& req);

/// The host (a name or an IP literal, without brackets) and port an http[s] URL names.
caf::expected<std::pair<std::string, uint16_t>> url_host_port(const std::string& url);

} // namespace tf::net
