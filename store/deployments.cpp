#include "store/deployments.hpp"

#include "core/errors.hpp"
#include "core/clock.hpp"
#include "core/ids.hpp"
#include "store/reads.hpp"

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

deployment read_deployment(const statement& st) {
  deployment d;
  d.id = st.text(0);
  d.workload_id = st.text(1);
  d.stage_id = st.text(2);
  d.tag = st.text(3);
  d.previous_tag = st.text(4);
  d.status = st.text(5);
  d.trigger = st.text(6);
  d.triggered_by = st.text(7);
  d.error = st.text(8);
  d.created_at = st.text(9);
  d.started_at = st.text(10);
  d.finished_at = st.text(11);
  d.phase = st.text(12);
  return d;
}

caf::error invalid(const std::string& field, const std::string& why) {
  return make_error(ec::invalid_argument, field + ": " + why);
}

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
  auto tx = transaction::begin(db);
  if (!tx)
    return tx.error();
  auto s = stage_of_deployment(db, d);
  if (!s)
    return s.error();
  auto stored = insert_queued_deployment(db, std::move(d));
  if (!stored)
    return stored.error();
  if (auto err = tx->commit())
    return err;
  return stored;
}

caf::expected<std::optional<unchanged_deploy>>
find_unchanged_deploy(database& db, const stage& s, const std::string& tag, bool served_counts) {
  // Only the newest deploy on its way matters: the deployer starts the newest request and
  // supersedes the older waiting ones, so it is what the stage will end up serving.
  auto st = db.prepare("SELECT id, tag, status FROM deployments WHERE stage_id = ?1 "
                       "AND status IN ('queued', 'running') "
                       "ORDER BY created_at DESC, rowid DESC LIMIT 1");
  if (!st)
    return st.error();
  st->bind(1, s.id);
  if (st->step()) {
    if (st->text(1) != tag)
      return std::optional<unchanged_deploy>{};
    unchanged_deploy u;
    u.deployment_id = st->text(0);
    u.reason = "a deploy of " + tag + " to " + s.name + " is already " + st->text(2) + " ("
               + u.deployment_id + ")";
    return std::optional<unchanged_deploy>{std::move(u)};
  }
  if (st->error())
    return st->error();
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
  d.id = new_id();
  d.status = "queued";
  d.created_at = now_utc();
  auto st = db.prepare("INSERT INTO deployments(id, workload_id, stage_id, tag, status, trigger, "
                       "triggered_by, created_at) VALUES (?1, ?2, ?3, ?4, 'queued', ?5, ?6, ?7)");
  if (!st)
    return st.error();
  st->bind(1, d.id)
    .bind(2, d.workload_id)
    .bind_or_null(3, d.stage_id)
    .bind(4, d.tag)
    .bind(5, d.trigger)
    .bind(6, d.triggered_by)
    .bind(7, d.created_at);
  if (auto err = st->run())
    return err;
  d.log.clear();
  return d;
}

caf::expected<int64_t> supersede_deployments(database& db, const std::vector<std::string>& ids,
                                             const std::string& reason) {
  auto tx = transaction::begin(db);
  if (!tx)
    return tx.error();
  auto st = db.prepare("UPDATE deployments SET status = 'superseded', error = ?1, "
                       "finished_at = ?2 WHERE id = ?3 AND status = 'queued'");
  if (!st)
    return st.error();
  auto now = now_utc();
  int64_t changed = 0;
  for (const auto& id : ids) {
    st->reset();
    st->bind(1, reason.substr(0, 4096)).bind(2, now).bind(3, id);
    if (auto err = st->run())
      return err;
    changed += st->changes();
  }
  if (auto err = tx->commit())
    return err;
  return changed;
}

caf::expected<deployment> transition_deployment(database& db, const deployment_transition& t) {
  auto tx = transaction::begin(db);
  if (!tx)
    return tx.error();
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
  auto st = db.prepare(
    "UPDATE deployments SET status = ?1, error = ?2, previous_tag = ?3, "
    "started_at = CASE WHEN ?1 = 'running' THEN ?4 ELSE started_at END, "
    "finished_at = CASE WHEN ?1 IN ('succeeded', 'failed', 'superseded') THEN ?4 "
    "ELSE finished_at END WHERE id = ?5");
  if (!st)
    return st.error();
  st->bind(1, t.status).bind(2, t.error.substr(0, 4096)).bind(3, previous_tag).bind(4, now).bind(5, t.id);
  if (auto err = st->run())
    return err;
  if (t.status == "succeeded" && !d->stage_id.empty()) {
    // Redeploying the tag that serves keeps the previous tag: a rollback must still lead
    // somewhere else.
    auto tags = db.prepare("UPDATE stages SET previous_tag = CASE WHEN current_tag = ?1 "
                           "THEN previous_tag ELSE current_tag END, current_tag = ?1, "
                           "updated_at = ?2 WHERE id = ?3");
    if (!tags)
      return tags.error();
    tags->bind(1, d->tag).bind(2, now).bind(3, d->stage_id);
    if (auto err = tags->run())
      return err;
  }
  auto stored = get_deployment(db, t.id);
  if (!stored)
    return stored.error();
  if (auto err = tx->commit())
    return err;
  return stored;
}

caf::error append_deployment_log(database& db, const deployment_log_line& l) {
  auto tx = transaction::begin(db);
  if (!tx)
    return tx.error();
  auto next = db.prepare("SELECT COALESCE(MAX(seq) + 1, 0) FROM deployment_logs "
                         "WHERE deployment_id = ?1");
  if (!next)
    return next.error();
  next->bind(1, l.deployment_id);
  if (!next->step())
    return next->error();
  auto seq = next->integer(0);
  if (seq >= max_log_lines)
    return {}; // a runaway log stops growing; the deploy itself goes on
  auto st = db.prepare("INSERT INTO deployment_logs(deployment_id, seq, at, line) "
                       "VALUES (?1, ?2, ?3, ?4)");
  if (!st)
    return st.error();
  st->bind(1, l.deployment_id)
    .bind(2, seq)
    .bind(3, now_utc())
    .bind(4, std::string_view{l.line}.substr(0, max_log_line));
  if (auto err = st->run()) {
    if (err == ec::conflict)
      return make_error(ec::not_found, "no deployment with id \"" + l.deployment_id + "\"");
    return err;
  }
  return tx->commit();
}

caf::expected<int64_t> fail_unfinished_deployments(database& db, const std::string& reason) {
  auto st = db.prepare("UPDATE deployments SET status = 'failed', error = ?1, finished_at = ?2 "
                       "WHERE status IN ('queued', 'running')");
  if (!st)
    return st.error();
  st->bind(1, reason).bind(2, now_utc());
  if (auto err = st->run())
    return err;
  return st->changes();
}

caf::expected<deployment> get_deployment(database& db, const std::string& id) {
  read_snapshot snapshot{db};
  if (snapshot.error())
    return snapshot.error();
  auto st = db.prepare(std::string{deployment_columns} + "WHERE id = ?1");
  if (!st)
    return st.error();
  st->bind(1, id);
  if (!st->step())
    return st->error() ? st->error()
                       : make_error(ec::not_found, "no deployment with id \"" + id + "\"");
  auto d = read_deployment(*st);
  auto lines = db.prepare("SELECT line FROM deployment_logs WHERE deployment_id = ?1 ORDER BY seq");
  if (!lines)
    return lines.error();
  lines->bind(1, id);
  while (lines->step())
    d.log.push_back(lines->text(0));
  if (lines->error())
    return lines->error();
  return d;
}

caf::expected<page<deployment>> list_deployments(database& db, const std::string& workload_id,
                                                 int64_t limit, int64_t offset) {
  clamp_page(limit, offset);
  read_snapshot snapshot{db};
  if (snapshot.error())
    return snapshot.error();
  auto st = db.prepare(std::string{deployment_columns}
                       + "WHERE (?1 = '' OR workload_id = ?1) ORDER BY created_at DESC, id "
                         "LIMIT ?2 OFFSET ?3");
  if (!st)
    return st.error();
  st->bind(1, workload_id).bind(2, limit).bind(3, offset);
  page<deployment> out;
  while (st->step())
    out.items.push_back(read_deployment(*st));
  if (st->error())
    return st->error();
  auto total = db.prepare("SELECT COUNT(*) FROM deployments WHERE (?1 = '' OR workload_id = ?1)");
  if (!total)
    return total.error();
  total->bind(1, workload_id);
  if (!total->step())
    return total->error();
  out.total = total->integer(0);
  return out;
}

caf::error record_deployment_phase(database& db, const deployment_phase& p) {
  static const std::set<std::string> phases{"pull",  "create",  "health", "switch",
                                            "drain", "cleanup", "undo"};
  if (phases.count(p.phase) == 0)
    return invalid("phase", "\"" + p.phase.substr(0, 80)
                              + "\" is not one of pull, create, health, switch, drain, "
                                "cleanup, undo");
  auto tx = transaction::begin(db);
  if (!tx)
    return tx.error();
  auto status = db.prepare("SELECT status FROM deployments WHERE id = ?1");
  if (!status)
    return status.error();
  status->bind(1, p.id);
  if (!status->step())
    return status->error() ? status->error()
                           : make_error(ec::not_found, "no deployment with id \"" + p.id + "\"");
  // Only a deploy in progress has a next step; a finished one's last phase stays as it was.
  if (auto current = status->text(0); current != "running")
    return make_error(ec::conflict, "deployment " + p.id + " is " + current
                                      + " and records no phase");
  auto st = db.prepare("UPDATE deployments SET phase = ?1 WHERE id = ?2");
  if (!st)
    return st.error();
  st->bind(1, p.phase).bind(2, p.id);
  if (auto err = st->run())
    return err;
  return tx->commit();
}

caf::expected<std::vector<deployment>> list_unfinished_deployments(database& db) {
  // rowid breaks ties between deploys queued within the same millisecond: insertion order.
  auto st = db.prepare(std::string{deployment_columns}
                       + "WHERE status IN ('queued', 'running') ORDER BY created_at, rowid");
  if (!st)
    return st.error();
  std::vector<deployment> out;
  while (st->step())
    out.push_back(read_deployment(*st));
  if (st->error())
    return st->error();
  return out;
}

} // namespace tf::store
