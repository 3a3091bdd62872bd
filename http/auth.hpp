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
#include <vector>

namespace httplib {
struct Request;
struct Response;
} // namespace httplib

namespace tf {
struct config;
}

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

/// What the guard decided: go on to routing, or the request was answered (401/403/421/503).
enum class guard_result { pass, answered };

/// Checks Host against the public names (421 on every path but /healthz), resolves the
/// credential through a store reader, checks the same-origin rule for cookie requests that
/// change state, and sets current_auth(). Answers 401 without credentials.
guard_result guard_request(const server_context& ctx, const httplib::Request& req,
                           httplib::Response& res);

/// True when Origin (or else Referer) is http:// or https:// followed by exactly the Host
/// header's host:port: scheme, host and port are all compared (foo://host:port is refused).
bool same_origin(const httplib::Request& req);

/// True when the Host header names this server: one of `public_names` ("name" matches any
/// port, "name:port" only that port), compared without case. Guards against DNS rebinding,
/// where a page on evil.example resolves its own name to 127.0.0.1 and so becomes
/// "same origin" with us.
bool host_is_ours(const std::vector<std::string>& public_names, const httplib::Request& req);

/// The names Host may carry when the public_names setting is empty: the listen host and
/// the loopback forms (localhost, 127.0.0.1, [::1]).
std::vector<std::string> default_public_names(const config& cfg);

/// Fills the context's access settings from the config (public names, trusted proxies) and
/// makes the login limiter when none was given. The server calls it once, at construction.
void prepare_access(server_context& ctx, const config& cfg);

/// The client's address as the socket saw it (no X-Forwarded-For: it is client-written).
std::string client_address(const httplib::Request& req);

/// The client's address: the socket's, unless the socket is a trusted proxy; then the
/// rightmost X-Forwarded-For entry that is not itself a trusted proxy (entries left of it
/// were written by the client and prove nothing).
std::string client_address(const server_context& ctx, const httplib::Request& req);

/// Appends an audit row for a change the current caller made (one-way to the writer).
void audit(const server_context& ctx, const httplib::Request& req, std::string action,
           std::string target_kind, std::string target_id, std::string detail_json = "{}");

/// Failed logins counted in fixed one-minute windows, three ways: per (address, username),
/// per address, and in total. A login is refused (429) before its password is checked when
///  - its (address, username) pair has `per_pair` failures: guessing one user's password
///    from one place is slow, and an attacker elsewhere cannot lock that user out;
///  - its address has `per_address` failures (spraying many names from one place); a
///    successful login from the address clears this count, so real users behind a shared
///    address keep it low;
///  - all addresses together have `global` failures: many source addresses do not multiply
///    the budget. This is the one limit that can refuse a user not being guessed (during a
///    distributed attack); it bounds guesses, which matters more.
/// An attempt is counted when it begins (so concurrent attempts cannot overshoot) and given
/// back when the password was right. Bounded: each map keeps at most `max_keys` windows.
class login_throttle {
public:
  login_throttle(int per_pair, int per_address, int global, size_t max_keys = 4096)
    : per_pair_{per_pair}, per_address_{per_address}, global_{global}, max_keys_{max_keys} {}
  /// Counts a failure in advance; false (nothing counted) when a limit is reached.
  bool begin(const std::string& address, const std::string& username);
  /// The attempt succeeded: its advance count is given back, the address's count cleared.
  void succeeded(const std::string& address, const std::string& username);

private:
  using clock = std::chrono::steady_clock;
  struct window {
    clock::time_point start;
    int failures = 0;
  };
  window& slot(std::map<std::string, window>& m, const std::string& key, clock::time_point now);
  int per_pair_, per_address_, global_;
  size_t max_keys_;
  std::mutex mutex_;
  std::map<std::string, window> pairs_, addresses_;
  window total_;
};

} // namespace tf::http
