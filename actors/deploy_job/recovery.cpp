// Recovery: undoing a deploy whose switch did not take (the new colour goes, the old one
// keeps serving), and the recover job that finishes or undoes a deploy a restart interrupted,
// from the phase the journal recorded and the containers Docker has.
#include "actors/deploy_job/run.hpp"

#include <algorithm>

namespace tf {

/// Before the switch took effect: the new containers go, the old colour keeps serving.
void deploy_run::undo(const std::vector<int64_t>& target, const std::vector<int64_t>& old_slots) {
  if (cancelled())
    return;
  phase("undo");
  // The target's slots send new connections on to the colour that keeps serving.
  ask_ok(handles_.proxy, atom::close_v, target, old_slots.empty() ? serving_now_ : old_slots);
  if (!old_slots.empty()) {
    ask_ok(handles_.proxy, atom::open_v, old_slots);
    route_.serving = old_slots;
    ask<proxy_route>(handles_.writer, atom::update_v, route_);
    ask<proxy_route>(handles_.proxy, atom::update_v, route_);
  }
  std::vector<std::string> ids;
  for (const auto& c : created_)
    ids.push_back(c.first);
  auto left = remove_containers(ids, false);
  if (!left.empty())
    log(std::to_string(left.size()) + " new container(s) could not be removed; closed to the "
        "proxy, they go with the next deploy of this stage");
  else if (!ids.empty())
    log("removed the new container(s); the previous version keeps serving");
}

/// The colour a deploy interrupted by a restart was bringing up. The colour of the
/// containers it created, when there are any. Otherwise either it created none yet, or it
/// switched to the warm colour (a rollback inside the grace period creates nothing): then
/// the colour whose running containers all carry this deploy's tag, when the journal shows
/// it got past the start. Failing both, the colour that does not serve: never the serving
/// one, whose undo would close the slots the site is served from.
const std::vector<int64_t>& deploy_run::interrupted_target(bool& reused) const {
  reused = false;
  for (const auto& c : containers_)
    if (c.deployment_id == spec_.dep.id)
      return in(colour_a_, c.slot) ? colour_a_ : colour_b_;
  const auto& ph = spec_.dep.phase;
  if (ph == "health" || ph == "switch" || ph == "drain" || ph == "cleanup")
    for (const auto* colour : {&colour_a_, &colour_b_}) {
      auto there = in_slots(*colour);
      if (runs_this_tag(there)) {
        reused = true;
        return *colour;
      }
    }
  return other_colour(serving_colour());
}

/// Finishes a deploy a restart interrupted once the new colour was switched to (or may have
/// been, and is whole and healthy); otherwise undoes it and the previous version serves.
caf::error deploy_run::recover() {
  log("the daemon restarted during this deploy (phase "
      + (spec_.dep.phase.empty() ? std::string{"start"} : spec_.dep.phase) + ")");
  if (auto err = load())
    return err;
  if (auto err = observe())
    return err;
  forget_removed_rows();
  bool reused = false;
  const auto& target = interrupted_target(reused);
  // The new colour's containers: those this deploy created (undo removes them), or the
  // warm ones it switched to (undo only closes them again).
  colour_containers colour;
  for (const auto& c : containers_)
    if (c.deployment_id == spec_.dep.id || (reused && in(target, c.slot)))
      colour.emplace_back(c.id, c.slot);
  for (const auto& c : containers_)
    if (c.deployment_id == spec_.dep.id)
      created_.emplace_back(c.id, c.slot);
  std::vector<slot_container> old;
  std::vector<int64_t> old_serving;
  for (const auto& c : outside_slots(target)) {
    old.push_back(c);
    if (c.running)
      old_serving.push_back(c.slot);
  }
  serving_now_ = old_serving;
  const auto& ph = spec_.dep.phase;
  bool switched = ph == "drain" || ph == "cleanup";
  bool complete = static_cast<int64_t>(colour.size()) == instances_;
  if (ph == "switch" && complete && switch_again(target, reused))
    switched = true;
  if (switched && complete)
    return finish_switch(target, old_serving, old);
  return undo_interrupted(target, old_serving);
}

/// Journaled "switch": the new colour may already take traffic. Switches again (journal,
/// open, record, check through the proxy) if every container of it is healthy.
bool deploy_run::switch_again(const std::vector<int64_t>& target, bool reused) {
  bool healthy = true;
  for (const auto& c : containers_)
    if (c.deployment_id == spec_.dep.id || (reused && in(target, c.slot)))
      healthy = healthy && c.running && probe(c.slot);
  return healthy && !switch_to(target);
}

/// The new colour serves: the steps after the switch (drain, cleanup) as a deploy takes them.
caf::error deploy_run::finish_switch(const std::vector<int64_t>& target,
                                     const std::vector<int64_t>& old_serving,
                                     const std::vector<slot_container>& old) {
  ask_ok(handles_.proxy, atom::open_v, target);
  route_.serving = target;
  ask<proxy_route>(handles_.writer, atom::update_v, route_);
  drain(old_serving, target);
  retire_old(old);
  log("finished the switch to " + spec_.dep.tag);
  return {};
}

/// The switch did not take: the new colour goes, the previous one keeps serving.
caf::error deploy_run::undo_interrupted(const std::vector<int64_t>& target,
                                        const std::vector<int64_t>& old_serving) {
  undo(target, old_serving);
  // A container whose create was in flight at the kill may land in Docker after observe():
  // whatever does not serve goes once the grace period has passed (as at boot).
  warm_ids_ = {"*"};
  const auto& ph = spec_.dep.phase;
  return make_error(ec::unavailable,
                    "the daemon stopped during the deploy (phase " + (ph.empty() ? "start" : ph)
                      + "); "
                      + (created_.empty() ? "nothing new had been started"
                                          : "the new containers were removed")
                      + " and the previous version kept serving");
}

} // namespace tf
