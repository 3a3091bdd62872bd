// Stacks: a compose file and its environment, deployed as one compose project. Writes on
// the store writer's connection, each one transaction; reads on any connection.
#pragma once

#include "core/model.hpp"
#include "store/database.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <string>

namespace tf::store {

caf::error validate_stack(const stack& s);

/// The fields `p` names, set on `s` (what update_stack stores; the stack deployer checks
/// the result with compose first).
void apply_stack_patch(stack& s, const patch<stack>& p);

caf::expected<stack> create_stack(database& db, stack s);
caf::expected<stack> update_stack(database& db, const patch<stack>& p);
caf::error delete_stack(database& db, const std::string& id);

/// Sets one of a stack's variables (a webhook's tag sets TAG), inside the caller's
/// transaction.
caf::error set_stack_variable(database& db, const std::string& stack_id, const std::string& name,
                              const std::string& value);

caf::expected<stack> get_stack(database& db, const std::string& id);
caf::expected<page<stack>> list_stacks(database& db, int64_t limit, int64_t offset);

} // namespace tf::store
