// The project deployer's behaviour, one line per message, and what it keeps per stage: the
// queue (newest request wins, the others end superseded), the running job, the settle
// period after a job, and the warm colour's grace timer. Requests that read the store first
// are in actors/project_deployer/requests.cpp, the boot recovery in .../boot.cpp.
#include "actors/project_deployer.hpp"

#include "actors/project_deployer/steps.hpp"
#include "core/errors.hpp"
#include "core/clock.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace tf {

namespace deployer {

namespace {

/// Writes the displaced deploys gathered so far as one batch; the next batch goes when
/// this one is written.
void flush_superseded(self_ptr self) {
  auto& st = self->state;
  if (st.superseding || st.to_supersede.empty())
    return;
  st.superseding = true;
  deployment_supersession batch{std::move(st.to_supersede),
                                "a newer deploy of this stage was requested"};
  st.to_supersede.clear();
  auto n = batch.ids.size();
  self->request(st.handles.writer, store_timeout, atom::update_v, std::move(batch))
    .then(
      [self](int64_t) {
        self->state.superseding = false;
        flush_superseded(self);
      },
      [self, n](const caf::error& err) {
        spdlog::warn("event=supersede-failed deployments={} error={}", n, error_message(err));
        self->state.superseding = false;
        flush_superseded(self);
      });
}

void supersede(self_ptr self, const deployment& dep) {
  self->state.to_supersede.push_back(dep.id);
  flush_superseded(self);
}

/// Tells the notifier (one-way: a deploy never waits on a notification).
void notify(self_ptr self, const char* event, const deployment& dep, const std::string& error) {
  notification_event ev;
  if (self->state.notifier && deploy_notification(event, dep, error, ev))
    self->send(self->state.notifier, atom::notify_v, std::move(ev));
}

/// A stage's job ended with a deploy waiting: start it once no newer request arrived for
/// `settle` (or the limit passed); until then look again when the quiet period would end.
void start_settled(self_ptr self, const std::string& stage_id) {
  auto& st = self->state;
  auto& slot = st.stages[stage_id];
  if (!slot.settling)
    return;
  auto now = std::chrono::steady_clock::now();
  auto quiet_at = slot.last_request + st.settings.settle;
  if (now < quiet_at && now < slot.settle_limit && !slot.waiting.empty()) {
    auto wake = std::min(quiet_at, slot.settle_limit);
    self->delayed_send(self, std::chrono::duration_cast<std::chrono::milliseconds>(wake - now)
                               + std::chrono::milliseconds{1},
                       atom::start_v, stage_id);
    return;
  }
  slot.settling = false;
  if (slot.waiting.empty())
    return;
  auto next = std::move(slot.waiting.front());
  slot.waiting.clear();
  slot.last_started_seq = next.seq;
  start_job(self, job_mode::deploy, std::move(next.dep));
}

/// A job ended: tell the notifier, keep the warm colour it left (for the grace period), and
/// let the stage's waiting deploy settle.
void on_job_done(self_ptr self, const deploy_outcome& out) {
  auto& st = self->state;
  auto& slot = st.stages[out.stage_id];
  slot.busy = false;
  if (!slot.running.id.empty() && slot.running.id == out.deployment_id)
    notify(self, out.status == "succeeded" ? "deploy.succeeded" : "deploy.failed",
           slot.running, out.error);
  slot.running = deployment{};
  spdlog::info("event=deploy-end deployment={} stage={} status={} warm={}",
               out.deployment_id, out.stage_id, out.status, out.warm_container_ids.size());
  // A failed job leaves the warm colour as it was unless it says otherwise.
  if (out.status == "succeeded" || !out.warm_container_ids.empty())
    slot.warm = out.warm_container_ids;
  // With no grace a job removes the old colour itself; only an undone recovery hands
  // over "*" (a container created as the daemon died may have landed since).
  if (!slot.warm.empty())
    schedule_warm_expiry(self, out.stage_id);
  if (!slot.waiting.empty()) {
    slot.settling = true;
    slot.settle_limit = std::chrono::steady_clock::now() + 10 * st.settings.settle;
    start_settled(self, out.stage_id);
  }
}

/// The grace period of a stage's warm colour is over: a retire job removes it, unless a
/// newer deploy took the colour over (or is about to).
void on_warm_expired(self_ptr self, const std::string& stage_id, uint64_t gen) {
  auto& slot = self->state.stages[stage_id];
  if (gen != slot.warm_generation || slot.busy || slot.settling || slot.warm.empty())
    return; // a newer deploy took over the warm colour
  deployment d;
  d.stage_id = stage_id;
  auto warm = std::move(slot.warm);
  slot.warm.clear();
  start_job(self, job_mode::retire, std::move(d), std::move(warm));
}

/// A deploy the webhook router's claim already recorded: run or queue it.
void on_queued(self_ptr self, deployment& dep) {
  if (dep.stage_id.empty() || dep.status != "queued" || dep.id.empty()) {
    spdlog::warn("event=deploy-queue-refused deployment={} reason=not a queued stage deploy",
                 dep.id);
    return;
  }
  enqueue(self, std::move(dep), ++self->state.next_seq);
}

} // namespace

void start_job(self_ptr self, job_mode mode, deployment dep, std::vector<std::string> warm) {
  auto& st = self->state;
  auto& slot = st.stages[dep.stage_id];
  slot.busy = true;
  slot.running = mode == job_mode::retire ? deployment{} : dep;
  if (mode == job_mode::deploy)
    notify(self, "deploy.started", dep, "");
  // The job decides about the warm colour now; a pending grace timer no longer applies.
  ++slot.warm_generation;
  deploy_job_spec spec;
  spec.mode = mode;
  spec.dep = std::move(dep);
  spec.warm_container_ids = std::move(warm);
  spdlog::info("event=deploy-start deployment={} stage={} tag={} mode={}", spec.dep.id,
               spec.dep.stage_id, spec.dep.tag,
               mode == job_mode::deploy ? "deploy" : mode == job_mode::recover ? "recover"
                                                                               : "retire");
  self->system().spawn<caf::detached>(deploy_job, std::move(spec), st.settings, st.handles,
                                      st.engine, st.cancel);
}

/// A deploy row exists: run it now, or queue it behind the stage's running job. Of the
/// deploys that wait, only the newest request survives; the others end superseded.
void enqueue(self_ptr self, deployment dep, uint64_t seq) {
  if (self->state.deleting.count(dep.stage_id) != 0) {
    supersede(self, dep); // its stage is being deleted
    return;
  }
  auto& slot = self->state.stages[dep.stage_id];
  slot.last_request = std::chrono::steady_clock::now();
  if (seq < slot.last_started_seq) {
    supersede(self, dep); // a newer request already ran or runs
    return;
  }
  if (!slot.busy && !slot.settling) {
    slot.last_started_seq = seq;
    start_job(self, job_mode::deploy, std::move(dep));
    return;
  }
  if (!slot.waiting.empty()) {
    if (slot.waiting.front().seq > seq) {
      supersede(self, dep);
      return;
    }
    supersede(self, slot.waiting.front().dep);
    slot.waiting.clear();
  }
  slot.waiting.push_back({std::move(dep), seq});
}

void schedule_warm_expiry(self_ptr self, const std::string& stage_id) {
  auto& st = self->state;
  auto gen = ++st.stages[stage_id].warm_generation;
  self->delayed_send(self, st.settings.rollback_grace, atom::expire_v, stage_id, gen);
}

} // namespace deployer

project_deployer_actor::behavior_type
project_deployer(project_deployer_actor::stateful_pointer<project_deployer_state> self,
                 deploy_settings settings, deploy_store_writer_actor writer,
                 std::shared_ptr<deploy_store_readers> readers, proxy_actor proxy,
                 docker_actor docker, docker::endpoint engine, docker::cancel_token cancel,
                 notifier_actor notifier) {
  using namespace deployer;
  auto& st = self->state;
  st.notifier = std::move(notifier);
  st.settings = std::move(settings);
  st.handles = deploy_handles{std::move(writer), std::move(readers), std::move(proxy),
                              caf::actor_cast<project_deployer_actor>(self)};
  st.docker = std::move(docker);
  st.engine = std::move(engine);
  st.cancel = std::move(cancel);
  return {
    [self](atom::deploy, deploy_request& req) { return request_deploy(self, std::move(req)); },
    [self](atom::queue, deployment& dep) { on_queued(self, dep); },
    [self](atom::rollback, deploy_request& req) {
      return request_rollback(self, std::move(req));
    },
    [self](atom::instance, const instance_action& act) -> caf::result<container_row> {
      return request_instance_action(self, act);
    },
    [self](atom::done, const deploy_outcome& out) { on_job_done(self, out); },
    [self](atom::start, const std::string& stage_id) { start_settled(self, stage_id); },
    [self](atom::expire, const std::string& stage_id, uint64_t gen) {
      on_warm_expired(self, stage_id, gen);
    },
    [self](atom::recover) -> caf::result<int64_t> { return recover_at_boot(self); },
    [self](atom::erase, atom::project, const std::string& id) {
      return request_removal(self, "project", id, id);
    },
    [self](atom::erase, atom::stage, const std::string& project_id, const std::string& stage) {
      return request_removal(self, "stage", project_id, stage);
    },
  };
}

} // namespace tf
