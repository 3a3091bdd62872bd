#include "store/containers.hpp"

#include "store/container_lookups.hpp"

#include "core/clock.hpp"
#include "core/errors.hpp"
#include "core/ids.hpp"
#include "store/env_json.hpp"
#include "store/query.hpp"
#include "store/validate.hpp"

#include <set>

namespace tf::store {

bool is_container_state(std::string_view s) {
  static const std::set<std::string, std::less<>> states{
    "", "created", "running", "stopped", "failed", "removing", "missing", "restarting", "paused"};
  return states.count(s) != 0;
}

caf::error validate_container(const container_row& c) {
  if (c.workload_id.empty())
    return invalid("workload_id", "must not be empty");
  if (c.role.size() > 255)
    return invalid("role", "at most 255 characters");
  if (!is_container_state(c.state))
    return invalid("state", "unknown state \"" + c.state.substr(0, 32) + "\"");
  return check_range("port", c.port, 0, 65535);
}

namespace {

constexpr std::string_view container_select
  = "SELECT c.id, c.workload_id, c.workload_kind, c.role, COALESCE(c.stage_id, ''), "
    "c.subdomain, c.proxy_route_id, c.npm_proxy_id, c.image_tag, c.container_id, c.image_ref, "
    "c.host, c.state, c.port, c.last_seen_at, c.created_at, c.updated_at FROM containers c ";

const auto read_container = columns(&container_row::id, &container_row::workload_id,
                                    &container_row::workload_kind, &container_row::role,
                                    &container_row::stage_id, &container_row::subdomain,
                                    &container_row::proxy_route_id, &container_row::npm_proxy_id,
                                    &container_row::image_tag, &container_row::container_id,
                                    &container_row::image_ref, &container_row::host,
                                    &container_row::state, &container_row::port,
                                    &container_row::last_seen_at, &container_row::created_at,
                                    &container_row::updated_at);

/// A row may only name a stage of its own project: a stage of another project would tie
/// the row's life to that project's stage (deleting it cascades).
caf::error check_own_stage(database& db, const container_row& c) {
  if (c.stage_id.empty())
    return {};
  auto own = exists(db,
                    "SELECT 1 FROM stages s JOIN workloads w ON w.kind = 'project' "
                    "AND w.ref_id = s.project_id WHERE s.id = ?1 AND w.id = ?2",
                    c.stage_id, c.workload_id);
  if (!own)
    return own.error();
  if (!*own)
    return invalid("stage_id", "no stage with id \"" + c.stage_id + "\" in this workload");
  return {};
}

} // namespace

// -- the deployers' writes ----------------------------------------------------

caf::error delete_container(database& db, const std::string& id) {
  return run(db, "DELETE FROM containers WHERE id = ?1", id);
}

caf::expected<container_row> upsert_container(database& db, container_row c) {
  if (auto err = validate_container(c))
    return err;
  return in_transaction(db, [&]() -> caf::expected<container_row> {
    auto kind = workload_kind(db, c.workload_id);
    if (!kind)
      return kind.error();
    if (kind->empty())
      return no_such("workload", c.workload_id);
    // The kind is denormalized from the workload, never taken from the caller.
    c.workload_kind = *kind;
    if (auto err = check_own_stage(db, c))
      return err;
    if (c.id.empty())
      c.id = new_id();
    if (c.host.empty())
      c.host = "local";
    auto changed = run_changes(
      db,
      "INSERT INTO containers(id, workload_id, workload_kind, role, stage_id, subdomain, "
      "proxy_route_id, npm_proxy_id, image_tag, container_id, image_ref, host, state, port, "
      "last_seen_at, created_at, updated_at) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?16) "
      "ON CONFLICT(id) DO UPDATE SET role = excluded.role, stage_id = excluded.stage_id, "
      "subdomain = excluded.subdomain, proxy_route_id = excluded.proxy_route_id, "
      "npm_proxy_id = excluded.npm_proxy_id, image_tag = excluded.image_tag, "
      "container_id = excluded.container_id, image_ref = excluded.image_ref, "
      "host = excluded.host, state = excluded.state, port = excluded.port, "
      "last_seen_at = excluded.last_seen_at, updated_at = excluded.updated_at "
      "WHERE containers.workload_id = excluded.workload_id",
      c.id, c.workload_id, c.workload_kind, c.role, nullable{c.stage_id}, c.subdomain,
      c.proxy_route_id, c.npm_proxy_id, c.image_tag, c.container_id, c.image_ref, c.host,
      c.state, c.port, c.last_seen_at, now_utc());
    if (!changed)
      return changed.error();
    if (*changed == 0)
      // The row exists under another workload: never let one workload take another's row.
      return make_error(ec::conflict,
                        "container row \"" + c.id + "\" belongs to another workload");
    return get_container(db, c.id);
  });
}

// -- reads --------------------------------------------------------------------

caf::expected<container_row> get_container(database& db, const std::string& id) {
  static const auto sql = concat(container_select, "WHERE c.id = ?1");
  return one(db, sql, "container", id, read_container);
}

caf::expected<page<container_row>> list_containers(database& db, const container_filter& f) {
  // Empty filter values match everything, so one statement serves every combination.
  static constexpr std::string_view where
    = "LEFT JOIN workloads w ON w.id = c.workload_id "
      "WHERE (?3 = '' OR c.workload_id = ?3) AND (?4 = '' OR c.workload_kind = ?4) "
      "AND (?5 = '' OR c.state = ?5) AND (?6 = '' OR w.app_id = ?6) "
      "AND (?7 = '' OR c.stage_id = ?7) ";
  static const auto sql = concat(container_select, where)
                          + "ORDER BY c.created_at, c.id LIMIT ?1 OFFSET ?2";
  static const auto count_sql = concat("SELECT COUNT(*) FROM containers c ", where);
  return paged(db, {sql, count_sql}, f.limit, f.offset, read_container, f.workload_id, f.kind,
               f.state, f.app_id, f.stage_id);
}

} // namespace tf::store
