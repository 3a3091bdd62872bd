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
#include "store/index_version.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <memory>
#include <string>
#include <unordered_map>

namespace tf {

/// What a webhook secret resolved to, and the workloads version it was read at.
struct resolved_webhook {
  store::index_version at;
  workload w;
};

struct webhook_router_state {
  static inline const char* name = "webhook-router";
  delivery_log_writer_actor writer;
  std::shared_ptr<webhook_store_readers> readers;
  project_deployer_actor deployer;
  /// Deploys of stacks; null: a stack's delivery is refused as unavailable.
  stack_deployer_actor stacks;
  /// Deploys of sites; null: a site's delivery is refused as unavailable.
  site_deployer_actor sites;
  /// The store's change versions; null: every delivery asks the store for its workload.
  const store::change_versions* versions = nullptr;
  /// Secrets resolved before, by their SHA-256 (a lookup compares digests, not secrets),
  /// each good while the workloads table has not changed since it was read (a rotation, a
  /// new signing setting or a deleted workload changes it): a burst of deliveries to one
  /// hook asks the store once. Bounded; unknown secrets are never kept.
  std::unordered_map<std::string, resolved_webhook> resolved;
};

/// `versions` may be null (no cache).
webhook_router_actor::behavior_type
webhook_router(webhook_router_actor::stateful_pointer<webhook_router_state> self,
               delivery_log_writer_actor writer, std::shared_ptr<webhook_store_readers> readers,
               project_deployer_actor deployer,
               const store::change_versions* versions = nullptr,
               stack_deployer_actor stacks = stack_deployer_actor{},
               site_deployer_actor sites = site_deployer_actor{});

} // namespace tf
