// The PROJECT DEPLOYER: accepts deploys and rollbacks of project stages, keeps at most one
// job per stage running, coalesces what arrives meanwhile to the newest request (older
// queued ones end superseded), and keeps the previous colour warm for the grace period.
// When a job ends while requests for its stage are still arriving (a burst of webhooks),
// the waiting deploy settles first: it starts once the stage had no newer request for
// `settle`, so the burst ends in one deploy of its newest tag rather than one per job.
// It never blocks: jobs run on their own threads (actors/deploy_job.hpp).
// Its pieces: actors/project_deployer/steps.hpp names them and the files that hold them.
#pragma once

#include "actors/actors.hpp"
#include "actors/deploy_job.hpp"
#include "actors/store_reader.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <chrono>

#include <map>
#include <set>
#include <memory>
#include <string>
#include <vector>

namespace tf {

struct project_deployer_state {
  static inline const char* name = "project-deployer";

  /// A deploy waiting for the stage's running job.
  struct queued {
    deployment dep;
    uint64_t seq = 0; // arrival order: the newest request wins, whatever order rows come back
  };
  /// What the deployer knows of one stage.
  struct stage_slot {
    bool busy = false;
    uint64_t last_started_seq = 0; // a request older than the running one is superseded
    std::vector<queued> waiting; // at most one after coalescing
    std::vector<std::string> warm; // containers of the previous colour, kept for a rollback
    uint64_t warm_generation = 0;
    deployment running; // the deploy the running job finishes (empty id for a retire job)
    /// The job ended and the waiting deploy settles: new requests wait as behind a job.
    bool settling = false;
    std::chrono::steady_clock::time_point last_request; // the newest deploy request's arrival
    std::chrono::steady_clock::time_point settle_limit; // it starts by then whatever arrives
  };

  deploy_settings settings;
  deploy_handles handles;
  docker::endpoint engine;
  docker::cancel_token cancel;
  docker_actor docker; // for instance stop/start/restart
  std::map<std::string, stage_slot> stages;
  /// Stages a delete is removing: no deploy of them starts (actors/project_deployer/removal.cpp).
  std::set<std::string> deleting;
  uint64_t next_seq = 0;
  /// Displaced queued deploys, written as one batch while the previous batch is in flight
  /// (a burst displaces one per request: one write each would queue behind the store).
  std::vector<std::string> to_supersede;
  bool superseding = false;
  notifier_actor notifier; // hears deploy.started, .succeeded, .failed; may be null
};

project_deployer_actor::behavior_type
project_deployer(project_deployer_actor::stateful_pointer<project_deployer_state> self,
                 deploy_settings settings, deploy_store_writer_actor writer,
                 std::shared_ptr<deploy_store_readers> readers, proxy_actor proxy,
                 docker_actor docker, docker::endpoint engine, docker::cancel_token cancel,
                 notifier_actor notifier);

} // namespace tf
