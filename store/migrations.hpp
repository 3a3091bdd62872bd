// Versioned schema migrations. Each step lives in its own file under store/migrations/,
// runs in one transaction together with the row that records it, and never runs twice.
#pragma once

#include "store/database.hpp"

#include <caf/error.hpp>

#include <cstdint>
#include <string_view>
#include <vector>

namespace tf::store {

struct migration {
  int64_t version;
  std::string_view name;
  std::string_view sql;
};

/// Every step, in version order.
const std::vector<migration>& migrations();

/// Applies the steps newer than the database's version. Returns how many ran.
caf::expected<int> migrate(database& db);

/// The highest version recorded in the database (0 for a new file).
caf::expected<int64_t> schema_version(database& db);

namespace steps {
extern const migration m0001_initial;
extern const migration m0002_proxy_routes;
extern const migration m0003_webhook_deliveries;
extern const migration m0004_notifications;
extern const migration m0005_delivery_results;
extern const migration m0006_delivery_codes;
extern const migration m0008_sealed_secrets;
extern const migration m0009_reconcile_indexes;
extern const migration m0010_list_indexes;
extern const migration m0011_delivery_signed_key;
extern const migration m0012_drop_delivery_received_index;
extern const migration m0013_route_owners;
extern const migration m0014_workload_row_ids;
extern const migration m0015_stack_routes;
extern const migration m0016_host_listings;
extern const migration m0017_accepted_delivery_indexes;
} // namespace steps

} // namespace tf::store
