#include "actors/site_deployer.hpp"

#include "actors/blocking_task.hpp"
#include "actors/reply.hpp"
#include "actors/route_removal.hpp"
#include "core/errors.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

namespace tf {

namespace {

using self_ptr = site_deployer_actor::stateful_pointer<site_deployer_state>;

/// How long the deployer waits for the store.
constexpr auto store_timeout = std::chrono::seconds{10};

/// How long unpacking or a removal may take (hundreds of MB to write, containers to stop).
constexpr auto task_timeout = std::chrono::minutes{10};

/// Runs `work` on a thread of its own; the request's answer is its result.
auto run_task(self_ptr self, blocking_work work) {
  return run_blocking(self, task_timeout, std::move(work));
}

/// Tells the notifier (one-way: a deploy never waits on a notification).
void notify(self_ptr self, const char* event, const deployment& d, const std::string& error) {
  notification_event ev;
  if (self->state.notifier && deploy_notification(event, d, error, ev))
    self->send(self->state.notifier, atom::notify_v, std::move(ev));
}

void start_job(self_ptr self, const std::string& site_id, deployment d) {
  auto& st = self->state;
  st.runs.begin(site_id, d);
  notify(self, "deploy.started", d, "");
  spdlog::info("event=site-deploy-started site={} deployment={} release={}", site_id, d.id,
               d.tag);
  self->spawn<caf::detached>(site_job, site_job_spec{std::move(d), site_id}, st.settings,
                             st.handles, st.engine, caf::actor_cast<site_deployer_actor>(self));
}

/// The site's run ended: its waiting deploy starts, if it has one.
void next_of(self_ptr self, const std::string& site_id) {
  if (auto d = self->state.runs.end(site_id))
    start_job(self, site_id, std::move(*d));
}

/// A deploy runs now when its site is idle, else waits; one waiting deploy replaces another.
void enqueue(self_ptr self, const std::string& site_id, deployment d) {
  auto admitted = self->state.runs.enqueue(site_id, std::move(d));
  if (admitted.superseded) {
    deployment_supersession s{{admitted.superseded->id},
                              "a newer deploy of the site was requested"};
    self->request(self->state.handles.writer, store_timeout, atom::update_v, std::move(s))
      .then([](int64_t) {},
            [](caf::error& err) {
              spdlog::warn("event=site-supersede-failed error={}", error_message(err));
            });
  }
  if (admitted.start_now)
    start_job(self, site_id, std::move(*admitted.start_now));
}

/// Whether a failed deploy's release is to be removed: an upload's fresh release is named by
/// no deploy when its deploy cannot be recorded; a rollback's is a kept one.
enum class release_is { fresh, kept };

/// Records a queued deploy of `release` and starts or queues it.
void queue_release(self_ptr self, caf::typed_response_promise<deployment> rp, const site& st,
                   const site_request& r, const std::string& release, release_is kind) {
  deployment d;
  d.workload_id = st.workload_id;
  d.trigger = r.trigger;
  d.triggered_by = r.triggered_by;
  d.tag = release;
  self->request(self->state.handles.writer, store_timeout, atom::create_v, std::move(d))
    .then(
      [self, rp, id = st.id](deployment& queued) mutable {
        enqueue(self, id, queued);
        rp.deliver(std::move(queued));
      },
      [self, rp, id = st.id, release, kind](caf::error& err) mutable {
        if (kind == release_is::kept) {
          rp.deliver(std::move(err));
          return;
        }
        // Removed before the answer, so the sender's retry finds the disk as it was.
        auto settings = self->state.settings;
        auto dir = release_directory(settings, id, release);
        run_task(self, [dir]() -> caf::expected<std::vector<std::string>> {
          std::error_code ignored;
          std::filesystem::remove_all(dir, ignored);
          return std::vector<std::string>{};
        })
          .then([rp, err](std::vector<std::string>&) mutable { rp.deliver(std::move(err)); },
                [rp, err](caf::error&) mutable { rp.deliver(std::move(err)); });
      });
}

caf::result<deployment> deploy_site(self_ptr self, site_request r) {
  auto rp = self->make_response_promise<deployment>();
  if (r.archive.empty()) {
    rp.deliver(make_error(ec::invalid_argument,
                          "the body must be the site as a .tar.gz archive; it is empty"));
    return rp;
  }
  self->request(self->state.handles.readers->next(), store_timeout, atom::get_v, atom::site_v,
                r.site_id)
    .then(
      [self, rp, r](site& st) mutable {
        auto settings = self->state.settings;
        auto archive = std::make_shared<std::string>(std::move(r.archive));
        r.archive.clear();
        run_task(self, [settings, id = st.id, archive]()
                          -> caf::expected<std::vector<std::string>> {
          auto release = unpack_release(settings, id, *archive);
          if (!release)
            return release.error();
          return std::vector<std::string>{*release};
        })
          .then(
            [self, rp, st, r](std::vector<std::string>& release) mutable {
              queue_release(self, rp, st, r, release.at(0), release_is::fresh);
            },
            deliver_error(rp));
      },
      deliver_error(rp));
  return rp;
}

caf::result<deployment> rollback_site(self_ptr self, site_request r) {
  auto rp = self->make_response_promise<deployment>();
  self->request(self->state.handles.readers->next(), store_timeout, atom::get_v, atom::site_v,
                r.site_id)
    .then(
      [self, rp, r](site& st) mutable {
        auto settings = self->state.settings;
        run_task(self, [settings, st]() -> caf::expected<std::vector<std::string>> {
          auto releases = list_releases(settings, st.id);
          auto current = current_release(settings, st.id);
          auto at = std::find(releases.begin(), releases.end(), current);
          if (current.empty() || at == releases.begin() || at == releases.end())
            return make_error(ec::conflict, "site \"" + st.name
                                              + "\" has no release before the current one");
          return std::vector<std::string>{*(at - 1)};
        })
          .then(
            [self, rp, st, r](std::vector<std::string>& release) mutable {
              r.trigger = "rollback";
              queue_release(self, rp, st, r, release.at(0), release_is::kept);
            },
            deliver_error(rp));
      },
      deliver_error(rp));
  return rp;
}

caf::result<atom::ok> erase_site(self_ptr self, const std::string& id) {
  auto rp = self->make_response_promise<atom::ok>();
  auto reader = self->state.handles.readers->next();
  self->request(reader, store_timeout, atom::get_v, atom::site_v, id)
    .then(
      [self, rp, reader](site& st) mutable {
        auto& runs = self->state.runs;
        if (runs.busy(st.id) || runs.waiting(st.id)) {
          rp.deliver(make_error(ec::conflict, "site \"" + st.name
                                                + "\" has a deploy under way or waiting"));
          return;
        }
        runs.begin(st.id);
        auto fail = [self, rp, id = st.id](caf::error& err) mutable {
          next_of(self, id);
          rp.deliver(std::move(err));
        };
        auto settings = self->state.settings;
        auto engine = self->state.engine;
        auto erase_rows = [self, rp, id = st.id, fail]() mutable {
          self->request(self->state.handles.writer, store_timeout, atom::erase_v, atom::site_v,
                        id)
            .then(
              [self, rp, id](atom::ok) mutable {
                next_of(self, id);
                rp.deliver(atom::ok_v);
              },
              fail);
        };
        auto erase_files = [self, id = st.id, erase_rows, fail]() mutable {
          auto settings = self->state.settings;
          run_task(self, [settings, id]() -> caf::expected<std::vector<std::string>> {
            if (auto err = remove_site_files(settings, id))
              return err;
            return std::vector<std::string>{};
          })
            .then([erase_rows](std::vector<std::string>&) mutable { erase_rows(); }, fail);
        };
        // Containers first (nothing serves the files any more), then the route off the
        // proxy, then the files, then the rows (the route's and containers' go with them):
        // a failed step keeps the rows, and a retry finds what is left.
        run_task(self, [settings, engine, st]() -> caf::expected<std::vector<std::string>> {
          if (auto err = remove_site_containers(settings, engine, st.workload_id))
            return err;
          return std::vector<std::string>{};
        })
          .then(
            [self, reader, workload_id = st.workload_id, erase_files,
             fail](std::vector<std::string>&) {
              remove_route_of(self, reader, self->state.handles.proxy, workload_id, erase_files,
                              fail);
            },
            fail);
      },
      deliver_error(rp));
  return rp;
}

/// Boot: a site deploy a previous run left queued or running runs again (its steps are
/// idempotent: the link points where it should, the container is found, not started twice).
caf::result<int64_t> recover(self_ptr self) {
  auto rp = self->make_response_promise<int64_t>();
  auto reader = self->state.handles.readers->next();
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
                if (w.kind != "site")
                  return;
                spdlog::info("event=site-deploy-recovered site={} deployment={}", w.ref_id,
                             d.id);
                enqueue(self, w.ref_id, std::move(d));
              },
              [](caf::error& err) {
                spdlog::warn("event=site-recovery-failed error={}", error_message(err));
              });
        }
        rp.deliver(n);
      },
      deliver_error(rp));
  return rp;
}

} // namespace

site_deployer_actor::behavior_type
site_deployer(site_deployer_actor::stateful_pointer<site_deployer_state> self,
              site_settings settings, site_handles handles, docker::endpoint engine,
              notifier_actor notifier) {
  self->state.notifier = std::move(notifier);
  self->state.settings = std::move(settings);
  self->state.handles = std::move(handles);
  self->state.engine = std::move(engine);
  return {
    [self](atom::deploy, site_request& r) { return deploy_site(self, std::move(r)); },
    [self](atom::rollback, site_request& r) { return rollback_site(self, std::move(r)); },
    [self](atom::erase, atom::site, const std::string& id) { return erase_site(self, id); },
    [self](atom::done, site_outcome& o) {
      spdlog::info("event=site-deploy-{} site={} deployment={}{}{}", o.status, o.site_id,
                   o.deployment_id, o.error.empty() ? "" : " error=", o.error);
      if (const auto* running = self->state.runs.running(o.site_id, o.deployment_id))
        notify(self, o.status == "succeeded" ? "deploy.succeeded" : "deploy.failed",
               *running, o.error);
      next_of(self, o.site_id);
    },
    [self](atom::recover) { return recover(self); },
  };
}

} // namespace tf
