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
  };
}

} // namespace tf
