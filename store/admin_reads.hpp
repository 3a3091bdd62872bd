// Reads behind the admin routes: the proxy routes with their stages and projects, what the
// store tracks (for the stale scan), and the counts /metrics shows.
#pragma once

#include "core/admin_model.hpp"
#include "store/database.hpp"
#include "core/model.hpp"

#include <caf/expected.hpp>

namespace tf::store {

/// Proxy routes ordered by host, each with its stage's and project's id and name.
caf::expected<page<proxy_listing>> list_proxies(database& db, int64_t limit, int64_t offset);

/// Every workload id, every Docker container id the index points at, and each project
/// image repository with the tags its stages still need (current and previous).
caf::expected<tracked_resources> read_tracked_resources(database& db);

/// Container rows by (kind, state), deployments by status, webhook deliveries by result.
caf::expected<store_metrics> read_store_metrics(database& db);

} // namespace tf::store
