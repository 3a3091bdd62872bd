// The SITE DEPLOYER: static sites. An upload is unpacked into a new release on a thread of
// its own before anything is queued, so a hostile archive is refused (400, naming the entry)
// with the live site untouched; then one deploy per site runs at a time
// (actors/site_job.hpp), and one waits behind it: a newer request replaces the waiting one
// (superseded). It never blocks.
#pragma once

#include "actors/actors.hpp"
#include "actors/run_queue.hpp"
#include "actors/site_job.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <map>
#include <memory>
#include <optional>
#include <string>

namespace tf {

struct site_deployer_state {
  static inline const char* name = "site-deployer";

  site_settings settings;
  site_handles handles;
  docker::endpoint engine;
  notifier_actor notifier; // deploy.started, .succeeded, .failed; null: none
  run_queue runs; // one run per site at a time, one deploy waiting
};

site_deployer_actor::behavior_type
site_deployer(site_deployer_actor::stateful_pointer<site_deployer_state> self,
              site_settings settings, site_handles handles, docker::endpoint engine,
              notifier_actor notifier = notifier_actor{});

} // namespace tf
