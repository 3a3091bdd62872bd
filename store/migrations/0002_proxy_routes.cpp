// Step 2: proxy routes with the loopback slot ports they own, and the deployments
// journal's phase (the step a running deploy is about to take), for restart recovery.
// A route goes with its stage (and so with its project): the foreign keys cascade, so
// deleting either frees the route's ports in the same statement.
#include "store/migrations.hpp"

namespace tf::store::steps {

const migration m0002_proxy_routes{2, "proxy routes and deployment phase", R"sql(
-- One route per stage. serving lists the slot ports that serve now, comma-separated.
CREATE TABLE proxy_routes (
  id           TEXT PRIMARY KEY,
  stage_id     TEXT NOT NULL UNIQUE REFERENCES stages(id) ON DELETE CASCADE,
  host         TEXT NOT NULL,
  health_path  TEXT NOT NULL,
  npm_proxy_id INTEGER NOT NULL DEFAULT 0,
  serving      TEXT NOT NULL DEFAULT '',
  created_at   TEXT NOT NULL,
  updated_at   TEXT NOT NULL
);

-- A port is a primary key: no two routes can ever own the same one. position orders a
-- route's slots (colour a first, then colour b) and is never renumbered.
CREATE TABLE route_slots (
  port     INTEGER PRIMARY KEY,
  route_id TEXT NOT NULL REFERENCES proxy_routes(id) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  UNIQUE(route_id, position)
);

ALTER TABLE deployments ADD COLUMN phase TEXT NOT NULL DEFAULT '';
)sql"};

} // namespace tf::store::steps
