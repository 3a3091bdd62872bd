// Queries that read rows. Used by the reader actors, and by the writer to answer with
// what it just stored (inside its transaction).
#pragma once

#include "store/database.hpp"
#include "core/model.hpp"

#include <caf/expected.hpp>

#include <string>

namespace tf::store {

caf::expected<project> get_project(database& db, const std::string& id);
caf::expected<page<project>> list_projects(database& db, int64_t limit, int64_t offset);
caf::expected<stage> get_stage(database& db, const std::string& id);
caf::expected<stack> get_stack(database& db, const std::string& id);
caf::expected<page<stack>> list_stacks(database& db, int64_t limit, int64_t offset);
caf::expected<site> get_site(database& db, const std::string& id);
caf::expected<page<site>> list_sites(database& db, int64_t limit, int64_t offset);
caf::expected<workload> get_workload(database& db, const std::string& id);
caf::expected<workload> get_workload_by_ref(database& db, const std::string& kind,
                                            const std::string& ref_id);
caf::expected<page<workload>> list_workloads(database& db, const workload_filter& f);
caf::expected<container_row> get_container(database& db, const std::string& id);
caf::expected<page<container_row>> list_containers(database& db, const container_filter& f);

/// Lists are bounded: limit is clamped to 1..500 and offset to >= 0.
void clamp_page(int64_t& limit, int64_t& offset);

} // namespace tf::store
