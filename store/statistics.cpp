#include "store/statistics.hpp"

#include "store/query.hpp"

#include <sqlite3.h>

namespace tf::store {

namespace {

/// The container index's statistics describe another table than it is now: none while it
/// has rows, or rows grown or shrunk tenfold since (3.46's rule for PRAGMA optimize).
caf::expected<bool> container_stats_stale(database& db) {
  auto rows = count(db, "SELECT COUNT(*) FROM containers");
  if (!rows)
    return rows.error();
  auto has_stats = count(db, "SELECT COUNT(*) FROM sqlite_schema "
                            "WHERE type = 'table' AND name = 'sqlite_stat1'");
  if (!has_stats)
    return has_stats.error();
  if (*has_stats == 0)
    return *rows > 0;
  // The first figure of a stat1 row is the table's row count when ANALYZE ran.
  auto analyzed = count(db, "SELECT COALESCE((SELECT CAST(stat AS INTEGER) FROM sqlite_stat1 "
                            "WHERE tbl = 'containers' ORDER BY idx LIMIT 1), 0)");
  if (!analyzed)
    return analyzed.error();
  if (*analyzed == 0)
    return *rows > 0;
  return *rows >= *analyzed * 10 || *rows * 10 <= *analyzed;
}

} // namespace

caf::error optimize(database& db) {
  if (auto err = db.exec("PRAGMA analysis_limit=400"))
    return err;
  // 3.46 and later: every table, at any time, by the rules SQLite keeps up to date.
  if (sqlite3_libversion_number() >= 3046000)
    return db.exec("PRAGMA optimize=0x10002");
  // Before 3.46 (Debian 12 has 3.40), PRAGMA optimize looks only at the tables this
  // connection's queries have weighed indexes of, and analyzes one only when it lacks
  // statistics or grew 25-fold: at start it does nothing. So the container index, the table
  // that grows with what Docker runs and the one every reconcile tick writes, is analyzed
  // here by 3.46's rule; PRAGMA optimize does what it can for the others.
  auto stale = container_stats_stale(db);
  if (!stale)
    return stale.error();
  if (*stale)
    if (auto err = db.exec("ANALYZE containers"))
      return err;
  return db.exec("PRAGMA optimize");
}

} // namespace tf::store
