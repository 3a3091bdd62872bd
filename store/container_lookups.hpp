// Lookups the container index's writers share: a workload's kind, a stack's workload by its
// compose project name. Internal to store/ (the deployer's upsert and the reconciler's batch).
#pragma once

#include "store/database.hpp"

#include <caf/expected.hpp>

#include <string>

namespace tf::store {

/// The kind of a workload, or an empty string when no such workload exists.
caf::expected<std::string> workload_kind(database& db, const std::string& workload_id);

/// The workload of the stack with this compose project name (an index lookup), or an empty
/// string when there is none.
caf::expected<std::string> stack_workload_by_compose_project(database& db,
                                                             const std::string& name);

} // namespace tf::store
