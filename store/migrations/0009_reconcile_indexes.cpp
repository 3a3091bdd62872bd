// Step 9: the missing sweep reads only the rows it may mark. The sweep of one host compares
// every live row (a container id, not missing yet) with what Docker lists; the index of step 1
// also held the rows already missing, which pile up (a first boot on a copied data dir sweeps
// them all) and were read again on every tick. This one holds the live rows only, with their
// container id, so the sweep's NOT IN test reads the index and not the table.
#include "store/migrations.hpp"

namespace tf::store::steps {

const migration m0009_reconcile_indexes{9, "the missing sweep reads live rows only", R"sql(
DROP INDEX IF EXISTS idx_containers_sweep;
CREATE INDEX idx_containers_live ON containers(host, container_id)
  WHERE container_id != '' AND state != 'missing';
)sql"};

} // namespace tf::store::steps
