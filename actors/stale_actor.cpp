#include "actors/stale_actor.hpp"

#include "core/errors.hpp"

#include <caf/all.hpp>

#include <ctime>
#include <functional>
#include <utility>

namespace tf {

namespace {

using self_ptr = stale_actor::stateful_pointer<stale_scanner_state>;
using scan_done = std::function<void(caf::expected<stale_report>)>;

/// What a scan has gathered so far: Docker's lists, then the store's snapshot.
struct scan_step {
  std::vector<docker::container_summary> containers;
  std::vector<docker::image_summary> images;
  scan_done done;
};

void compare_with_store(self_ptr self, std::shared_ptr<scan_step> s) {
  self->request(self->state.readers->next(), self->state.request_timeout, atom::get_v,
                atom::stale_v)
    .then(
      [s, instance_id = self->state.instance_id](tracked_resources& tracked) {
        stale_rules rules;
        rules.instance_id = instance_id;
        rules.now_unix = static_cast<int64_t>(std::time(nullptr));
        s->done(find_stale(tracked, s->containers, s->images, rules));
      },
      [s](caf::error& err) { s->done(std::move(err)); });
}

void list_images(self_ptr self, std::shared_ptr<scan_step> s) {
  self->request(self->state.docker, self->state.request_timeout, atom::list_v, atom::image_v,
                docker::filters{})
    .then(
      [self, s](std::vector<docker::image_summary>& images) {
        s->images = std::move(images);
        compare_with_store(self, s);
      },
      [s](caf::error& err) { s->done(std::move(err)); });
}

/// A fresh scan. Docker first: a store snapshot taken after the lists can only know more
/// (a container recorded meanwhile is then tracked), never less.
void scan(self_ptr self, scan_done done) {
  if (!self->state.docker)
    return done(make_error(ec::unavailable, "Docker is not connected"));
  auto s = std::make_shared<scan_step>();
  s->done = std::move(done);
  self->request(self->state.docker, self->state.request_timeout, atom::list_v,
                atom::container_v, docker::filters{})
    .then(
      [self, s](std::vector<docker::container_summary>& containers) {
        s->containers = std::move(containers);
        list_images(self, s);
      },
      [s](caf::error& err) { s->done(std::move(err)); });
}

/// A prune under way: the plan, how far the removals have got, and what they did.
struct prune_job {
  prune_plan plan;
  size_t next = 0; // index over plan.containers, then plan.images
  prune_result result;
  caf::typed_response_promise<prune_result> rp;
};

void remove_next(self_ptr self, std::shared_ptr<prune_job> job);

/// Asks the docker worker to remove one resource (`what` with `id`), notes the outcome
/// (`removed` on success; a failure under `kind`), then goes on with the next.
template <class What>
void remove_one(self_ptr self, std::shared_ptr<prune_job> job, What what, const char* kind,
                const std::string& id, std::function<void()> removed) {
  self->request(self->state.docker, stale_removal_timeout, atom::erase_v, what, id)
    .then(
      [self, job, removed](atom::ok) {
        removed();
        remove_next(self, job);
      },
      [self, job, kind, id](caf::error& err) {
        job->result.failed.push_back({kind, id, error_message(err)});
        remove_next(self, job);
      });
}

/// Removes the next planned resource, one at a time. Containers first: an image a removed
/// container held is free afterwards (the scan only lists images no container uses, but a
/// stale container may have been started meanwhile).
void remove_next(self_ptr self, std::shared_ptr<prune_job> job) {
  auto& plan = job->plan;
  auto i = job->next++;
  if (i < plan.containers.size()) {
    const auto& c = plan.containers[i];
    return remove_one(self, job, atom::container_v, "container", c.id,
                      [job, c] { job->result.removed_containers.push_back(c); });
  }
  i -= plan.containers.size();
  if (i < plan.images.size()) {
    const auto& img = plan.images[i];
    return remove_one(self, job, atom::image_v, "image", img.ref,
                      [job, img] { job->result.removed_images.push_back(img); });
  }
  job->result.not_stale = std::move(plan.not_stale);
  job->rp.deliver(std::move(job->result));
}

} // namespace

stale_actor::behavior_type
stale_scanner(stale_actor::stateful_pointer<stale_scanner_state> self, docker_actor docker,
              std::shared_ptr<overview_store_readers> readers, std::string instance_id,
              std::chrono::milliseconds request_timeout) {
  self->state.docker = std::move(docker);
  self->state.readers = std::move(readers);
  self->state.instance_id = std::move(instance_id);
  self->state.request_timeout = request_timeout;
  return {
    [self](atom::get, atom::stale) -> caf::result<stale_report> {
      auto rp = self->make_response_promise<stale_report>();
      scan(self, [rp](caf::expected<stale_report> got) mutable {
        if (got)
          rp.deliver(std::move(*got));
        else
          rp.deliver(std::move(got.error()));
      });
      return rp;
    },
    [self](atom::erase, atom::stale, prune_selection& selection) -> caf::result<prune_result> {
      auto rp = self->make_response_promise<prune_result>();
      scan(self, [self, rp, selection](caf::expected<stale_report> got) mutable {
        if (!got) {
          rp.deliver(std::move(got.error()));
          return;
        }
        auto job = std::make_shared<prune_job>();
        job->plan = plan_prune(*got, selection);
        job->rp = rp;
        remove_next(self, job);
      });
      return rp;
    },
  };
}

} // namespace tf
