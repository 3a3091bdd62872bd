// /api/auth (login, logout, me, first-run setup) and /api/tokens. Passwords are checked
// here, on the HTTP worker thread, so a 50-100 ms scrypt never holds the store writer.
#include "http/ask.hpp"
#include "http/handler_steps.hpp"
#include "http/auth.hpp"
#include "http/json_auth.hpp"
#include "http/json_model.hpp"
#include "http/route_helpers.hpp"
#include "http/routes.hpp"
#include "http/server.hpp"
#include "http/store_views.hpp"
#include "core/clock.hpp"
#include "core/ids.hpp"
#include "net/text.hpp"
#include "store/password.hpp"
#include "store/totp.hpp"

#include <caf/send.hpp>
#include <httplib.h>
#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include <cctype>
#include <optional>

namespace tf::http {

namespace {

constexpr const char* wrong_credentials = "wrong username or password";

/// A string member of at most `max` bytes; "" when absent or not a string.
caf::expected<std::string> string_member(const rapidjson::Document& doc, const char* key,
                                         size_t max) {
  if (!doc.HasMember(key) || !doc[key].IsString())
    return make_error(ec::invalid_argument, std::string{key} + ": a string is required");
  const auto& v = doc[key];
  if (v.GetStringLength() > max)
    return make_error(ec::invalid_argument, std::string{key} + ": too long");
  return std::string{v.GetString(), v.GetStringLength()};
}

/// A login's or the first-run setup's username and password.
struct credentials {
  std::string username;
  std::string password;
};

caf::expected<credentials> credentials_of(const rapidjson::Document& body) {
  auto username = string_member(body, "username", 256);
  if (!username)
    return username.error();
  auto password = string_member(body, "password", store::max_password_bytes);
  if (!password)
    return password.error();
  return credentials{std::move(*username), std::move(*password)};
}

std::string session_cookie(req_t req, const std::string& value) {
  // No Max-Age: the session ends server side. TLS ends at the reverse proxy in front, so
  // "Secure" follows its X-Forwarded-Proto (a client that forges it only makes its own
  // cookie stricter).
  auto cookie = std::string{session_cookie_name} + "=" + value
                + "; HttpOnly; SameSite=Strict; Path=/";
  if (req.get_header_value("X-Forwarded-Proto") == "https")
    cookie += "; Secure";
  return cookie;
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

void answer_limited(res_t res) {
  res.set_header("Retry-After", "60");
  render_error(res, 429, "rate_limited", "too many failed attempts; wait a minute");
}

/// A form post (text/plain, application/x-www-form-urlencoded, multipart) is a "simple"
/// request a page on any site can send without a CORS preflight; a login so sent would
/// log the victim's browser into the attacker's account (login CSRF). JSON needs a
/// preflight, which we never grant.
bool is_json_request(req_t req, res_t res) {
  auto type = req.get_header_value("Content-Type");
  auto semi = type.find(';');
  auto media = net::trim_blanks(std::string_view{type}.substr(0, semi));
  std::string lower{media};
  for (auto& c : lower)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "application/json")
    return true;
  render_error(res, 415, "unsupported_media_type", "send the body as Content-Type: application/json");
  return false;
}

void login(const server_context& ctx, req_t req, res_t res) {
  if (!is_json_request(req, res))
    return;
  auto body = parse_body(req);
  if (!body)
    return render_error(res, body.error());
  auto given = credentials_of(*body);
  if (!given)
    return render_error(res, given.error());
  // Counted as a failure before the password is checked, so concurrent guesses cannot
  // overshoot a limit; given back below when the password was right.
  auto source = client_address(ctx, req);
  if (!ctx.login_limiter->begin(source, given->username))
    return answer_limited(res);
  auto user = ask<user_record>(*ctx.sys, read_through<auth_reader_actor>(ctx), ctx.request_timeout,
                               atom::get_v, atom::user_v, given->username);
  if (!user && error_code(user.error()) != ec::not_found)
    return render_error(res, user.error());
  // An unknown user costs one scrypt too, and gets the same answer: neither the time nor
  // the message tells whether the name exists.
  bool matches = store::verify_password(given->password, user ? user->password_hash
                                                       : store::dummy_password_hash());
  bool ok = matches && static_cast<bool>(user);
  if (!ok) {
    spdlog::info("event=login-failed source={}", source);
    return render_error(res, 401, "unauthorized", wrong_credentials);
  }
  if (!user->totp_secret.empty()) {
    // Only someone who knows the password learns that a second factor is needed.
    if (!body->HasMember("code")) {
      ctx.login_limiter->succeeded(source, given->username); // the password was right
      return render_error(res, 401, "totp_required", "this user needs a TOTP code (\"code\")");
    }
    auto code = string_member(*body, "code", 16);
    if (!code || !store::verify_totp(user->totp_secret, *code, unix_now())) {
      spdlog::info("event=login-failed source={} reason=totp", source);
      return render_error(res, 401, "unauthorized", "wrong TOTP code");
    }
  }
  ctx.login_limiter->succeeded(source, given->username);
  auto token = tf::new_secret();
  new_session s{user->id, store::sha256_hex(token), source,
                tf::format_utc(std::chrono::system_clock::now() + ctx.session_ttl)};
  auto stored = ask<std::string>(*ctx.sys, write_through<auth_writer_actor>(ctx), ctx.request_timeout, atom::create_v,
                                 std::move(s));
  if (!stored)
    return render_error(res, stored.error());
  audit_entry e{user->username, "auth.login", "session", *stored, "{}", source};
  caf::anon_send(write_through<auth_writer_actor>(ctx), atom::append_v, std::move(e));
  res.set_header("Set-Cookie", session_cookie(req, token));
  res.set_header("Cache-Control", "no-store");
  reply_json(res, 200, net::make_json([&](net::json_writer& w) {
               write_session_user(w, user->id, user->username);
             }));
}

/// Ends the cookie's session. With a bearer token there is no session: 204 and nothing
/// changes (a token ends with DELETE /api/tokens/{id}).
void logout(const server_context& ctx, req_t req, res_t res) {
  const auto* auth = current_auth();
  if (auth && auth->who.via == "session") {
    auto done = ask<atom::ok>(*ctx.sys, write_through<auth_writer_actor>(ctx), ctx.request_timeout, atom::erase_v,
                              atom::session_v, auth->token_hash);
    if (!done)
      return render_error(res, done.error());
    audit(ctx, req, "auth.logout", "session", auth->who.credential_id);
  }
  res.set_header("Set-Cookie", std::string{session_cookie_name}
                                 + "=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
  reply_empty(res, 204);
}

void me(const server_context& ctx, req_t, res_t res) {
  const auto* auth = logged_in(res);
  if (!auth)
    return;
  // The settings page shows whether a second factor is on: read from the user's row.
  auto user = ask<user_record>(*ctx.sys, read_through<auth_reader_actor>(ctx),
                               ctx.request_timeout, atom::get_v, atom::user_v, auth->who.username);
  if (!user)
    return render_error(res, user.error());
  reply_json(res, 200, net::make_json([&](net::json_writer& w) {
               write_current_user(w, auth->who.user_id, auth->who.username, auth->who.via,
                                  !user->totp_secret.empty());
             }));
}

/// First run: creates the first admin with the setup token the daemon logged at start.
void setup(const server_context& ctx, req_t req, res_t res) {
  // Guesses of the setup token count as failures of the username "" from this address.
  auto source = client_address(ctx, req);
  if (!ctx.login_limiter->begin(source, ""))
    return answer_limited(res);
  auto users = ask<int64_t>(*ctx.sys, read_through<auth_reader_actor>(ctx), ctx.request_timeout,
                            atom::count_v, atom::user_v);
  if (!users)
    return render_error(res, users.error());
  if (*users > 0)
    return render_error(res, 409, "conflict", "setup is done: a user exists");
  auto body = parse_body(req);
  if (!body)
    return render_error(res, body.error());
  auto token = string_member(*body, "token", 256);
  if (!token)
    return render_error(res, token.error());
  auto hash = store::sha256_hex(*token);
  if (ctx.setup_token_hash.size() != hash.size()
      || CRYPTO_memcmp(hash.data(), ctx.setup_token_hash.data(), hash.size()) != 0)
    return render_error(res, 401, "unauthorized", "wrong setup token (see the daemon's log)");
  auto given = credentials_of(*body);
  if (!given)
    return render_error(res, given.error());
  if (auto err = store::check_new_password(given->password))
    return render_error(res, err);
  auto pw_hash = store::hash_password(given->password);
  if (!pw_hash)
    return render_error(res, pw_hash.error());
  // only_if_none: two setups racing create one admin; the other gets 409.
  auto user = ask<user_record>(*ctx.sys, write_through<auth_writer_actor>(ctx), ctx.request_timeout, atom::create_v,
                               new_user{given->username, *pw_hash, true, true});
  if (!user)
    return render_error(res, user.error());
  ctx.login_limiter->succeeded(source, "");
  audit_entry e{"setup-token", "user.create", "user", user->id, "{}", source};
  caf::anon_send(write_through<auth_writer_actor>(ctx), atom::append_v, std::move(e));
  reply_json(res, 201, net::make_json([&](net::json_writer& w) {
               write_session_user(w, user->id, user->username);
             }));
}

/// The caller's password, asked again before the second factor changes: a stolen session
/// alone can neither lock the owner out with its own secret nor remove the factor.
caf::error check_password_again(const server_context& ctx, const request_auth& auth,
                                const rapidjson::Document& body) {
  auto password = string_member(body, "password", store::max_password_bytes);
  if (!password)
    return password.error();
  auto user = ask<user_record>(*ctx.sys, read_through<auth_reader_actor>(ctx), ctx.request_timeout,
                               atom::get_v, atom::user_v, auth.who.username);
  if (!user)
    return user.error();
  if (!store::verify_password(*password, user->password_hash))
    return make_error(ec::invalid_argument, "wrong password");
  return {};
}

/// A logged-in caller's change: who asks, and the JSON body.
struct caller_body {
  const request_auth* auth = nullptr;
  rapidjson::Document body;
};

/// The caller and the body; nothing after answering 401 or why the body is none.
std::optional<caller_body> read_caller_body(req_t req, res_t res) {
  const auto* auth = logged_in(res);
  if (!auth)
    return std::nullopt;
  auto body = parse_body(req);
  if (!body) {
    render_error(res, body.error());
    return std::nullopt;
  }
  return caller_body{auth, std::move(*body)};
}

/// Stores the caller's TOTP secret ("" turns the factor off) once the password given again
/// matches, and audits `action`.
void change_totp(const server_context& ctx, req_t req, res_t res, const request_auth& auth,
                 const rapidjson::Document& body, const std::string& secret, const char* action) {
  if (auto err = check_password_again(ctx, auth, body))
    return render_error(res, 403, "forbidden", error_message(err));
  auto done = ask<atom::ok>(*ctx.sys, write_through<auth_writer_actor>(ctx), ctx.request_timeout, atom::update_v,
                            totp_setting{auth.who.user_id, secret});
  if (done)
    audit(ctx, req, action, "user", auth.who.user_id);
  reply_no_content(res, done);
}

/// A new TOTP secret for the caller to add to an authenticator app. Nothing is stored
/// until POST /api/auth/totp/enable proves the app produces its codes.
void totp_enroll(const server_context&, req_t, res_t res) {
  const auto* auth = logged_in(res);
  if (!auth)
    return;
  auto secret = store::new_totp_secret();
  res.set_header("Cache-Control", "no-store");
  reply_json(res, 200, net::make_json([&](net::json_writer& w) {
               write_totp_enrollment(w, auth->who.username, secret);
             }));
}

void totp_enable(const server_context& ctx, req_t req, res_t res) {
  auto call = read_caller_body(req, res);
  if (!call)
    return;
  auto secret = string_member(call->body, "secret", 128);
  auto code = string_member(call->body, "code", 16);
  if (!secret)
    return render_error(res, secret.error());
  if (!code)
    return render_error(res, code.error());
  if (!store::verify_totp(*secret, *code, unix_now()))
    return render_error(res, make_error(ec::invalid_argument,
                                        "code: not the current code of this secret"));
  change_totp(ctx, req, res, *call->auth, call->body, *secret, "auth.totp_enable");
}

/// Turns TOTP off; needs the password again, so a stolen session alone cannot do it.
void totp_disable(const server_context& ctx, req_t req, res_t res) {
  auto call = read_caller_body(req, res);
  if (!call)
    return;
  change_totp(ctx, req, res, *call->auth, call->body, "", "auth.totp_disable");
}

void create_token(const server_context& ctx, req_t req, res_t res) {
  auto call = read_caller_body(req, res);
  if (!call)
    return;
  auto name = string_member(call->body, "name", 256);
  if (!name)
    return render_error(res, name.error());
  auto value = tf::new_secret();
  auto stored = ask<api_token_info>(*ctx.sys, write_through<auth_writer_actor>(ctx), ctx.request_timeout,
                                    atom::create_v,
                                    new_api_token{call->auth->who.user_id, *name,
                                                  store::sha256_hex(value)});
  if (!stored)
    return render_error(res, stored.error());
  audit(ctx, req, "token.create", "api_token", stored->id);
  res.set_header("Cache-Control", "no-store");
  reply_json(res, 201, net::make_json([&](net::json_writer& w) {
               write_new_token(w, *stored, value);
             }));
}

void list_tokens(const server_context& ctx, req_t req, res_t res) {
  const auto* auth = logged_in(res);
  if (!auth)
    return;
  auto q = parse_page(req);
  if (!q)
    return render_error(res, q.error());
  auto tokens = ask<page<api_token_info>>(*ctx.sys, read_through<auth_reader_actor>(ctx),
                                          ctx.request_timeout, atom::list_v, atom::token_v,
                                          auth->who.user_id, q->limit, q->offset);
  reply(res, tokens, 200, [](net::json_writer& w, const page<api_token_info>& x) {
    write_page(w, x, write_token);
  });
}

void revoke_token(const server_context& ctx, req_t req, res_t res) {
  const auto* auth = logged_in(res);
  if (!auth)
    return;
  std::string id = req.matches[1];
  auto done = ask<atom::ok>(*ctx.sys, write_through<auth_writer_actor>(ctx), ctx.request_timeout, atom::erase_v,
                            atom::token_v, token_revocation{auth->who.user_id, id});
  if (done)
    audit(ctx, req, "token.revoke", "api_token", id);
  reply_no_content(res, done);
}

} // namespace

void install_auth_routes(route_table& http, const server_context& ctx) {
  auto bind = [&ctx](context_handler handler) { return bind_context(ctx, handler); };
  http.Post("/api/auth/login", bind(login));
  http.Post("/api/auth/setup", bind(setup));
  http.Post("/api/auth/logout", bind(logout));
  http.Get("/api/auth/me", bind(me));
  http.Post("/api/auth/totp/enroll", bind(totp_enroll));
  http.Post("/api/auth/totp/enable", bind(totp_enable));
  http.Post("/api/auth/totp/disable", bind(totp_disable));
  http.Post("/api/tokens", bind(create_token));
  http.Get("/api/tokens", bind(list_tokens));
  http.Delete(R"(/api/tokens/([^/]+))", bind(revoke_token));
}

} // namespace tf::http
