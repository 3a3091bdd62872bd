// The STORE WRITER: the only actor that writes the database. Every mutation in Tinyforge is
// a typed message to it, so writes are serialized without locks and the reconciler and a
// deployer can never interleave on a container row.
#pragma once

#include "actors/actors.hpp"
#include "core/live_feed.hpp"
#include "store/database.hpp"
#include "store/webhooks.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <memory>
#include <vector>

namespace tf {

/// A webhook claim waiting for the writer's next group commit, with its answer.
struct pending_claim {
  webhook_deploy_claim claim;
  caf::typed_response_promise<webhook_deploy_claimed> answer;
};

struct store_writer_state {
  static inline const char* name = "store-writer";
  store::database db;
  /// Claims received since the last flush: those waiting in the mailbox together commit
  /// in one transaction when the flush the first of them sent arrives.
  std::vector<pending_claim> claims;
  /// How many deliveries each workload's log holds, between claim batches: when to prune.
  store::delivery_log_sizes log_sizes;
  /// Where each committed change the UI shows is published (may be null: no events).
  std::shared_ptr<live_feed> feed;
};

/// Takes ownership of the migrated read-write connection. Spawn it detached in the daemon:
/// its handlers block on disk I/O and must not hold a scheduler thread.
store_writer_actor::behavior_type
store_writer(store_writer_actor::stateful_pointer<store_writer_state> self, store::database db,
             std::shared_ptr<live_feed> feed);

} // namespace tf
