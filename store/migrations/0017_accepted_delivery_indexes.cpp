// Step 17: the two dedupe indexes of the delivery log keep only accepted deliveries. Both
// lookups (a delivery id, a Tinyforge timestamp and MAC, seen before) ask for an accepted row
// only; the other rows (unchanged, duplicate, ignored, rejected: half of a burst that
// alternates two tags) each cost two random index pages in every commit, on insert and again
// when pruned, for no search that could find them.
#include "store/migrations.hpp"

namespace tf::store::steps {

const migration m0017_accepted_delivery_indexes{17, "delivery dedupe indexes of accepted rows", R"sql(
DROP INDEX IF EXISTS idx_webhook_deliveries_dedupe;
CREATE INDEX idx_webhook_deliveries_dedupe ON webhook_deliveries(workload_id, delivery_id)
  WHERE delivery_id != '' AND result = 'accepted';
DROP INDEX IF EXISTS idx_webhook_deliveries_signed;
CREATE INDEX idx_webhook_deliveries_signed ON webhook_deliveries(workload_id, signed_key)
  WHERE signed_key != '' AND result = 'accepted';
)sql"};

} // namespace tf::store::steps
