// The reconciler's writes to the container index: what Docker reports (reconcile_containers)
// and the sweep of rows whose container Docker no longer lists (sweep_missing). They run on
// every tick over every container of a host, so each of their statements has one index that
// makes its cost that of the rows it touches; reconcile_statements() names them all, for the
// test that keeps their plans so (tests/query_plan_test.cpp).
#pragma once

#include "core/model.hpp"
#include "store/database.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace tf::store {

/// Writes what Docker reports, in one transaction: project rows are only updated (matched by
/// row id, else by container id, within the labelled workload), stack and site rows are
/// upserted by row id with only Docker's fields on a conflict; a compose container's stack is
/// the one of its compose project. Forged labels and rows of another workload are rejected.
caf::expected<reconcile_result> reconcile_containers(database& db,
                                                     const std::vector<observed_container>& xs);
/// Marks rows whose container Docker no longer lists as missing; replies those rows.
caf::expected<std::vector<container_change>> sweep_missing(database& db,
                                                           const missing_sweep& sweep);
/// sweep_missing, counted.
caf::expected<int64_t> mark_missing(database& db, const missing_sweep& sweep);

/// Every statement reconcile_containers and sweep_missing run, per row or per batch: a name
/// and the exact SQL.
std::vector<std::pair<std::string_view, std::string_view>> reconcile_statements();

} // namespace tf::store
