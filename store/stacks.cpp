#include "store/stacks.hpp"

#include "core/clock.hpp"
#include "store/env_json.hpp"
#include "store/query.hpp"
#include "store/validate.hpp"
#include "store/workload_kinds.hpp"

namespace tf::store {

caf::error validate_stack(const stack& s) {
  if (auto err = check_name("name", s.name))
    return err;
  if (s.compose.empty())
    return invalid("compose", "must not be empty");
  if (s.compose.size() > 1024 * 1024)
    return invalid("compose", "larger than 1 MiB");
  return check_env("env", s.env);
}

namespace {

constexpr std::string_view stack_select
  = "SELECT s.id, s.name, s.compose, s.env_json, s.compose_project_name, COALESCE(w.id, ''), "
    "s.created_at, s.updated_at "
    "FROM stacks s LEFT JOIN workloads w ON w.kind = 'stack' AND w.ref_id = s.id ";

const auto read_stack = columns(&stack::id, &stack::name, &stack::compose, &stack::env,
                                &stack::compose_project_name, &stack::workload_id,
                                &stack::created_at, &stack::updated_at);

caf::error insert_stack(database& db, stack& s, const std::string& now) {
  // Derived from the id, not the name, so a rename never orphans running compose containers.
  s.compose_project_name = "tf-" + s.id;
  return run(db,
             "INSERT INTO stacks(id, name, compose, env_json, compose_project_name, "
             "created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
             s.id, s.name, s.compose, s.env, s.compose_project_name, now);
}

caf::error update_stack_row(database& db, const stack& s, const std::string& now) {
  return run(db,
             "UPDATE stacks SET name = ?1, compose = ?2, env_json = ?3, updated_at = ?4 "
             "WHERE id = ?5",
             s.name, s.compose, s.env, now, s.id);
}

const workload_kind<stack> stack_kind{"stack", "stacks", {"name", "compose", "env"},
                                      validate_stack, get_stack, insert_stack,
                                      apply_stack_patch, update_stack_row};

} // namespace

void apply_stack_patch(stack& s, const patch<stack>& p) {
  if (p.has("name"))
    s.name = p.value.name;
  if (p.has("compose"))
    s.compose = p.value.compose;
  if (p.has("env"))
    s.env = p.value.env;
}

caf::expected<stack> create_stack(database& db, stack s) {
  return create_of_kind(db, std::move(s), stack_kind);
}

caf::expected<stack> update_stack(database& db, const patch<stack>& p) {
  return update_of_kind(db, p, stack_kind);
}

caf::error delete_stack(database& db, const std::string& id) {
  return delete_of_kind(db, id, stack_kind);
}

caf::expected<stack> get_stack(database& db, const std::string& id) {
  static const auto sql = concat(stack_select, "WHERE s.id = ?1");
  return one(db, sql, "stack", id, read_stack);
}

caf::error set_stack_variable(database& db, const std::string& stack_id, const std::string& name,
                              const std::string& value) {
  auto env = one(db, "SELECT env_json FROM stacks WHERE id = ?1", "stack", stack_id,
                 text_of_first_column);
  if (!env)
    return env.error();
  auto vars = decode_env(*env);
  vars[name] = value;
  return run(db, "UPDATE stacks SET env_json = ?1, updated_at = ?2 WHERE id = ?3",
             encode_env(vars), now_utc(), stack_id);
}

caf::expected<page<stack>> list_stacks(database& db, int64_t limit, int64_t offset) {
  static const auto sql = concat(stack_select, "ORDER BY s.name LIMIT ?1 OFFSET ?2");
  return paged(db, {sql, "SELECT COUNT(*) FROM stacks"}, limit, offset, read_stack);
}

} // namespace tf::store
