// The deploy job's context: the project and stage read fresh, the stage's route claimed and
// applied, the provider learnt, and the containers Docker has for the stage, by colour.
#include "actors/deploy_job/run.hpp"

#include "docker/client.hpp"
#include "store/deployments.hpp"

#include <algorithm>

namespace tf {

std::string ports_text(const std::vector<int64_t>& ports) {
  std::string out;
  for (auto p : ports)
    out += (out.empty() ? "" : ", ") + std::to_string(p);
  return out;
}

/// Reads the project and stage fresh (settings may have changed since the deploy queued),
/// claims the stage's route and learns the provider.
caf::error deploy_run::load() {
  if (spec_.dep.workload_id.empty())
    if (auto err = find_workload_of_stage())
      return err;
  auto w = ask<workload>(handles_.readers->next(), atom::get_v, atom::workload_v,
                         spec_.dep.workload_id);
  if (!w)
    return w.error();
  auto p = ask<project>(handles_.readers->next(), atom::get_v, atom::project_v, w->ref_id);
  if (!p)
    return p.error();
  proj_ = std::move(*p);
  auto s = std::find_if(proj_.stages.begin(), proj_.stages.end(),
                        [&](const stage& x) { return x.id == spec_.dep.stage_id; });
  if (s == proj_.stages.end())
    return make_error(ec::not_found, "the stage of this deploy no longer exists");
  stg_ = *s;
  if (stg_.port <= 0)
    return make_error(ec::invalid_argument, "stage " + stg_.name + " has no container port");
  instances_ = std::clamp<int64_t>(stg_.instances, 1, 32);
  auto status = self_->request(handles_.proxy, deploy_ask_timeout, atom::status_v);
  caf::error status_err;
  status.receive(
    [&](std::string& name, bool gated) {
      provider_ = std::move(name);
      gated_ = gated;
    },
    [&](caf::error& e) { status_err = std::move(e); });
  if (status_err)
    return status_err;
  if (auto err = claim_route())
    return err;
  image_ref_ = proj_.image + ":" + spec_.dep.tag;
  return {};
}

/// A retire knows only its stage: the stage's container rows name the workload.
caf::error deploy_run::find_workload_of_stage() {
  container_filter f;
  f.stage_id = spec_.dep.stage_id;
  f.limit = 1;
  auto rows = ask<page<container_row>>(handles_.readers->next(), atom::list_v,
                                       atom::container_v, f);
  if (!rows)
    return rows.error();
  if (rows->items.empty())
    return make_error(ec::not_found, "stage " + spec_.dep.stage_id + " has no containers");
  spec_.dep.workload_id = rows->items.front().workload_id;
  return {};
}

/// Claims the stage's route (its slots: colour a is the first half, colour b the second)
/// and has the proxy apply it.
caf::error deploy_run::claim_route() {
  route_claim claim;
  claim.owner_id = stg_.id;
  claim.host = stg_.subdomain.empty() ? proj_.name + "-" + stg_.name : stg_.subdomain;
  if (!settings_.proxy_domain.empty())
    claim.host += "." + settings_.proxy_domain;
  claim.health_path = stg_.health_path.empty() ? "/" : stg_.health_path;
  claim.slot_count = 2 * instances_;
  claim.port_low = settings_.slot_port_low;
  claim.port_high = settings_.slot_port_high;
  auto route = ask<proxy_route>(handles_.writer, atom::route_v, claim);
  if (!route)
    return route.error();
  // The proxy config lists every slot and is only loaded when it changed: never in a
  // deploy of an unchanged stage (a config load closes idle client connections).
  auto applied = ask<proxy_route>(handles_.proxy, atom::apply_v, *route);
  if (!applied)
    return applied.error();
  route_ = std::move(*applied);
  if (route_.npm_proxy_id != route->npm_proxy_id) {
    auto saved = ask<proxy_route>(handles_.writer, atom::update_v, route_);
    if (!saved)
      return saved.error();
  }
  colour_a_.assign(route_.slots.begin(), route_.slots.begin() + instances_);
  colour_b_.assign(route_.slots.begin() + instances_, route_.slots.begin() + 2 * instances_);
  return {};
}

/// Every container of the stage Docker has, with its slot.
caf::error deploy_run::observe() {
  docker::filters f{{"label", {std::string{docker::label::stage_id} + "=" + stg_.id}}};
  auto listed = docker_.list_containers(f, true);
  if (!listed)
    return listed.error();
  containers_.clear();
  for (const auto& c : *listed) {
    slot_container x;
    x.id = c.id;
    x.running = c.state == "running";
    x.image = c.image;
    auto label = [&](const char* key) {
      auto it = c.labels.find(key);
      return it == c.labels.end() ? std::string{} : it->second;
    };
    x.image_tag = label(docker::label::image_tag);
    x.deployment_id = label(docker::label::deployment_id);
    try {
      x.slot = std::stoll(label(docker::label::slot));
    } catch (...) {
      x.slot = 0; // not ours to place: treated as in no slot, removed with the stage
    }
    containers_.push_back(std::move(x));
  }
  return {};
}

bool deploy_run::in(const std::vector<int64_t>& ports, int64_t p) {
  return std::find(ports.begin(), ports.end(), p) != ports.end();
}

/// The stage's containers outside `ports`: after a change of the instance count the old
/// colour may sit on slots of either half.
std::vector<slot_container> deploy_run::outside_slots(const std::vector<int64_t>& ports) const {
  std::vector<slot_container> out;
  for (const auto& c : containers_)
    if (!in(ports, c.slot))
      out.push_back(c);
  return out;
}

std::vector<slot_container> deploy_run::in_slots(const std::vector<int64_t>& ports) const {
  std::vector<slot_container> out;
  for (const auto& c : containers_)
    if (in(ports, c.slot))
      out.push_back(c);
  return out;
}

/// Whether `there` is a whole colour of running containers of this deploy's image: the
/// warm colour a rollback inside the grace period switches to.
bool deploy_run::runs_this_tag(const std::vector<slot_container>& there) const {
  return static_cast<int64_t>(there.size()) == instances_
         && std::all_of(there.begin(), there.end(), [&](const slot_container& c) {
              return c.running && c.image_tag == spec_.dep.tag && c.image == image_ref_;
            });
}

/// Which colour serves now: the one the route says, else the one with running containers
/// (a route that lost its serving list), else colour b, so the first deploy goes to a.
const std::vector<int64_t>& deploy_run::serving_colour() const {
  for (auto p : route_.serving)
    if (in(colour_b_, p))
      return colour_b_;
  for (auto p : route_.serving)
    if (in(colour_a_, p))
      return colour_a_;
  for (const auto& c : containers_)
    if (c.running && c.deployment_id != spec_.dep.id && in(colour_a_, c.slot))
      return colour_a_;
  return colour_b_;
}

const std::vector<int64_t>& deploy_run::other_colour(const std::vector<int64_t>& colour) const {
  return &colour == &colour_a_ ? colour_b_ : colour_a_;
}

/// The colour that `target` (a colour's slots, wherever they are held) is not.
const std::vector<int64_t>& deploy_run::colour_without(const std::vector<int64_t>& target) const {
  return !target.empty() && in(colour_a_, target.front()) ? colour_b_ : colour_a_;
}

} // namespace tf
