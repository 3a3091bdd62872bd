// The WEBHOOK ROUTER: one delivery to /api/webhooks/{secret} at a time per step, never
// blocking. It resolves the secret through the store (workloads.webhook_secret only, so a
// rotation that did not commit is never accepted), checks the signature, reads the tag from
// the body, and has the store writer settle the rest in one transaction: the claim of the
// sender's delivery id (a repeat is not deployed twice), the stage, the queued deploy and
// the delivery's record. The queued deploy then goes to the project deployer. Secrets
// never reach a log line: a short SHA-256 prefix stands in for them.
#pragma once

#include "actors/actors.hpp"
#include "actors/store_reader.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <memory>

namespace tf {

struct webhook_router_state {
  static inline const char* name = "webhook-router";
  delivery_log_writer_actor writer;
  std::shared_ptr<webhook_store_readers> readers;
  project_deployer_actor deployer;
};

webhook_router_actor::behavior_type
webhook_router(webhook_router_actor::stateful_pointer<webhook_router_state> self,
               delivery_log_writer_actor writer, std::shared_ptr<webhook_store_readers> readers,
               project_deployer_actor deployer);

} // namespace tf
