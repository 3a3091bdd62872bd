// Cleanup: the old colour after a switch (kept warm for the grace period, or removed), the
// retire job that removes a warm colour once its grace period is over, and the removal of
// containers with their index rows.
#include "actors/deploy_job/run.hpp"

#include <chrono>
#include <thread>

#include "docker/client.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace tf {

namespace {

/// How long after an undone recovery a create that was in flight at the kill may still land
/// in Docker (dockerd finishes it on its own; 40 ms in the case the crash matrix caught).
constexpr auto late_create_window = std::chrono::seconds{2};

} // namespace

/// After the switch: the old colour stays warm for the grace period, or goes now.
void deploy_run::retire_old(const std::vector<slot_container>& old) {
  if (auto err = phase("cleanup"))
    log("journal: " + error_message(err));
  std::vector<std::string> keep, drop;
  for (const auto& c : old)
    (c.running && settings_.rollback_grace.count() > 0 ? keep : drop).push_back(c.id);
  auto left = remove_containers(drop, true);
  if (drop.size() > left.size())
    log("removed " + std::to_string(drop.size() - left.size()) + " old container(s)");
  if (!keep.empty())
    log("kept " + std::to_string(keep.size()) + " old container(s) warm for "
        + std::to_string(settings_.rollback_grace.count()) + " s (rollback = switch only)");
  warm_ids_ = keep;
}

/// Removes containers (and their index rows); errors are logged, not fatal: a container
/// that is already gone is what we wanted. A container the engine did not remove (it may
/// be unreachable) keeps its row, so the index still shows what runs; the ids of those are
/// returned.
std::vector<std::string> deploy_run::remove_containers(const std::vector<std::string>& ids, bool graceful) {
  std::vector<std::string> left;
  if (ids.empty())
    return left;
  auto rows = stage_rows();
  for (const auto& id : ids) {
    if (graceful) {
      if (auto err = docker_.stop_container(id, settings_.stop_grace))
        if (error_code(err) != ec::not_found)
          log("stop " + id.substr(0, 12) + ": " + error_message(err));
    }
    if (auto err = docker_.remove_container(id, true)) {
      if (error_code(err) != ec::not_found) {
        log("remove " + id.substr(0, 12) + ": " + error_message(err));
        left.push_back(id);
        continue;
      }
    }
    if (rows)
      for (const auto& r : rows->items)
        if (r.container_id == id)
          ask_recorded<atom::ok>("erase container row", atom::erase_v, atom::container_v,
                                 r.id);
  }
  return left;
}

/// Erases the stage's index rows whose container Docker no longer has (call after
/// observe()). A run killed between removing a container and erasing its row leaves such a
/// row, and the reconciler can only mark it missing: the job that finishes the killed run's
/// work (recover, retire) drops it, so the index names what Docker runs.
void deploy_run::forget_removed_rows() {
  auto rows = stage_rows();
  if (!rows)
    return;
  for (const auto& r : rows->items) {
    if (r.container_id.empty()
        || std::any_of(containers_.begin(), containers_.end(),
                       [&](const slot_container& c) { return c.id == r.container_id; }))
      continue;
    if (!ask_ok(handles_.writer, atom::erase_v, atom::container_v, r.id))
      spdlog::info("event=removed-row-forgotten stage={} row={} container={}", stg_.id, r.id,
                   r.container_id.substr(0, 12));
  }
}

caf::error deploy_run::retire() {
  if (auto err = load())
    return err;
  if (auto err = observe())
    return err;
  forget_removed_rows();
  // Only containers still outside the rotation: a rollback may have made them serve.
  const auto& ids = spec_.warm_container_ids;
  bool everything = std::find(ids.begin(), ids.end(), "*") != ids.end();
  if (route_.serving.empty())
    return {}; // nothing serves: keep what is there rather than guess
  auto outside_rotation = [&] {
    std::vector<std::string> drop;
    for (const auto& c : containers_)
      if ((everything || std::find(ids.begin(), ids.end(), c.id) != ids.end())
          && !in(route_.serving, c.slot))
        drop.push_back(c.id);
    return drop;
  };
  auto drop = outside_rotation();
  remove_containers(drop, true);
  auto removed = drop.size();
  if (everything) {
    // "*" follows an undone recovery: a create that was in flight when the daemon died is
    // finished by dockerd without its client and can land after the first look (the crash
    // matrix saw one land 40 ms after it, left "created" for good). Look once more a little
    // later; the stage waits for it, and only after such a recovery.
    for (auto waited = std::chrono::milliseconds{0};
         waited < late_create_window && !cancelled(); waited += std::chrono::milliseconds{100})
      std::this_thread::sleep_for(std::chrono::milliseconds{100});
    if (!cancelled() && !observe()) {
      drop = outside_rotation();
      remove_containers(drop, true);
      removed += drop.size();
    }
  }
  spdlog::info("event=warm-colour-retired stage={} removed={}", stg_.id, removed);
  return {};
}

/// The stage's container index rows (at most 500).
caf::expected<page<container_row>> deploy_run::stage_rows() {
  container_filter f;
  f.stage_id = stg_.id;
  f.limit = 500;
  return ask<page<container_row>>(handles_.readers->next(), atom::list_v, atom::container_v, f);
}

} // namespace tf
