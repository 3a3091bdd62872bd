// Deleting a project or one of its stages: refused (conflict) while a deploy of it runs or
// waits; otherwise its containers are removed (the docker worker), then its proxy routes
// (the proxy actor), then its rows (the store writer). Rows go last, so a failed removal
// leaves rows that still name what is left and the delete can be asked again; while it
// runs the stages are marked, so no deploy of them starts meanwhile.
#include "actors/project_deployer/steps.hpp"

#include "core/errors.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace tf::deployer {

namespace {

using ok_promise = caf::typed_response_promise<atom::ok>;

/// Removing one container or route may wait on the engine or a proxy reload.
constexpr auto removal_timeout = std::chrono::seconds{60};

/// A delete under way: what it removes, in order, and what it tells the writer at the end.
struct removal {
  ok_promise rp;
  std::string what;        // "project" | "stage", for errors and logs
  std::string id;          // the project's or the stage's id
  std::string workload_id;
  std::vector<std::string> stage_ids;
  std::vector<std::string> containers; // Docker ids, filled by the listing
  std::vector<proxy_route> routes;     // filled stage by stage
  size_t next = 0;
};
using removal_ptr = std::shared_ptr<removal>;

bool busy(const project_deployer_state::stage_slot& s) {
  return s.busy || s.settling || !s.waiting.empty();
}

/// The end, success or not: the stages are no longer being deleted.
void finish(self_ptr self, removal_ptr r, caf::error err) {
  auto& st = self->state;
  for (const auto& id : r->stage_ids) {
    st.deleting.erase(id);
    if (!err)
      st.stages.erase(id);
  }
  if (err) {
    spdlog::warn("event=delete-failed {}={} error={}", r->what, r->id, error_message(err));
    r->rp.deliver(std::move(err));
    return;
  }
  spdlog::info("event=deleted {}={} containers={} routes={}", r->what, r->id,
               r->containers.size(), r->routes.size());
  r->rp.deliver(atom::ok_v);
}

/// Last: the rows (their container rows, deployments and routes go with them).
void erase_rows(self_ptr self, removal_ptr r) {
  auto done = [self, r](atom::ok) { finish(self, r, {}); };
  auto fail = [self, r](caf::error& err) { finish(self, r, std::move(err)); };
  auto& writer = self->state.handles.writer;
  if (r->what == "project")
    self->request(writer, store_timeout, atom::erase_v, atom::project_v, r->id).then(done, fail);
  else
    self->request(writer, store_timeout, atom::erase_v, atom::stage_v, r->id).then(done, fail);
}

/// Then the routes, one after another.
void remove_routes(self_ptr self, removal_ptr r) {
  if (r->next >= r->routes.size())
    return erase_rows(self, r);
  auto route = r->routes[r->next++];
  self->request(self->state.handles.proxy, removal_timeout, atom::erase_v, route)
    .then([self, r](atom::ok) { remove_routes(self, r); },
          [self, r](caf::error& err) { finish(self, r, std::move(err)); });
}

/// First the containers, one after another (forced: a running one is killed).
void remove_containers(self_ptr self, removal_ptr r) {
  if (r->next >= r->containers.size()) {
    r->next = 0;
    return remove_routes(self, r);
  }
  auto id = r->containers[r->next++];
  self->request(self->state.docker, removal_timeout, atom::erase_v, atom::container_v, id)
    .then([self, r](atom::ok) { remove_containers(self, r); },
          [self, r, id](caf::error& err) {
            if (error_code(err) == ec::not_found)
              return remove_containers(self, r); // already gone
            finish(self, r, std::move(err));
          });
}

/// The containers of the workload (of one stage, for a stage) that are this daemon's: the
/// instance label is its own, or absent (made before the label existed; the workload id is
/// one of this daemon's, so the container is too).
void list_containers(self_ptr self, removal_ptr r) {
  if (!self->state.docker)
    return finish(self, r, make_error(ec::unavailable, "Docker is not connected"));
  std::vector<std::string> labels{docker::label::managed,
                                  std::string{docker::label::workload_id} + "=" + r->workload_id};
  if (r->what == "stage")
    labels.push_back(std::string{docker::label::stage_id} + "=" + r->id);
  self->request(self->state.docker, removal_timeout, atom::list_v, atom::container_v,
                docker::filters{{"label", labels}})
    .then(
      [self, r](std::vector<docker::container_summary>& listed) {
        const auto& mine = self->state.settings.instance_id;
        for (const auto& c : listed) {
          auto i = c.labels.find(docker::label::instance);
          if (i == c.labels.end() || i->second == mine)
            r->containers.push_back(c.id);
        }
        r->next = 0;
        remove_containers(self, r);
      },
      [self, r](caf::error& err) { finish(self, r, std::move(err)); });
}

/// The route of each stage (a stage that never deployed has none).
void read_routes(self_ptr self, removal_ptr r) {
  if (r->next >= r->stage_ids.size())
    return list_containers(self, r);
  auto stage_id = r->stage_ids[r->next++];
  self->request(self->state.handles.readers->next(), store_timeout, atom::get_v,
                atom::route_v, stage_id)
    .then(
      [self, r](proxy_route& route) {
        r->routes.push_back(std::move(route));
        read_routes(self, r);
      },
      [self, r](caf::error& err) {
        if (error_code(err) == ec::not_found)
          return read_routes(self, r);
        finish(self, r, std::move(err));
      });
}

/// The project is read: refuse while a deploy of a stage to delete runs or waits, else
/// mark those stages (no deploy of them starts now) and remove what they have.
void start_removal(self_ptr self, removal_ptr r, const project& p) {
  auto& st = self->state;
  r->workload_id = p.workload_id;
  if (r->what == "project") {
    for (const auto& s : p.stages)
      r->stage_ids.push_back(s.id);
  } else {
    auto s = std::find_if(p.stages.begin(), p.stages.end(), [&](const stage& x) {
      return x.id == r->id || x.name == r->id;
    });
    if (s == p.stages.end()) {
      r->rp.deliver(make_error(ec::not_found, "project " + p.name + " has no stage \""
                                                + r->id.substr(0, 80) + "\""));
      return;
    }
    r->id = s->id;
    r->stage_ids.push_back(s->id);
  }
  for (const auto& id : r->stage_ids) {
    auto slot = st.stages.find(id);
    if (st.deleting.count(id) != 0
        || (slot != st.stages.end() && busy(slot->second))) {
      r->rp.deliver(make_error(ec::conflict, "a deploy of " + r->what + " " + p.name
                                               + " runs or waits; delete it once it ends"));
      return;
    }
  }
  for (const auto& id : r->stage_ids) {
    st.deleting.insert(id);
    // The warm colour goes with the rest: its grace timer must not start a retire job.
    auto& slot = st.stages[id];
    ++slot.warm_generation;
    slot.warm.clear();
  }
  r->next = 0;
  read_routes(self, r);
}

} // namespace

caf::result<atom::ok> request_removal(self_ptr self, const std::string& what,
                                      const std::string& project_id, const std::string& id) {
  auto rp = self->make_response_promise<atom::ok>();
  auto r = std::make_shared<removal>();
  r->rp = rp;
  r->what = what;
  r->id = id;
  self->request(self->state.handles.readers->next(), store_timeout, atom::get_v,
                atom::project_v, project_id)
    .then([self, r](project& p) { start_removal(self, r, p); }, deliver_error(rp));
  return rp;
}

} // namespace tf::deployer
