// Step 1: the whole schema of the product spec (section 2) and the seed's data model.
// Foreign keys cascade from a workload to its containers and deployments, so deleting a
// project, stack or site (and its workload, in the same transaction) leaves nothing behind.
#include "store/migrations.hpp"

namespace tf::store::steps {

const migration m0001_initial{1, "initial schema", R"sql(
CREATE TABLE users (
  id            TEXT PRIMARY KEY,
  username      TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  totp_secret   TEXT NOT NULL DEFAULT '',
  is_admin      INTEGER NOT NULL DEFAULT 0,
  created_at    TEXT NOT NULL,
  updated_at    TEXT NOT NULL
);

-- The cookie holds a random token; only its hash is stored here.
CREATE TABLE sessions (
  id           TEXT PRIMARY KEY,
  user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  token_hash   TEXT NOT NULL UNIQUE,
  csrf_token   TEXT NOT NULL DEFAULT '',
  source_addr  TEXT NOT NULL DEFAULT '',
  created_at   TEXT NOT NULL,
  expires_at   TEXT NOT NULL,
  last_seen_at TEXT NOT NULL DEFAULT ''
);
CREATE INDEX idx_sessions_user    ON sessions(user_id);
CREATE INDEX idx_sessions_expires ON sessions(expires_at);

-- API tokens are shown once; only their hash is stored.
CREATE TABLE api_tokens (
  id           TEXT PRIMARY KEY,
  user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  name         TEXT NOT NULL,
  token_hash   TEXT NOT NULL UNIQUE,
  last_used_at TEXT NOT NULL DEFAULT '',
  created_at   TEXT NOT NULL,
  revoked_at   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX idx_api_tokens_user ON api_tokens(user_id);

CREATE TABLE settings (
  key        TEXT PRIMARY KEY,
  value      TEXT NOT NULL,
  updated_at TEXT NOT NULL
);

CREATE TABLE apps (
  id          TEXT PRIMARY KEY,
  name        TEXT NOT NULL UNIQUE,
  description TEXT NOT NULL DEFAULT '',
  created_at  TEXT NOT NULL,
  updated_at  TEXT NOT NULL
);

CREATE TABLE projects (
  id         TEXT PRIMARY KEY,
  name       TEXT NOT NULL UNIQUE,
  image      TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);

CREATE TABLE stages (
  id                 TEXT PRIMARY KEY,
  project_id         TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  name               TEXT NOT NULL,
  subdomain          TEXT NOT NULL DEFAULT '',
  port               INTEGER NOT NULL,
  instances          INTEGER NOT NULL DEFAULT 1,
  env_json           TEXT NOT NULL DEFAULT '{}',
  health_path        TEXT NOT NULL DEFAULT '/',
  health_timeout_ms  INTEGER NOT NULL DEFAULT 2000,
  health_interval_ms INTEGER NOT NULL DEFAULT 1000,
  memory_limit_bytes INTEGER NOT NULL DEFAULT 0,
  cpu_limit_millis   INTEGER NOT NULL DEFAULT 0,
  restart_policy     TEXT NOT NULL DEFAULT 'unless-stopped',
  current_tag        TEXT NOT NULL DEFAULT '',
  previous_tag       TEXT NOT NULL DEFAULT '',
  position           INTEGER NOT NULL DEFAULT 0,
  created_at         TEXT NOT NULL,
  updated_at         TEXT NOT NULL,
  UNIQUE(project_id, name)
);

CREATE TABLE stacks (
  id                   TEXT PRIMARY KEY,
  name                 TEXT NOT NULL UNIQUE,
  compose              TEXT NOT NULL,
  env_json             TEXT NOT NULL DEFAULT '{}',
  compose_project_name TEXT NOT NULL,
  created_at           TEXT NOT NULL,
  updated_at           TEXT NOT NULL
);
-- The reconciler finds a compose container's stack by its project name (seed).
CREATE UNIQUE INDEX idx_stacks_compose_project ON stacks(compose_project_name);

CREATE TABLE static_sites (
  id              TEXT PRIMARY KEY,
  name            TEXT NOT NULL UNIQUE,
  subdomain       TEXT NOT NULL DEFAULT '',
  keep_releases   INTEGER NOT NULL DEFAULT 5,
  current_release TEXT NOT NULL DEFAULT '',
  created_at      TEXT NOT NULL,
  updated_at      TEXT NOT NULL
);

-- One row per project, stack and site, written in the same transaction as its parent.
-- ref_id points into projects, stacks or static_sites depending on kind.
CREATE TABLE workloads (
  id                        TEXT PRIMARY KEY,
  kind                      TEXT NOT NULL CHECK (kind IN ('project', 'stack', 'site')),
  ref_id                    TEXT NOT NULL,
  name                      TEXT NOT NULL,
  app_id                    TEXT REFERENCES apps(id) ON DELETE SET NULL,
  notification_url          TEXT NOT NULL DEFAULT '',
  notification_secret       TEXT NOT NULL DEFAULT '',
  webhook_secret            TEXT NOT NULL DEFAULT '',
  webhook_signing_secret    TEXT NOT NULL DEFAULT '',
  webhook_require_signature INTEGER NOT NULL DEFAULT 0,
  created_at                TEXT NOT NULL,
  updated_at                TEXT NOT NULL,
  UNIQUE(kind, ref_id)
);
CREATE INDEX idx_workloads_app_id ON workloads(app_id);
CREATE INDEX idx_workloads_kind   ON workloads(kind);
-- Webhook routing resolves a secret through this index only (seed).
CREATE UNIQUE INDEX idx_workloads_webhook_secret ON workloads(webhook_secret)
  WHERE webhook_secret != '';

-- The canonical index of every managed container. Deployer-owned fields (stage_id,
-- subdomain, proxy_route_id, npm_proxy_id, image_tag) are written only by upsert;
-- the reconciler's write touches Docker-derived fields only.
CREATE TABLE containers (
  id             TEXT PRIMARY KEY,
  workload_id    TEXT NOT NULL REFERENCES workloads(id) ON DELETE CASCADE,
  workload_kind  TEXT NOT NULL CHECK (workload_kind IN ('project', 'stack', 'site')),
  role           TEXT NOT NULL,
  stage_id       TEXT REFERENCES stages(id) ON DELETE CASCADE,
  container_id   TEXT NOT NULL DEFAULT '',
  image_ref      TEXT NOT NULL DEFAULT '',
  host           TEXT NOT NULL DEFAULT 'local',
  state          TEXT NOT NULL DEFAULT '',
  port           INTEGER NOT NULL DEFAULT 0,
  last_seen_at   TEXT NOT NULL DEFAULT '',
  subdomain      TEXT NOT NULL DEFAULT '',
  proxy_route_id TEXT NOT NULL DEFAULT '',
  npm_proxy_id   INTEGER NOT NULL DEFAULT 0,
  image_tag      TEXT NOT NULL DEFAULT '',
  created_at     TEXT NOT NULL,
  updated_at     TEXT NOT NULL
);
CREATE INDEX idx_containers_workload     ON containers(workload_id);
CREATE INDEX idx_containers_state        ON containers(state);
CREATE INDEX idx_containers_container_id ON containers(container_id);
CREATE INDEX idx_containers_stage_id     ON containers(stage_id);
-- The missing-sweep reads only rows that still name a live container on a host.
CREATE INDEX idx_containers_sweep ON containers(host, state) WHERE container_id != '';

CREATE TABLE deployments (
  id           TEXT PRIMARY KEY,
  workload_id  TEXT NOT NULL REFERENCES workloads(id) ON DELETE CASCADE,
  stage_id     TEXT REFERENCES stages(id) ON DELETE CASCADE,
  tag          TEXT NOT NULL DEFAULT '',
  previous_tag TEXT NOT NULL DEFAULT '',
  status       TEXT NOT NULL CHECK (status IN
                 ('queued', 'running', 'succeeded', 'failed', 'superseded')),
  trigger      TEXT NOT NULL DEFAULT 'api',
  triggered_by TEXT NOT NULL DEFAULT '',
  error        TEXT NOT NULL DEFAULT '',
  created_at   TEXT NOT NULL,
  started_at   TEXT NOT NULL DEFAULT '',
  finished_at  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX idx_deployments_workload ON deployments(workload_id, created_at);
CREATE INDEX idx_deployments_stage    ON deployments(stage_id, created_at);
CREATE INDEX idx_deployments_status   ON deployments(status);

-- A deploy's log, one line per row, so it can be followed while the deploy runs.
CREATE TABLE deployment_logs (
  deployment_id TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
  seq           INTEGER NOT NULL,
  at            TEXT NOT NULL,
  line          TEXT NOT NULL,
  PRIMARY KEY (deployment_id, seq)
);

CREATE TABLE audit_log (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  at          TEXT NOT NULL,
  actor       TEXT NOT NULL,
  action      TEXT NOT NULL,
  target_kind TEXT NOT NULL DEFAULT '',
  target_id   TEXT NOT NULL DEFAULT '',
  detail_json TEXT NOT NULL DEFAULT '{}',
  source_addr TEXT NOT NULL DEFAULT ''
);
CREATE INDEX idx_audit_log_at     ON audit_log(at);
CREATE INDEX idx_audit_log_target ON audit_log(target_kind, target_id);
)sql"};

} // namespace tf::store::steps
