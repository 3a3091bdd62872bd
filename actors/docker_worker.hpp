// A DOCKER WORKER owns one Engine API client and answers on its own thread (spawn it
// detached): every call blocks for up to its timeout, which must not hold a scheduler
// thread. Its owner cancels calls in flight through the shared token before stopping it.
#pragma once

#include "actors/actors.hpp"
#include "docker/client.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <memory>

namespace tf {

struct docker_worker_state {
  static inline const char* name = "docker-worker";
  std::unique_ptr<docker::client> client;
};

docker_actor::behavior_type
docker_worker(docker_actor::stateful_pointer<docker_worker_state> self, docker::endpoint ep,
              docker::cancel_token cancel, docker::client_options opts);

} // namespace tf
