// The notification side of the store: the bounded log of attempts to POST a workload's
// events to its notification_url. Written by the store writer only (one-way, so the
// notifier never waits on it); read by the readers for /api/workloads/{id}/notifications.
#pragma once

#include "store/database.hpp"
#include "store/model.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>
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

namespace store {

/// Each workload keeps its newest this many attempts.
inline constexpr int64_t max_notification_attempts_per_workload = 500;

/// `url` as logs and the API may show it: scheme, host, port and path, without user:password,
/// query string or fragment (either may carry a secret). Cut at 512 characters.
std::string redact_url(const std::string& url);

/// Records an attempt (its url redacted here, whatever the caller passed) and prunes the
/// workload's log to its newest rows, in one transaction.
caf::error record_notification_attempt(database& db, notification_attempt a);

/// A workload's attempts, newest first.
caf::expected<page<notification_attempt>> list_notification_attempts(
  database& db, const std::string& workload_id, int64_t limit, int64_t offset);

} // namespace store
} // namespace tf
