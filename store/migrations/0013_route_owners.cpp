// Step 13: a proxy route belongs to a stage, or to a site or stack as a whole (its workload
// id), so `owner_id` replaces `stage_id` and the foreign key to stages goes: SQLite cannot
// drop a foreign key in place, so both route tables are rebuilt and renamed back (the slots'
// reference follows the rename). Triggers keep what the cascade did: deleting a stage, or a
// workload (which a project's, stack's or site's delete does in its transaction), deletes its
// route, whose slots cascade, freeing their ports in the same statement.
#include "store/migrations.hpp"

namespace tf::store::steps {

const migration m0013_route_owners{13, "routes owned by stages, sites and stacks", R"sql(
CREATE TABLE proxy_routes_owned (
  id           TEXT PRIMARY KEY,
  owner_id     TEXT NOT NULL UNIQUE, -- a stage's id, or a site's or stack's workload id
  owner_kind   TEXT NOT NULL DEFAULT 'stage' CHECK (owner_kind IN ('stage', 'site', 'stack')),
  host         TEXT NOT NULL,
  health_path  TEXT NOT NULL,
  npm_proxy_id INTEGER NOT NULL DEFAULT 0,
  serving      TEXT NOT NULL DEFAULT '',
  created_at   TEXT NOT NULL,
  updated_at   TEXT NOT NULL
);
INSERT INTO proxy_routes_owned(id, owner_id, host, health_path, npm_proxy_id, serving,
                               created_at, updated_at)
  SELECT id, stage_id, host, health_path, npm_proxy_id, serving, created_at, updated_at
  FROM proxy_routes;

CREATE TABLE route_slots_owned (
  port     INTEGER PRIMARY KEY,
  route_id TEXT NOT NULL REFERENCES proxy_routes_owned(id) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  UNIQUE(route_id, position)
);
INSERT INTO route_slots_owned(port, route_id, position)
  SELECT port, route_id, position FROM route_slots;

DROP TABLE route_slots;
DROP TABLE proxy_routes;
ALTER TABLE proxy_routes_owned RENAME TO proxy_routes;
ALTER TABLE route_slots_owned RENAME TO route_slots;

CREATE TRIGGER routes_follow_stages AFTER DELETE ON stages
BEGIN
  DELETE FROM proxy_routes WHERE owner_id = OLD.id;
END;
CREATE TRIGGER routes_follow_workloads AFTER DELETE ON workloads
BEGIN
  DELETE FROM proxy_routes WHERE owner_id = OLD.id;
END;
)sql"};

} // namespace tf::store::steps
