// The deploy job's journal and log: the phase recorded before each step is taken (with the
// fault point right after it), the log lines of the deploy, and its final status.
#include "actors/deploy_job/run.hpp"

#include "actors/fault_point.hpp"
#include "store/deployments.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

namespace tf {

/// For ask_recorded: whether a failed write is tried again (the store cannot write for now
/// and the daemon is not stopping); if so, waits for `pause` first and doubles it (to 5 s).
bool deploy_run::wait_to_retry(const char* what, const caf::error& err,
                               std::chrono::milliseconds& pause) {
  using namespace std::chrono_literals;
  using clock_type = std::chrono::steady_clock;
  if (cancelled())
    return false;
  auto code = error_code(err);
  if (code != ec::unavailable && code != ec::timeout && code != ec::database)
    return false;
  spdlog::warn("event=deploy-journal-retry deployment={} write={} error={} retry_in_ms={}",
               spec_.dep.id, what, error_message(err), pause.count());
  for (auto until = clock_type::now() + pause; clock_type::now() < until && !cancelled();)
    std::this_thread::sleep_for(50ms);
  pause = std::min<std::chrono::milliseconds>(pause * 2, 5s);
  return true;
}

void deploy_run::log(const std::string& line) {
  spdlog::info("event=deploy-log deployment={} line={}", spec_.dep.id, line);
  if (!spec_.dep.id.empty())
    self_->send(handles_.writer, atom::append_v, deployment_log_line{spec_.dep.id, line});
}

/// The journal: records the step before it is taken.
caf::error deploy_run::phase(const char* name) {
  auto err = ask_ok(handles_.writer, atom::step_v, deployment_phase{spec_.dep.id, name});
  if (!err)
    fault_point(name);
  return err;
}

void deploy_run::finish(const std::string& status, const std::string& error) {
  outcome_.status = status;
  if (cancelled())
    return; // shutdown: the row stays running and the next run finishes or undoes it
  if (!error.empty())
    log("failed: " + error);
  auto done = ask_recorded<deployment>("status", atom::update_v,
                                       deployment_transition{spec_.dep.id, status, error});
  if (!done)
    spdlog::error("event=deploy-transition-failed deployment={} status={} error={}",
                  spec_.dep.id, status, error_message(done.error()));
}

} // namespace tf
