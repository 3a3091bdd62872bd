// The project deployer's requests: a deploy or rollback reads the project, records the
// queued row through the writer's claim, replies it and queues it; an instance action reads
// the project and the container row, checks they agree, and asks Docker. Each answer of the
// store is handled by its own named step.
#include "actors/project_deployer/steps.hpp"

#include "core/errors.hpp"
#include "store/deployments.hpp"

#include <spdlog/spdlog.h>

namespace tf::deployer {

namespace {

const stage* find_stage(const project& p, const std::string& name_or_id) {
  for (const auto& s : p.stages)
    if (s.name == name_or_id || s.id == name_or_id)
      return &s;
  return nullptr;
}

caf::error no_stage(const project& p, const std::string& stage) {
  return make_error(ec::not_found, "project " + p.name + " has no stage \"" + stage + "\"");
}

using claim_promise = caf::typed_response_promise<stage_deploy_claimed>;
using container_promise = caf::typed_response_promise<container_row>;

/// Which tag a request deploys to the stage it names.
using tag_picker = caf::expected<std::string> (*)(const deploy_request&, const stage&);

/// A deploy: the tag the request names, if it is a valid image tag.
caf::expected<std::string> requested_tag(const deploy_request& req, const stage&) {
  const auto& tag = req.tag;
  if (!store::is_image_tag(tag))
    return make_error(ec::invalid_argument,
                      "tag: \"" + tag.substr(0, 200) + "\" is not a valid image tag");
  return tag;
}

/// A rollback: the stage's previous tag.
caf::expected<std::string> previous_tag(const deploy_request&, const stage& s) {
  if (s.previous_tag.empty())
    return make_error(ec::conflict,
                      "stage " + s.name + " has no previous tag to roll back to");
  return s.previous_tag;
}

// -- deploy and rollback: read the project, claim, queue --

/// Step 3: the row is recorded; reply it, and queue it unless the claim found it unchanged.
void on_claimed(self_ptr self, claim_promise rp, uint64_t seq, stage_deploy_claimed& got) {
  rp.deliver(got);
  if (got.unchanged) {
    spdlog::info("event=deploy-unchanged deployment={} reason={}", got.queued.id, got.reason);
    return;
  }
  enqueue(self, std::move(got.queued), seq);
}

/// Step 2: the project is read; build the row (tag from `pick`) and have the writer claim it.
void claim(self_ptr self, claim_promise rp, const deploy_request& req, uint64_t seq,
           tag_picker pick, const project& p) {
  const auto* s = find_stage(p, req.stage);
  if (!s) {
    rp.deliver(no_stage(p, req.stage));
    return;
  }
  auto tag = pick(req, *s);
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
  stage_deploy_claim c{std::move(d), req.force};
  self->request(self->state.handles.writer, store_timeout, atom::create_v, std::move(c))
    .then([self, rp, seq](stage_deploy_claimed& got) { on_claimed(self, rp, seq, got); },
          deliver_error(rp));
}

/// Step 1: reads the project; the arrival order is taken now, so the newest request wins.
caf::result<stage_deploy_claimed> read_and_claim(self_ptr self, deploy_request req,
                                                 tag_picker pick) {
  auto seq = ++self->state.next_seq;
  auto rp = self->make_response_promise<stage_deploy_claimed>();
  self->request(self->state.handles.readers->next(), store_timeout, atom::get_v,
                atom::project_v, req.project_id)
    .then([self, rp, req, seq, pick](project& p) { claim(self, rp, req, seq, pick, p); },
          deliver_error(rp));
  return rp;
}

// -- instance actions: read the project, then the container, then ask Docker --

/// Step 3: the row belongs to the stage; stop, start or restart its container.
void act_on_container(self_ptr self, container_promise rp, const instance_action& act,
                      container_row row) {
  auto grace = static_cast<int64_t>(self->state.settings.stop_grace.count());
  auto deliver = [rp, row, act](const atom::ok&) mutable {
    row.state = act.action == "stop" ? "stopped" : "running";
    rp.deliver(row);
  };
  auto fail = deliver_error(rp);
  auto& docker = self->state.docker;
  auto timeout = std::chrono::seconds{grace + 30};
  if (act.action == "start")
    self->request(docker, timeout, atom::start_v, row.container_id).then(deliver, fail);
  else if (act.action == "stop")
    self->request(docker, timeout, atom::stop_v, row.container_id, grace).then(deliver, fail);
  else
    self->request(docker, timeout, atom::restart_v, row.container_id, grace)
      .then(deliver, fail);
}

/// Step 2: the project is read; read the container row the URL names.
void read_container(self_ptr self, container_promise rp, const instance_action& act,
                    reader_handle reader, const project& p) {
  const auto* s = find_stage(p, act.stage);
  if (!s) {
    rp.deliver(no_stage(p, act.stage));
    return;
  }
  self->request(reader, store_timeout, atom::get_v, atom::container_v, act.container_row_id)
    .then(
      [self, rp, act, workload_id = p.workload_id, stage_id = s->id,
       stage_name = s->name](container_row& row) mutable {
        // The URL names a project and a stage: the row must be theirs, or a user of one
        // project could stop another project's containers (seed).
        if (row.workload_id != workload_id || row.role != stage_name
            || (!row.stage_id.empty() && row.stage_id != stage_id)
            || row.container_id.empty()) {
          rp.deliver(make_error(ec::not_found, "no container \"" + act.container_row_id
                                                 + "\" in this stage"));
          return;
        }
        act_on_container(self, rp, act, std::move(row));
      },
      deliver_error(rp));
}

} // namespace

caf::result<stage_deploy_claimed> request_deploy(self_ptr self, deploy_request req) {
  return read_and_claim(self, std::move(req), requested_tag);
}

caf::result<stage_deploy_claimed> request_rollback(self_ptr self, deploy_request req) {
  if (req.trigger.empty() || req.trigger == "api")
    req.trigger = "rollback";
  req.force = true; // asked for by name: never folded into a deploy on its way
  return read_and_claim(self, std::move(req), previous_tag);
}

/// Step 1: reads the project the URL names.
caf::result<container_row> request_instance_action(self_ptr self, const instance_action& act) {
  // Checked before the promise exists: once one does, CAF drops an error returned here and
  // the caller would wait out its timeout instead of reading why.
  if (act.action != "stop" && act.action != "start" && act.action != "restart")
    return make_error(ec::invalid_argument, "action must be stop, start or restart");
  auto rp = self->make_response_promise<container_row>();
  auto reader = self->state.handles.readers->next();
  self->request(reader, store_timeout, atom::get_v, atom::project_v, act.project_id)
    .then([self, rp, act, reader](project& p) { read_container(self, rp, act, reader, p); },
          deliver_error(rp));
  return rp;
}

} // namespace tf::deployer
