#include "actors/docker_worker.hpp"

#include "actors/reply.hpp"

namespace tf {

docker_actor::behavior_type
docker_worker(docker_actor::stateful_pointer<docker_worker_state> self, docker::endpoint ep,
              docker::cancel_token cancel, docker::client_options opts) {
  self->state.client = std::make_unique<docker::client>(std::move(ep), std::move(cancel), opts);
  auto* c = self->state.client.get();
  return {
    [c](atom::ping) { return reply(c->version()); },
    [c](atom::list, atom::container, const docker::filters& f) {
      return reply(c->list_containers(f, true));
    },
    [c](atom::logs, const std::string& id, int64_t tail) {
      return reply(c->container_logs(id, static_cast<int>(std::clamp<int64_t>(tail, 0, 10000))));
    },
    [c](atom::start, const std::string& id) -> caf::result<atom::ok> {
      if (auto err = c->start_container(id))
        return err;
      return atom::ok_v;
    },
    [c](atom::stop, const std::string& id, int64_t grace_s) -> caf::result<atom::ok> {
      if (auto err = c->stop_container(id, std::chrono::seconds{std::clamp<int64_t>(grace_s, 0, 3600)}))
        return err;
      return atom::ok_v;
    },
    [c](atom::restart, const std::string& id, int64_t grace_s) -> caf::result<atom::ok> {
      if (auto err = c->stop_container(id, std::chrono::seconds{std::clamp<int64_t>(grace_s, 0, 3600)}))
        return err;
      if (auto err = c->start_container(id))
        return err;
      return atom::ok_v;
    },
    [c](atom::list, atom::image, const docker::filters& f) { return reply(c->list_images(f)); },
    [c](atom::erase, atom::container, const std::string& id) -> caf::result<atom::ok> {
      if (auto err = c->remove_container(id, true))
        return err;
      return atom::ok_v;
    },
    [c](atom::erase, atom::image, const std::string& ref) -> caf::result<atom::ok> {
      // Never forced: an image a container still uses stays, and the engine says why.
      if (auto err = c->remove_image(ref, false))
        return err;
      return atom::ok_v;
    },
  };
}

} // namespace tf
