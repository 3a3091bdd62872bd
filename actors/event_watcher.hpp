// The EVENT WATCHER follows the engine's event stream for managed containers and forwards
// each event to the reconciler, so a start, stop, die or removal reaches the index within
// a second instead of at the next tick. It reconnects with backoff and tells the
// reconciler when the engine comes and goes. A blocking actor: it has its own thread.
#pragma once

#include "actors/actors.hpp"
#include "docker/transport.hpp"

#include <caf/blocking_actor.hpp>

namespace tf {

void event_watcher(caf::blocking_actor* self, docker::endpoint ep, docker::cancel_token cancel,
                   reconciler_actor owner);

} // namespace tf
