// Users, sessions, second factors and API tokens as the HTTP API shows them.
#pragma once

#include "core/auth_model.hpp"
#include "net/json.hpp"

#include <string>
#include <string_view>

namespace tf::http {

/// {"user":{"id","username"}} after a login or the first-run setup.
void write_session_user(net::json_writer& w, const std::string& id, const std::string& username);

/// {"user":{"id","username"},"via","totp_enabled"}: who the caller is, how it
/// authenticated, and whether its logins ask for a TOTP code.
void write_current_user(net::json_writer& w, const std::string& id, const std::string& username,
                        std::string_view via, bool totp_enabled);

/// {"secret","otpauth_url"}: a new TOTP secret for an authenticator app.
void write_totp_enrollment(net::json_writer& w, const std::string& username,
                           const std::string& secret);

/// A token as listed: never its value.
void write_token(net::json_writer& w, const api_token_info& t);

/// A token just made: {"id","name","token","created_at"}, the one time its value is shown.
void write_new_token(net::json_writer& w, const api_token_info& t, const std::string& value);

} // namespace tf::http
