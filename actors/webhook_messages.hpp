// What the HTTP front-end and the webhook router exchange: a delivery as received, a replay
// of a recorded one, and the answer the router decides (status and body parts).
#pragma once

#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <map>
#include <string>

namespace tf {

/// Header names lowercased; only the headers the router reads, each value capped.
using webhook_headers = std::map<std::string, std::string>;

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

/// How to answer a delivery. A status of 400 or more goes out as the error envelope with
/// `code` and `message`; 202 (queued) and 200 (a duplicate, an unchanged or an ignored
/// delivery, with `message` saying why) name the deployment, if any.
struct webhook_answer {
  int64_t status = 500;
  std::string code;
  std::string message;
  std::string deployment_id;
  std::string delivery; // the recorded row, "" when nothing was recorded (unknown secret)
  bool duplicate = false;
  /// The delivery's result: accepted | duplicate | unchanged | ignored | rejected.
  std::string result;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, webhook_answer& x) {
  return f(caf::meta::type_name("webhook_answer"), x.status, x.code, x.message,
           x.deployment_id, x.delivery, x.duplicate, x.result);
}

} // namespace tf
