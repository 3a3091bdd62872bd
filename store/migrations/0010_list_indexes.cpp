// Step 10: the containers index is read in one order, (created_at, id), the order of its
// keyset cursor. Each list statement (store/containers.cpp) searches one of these indexes:
// the order alone, or one filter's value followed by the order, so a page reads its rows
// and no more, with no sort. The single-column indexes of step 1 on the workload and the
// stage are prefixes of the new ones and would only cost every write a second entry: they
// go. The one on state stays: the reconcile reads the failed rows from it in rowid order.
#include "store/migrations.hpp"

namespace tf::store::steps {

const migration m0010_list_indexes{10, "containers indexes in list order", R"sql(
CREATE INDEX IF NOT EXISTS idx_containers_created ON containers(created_at, id);
CREATE INDEX IF NOT EXISTS idx_containers_workload_created
  ON containers(workload_id, created_at, id);
CREATE INDEX IF NOT EXISTS idx_containers_kind_created
  ON containers(workload_kind, created_at, id);
CREATE INDEX IF NOT EXISTS idx_containers_state_created ON containers(state, created_at, id);
CREATE INDEX IF NOT EXISTS idx_containers_stage_created ON containers(stage_id, created_at, id);
DROP INDEX IF EXISTS idx_containers_workload;
DROP INDEX IF EXISTS idx_containers_stage_id;
)sql"};

} // namespace tf::store::steps
