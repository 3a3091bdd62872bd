#include "http/json_auth.hpp"

#include "http/json_fields.hpp"

namespace tf::http {

namespace {

/// "user": {"id","username"} as a member of an object already open.
void write_user_member(net::json_writer& w, const std::string& id, const std::string& username) {
  w.Key("user");
  w.StartObject();
  net::field(w, "id", id);
  net::field(w, "username", username);
  w.EndObject();
}

} // namespace

void write_session_user(net::json_writer& w, const std::string& id, const std::string& username) {
  w.StartObject();
  write_user_member(w, id, username);
  w.EndObject();
}

void write_current_user(net::json_writer& w, const std::string& id, const std::string& username,
                        std::string_view via, bool totp_enabled) {
  w.StartObject();
  write_user_member(w, id, username);
  net::field(w, "via", via);
  w.Key("totp_enabled");
  w.Bool(totp_enabled);
  w.EndObject();
}

void write_totp_enrollment(net::json_writer& w, const std::string& username,
                           const std::string& secret) {
  w.StartObject();
  net::field(w, "secret", secret);
  net::field(w, "otpauth_url", "otpauth://totp/Tinyforge:" + username + "?secret=" + secret
                                 + "&issuer=Tinyforge");
  w.EndObject();
}

void write_token(net::json_writer& w, const api_token_info& t) {
  w.StartObject();
  write_texts(w, {{"id", t.id}, {"name", t.name}, {"created_at", t.created_at},
                  {"last_used_at", t.last_used_at}, {"revoked_at", t.revoked_at}});
  w.Key("revoked");
  w.Bool(!t.revoked_at.empty());
  w.EndObject();
}

void write_new_token(net::json_writer& w, const api_token_info& t, const std::string& value) {
  w.StartObject();
  write_texts(w, {{"id", t.id}, {"name", t.name}, {"token", value},
                  {"created_at", t.created_at}});
  w.EndObject();
}

} // namespace tf::http
