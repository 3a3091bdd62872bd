#include "store/writes.hpp"

#include "core/errors.hpp"
#include "core/clock.hpp"
#include "store/env_json.hpp"
#include "core/ids.hpp"
#include "store/reads.hpp"
#include "store/validate.hpp"

#include <functional>
#include <initializer_list>
#include <map>
#include <set>

namespace tf::store {

namespace {

// -- helpers shared by every kind ---------------------------------------------

template <class T>
caf::error check_patch_fields(const patch<T>& p, std::initializer_list<const char*> allowed) {
  for (const auto& f : p.fields) {
    bool ok = false;
    for (const auto* a : allowed)
      ok = ok || f == a;
    if (!ok)
      return make_error(ec::invalid_argument, f + ": this field cannot be changed");
  }
  return {};
}

using binder = std::function<void(statement&)>;

caf::error run(database& db, std::string_view sql, const binder& bind_all) {
  auto st = db.prepare(sql);
  if (!st)
    return st.error();
  bind_all(*st);
  return st->run();
}

/// True when `sql` returns a row.
caf::expected<bool> exists(database& db, std::string_view sql, const binder& bind_all) {
  auto st = db.prepare(sql);
  if (!st)
    return st.error();
  bind_all(*st);
  auto found = st->step();
  if (st->error())
    return st->error();
  return found;
}

caf::error name_taken(const char* what, const std::string& name) {
  return make_error(ec::conflict,
                    std::string{"a "} + what + " named \"" + name + "\" already exists");
}

caf::error insert_workload(database& db, const char* kind, const std::string& ref_id,
                           const std::string& name, const std::string& now) {
  return run(db,
             "INSERT INTO workloads(id, kind, ref_id, name, notification_secret, "
             "webhook_secret, webhook_signing_secret, created_at, updated_at) "
             "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
             [&](statement& st) {
               st.bind(1, new_id())
                 .bind(2, kind)
                 .bind(3, ref_id)
                 .bind(4, name)
                 .bind(5, new_secret())
                 .bind(6, new_secret())
                 .bind(7, new_secret())
                 .bind(8, now);
             });
}

caf::error rename_workload(database& db, const char* kind, const std::string& ref_id,
                           const std::string& name, const std::string& now) {
  return run(db, "UPDATE workloads SET name = ?1, updated_at = ?2 WHERE kind = ?3 AND ref_id = ?4",
             [&](statement& st) { st.bind(1, name).bind(2, now).bind(3, kind).bind(4, ref_id); });
}

/// Deletes the workload (its containers and deployments cascade) and then the parent row.
caf::error delete_with_workload(database& db, const char* kind, std::string_view parent_sql,
                                const std::string& id) {
  auto tx = transaction::begin(db);
  if (!tx)
    return tx.error();
  if (auto err = run(db, "DELETE FROM workloads WHERE kind = ?1 AND ref_id = ?2",
                     [&](statement& st) { st.bind(1, kind).bind(2, id); }))
    return err;
  auto st = db.prepare(parent_sql);
  if (!st)
    return st.error();
  st->bind(1, id);
  if (auto err = st->run())
    return err;
  if (st->changes() == 0)
    return make_error(ec::not_found, std::string{"no "} + kind + " with id \"" + id + "\"");
  return tx->commit();
}

caf::error insert_stage(database& db, const stage& s, int64_t position, const std::string& now) {
  return run(db,
             "INSERT INTO stages(id, project_id, name, subdomain, port, instances, env_json, "
             "health_path, health_timeout_ms, health_interval_ms, memory_limit_bytes, "
             "cpu_limit_millis, restart_policy, position, created_at, updated_at) "
             "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?15)",
             [&](statement& st) {
               st.bind(1, s.id)
                 .bind(2, s.project_id)
                 .bind(3, s.name)
                 .bind(4, s.subdomain)
                 .bind(5, s.port)
                 .bind(6, s.instances)
                 .bind(7, encode_env(s.env))
                 .bind(8, s.health_path)
                 .bind(9, s.health_timeout_ms)
                 .bind(10, s.health_interval_ms)
                 .bind(11, s.memory_limit_bytes)
                 .bind(12, s.cpu_limit_millis)
                 .bind(13, s.restart_policy)
                 .bind(14, position)
                 .bind(15, now);
             });
}

} // namespace

// -- projects -----------------------------------------------------------------

caf::expected<project> create_project(database& db, project p) {
  if (auto err = validate_project(p))
    return err;
  auto tx = transaction::begin(db);
  if (!tx)
    return tx.error();
  auto taken = exists(db, "SELECT 1 FROM projects WHERE name = ?1",
                      [&](statement& st) { st.bind(1, p.name); });
  if (!taken)
    return taken.error();
  if (*taken)
    return name_taken("project", p.name);
  auto now = now_utc();
  p.id = new_id();
  if (auto err = run(db,
                     "INSERT INTO projects(id, name, image, created_at, updated_at) "
                     "VALUES (?1, ?2, ?3, ?4, ?4)",
                     [&](statement& st) { st.bind(1, p.id).bind(2, p.name).bind(3, p.image).bind(4, now); }))
    return err;
  for (size_t i = 0; i < p.stages.size(); ++i) {
    auto& s = p.stages[i];
    s.id = new_id();
    s.project_id = p.id;
    if (auto err = insert_stage(db, s, static_cast<int64_t>(i), now))
      return err;
  }
  if (auto err = insert_workload(db, "project", p.id, p.name, now))
    return err;
  auto stored = get_project(db, p.id);
  if (!stored)
    return stored.error();
  if (auto err = tx->commit())
    return err;
  return stored;
}

caf::expected<project> update_project(database& db, const patch<project>& p) {
  if (auto err = check_patch_fields(p, {"name", "image"}))
    return err;
  auto tx = transaction::begin(db);
  if (!tx)
    return tx.error();
  auto current = get_project(db, p.id);
  if (!current)
    return current.error();
  if (p.has("name"))
    current->name = p.value.name;
  if (p.has("image"))
    current->image = p.value.image;
  current->stages.clear(); // stages are validated when they change, not here
  if (auto err = validate_project(*current))
    return err;
  auto taken = exists(db, "SELECT 1 FROM projects WHERE name = ?1 AND id != ?2",
                      [&](statement& st) { st.bind(1, current->name).bind(2, current->id); });
  if (!taken)
    return taken.error();
  if (*taken)
    return name_taken("project", current->name);
  auto now = now_utc();
  if (auto err = run(db, "UPDATE projects SET name = ?1, image = ?2, updated_at = ?3 WHERE id = ?4",
                     [&](statement& st) {
                       st.bind(1, current->name).bind(2, current->image).bind(3, now).bind(4, p.id);
                     }))
    return err;
  if (auto err = rename_workload(db, "project", p.id, current->name, now))
    return err;
  auto stored = get_project(db, p.id);
  if (!stored)
    return stored.error();
  if (auto err = tx->commit())
    return err;
  return stored;
}

caf::error delete_project(database& db, const std::string& id) {
  return delete_with_workload(db, "project", "DELETE FROM projects WHERE id = ?1", id);
}

// -- stages -------------------------------------------------------------------

caf::expected<stage> create_stage(database& db, stage s) {
  if (auto err = validate_stage(s))
    return err;
  auto tx = transaction::begin(db);
  if (!tx)
    return tx.error();
  auto found = exists(db, "SELECT 1 FROM projects WHERE id = ?1",
                      [&](statement& st) { st.bind(1, s.project_id); });
  if (!found)
    return found.error();
  if (!*found)
    return make_error(ec::not_found, "no project with id \"" + s.project_id + "\"");
  auto taken = exists(db, "SELECT 1 FROM stages WHERE project_id = ?1 AND name = ?2",
                      [&](statement& st) { st.bind(1, s.project_id).bind(2, s.name); });
  if (!taken)
    return taken.error();
  if (*taken)
    return name_taken("stage", s.name);
  auto pos = db.prepare("SELECT COALESCE(MAX(position) + 1, 0) FROM stages WHERE project_id = ?1");
  if (!pos)
    return pos.error();
  pos->bind(1, s.project_id);
  if (!pos->step())
    return pos->error();
  s.id = new_id();
  if (auto err = insert_stage(db, s, pos->integer(0), now_utc()))
    return err;
  auto stored = get_stage(db, s.id);
  if (!stored)
    return stored.error();
  if (auto err = tx->commit())
    return err;
  return stored;
}

caf::expected<stage> update_stage(database& db, const patch<stage>& p) {
  if (auto err = check_patch_fields(
        p, {"name", "subdomain", "port", "instances", "env", "health_path", "health_timeout_ms",
            "health_interval_ms", "memory_limit_bytes", "cpu_limit_millis", "restart_policy"}))
    return err;
  auto tx = transaction::begin(db);
  if (!tx)
    return tx.error();
  auto s = get_stage(db, p.id);
  if (!s)
    return s.error();
  const auto& v = p.value;
  if (p.has("name")) s->name = v.name;
  if (p.has("subdomain")) s->subdomain = v.subdomain;
  if (p.has("port")) s->port = v.port;
  if (p.has("instances")) s->instances = v.instances;
  if (p.has("env")) s->env = v.env;
  if (p.has("health_path")) s->health_path = v.health_path;
  if (p.has("health_timeout_ms")) s->health_timeout_ms = v.health_timeout_ms;
  if (p.has("health_interval_ms")) s->health_interval_ms = v.health_interval_ms;
  if (p.has("memory_limit_bytes")) s->memory_limit_bytes = v.memory_limit_bytes;
  if (p.has("cpu_limit_millis")) s->cpu_limit_millis = v.cpu_limit_millis;
  if (p.has("restart_policy")) s->restart_policy = v.restart_policy;
  if (auto err = validate_stage(*s))
    return err;
  auto taken = exists(db, "SELECT 1 FROM stages WHERE project_id = ?1 AND name = ?2 AND id != ?3",
                      [&](statement& st) { st.bind(1, s->project_id).bind(2, s->name).bind(3, s->id); });
  if (!taken)
    return taken.error();
  if (*taken)
    return name_taken("stage", s->name);
  if (auto err = run(db,
                     "UPDATE stages SET name = ?1, subdomain = ?2, port = ?3, instances = ?4, "
                     "env_json = ?5, health_path = ?6, health_timeout_ms = ?7, "
                     "health_interval_ms = ?8, memory_limit_bytes = ?9, cpu_limit_millis = ?10, "
                     "restart_policy = ?11, updated_at = ?12 WHERE id = ?13",
                     [&](statement& u) {
                       u.bind(1, s->name)
                         .bind(2, s->subdomain)
                         .bind(3, s->port)
                         .bind(4, s->instances)
                         .bind(5, encode_env(s->env))
                         .bind(6, s->health_path)
                         .bind(7, s->health_timeout_ms)
                         .bind(8, s->health_interval_ms)
                         .bind(9, s->memory_limit_bytes)
                         .bind(10, s->cpu_limit_millis)
                         .bind(11, s->restart_policy)
                         .bind(12, now_utc())
                         .bind(13, s->id);
                     }))
    return err;
  auto stored = get_stage(db, s->id);
  if (!stored)
    return stored.error();
  if (auto err = tx->commit())
    return err;
  return stored;
}

caf::error delete_stage(database& db, const std::string& id) {
  auto st = db.prepare("DELETE FROM stages WHERE id = ?1");
  if (!st)
    return st.error();
  st->bind(1, id);
  if (auto err = st->run())
    return err;
  if (st->changes() == 0)
    return make_error(ec::not_found, "no stage with id \"" + id + "\"");
  return {};
}

// -- stacks -------------------------------------------------------------------

namespace {

/// Answers name_taken when another row of `table_sql` (name ?1, id != ?2) has the name.
caf::error check_unique_name(database& db, std::string_view sql, const char* what,
                             const std::string& name, const std::string& id) {
  auto taken = exists(db, sql, [&](statement& st) { st.bind(1, name).bind(2, id); });
  if (!taken)
    return taken.error();
  if (*taken)
    return name_taken(what, name);
  return {};
}

} // namespace

caf::expected<stack> create_stack(database& db, stack s) {
  if (auto err = validate_stack(s))
    return err;
  auto tx = transaction::begin(db);
  if (!tx)
    return tx.error();
  if (auto err = check_unique_name(db, "SELECT 1 FROM stacks WHERE name = ?1 AND id != ?2",
                                   "stack", s.name, ""))
    return err;
  auto now = now_utc();
  s.id = new_id();
  // Derived from the id, not the name, so a rename never orphans running compose containers.
  s.compose_project_name = "tf-" + s.id;
  if (auto err = run(db,
                     "INSERT INTO stacks(id, name, compose, env_json, compose_project_name, "
                     "created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                     [&](statement& st) {
                       st.bind(1, s.id)
                         .bind(2, s.name)
                         .bind(3, s.compose)
                         .bind(4, encode_env(s.env))
                         .bind(5, s.compose_project_name)
                         .bind(6, now);
                     }))
    return err;
  if (auto err = insert_workload(db, "stack", s.id, s.name, now))
    return err;
  auto stored = get_stack(db, s.id);
  if (!stored)
    return stored.error();
  if (auto err = tx->commit())
    return err;
  return stored;
}

caf::expected<stack> update_stack(database& db, const patch<stack>& p) {
  if (auto err = check_patch_fields(p, {"name", "compose", "env"}))
    return err;
  auto tx = transaction::begin(db);
  if (!tx)
    return tx.error();
  auto s = get_stack(db, p.id);
  if (!s)
    return s.error();
  if (p.has("name"))
    s->name = p.value.name;
  if (p.has("compose"))
    s->compose = p.value.compose;
  if (p.has("env"))
    s->env = p.value.env;
  if (auto err = validate_stack(*s))
    return err;
  if (auto err = check_unique_name(db, "SELECT 1 FROM stacks WHERE name = ?1 AND id != ?2",
                                   "stack", s->name, s->id))
    return err;
  auto now = now_utc();
  if (auto err = run(db,
                     "UPDATE stacks SET name = ?1, compose = ?2, env_json = ?3, updated_at = ?4 "
                     "WHERE id = ?5",
                     [&](statement& st) {
                       st.bind(1, s->name)
                         .bind(2, s->compose)
                         .bind(3, encode_env(s->env))
                         .bind(4, now)
                         .bind(5, s->id);
                     }))
    return err;
  if (auto err = rename_workload(db, "stack", s->id, s->name, now))
    return err;
  auto stored = get_stack(db, s->id);
  if (!stored)
    return stored.error();
  if (auto err = tx->commit())
    return err;
  return stored;
}

caf::error delete_stack(database& db, const std::string& id) {
  return delete_with_workload(db, "stack", "DELETE FROM stacks WHERE id = ?1", id);
}

// -- static sites -------------------------------------------------------------

caf::expected<site> create_site(database& db, site s) {
  if (auto err = validate_site(s))
    return err;
  auto tx = transaction::begin(db);
  if (!tx)
    return tx.error();
  if (auto err = check_unique_name(db, "SELECT 1 FROM static_sites WHERE name = ?1 AND id != ?2",
                                   "site", s.name, ""))
    return err;
  auto now = now_utc();
  s.id = new_id();
  if (auto err = run(db,
                     "INSERT INTO static_sites(id, name, subdomain, keep_releases, created_at, "
                     "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                     [&](statement& st) {
                       st.bind(1, s.id).bind(2, s.name).bind(3, s.subdomain).bind(4, s.keep_releases).bind(5, now);
                     }))
    return err;
  if (auto err = insert_workload(db, "site", s.id, s.name, now))
    return err;
  auto stored = get_site(db, s.id);
  if (!stored)
    return stored.error();
  if (auto err = tx->commit())
    return err;
  return stored;
}

caf::expected<site> update_site(database& db, const patch<site>& p) {
  if (auto err = check_patch_fields(p, {"name", "subdomain", "keep_releases"}))
    return err;
  auto tx = transaction::begin(db);
  if (!tx)
    return tx.error();
  auto s = get_site(db, p.id);
  if (!s)
    return s.error();
  if (p.has("name"))
    s->name = p.value.name;
  if (p.has("subdomain"))
    s->subdomain = p.value.subdomain;
  if (p.has("keep_releases"))
    s->keep_releases = p.value.keep_releases;
  if (auto err = validate_site(*s))
    return err;
  if (auto err = check_unique_name(db, "SELECT 1 FROM static_sites WHERE name = ?1 AND id != ?2",
                                   "site", s->name, s->id))
    return err;
  auto now = now_utc();
  if (auto err = run(db,
                     "UPDATE static_sites SET name = ?1, subdomain = ?2, keep_releases = ?3, "
                     "updated_at = ?4 WHERE id = ?5",
                     [&](statement& st) {
                       st.bind(1, s->name).bind(2, s->subdomain).bind(3, s->keep_releases).bind(4, now).bind(5, s->id);
                     }))
    return err;
  if (auto err = rename_workload(db, "site", s->id, s->name, now))
    return err;
  auto stored = get_site(db, s->id);
  if (!stored)
    return stored.error();
  if (auto err = tx->commit())
    return err;
  return stored;
}

caf::error delete_site(database& db, const std::string& id) {
  return delete_with_workload(db, "site", "DELETE FROM static_sites WHERE id = ?1", id);
}

// -- workloads ----------------------------------------------------------------

caf::expected<workload> update_workload(database& db, const patch<workload>& p) {
  if (auto err = check_patch_fields(p, {"app_id", "notification_url",
                                        "webhook_require_signature"}))
    return err;
  auto tx = transaction::begin(db);
  if (!tx)
    return tx.error();
  auto w = get_workload(db, p.id);
  if (!w)
    return w.error();
  if (p.has("app_id"))
    w->app_id = p.value.app_id;
  if (p.has("notification_url"))
    w->notification_url = p.value.notification_url;
  if (p.has("webhook_require_signature"))
    w->webhook_require_signature = p.value.webhook_require_signature;
  if (auto err = validate_workload(*w))
    return err;
  if (!w->app_id.empty()) {
    auto found = exists(db, "SELECT 1 FROM apps WHERE id = ?1",
                        [&](statement& st) { st.bind(1, w->app_id); });
    if (!found)
      return found.error();
    if (!*found)
      return make_error(ec::invalid_argument, "app_id: no app with id \"" + w->app_id + "\"");
  }
  if (auto err = run(db,
                     "UPDATE workloads SET app_id = ?1, notification_url = ?2, "
                     "webhook_require_signature = ?3, updated_at = ?4 WHERE id = ?5",
                     [&](statement& st) {
                       st.bind_or_null(1, w->app_id)
                         .bind(2, w->notification_url)
                         .bind(3, w->webhook_require_signature)
                         .bind(4, now_utc())
                         .bind(5, w->id);
                     }))
    return err;
  auto stored = get_workload(db, w->id);
  if (!stored)
    return stored.error();
  if (auto err = tx->commit())
    return err;
  return stored;
}

caf::expected<workload> rotate_secrets(database& db, const std::string& workload_id) {
  // All three secrets change together in one transaction: a webhook is either routed by the
  // old secret (before commit) or by the new one, never by a rotation that did not commit.
  auto tx = transaction::begin(db);
  if (!tx)
    return tx.error();
  auto st = db.prepare("UPDATE workloads SET webhook_secret = ?1, webhook_signing_secret = ?2, "
                       "notification_secret = ?3, updated_at = ?4 WHERE id = ?5");
  if (!st)
    return st.error();
  st->bind(1, new_secret())
    .bind(2, new_secret())
    .bind(3, new_secret())
    .bind(4, now_utc())
    .bind(5, workload_id);
  if (auto err = st->run())
    return err;
  if (st->changes() == 0)
    return make_error(ec::not_found, "no workload with id \"" + workload_id + "\"");
  auto stored = get_workload(db, workload_id);
  if (!stored)
    return stored.error();
  if (auto err = tx->commit())
    return err;
  return stored;
}

// -- containers ---------------------------------------------------------------

namespace {

/// The kind of a workload, or an empty string when no such workload exists.
caf::expected<std::string> workload_kind(database& db, const std::string& workload_id) {
  auto st = db.prepare("SELECT kind FROM workloads WHERE id = ?1");
  if (!st)
    return st.error();
  st->bind(1, workload_id);
  if (st->step())
    return st->text(0);
  if (st->error())
    return st->error();
  return std::string{};
}

/// The workload of the stack with this compose project name (an index lookup), or an
/// empty string when there is none.
caf::expected<std::string> stack_workload_by_compose_project(database& db,
                                                             const std::string& name) {
  auto st = db.prepare("SELECT w.id FROM stacks s JOIN workloads w ON w.kind = 'stack' "
                       "AND w.ref_id = s.id WHERE s.compose_project_name = ?1");
  if (!st)
    return st.error();
  st->bind(1, name);
  if (st->step())
    return st->text(0);
  if (st->error())
    return st->error();
  return std::string{};
}

} // namespace

caf::error delete_container(database& db, const std::string& id) {
  auto st = db.prepare("DELETE FROM containers WHERE id = ?1");
  if (!st)
    return st.error();
  st->bind(1, id);
  return st->run();
}

caf::expected<container_row> upsert_container(database& db, container_row c) {
  if (auto err = validate_container(c))
    return err;
  auto tx = transaction::begin(db);
  if (!tx)
    return tx.error();
  auto kind = workload_kind(db, c.workload_id);
  if (!kind)
    return kind.error();
  if (kind->empty())
    return make_error(ec::not_found, "no workload with id \"" + c.workload_id + "\"");
  // The kind is denormalized from the workload, never taken from the caller.
  c.workload_kind = *kind;
  if (!c.stage_id.empty()) {
    // A row may only name a stage of its own project: a stage of another project would
    // tie the row's life to that project's stage (deleting it cascades).
    auto own = exists(db,
                      "SELECT 1 FROM stages s JOIN workloads w ON w.kind = 'project' "
                      "AND w.ref_id = s.project_id WHERE s.id = ?1 AND w.id = ?2",
                      [&](statement& st) { st.bind(1, c.stage_id).bind(2, c.workload_id); });
    if (!own)
      return own.error();
    if (!*own)
      return make_error(ec::invalid_argument,
                        "stage_id: no stage with id \"" + c.stage_id + "\" in this workload");
  }
  if (c.id.empty())
    c.id = new_id();
  if (c.host.empty())
    c.host = "local";
  auto now = now_utc();
  auto st = db.prepare(
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
    "WHERE containers.workload_id = excluded.workload_id");
  if (!st)
    return st.error();
  st->bind(1, c.id)
    .bind(2, c.workload_id)
    .bind(3, c.workload_kind)
    .bind(4, c.role)
    .bind_or_null(5, c.stage_id)
    .bind(6, c.subdomain)
    .bind(7, c.proxy_route_id)
    .bind(8, c.npm_proxy_id)
    .bind(9, c.image_tag)
    .bind(10, c.container_id)
    .bind(11, c.image_ref)
    .bind(12, c.host)
    .bind(13, c.state)
    .bind(14, c.port)
    .bind(15, c.last_seen_at)
    .bind(16, now);
  if (auto err = st->run())
    return err;
  if (st->changes() == 0)
    // The row exists under another workload: never let one workload take another's row.
    return make_error(ec::conflict, "container row \"" + c.id + "\" belongs to another workload");
  auto stored = get_container(db, c.id);
  if (!stored)
    return stored.error();
  if (auto err = tx->commit())
    return err;
  return stored;
}

namespace {

/// The ids of the rows in the failed state now.
caf::expected<std::set<std::string>> failed_container_ids(database& db) {
  auto st = db.prepare("SELECT id FROM containers WHERE state = 'failed'");
  if (!st)
    return st.error();
  std::set<std::string> ids;
  while (st->step())
    ids.insert(st->text(0));
  if (st->error())
    return st->error();
  return ids;
}

} // namespace

caf::expected<reconcile_result> reconcile_containers(database& db,
                                                     const std::vector<observed_container>& xs) {
  reconcile_result result;
  auto tx = transaction::begin(db);
  if (!tx)
    return tx.error();
  auto now = now_utc();
  // Project rows are only updated: the project deployer is their authoritative writer, and
  // inventing rows here would race with deploys of several instances (seed).
  auto update_project_row = db.prepare(
    "UPDATE containers SET container_id = ?1, image_ref = ?2, state = ?3, port = ?4, "
    "last_seen_at = ?5, updated_at = ?6 "
    "WHERE workload_id = ?7 AND ((?8 != '' AND id = ?8) OR (?8 = '' AND container_id = ?1))");
  // Stack and site rows may be created by what Docker runs, but a conflict only ever
  // touches Docker-derived fields, so deployer-owned ones survive every tick.
  auto upsert_docker_fields = db.prepare(
    "INSERT INTO containers(id, workload_id, workload_kind, role, host, container_id, "
    "image_ref, state, port, last_seen_at, created_at, updated_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11) "
    "ON CONFLICT(id) DO UPDATE SET container_id = excluded.container_id, "
    "image_ref = excluded.image_ref, state = excluded.state, port = excluded.port, "
    "last_seen_at = excluded.last_seen_at, updated_at = excluded.updated_at "
    "WHERE containers.workload_id = excluded.workload_id");
  if (!update_project_row)
    return update_project_row.error();
  if (!upsert_docker_fields)
    return upsert_docker_fields.error();
  // Which rows were failed before the batch: those it moves into failed are news (a
  // container.failed notification), those that stay failed are not.
  auto failed_before = failed_container_ids(db);
  if (!failed_before)
    return failed_before.error();
  std::map<std::string, std::string> kinds; // workload id -> kind, for this batch
  std::map<std::string, std::string> stacks; // compose project -> workload id
  for (const auto& observed : xs) {
    const observed_container* op = &observed;
    observed_container resolved;
    if (!observed.compose_project.empty()) {
      auto s = stacks.find(observed.compose_project);
      if (s == stacks.end()) {
        auto w = stack_workload_by_compose_project(db, observed.compose_project);
        if (!w)
          return w.error();
        s = stacks.emplace(observed.compose_project, std::move(*w)).first;
      }
      // The compose project decides the stack; a label naming another workload is forged.
      if (s->second.empty()
          || (!observed.workload_id.empty() && observed.workload_id != s->second)) {
        ++result.rejected;
        continue;
      }
      resolved = observed;
      resolved.workload_id = s->second;
      if (resolved.id.empty())
        resolved.id = resolved.workload_id + "/" + resolved.role;
      op = &resolved;
    }
    const auto& o = *op;
    auto it = kinds.find(o.workload_id);
    if (it == kinds.end()) {
      auto kind = workload_kind(db, o.workload_id);
      if (!kind)
        return kind.error();
      it = kinds.emplace(o.workload_id, std::move(*kind)).first;
    }
    const auto& kind = it->second;
    if (kind.empty()) {
      // A label naming no workload is forged (or stale): never index it.
      ++result.rejected;
      continue;
    }
    auto last_seen = o.last_seen_at.empty() ? now : o.last_seen_at;
    statement* st = nullptr;
    if (kind == "project") {
      if (o.id.empty() && o.container_id.empty()) {
        // Nothing to match a row by: an empty container_id would match every row that
        // is not started yet.
        ++result.rejected;
        continue;
      }
      st = &*update_project_row;
      st->bind(1, o.container_id)
        .bind(2, o.image_ref)
        .bind(3, o.state)
        .bind(4, o.port)
        .bind(5, last_seen)
        .bind(6, now)
        .bind(7, o.workload_id)
        .bind(8, o.id);
    } else {
      if (o.id.empty()) {
        ++result.rejected;
        continue;
      }
      st = &*upsert_docker_fields;
      st->bind(1, o.id)
        .bind(2, o.workload_id)
        .bind(3, kind)
        .bind(4, o.role)
        .bind(5, o.host.empty() ? std::string{"local"} : o.host)
        .bind(6, o.container_id)
        .bind(7, o.image_ref)
        .bind(8, o.state)
        .bind(9, o.port)
        .bind(10, last_seen)
        .bind(11, now);
    }
    if (auto err = st->run())
      return err;
    if (st->changes() > 0)
      ++result.written;
    else
      ++result.rejected;
    st->reset();
  }
  auto failed_now = db.prepare(
    "SELECT id, workload_id, role, container_id FROM containers WHERE state = 'failed'");
  if (!failed_now)
    return failed_now.error();
  while (failed_now->step())
    if (failed_before->count(failed_now->text(0)) == 0)
      result.failed.push_back({failed_now->text(0), failed_now->text(1), failed_now->text(2),
                               failed_now->text(3), "failed"});
  if (failed_now->error())
    return failed_now->error();
  if (auto err = tx->commit())
    return err;
  return result;
}

caf::expected<std::vector<container_change>> sweep_missing(database& db,
                                                           const missing_sweep& sweep) {
  auto st = db.prepare(
    "UPDATE containers SET state = 'missing', updated_at = ?1 "
    "WHERE host = ?2 AND container_id != '' AND state != 'missing' "
    "AND (?4 = '' OR updated_at < ?4) "
    "AND container_id NOT IN (SELECT value FROM json_each(?3)) "
    "RETURNING id, workload_id, role, container_id");
  if (!st)
    return st.error();
  st->bind(1, now_utc())
    .bind(2, sweep.host)
    .bind(3, encode_string_array(sweep.seen_container_ids))
    .bind(4, sweep.listed_at);
  std::vector<container_change> out;
  while (st->step())
    out.push_back({st->text(0), st->text(1), st->text(2), st->text(3), "missing"});
  if (st->error())
    return st->error();
  return out;
}

caf::expected<int64_t> mark_missing(database& db, const missing_sweep& sweep) {
  auto rows = sweep_missing(db, sweep);
  if (!rows)
    return rows.error();
  return static_cast<int64_t>(rows->size());
}

} // namespace tf::store
