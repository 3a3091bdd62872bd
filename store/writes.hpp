// Every mutation of the database. Only the store writer actor calls these, on the one
// read-write connection; each function is one transaction that commits whole or not at all.
#pragma once

#include "store/database.hpp"
#include "core/model.hpp"

#include <caf/expected.hpp>

#include <string>
#include <vector>

namespace tf::store {

caf::expected<project> create_project(database& db, project p);
caf::expected<project> update_project(database& db, const patch<project>& p);
caf::error delete_project(database& db, const std::string& id);

caf::expected<stage> create_stage(database& db, stage s);
caf::expected<stage> update_stage(database& db, const patch<stage>& p);
caf::error delete_stage(database& db, const std::string& id);

caf::expected<stack> create_stack(database& db, stack s);
caf::expected<stack> update_stack(database& db, const patch<stack>& p);
caf::error delete_stack(database& db, const std::string& id);

caf::expected<site> create_site(database& db, site s);
caf::expected<site> update_site(database& db, const patch<site>& p);
caf::error delete_site(database& db, const std::string& id);

caf::expected<workload> update_workload(database& db, const patch<workload>& p);
caf::expected<workload> rotate_secrets(database& db, const std::string& workload_id);

caf::expected<container_row> upsert_container(database& db, container_row c);
/// The deployer removed the container: its row leaves the index (a missing id is fine).
caf::error delete_container(database& db, const std::string& id);
caf::expected<reconcile_result> reconcile_containers(database& db,
                                                     const std::vector<observed_container>& xs);
/// Marks rows whose container Docker no longer lists as missing; replies those rows.
caf::expected<std::vector<container_change>> sweep_missing(database& db,
                                                           const missing_sweep& sweep);
/// sweep_missing, counted.
caf::expected<int64_t> mark_missing(database& db, const missing_sweep& sweep);

} // namespace tf::store
