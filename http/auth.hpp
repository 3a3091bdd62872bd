// The router-level guard: every /api route needs a session cookie or a bearer token, except
// the few that are public by design. It runs before routing (server.cpp's pre-routing
// handler), so a route is closed the moment it is registered, whoever registers it.
#pragma once

#include "core/auth_model.hpp"

#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace httplib {
struct Request;
struct Response;
} // namespace httplib

namespace tf::http {

struct server_context;

inline constexpr const char* session_cookie_name = "tf_session";

/// The routes open without credentials: login, first-run setup (which needs the setup
/// token), webhooks (their own secret and signature) and the OpenAPI document.
bool is_public_api_path(std::string_view path);

/// Who the request this thread serves is, as the guard resolved it.
struct request_auth {
  identity who;
  /// SHA-256 of the cookie's or bearer token's value (logout deletes by it).
  std::string token_hash;
};

/// The authenticated caller of the request this thread is serving, or null (a public
/// route). httplib runs the pre-routing handler and the route's handler on the same
/// worker thread, one request at a time, and the guard resets this for every request: no
/// request header can set it, so a client cannot claim to be someone.
const request_auth* current_auth();

/// What the guard decided: go on to routing, or the request was answered (401/403/503).
enum class guard_result { pass, answered };

/// Resolves the credential through a store reader, checks the same-origin rule for cookie
/// requests that change state, and sets current_auth(). Answers 401 without credentials.
guard_result guard_request(const server_context& ctx, const httplib::Request& req,
                           httplib::Response& res);

/// True when Origin (or else Referer) names the same host:port as the Host header.
bool same_origin(const httplib::Request& req);

/// The client's address as the socket saw it (no X-Forwarded-For: it is client-written).
std::string client_address(const httplib::Request& req);

/// Appends an audit row for a change the current caller made (one-way to the writer).
void audit(const server_context& ctx, const httplib::Request& req, std::string action,
           std::string target_kind, std::string target_id, std::string detail_json = "{}");

/// Attempts per client address in a fixed one-minute window. Bounded: when full, expired
/// windows are dropped first, then the oldest.
class attempt_limiter {
public:
  explicit attempt_limiter(int per_minute, size_t max_addresses = 4096)
    : per_minute_{per_minute}, max_addresses_{max_addresses} {}
  /// Counts an attempt; false when the address is over its limit.
  bool allow(const std::string& address);

private:
  using clock = std::chrono::steady_clock;
  struct window {
    clock::time_point start;
    int attempts = 0;
  };
  int per_minute_;
  size_t max_addresses_;
  std::mutex mutex_;
  std::map<std::string, window> windows_;
};

} // namespace tf::http
