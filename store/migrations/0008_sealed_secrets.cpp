// Step 8: workload secrets are kept sealed (store/secrets.hpp). A sealed value differs on
// every write, so webhooks are routed by an HMAC of the secret under the key, in its own
// unique index, instead of the secret itself. The check row proves, at every start, that the
// key file is the one the secrets were sealed with. Sealing the rows already kept needs the
// key, so it is C++: unlock_secrets() seals what this step leaves in plain form.
#include "store/migrations.hpp"

namespace tf::store::steps {

const migration m0008_sealed_secrets{8, "workload secrets sealed; webhooks routed by HMAC", R"sql(
ALTER TABLE workloads ADD COLUMN webhook_secret_lookup TEXT NOT NULL DEFAULT '';
DROP INDEX IF EXISTS idx_workloads_webhook_secret;
CREATE UNIQUE INDEX idx_workloads_webhook_lookup ON workloads(webhook_secret_lookup)
  WHERE webhook_secret_lookup != '';
CREATE TABLE secret_key_check (
  id     INTEGER PRIMARY KEY CHECK (id = 1),
  sealed TEXT NOT NULL
);
)sql"};

} // namespace tf::store::steps
