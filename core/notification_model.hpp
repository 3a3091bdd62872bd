// One attempt to deliver a workload's event to its notification_url, as the log keeps it.
#pragma once

#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <string>

namespace tf {

/// One attempt to deliver one event (or the drop of an event the queue had no room for).
struct notification_attempt {
  std::string id;
  std::string workload_id;
  std::string delivery_id; // shared by the attempts of one event
  std::string event;       // deploy.started | deploy.succeeded | ... | container.failed
  std::string url;         // without credentials, query string or fragment
  int64_t attempt = 0;     // 1 for the first; 0 for an event dropped before any attempt
  int64_t status = 0;      // the HTTP status answered, 0 when none was
  std::string error;
  std::string outcome;     // delivered | retrying | failed | dropped
  std::string at;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, notification_attempt& x) {
  return f(caf::meta::type_name("notification_attempt"), x.id, x.workload_id, x.delivery_id,
           x.event, x.url, x.attempt, x.status, x.error, x.outcome, x.at);
}

} // namespace tf
