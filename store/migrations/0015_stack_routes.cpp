// Step 15: a stack may name one service and the port it listens on, which the proxy routes
// to the stack's host name (its subdomain, or its name).
#include "store/migrations.hpp"

namespace tf::store::steps {

const migration m0015_stack_routes{15, "a stack's routed service", R"sql(
ALTER TABLE stacks ADD COLUMN route_service TEXT NOT NULL DEFAULT '';
ALTER TABLE stacks ADD COLUMN route_port INTEGER NOT NULL DEFAULT 0;
ALTER TABLE stacks ADD COLUMN subdomain TEXT NOT NULL DEFAULT '';
)sql"};

} // namespace tf::store::steps
