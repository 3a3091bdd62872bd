// Step 6: a delivery records why it was refused (its error code), not the HTTP status it
// was answered with. Which status a result and a code get is the API server's decision
// (http/errors.cpp:webhook_status); the log shows the same status as before, read from the
// two. The codes of the rows already kept are read back from their statuses: 422 was
// no_tag when the message says there was no tag, otherwise no_stage.
#include "store/migrations.hpp"

namespace tf::store::steps {

const migration m0006_delivery_codes{6, "deliveries record their error code", R"sql(
ALTER TABLE webhook_deliveries ADD COLUMN code TEXT NOT NULL DEFAULT '';
UPDATE webhook_deliveries SET code = CASE status
    WHEN 400 THEN 'invalid_argument'
    WHEN 401 THEN 'unauthorized'
    WHEN 404 THEN 'not_found'
    WHEN 409 THEN 'conflict'
    WHEN 413 THEN 'payload_too_large'
    WHEN 422 THEN CASE WHEN error LIKE 'no tag%' THEN 'no_tag' ELSE 'no_stage' END
    WHEN 501 THEN 'not_implemented'
    WHEN 503 THEN 'unavailable'
    ELSE 'internal' END
  WHERE result = 'rejected';
ALTER TABLE webhook_deliveries DROP COLUMN status;
)sql"};

} // namespace tf::store::steps
