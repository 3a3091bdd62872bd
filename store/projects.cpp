#include "store/projects.hpp"

#include "core/clock.hpp"
#include "core/errors.hpp"
#include "core/ids.hpp"
#include "store/query.hpp"
#include "store/secrets.hpp"
#include "store/validate.hpp"
#include "store/workload_kinds.hpp"

#include <set>

namespace tf::store {

// -- validation ---------------------------------------------------------------

caf::error validate_stage(const stage& s) {
  if (auto err = check_name("name", s.name))
    return err;
  if (!s.subdomain.empty())
    if (auto err = check_name("subdomain", s.subdomain))
      return err;
  if (auto err = check_range("port", s.port, 1, 65535))
    return err;
  if (auto err = check_range("instances", s.instances, 1, 32))
    return err;
  if (auto err = check_env("env", s.env))
    return err;
  if (auto err = check_health_path(s.health_path))
    return err;
  if (auto err = check_range("health_timeout_ms", s.health_timeout_ms, 100, 600000))
    return err;
  if (auto err = check_range("health_interval_ms", s.health_interval_ms, 100, 600000))
    return err;
  if (auto err = check_range("memory_limit_bytes", s.memory_limit_bytes, 0,
                             int64_t{1} << 40))
    return err;
  if (s.memory_limit_bytes != 0 && s.memory_limit_bytes < 6 * 1024 * 1024)
    return invalid("memory_limit_bytes", "Docker needs at least 6 MiB (or 0 for no limit)");
  if (auto err = check_range("cpu_limit_millis", s.cpu_limit_millis, 0, 1024 * 1000))
    return err;
  static const std::set<std::string> policies{"no", "always", "unless-stopped",
                                              "on-failure"};
  if (policies.count(s.restart_policy) == 0)
    return invalid("restart_policy", "must be one of no, always, unless-stopped, on-failure");
  return {};
}

caf::error validate_project(const project& p) {
  if (auto err = check_name("name", p.name))
    return err;
  if (!is_image_repository(p.image))
    return invalid("image", "\"" + p.image.substr(0, 80)
                              + "\" is not an image repository (e.g. "
                                "registry.example.com/team/api, without a tag)");
  if (p.stages.size() > 32)
    return invalid("stages", "at most 32 stages");
  std::set<std::string> names;
  for (size_t i = 0; i < p.stages.size(); ++i) {
    if (auto err = validate_stage(p.stages[i]))
      return make_error(ec::invalid_argument,
                        "stages[" + std::to_string(i) + "]." + error_message(err));
    if (!names.insert(p.stages[i].name).second)
      return invalid("stages[" + std::to_string(i) + "].name",
                     "\"" + p.stages[i].name + "\" appears twice");
  }
  return {};
}

namespace {

// -- rows ---------------------------------------------------------------------

constexpr std::string_view stage_select
  = "SELECT id, project_id, name, subdomain, port, instances, env_json, health_path, "
    "health_timeout_ms, health_interval_ms, memory_limit_bytes, cpu_limit_millis, "
    "restart_policy, current_tag, previous_tag, created_at, updated_at FROM stages ";

const auto read_stage = columns(&stage::id, &stage::project_id, &stage::name, &stage::subdomain,
                                &stage::port, &stage::instances, &stage::env, &stage::health_path,
                                &stage::health_timeout_ms, &stage::health_interval_ms,
                                &stage::memory_limit_bytes, &stage::cpu_limit_millis,
                                &stage::restart_policy, &stage::current_tag, &stage::previous_tag,
                                &stage::created_at, &stage::updated_at);

constexpr std::string_view project_select
  = "SELECT p.id, p.name, p.image, COALESCE(w.id, ''), COALESCE(w.webhook_secret, ''), "
    "p.created_at, p.updated_at "
    "FROM projects p LEFT JOIN workloads w ON w.kind = 'project' AND w.ref_id = p.id ";

const auto read_project = columns(&project::id, &project::name, &project::image,
                                  &project::workload_id, &project::webhook_secret,
                                  &project::created_at, &project::updated_at);

caf::error attach_stages(database& db, project& p) {
  static const auto sql = concat(stage_select, "WHERE project_id = ?1 ORDER BY position, name");
  return take(p.stages, select_all(db, sql, read_stage, p.id));
}

caf::error insert_stage(database& db, const stage& s, int64_t position, const std::string& now) {
  return run(db,
             "INSERT INTO stages(id, project_id, name, subdomain, port, instances, env_json, "
             "health_path, health_timeout_ms, health_interval_ms, memory_limit_bytes, "
             "cpu_limit_millis, restart_policy, position, created_at, updated_at) "
             "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?15)",
             s.id, s.project_id, s.name, s.subdomain, s.port, s.instances, s.env, s.health_path,
             s.health_timeout_ms, s.health_interval_ms, s.memory_limit_bytes,
             s.cpu_limit_millis, s.restart_policy, position, now);
}

// -- projects as a kind of workload -------------------------------------------

caf::error insert_project(database& db, project& p, const std::string& now) {
  if (auto err = run(db,
                     "INSERT INTO projects(id, name, image, created_at, updated_at) "
                     "VALUES (?1, ?2, ?3, ?4, ?4)",
                     p.id, p.name, p.image, now))
    return err;
  for (size_t i = 0; i < p.stages.size(); ++i) {
    auto& s = p.stages[i];
    s.id = new_id();
    s.project_id = p.id;
    if (auto err = insert_stage(db, s, static_cast<int64_t>(i), now))
      return err;
  }
  return {};
}

void apply_project_patch(project& p, const patch<project>& change) {
  if (change.has("name"))
    p.name = change.value.name;
  if (change.has("image"))
    p.image = change.value.image;
  p.stages.clear(); // stages are validated when they change, not here
}

caf::error update_project_row(database& db, const project& p, const std::string& now) {
  return run(db, "UPDATE projects SET name = ?1, image = ?2, updated_at = ?3 WHERE id = ?4",
             p.name, p.image, now, p.id);
}

const workload_kind<project> project_kind{"project", "projects", {"name", "image"},
                                          validate_project, get_project, insert_project,
                                          apply_project_patch, update_project_row};

void apply_stage_patch(stage& s, const patch<stage>& p) {
  const auto& v = p.value;
  if (p.has("name")) s.name = v.name;
  if (p.has("subdomain")) s.subdomain = v.subdomain;
  if (p.has("port")) s.port = v.port;
  if (p.has("instances")) s.instances = v.instances;
  if (p.has("env")) s.env = v.env;
  if (p.has("health_path")) s.health_path = v.health_path;
  if (p.has("health_timeout_ms")) s.health_timeout_ms = v.health_timeout_ms;
  if (p.has("health_interval_ms")) s.health_interval_ms = v.health_interval_ms;
  if (p.has("memory_limit_bytes")) s.memory_limit_bytes = v.memory_limit_bytes;
  if (p.has("cpu_limit_millis")) s.cpu_limit_millis = v.cpu_limit_millis;
  if (p.has("restart_policy")) s.restart_policy = v.restart_policy;
}

constexpr std::string_view other_stage_with_name
  = "SELECT 1 FROM stages WHERE project_id = ?1 AND name = ?2 AND id != ?3";

} // namespace

// -- projects -----------------------------------------------------------------

caf::expected<project> create_project(database& db, project p) {
  return create_of_kind(db, std::move(p), project_kind);
}

caf::expected<project> update_project(database& db, const patch<project>& p) {
  return update_of_kind(db, p, project_kind);
}

caf::error delete_project(database& db, const std::string& id) {
  return delete_of_kind(db, id, project_kind);
}

// -- stages -------------------------------------------------------------------

caf::expected<stage> create_stage(database& db, stage s) {
  if (auto err = validate_stage(s))
    return err;
  return in_transaction(db, [&]() -> caf::expected<stage> {
    auto found = exists(db, "SELECT 1 FROM projects WHERE id = ?1", s.project_id);
    if (!found)
      return found.error();
    if (!*found)
      return no_such("project", s.project_id);
    auto taken = exists(db, other_stage_with_name, s.project_id, s.name, "");
    if (!taken)
      return taken.error();
    if (*taken)
      return name_taken("a stage", s.name);
    auto position = count(
      db, "SELECT COALESCE(MAX(position) + 1, 0) FROM stages WHERE project_id = ?1",
      s.project_id);
    if (!position)
      return position.error();
    s.id = new_id();
    if (auto err = insert_stage(db, s, *position, now_utc()))
      return err;
    return get_stage(db, s.id);
  });
}

caf::expected<stage> update_stage(database& db, const patch<stage>& p) {
  if (auto err = check_patch_fields(
        p, {"name", "subdomain", "port", "instances", "env", "health_path", "health_timeout_ms",
            "health_interval_ms", "memory_limit_bytes", "cpu_limit_millis", "restart_policy"}))
    return err;
  return in_transaction(db, [&]() -> caf::expected<stage> {
    auto s = get_stage(db, p.id);
    if (!s)
      return s.error();
    apply_stage_patch(*s, p);
    if (auto err = validate_stage(*s))
      return err;
    auto taken = exists(db, other_stage_with_name, s->project_id, s->name, s->id);
    if (!taken)
      return taken.error();
    if (*taken)
      return name_taken("a stage", s->name);
    if (auto err = run(db,
                       "UPDATE stages SET name = ?1, subdomain = ?2, port = ?3, instances = ?4, "
                       "env_json = ?5, health_path = ?6, health_timeout_ms = ?7, "
                       "health_interval_ms = ?8, memory_limit_bytes = ?9, "
                       "cpu_limit_millis = ?10, restart_policy = ?11, updated_at = ?12 "
                       "WHERE id = ?13",
                       s->name, s->subdomain, s->port, s->instances, s->env, s->health_path,
                       s->health_timeout_ms, s->health_interval_ms, s->memory_limit_bytes,
                       s->cpu_limit_millis, s->restart_policy, now_utc(), s->id))
      return err;
    return get_stage(db, s->id);
  });
}

caf::error delete_stage(database& db, const std::string& id) {
  return run_on_one(db, "DELETE FROM stages WHERE id = ?1", "stage", id, id);
}

// -- reads --------------------------------------------------------------------

caf::expected<project> get_project(database& db, const std::string& id) {
  static const auto sql = concat(project_select, "WHERE p.id = ?1");
  return one_with(db, sql, "project", id, read_project, [&](project& p) {
    if (auto err = reveal_secret(db, p.webhook_secret))
      return err;
    return attach_stages(db, p);
  });
}

caf::expected<page<project>> list_projects(database& db, int64_t limit, int64_t offset) {
  static const auto sql = concat(project_select, "ORDER BY p.name LIMIT ?1 OFFSET ?2");
  // The page and every project's stages from one commit.
  return in_snapshot(db, [&]() -> caf::expected<page<project>> {
    auto result = paged(db, {sql, "SELECT COUNT(*) FROM projects"}, limit, offset, read_project);
    if (!result)
      return result;
    for (auto& p : result->items) {
      if (auto err = reveal_secret(db, p.webhook_secret))
        return err;
      if (auto err = attach_stages(db, p))
        return err;
    }
    return result;
  });
}

caf::expected<stage> get_stage(database& db, const std::string& id) {
  static const auto sql = concat(stage_select, "WHERE id = ?1");
  return one(db, sql, "stage", id, read_stage);
}

} // namespace tf::store
