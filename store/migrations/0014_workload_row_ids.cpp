// Step 14: a stack's or site's index row is named workload:role, no longer workload/role
// (core/model.hpp workload_row_id): a '/' in the id left /api/containers/{id}, its logs and
// the per-container actions unable to name the row.
#include "store/migrations.hpp"

namespace tf::store::steps {

const migration m0014_workload_row_ids{14, "stack and site row ids without a slash", R"sql(
UPDATE containers SET id = workload_id || ':' || role
WHERE workload_kind IN ('stack', 'site') AND id = workload_id || '/' || role;
)sql"};

} // namespace tf::store::steps
