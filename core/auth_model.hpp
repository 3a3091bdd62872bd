// The rows and messages of authentication: users, sessions, API tokens and audit entries.
// Kept apart from core/model.hpp so the workload model and the auth model change alone.
// Secrets never travel in these types: tokens go as their SHA-256, passwords as hashes.
#pragma once

#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace tf {

/// A user as the store keeps it. password_hash is the self-describing scrypt string.
struct user_record {
  std::string id;
  std::string username;
  std::string password_hash;
  bool is_admin = false;
  std::string created_at;
  /// Base32 TOTP secret; "" when the user has no second factor.
  std::string totp_secret;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, user_record& x) {
  return f(caf::meta::type_name("user_record"), x.id, x.username, x.password_hash, x.is_admin,
           x.created_at, x.totp_secret);
}

/// Turns a user's TOTP second factor on (secret) or off ("").
struct totp_setting {
  std::string user_id;
  std::string secret;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, totp_setting& x) {
  return f(caf::meta::type_name("totp_setting"), x.user_id, x.secret);
}

/// A user to create. With only_if_none the write fails (conflict) once any user exists:
/// the first-run paths (setup token, TINYFORGE_ADMIN_PASSWORD) never add a second admin.
struct new_user {
  std::string username;
  std::string password_hash;
  bool is_admin = true;
  bool only_if_none = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, new_user& x) {
  return f(caf::meta::type_name("new_user"), x.username, x.password_hash, x.is_admin,
           x.only_if_none);
}

/// A session to store: the cookie's token only as its hash.
struct new_session {
  std::string user_id;
  std::string token_hash;
  std::string source_addr;
  std::string expires_at;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, new_session& x) {
  return f(caf::meta::type_name("new_session"), x.user_id, x.token_hash, x.source_addr,
           x.expires_at);
}

/// An API token as listed (never its value).
struct api_token_info {
  std::string id;
  std::string user_id;
  std::string name;
  std::string created_at;
  std::string last_used_at;
  std::string revoked_at;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, api_token_info& x) {
  return f(caf::meta::type_name("api_token_info"), x.id, x.user_id, x.name, x.created_at,
           x.last_used_at, x.revoked_at);
}

/// An API token to store: the value only as its hash.
struct new_api_token {
  std::string user_id;
  std::string name;
  std::string token_hash;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, new_api_token& x) {
  return f(caf::meta::type_name("new_api_token"), x.user_id, x.name, x.token_hash);
}

/// Revokes the token `id` of `user_id` (a user can only revoke their own).
struct token_revocation {
  std::string user_id;
  std::string id;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, token_revocation& x) {
  return f(caf::meta::type_name("token_revocation"), x.user_id, x.id);
}

/// A credential to resolve: kind "session" or "token", and the SHA-256 of its value.
struct credential {
  std::string kind;
  std::string token_hash;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, credential& x) {
  return f(caf::meta::type_name("credential"), x.kind, x.token_hash);
}

/// Who a request is: the user, and by which credential ("session" or "token").
struct identity {
  std::string user_id;
  std::string username;
  std::string via;
  /// The session's or token's row id.
  std::string credential_id;
  /// For a token: when it was last used ("" never), so the guard touches it rarely.
  std::string last_used_at;
  /// For a session: when it ends ("" for a token), so the guard's cache never outlives it.
  std::string expires_at;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, identity& x) {
  return f(caf::meta::type_name("identity"), x.user_id, x.username, x.via, x.credential_id,
           x.last_used_at, x.expires_at);
}

/// One audit_log row: who did what to which target, from where.
struct audit_entry {
  std::string actor;
  std::string action;
  std::string target_kind;
  std::string target_id;
  std::string detail_json = "{}";
  std::string source_addr;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, audit_entry& x) {
  return f(caf::meta::type_name("audit_entry"), x.actor, x.action, x.target_kind, x.target_id,
           x.detail_json, x.source_addr);
}

/// An audit row as read back (tests, a future /api/audit).
struct audit_row {
  int64_t id = 0;
  std::string at;
  audit_entry entry;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, audit_row& x) {
  return f(caf::meta::type_name("audit_row"), x.id, x.at, x.entry);
}

} // namespace tf
