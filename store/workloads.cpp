#include "store/workloads.hpp"

#include "core/clock.hpp"
#include "core/errors.hpp"
#include "core/ids.hpp"
#include "store/query.hpp"
#include "store/secrets.hpp"
#include "store/validate.hpp"

#include <algorithm>

namespace tf::store {

namespace {

constexpr std::string_view workload_select
  = "SELECT id, kind, ref_id, name, COALESCE(app_id, ''), notification_url, "
    "notification_secret, webhook_secret, webhook_signing_secret, webhook_require_signature, "
    "created_at, updated_at FROM workloads ";

const auto read_workload = columns(&workload::id, &workload::kind, &workload::ref_id,
                                   &workload::name, &workload::app_id,
                                   &workload::notification_url, &workload::notification_secret,
                                   &workload::webhook_secret, &workload::webhook_signing_secret,
                                   &workload::webhook_require_signature, &workload::created_at,
                                   &workload::updated_at);

/// The row as read has its secrets sealed; callers get them plain.
caf::error reveal_secrets(const database& db, workload& w) {
  for (auto* field : {&w.notification_secret, &w.webhook_secret, &w.webhook_signing_secret})
    if (auto err = reveal_secret(db, *field))
      return err;
  return {};
}

caf::expected<workload> revealed(const database& db, caf::expected<workload> w) {
  if (w)
    if (auto err = reveal_secrets(db, *w))
      return err;
  return w;
}

} // namespace

bool is_workload_kind(std::string_view s) {
  return s == "project" || s == "stack" || s == "site";
}

caf::error validate_workload(const workload& w) {
  const auto& url = w.notification_url;
  if (!url.empty()) {
    auto http = url.rfind("http://", 0) == 0;
    auto https = url.rfind("https://", 0) == 0;
    if ((!http && !https) || url.size() > 2048 || url.size() <= (https ? 8u : 7u))
      return invalid("notification_url", "must be an http:// or https:// URL");
    if (std::any_of(url.begin(), url.end(),
                    [](char c) { return static_cast<unsigned char>(c) <= 0x20; }))
      return invalid("notification_url", "must not contain spaces or control characters");
  }
  return {};
}

// -- writes -------------------------------------------------------------------

caf::expected<workload> update_workload(database& db, const patch<workload>& p) {
  if (auto err = check_patch_fields(p, {"app_id", "notification_url",
                                        "webhook_require_signature"}))
    return err;
  return in_transaction(db, [&]() -> caf::expected<workload> {
    auto w = get_workload(db, p.id);
    if (!w)
      return w.error();
    if (p.has("app_id"))
      w->app_id = p.value.app_id;
    if (p.has("notification_url"))
      w->notification_url = p.value.notification_url;
    if (p.has("webhook_require_signature"))
      w->webhook_require_signature = p.value.webhook_require_signature;
    if (auto err = validate_workload(*w))
      return err;
    if (!w->app_id.empty()) {
      auto found = exists(db, "SELECT 1 FROM apps WHERE id = ?1", w->app_id);
      if (!found)
        return found.error();
      if (!*found)
        return make_error(ec::invalid_argument, "app_id: no app with id \"" + w->app_id + "\"");
    }
    if (auto err = run(db,
                       "UPDATE workloads SET app_id = ?1, notification_url = ?2, "
                       "webhook_require_signature = ?3, updated_at = ?4 WHERE id = ?5",
                       nullable{w->app_id}, w->notification_url, w->webhook_require_signature,
                       now_utc(), w->id))
      return err;
    return get_workload(db, w->id);
  });
}

caf::expected<workload> rotate_secrets(database& db, const std::string& workload_id) {
  // All three secrets change together in one transaction: a webhook is either routed by the
  // old secret (before commit) or by the new one, never by a rotation that did not commit.
  return in_transaction(db, [&]() -> caf::expected<workload> {
    auto s = new_sealed_secrets(db);
    if (!s)
      return s.error();
    if (auto err = run_on_one(db,
                              "UPDATE workloads SET webhook_secret = ?1, "
                              "webhook_signing_secret = ?2, notification_secret = ?3, "
                              "webhook_secret_lookup = ?4, updated_at = ?5 WHERE id = ?6",
                              "workload", workload_id, s->webhook, s->signing, s->notification,
                              s->webhook_lookup, now_utc(), workload_id))
      return err;
    return get_workload(db, workload_id);
  });
}

// -- reads --------------------------------------------------------------------

caf::expected<workload> get_workload(database& db, const std::string& id) {
  static const auto sql = concat(workload_select, "WHERE id = ?1");
  return revealed(db, one(db, sql, "workload", id, read_workload));
}

caf::expected<workload> get_workload_by_ref(database& db, const std::string& kind,
                                            const std::string& ref_id) {
  static const auto sql = concat(workload_select, "WHERE kind = ?1 AND ref_id = ?2");
  auto found = find_one(db, sql, read_workload, kind, ref_id);
  if (!found)
    return found.error();
  if (!*found)
    return no_such(kind, ref_id);
  return revealed(db, std::move(**found));
}

caf::expected<page<workload>> list_workloads(database& db, const workload_filter& f) {
  // Empty filter values match everything, so one statement serves every combination.
  static constexpr std::string_view where
    = "WHERE (?3 = '' OR kind = ?3) AND (?4 = '' OR app_id = ?4) ";
  static const auto sql = concat(workload_select, where) + "ORDER BY kind, name, id LIMIT ?1 OFFSET ?2";
  static const auto count_sql = concat("SELECT COUNT(*) FROM workloads ", where);
  auto result = paged(db, {sql, count_sql}, f.limit, f.offset, read_workload, f.kind, f.app_id);
  if (result)
    for (auto& w : result->items)
      if (auto err = reveal_secrets(db, w))
        return err;
  return result;
}

} // namespace tf::store
