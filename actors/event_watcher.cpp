#include "actors/event_watcher.hpp"

#include "core/errors.hpp"
#include "docker/client.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <chrono>

namespace tf {

void event_watcher(caf::blocking_actor* self, docker::endpoint ep, docker::cancel_token cancel,
                   reconciler_actor owner) {
  using namespace std::chrono_literals;
  docker::client client{std::move(ep), cancel};
  const docker::filters only_managed{{"type", {"container"}},
                                     {"label", {docker::label::managed}}};
  constexpr auto first_backoff = 250ms;
  constexpr auto max_backoff = 2s; // how long a returning engine waits to be noticed
  auto backoff = std::chrono::milliseconds{first_backoff};
  bool running = true;
  bool reported_down = false;
  while (running && !cancel->cancelled()) {
    auto err = client.watch_events(
      only_managed,
      [&] {
        backoff = first_backoff;
        reported_down = false;
        self->send(owner, atom::docker_up_v);
      },
      [&](const docker::engine_event& e) {
        self->send(owner, atom::event_v, e);
        return !cancel->cancelled();
      });
    if (cancel->cancelled())
      break;
    if (!reported_down) {
      // Once per outage, not once per retry.
      reported_down = true;
      self->send(owner, atom::docker_down_v, error_message(err));
    }
    // Waits out the backoff, but leaves at once when told to stop.
    self->receive([&](caf::exit_msg&) { running = false; },
                  caf::after(backoff) >> [] {});
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, max_backoff);
  }
}

} // namespace tf
