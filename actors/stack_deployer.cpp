#include "actors/stack_deployer.hpp"

#include "actors/blocking_task.hpp"
#include "actors/reply.hpp"
#include "actors/route_removal.hpp"
#include "core/errors.hpp"
#include "store/stacks.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace tf {

namespace {

using self_ptr = stack_deployer_actor::stateful_pointer<stack_deployer_state>;

/// How long the deployer waits for the store.
constexpr auto store_timeout = std::chrono::seconds{10};

/// How long a compose task may take beyond compose's own deadline.
constexpr auto task_margin = std::chrono::seconds{30};

/// Runs compose's `work` on a thread of its own; the request's answer is its result.
auto run_task(self_ptr self, blocking_work work) {
  auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
    self->state.settings.compose_timeout + task_margin);
  return run_blocking(self, timeout, std::move(work));
}

/// Tells the notifier (one-way: a deploy never waits on a notification).
void notify(self_ptr self, const char* event, const deployment& d, const std::string& error) {
  notification_event ev;
  if (self->state.notifier && deploy_notification(event, d, error, ev))
    self->send(self->state.notifier, atom::notify_v, std::move(ev));
}

/// The deploy job of one stack starts now.
void start_job(self_ptr self, const std::string& stack_id, deployment d) {
  auto& st = self->state;
  st.runs.begin(stack_id, d);
  notify(self, "deploy.started", d, "");
  spdlog::info("event=stack-deploy-started stack={} deployment={}", stack_id, d.id);
  self->spawn<caf::detached>(stack_job, stack_job_spec{std::move(d), stack_id}, st.settings,
                             st.probe, st.writer, st.readers,
                             caf::actor_cast<stack_deployer_actor>(self));
}

/// The stack's run ended: its waiting deploy starts, if it has one.
void next_of(self_ptr self, const std::string& stack_id) {
  if (auto d = self->state.runs.end(stack_id))
    start_job(self, stack_id, std::move(*d));
}

/// A deploy runs now when its stack is idle, else waits; one waiting deploy replaces another.
void enqueue(self_ptr self, const std::string& stack_id, deployment d) {
  auto admitted = self->state.runs.enqueue(stack_id, std::move(d));
  if (admitted.superseded) {
    deployment_supersession s{{admitted.superseded->id},
                              "a newer deploy of the stack was requested"};
    self->request(self->state.writer, store_timeout, atom::update_v, std::move(s))
      .then([](int64_t) {},
            [](caf::error& err) {
              spdlog::warn("event=stack-supersede-failed error={}", error_message(err));
            });
  }
  if (admitted.start_now)
    start_job(self, stack_id, std::move(*admitted.start_now));
}

/// Checks `candidate` with compose, then sends `store_it` on its way.
template <class Then>
void after_check(self_ptr self, caf::typed_response_promise<stack> rp, stack candidate,
                 Then store_it) {
  if (auto err = store::validate_stack(candidate)) {
    rp.deliver(std::move(err));
    return;
  }
  auto probe = self->state.probe;
  auto settings = self->state.settings;
  run_task(self, [probe, settings, candidate] { return check_stack(*probe, settings, candidate); })
    .then(
      [rp, store_it, route = candidate.route_service](std::vector<std::string>& services) mutable {
        // The routed service must be one the compose file has (names are compose's).
        if (!route.empty() && std::find(services.begin(), services.end(), route) == services.end()) {
          rp.deliver(make_error(ec::invalid_argument, "route_service \"" + route.substr(0, 64)
                                                        + "\" is not a service of the compose file"));
          return;
        }
        store_it();
      },
      deliver_error(rp));
}

caf::result<stack> create_stack(self_ptr self, stack s) {
  auto rp = self->make_response_promise<stack>();
  after_check(self, rp, s, [self, rp, s]() mutable {
    self->request(self->state.writer, store_timeout, atom::create_v, std::move(s))
      .then([rp](stack& stored) mutable { rp.deliver(std::move(stored)); }, deliver_error(rp));
  });
  return rp;
}

caf::result<stack> update_stack(self_ptr self, patch<stack> p) {
  auto rp = self->make_response_promise<stack>();
  auto store_it = [self, rp, p]() mutable {
    self->request(self->state.writer, store_timeout, atom::update_v, std::move(p))
      .then([rp](stack& stored) mutable { rp.deliver(std::move(stored)); }, deliver_error(rp));
  };
  if (!p.has("compose") && !p.has("env") && !p.has("route_service")) {
    store_it();
    return rp;
  }
  self->request(self->state.readers->next(), store_timeout, atom::get_v, atom::stack_v, p.id)
    .then(
      [self, rp, p, store_it](stack& current) mutable {
        store::apply_stack_patch(current, p);
        after_check(self, rp, std::move(current), std::move(store_it));
      },
      deliver_error(rp));
  return rp;
}

caf::result<deployment> deploy_stack(self_ptr self, stack_request r) {
  auto rp = self->make_response_promise<deployment>();
  self->request(self->state.readers->next(), store_timeout, atom::get_v, atom::stack_v,
                r.stack_id)
    .then(
      [self, rp, r](stack& st) mutable {
        deployment d;
        d.workload_id = st.workload_id;
        d.trigger = r.trigger;
        d.triggered_by = r.triggered_by;
        self->request(self->state.writer, store_timeout, atom::create_v, std::move(d))
          .then(
            [self, rp, id = st.id](deployment& queued) mutable {
              enqueue(self, id, queued);
              rp.deliver(std::move(queued));
            },
            deliver_error(rp));
      },
      deliver_error(rp));
  return rp;
}

bool known_action(const std::string& a) {
  return a == "stop" || a == "start" || a == "restart" || a == "down" || a == "down-volumes";
}

caf::result<std::string> run_action(self_ptr self, stack_request r) {
  auto rp = self->make_response_promise<std::string>();
  if (!known_action(r.action)) {
    rp.deliver(make_error(ec::invalid_argument, "no stack action \"" + r.action.substr(0, 40)
                                                  + "\" (stop, start, restart, down, "
                                                    "down-volumes)"));
    return rp;
  }
  self->request(self->state.readers->next(), store_timeout, atom::get_v, atom::stack_v,
                r.stack_id)
    .then(
      [self, rp, r](stack& st) mutable {
        if (self->state.runs.busy(st.id)) {
          rp.deliver(make_error(ec::conflict, "a compose run of stack \"" + st.name
                                                + "\" is under way; try again when it ends"));
          return;
        }
        self->state.runs.begin(st.id);
        auto probe = self->state.probe;
        auto settings = self->state.settings;
        spdlog::info("event=stack-action stack={} action={} by={}", st.id, r.action,
                     r.triggered_by);
        run_task(self, [probe, settings, st, action = r.action] {
          return run_stack_action(*probe, settings, st, action);
        })
          .then(
            [self, rp, id = st.id](std::vector<std::string>& lines) mutable {
              std::string out;
              for (const auto& l : lines)
                out += l + "\n";
              next_of(self, id);
              rp.deliver(std::move(out));
            },
            [self, rp, id = st.id](caf::error& err) mutable {
              next_of(self, id);
              rp.deliver(std::move(err));
            });
      },
      deliver_error(rp));
  return rp;
}

caf::result<atom::ok> erase_stack(self_ptr self, const std::string& id) {
  auto rp = self->make_response_promise<atom::ok>();
  self->request(self->state.readers->next(), store_timeout, atom::get_v, atom::stack_v, id)
    .then(
      [self, rp](stack& st) mutable {
        auto& runs = self->state.runs;
        if (runs.busy(st.id) || runs.waiting(st.id)) {
          rp.deliver(make_error(ec::conflict, "stack \"" + st.name
                                                + "\" has a compose run under way or waiting"));
          return;
        }
        runs.begin(st.id);
        auto fail = [self, rp, id = st.id](caf::error& err) mutable {
          next_of(self, id);
          rp.deliver(std::move(err));
        };
        auto erase_rows = [self, rp, id = st.id, fail]() mutable {
          self->request(self->state.writer, store_timeout, atom::erase_v, atom::stack_v, id)
            .then(
              [self, rp, id](atom::ok) mutable {
                next_of(self, id);
                rp.deliver(atom::ok_v);
              },
              fail);
        };
        auto probe = self->state.probe;
        auto settings = self->state.settings;
        // Its containers and files first (compose down), then its route off the proxy, then
        // its rows: a failed step keeps the rows, and a retry finds what is left.
        run_task(self, [probe, settings, st] { return remove_stack_files(*probe, settings, st); })
          .then(
            [self, workload_id = st.workload_id, erase_rows, fail](std::vector<std::string>&) {
              remove_route_of(self, self->state.readers->next(), self->state.settings.proxy,
                              workload_id, erase_rows, fail);
            },
            fail);
      },
      deliver_error(rp));
  return rp;
}

/// Boot: a stack deploy a previous run left queued or running runs again (compose up is
/// idempotent: what the first run started is found, not started twice).
caf::result<int64_t> recover(self_ptr self) {
  auto rp = self->make_response_promise<int64_t>();
  auto reader = self->state.readers->next();
  self->request(reader, store_timeout, atom::list_v, atom::recover_v)
    .then(
      [self, rp, reader](std::vector<deployment>& unfinished) mutable {
        int64_t n = 0;
        for (auto& d : unfinished) {
          if (!d.stage_id.empty())
            continue; // a project's: the project deployer's
          ++n;
          self->request(reader, store_timeout, atom::get_v, atom::workload_v, d.workload_id)
            .then(
              [self, d](workload& w) mutable {
                if (w.kind != "stack")
                  return;
                spdlog::info("event=stack-deploy-recovered stack={} deployment={}", w.ref_id,
                             d.id);
                enqueue(self, w.ref_id, std::move(d));
              },
              [](caf::error& err) {
                spdlog::warn("event=stack-recovery-failed error={}", error_message(err));
              });
        }
        rp.deliver(n);
      },
      deliver_error(rp));
  return rp;
}

/// Finds the host's compose on a thread of its own, once; /healthz shows the answer.
void look_for_compose(self_ptr self) {
  auto& st = self->state;
  if (st.looking || st.compose != "unknown")
    return;
  st.looking = true;
  auto probe = st.probe;
  run_task(self, [probe]() -> caf::expected<std::vector<std::string>> {
    const auto& t = probe->tool();
    return std::vector<std::string>{t.found() ? t.flavor + " " + t.version : "none"};
  })
    .then(
      [self](std::vector<std::string>& v) {
        self->state.looking = false;
        self->state.compose = v.empty() ? "none" : v.front();
      },
      [self](caf::error&) { self->state.looking = false; });
}

} // namespace

stack_deployer_actor::behavior_type
stack_deployer(stack_deployer_actor::stateful_pointer<stack_deployer_state> self,
               stack_settings settings, stack_store_writer_actor writer,
               std::shared_ptr<stack_store_readers> readers, notifier_actor notifier) {
  self->state.notifier = std::move(notifier);
  self->state.probe = std::make_shared<compose_probe>(settings);
  self->state.settings = std::move(settings);
  self->state.writer = std::move(writer);
  self->state.readers = std::move(readers);
  // Looking runs compose's binary (half a second for the v1 one): not on start-up's path.
  self->delayed_send(self, std::chrono::seconds{2}, atom::ping_v);
  return {
    [self](atom::create, stack& s) { return create_stack(self, std::move(s)); },
    [self](atom::update, patch<stack>& p) { return update_stack(self, std::move(p)); },
    [self](atom::deploy, stack_request& r) { return deploy_stack(self, std::move(r)); },
    [self](atom::compose, stack_request& r) { return run_action(self, std::move(r)); },
    [self](atom::erase, atom::stack, const std::string& id) { return erase_stack(self, id); },
    [self](atom::queue, const std::string& stack_id, deployment& d) {
      enqueue(self, stack_id, std::move(d));
    },
    [self](atom::done, stack_outcome& o) {
      spdlog::info("event=stack-deploy-{} stack={} deployment={}{}{}", o.status, o.stack_id,
                   o.deployment_id, o.error.empty() ? "" : " error=", o.error);
      if (const auto* running = self->state.runs.running(o.stack_id, o.deployment_id))
        notify(self, o.status == "succeeded" ? "deploy.succeeded" : "deploy.failed",
               *running, o.error);
      next_of(self, o.stack_id);
    },
    [self](atom::recover) { return recover(self); },
    [self](atom::ping) { look_for_compose(self); },
    [self](atom::status) -> std::string {
      look_for_compose(self);
      return self->state.compose;
    },
  };
}

} // namespace tf
