// The PROJECT DEPLOYER: accepts deploys and rollbacks of project stages, keeps at most one
// job per stage running, coalesces what arrives meanwhile to the newest request (older
// queued ones end superseded), and keeps the previous colour warm for the grace period.
// It never blocks: jobs run on their own threads (actors/deploy_job.hpp).
#pragma once

#include "actors/actors.hpp"
#include "actors/deploy_job.hpp"
#include "actors/store_reader.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <map>
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
  };

  deploy_settings settings;
  deploy_handles handles;
  docker::endpoint engine;
  docker::cancel_token cancel;
  docker_actor docker; // for instance stop/start/restart
  std::map<std::string, stage_slot> stages;
  uint64_t next_seq = 0;
  notifier_actor notifier; // hears deploy.started, .succeeded, .failed; may be null
};

project_deployer_actor::behavior_type
project_deployer(project_deployer_actor::stateful_pointer<project_deployer_state> self,
                 deploy_settings settings, store_writer_actor writer,
                 std::shared_ptr<store_readers> readers, proxy_actor proxy,
                 docker_actor docker, docker::endpoint engine, docker::cancel_token cancel,
                 notifier_actor notifier);

} // namespace tf
