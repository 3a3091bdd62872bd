// Users, sessions, API tokens and the audit log in SQLite. Writes run in one transaction
// each (the store writer's connection); reads on a reader's connection.
#pragma once

#include "core/auth_model.hpp"
#include "store/database.hpp"
#include "core/model.hpp"

#include <caf/expected.hpp>

#include <string>
#include <vector>

namespace tf::store {

/// Usernames: 1 to 64 of [a-z0-9._-]. Token names: 1 to 64 printable ASCII characters.
caf::error validate_username(const std::string& name);
caf::error validate_token_name(const std::string& name);

// -- writes --

/// Inserts a user (conflict when the name is taken, or with only_if_none when any user
/// exists). The hash is computed by the caller: the writer never spends 100 ms on scrypt.
caf::expected<user_record> create_user(database& db, const new_user& u);

/// Stores a session; replies its row id.
caf::expected<std::string> create_session(database& db, const new_session& s);

/// Deletes the session with this token hash (logout); ok when none is left.
caf::error delete_session(database& db, const std::string& token_hash);

/// Stores an API token; replies it as listed.
caf::expected<api_token_info> create_api_token(database& db, const new_api_token& t);

/// Sets revoked_at on a token of the user; not_found when it is not theirs or already revoked.
caf::error revoke_api_token(database& db, const token_revocation& r);

/// Sets last_used_at to now unless it was set within `min_gap_s` seconds.
caf::error touch_api_token(database& db, const std::string& id, int64_t min_gap_s);

/// Sets (or clears, with "") a user's TOTP secret.
caf::error set_totp(database& db, const totp_setting& t);

/// Appends an audit row.
caf::error append_audit(database& db, const audit_entry& e);

// -- reads --

/// The user named `username` (not_found otherwise).
caf::expected<user_record> find_user(database& db, const std::string& username);

/// How many users exist.
caf::expected<int64_t> count_users(database& db);

/// The identity behind an unexpired session or an unrevoked token (not_found otherwise).
caf::expected<identity> resolve_credential(database& db, const credential& c);

/// A page of the user's tokens (limit, offset), revoked ones included, newest first.
caf::expected<page<api_token_info>> list_api_tokens(database& db, const std::string& user_id,
                                                    int64_t limit, int64_t offset);

/// The newest `limit` audit rows, newest first.
caf::expected<std::vector<audit_row>> list_audit(database& db, int64_t limit);

} // namespace tf::store
