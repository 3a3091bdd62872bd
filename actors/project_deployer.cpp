#include "actors/project_deployer.hpp"

#include "core/errors.hpp"
#include "core/clock.hpp"
#include "store/deployments.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace tf {

namespace {

using self_ptr = project_deployer_actor::stateful_pointer<project_deployer_state>;

/// How long the deployer waits for the store; a request from HTTP waits on us in turn.
constexpr auto store_timeout = std::chrono::seconds{10};

/// A retire job given this id removes every container of the stage that does not serve.
constexpr const char* all_not_serving = "*";

const stage* find_stage(const project& p, const std::string& name_or_id) {
  for (const auto& s : p.stages)
    if (s.name == name_or_id || s.id == name_or_id)
      return &s;
  return nullptr;
}

caf::error no_stage(const project& p, const std::string& stage) {
  return make_error(ec::not_found, "project " + p.name + " has no stage \"" + stage + "\"");
}

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
  const auto& notifier = self->state.notifier;
  if (!notifier || dep.id.empty() || dep.workload_id.empty())
    return;
  notification_event ev;
  ev.event = event;
  ev.workload_id = dep.workload_id;
  ev.deployment_id = dep.id;
  ev.stage_id = dep.stage_id;
  ev.tag = dep.tag;
  ev.error = error;
  ev.at = tf::now_utc();
  self->send(notifier, atom::notify_v, std::move(ev));
}

void start_job(self_ptr self, job_mode mode, deployment dep,
               std::vector<std::string> warm = {}) {
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

/// Reads the project, builds the row (tag from `pick`), records it, replies it, queues it.
template <class PickTag>
caf::result<stage_deploy_claimed> request_deploy(self_ptr self, deploy_request req,
                                                 PickTag pick) {
  auto seq = ++self->state.next_seq;
  auto rp = self->make_response_promise<stage_deploy_claimed>();
  auto& st = self->state;
  self->request(st.handles.readers->next(), store_timeout, atom::get_v, atom::project_v,
                req.project_id)
    .then(
      [self, rp, req, seq, pick](project& p) mutable {
        const auto* s = find_stage(p, req.stage);
        if (!s) {
          rp.deliver(no_stage(p, req.stage));
          return;
        }
        auto tag = pick(*s);
        if (!tag) {
          rp.deliver(tag.error());
          return;
        }
        deployment d;
        d.workload_id = p.workload_id;
        d.stage_id = s->id;
        d.tag = *tag;
        d.trigger = req.trigger.empty() ? "api" : req.trigger;
        d.triggered_by = req.triggered_by;
        stage_deploy_claim claim{std::move(d), req.force};
        self->request(self->state.handles.writer, store_timeout, atom::create_v,
                      std::move(claim))
          .then(
            [self, rp, seq](stage_deploy_claimed& got) mutable {
              rp.deliver(got);
              if (got.unchanged) {
                spdlog::info("event=deploy-unchanged deployment={} reason={}", got.queued.id,
                             got.reason);
                return;
              }
              enqueue(self, std::move(got.queued), seq);
            },
            [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      },
      [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

} // namespace

project_deployer_actor::behavior_type
project_deployer(project_deployer_actor::stateful_pointer<project_deployer_state> self,
                 deploy_settings settings, deploy_store_writer_actor writer,
                 std::shared_ptr<reader_pool<deploy_store_reader_actor>> readers,
                 proxy_actor proxy,
                 docker_actor docker, docker::endpoint engine, docker::cancel_token cancel,
                 notifier_actor notifier) {
  auto& st = self->state;
  st.notifier = std::move(notifier);
  st.settings = std::move(settings);
  st.handles = deploy_handles{std::move(writer), std::move(readers), std::move(proxy),
                              caf::actor_cast<project_deployer_actor>(self)};
  st.docker = std::move(docker);
  st.engine = std::move(engine);
  st.cancel = std::move(cancel);
  return {
    [self](atom::deploy, deploy_request& req) {
      return request_deploy(self, std::move(req),
                            [tag = req.tag](const stage&) -> caf::expected<std::string> {
                              if (!store::is_image_tag(tag))
                                return make_error(ec::invalid_argument,
                                                  "tag: \"" + tag.substr(0, 200)
                                                    + "\" is not a valid image tag");
                              return tag;
                            });
    },
    [self](atom::queue, deployment& dep) {
      if (dep.stage_id.empty() || dep.status != "queued" || dep.id.empty()) {
        spdlog::warn("event=deploy-queue-refused deployment={} reason=not a queued stage deploy",
                     dep.id);
        return;
      }
      enqueue(self, std::move(dep), ++self->state.next_seq);
    },
    [self](atom::rollback, deploy_request& req) {
      if (req.trigger.empty() || req.trigger == "api")
        req.trigger = "rollback";
      req.force = true; // asked for by name: never folded into a deploy on its way
      return request_deploy(self, std::move(req),
                            [](const stage& s) -> caf::expected<std::string> {
                              if (s.previous_tag.empty())
                                return make_error(ec::conflict, "stage " + s.name
                                                                  + " has no previous tag "
                                                                    "to roll back to");
                              return s.previous_tag;
                            });
    },
    [self](atom::instance, const instance_action& act) -> caf::result<container_row> {
      auto rp = self->make_response_promise<container_row>();
      auto& st = self->state;
      if (act.action != "stop" && act.action != "start" && act.action != "restart")
        return make_error(ec::invalid_argument, "action must be stop, start or restart");
      auto reader = st.handles.readers->next();
      self->request(reader, store_timeout, atom::get_v, atom::project_v, act.project_id)
        .then(
          [self, rp, act, reader](project& p) mutable {
            const auto* s = find_stage(p, act.stage);
            if (!s) {
              rp.deliver(no_stage(p, act.stage));
              return;
            }
            auto stage_id = s->id;
            auto stage_name = s->name;
            self->request(reader, store_timeout, atom::get_v, atom::container_v,
                          act.container_row_id)
              .then(
                [self, rp, act, p, stage_id, stage_name](container_row& row) mutable {
                  // The URL names a project and a stage: the row must be theirs, or a
                  // user of one project could stop another project's containers (seed).
                  if (row.workload_id != p.workload_id || row.role != stage_name
                      || (!row.stage_id.empty() && row.stage_id != stage_id)
                      || row.container_id.empty()) {
                    rp.deliver(make_error(ec::not_found, "no container \""
                                                           + act.container_row_id
                                                           + "\" in this stage"));
                    return;
                  }
                  auto grace = static_cast<int64_t>(self->state.settings.stop_grace.count());
                  auto deliver = [rp, row, act](const atom::ok&) mutable {
                    row.state = act.action == "stop" ? "stopped" : "running";
                    rp.deliver(row);
                  };
                  auto fail = [rp](caf::error& err) mutable { rp.deliver(std::move(err)); };
                  auto& docker = self->state.docker;
                  auto timeout = std::chrono::seconds{grace + 30};
                  if (act.action == "start")
                    self->request(docker, timeout, atom::start_v, row.container_id)
                      .then(deliver, fail);
                  else if (act.action == "stop")
                    self->request(docker, timeout, atom::stop_v, row.container_id, grace)
                      .then(deliver, fail);
                  else
                    self->request(docker, timeout, atom::restart_v, row.container_id, grace)
                      .then(deliver, fail);
                },
                [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
          },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [self](atom::done, const deploy_outcome& out) {
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
      if (!slot.warm.empty()) {
        auto gen = ++slot.warm_generation;
        self->delayed_send(self, st.settings.rollback_grace, atom::expire_v, out.stage_id,
                           gen);
      }
      if (!slot.waiting.empty()) {
        slot.settling = true;
        slot.settle_limit = std::chrono::steady_clock::now() + 10 * st.settings.settle;
        start_settled(self, out.stage_id);
      }
    },
    [self](atom::start, const std::string& stage_id) { start_settled(self, stage_id); },
    [self](atom::expire, const std::string& stage_id, uint64_t gen) {
      auto& slot = self->state.stages[stage_id];
      if (gen != slot.warm_generation || slot.busy || slot.settling || slot.warm.empty())
        return; // a newer deploy took over the warm colour
      deployment d;
      d.stage_id = stage_id;
      auto warm = std::move(slot.warm);
      slot.warm.clear();
      start_job(self, job_mode::retire, std::move(d), std::move(warm));
    },
    [self](atom::recover) -> caf::result<int64_t> {
      auto rp = self->make_response_promise<int64_t>();
      auto& st = self->state;
      auto reader = st.handles.readers->next();
      // Routes first: a proxy that lost its config (restarted) gets it back.
      self->request(reader, store_timeout, atom::list_v, atom::route_v)
        .then(
          [self, rp, reader](std::vector<proxy_route>& routes) mutable {
            auto& st = self->state;
            for (auto& r : routes) {
              self->request(st.handles.proxy, std::chrono::seconds{60}, atom::apply_v, r)
                .then([](const proxy_route&) {},
                      [id = r.id](const caf::error& err) {
                        spdlog::warn("event=route-reapply-failed route={} error={}", id,
                                     error_message(err));
                      });
              // The slots the route serves from are open, whatever a killed run left in the
              // gate: the proxy applies this before any recover job's request.
              if (!r.serving.empty())
                self->request(st.handles.proxy, std::chrono::seconds{60}, atom::open_v, r.serving)
                  .then([](atom::ok) {},
                        [id = r.id](const caf::error& err) {
                          spdlog::warn("event=serving-slots-open-failed route={} error={}", id,
                                       error_message(err));
                        });
            }
            self->request(reader, store_timeout, atom::list_v, atom::recover_v)
              .then(
                [self, rp, routes](std::vector<deployment>& unfinished) mutable {
                  auto& st = self->state;
                  int64_t n = 0;
                  for (auto& d : unfinished) {
                    ++n;
                    if (d.status == "running") {
                      auto& slot = st.stages[d.stage_id];
                      slot.last_started_seq = ++st.next_seq;
                      start_job(self, job_mode::recover, std::move(d));
                    } else if (!d.stage_id.empty()) {
                      enqueue(self, std::move(d), ++st.next_seq);
                    }
                  }
                  // A colour kept warm by the previous run lost its timer: it gets a new
                  // grace period, then whatever does not serve is removed. Stages with a
                  // job now are left to it (its end schedules the warm colour itself).
                  for (const auto& r : routes) {
                    auto& slot = st.stages[r.stage_id];
                    if (r.serving.empty() || slot.busy)
                      continue;
                    slot.warm = {std::string{all_not_serving}};
                    auto gen = ++slot.warm_generation;
                    self->delayed_send(self, st.settings.rollback_grace, atom::expire_v,
                                       r.stage_id, gen);
                  }
                  if (n > 0)
                    spdlog::info("event=deploys-recovered count={}", n);
                  rp.deliver(n);
                },
                [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
          },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
  };
}

} // namespace tf
