// The STACK DEPLOYER: compose stacks. It checks a compose file with compose itself before a
// stack is stored or changed, runs at most one compose run per stack (a deploy, or stop,
// start, restart, down), and keeps one deploy waiting behind it: a newer request replaces
// the waiting one (superseded). It never blocks: compose runs on threads of its own
// (actors/stack_job.hpp), and each tells it when it ends.
#pragma once

#include "actors/actors.hpp"
#include "actors/run_queue.hpp"
#include "actors/stack_job.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <map>
#include <memory>
#include <optional>
#include <string>

namespace tf {

struct stack_deployer_state {
  static inline const char* name = "stack-deployer";

  stack_settings settings;
  std::shared_ptr<compose_probe> probe;
  stack_store_writer_actor writer;
  std::shared_ptr<stack_store_readers> readers;
  notifier_actor notifier; // deploy.started, .succeeded, .failed; null: none
  run_queue runs; // one run per stack at a time, one deploy waiting
  /// What /healthz shows of compose: "unknown" until the first look ends.
  std::string compose = "unknown";
  bool looking = false;
};

stack_deployer_actor::behavior_type
stack_deployer(stack_deployer_actor::stateful_pointer<stack_deployer_state> self,
               stack_settings settings, stack_store_writer_actor writer,
               std::shared_ptr<stack_store_readers> readers,
               notifier_actor notifier = notifier_actor{});

} // namespace tf
