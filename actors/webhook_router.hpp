// The WEBHOOK ROUTER: one delivery to /api/webhooks/{secret} at a time per step, never
// blocking. It resolves the secret through the store (workloads.webhook_secret only, so a
// rotation that did not commit is never accepted), checks the signature, reads the tag from
// the body, claims the sender's delivery id in the store (a repeat is not deployed twice),
// hands the deploy to the project deployer and records how the delivery ended. Secrets
// never reach a log line: a short SHA-256 prefix stands in for them.
#pragma once

#include "actors/actors.hpp"
#include "actors/store_reader.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace tf {

struct webhook_router_state {
  static inline const char* name = "webhook-router";
  store_writer_actor writer;
  std::shared_ptr<store_readers> readers;
  project_deployer_actor deployer;
  /// A repeat of a delivery id whose first delivery is still being handed to the deployer
  /// waits here (key: workload id, newline, delivery id) and is answered with its deploy.
  std::map<std::string, std::vector<caf::typed_response_promise<webhook_answer>>> in_flight;
};

webhook_router_actor::behavior_type
webhook_router(webhook_router_actor::stateful_pointer<webhook_router_state> self,
               store_writer_actor writer, std::shared_ptr<store_readers> readers,
               project_deployer_actor deployer);

} // namespace tf
