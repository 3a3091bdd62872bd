#include "http/auth.hpp"

#include "http/ask.hpp"
#include "http/errors.hpp"
#include "http/server.hpp"
#include "http/store_views.hpp"
#include "net/text.hpp"
#include "config/config.hpp"
#include "core/clock.hpp"
#include "store/index_version.hpp"
#include "store/password.hpp"

#include <caf/send.hpp>
#include <httplib.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <mutex>
#include <optional>
#include <unordered_map>

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

bool equal_ignoring_case(std::string_view a, std::string_view b);

/// "host:port" of an Origin or Referer URL ("" when it is not http:// or https://
/// followed by a host: a browser page of any other scheme is no origin of ours).
std::string authority_of(std::string_view url) {
  std::string_view rest;
  for (std::string_view scheme : {"http://", "https://"})
    if (url.size() > scheme.size() && equal_ignoring_case(url.substr(0, scheme.size()), scheme))
      rest = url.substr(scheme.size());
  if (rest.empty())
    return {};
  auto end = rest.find_first_of("/?#");
  rest = rest.substr(0, end);
  // userinfo@ never belongs to an origin; refuse rather than parse around it.
  if (rest.empty() || rest.find('@') != std::string_view::npos)
    return {};
  return std::string{rest};
}

/// Splits a comma-separated setting into trimmed, non-empty items.
std::vector<std::string> comma_list(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    auto end = text.find(',');
    auto item = net::trim_blanks(text.substr(0, end));
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    if (!item.empty())
      out.emplace_back(item);
  }
  return out;
}

/// The host of a "host[:port]" authority, and its port ("" when none). IPv6 keeps its
/// brackets ("[::1]").
std::pair<std::string_view, std::string_view> split_authority(std::string_view a) {
  auto colon = a.rfind(':');
  if (colon == std::string_view::npos || (a.find(']') != std::string_view::npos
                                          && colon < a.find(']')))
    return {a, {}};
  return {a.substr(0, colon), a.substr(colon + 1)};
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

/// The identities the guard resolved, by credential kind and hash, so a client sending the
/// same credential again costs no store read. An entry holds while the credentials of its
/// database (users, sessions, api_tokens) are unchanged since before it was read
/// (store/index_version.hpp): a revocation, a logout or a deleted user is a commit there,
/// so it is honoured from that commit on; a session's entry also ends at its expiry. Keys
/// are SHA-256 hashes of the secrets, never the secrets: looking one up leaks no timing
/// about a token. Bounded: full, it starts over.
class credential_cache {
public:
  std::optional<identity> find(const store::change_versions* from, const std::string& key) {
    std::lock_guard<std::mutex> lock{mutex_};
    auto it = entries_.find(key);
    if (it == entries_.end())
      return std::nullopt;
    const auto& e = it->second;
    if (e.from != from || e.at != from->credentials()
        || (!e.who.expires_at.empty() && e.who.expires_at <= now_utc())) {
      entries_.erase(it);
      return std::nullopt;
    }
    return e.who;
  }

  void keep(const store::change_versions* from, store::index_version at, const std::string& key,
            const identity& who) {
    std::lock_guard<std::mutex> lock{mutex_};
    if (entries_.size() >= 4096)
      entries_.clear();
    entries_[key] = entry{from, at, who};
  }

  /// A touch of the token was sent: the entry shows it used now, so the next requests do
  /// not send another before the touch's commit retires the entry.
  void touched(const std::string& key, const std::string& now) {
    std::lock_guard<std::mutex> lock{mutex_};
    if (auto it = entries_.find(key); it != entries_.end())
      it->second.who.last_used_at = now;
  }

private:
  struct entry {
    const store::change_versions* from;
    store::index_version at;
    identity who;
  };
  std::mutex mutex_;
  std::unordered_map<std::string, entry> entries_;
};

credential_cache& resolved_credentials() {
  static credential_cache cache;
  return cache;
}

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

bool host_is_ours(const std::vector<std::string>& public_names, const httplib::Request& req) {
  const auto& host = req.get_header_value("Host");
  if (host.empty() || host.size() > 255)
    return false;
  auto [name, port] = split_authority(host);
  for (const auto& allowed : public_names) {
    auto [a_name, a_port] = split_authority(allowed);
    if (equal_ignoring_case(a_name, name) && (a_port.empty() || a_port == port))
      return true;
  }
  return false;
}

std::vector<std::string> default_public_names(const config& cfg) {
  std::vector<std::string> names{"localhost", "127.0.0.1", "[::1]"};
  const auto& h = cfg.listen_host;
  // A wildcard listen address is no name a client uses.
  if (!h.empty() && h != "0.0.0.0" && h != "::")
    names.push_back(h.find(':') != std::string::npos ? "[" + h + "]" : h);
  return names;
}

void prepare_access(server_context& ctx, const config& cfg) {
  if (ctx.public_names.empty())
    ctx.public_names = comma_list(cfg.http_public_names);
  if (ctx.public_names.empty())
    ctx.public_names = default_public_names(cfg);
  if (ctx.trusted_proxies.empty())
    ctx.trusted_proxies = comma_list(cfg.http_trusted_proxies);
  if (!ctx.login_limiter)
    ctx.login_limiter = std::make_shared<login_throttle>(
      ctx.login_attempts_per_minute, ctx.login_failures_per_address, ctx.login_failures_global);
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

std::string client_address(const server_context& ctx, const httplib::Request& req) {
  auto trusted = [&](std::string_view a) {
    return std::find(ctx.trusted_proxies.begin(), ctx.trusted_proxies.end(), a)
           != ctx.trusted_proxies.end();
  };
  if (!trusted(req.remote_addr))
    return req.remote_addr;
  // Each proxy appends the peer it saw; walk from the right past our own proxies. Every
  // X-Forwarded-For header counts, in order (a proxy may add a second header).
  std::vector<std::string> hops;
  auto count = req.get_header_value_count("X-Forwarded-For");
  for (size_t i = 0; i < count && i < 16; ++i)
    for (auto& hop : comma_list(req.get_header_value("X-Forwarded-For", i)))
      hops.push_back(std::move(hop));
  for (auto it = hops.rbegin(); it != hops.rend(); ++it)
    if (!trusted(*it))
      return it->size() <= 64 ? *it : it->substr(0, 64);
  return req.remote_addr;
}

guard_result guard_request(const server_context& ctx, const httplib::Request& req,
                           httplib::Response& res) {
  current_set = false;
  current = request_auth{};
  // Every path but the health probe: a page whose name was rebound to our address sends
  // its own name as Host. 421 Misdirected Request: this server is not that name.
  if (req.path != "/healthz" && !host_is_ours(ctx.public_names, req)) {
    refuse_and_close(res, 421, "misdirected_request",
                     "the Host header is not a name of this server (see http_public_names)");
    return guard_result::answered;
  }
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
  auto cache_key = cred.kind + ":" + cred.token_hash;
  const auto* versions = ctx.store.versions;
  auto cached = versions ? resolved_credentials().find(versions, cache_key) : std::nullopt;
  caf::expected<identity> who{make_error(ec::internal, "unresolved")};
  if (cached) {
    who = std::move(*cached);
  } else {
    // The version before the read: an entry is never older than the version it holds for.
    auto at = versions ? versions->credentials() : store::index_version{};
    who = ask<identity>(*ctx.sys, read_through<auth_reader_actor>(ctx), ctx.request_timeout,
                        atom::resolve_v, cred);
    if (who && versions)
      resolved_credentials().keep(versions, at, cache_key, *who);
  }
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
                     "a cookie-authenticated change needs an Origin of http(s):// and the Host");
    return guard_result::answered;
  }
  if (cred.kind == "token"
      && (who->last_used_at.empty()
          || who->last_used_at < tf::format_utc(std::chrono::system_clock::now() - touch_gap))) {
    caf::anon_send(write_through<auth_writer_actor>(ctx), atom::touch_v, atom::token_v, who->credential_id);
    resolved_credentials().touched(cache_key, now_utc());
  }
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
  e.source_addr = client_address(ctx, req);
  if (ctx.store.writer)
    caf::anon_send(write_through<auth_writer_actor>(ctx), atom::append_v, std::move(e));
}

login_throttle::window& login_throttle::slot(std::map<std::string, window>& m,
                                           const std::string& key, clock::time_point now) {
  const auto minute = std::chrono::minutes{1};
  auto it = m.find(key);
  if (it == m.end()) {
    if (m.size() >= max_keys_) {
      for (auto i = m.begin(); i != m.end();)
        i = now - i->second.start >= minute ? m.erase(i) : std::next(i);
      if (m.size() >= max_keys_)
        m.erase(std::min_element(m.begin(), m.end(), [](const auto& a, const auto& b) {
          return a.second.start < b.second.start;
        }));
    }
    it = m.emplace(key, window{now, 0}).first;
  } else if (now - it->second.start >= minute) {
    it->second = window{now, 0};
  }
  return it->second;
}

bool login_throttle::begin(const std::string& address, const std::string& username) {
  auto now = clock::now();
  std::lock_guard<std::mutex> lock{mutex_};
  if (now - total_.start >= std::chrono::minutes{1})
    total_ = window{now, 0};
  // '\n' cannot be in an address, so the pair key is unambiguous.
  auto& pair = slot(pairs_, address + "\n" + username, now);
  auto& addr = slot(addresses_, address, now);
  if (pair.failures >= per_pair_ || addr.failures >= per_address_ || total_.failures >= global_)
    return false;
  ++pair.failures;
  ++addr.failures;
  ++total_.failures;
  return true;
}

void login_throttle::succeeded(const std::string& address, const std::string& username) {
  std::lock_guard<std::mutex> lock{mutex_};
  if (auto it = pairs_.find(address + "\n" + username); it != pairs_.end() && it->second.failures > 0)
    --it->second.failures;
  if (auto it = addresses_.find(address); it != addresses_.end())
    it->second.failures = 0;
  if (total_.failures > 0)
    --total_.failures;
}

} // namespace tf::http
