// Step 5: two more delivery results. "ignored" is a well-formed delivery that asks for no
// deploy (GitHub's ping, a branch push, another package's event, an untagged image version)
// and is answered 200 so the sender does not show the hook as failing; "unchanged" asked
// for the tag its stage already serves or already has on its way, and started nothing.
// SQLite cannot change a CHECK constraint in place: the table is rebuilt with the same
// columns, rows and indexes. No other table refers to it.
#include "store/migrations.hpp"

namespace tf::store::steps {

const migration m0005_delivery_results{5, "delivery results ignored and unchanged", R"sql(
CREATE TABLE webhook_deliveries_new (
  id             TEXT PRIMARY KEY,
  workload_id    TEXT NOT NULL REFERENCES workloads(id) ON DELETE CASCADE,
  received_at    TEXT NOT NULL,
  source_addr    TEXT NOT NULL DEFAULT '',
  -- The sender's delivery id (X-GitHub-Delivery ...); '' when it sent none.
  delivery_id    TEXT NOT NULL DEFAULT '',
  event          TEXT NOT NULL DEFAULT '',
  -- none | tinyforge | github | gitea | gitlab | replay
  signature      TEXT NOT NULL DEFAULT '',
  result         TEXT NOT NULL CHECK (result IN
                   ('accepted', 'duplicate', 'rejected', 'ignored', 'unchanged')),
  status         INTEGER NOT NULL,
  tag            TEXT NOT NULL DEFAULT '',
  stage          TEXT NOT NULL DEFAULT '',
  deployment_id  TEXT NOT NULL DEFAULT '',
  -- Why it was refused, ignored or unchanged.
  error          TEXT NOT NULL DEFAULT '',
  -- The delivery this one replayed, '' for one received from outside.
  replay_of      TEXT NOT NULL DEFAULT '',
  body           BLOB NOT NULL DEFAULT x'',
  body_truncated INTEGER NOT NULL DEFAULT 0,
  headers_json   TEXT NOT NULL DEFAULT '{}'
);
-- rowid is kept: the log's order and its pruning break ties of received_at by it.
INSERT INTO webhook_deliveries_new(rowid, id, workload_id, received_at, source_addr,
  delivery_id, event, signature, result, status, tag, stage, deployment_id, error, replay_of,
  body, body_truncated, headers_json)
SELECT rowid, id, workload_id, received_at, source_addr, delivery_id, event, signature, result,
  status, tag, stage, deployment_id, error, replay_of, body, body_truncated, headers_json
FROM webhook_deliveries;
DROP TABLE webhook_deliveries;
ALTER TABLE webhook_deliveries_new RENAME TO webhook_deliveries;

CREATE INDEX idx_webhook_deliveries_dedupe ON webhook_deliveries(workload_id, delivery_id)
  WHERE delivery_id != '';
CREATE INDEX idx_webhook_deliveries_workload ON webhook_deliveries(workload_id, received_at);
CREATE INDEX idx_webhook_deliveries_received ON webhook_deliveries(received_at);
)sql"};

} // namespace tf::store::steps
