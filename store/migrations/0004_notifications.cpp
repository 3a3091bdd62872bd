// Step 4: the notification log. Every attempt to POST an event (deploy.started ...) to a
// workload's notification_url leaves a row: which event, where to (the URL without its
// credentials and query string, which may hold secrets), which attempt of which delivery,
// what the receiver answered or why nothing came back, and how that attempt ended
// (delivered, retrying, failed for good, or dropped from a full queue). The log is bounded
// per workload: the store writer prunes the oldest rows in the transaction that adds one.
#include "store/migrations.hpp"

namespace tf::store::steps {

const migration m0004_notifications{4, "notification attempts", R"sql(
CREATE TABLE notification_attempts (
  id            TEXT PRIMARY KEY,
  workload_id   TEXT NOT NULL REFERENCES workloads(id) ON DELETE CASCADE,
  -- The attempts of one event share it; the receiver sees it as X-Tinyforge-Delivery.
  delivery_id   TEXT NOT NULL,
  event         TEXT NOT NULL,
  url           TEXT NOT NULL DEFAULT '',
  -- 1 for the first attempt; 0 for an event dropped before it was ever sent.
  attempt       INTEGER NOT NULL DEFAULT 0,
  -- The HTTP status answered, 0 when none was (refused, timed out, dropped).
  status        INTEGER NOT NULL DEFAULT 0,
  error         TEXT NOT NULL DEFAULT '',
  outcome       TEXT NOT NULL CHECK (outcome IN ('delivered', 'retrying', 'failed', 'dropped')),
  at            TEXT NOT NULL
);

-- A workload's log, newest first, and its pruning.
CREATE INDEX idx_notification_attempts_workload ON notification_attempts(workload_id, at);
)sql"};

} // namespace tf::store::steps
