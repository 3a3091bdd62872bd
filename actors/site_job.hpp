// The blocking side of static sites: an upload unpacked into a new release directory, and a
// deploy run start to finish on its own thread. A site's directory (data_dir/sites/<id>)
// holds releases/<release> and the link `current`; one container serves it, with the
// directory mounted read-only at /site, and resolves /site/current per request, so a switch
// is one atomic rename of the link: no request sees a half-switched site, and a deploy after
// the first starts no container and touches no proxy route.
#pragma once

#include "actors/actors.hpp"
#include "actors/reader_pool.hpp"
#include "core/site_archive.hpp"
#include "docker/transport.hpp"

#include <caf/blocking_actor.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace tf {

using site_store_readers = reader_pool<deploy_store_reader_actor>;

/// Everything sites need from the daemon's configuration.
struct site_settings {
  std::string data_dir;      // a site's files live in data_dir/sites/<site id>
  std::string host = "local"; // containers.host of the Docker host
  std::string instance_id;   // labelled on every container, as projects' are
  std::string image = "busybox:stable";
  std::vector<std::string> command; // the serving container's entrypoint and arguments
  int64_t port = 8080;              // it listens on
  std::string proxy_domain;
  int64_t slot_port_low = 20000;
  int64_t slot_port_high = 20999;
  archive_limits limits;
  std::chrono::seconds health_deadline{60};
  std::chrono::milliseconds docker_timeout{30000};
  /// Set first at shutdown: a deploy stops where it is and runs again at the next start.
  docker::cancel_token cancel;
};

/// The directory of a site's files, its releases and its `current` link.
std::string site_directory(const site_settings& s, const std::string& site_id);
std::string release_directory(const site_settings& s, const std::string& site_id,
                              const std::string& release);

/// A new release name: the UTC time and a random suffix, so names sort by age
/// ("20261205T171503.123Z-3fa9c1"); a valid image tag, the deployment's tag.
std::string new_release_name();

/// The site's releases on disk, oldest first (names that are not releases are ignored).
std::vector<std::string> list_releases(const site_settings& s, const std::string& site_id);

/// The release `current` names, or "" when the site has none yet.
std::string current_release(const site_settings& s, const std::string& site_id);

/// Unpacks an upload into a new release of the site; replies its name, or invalid_argument
/// naming the refused entry (nothing left on disk).
caf::expected<std::string> unpack_release(const site_settings& s, const std::string& site_id,
                                          const std::string& archive);

/// A site's removal from disk (its container and route go first, by the job's helpers).
caf::error remove_site_files(const site_settings& s, const std::string& site_id);

/// What a deploy job needs; dep.tag names the release it switches to.
struct site_job_spec {
  deployment dep;
  std::string site_id;
};

/// The actors a job talks to.
struct site_handles {
  site_store_writer_actor writer;
  std::shared_ptr<site_store_readers> readers;
  proxy_actor proxy;
};

/// The deploy: running, serve (the container made sure of), switch, succeeded or failed;
/// sends (done, site_outcome) to `deployer` at the end, unless the daemon is stopping.
void site_job(caf::blocking_actor* self, site_job_spec spec, site_settings settings,
              site_handles handles, docker::endpoint engine, site_deployer_actor deployer);

/// Removes every container of the site's workload (blocking: a task of the deployer's
/// erase; the rows go with the site's, its route with its workload).
caf::error remove_site_containers(const site_settings& settings, const docker::endpoint& engine,
                                  const std::string& workload_id);

} // namespace tf
