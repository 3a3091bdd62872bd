// A bearer API token for the tests that drive the API, and the httplib client that carries
// it, as CI would. Tests about something other than auth get past it with these; auth itself
// is tested in auth_test. The token comes either straight from the store (the in-process
// server tests) or from a login and POST /api/tokens (a daemon run as a process).
//
// No doctest in here (the bench uses the deploy harness, which uses this, without it): a
// step that fails comes back as an error value with its reason.
#pragma once

#include "core/errors.hpp"
#include "actors/system.hpp"
#include "http/ask.hpp"
#include "core/ids.hpp"
#include "store/password.hpp"

#include <caf/actor_system.hpp>
#include <caf/expected.hpp>
#include <httplib.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace tf::test {

/// How long a client waits to connect, for an answer, and to send a request.
struct client_timeouts {
  std::chrono::seconds connect{5};
  std::chrono::seconds read{20};
  std::chrono::seconds write{20};
};

/// A client of http://127.0.0.1:<port> that sends `Authorization: Bearer <token>` with every
/// request; none when `token` is empty.
inline httplib::Client bearer_client(uint16_t port, const std::string& token,
                                     client_timeouts t = {}) {
  httplib::Client c{"127.0.0.1", port};
  c.set_connection_timeout(t.connect);
  c.set_read_timeout(t.read);
  c.set_write_timeout(t.write);
  if (!token.empty())
    c.set_default_headers({{"Authorization", "Bearer " + token}});
  return c;
}

/// A user and the plain text of an API token of theirs.
struct api_credentials {
  std::string user_id;
  std::string token;
};

/// Writes an admin `username` with `password` straight into the store, as the API would
/// have made them. Their id.
inline caf::expected<std::string> make_user(caf::actor_system& sys, const tf::store_handles& store,
                                            const std::string& username,
                                            const std::string& password) {
  using namespace std::chrono_literals;
  auto hash = tf::store::hash_password(password);
  if (!hash)
    return hash.error();
  auto user = tf::http::ask<tf::user_record>(sys, store.writer, 5s, tf::atom::create_v,
                                             tf::new_user{username, *hash, true, false});
  if (!user)
    return user.error();
  return user->id;
}

/// Writes an admin "tester" (password "<label>-password") and an API token named `label` of
/// theirs straight into the store.
inline caf::expected<api_credentials> make_api_user(caf::actor_system& sys,
                                                    const tf::store_handles& store,
                                                    const std::string& label) {
  using namespace std::chrono_literals;
  auto user_id = make_user(sys, store, "tester", label + "-password");
  if (!user_id)
    return user_id.error();
  api_credentials made{*user_id, tf::new_secret()};
  auto token = tf::http::ask<tf::api_token_info>(
    sys, store.writer, 5s, tf::atom::create_v,
    tf::new_api_token{made.user_id, label, tf::store::sha256_hex(made.token)});
  if (!token)
    return token.error();
  return made;
}

/// Logs in to the daemon on 127.0.0.1:<port> as `username` and creates an API token named
/// `token_name` with the session (its Origin is the daemon's own, as the web UI sends it).
/// The token's plain text.
inline caf::expected<std::string> sign_in_token(uint16_t port, const std::string& username,
                                                const std::string& password,
                                                const std::string& token_name,
                                                client_timeouts t = {}) {
  auto c = bearer_client(port, "", t);
  rapidjson::Document login_body{rapidjson::kObjectType};
  auto& a = login_body.GetAllocator();
  login_body.AddMember("username", rapidjson::Value{username.c_str(), a}, a);
  login_body.AddMember("password", rapidjson::Value{password.c_str(), a}, a);
  rapidjson::StringBuffer login_json;
  rapidjson::Writer<rapidjson::StringBuffer> w{login_json};
  login_body.Accept(w);
  auto login = c.Post("/api/auth/login", login_json.GetString(), "application/json");
  if (!login || login->status != 200)
    return tf::make_error(tf::ec::unavailable,
                          username + " cannot log in: "
                            + (login ? login->body : httplib::to_string(login.error())));
  auto cookie = login->get_header_value("Set-Cookie");
  cookie = cookie.substr(0, cookie.find(';'));
  rapidjson::Document token_body{rapidjson::kObjectType};
  token_body.AddMember("name", rapidjson::Value{token_name.c_str(), token_body.GetAllocator()},
                       token_body.GetAllocator());
  rapidjson::StringBuffer token_json;
  rapidjson::Writer<rapidjson::StringBuffer> tw{token_json};
  token_body.Accept(tw);
  auto made = c.Post("/api/tokens",
                     httplib::Headers{{"Cookie", cookie},
                                      {"Origin", "http://127.0.0.1:" + std::to_string(port)}},
                     token_json.GetString(), "application/json");
  if (!made || made->status != 201)
    return tf::make_error(tf::ec::unavailable,
                          "cannot create an API token: "
                            + (made ? made->body : httplib::to_string(made.error())));
  rapidjson::Document doc;
  doc.Parse(made->body.c_str());
  if (!doc.IsObject() || !doc.HasMember("token") || !doc["token"].IsString())
    return tf::make_error(tf::ec::internal, "no token in " + made->body);
  return std::string{doc["token"].GetString(), doc["token"].GetStringLength()};
}

} // namespace tf::test
