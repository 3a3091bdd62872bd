// Apps: optional groups of workloads. Deleting one leaves its workloads ungrouped
// (workloads.app_id is ON DELETE SET NULL).
#pragma once

#include "core/admin_model.hpp"
#include "store/database.hpp"
#include "core/model.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <string>

namespace tf::store {

/// The longest description an app keeps.
inline constexpr size_t max_app_description = 1024;

caf::error validate_app(const app& a);

// Writes (store writer only), each one transaction.
caf::expected<app> create_app(database& db, app a);
/// Fields: name, description.
caf::expected<app> update_app(database& db, const patch<app>& p);
caf::error delete_app(database& db, const std::string& id);

// Reads.
caf::expected<app> get_app(database& db, const std::string& id);
/// By name; limit and offset clamped as every list's.
caf::expected<page<app>> list_apps(database& db, int64_t limit, int64_t offset);

} // namespace tf::store
