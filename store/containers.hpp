// The container index: one row per container Tinyforge runs (or means to), written by the
// deployers (upsert, delete) and by the reconciler (what Docker reports, and the sweep of
// what it no longer lists). Writes on the store writer's connection; reads on any.
#pragma once

#include "core/model.hpp"
#include "store/container_reconcile.hpp" // the reconciler's writes
#include "store/database.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace tf::store {

/// A state the containers index knows ("" is a row not observed yet).
bool is_container_state(std::string_view s);

caf::error validate_container(const container_row& c);

caf::expected<container_row> upsert_container(database& db, container_row c);
/// The deployer removed the container: its row leaves the index (a missing id is fine).
caf::error delete_container(database& db, const std::string& id);

caf::expected<container_row> get_container(database& db, const std::string& id);
caf::expected<page<container_row>> list_containers(database& db, const container_filter& f);

} // namespace tf::store
