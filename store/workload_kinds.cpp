#include "store/workload_kinds.hpp"

#include "store/secrets.hpp"

namespace tf::store {

// A new workload requires signed webhooks (issue 13): its webhook URL alone, which CI logs
// and screenshots show, must not be enough to deploy. Unsigned senders are allowed by
// setting webhook_require_signature false.
caf::error insert_workload(database& db, const char* kind, const std::string& ref_id,
                           const std::string& name, const std::string& now) {
  auto s = new_sealed_secrets(db);
  if (!s)
    return s.error();
  return run(db,
             "INSERT INTO workloads(id, kind, ref_id, name, notification_secret, "
             "webhook_secret, webhook_signing_secret, webhook_secret_lookup, "
             "webhook_require_signature, created_at, updated_at) "
             "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1, ?9, ?9)",
             new_id(), kind, ref_id, name, s->notification, s->webhook, s->signing,
             s->webhook_lookup, now);
}

caf::error rename_workload(database& db, const char* kind, const std::string& ref_id,
                           const std::string& name, const std::string& now) {
  return run(db, "UPDATE workloads SET name = ?1, updated_at = ?2 WHERE kind = ?3 AND ref_id = ?4",
             name, now, kind, ref_id);
}

caf::error delete_with_workload(database& db, const char* kind, std::string_view delete_sql,
                                const std::string& id) {
  return in_transaction(db, [&]() -> caf::error {
    if (auto err = run(db, "DELETE FROM workloads WHERE kind = ?1 AND ref_id = ?2", kind, id))
      return err;
    return run_on_one(db, delete_sql, kind, id, id);
  });
}

} // namespace tf::store
