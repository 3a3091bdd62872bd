#include "store/users.hpp"

#include "core/errors.hpp"
#include "core/clock.hpp"
#include "core/ids.hpp"
#include "store/reads.hpp"

#include <chrono>

namespace tf::store {

namespace {

caf::error not_found(const std::string& what) {
  return make_error(ec::not_found, what);
}

api_token_info token_from(const statement& st) {
  api_token_info t;
  t.id = st.text(0);
  t.user_id = st.text(1);
  t.name = st.text(2);
  t.created_at = st.text(3);
  t.last_used_at = st.text(4);
  t.revoked_at = st.text(5);
  return t;
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
  auto tx = transaction::begin(db);
  if (!tx)
    return tx.error();
  if (u.only_if_none) {
    auto n = count_users(db);
    if (!n)
      return n.error();
    if (*n > 0)
      return make_error(ec::conflict, "a user exists already");
  }
  user_record r;
  r.id = new_id();
  r.username = u.username;
  r.password_hash = u.password_hash;
  r.is_admin = u.is_admin;
  r.created_at = now_utc();
  auto st = db.prepare("INSERT INTO users (id, username, password_hash, is_admin, created_at, "
                       "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)");
  if (!st)
    return st.error();
  st->bind(1, r.id).bind(2, r.username).bind(3, r.password_hash).bind(4, r.is_admin)
    .bind(5, r.created_at);
  if (auto err = st->run()) {
    if (error_code(err) == ec::conflict)
      return make_error(ec::conflict, "a user named \"" + u.username + "\" already exists");
    return err;
  }
  if (auto err = tx->commit())
    return err;
  return r;
}

caf::expected<std::string> create_session(database& db, const new_session& s) {
  auto tx = transaction::begin(db);
  if (!tx)
    return tx.error();
  // Expired sessions are swept here, on the rare login write, never on a read.
  auto now = now_utc();
  auto sweep = db.prepare("DELETE FROM sessions WHERE expires_at <= ?1");
  if (!sweep)
    return sweep.error();
  sweep->bind(1, now);
  if (auto err = sweep->run())
    return err;
  auto id = new_id();
  auto st = db.prepare("INSERT INTO sessions (id, user_id, token_hash, source_addr, created_at, "
                       "expires_at, last_seen_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?5)");
  if (!st)
    return st.error();
  st->bind(1, id).bind(2, s.user_id).bind(3, s.token_hash).bind(4, s.source_addr.substr(0, 64))
    .bind(5, now).bind(6, s.expires_at);
  if (auto err = st->run())
    return err;
  if (auto err = tx->commit())
    return err;
  return id;
}

caf::error delete_session(database& db, const std::string& token_hash) {
  auto tx = transaction::begin(db);
  if (!tx)
    return tx.error();
  auto st = db.prepare("DELETE FROM sessions WHERE token_hash = ?1");
  if (!st)
    return st.error();
  st->bind(1, token_hash);
  if (auto err = st->run())
    return err;
  return tx->commit();
}

caf::expected<api_token_info> create_api_token(database& db, const new_api_token& t) {
  if (auto err = validate_token_name(t.name))
    return err;
  auto tx = transaction::begin(db);
  if (!tx)
    return tx.error();
  api_token_info info;
  info.id = new_id();
  info.user_id = t.user_id;
  info.name = t.name;
  info.created_at = now_utc();
  auto st = db.prepare("INSERT INTO api_tokens (id, user_id, name, token_hash, created_at) "
                       "VALUES (?1, ?2, ?3, ?4, ?5)");
  if (!st)
    return st.error();
  st->bind(1, info.id).bind(2, t.user_id).bind(3, t.name).bind(4, t.token_hash)
    .bind(5, info.created_at);
  if (auto err = st->run())
    return err;
  if (auto err = tx->commit())
    return err;
  return info;
}

caf::error revoke_api_token(database& db, const token_revocation& r) {
  auto tx = transaction::begin(db);
  if (!tx)
    return tx.error();
  auto st = db.prepare("UPDATE api_tokens SET revoked_at = ?1 "
                       "WHERE id = ?2 AND user_id = ?3 AND revoked_at = ''");
  if (!st)
    return st.error();
  st->bind(1, now_utc()).bind(2, r.id).bind(3, r.user_id);
  if (auto err = st->run())
    return err;
  if (st->changes() == 0)
    return not_found("no token with id \"" + r.id.substr(0, 80) + "\"");
  return tx->commit();
}

caf::error touch_api_token(database& db, const std::string& id, int64_t min_gap_s) {
  auto now = std::chrono::system_clock::now();
  auto tx = transaction::begin(db);
  if (!tx)
    return tx.error();
  auto st = db.prepare("UPDATE api_tokens SET last_used_at = ?1 WHERE id = ?2 "
                       "AND last_used_at < ?3");
  if (!st)
    return st.error();
  st->bind(1, format_utc(now)).bind(2, id)
    .bind(3, format_utc(now - std::chrono::seconds{min_gap_s}));
  if (auto err = st->run())
    return err;
  return tx->commit();
}

caf::error set_totp(database& db, const totp_setting& t) {
  auto tx = transaction::begin(db);
  if (!tx)
    return tx.error();
  auto st = db.prepare("UPDATE users SET totp_secret = ?1, updated_at = ?2 WHERE id = ?3");
  if (!st)
    return st.error();
  st->bind(1, t.secret).bind(2, now_utc()).bind(3, t.user_id);
  if (auto err = st->run())
    return err;
  if (st->changes() == 0)
    return not_found("no such user");
  return tx->commit();
}

caf::error append_audit(database& db, const audit_entry& e) {
  auto tx = transaction::begin(db);
  if (!tx)
    return tx.error();
  auto st = db.prepare("INSERT INTO audit_log (at, actor, action, target_kind, target_id, "
                       "detail_json, source_addr) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  if (!st)
    return st.error();
  st->bind(1, now_utc()).bind(2, e.actor).bind(3, e.action).bind(4, e.target_kind)
    .bind(5, e.target_id).bind(6, e.detail_json.empty() ? std::string{"{}"} : e.detail_json)
    .bind(7, e.source_addr.substr(0, 64));
  if (auto err = st->run())
    return err;
  return tx->commit();
}

caf::expected<user_record> find_user(database& db, const std::string& username) {
  auto st = db.prepare("SELECT id, username, password_hash, is_admin, created_at, totp_secret "
                       "FROM users WHERE username = ?1");
  if (!st)
    return st.error();
  st->bind(1, username);
  if (!st->step())
    return st->error() ? st->error() : not_found("no such user");
  user_record r;
  r.id = st->text(0);
  r.username = st->text(1);
  r.password_hash = st->text(2);
  r.is_admin = st->integer(3) != 0;
  r.created_at = st->text(4);
  r.totp_secret = st->text(5);
  return r;
}

caf::expected<int64_t> count_users(database& db) {
  auto st = db.prepare("SELECT COUNT(*) FROM users");
  if (!st)
    return st.error();
  if (!st->step())
    return st->error() ? st->error() : make_error(ec::database, "no count");
  return st->integer(0);
}

caf::expected<identity> resolve_credential(database& db, const credential& c) {
  const bool session = c.kind == "session";
  if (!session && c.kind != "token")
    return make_error(ec::invalid_argument, "unknown credential kind");
  auto st = db.prepare(
    session ? "SELECT u.id, u.username, s.id, '' FROM sessions s JOIN users u ON u.id = s.user_id "
              "WHERE s.token_hash = ?1 AND s.expires_at > ?2"
            : "SELECT u.id, u.username, t.id, t.last_used_at FROM api_tokens t "
              "JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?1 AND t.revoked_at = '' "
              "AND ?2 <> ''");
  if (!st)
    return st.error();
  st->bind(1, c.token_hash).bind(2, now_utc());
  if (!st->step())
    return st->error() ? st->error() : not_found("no such credential");
  identity id;
  id.user_id = st->text(0);
  id.username = st->text(1);
  id.via = c.kind;
  id.credential_id = st->text(2);
  id.last_used_at = st->text(3);
  return id;
}

caf::expected<page<api_token_info>> list_api_tokens(database& db, const std::string& user_id,
                                                    int64_t limit, int64_t offset) {
  clamp_page(limit, offset);
  read_snapshot snapshot{db}; // the page and its total from one commit
  if (snapshot.error())
    return snapshot.error();
  auto st = db.prepare("SELECT id, user_id, name, created_at, last_used_at, revoked_at "
                       "FROM api_tokens WHERE user_id = ?1 ORDER BY created_at DESC, id "
                       "LIMIT ?2 OFFSET ?3");
  if (!st)
    return st.error();
  st->bind(1, user_id).bind(2, limit).bind(3, offset);
  page<api_token_info> out;
  while (st->step())
    out.items.push_back(token_from(*st));
  if (st->error())
    return st->error();
  auto total = db.prepare("SELECT COUNT(*) FROM api_tokens WHERE user_id = ?1");
  if (!total)
    return total.error();
  total->bind(1, user_id);
  if (!total->step())
    return total->error() ? total->error() : make_error(ec::database, "count failed");
  out.total = total->integer(0);
  return out;
}

caf::expected<std::vector<audit_row>> list_audit(database& db, int64_t limit) {
  auto st = db.prepare("SELECT id, at, actor, action, target_kind, target_id, detail_json, "
                       "source_addr FROM audit_log ORDER BY id DESC LIMIT ?1");
  if (!st)
    return st.error();
  st->bind(1, limit);
  std::vector<audit_row> out;
  while (st->step()) {
    audit_row r;
    r.id = st->integer(0);
    r.at = st->text(1);
    r.entry.actor = st->text(2);
    r.entry.action = st->text(3);
    r.entry.target_kind = st->text(4);
    r.entry.target_id = st->text(5);
    r.entry.detail_json = st->text(6);
    r.entry.source_addr = st->text(7);
    out.push_back(std::move(r));
  }
  if (st->error())
    return st->error();
  return out;
}

} // namespace tf::store
