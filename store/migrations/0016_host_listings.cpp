// Step 16: when each Docker host was last listed in full. A reconcile tick that finds a
// container as it was writes nothing to its row; the row's last sighting is its host's
// latest listing (store/container_reconcile.hpp), so a tick over 10,000 unchanged rows
// writes one row here instead of rewriting all of them. A rowid table: SQLite's update hook,
// which raises the containers index version, does not see WITHOUT ROWID tables.
#include "store/migrations.hpp"

namespace tf::store::steps {

const migration m0016_host_listings{16, "each host's latest full listing", R"sql(
CREATE TABLE host_listings (
  host      TEXT PRIMARY KEY,
  listed_at TEXT NOT NULL
);
)sql"};

} // namespace tf::store::steps
