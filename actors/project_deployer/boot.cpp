// The project deployer at boot: re-applies every route (a proxy that restarted gets its
// config back, the serving slots open), then finishes or undoes the deploys the previous run
// left running, queues those it left queued, and gives the warm colours it kept a new grace
// period. Routes first: the proxy handles them before any recover job's request.
#include "actors/project_deployer/steps.hpp"

#include "core/errors.hpp"

#include <spdlog/spdlog.h>

namespace tf::deployer {

namespace {

/// A retire job given this id removes every container of the stage that does not serve.
constexpr const char* all_not_serving = "*";

using count_promise = caf::typed_response_promise<int64_t>;

/// Has the proxy apply each route and open its serving slots (one-way: failures are logged).
void reapply_routes(self_ptr self, const std::vector<proxy_route>& routes) {
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
}

/// A colour kept warm by the previous run lost its timer: it gets a new grace period, then
/// whatever does not serve is removed. Stages with a job now are left to it (its end
/// schedules the warm colour itself).
void rearm_warm_colours(self_ptr self, const std::vector<proxy_route>& routes) {
  auto& st = self->state;
  for (const auto& r : routes) {
    if (r.owner_kind != "stage")
      continue; // a site's or stack's route: not a stage's colours
    auto& slot = st.stages[r.owner_id];
    if (r.serving.empty() || slot.busy)
      continue;
    slot.warm = {std::string{all_not_serving}};
    schedule_warm_expiry(self, r.owner_id);
  }
}

/// Step 3: a recover job for each deploy left running, the queue for each left queued.
void restart_unfinished(self_ptr self, count_promise rp, const std::vector<proxy_route>& routes,
                        std::vector<deployment>& unfinished) {
  auto& st = self->state;
  int64_t n = 0;
  for (auto& d : unfinished) {
    if (d.stage_id.empty())
      continue; // a stack's or a site's: their deployers recover them
    ++n;
    if (d.status == "running") {
      auto& slot = st.stages[d.stage_id];
      slot.last_started_seq = ++st.next_seq;
      start_job(self, job_mode::recover, std::move(d));
    } else if (!d.stage_id.empty()) {
      enqueue(self, std::move(d), ++st.next_seq);
    }
  }
  rearm_warm_colours(self, routes);
  if (n > 0)
    spdlog::info("event=deploys-recovered count={}", n);
  rp.deliver(n);
}

/// Step 2: the routes are read; re-apply them, then read the unfinished deploys.
void on_routes(self_ptr self, count_promise rp, reader_handle reader,
               std::vector<proxy_route>& routes) {
  reapply_routes(self, routes);
  self->request(reader, store_timeout, atom::list_v, atom::recover_v)
    .then(
      [self, rp, routes](std::vector<deployment>& unfinished) {
        restart_unfinished(self, rp, routes, unfinished);
      },
      deliver_error(rp));
}

} // namespace

/// Step 1: reads the routes.
caf::result<int64_t> recover_at_boot(self_ptr self) {
  auto rp = self->make_response_promise<int64_t>();
  auto reader = self->state.handles.readers->next();
  self->request(reader, store_timeout, atom::list_v, atom::route_v)
    .then([self, rp, reader](std::vector<proxy_route>& routes) {
            on_routes(self, rp, reader, routes);
          },
          deliver_error(rp));
  return rp;
}

} // namespace tf::deployer
