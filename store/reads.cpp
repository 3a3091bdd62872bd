#include "store/reads.hpp"

#include "core/errors.hpp"
#include "store/env_json.hpp"

#include <algorithm>

namespace tf::store {

namespace {

// -- row readers: one per table, columns in the order of the SELECTs below -----

constexpr std::string_view stage_columns
  = "id, project_id, name, subdomain, port, instances, env_json, health_path, "
    "health_timeout_ms, health_interval_ms, memory_limit_bytes, cpu_limit_millis, "
    "restart_policy, current_tag, previous_tag, created_at, updated_at";

stage read_stage(const statement& st) {
  stage s;
  s.id = st.text(0);
  s.project_id = st.text(1);
  s.name = st.text(2);
  s.subdomain = st.text(3);
  s.port = st.integer(4);
  s.instances = st.integer(5);
  s.env = decode_env(st.text(6));
  s.health_path = st.text(7);
  s.health_timeout_ms = st.integer(8);
  s.health_interval_ms = st.integer(9);
  s.memory_limit_bytes = st.integer(10);
  s.cpu_limit_millis = st.integer(11);
  s.restart_policy = st.text(12);
  s.current_tag = st.text(13);
  s.previous_tag = st.text(14);
  s.created_at = st.text(15);
  s.updated_at = st.text(16);
  return s;
}

project read_project(const statement& st) {
  project p;
  p.id = st.text(0);
  p.name = st.text(1);
  p.image = st.text(2);
  p.workload_id = st.text(3);
  p.webhook_secret = st.text(4);
  p.created_at = st.text(5);
  p.updated_at = st.text(6);
  return p;
}

stack read_stack(const statement& st) {
  stack s;
  s.id = st.text(0);
  s.name = st.text(1);
  s.compose = st.text(2);
  s.env = decode_env(st.text(3));
  s.compose_project_name = st.text(4);
  s.workload_id = st.text(5);
  s.created_at = st.text(6);
  s.updated_at = st.text(7);
  return s;
}

site read_site(const statement& st) {
  site s;
  s.id = st.text(0);
  s.name = st.text(1);
  s.subdomain = st.text(2);
  s.keep_releases = st.integer(3);
  s.current_release = st.text(4);
  s.workload_id = st.text(5);
  s.created_at = st.text(6);
  s.updated_at = st.text(7);
  return s;
}

workload read_workload(const statement& st) {
  workload w;
  w.id = st.text(0);
  w.kind = st.text(1);
  w.ref_id = st.text(2);
  w.name = st.text(3);
  w.app_id = st.text(4);
  w.notification_url = st.text(5);
  w.notification_secret = st.text(6);
  w.webhook_secret = st.text(7);
  w.webhook_signing_secret = st.text(8);
  w.webhook_require_signature = st.integer(9) != 0;
  w.created_at = st.text(10);
  w.updated_at = st.text(11);
  return w;
}

container_row read_container(const statement& st) {
  container_row c;
  c.id = st.text(0);
  c.workload_id = st.text(1);
  c.workload_kind = st.text(2);
  c.role = st.text(3);
  c.stage_id = st.text(4);
  c.subdomain = st.text(5);
  c.proxy_route_id = st.text(6);
  c.npm_proxy_id = st.integer(7);
  c.image_tag = st.text(8);
  c.container_id = st.text(9);
  c.image_ref = st.text(10);
  c.host = st.text(11);
  c.state = st.text(12);
  c.port = st.integer(13);
  c.last_seen_at = st.text(14);
  c.created_at = st.text(15);
  c.updated_at = st.text(16);
  return c;
}

// -- generic helpers ----------------------------------------------------------

/// Runs a statement that has its parameters bound and reads every row.
template <class T, class Reader>
caf::expected<std::vector<T>> collect(statement& st, Reader read) {
  std::vector<T> out;
  while (st.step())
    out.push_back(read(st));
  if (st.error())
    return st.error();
  return out;
}

/// Reads exactly one row by id, or ec::not_found naming what was looked for.
template <class T, class Reader>
caf::expected<T> one(database& db, std::string_view sql, const std::string& id,
                     const char* what, Reader read) {
  auto st = db.prepare(sql);
  if (!st)
    return st.error();
  st->bind(1, id);
  if (st->step())
    return read(*st);
  if (st->error())
    return st->error();
  return make_error(ec::not_found, std::string{"no "} + what + " with id \"" + id + "\"");
}

caf::expected<int64_t> count(database& db, std::string_view sql) {
  auto st = db.prepare(sql);
  if (!st)
    return st.error();
  if (!st->step())
    return st->error() ? st->error() : make_error(ec::database, "count returned no row");
  return st->integer(0);
}

template <class T, class Reader>
caf::expected<page<T>> paged(database& db, std::string_view sql, std::string_view count_sql,
                             int64_t limit, int64_t offset, Reader read) {
  clamp_page(limit, offset);
  read_snapshot snapshot{db};
  if (snapshot.error())
    return snapshot.error();
  auto st = db.prepare(sql);
  if (!st)
    return st.error();
  st->bind(1, limit).bind(2, offset);
  auto items = collect<T>(*st, read);
  if (!items)
    return items.error();
  auto total = count(db, count_sql);
  if (!total)
    return total.error();
  return page<T>{std::move(*items), *total};
}

caf::error attach_stages(database& db, project& p) {
  static const std::string sql = "SELECT " + std::string{stage_columns}
                                 + " FROM stages WHERE project_id = ?1 ORDER BY position, name";
  auto st = db.prepare(sql);
  if (!st)
    return st.error();
  st->bind(1, p.id);
  auto stages = collect<stage>(*st, read_stage);
  if (!stages)
    return stages.error();
  p.stages = std::move(*stages);
  return {};
}

constexpr std::string_view project_select
  = "SELECT p.id, p.name, p.image, COALESCE(w.id, ''), COALESCE(w.webhook_secret, ''), "
    "p.created_at, p.updated_at "
    "FROM projects p LEFT JOIN workloads w ON w.kind = 'project' AND w.ref_id = p.id ";

constexpr std::string_view stack_select
  = "SELECT s.id, s.name, s.compose, s.env_json, s.compose_project_name, COALESCE(w.id, ''), "
    "s.created_at, s.updated_at "
    "FROM stacks s LEFT JOIN workloads w ON w.kind = 'stack' AND w.ref_id = s.id ";

constexpr std::string_view site_select
  = "SELECT s.id, s.name, s.subdomain, s.keep_releases, s.current_release, "
    "COALESCE(w.id, ''), s.created_at, s.updated_at "
    "FROM static_sites s LEFT JOIN workloads w ON w.kind = 'site' AND w.ref_id = s.id ";

constexpr std::string_view workload_select
  = "SELECT id, kind, ref_id, name, COALESCE(app_id, ''), notification_url, "
    "notification_secret, webhook_secret, webhook_signing_secret, webhook_require_signature, "
    "created_at, updated_at FROM workloads ";

constexpr std::string_view container_select
  = "SELECT c.id, c.workload_id, c.workload_kind, c.role, COALESCE(c.stage_id, ''), "
    "c.subdomain, c.proxy_route_id, c.npm_proxy_id, c.image_tag, c.container_id, c.image_ref, "
    "c.host, c.state, c.port, c.last_seen_at, c.created_at, c.updated_at FROM containers c ";

std::string cat(std::string_view a, std::string_view b) {
  return std::string{a} + std::string{b};
}

} // namespace

void clamp_page(int64_t& limit, int64_t& offset) {
  limit = std::clamp<int64_t>(limit, 1, 500);
  offset = std::max<int64_t>(offset, 0);
}

caf::expected<project> get_project(database& db, const std::string& id) {
  static const auto sql = cat(project_select, "WHERE p.id = ?1");
  read_snapshot snapshot{db};
  if (snapshot.error())
    return snapshot.error();
  auto p = one<project>(db, sql, id, "project", read_project);
  if (!p)
    return p;
  if (auto err = attach_stages(db, *p))
    return err;
  return p;
}

caf::expected<page<project>> list_projects(database& db, int64_t limit, int64_t offset) {
  static const auto sql = cat(project_select, "ORDER BY p.name LIMIT ?1 OFFSET ?2");
  read_snapshot snapshot{db}; // the page and every project's stages from one commit
  if (snapshot.error())
    return snapshot.error();
  auto result = paged<project>(db, sql, "SELECT COUNT(*) FROM projects", limit, offset,
                               read_project);
  if (!result)
    return result;
  for (auto& p : result->items)
    if (auto err = attach_stages(db, p))
      return err;
  return result;
}

caf::expected<stage> get_stage(database& db, const std::string& id) {
  static const auto sql = "SELECT " + std::string{stage_columns} + " FROM stages WHERE id = ?1";
  return one<stage>(db, sql, id, "stage", read_stage);
}

caf::expected<stack> get_stack(database& db, const std::string& id) {
  static const auto sql = cat(stack_select, "WHERE s.id = ?1");
  return one<stack>(db, sql, id, "stack", read_stack);
}

caf::expected<page<stack>> list_stacks(database& db, int64_t limit, int64_t offset) {
  static const auto sql = cat(stack_select, "ORDER BY s.name LIMIT ?1 OFFSET ?2");
  return paged<stack>(db, sql, "SELECT COUNT(*) FROM stacks", limit, offset, read_stack);
}

caf::expected<site> get_site(database& db, const std::string& id) {
  static const auto sql = cat(site_select, "WHERE s.id = ?1");
  return one<site>(db, sql, id, "site", read_site);
}

caf::expected<page<site>> list_sites(database& db, int64_t limit, int64_t offset) {
  static const auto sql = cat(site_select, "ORDER BY s.name LIMIT ?1 OFFSET ?2");
  return paged<site>(db, sql, "SELECT COUNT(*) FROM static_sites", limit, offset, read_site);
}

caf::expected<workload> get_workload(database& db, const std::string& id) {
  static const auto sql = cat(workload_select, "WHERE id = ?1");
  return one<workload>(db, sql, id, "workload", read_workload);
}

caf::expected<workload> get_workload_by_ref(database& db, const std::string& kind,
                                            const std::string& ref_id) {
  static const auto sql = cat(workload_select, "WHERE kind = ?1 AND ref_id = ?2");
  auto st = db.prepare(sql);
  if (!st)
    return st.error();
  st->bind(1, kind).bind(2, ref_id);
  if (st->step())
    return read_workload(*st);
  if (st->error())
    return st->error();
  return make_error(ec::not_found, "no " + kind + " with id \"" + ref_id + "\"");
}

caf::expected<page<workload>> list_workloads(database& db, const workload_filter& f) {
  // Empty filter values match everything, so one statement serves every combination.
  static constexpr std::string_view where
    = "WHERE (?3 = '' OR kind = ?3) AND (?4 = '' OR app_id = ?4) ";
  static const auto sql = cat(workload_select, where) + "ORDER BY kind, name, id LIMIT ?1 OFFSET ?2";
  static const auto count_sql = "SELECT COUNT(*) FROM workloads " + std::string{where};
  auto limit = f.limit;
  auto offset = f.offset;
  clamp_page(limit, offset);
  read_snapshot snapshot{db};
  if (snapshot.error())
    return snapshot.error();
  auto st = db.prepare(sql);
  if (!st)
    return st.error();
  st->bind(1, limit).bind(2, offset).bind(3, f.kind).bind(4, f.app_id);
  auto items = collect<workload>(*st, read_workload);
  if (!items)
    return items.error();
  auto total_st = db.prepare(count_sql);
  if (!total_st)
    return total_st.error();
  total_st->bind(3, f.kind).bind(4, f.app_id);
  if (!total_st->step())
    return total_st->error() ? total_st->error() : make_error(ec::database, "count failed");
  return page<workload>{std::move(*items), total_st->integer(0)};
}

caf::expected<container_row> get_container(database& db, const std::string& id) {
  static const auto sql = cat(container_select, "WHERE c.id = ?1");
  return one<container_row>(db, sql, id, "container", read_container);
}

caf::expected<page<container_row>> list_containers(database& db, const container_filter& f) {
  // Empty filter values match everything, so one statement serves every combination.
  static constexpr std::string_view where
    = "LEFT JOIN workloads w ON w.id = c.workload_id "
      "WHERE (?1 = '' OR c.workload_id = ?1) AND (?2 = '' OR c.workload_kind = ?2) "
      "AND (?3 = '' OR c.state = ?3) AND (?4 = '' OR w.app_id = ?4) "
      "AND (?7 = '' OR c.stage_id = ?7) ";
  static const auto sql = cat(container_select, where)
                          + "ORDER BY c.created_at, c.id LIMIT ?5 OFFSET ?6";
  static const auto count_sql = "SELECT COUNT(*) FROM containers c " + std::string{where};
  auto limit = f.limit;
  auto offset = f.offset;
  clamp_page(limit, offset);
  read_snapshot snapshot{db};
  if (snapshot.error())
    return snapshot.error();
  auto bind_filter = [&](statement& st) {
    st.bind(1, f.workload_id).bind(2, f.kind).bind(3, f.state).bind(4, f.app_id);
    st.bind(7, f.stage_id);
  };
  auto st = db.prepare(sql);
  if (!st)
    return st.error();
  bind_filter(*st);
  st->bind(5, limit).bind(6, offset);
  auto items = collect<container_row>(*st, read_container);
  if (!items)
    return items.error();
  auto total_st = db.prepare(count_sql);
  if (!total_st)
    return total_st.error();
  bind_filter(*total_st);
  if (!total_st->step())
    return total_st->error() ? total_st->error() : make_error(ec::database, "count failed");
  return page<container_row>{std::move(*items), total_st->integer(0)};
}

} // namespace tf::store
