// The STALE SCANNER: answers what Docker resources Tinyforge made but no longer tracks, and
// removes them on request. It never blocks: the listings and removals go to the docker
// worker (which blocks on its own thread), what the store tracks to a store reader, and
// the rules are the pure functions of actors/stale_scan.hpp.
#pragma once

#include "actors/actors.hpp"
#include "actors/stale_scan.hpp"
#include "actors/store_reader.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <chrono>
#include <memory>

namespace tf {

/// The STALE SCANNER actor interface.
using stale_actor = caf::typed_actor<
  // A fresh scan: every container and image the engine has, against what the store tracks.
  caf::replies_to<atom::get, atom::stale>::with<stale_report>,
  // A fresh scan, then the removal of the part of it the selection names (containers
  // first, one at a time).
  caf::replies_to<atom::erase, atom::stale, prune_selection>::with<prune_result>>;

struct stale_scanner_state {
  static inline const char* name = "stale-scanner";
  /// The docker worker of the local host; null when Docker is not connected.
  docker_actor docker;
  /// The store, through what the scan reads: the facts of what it tracks.
  std::shared_ptr<overview_store_readers> readers;
  /// This daemon's instance id: only containers labelled with it are its own.
  std::string instance_id;
  /// How long a listing or the store's snapshot may take.
  std::chrono::milliseconds request_timeout{5000};
};

/// Removing a container or an image can take longer than an ordinary request.
inline constexpr auto stale_removal_timeout = std::chrono::seconds{60};

stale_actor::behavior_type
stale_scanner(stale_actor::stateful_pointer<stale_scanner_state> self, docker_actor docker,
              std::shared_ptr<overview_store_readers> readers, std::string instance_id,
              std::chrono::milliseconds request_timeout);

} // namespace tf
