// Lookups the container index's writers share: a workload's kind, a stack's workload by its
// compose project name. Internal to store/ (the deployer's upsert and the reconciler's batch).
#pragma once

#include "store/database.hpp"

#include <caf/expected.hpp>

#include <string>
#include <string_view>

namespace tf::store {

/// Their SQL, for the plan test (store/container_reconcile.hpp, reconcile_statements()).
inline constexpr std::string_view workload_kind_sql = "SELECT kind FROM workloads WHERE id = ?1";
/// The stack by its unique compose project, then its workload by the unique (kind, ref_id):
/// two lookups. As a join, statistics of a few workloads made the planner scan them all.
inline constexpr std::string_view stack_workload_by_compose_project_sql =
  "SELECT id FROM workloads WHERE kind = 'stack' "
  "AND ref_id = (SELECT id FROM stacks WHERE compose_project_name = ?1)";

/// The kind of a workload, or an empty string when no such workload exists.
caf::expected<std::string> workload_kind(database& db, const std::string& workload_id);

/// The workload of the stack with this compose project name (an index lookup), or an empty
/// string when there is none.
caf::expected<std::string> stack_workload_by_compose_project(database& db,
                                                             const std::string& name);

} // namespace tf::store
