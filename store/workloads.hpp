// Workloads: the one row per project, stack or site that deploys, routes webhooks and
// notifies (store/workload_kinds.hpp creates and deletes them with their row). Writes on
// the store writer's connection, each one transaction; reads on any connection.
#pragma once

#include "core/model.hpp"
#include "store/database.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <string>
#include <string_view>

namespace tf::store {

/// project, stack or site.
bool is_workload_kind(std::string_view s);

caf::error validate_workload(const workload& w);

caf::expected<workload> update_workload(database& db, const patch<workload>& p);
caf::expected<workload> rotate_secrets(database& db, const std::string& workload_id);

caf::expected<workload> get_workload(database& db, const std::string& id);
caf::expected<workload> get_workload_by_ref(database& db, const std::string& kind,
                                            const std::string& ref_id);
caf::expected<page<workload>> list_workloads(database& db, const workload_filter& f);

} // namespace tf::store
