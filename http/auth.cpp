#include "http/auth.hpp"

#include "http/ask.hpp"
#include "http/errors.hpp"
#include "http/server.hpp"
#include "net/text.hpp"
#include "core/clock.hpp"
#include "store/password.hpp"

#include <caf/send.hpp>
#include <httplib.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>

namespace tf::http {

namespace {

thread_local request_auth current;
thread_local bool current_set = false;

/// Token values are 64 hex characters (tf::new_secret); anything else is no token.
bool looks_like_token(std::string_view v) {
  return v.size() == 64 && std::all_of(v.begin(), v.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

/// The value of the session cookie in a Cookie header ("" when absent).
std::string session_cookie_value(const httplib::Request& req) {
  // get_header_value returns a copy: keep it alive while the views below point into it.
  const std::string text = req.get_header_value("Cookie");
  std::string_view header = text;
  if (header.size() > 8192)
    return {};
  while (!header.empty()) {
    auto end = header.find(';');
    auto pair = net::trim_blanks(header.substr(0, end));
    header.remove_prefix(end == std::string_view::npos ? header.size() : end + 1);
    auto eq = pair.find('=');
    if (eq != std::string_view::npos
        && net::trim_blanks(pair.substr(0, eq)) == session_cookie_name)
      return std::string{net::trim_blanks(pair.substr(eq + 1))};
  }
  return {};
}

bool changes_state(const std::string& method) {
  return method != "GET" && method != "HEAD" && method != "OPTIONS";
}

/// "host:port" of an Origin or Referer URL ("" when it has no scheme://host).
std::string authority_of(std::string_view url) {
  auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos || scheme_end == 0)
    return {};
  auto rest = url.substr(scheme_end + 3);
  auto end = rest.find_first_of("/?#");
  rest = rest.substr(0, end);
  // userinfo@ never belongs to an origin; refuse rather than parse around it.
  if (rest.empty() || rest.find('@') != std::string_view::npos)
    return {};
  return std::string{rest};
}

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size()
         && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
              return std::tolower(static_cast<unsigned char>(x))
                     == std::tolower(static_cast<unsigned char>(y));
            });
}

/// A token seen unused for this long gets its last_used_at written (one write a minute at
/// most per token, not one per request).
constexpr auto touch_gap = std::chrono::seconds{60};

} // namespace

bool is_public_api_path(std::string_view path) {
  // httplib decodes %2F and keeps dot segments: "/api/webhooks/../x" is no webhook. No
  // route matches such a path today; refusing it keeps the exemption exact regardless.
  if (path.find("/.") != std::string_view::npos || path.find("//") != std::string_view::npos)
    return false;
  return path == "/api/auth/login" || path == "/api/auth/setup" || path == "/api/openapi.json"
         || path.rfind("/api/webhooks/", 0) == 0;
}

const request_auth* current_auth() {
  return current_set ? &current : nullptr;
}

bool same_origin(const httplib::Request& req) {
  const auto& host = req.get_header_value("Host");
  if (host.empty())
    return false;
  std::string authority;
  if (req.has_header("Origin"))
    authority = authority_of(req.get_header_value("Origin"));
  else if (req.has_header("Referer"))
    authority = authority_of(req.get_header_value("Referer"));
  return !authority.empty() && equal_ignoring_case(authority, host);
}

std::string client_address(const httplib::Request& req) {
  return req.remote_addr;
}

guard_result guard_request(const server_context& ctx, const httplib::Request& req,
                           httplib::Response& res) {
  current_set = false;
  current = request_auth{};
  // Everything under /api is closed, including paths no route matches (an unknown route
  // answers 401 before 404 and so tells a stranger nothing).
  if (req.path.rfind("/api", 0) != 0 || is_public_api_path(req.path))
    return guard_result::pass;
  credential cred;
  std::string value;
  const auto& authorization = req.get_header_value("Authorization");
  if (!authorization.empty()) {
    // A bearer header that is present decides alone: a bad one never falls back to the cookie.
    constexpr std::string_view bearer = "Bearer ";
    if (authorization.size() > bearer.size()
        && equal_ignoring_case(std::string_view{authorization}.substr(0, bearer.size()), bearer))
      value = std::string{net::trim_blanks(std::string_view{authorization}.substr(bearer.size()))};
    cred.kind = "token";
  } else {
    value = session_cookie_value(req);
    cred.kind = "session";
  }
  if (value.empty() && cred.kind == "session") {
    refuse_and_close(res, 401, "unauthorized",
                     "log in (POST /api/auth/login) or send Authorization: Bearer <token>");
    return guard_result::answered;
  }
  if (!looks_like_token(value)) {
    refuse_and_close(res, 401, "unauthorized", "the credential is not valid");
    return guard_result::answered;
  }
  cred.token_hash = store::sha256_hex(value);
  auto who = ask<identity>(*ctx.sys, ctx.store.readers->next(), ctx.request_timeout,
                           atom::resolve_v, cred);
  if (!who) {
    if (error_code(who.error()) == ec::not_found) {
      refuse_and_close(res, 401, "unauthorized",
                       cred.kind == "session" ? "the session has expired or ended; log in again"
                                              : "the token is not valid or was revoked");
    } else {
      auto status = http_status(error_code(who.error()));
      refuse_and_close(res, status == 500 ? 503 : status, "unavailable",
                       "cannot check the credential now: " + error_message(who.error()));
    }
    return guard_result::answered;
  }
  // A cookie rides along on cross-site requests that SameSite does not stop (old
  // browsers, same-site subdomains): a change made with it must come from our own origin.
  if (cred.kind == "session" && changes_state(req.method) && !same_origin(req)) {
    refuse_and_close(res, 403, "forbidden",
                     "a cookie-authenticated change needs an Origin matching the Host");
    return guard_result::answered;
  }
  if (cred.kind == "token"
      && (who->last_used_at.empty()
          || who->last_used_at < tf::format_utc(std::chrono::system_clock::now() - touch_gap)))
    caf::anon_send(ctx.store.writer, atom::touch_v, atom::token_v, who->credential_id);
  current.who = std::move(*who);
  current.token_hash = std::move(cred.token_hash);
  current_set = true;
  return guard_result::pass;
}

void audit(const server_context& ctx, const httplib::Request& req, std::string action,
           std::string target_kind, std::string target_id, std::string detail_json) {
  audit_entry e;
  const auto* who = current_auth();
  e.actor = who ? who->who.username : std::string{"anonymous"};
  e.action = std::move(action);
  e.target_kind = std::move(target_kind);
  e.target_id = std::move(target_id);
  e.detail_json = std::move(detail_json);
  e.source_addr = client_address(req);
  if (ctx.store.writer)
    caf::anon_send(ctx.store.writer, atom::append_v, std::move(e));
}

bool attempt_limiter::allow(const std::string& address) {
  auto now = clock::now();
  const auto minute = std::chrono::minutes{1};
  std::lock_guard<std::mutex> lock{mutex_};
  auto it = windows_.find(address);
  if (it == windows_.end()) {
    if (windows_.size() >= max_addresses_) {
      for (auto i = windows_.begin(); i != windows_.end();)
        i = now - i->second.start >= minute ? windows_.erase(i) : std::next(i);
      if (windows_.size() >= max_addresses_)
        windows_.erase(std::min_element(windows_.begin(), windows_.end(),
                                        [](const auto& a, const auto& b) {
                                          return a.second.start < b.second.start;
                                        }));
    }
    it = windows_.emplace(address, window{now, 0}).first;
  } else if (now - it->second.start >= minute) {
    it->second = window{now, 0};
  }
  return ++it->second.attempts <= per_minute_;
}

} // namespace tf::http
