// Step 3: the webhook delivery log. Every POST to /api/webhooks/{secret} that names a
// workload leaves a row: when, from where, what it was (event, delivery id), how it was
// answered and which deploy it started. The log is bounded per workload (the writer prunes
// the oldest rows in the transaction that adds one) and keeps a capped copy of the body and
// of a few harmless headers, so a delivery can be replayed. Signature headers are never
// kept: GitLab's X-Gitlab-Token is the secret itself.
//
// workloads.webhook_secret already has a unique index (0001), which is the lookup a
// delivery resolves its workload by.
#include "store/migrations.hpp"

namespace tf::store::steps {

const migration m0003_webhook_deliveries{3, "webhook deliveries", R"sql(
CREATE TABLE webhook_deliveries (
  id             TEXT PRIMARY KEY,
  workload_id    TEXT NOT NULL REFERENCES workloads(id) ON DELETE CASCADE,
  received_at    TEXT NOT NULL,
  source_addr    TEXT NOT NULL DEFAULT '',
  -- The sender's delivery id (X-GitHub-Delivery ...); '' when it sent none.
  delivery_id    TEXT NOT NULL DEFAULT '',
  event          TEXT NOT NULL DEFAULT '',
  -- none | tinyforge | github | gitea | gitlab | replay
  signature      TEXT NOT NULL DEFAULT '',
  result         TEXT NOT NULL CHECK (result IN ('accepted', 'duplicate', 'rejected')),
  status         INTEGER NOT NULL,
  tag            TEXT NOT NULL DEFAULT '',
  stage          TEXT NOT NULL DEFAULT '',
  deployment_id  TEXT NOT NULL DEFAULT '',
  error          TEXT NOT NULL DEFAULT '',
  -- The delivery this one replayed, '' for one received from outside.
  replay_of      TEXT NOT NULL DEFAULT '',
  body           BLOB NOT NULL DEFAULT x'',
  body_truncated INTEGER NOT NULL DEFAULT 0,
  headers_json   TEXT NOT NULL DEFAULT '{}'
);

-- The dedupe lookup: has this workload accepted this delivery id before?
CREATE INDEX idx_webhook_deliveries_dedupe ON webhook_deliveries(workload_id, delivery_id)
  WHERE delivery_id != '';
-- A workload's log, newest first, and its pruning.
CREATE INDEX idx_webhook_deliveries_workload ON webhook_deliveries(workload_id, received_at);
CREATE INDEX idx_webhook_deliveries_received ON webhook_deliveries(received_at);
)sql"};

} // namespace tf::store::steps
