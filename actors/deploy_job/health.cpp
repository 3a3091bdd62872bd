// The health step: every container of the new colour must answer its health check on its
// own slot before the switch; one that exits fails the deploy at once.
#include "actors/deploy_job/run.hpp"

#include "docker/client.hpp"
#include "net/http_call.hpp"

#include <algorithm>
#include <set>
#include <thread>

namespace tf {

/// One health probe of a slot, from 127.0.0.2 so a slot closed to the proxy answers.
bool deploy_run::probe(int64_t slot) {
  net::http_request req;
  req.url = "http://127.0.0.1:" + std::to_string(slot) + route_.health_path;
  req.timeout = std::chrono::milliseconds{std::max<int64_t>(stg_.health_timeout_ms, 100)};
  if (gated_)
    req.source_address = "127.0.0.2";
  req.max_response_bytes = 64 * 1024;
  auto res = net::http_call(req);
  return res && res->status >= 200 && res->status < 400;
}

/// Waits until every container passes its health check; a container that exits fails
/// the deploy at once, with its last log lines.
caf::error deploy_run::wait_healthy(const colour_containers& colour) {
  using clock_type = std::chrono::steady_clock;
  if (auto err = phase("health"))
    return err;
  auto deadline = clock_type::now() + settings_.health_deadline;
  auto interval = std::chrono::milliseconds{std::clamp<int64_t>(stg_.health_interval_ms, 50, 60000)};
  // The first probes follow the start closely (a server often listens a few ms after its
  // start returns): the pause doubles from 10 ms up to the stage's interval, so a container
  // that was ready just after a failed first probe does not cost a whole interval.
  auto pause = std::min(interval, std::chrono::milliseconds{10});
  std::set<std::string> healthy;
  log("waiting for GET " + route_.health_path + " on " + std::to_string(colour.size())
      + " container(s)");
  while (healthy.size() < colour.size()) {
    if (cancelled())
      return make_error(ec::unavailable, "the daemon is stopping");
    for (const auto& [id, slot] : colour) {
      if (healthy.count(id))
        continue;
      auto details = docker_.inspect_container(id);
      if (!details)
        return details.error();
      if (!details->running)
        return exited_before_healthy(id, details->exit_code);
      if (probe(slot)) {
        healthy.insert(id);
        log("healthy: " + id.substr(0, 12) + " on 127.0.0.1:" + std::to_string(slot));
      }
    }
    if (healthy.size() == colour.size())
      break;
    if (clock_type::now() >= deadline)
      return make_error(ec::timeout,
                        "health check GET " + route_.health_path + " did not pass within "
                          + std::to_string(settings_.health_deadline.count()) + " s");
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, interval);
  }
  return {};
}

/// The error of a container that exited while it was checked, with its last output logged.
caf::error deploy_run::exited_before_healthy(const std::string& id, int64_t exit_code) {
  std::string tail;
  if (auto logs = docker_.container_logs(id, 20, 16 * 1024))
    tail = *logs;
  if (!tail.empty())
    log("last output of " + id.substr(0, 12) + ":\n" + tail);
  return make_error(ec::unavailable, "container " + id.substr(0, 12) + " exited (code "
                                       + std::to_string(exit_code) + ") before it was healthy");
}

} // namespace tf
