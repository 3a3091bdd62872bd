// What the HTTP front-end and the webhook router exchange: a delivery as received, a replay
// of a recorded one, and how the router settled it (a result, an error code and a reason).
// The HTTP status of each outcome is the front-end's to decide (http/errors.cpp); the
// delivery log records the result and the code it is decided from.
#pragma once

#include "core/errors.hpp"

#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <map>
#include <string>

namespace tf {

/// Header names lowercased; only the headers the router reads, each value capped.
using webhook_headers = std::map<std::string, std::string>;

/// How the router settled a delivery. `result` is the delivery log's (accepted, duplicate,
/// unchanged, ignored, rejected), or "failed" when the delivery could not be looked up or
/// settled (nothing recorded). A rejected or failed delivery names the error `code` and the
/// `reason`, the envelope's code: the code's name, or a finer one for the refusals only a
/// webhook makes (unauthorized, no_stage, no_tag, not_implemented). The others may name
/// the deployment, and `message` says why nothing was deployed.
struct webhook_answer {
  std::string result = "failed";
  ec code = ec::none;
  std::string reason;
  std::string message;
  std::string deployment_id;
  std::string delivery; // the recorded row, "" when nothing was recorded (unknown secret)

  bool refused() const { return result == "rejected" || result == "failed"; }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, webhook_answer& x) {
  return f(caf::meta::type_name("webhook_answer"), x.result, x.code, x.reason, x.message,
           x.deployment_id, x.delivery);
}

/// A POST to /api/webhooks/{secret}.
struct webhook_request {
  std::string secret;
  std::string body;
  webhook_headers headers;
  std::string source_addr;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, webhook_request& x) {
  return f(caf::meta::type_name("webhook_request"), x.secret, x.body, x.headers, x.source_addr);
}

/// Re-run a workload's recorded delivery as a new one.
struct webhook_replay {
  std::string workload_id;
  std::string delivery; // the recorded delivery's row id
  std::string source_addr;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, webhook_replay& x) {
  return f(caf::meta::type_name("webhook_replay"), x.workload_id, x.delivery, x.source_addr);
}

} // namespace tf
