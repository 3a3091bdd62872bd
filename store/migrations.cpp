#include "store/migrations.hpp"

#include "core/errors.hpp"
#include "core/clock.hpp"

namespace tf::store {

const std::vector<migration>& migrations() {
  static const std::vector<migration> all{
    steps::m0001_initial,
    steps::m0002_proxy_routes,
    steps::m0003_webhook_deliveries,
    steps::m0004_notifications,
    steps::m0005_delivery_results,
    steps::m0006_delivery_codes,
    steps::m0008_sealed_secrets,
    steps::m0009_reconcile_indexes,
    steps::m0010_list_indexes,
    steps::m0011_delivery_signed_key,
    steps::m0012_drop_delivery_received_index,
    steps::m0013_route_owners,
    steps::m0014_workload_row_ids,
    steps::m0015_stack_routes,
    steps::m0016_host_listings,
    steps::m0017_accepted_delivery_indexes,
  };
  return all;
}

caf::expected<int64_t> schema_version(database& db) {
  if (auto err = db.exec("CREATE TABLE IF NOT EXISTS schema_migrations ("
                         " version INTEGER PRIMARY KEY,"
                         " name TEXT NOT NULL,"
                         " applied_at TEXT NOT NULL)"))
    return err;
  auto st = db.prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
  if (!st)
    return st.error();
  if (!st->step())
    return st->error() ? st->error() : make_error(ec::database, "no schema version");
  return st->integer(0);
}

caf::expected<int> migrate(database& db) {
  auto current = schema_version(db);
  if (!current)
    return current.error();
  const auto& all = migrations();
  if (!all.empty() && *current > all.back().version)
    return make_error(ec::database, "the database has schema version "
                                      + std::to_string(*current)
                                      + ", newer than this binary knows ("
                                      + std::to_string(all.back().version) + ")");
  // Every pending step in one transaction: an upgrade lands whole or not at all (a failing
  // step leaves the schema the old binary knew, not half-way), and a first start commits
  // once instead of once per step (the WAL written once: the fresh start's largest cost).
  auto tx = transaction::begin(db);
  if (!tx)
    return tx.error();
  auto record
    = db.prepare("INSERT INTO schema_migrations(version, name, applied_at) VALUES (?1, ?2, ?3)");
  if (!record)
    return record.error();
  auto now = now_utc();
  int applied = 0;
  for (const auto& step : all) {
    if (step.version <= *current)
      continue;
    if (auto err = db.exec(step.sql))
      return make_error(error_code(err), "migration " + std::to_string(step.version) + " ("
                                           + std::string{step.name}
                                           + "): " + error_message(err));
    if (auto err = record->bind(1, step.version).bind(2, step.name).bind(3, now).run())
      return err;
    record->reset();
    ++applied;
  }
  if (applied > 0)
    if (auto err = tx->commit())
      return err;
  return applied;
}

} // namespace tf::store
