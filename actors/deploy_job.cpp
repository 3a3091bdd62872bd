// The deploy job: runs one deploy, recovery or retire of a project stage (the steps are in
// actors/deploy_job/, sharing the run's state in actors/deploy_job/run.hpp) and tells the
// deployer how it ended.
#include "actors/deploy_job.hpp"

#include "actors/deploy_job/run.hpp"
#include "actors/fault_point.hpp"
#include "store/deployments.hpp"

namespace tf {

/// Runs the job; the outcome is what the deployer hears.
deploy_outcome deploy_run::run() {
  outcome_.deployment_id = spec_.dep.id;
  outcome_.stage_id = spec_.dep.stage_id;
  caf::error err;
  switch (spec_.mode) {
    case job_mode::deploy: err = deploy(); break;
    case job_mode::recover: err = recover(); break;
    case job_mode::retire: err = retire(); break;
  }
  if (err && spec_.mode != job_mode::retire)
    finish("failed", error_message(err));
  else if (!err && spec_.mode != job_mode::retire)
    finish("succeeded", "");
  if (err)
    outcome_.error = error_message(err);
  outcome_.warm_container_ids = warm_ids_;
  return outcome_;
}

/// A queued deploy: the new colour brought up beside the serving one (or the warm one reused),
/// checked healthy, switched to, and the old colour drained and retired.
caf::error deploy_run::deploy() {
  auto started = ask<deployment>(handles_.writer, atom::update_v,
                                 deployment_transition{spec_.dep.id, "running", ""});
  if (!started)
    return started.error();
  fault_point("running");
  if (auto err = load())
    return err;
  log("deploying " + image_ref_ + " to " + proj_.name + "/" + stg_.name + " ("
      + std::to_string(instances_) + " instance(s), proxy " + provider_ + ")");
  if (auto err = observe())
    return err;
  const auto& target = other_colour(serving_colour());
  auto old = outside_slots(target);
  serving_now_.clear();
  for (const auto& c : old)
    if (c.running)
      serving_now_.push_back(c.slot);
  const auto& serving_now = serving_now_;
  // A rollback inside the grace period: the previous colour is still running, closed.
  auto warm = in_slots(target);
  bool reuse = runs_this_tag(warm);
  colour_containers colour;
  if (reuse) {
    log("the containers of " + spec_.dep.tag + " are still warm: switching only");
    for (const auto& c : warm)
      colour.emplace_back(c.id, c.slot);
  } else {
    if (auto err = bring_up(target))
      return err;
    colour = created_;
  }
  if (auto err = wait_healthy(colour)) {
    if (!reuse)
      undo(target, {});
    return err;
  }
  if (auto err = switch_to(target)) {
    if (reuse)
      created_.clear(); // never remove the warm colour we only tried to switch to
    undo(target, serving_now);
    return err;
  }
  drain(serving_now, target);
  retire_old(old);
  fault_point("retired");
  return {};
}

/// The image pulled and the new colour created in the target slots (removed again if that
/// fails).
caf::error deploy_run::bring_up(const std::vector<int64_t>& target) {
  if (auto err = pull())
    return err;
  if (auto err = create_colour(target)) {
    undo(target, {});
    return err;
  }
  return {};
}

void deploy_job(caf::blocking_actor* self, deploy_job_spec spec, deploy_settings settings,
                deploy_handles handles, docker::endpoint engine, docker::cancel_token cancel) {
  auto deployer = handles.deployer;
  deploy_run job{self, std::move(spec), std::move(settings), std::move(handles),
                 std::move(engine), cancel};
  auto outcome = job.run();
  if (!job.cancelled())
    self->send(deployer, atom::done_v, std::move(outcome));
}

} // namespace tf
