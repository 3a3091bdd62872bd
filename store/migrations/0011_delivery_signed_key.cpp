// Step 11: a signed delivery sent again (the same Tinyforge timestamp and MAC, with a changed
// or no delivery id) is found by one index search instead of a visit of every accepted
// signed row of the workload (up to 1,000 rows, each searched for the MAC's text, on every
// delivery: the webhook path's largest cost under a burst). The key is "<timestamp> <MAC>"
// of the kept headers, set on insert (store/webhooks.cpp) and here for the rows already
// kept; '' for a row without both, which the partial index leaves out.
#include "store/migrations.hpp"

namespace tf::store::steps {

const migration m0011_delivery_signed_key{11, "webhook deliveries by signed key", R"sql(
ALTER TABLE webhook_deliveries ADD COLUMN signed_key TEXT NOT NULL DEFAULT '';
UPDATE webhook_deliveries
   SET signed_key = json_extract(headers_json, '$."x-tinyforge-timestamp"') || ' '
                    || json_extract(headers_json, '$."x-tinyforge-signature"')
 WHERE signature = 'tinyforge' AND json_valid(headers_json)
   AND json_type(headers_json, '$."x-tinyforge-timestamp"') = 'text'
   AND json_type(headers_json, '$."x-tinyforge-signature"') = 'text';
CREATE INDEX IF NOT EXISTS idx_webhook_deliveries_signed
  ON webhook_deliveries(workload_id, signed_key) WHERE signed_key != '';
)sql"};

} // namespace tf::store::steps
