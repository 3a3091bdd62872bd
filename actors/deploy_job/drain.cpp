// The drain step: the old colour taken out of rotation without cutting its requests in
// flight, waiting (up to drain_timeout) for its open connections to finish.
#include "actors/deploy_job/run.hpp"

#include <thread>

namespace tf {

/// Takes the old colour out of rotation without cutting its requests in flight: new
/// connections to its slots go on to the new colour (`target`), open ones finish. Every slot
/// of the old colour is closed so, with containers or without: the next deploy's colour is
/// healthy in the proxy's eyes before it starts.
void deploy_run::drain(const std::vector<int64_t>& old_slots, const std::vector<int64_t>& target) {
  if (!old_slots.empty())
    if (auto err = phase("drain"))
      log("journal: " + error_message(err));
  const auto& idle = colour_without(target);
  if (auto err = ask_ok(handles_.proxy, atom::close_v, idle, target)) {
    log("closing slots " + ports_text(idle) + ": " + error_message(err));
    return;
  }
  if (old_slots.empty())
    return;
  using clock_type = std::chrono::steady_clock;
  auto deadline = clock_type::now() + settings_.drain_timeout;
  int64_t open = 0;
  while (!cancelled()) {
    auto n = ask<int64_t>(handles_.proxy, atom::count_v, old_slots);
    open = n ? *n : 0;
    if (open == 0 || clock_type::now() >= deadline)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  }
  if (open > 0)
    log(std::to_string(open) + " connection(s) still open on the old colour after "
        + std::to_string(settings_.drain_timeout.count()) + " s");
  else
    log("old colour drained (slots " + ports_text(old_slots) + ")");
}

} // namespace tf
