// Step 12: the delivery log is only ever read per workload (its page, its pruning, a
// replay: every SELECT in store/webhooks.cpp names workload_id first), through the
// workload's indexes; the index on received_at alone served no query and cost every webhook
// delivery one more B-tree insert and, in a burst, one more page in each commit.
#include "store/migrations.hpp"

namespace tf::store::steps {

const migration m0012_drop_delivery_received_index{12, "no index on delivery time alone", R"sql(
DROP INDEX IF EXISTS idx_webhook_deliveries_received;
)sql"};

} // namespace tf::store::steps
