// One deploy of a project stage, run start to finish on its own thread (a detached,
// blocking actor: Docker calls, health probes and drains all block). The deployer spawns
// it and never runs two for one stage. Every step is recorded in the deployments journal
// (phase) before it is taken, so after a crash the next daemon run finishes or undoes it.
// The steps live in actors/deploy_job/, one file each (see actors/deploy_job/run.hpp).
#pragma once

#include "actors/actors.hpp"
#include "actors/store_reader.hpp"
#include "docker/transport.hpp"

#include <caf/blocking_actor.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace tf {

/// Everything a deploy needs from the daemon's configuration.
struct deploy_settings {
  std::string host = "local";       // containers.host of the Docker host
  std::string instance_id;          // the daemon's, labelled on every container it creates
  std::string proxy_domain;         // appended to the subdomain to make the route's host
  int64_t slot_port_low = 20000;
  int64_t slot_port_high = 20999;
  /// Where the proxy listens ("host:port", ":port" or "port"); empty: the provider has no
  /// listener to check through (none, npm).
  std::string proxy_listen;
  std::chrono::seconds rollback_grace{300};
  std::chrono::seconds health_deadline{60};
  std::chrono::seconds drain_timeout{30};
  std::chrono::seconds stop_grace{10};
  /// A waiting deploy starts once its stage had no newer request for this long.
  std::chrono::milliseconds settle{500};
  std::chrono::milliseconds docker_timeout{30000};
};

/// The actors a job talks to.
struct deploy_handles {
  deploy_store_writer_actor writer;
  std::shared_ptr<deploy_store_readers> readers;
  proxy_actor proxy;
  project_deployer_actor deployer;
};

/// What a job does.
enum class job_mode {
  deploy,  // a queued deploy: run it
  recover, // a deploy a previous run left running: finish it or undo it
  retire,  // the grace period of a warm colour is over: remove it
};

struct deploy_job_spec {
  job_mode mode = job_mode::deploy;
  deployment dep;    // for retire: only stage_id is used
  project proj;      // with the stage
  stage stg;
  std::vector<std::string> warm_container_ids; // retire: what to remove
};

/// The job's body; sends (done, deploy_outcome) to handles.deployer when it ends, unless the
/// cancel token was set (daemon shutdown: the journal lets the next run finish the deploy).
void deploy_job(caf::blocking_actor* self, deploy_job_spec spec, deploy_settings settings,
                deploy_handles handles, docker::endpoint engine, docker::cancel_token cancel);

} // namespace tf
