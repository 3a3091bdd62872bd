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
  if (!s.subdomain.empty())
    if (auto err = check_name("subdomain", s.subdomain))
      return err;
  if (s.route_service.empty() && s.route_port != 0)
    return invalid("route_port", "needs a route_service to route to");
  if (s.route_service.size() > 255)
    return invalid("route_service", "at most 255 characters");
  if (!s.route_service.empty())
    if (auto err = check_range("route_port", s.route_port, 1, 65535))
      return err;
  return check_env("env", s.env);
}

namespace {

constexpr std::string_view stack_select
  = "SELECT s.id, s.name, s.compose, s.env_json, s.compose_project_name, COALESCE(w.id, ''), "
    "s.route_service, s.route_port, s.subdomain, s.created_at, s.updated_at "
    "FROM stacks s LEFT JOIN workloads w ON w.kind = 'stack' AND w.ref_id = s.id ";

const auto read_stack = columns(&stack::id, &stack::name, &stack::compose, &stack::env,
                                &stack::compose_project_name, &stack::workload_id,
                                &stack::route_service, &stack::route_port, &stack::subdomain,
                                &stack::created_at, &stack::updated_at);

caf::error insert_stack(database& db, stack& s, const std::string& now) {
  // Derived from the id, not the name, so a rename never orphans running compose containers.
  s.compose_project_name = "tf-" + s.id;
  return run(db,
             "INSERT INTO stacks(id, name, compose, env_json, compose_project_name, "
             "route_service, route_port, subdomain, created_at, updated_at) "
             "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
             s.id, s.name, s.compose, s.env, s.compose_project_name, s.route_service,
             s.route_port, s.subdomain, now);
}

caf::error update_stack_row(database& db, const stack& s, const std::string& now) {
  return run(db,
             "UPDATE stacks SET name = ?1, compose = ?2, env_json = ?3, route_service = ?4, "
             "route_port = ?5, subdomain = ?6, updated_at = ?7 WHERE id = ?8",
             s.name, s.compose, s.env, s.route_service, s.route_port, s.subdomain, now, s.id);
}

const workload_kind<stack> stack_kind{"stack", "stacks", {"name", "compose", "env", "route_service", "route_port", "subdomain"},
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
  if (p.has("route_service"))
    s.route_service = p.value.route_service;
  if (p.has("route_port"))
    s.route_port = p.value.route_port;
  if (p.has("subdomain"))
    s.subdomain = p.value.subdomain;
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
