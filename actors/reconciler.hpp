// The RECONCILER of one Docker host keeps the containers index true to what the engine
// runs: one run at boot, one per tick (the safety net), and one soon after each container
// event. A run lists the managed containers, sends what it saw to the store writer as one
// reconcile batch, then marks rows whose container is gone as missing. It never blocks:
// Docker calls go to its docker worker, writes to the store writer.
#pragma once

#include "actors/actors.hpp"
#include "docker/transport.hpp"
#include "docker/types.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace tf {

struct reconciler_config {
  std::string host = "local";
  /// This daemon's instance id (store_handles::instance_id). A container labelled with
  /// another instance is another daemon's on the same engine: never indexed here. Empty:
  /// every managed container counts (tools that have no store of their own).
  std::string instance_id;
  std::chrono::seconds interval{30};
  /// How long a Docker list may take before the run counts as failed.
  std::chrono::milliseconds docker_timeout{30000};
  /// The host's cancel token: once set, failures are the shutdown's, not the engine's.
  docker::cancel_token cancel;
  /// Hears container.failed and container.missing (nothing is sent when it is null).
  notifier_actor notifier;
};

struct reconciler_state {
  static inline const char* name = "reconciler";
  reconciler_config cfg;
  container_index_writer_actor writer;
  docker_actor docker;
  bool in_flight = false;
  bool again = false; // something asked for a run while one was in flight
  bool docker_ok = false;
  uint64_t tick_generation = 0;
  std::chrono::milliseconds retry_backoff{500};
  int failures_in_a_row = 0;
  std::vector<caf::actor> subscribers;
};

reconciler_actor::behavior_type
reconciler(reconciler_actor::stateful_pointer<reconciler_state> self, reconciler_config cfg,
           container_index_writer_actor writer, docker_actor docker);

/// What one list of the engine means for the index: one observation per (workload, role)
/// for stacks and sites, one per container for projects (their rows are the deployer's),
/// Docker states mapped onto the index's states. Pure, so it is tested on its own.
std::vector<observed_container> observe(const std::vector<docker::container_summary>& listed,
                                        const std::string& host, const std::string& now);

/// The index's state for a Docker state and status text ("Exited (1) 2 minutes ago").
std::string index_state(const std::string& docker_state, const std::string& status);

} // namespace tf
