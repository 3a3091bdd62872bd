// A webhook delivery as the delivery log records it, and what the router asks the store
// writer to settle for a trusted one.
#pragma once

#include "core/model.hpp"

#include <caf/meta/type_name.hpp>

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
  /// Why a rejected delivery was refused, the answer's error code (unauthorized, no_stage,
  /// no_tag, invalid_argument ...); "" for the other results. The HTTP status the sender
  /// got follows from result and code (http/errors.cpp:webhook_status).
  std::string code;
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
           x.source_addr, x.delivery_id, x.event, x.signature, x.result, x.code, x.tag,
           x.stage, x.deployment_id, x.error, x.replay_of, x.body, x.body_truncated,
           x.headers_json);
}

/// A trusted delivery (its signature verified or not required, or a replay) that asks a
/// project for a deploy: the router hands it to the store writer, which settles it in one
/// transaction (store::claim_webhook_deploy).
struct webhook_deploy_claim {
  webhook_delivery delivery; // as received, with its tag; the store sets result and code
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
/// ignored or unchanged, a rejected one with its code) and, when accepted, the deploy it
/// queued.
struct webhook_deploy_claimed {
  webhook_delivery delivery;
  deployment queued; // id "" unless delivery.result == "accepted"
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, webhook_deploy_claimed& x) {
  return f(caf::meta::type_name("webhook_deploy_claimed"), x.delivery, x.queued);
}

} // namespace tf
