// Starting and stopping the actors in order. The daemon and the tests share this, so what
// the tests exercise is what runs.
#pragma once

#include "actors/actors.hpp"
#include "actors/notifier.hpp"
#include "actors/reconciler.hpp"
#include "actors/store_reader.hpp"
#include "config/config.hpp"
#include "core/live_feed.hpp"
#include "docker/transport.hpp"

#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include <memory>
#include <string>

namespace tf::store {
class change_versions;
}

namespace tf {

struct store_options {
  /// The database file; the key file that seals its secrets is tinyforge.key beside it.
  std::string db_path;
  size_t readers = 2;
  /// Own OS threads for the store actors (the daemon). Tests on the deterministic
  /// scheduler turn this off so every message runs when the test says.
  bool detached = true;
};

struct store_handles {
  store_writer_actor writer;
  std::shared_ptr<store_readers> readers;
  /// This daemon's instance id (store::ensure_instance_id), the tinyforge.instance label.
  std::string instance_id;
  /// The database's change versions (store/index_version.hpp): the HTTP guard's
  /// credential cache and the containers list's 304 read them. Null when not started.
  const store::change_versions* versions = nullptr;
  /// What the writer publishes after its commits for GET /api/events (core/live_feed.hpp).
  std::shared_ptr<live_feed> feed;
};

/// Opens and migrates the database, then spawns the writer and the readers.
caf::expected<store_handles> start_store(caf::actor_system& sys, const store_options& opts);

/// Stops the readers, then the writer, and waits until each has closed its connection.
void stop_store(caf::actor_system& sys, store_handles& handles);

/// The notifier's settings from the daemon's configuration (notify.*).
notifier_settings notifier_settings_of(const config& cfg);

/// Where notification URLs may point, from notify.private_targets and the listen address.
net::target_policy notify_target_policy(const config& cfg);

/// Spawns the notifier (scheduled; its sender has its own thread). Start it after the store
/// and hand it to the Docker host (reconciler_config::notifier) and the deployers.
notifier_actor start_notifier(caf::actor_system& sys, notifier_settings settings,
                              const store_handles& store);

/// Stops the notifier: events still queued are lost (a POST in flight ends first). Stop it
/// after what sends it events and before the store.
void stop_notifier(caf::actor_system& sys, notifier_actor& notifier);

/// The actors that watch one Docker host.
struct docker_host_handles {
  /// Set first at shutdown: aborts every Engine API call in flight for this host.
  docker::cancel_token cancel;
  docker_actor worker;
  caf::actor watcher;
  reconciler_actor reconciler;
};

/// Spawns the docker worker (detached), the reconciler (scheduled, never blocks) and the
/// event watcher (blocking, own thread). The daemon starts even when the engine is down.
caf::expected<docker_host_handles> start_docker_host(caf::actor_system& sys,
                                                     const std::string& docker_host,
                                                     reconciler_config cfg,
                                                     container_index_writer_actor writer);

/// Cancels the Docker calls in flight, then stops the actors and waits for each.
void stop_docker_host(caf::actor_system& sys, docker_host_handles& handles);

/// The proxy actor and the deployers.
struct deployer_handles {
  /// Set first at shutdown: deploy jobs stop where they are (the journal keeps their place).
  docker::cancel_token cancel;
  proxy_actor proxy;
  project_deployer_actor projects;
  /// Compose stacks: checks, deploys, stop/start/restart/down, removal.
  stack_deployer_actor stacks;
  /// Static sites: uploads unpacked, releases switched, rollbacks, removal.
  site_deployer_actor sites;
  /// Turns /api/webhooks/{secret} deliveries into deploys of `projects`.
  webhook_router_actor webhooks;
};

/// Spawns the proxy actor (detached), the project deployer and the webhook router, then lets the deployer
/// recover: routes re-applied, deploys a previous run left finished or undone. Deploy events
/// go to `notifier` (none when it is null).
caf::expected<deployer_handles> start_deployers(caf::actor_system& sys, const config& cfg,
                                                const store_handles& store,
                                                const docker_host_handles& docker,
                                                notifier_actor notifier = notifier_actor{});

void stop_deployers(caf::actor_system& sys, deployer_handles& handles);

} // namespace tf
