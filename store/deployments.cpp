#include "store/deployments.hpp"

#include "core/errors.hpp"
#include "core/clock.hpp"
#include "core/ids.hpp"
#include "store/projects.hpp"
#include "store/query.hpp"
#include "store/validate.hpp"
#include "store/workloads.hpp"

#include <algorithm>
#include <optional>
#include <set>

namespace tf::store {

namespace {

constexpr size_t max_log_line = 4096;
constexpr int64_t max_log_lines = 10000;

constexpr std::string_view deployment_columns
  = "SELECT id, workload_id, COALESCE(stage_id, ''), tag, previous_tag, status, trigger, "
    "triggered_by, error, created_at, started_at, finished_at, phase FROM deployments ";

const auto read_deployment = columns(&deployment::id, &deployment::workload_id,
                                     &deployment::stage_id, &deployment::tag,
                                     &deployment::previous_tag, &deployment::status,
                                     &deployment::trigger, &deployment::triggered_by,
                                     &deployment::error, &deployment::created_at,
                                     &deployment::started_at, &deployment::finished_at,
                                     &deployment::phase);

bool allowed(const std::string& from, const std::string& to) {
  if (from == "queued")
    return to == "running" || to == "superseded" || to == "failed";
  if (from == "running")
    return to == "succeeded" || to == "failed";
  return false;
}

} // namespace

bool is_image_tag(std::string_view tag) {
  if (tag.empty() || tag.size() > 128 || tag.front() == '.' || tag.front() == '-')
    return false;
  return std::all_of(tag.begin(), tag.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
           || c == '_' || c == '.' || c == '-';
  });
}

namespace {

/// A deployment's id, tag and status.
const auto read_deployment_head = columns(&deployment::id, &deployment::tag, &deployment::status);

caf::error check_new_deployment(const deployment& d) {
  if (!d.tag.empty() && !is_image_tag(d.tag))
    return invalid("tag", "\"" + d.tag.substr(0, 80) + "\" is not an image tag");
  static const std::set<std::string> triggers{"api", "webhook", "rollback", "cli", "ui"};
  if (triggers.count(d.trigger) == 0)
    return invalid("trigger", "must be one of api, webhook, rollback, cli, ui");
  return {};
}

/// The deploy's stage, when it names one, must be one of its workload's project's.
caf::expected<std::optional<stage>> stage_of_deployment(database& db, const deployment& d) {
  auto w = get_workload(db, d.workload_id);
  if (!w)
    return w.error();
  if (d.stage_id.empty())
    return std::optional<stage>{};
  auto s = get_stage(db, d.stage_id);
  if (!s)
    return s.error();
  if (w->kind != "project" || s->project_id != w->ref_id)
    return invalid("stage_id", "the stage is not one of this workload's");
  return std::optional<stage>{std::move(*s)};
}

} // namespace

caf::expected<deployment> create_deployment(database& db, deployment d) {
  if (auto err = check_new_deployment(d))
    return err;
  return in_transaction(db, [&]() -> caf::expected<deployment> {
    auto s = stage_of_deployment(db, d);
    if (!s)
      return s.error();
    return insert_queued_deployment(db, std::move(d));
  });
}

caf::expected<std::optional<unchanged_deploy>>
find_unchanged_deploy(database& db, const stage& s, const std::string& tag, bool served_counts) {
  // Only the newest deploy on its way matters: the deployer starts the newest request and
  // supersedes the older waiting ones, so it is what the stage will end up serving.
  auto newest = find_one(db,
                         "SELECT id, tag, status FROM deployments WHERE stage_id = ?1 "
                         "AND status IN ('queued', 'running') "
                         "ORDER BY created_at DESC, rowid DESC LIMIT 1",
                         read_deployment_head, s.id);
  if (!newest)
    return newest.error();
  if (*newest) {
    const auto& d = **newest;
    if (d.tag != tag)
      return std::optional<unchanged_deploy>{};
    unchanged_deploy u;
    u.deployment_id = d.id;
    u.reason = "a deploy of " + tag + " to " + s.name + " is already " + d.status + " ("
               + u.deployment_id + ")";
    return std::optional<unchanged_deploy>{std::move(u)};
  }
  if (served_counts && s.current_tag == tag) {
    unchanged_deploy u;
    u.reason = s.name + " already serves " + tag;
    return std::optional<unchanged_deploy>{std::move(u)};
  }
  return std::optional<unchanged_deploy>{};
}

caf::expected<stage_deploy_claimed> claim_stage_deploy(database& db, stage_deploy_claim c) {
  if (auto err = check_new_deployment(c.dep))
    return err;
  auto tx = transaction::begin(db);
  if (!tx)
    return tx.error();
  auto s = stage_of_deployment(db, c.dep);
  if (!s)
    return s.error();
  stage_deploy_claimed out;
  if (!c.force && *s) {
    auto same = find_unchanged_deploy(db, **s, c.dep.tag, false);
    if (!same)
      return same.error();
    if (*same) {
      auto on_its_way = get_deployment(db, (*same)->deployment_id);
      if (!on_its_way)
        return on_its_way.error();
      out.queued = std::move(*on_its_way);
      out.queued.log.clear();
      out.unchanged = true;
      out.reason = std::move((*same)->reason);
      return out; // nothing written: the transaction rolls back
    }
  }
  auto stored = insert_queued_deployment(db, std::move(c.dep));
  if (!stored)
    return stored.error();
  if (auto err = tx->commit())
    return err;
  out.queued = std::move(*stored);
  return out;
}

caf::expected<deployment> insert_queued_deployment(database& db, deployment d) {
  d.id = new_log_id();
  d.status = "queued";
  d.created_at = now_utc();
  if (auto err = run(db,
                     "INSERT INTO deployments(id, workload_id, stage_id, tag, status, trigger, "
                     "triggered_by, created_at) VALUES (?1, ?2, ?3, ?4, 'queued', ?5, ?6, ?7)",
                     d.id, d.workload_id, nullable{d.stage_id}, d.tag, d.trigger, d.triggered_by,
                     d.created_at))
    return err;
  d.log.clear();
  return d;
}

caf::expected<int64_t> supersede_deployments(database& db, const std::vector<std::string>& ids,
                                             const std::string& reason) {
  return in_transaction(db, [&]() -> caf::expected<int64_t> {
    auto now = now_utc();
    int64_t changed = 0;
    for (const auto& id : ids) {
      auto n = run_changes(db,
                           "UPDATE deployments SET status = 'superseded', error = ?1, "
                           "finished_at = ?2 WHERE id = ?3 AND status = 'queued'",
                           reason.substr(0, 4096), now, id);
      if (!n)
        return n.error();
      changed += *n;
    }
    return changed;
  });
}

caf::expected<deployment> transition_deployment(database& db, const deployment_transition& t) {
  return in_transaction(db, [&]() -> caf::expected<deployment> {
    auto d = get_deployment(db, t.id);
    if (!d)
      return d.error();
    if (!allowed(d->status, t.status))
      return make_error(ec::conflict, "deployment " + t.id + " is " + d->status
                                        + " and cannot become " + t.status);
    auto now = now_utc();
    std::string previous_tag = d->previous_tag;
    if (t.status == "running" && !d->stage_id.empty()) {
      auto s = get_stage(db, d->stage_id);
      if (!s)
        return s.error();
      previous_tag = s->current_tag;
    }
    if (auto err = run(db,
                       "UPDATE deployments SET status = ?1, error = ?2, previous_tag = ?3, "
                       "started_at = CASE WHEN ?1 = 'running' THEN ?4 ELSE started_at END, "
                       "finished_at = CASE WHEN ?1 IN ('succeeded', 'failed', 'superseded') "
                       "THEN ?4 ELSE finished_at END WHERE id = ?5",
                       t.status, t.error.substr(0, 4096), previous_tag, now, t.id))
      return err;
    if (t.status == "succeeded" && !d->stage_id.empty())
      // Redeploying the tag that serves keeps the previous tag: a rollback must still lead
      // somewhere else.
      if (auto err = run(db,
                         "UPDATE stages SET previous_tag = CASE WHEN current_tag = ?1 "
                         "THEN previous_tag ELSE current_tag END, current_tag = ?1, "
                         "updated_at = ?2 WHERE id = ?3",
                         d->tag, now, d->stage_id))
        return err;
    return get_deployment(db, t.id);
  });
}

caf::expected<int64_t> append_deployment_log(database& db, const deployment_log_line& l) {
  int64_t index = -1;
  auto err = in_transaction(db, [&]() -> caf::error {
    auto seq = count(db,
                     "SELECT COALESCE(MAX(seq) + 1, 0) FROM deployment_logs "
                     "WHERE deployment_id = ?1",
                     l.deployment_id);
    if (!seq)
      return seq.error();
    if (*seq >= max_log_lines)
      return {}; // a runaway log stops growing; the deploy itself goes on
    auto err = run(db,
                   "INSERT INTO deployment_logs(deployment_id, seq, at, line) "
                   "VALUES (?1, ?2, ?3, ?4)",
                   l.deployment_id, *seq, now_utc(),
                   std::string_view{l.line}.substr(0, max_log_line));
    if (!err)
      index = *seq;
    return parent_gone(err, "deployment", l.deployment_id);
  });
  if (err)
    return err;
  return index;
}

caf::expected<int64_t> fail_unfinished_deployments(database& db, const std::string& reason) {
  return run_changes(db,
                     "UPDATE deployments SET status = 'failed', error = ?1, finished_at = ?2 "
                     "WHERE status IN ('queued', 'running')",
                     reason, now_utc());
}

caf::expected<deployment> get_deployment(database& db, const std::string& id) {
  static const auto sql = concat(deployment_columns, "WHERE id = ?1");
  return one_with(db, sql, "deployment", id, read_deployment, [&](deployment& d) {
    return take(d.log, select_all(db,
                                  "SELECT line FROM deployment_logs WHERE deployment_id = ?1 "
                                  "ORDER BY seq",
                                  text_of_first_column, id));
  });
}

caf::expected<page<deployment>> list_deployments(database& db, const std::string& workload_id,
                                                 int64_t limit, int64_t offset) {
  static const auto sql = concat(deployment_columns,
                                 "WHERE (?3 = '' OR workload_id = ?3) "
                                 "ORDER BY created_at DESC, id LIMIT ?1 OFFSET ?2");
  return paged(db,
               {sql, "SELECT COUNT(*) FROM deployments WHERE (?3 = '' OR workload_id = ?3)"},
               limit, offset, read_deployment, workload_id);
}

caf::error record_deployment_phase(database& db, const deployment_phase& p) {
  // A project's steps, then a stack's (its files written, compose up), then a site's
  // (its serving container made sure of; its switch is "switch").
  static const std::set<std::string> phases{"pull",    "create", "health", "switch", "drain",
                                            "cleanup", "undo",   "files",  "up",
                                            "serve"};
  if (phases.count(p.phase) == 0)
    return invalid("phase", "\"" + p.phase.substr(0, 80)
                              + "\" is not one of pull, create, health, switch, drain, "
                                "cleanup, undo, files, up, serve");
  return in_transaction(db, [&]() -> caf::error {
    auto status = one(db, "SELECT status FROM deployments WHERE id = ?1", "deployment", p.id,
                      text_of_first_column);
    if (!status)
      return status.error();
    // Only a deploy in progress has a next step; a finished one's last phase stays as it was.
    if (*status != "running")
      return make_error(ec::conflict, "deployment " + p.id + " is " + *status
                                        + " and records no phase");
    return run(db, "UPDATE deployments SET phase = ?1 WHERE id = ?2", p.phase, p.id);
  });
}

caf::expected<std::vector<deployment>> list_unfinished_deployments(database& db) {
  // rowid breaks ties between deploys queued within the same millisecond: insertion order.
  static const auto sql = concat(deployment_columns, "WHERE status IN ('queued', 'running') "
                                                     "ORDER BY created_at, rowid");
  return select_all(db, sql, read_deployment);
}

} // namespace tf::store
