#include "store/users.hpp"

#include "core/errors.hpp"
#include "core/clock.hpp"
#include "core/ids.hpp"
#include "store/query.hpp"
#include "store/secrets.hpp"

#include <chrono>
#include <optional>

namespace tf::store {

namespace {

caf::error not_found(const std::string& what) {
  return make_error(ec::not_found, what);
}

const auto read_token = columns(&api_token_info::id, &api_token_info::user_id,
                                &api_token_info::name, &api_token_info::created_at,
                                &api_token_info::last_used_at, &api_token_info::revoked_at);

const auto read_user = columns(&user_record::id, &user_record::username,
                               &user_record::password_hash, &user_record::is_admin,
                               &user_record::created_at, &user_record::totp_secret);

audit_row read_audit(const statement& st) {
  audit_row r;
  read_row(st, r.id, r.at, r.entry.actor, r.entry.action, r.entry.target_kind,
           r.entry.target_id, r.entry.detail_json, r.entry.source_addr);
  return r;
}

/// A found row, or ec::not_found with `why`.
template <class T>
caf::expected<T> found_or(caf::expected<std::optional<T>> row, const char* why) {
  if (!row)
    return row.error();
  if (!*row)
    return not_found(why);
  return std::move(**row);
}

} // namespace

caf::error validate_username(const std::string& name) {
  if (name.empty() || name.size() > 64)
    return make_error(ec::invalid_argument, "username: 1 to 64 characters");
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
      return make_error(ec::invalid_argument,
                        "username: only lowercase letters, digits, '.', '_' and '-'");
  return {};
}

caf::error validate_token_name(const std::string& name) {
  if (name.empty() || name.size() > 64)
    return make_error(ec::invalid_argument, "name: 1 to 64 characters");
  for (char c : name)
    if (c < 0x20 || c > 0x7e)
      return make_error(ec::invalid_argument, "name: printable ASCII characters only");
  return {};
}

caf::expected<user_record> create_user(database& db, const new_user& u) {
  if (auto err = validate_username(u.username))
    return err;
  if (u.password_hash.rfind("scrypt$", 0) != 0)
    return make_error(ec::invalid_argument, "password_hash: not a scrypt hash");
  return in_transaction(db, [&]() -> caf::expected<user_record> {
    if (u.only_if_none) {
      auto n = count_users(db);
      if (!n)
        return n.error();
      if (*n > 0)
        return make_error(ec::conflict, "a user exists already");
    }
    user_record r{new_id(), u.username, u.password_hash, u.is_admin, now_utc(), ""};
    if (auto err = run(db,
                       "INSERT INTO users (id, username, password_hash, is_admin, created_at, "
                       "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                       r.id, r.username, r.password_hash, r.is_admin, r.created_at)) {
      if (error_code(err) == ec::conflict)
        return name_taken("a user", u.username);
      return err;
    }
    return r;
  });
}

caf::expected<std::string> create_session(database& db, const new_session& s) {
  return in_transaction(db, [&]() -> caf::expected<std::string> {
    // Expired sessions are swept here, on the rare login write, never on a read.
    auto now = now_utc();
    if (auto err = run(db, "DELETE FROM sessions WHERE expires_at <= ?1", now))
      return err;
    auto id = new_id();
    if (auto err = run(db,
                       "INSERT INTO sessions (id, user_id, token_hash, source_addr, created_at, "
                       "expires_at, last_seen_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?5)",
                       id, s.user_id, s.token_hash, s.source_addr.substr(0, 64), now,
                       s.expires_at))
      return err;
    return id;
  });
}

caf::error delete_session(database& db, const std::string& token_hash) {
  return in_transaction(db, [&] {
    return run(db, "DELETE FROM sessions WHERE token_hash = ?1", token_hash);
  });
}

caf::expected<api_token_info> create_api_token(database& db, const new_api_token& t) {
  if (auto err = validate_token_name(t.name))
    return err;
  return in_transaction(db, [&]() -> caf::expected<api_token_info> {
    api_token_info info{new_id(), t.user_id, t.name, now_utc(), "", ""};
    if (auto err = run(db,
                       "INSERT INTO api_tokens (id, user_id, name, token_hash, created_at) "
                       "VALUES (?1, ?2, ?3, ?4, ?5)",
                       info.id, t.user_id, t.name, t.token_hash, info.created_at))
      return err;
    return info;
  });
}

caf::error revoke_api_token(database& db, const token_revocation& r) {
  return in_transaction(db, [&] {
    return run_on_one(db,
                      "UPDATE api_tokens SET revoked_at = ?1 "
                      "WHERE id = ?2 AND user_id = ?3 AND revoked_at = ''",
                      "token", r.id.substr(0, 80), now_utc(), r.id, r.user_id);
  });
}

caf::error touch_api_token(database& db, const std::string& id, int64_t min_gap_s) {
  auto now = std::chrono::system_clock::now();
  return in_transaction(db, [&] {
    return run(db, "UPDATE api_tokens SET last_used_at = ?1 WHERE id = ?2 AND last_used_at < ?3",
               format_utc(now), id, format_utc(now - std::chrono::seconds{min_gap_s}));
  });
}

caf::error set_totp(database& db, const totp_setting& t) {
  // The TOTP seed is a secret at rest like a workload's: sealed ("" turns TOTP off).
  auto sealed = seal_secret(db, t.secret);
  if (!sealed)
    return sealed.error();
  return in_transaction(db, [&]() -> caf::error {
    auto changed = run_changes(db,
                               "UPDATE users SET totp_secret = ?1, updated_at = ?2 WHERE id = ?3",
                               *sealed, now_utc(), t.user_id);
    if (!changed)
      return changed.error();
    return *changed == 0 ? not_found("no such user") : caf::error{};
  });
}

caf::error append_audit(database& db, const audit_entry& e) {
  return in_transaction(db, [&] {
    return run(db,
               "INSERT INTO audit_log (at, actor, action, target_kind, target_id, "
               "detail_json, source_addr) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
               now_utc(), e.actor, e.action, e.target_kind, e.target_id,
               e.detail_json.empty() ? std::string{"{}"} : e.detail_json,
               e.source_addr.substr(0, 64));
  });
}

caf::expected<user_record> find_user(database& db, const std::string& username) {
  auto user = found_or(find_one(db,
                                "SELECT id, username, password_hash, is_admin, created_at, "
                                "totp_secret FROM users WHERE username = ?1",
                                read_user, username),
                       "no such user");
  if (user)
    if (auto err = reveal_secret(db, user->totp_secret))
      return err;
  return user;
}

caf::expected<int64_t> count_users(database& db) {
  return count(db, "SELECT COUNT(*) FROM users");
}

caf::expected<identity> resolve_credential(database& db, const credential& c) {
  const bool session = c.kind == "session";
  if (!session && c.kind != "token")
    return make_error(ec::invalid_argument, "unknown credential kind");
  auto read_identity = [&](const statement& st) {
    identity id;
    read_row(st, id.user_id, id.username, id.credential_id, id.last_used_at, id.expires_at);
    id.via = c.kind;
    return id;
  };
  return found_or(
    find_one(db,
             session ? "SELECT u.id, u.username, s.id, '', s.expires_at FROM sessions s "
                       "JOIN users u ON u.id = s.user_id "
                       "WHERE s.token_hash = ?1 AND s.expires_at > ?2"
                     : "SELECT u.id, u.username, t.id, t.last_used_at, '' FROM api_tokens t "
                       "JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?1 "
                       "AND t.revoked_at = '' AND ?2 <> ''",
             read_identity, c.token_hash, now_utc()),
    "no such credential");
}

caf::expected<page<api_token_info>> list_api_tokens(database& db, const std::string& user_id,
                                                    int64_t limit, int64_t offset) {
  return paged(db,
               {"SELECT id, user_id, name, created_at, last_used_at, revoked_at "
                "FROM api_tokens WHERE user_id = ?3 ORDER BY created_at DESC, id "
                "LIMIT ?1 OFFSET ?2",
                "SELECT COUNT(*) FROM api_tokens WHERE user_id = ?3"},
               limit, offset, read_token, user_id);
}

caf::expected<std::vector<audit_row>> list_audit(database& db, int64_t limit) {
  return select_all(db,
                    "SELECT id, at, actor, action, target_kind, target_id, detail_json, "
                    "source_addr FROM audit_log ORDER BY id DESC LIMIT ?1",
                    read_audit, limit);
}

} // namespace tf::store
