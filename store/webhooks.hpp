// The webhook side of the store: resolving a workload by its webhook secret, and the bounded
// log of deliveries (recorded, deduplicated by the sender's delivery id, listed, replayed).
// Writes are called by the store writer only; reads by readers.
#pragma once

#include "store/database.hpp"
#include "store/model.hpp"

#include <caf/expected.hpp>
#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <string>

namespace tf {

/// One POST to /api/webhooks/{secret} that named a workload (or a replay of one).
struct webhook_delivery {
  std::string id;
  std::string workload_id;
  std::string received_at;
  std::string source_addr;
  std::string delivery_id; // the sender's (X-GitHub-Delivery ...), "" when none
  std::string event;       // the sender's event name, "" for a plain body
  std::string signature;   // none | tinyforge | github | gitea | gitlab | replay
  std::string result;      // accepted | duplicate | rejected | ignored | unchanged
  int64_t status = 0;      // the HTTP status answered
  std::string tag;
  std::string stage;
  std::string deployment_id;
  std::string error;       // why it was rejected, ignored or unchanged
  std::string replay_of;   // the delivery this one replayed
  std::string body;        // capped at max_delivery_body; empty in lists
  bool body_truncated = false;
  std::string headers_json; // the kept headers, a JSON object
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, webhook_delivery& x) {
  return f(caf::meta::type_name("webhook_delivery"), x.id, x.workload_id, x.received_at,
           x.source_addr, x.delivery_id, x.event, x.signature, x.result, x.status, x.tag,
           x.stage, x.deployment_id, x.error, x.replay_of, x.body, x.body_truncated,
           x.headers_json);
}

/// A trusted delivery (its signature verified or not required, or a replay) that asks a
/// project for a deploy: the router hands it to the store writer, which settles it in one
/// transaction (store::claim_webhook_deploy).
struct webhook_deploy_claim {
  webhook_delivery delivery; // as received, with its tag; the store sets result and status
  std::string wanted_stage;  // a stage's name or id; "" = the project's first stage
  /// The image a registry event is about (any spelling image_repository_key reads), ""
  /// for events that name none (git pushes, Tinyforge's body). Another image than the
  /// project's is ignored.
  std::string event_image;
  /// Deploy even the tag the stage serves or already has on its way (Tinyforge's body
  /// {"force":true}). A replay (delivery.replay_of set) is always forced.
  bool force = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, webhook_deploy_claim& x) {
  return f(caf::meta::type_name("webhook_deploy_claim"), x.delivery, x.wanted_stage,
           x.event_image, x.force);
}

/// How the store settled a claim: the recorded delivery (accepted, duplicate, rejected,
/// ignored or unchanged) and, when accepted, the deploy it queued.
struct webhook_deploy_claimed {
  webhook_delivery delivery;
  deployment queued;        // id "" unless delivery.result == "accepted"
  std::string refusal_code; // the error code of a rejected delivery (no_stage, ...)
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, webhook_deploy_claimed& x) {
  return f(caf::meta::type_name("webhook_deploy_claimed"), x.delivery, x.queued,
           x.refusal_code);
}

namespace store {

/// A kept body is cut here (the row says so, and such a delivery cannot be replayed).
inline constexpr size_t max_delivery_body = 64 * 1024;
/// The kept headers' JSON is cut here.
inline constexpr size_t max_delivery_headers = 4 * 1024;
/// Each workload keeps its newest this many deliveries.
inline constexpr int64_t max_deliveries_per_workload = 1000;

/// The workload whose webhook secret this is: an index lookup, then the stored secret
/// compared again in constant time. not_found for "" and for any other miss.
caf::expected<workload> find_workload_by_webhook_secret(database& db, const std::string& secret);

/// Records a delivery and prunes the workload's log to its newest rows, in one transaction.
/// An "accepted" delivery whose delivery id this workload accepted before is stored as a
/// "duplicate" (status 200) naming the first one's deployment: the returned row says which.
caf::expected<webhook_delivery> record_delivery(database& db, webhook_delivery d);

/// A trusted delivery for a project, settled in one transaction, so no delivery is ever
/// accepted without its deploy and no delivery id is deployed twice:
///   - a delivery id this workload accepted before: recorded as a duplicate (200) naming the
///     first one's deployment, nothing queued;
///   - an event about another image than the project's: recorded as ignored (200);
///   - a stage the project does not have, or a tag that is not one: recorded as rejected
///     (422, 400);
///   - unless forced, a tag the stage's newest queued or running deploy already brings, or
///     (nothing on its way) the tag the stage serves: recorded as unchanged (200), naming
///     the deploy on its way if there is one, nothing queued. This check and the insert
///     share the transaction, so of two deliveries of one tag (Gitea's create and push)
///     exactly one deploys;
///   - otherwise a queued deployment of the tag to the stage, and the delivery recorded as
///     accepted (202) with it.
/// ec::not_found when the workload is gone, ec::invalid_argument when it is not a project.
caf::expected<webhook_deploy_claimed> claim_webhook_deploy(database& db, webhook_deploy_claim c);

/// One delivery with its kept body.
caf::expected<webhook_delivery> get_delivery(database& db, const std::string& id);

/// A workload's deliveries, newest first, without bodies.
caf::expected<page<webhook_delivery>> list_deliveries(database& db,
                                                      const std::string& workload_id,
                                                      int64_t limit, int64_t offset);

} // namespace store
} // namespace tf
