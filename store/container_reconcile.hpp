// The reconciler's writes to the container index: what Docker reports (reconcile_containers)
// and the sweep of rows whose container Docker no longer lists (sweep_missing). They run on
// every tick over every container of a host, so each of their statements has one index that
// makes its cost that of the rows it touches; reconcile_statements() names them all, for the
// test that keeps their plans so (tests/query_plan_test.cpp).
//
// A container found as it was is not written: a live row's last sighting is the later of
// its own last_seen_at (written when the row last changed) and its host's latest full
// listing, which sweep_missing records once per tick. Reads show that (host_sightings); a
// row that goes missing keeps it.
#pragma once

#include "core/model.hpp"
#include "store/database.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tf::store {

/// Writes what Docker reports, in one transaction: project rows are only updated (matched by
/// row id, else by container id, within the labelled workload), stack and site rows are
/// upserted by row id with only Docker's fields on a conflict; a compose container's stack is
/// the one of its compose project; a row whose Docker fields are as observed is left as it
/// is. Forged labels and rows of another workload are rejected.
caf::expected<reconcile_result> reconcile_containers(database& db,
                                                     const std::vector<observed_container>& xs);
/// Marks rows whose container Docker no longer lists as missing and records the listing as
/// the host's latest (the last sighting of its live rows), in one transaction; replies the
/// rows it marked.
caf::expected<std::vector<container_change>> sweep_missing(database& db,
                                                           const missing_sweep& sweep);
/// sweep_missing, counted.
caf::expected<int64_t> mark_missing(database& db, const missing_sweep& sweep);

/// The hosts' latest full listings, read once per read of the index (a row per host), and
/// the last sighting of a row they give.
class host_sightings {
public:
  static caf::expected<host_sightings> read(database& db);

  /// A row's last sighting: its own last_seen_at, or its host's latest listing when the row
  /// is live (started, not missing) and the listing is later. A view of `own` or of this
  /// object.
  std::string_view last_seen(std::string_view host, std::string_view state,
                             std::string_view container_id, std::string_view own) const;

private:
  std::vector<std::pair<std::string, std::string>> listed_at_; // host -> listed at
};

/// Every statement reconcile_containers and sweep_missing run, per row or per batch: a name
/// and the exact SQL.
std::vector<std::pair<std::string_view, std::string_view>> reconcile_statements();

} // namespace tf::store
