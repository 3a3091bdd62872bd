// /api/auth (login, logout, me, first-run setup) and /api/tokens. Passwords are checked
// here, on the HTTP worker thread, so a 50-100 ms scrypt never holds the store writer.
#include "http/ask.hpp"
#include "http/auth.hpp"
#include "http/json_model.hpp"
#include "http/route_helpers.hpp"
#include "http/routes.hpp"
#include "http/server.hpp"
#include "core/clock.hpp"
#include "core/ids.hpp"
#include "store/password.hpp"
#include "store/totp.hpp"

#include <caf/send.hpp>
#include <httplib.h>
#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

namespace tf::http {

namespace {

using req_t = const httplib::Request&;
using res_t = httplib::Response&;

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

void write_user(net::json_writer& w, const std::string& id, const std::string& username) {
  w.Key("user");
  w.StartObject();
  w.Key("id");
  net::write_string(w, id);
  w.Key("username");
  net::write_string(w, username);
  w.EndObject();
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

bool over_limit(const server_context& ctx, req_t req, res_t res) {
  if (ctx.login_limiter->allow(client_address(req)))
    return false;
  res.set_header("Retry-After", "60");
  render_error(res, 429, "rate_limited", "too many attempts from this address; wait a minute");
  return true;
}

void login(const server_context& ctx, req_t req, res_t res) {
  if (over_limit(ctx, req, res))
    return;
  auto body = parse_body(req);
  if (!body)
    return render_error(res, body.error());
  auto username = string_member(*body, "username", 256);
  auto password = string_member(*body, "password", store::max_password_bytes);
  if (!username)
    return render_error(res, username.error());
  if (!password)
    return render_error(res, password.error());
  auto user = ask<user_record>(*ctx.sys, ctx.store.readers->next(), ctx.request_timeout,
                               atom::get_v, atom::user_v, *username);
  if (!user && error_code(user.error()) != ec::not_found)
    return render_error(res, user.error());
  // An unknown user costs one scrypt too, and gets the same answer: neither the time nor
  // the message tells whether the name exists.
  bool matches = store::verify_password(*password, user ? user->password_hash
                                                       : store::dummy_password_hash());
  bool ok = matches && static_cast<bool>(user);
  if (!ok) {
    spdlog::info("event=login-failed source={}", client_address(req));
    return render_error(res, 401, "unauthorized", wrong_credentials);
  }
  if (!user->totp_secret.empty()) {
    // Only someone who knows the password learns that a second factor is needed.
    if (!body->HasMember("code"))
      return render_error(res, 401, "totp_required", "this user needs a TOTP code (\"code\")");
    auto code = string_member(*body, "code", 16);
    if (!code || !store::verify_totp(user->totp_secret, *code, unix_now())) {
      spdlog::info("event=login-failed source={} reason=totp", client_address(req));
      return render_error(res, 401, "unauthorized", "wrong TOTP code");
    }
  }
  auto token = tf::new_secret();
  new_session s{user->id, store::sha256_hex(token), client_address(req),
                tf::format_utc(std::chrono::system_clock::now() + ctx.session_ttl)};
  auto stored = ask<std::string>(*ctx.sys, ctx.store.writer, ctx.request_timeout, atom::create_v,
                                 std::move(s));
  if (!stored)
    return render_error(res, stored.error());
  audit_entry e{user->username, "auth.login", "session", *stored, "{}", client_address(req)};
  caf::anon_send(ctx.store.writer, atom::append_v, std::move(e));
  res.set_header("Set-Cookie", session_cookie(req, token));
  res.set_header("Cache-Control", "no-store");
  reply_json(res, 200, net::make_json([&](net::json_writer& w) {
               w.StartObject();
               write_user(w, user->id, user->username);
               w.EndObject();
             }));
}

/// Ends the cookie's session. With a bearer token there is no session: 204 and nothing
/// changes (a token ends with DELETE /api/tokens/{id}).
void logout(const server_context& ctx, req_t req, res_t res) {
  const auto* auth = current_auth();
  if (auth && auth->who.via == "session") {
    auto done = ask<atom::ok>(*ctx.sys, ctx.store.writer, ctx.request_timeout, atom::erase_v,
                              atom::session_v, auth->token_hash);
    if (!done)
      return render_error(res, done.error());
    audit(ctx, req, "auth.logout", "session", auth->who.credential_id);
  }
  res.set_header("Set-Cookie", std::string{session_cookie_name}
                                 + "=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
  reply_empty(res, 204);
}

void me(const server_context&, req_t, res_t res) {
  const auto* auth = current_auth();
  if (!auth)
    return render_error(res, 401, "unauthorized", "not logged in");
  reply_json(res, 200, net::make_json([&](net::json_writer& w) {
               w.StartObject();
               write_user(w, auth->who.user_id, auth->who.username);
               w.Key("via");
               net::write_string(w, auth->who.via);
               w.EndObject();
             }));
}

/// First run: creates the first admin with the setup token the daemon logged at start.
void setup(const server_context& ctx, req_t req, res_t res) {
  if (over_limit(ctx, req, res))
    return;
  auto users = ask<int64_t>(*ctx.sys, ctx.store.readers->next(), ctx.request_timeout,
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
  auto username = string_member(*body, "username", 256);
  auto password = string_member(*body, "password", store::max_password_bytes);
  if (!username)
    return render_error(res, username.error());
  if (!password)
    return render_error(res, password.error());
  if (auto err = store::check_new_password(*password))
    return render_error(res, err);
  auto pw_hash = store::hash_password(*password);
  if (!pw_hash)
    return render_error(res, pw_hash.error());
  // only_if_none: two setups racing create one admin; the other gets 409.
  auto user = ask<user_record>(*ctx.sys, ctx.store.writer, ctx.request_timeout, atom::create_v,
                               new_user{*username, *pw_hash, true, true});
  if (!user)
    return render_error(res, user.error());
  audit_entry e{"setup-token", "user.create", "user", user->id, "{}", client_address(req)};
  caf::anon_send(ctx.store.writer, atom::append_v, std::move(e));
  reply_json(res, 201, net::make_json([&](net::json_writer& w) {
               w.StartObject();
               write_user(w, user->id, user->username);
               w.EndObject();
             }));
}

/// The caller's password, asked again before the second factor changes: a stolen session
/// alone can neither lock the owner out with its own secret nor remove the factor.
caf::error check_password_again(const server_context& ctx, const request_auth& auth,
                                const rapidjson::Document& body) {
  auto password = string_member(body, "password", store::max_password_bytes);
  if (!password)
    return password.error();
  auto user = ask<user_record>(*ctx.sys, ctx.store.readers->next(), ctx.request_timeout,
                               atom::get_v, atom::user_v, auth.who.username);
  if (!user)
    return user.error();
  if (!store::verify_password(*password, user->password_hash))
    return make_error(ec::invalid_argument, "wrong password");
  return {};
}

/// A new TOTP secret for the caller to add to an authenticator app. Nothing is stored
/// until POST /api/auth/totp/enable proves the app produces its codes.
void totp_enroll(const server_context&, req_t, res_t res) {
  const auto* auth = current_auth();
  if (!auth)
    return render_error(res, 401, "unauthorized", "not logged in");
  auto secret = store::new_totp_secret();
  res.set_header("Cache-Control", "no-store");
  reply_json(res, 200, net::make_json([&](net::json_writer& w) {
               w.StartObject();
               w.Key("secret");
               net::write_string(w, secret);
               w.Key("otpauth_url");
               net::write_string(w, "otpauth://totp/Tinyforge:" + auth->who.username
                                 + "?secret=" + secret + "&issuer=Tinyforge");
               w.EndObject();
             }));
}

void totp_enable(const server_context& ctx, req_t req, res_t res) {
  const auto* auth = current_auth();
  if (!auth)
    return render_error(res, 401, "unauthorized", "not logged in");
  auto body = parse_body(req);
  if (!body)
    return render_error(res, body.error());
  auto secret = string_member(*body, "secret", 128);
  auto code = string_member(*body, "code", 16);
  if (!secret)
    return render_error(res, secret.error());
  if (!code)
    return render_error(res, code.error());
  if (!store::verify_totp(*secret, *code, unix_now()))
    return render_error(res, make_error(ec::invalid_argument,
                                        "code: not the current code of this secret"));
  if (auto err = check_password_again(ctx, *auth, *body))
    return render_error(res, 403, "forbidden", error_message(err));
  auto done = ask<atom::ok>(*ctx.sys, ctx.store.writer, ctx.request_timeout, atom::update_v,
                            totp_setting{auth->who.user_id, *secret});
  if (done)
    audit(ctx, req, "auth.totp_enable", "user", auth->who.user_id);
  reply_no_content(res, done);
}

/// Turns TOTP off; needs the password again, so a stolen session alone cannot do it.
void totp_disable(const server_context& ctx, req_t req, res_t res) {
  const auto* auth = current_auth();
  if (!auth)
    return render_error(res, 401, "unauthorized", "not logged in");
  auto body = parse_body(req);
  if (!body)
    return render_error(res, body.error());
  if (auto err = check_password_again(ctx, *auth, *body))
    return render_error(res, 403, "forbidden", error_message(err));
  auto done = ask<atom::ok>(*ctx.sys, ctx.store.writer, ctx.request_timeout, atom::update_v,
                            totp_setting{auth->who.user_id, ""});
  if (done)
    audit(ctx, req, "auth.totp_disable", "user", auth->who.user_id);
  reply_no_content(res, done);
}

void write_token(net::json_writer& w, const api_token_info& t) {
  w.StartObject();
  w.Key("id");
  net::write_string(w, t.id);
  w.Key("name");
  net::write_string(w, t.name);
  w.Key("created_at");
  net::write_string(w, t.created_at);
  w.Key("last_used_at");
  net::write_string(w, t.last_used_at);
  w.Key("revoked_at");
  net::write_string(w, t.revoked_at);
  w.Key("revoked");
  w.Bool(!t.revoked_at.empty());
  w.EndObject();
}

void create_token(const server_context& ctx, req_t req, res_t res) {
  const auto* auth = current_auth();
  if (!auth)
    return render_error(res, 401, "unauthorized", "not logged in");
  auto body = parse_body(req);
  if (!body)
    return render_error(res, body.error());
  auto name = string_member(*body, "name", 256);
  if (!name)
    return render_error(res, name.error());
  auto value = tf::new_secret();
  auto stored = ask<api_token_info>(*ctx.sys, ctx.store.writer, ctx.request_timeout,
                                    atom::create_v,
                                    new_api_token{auth->who.user_id, *name,
                                                  store::sha256_hex(value)});
  if (!stored)
    return render_error(res, stored.error());
  audit(ctx, req, "token.create", "api_token", stored->id);
  res.set_header("Cache-Control", "no-store");
  reply_json(res, 201, net::make_json([&](net::json_writer& w) {
               w.StartObject();
               w.Key("id");
               net::write_string(w, stored->id);
               w.Key("name");
               net::write_string(w, stored->name);
               w.Key("token");
               net::write_string(w, value);
               w.Key("created_at");
               net::write_string(w, stored->created_at);
               w.EndObject();
             }));
}

void list_tokens(const server_context& ctx, req_t req, res_t res) {
  const auto* auth = current_auth();
  if (!auth)
    return render_error(res, 401, "unauthorized", "not logged in");
  auto q = parse_page(req);
  if (!q)
    return render_error(res, q.error());
  auto tokens = ask<page<api_token_info>>(*ctx.sys, ctx.store.readers->next(),
                                          ctx.request_timeout, atom::list_v, atom::token_v,
                                          auth->who.user_id, q->limit, q->offset);
  reply(res, tokens, 200, [](net::json_writer& w, const page<api_token_info>& x) {
    write_page(w, x, write_token);
  });
}

void revoke_token(const server_context& ctx, req_t req, res_t res) {
  const auto* auth = current_auth();
  if (!auth)
    return render_error(res, 401, "unauthorized", "not logged in");
  std::string id = req.matches[1];
  auto done = ask<atom::ok>(*ctx.sys, ctx.store.writer, ctx.request_timeout, atom::erase_v,
                            atom::token_v, token_revocation{auth->who.user_id, id});
  if (done)
    audit(ctx, req, "token.revoke", "api_token", id);
  reply_no_content(res, done);
}

} // namespace

void install_auth_routes(route_table& http, const server_context& ctx) {
  auto bind = [&ctx](void (*handler)(const server_context&, req_t, res_t)) {
    return [&ctx, handler](req_t req, res_t res) { handler(ctx, req, res); };
  };
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
