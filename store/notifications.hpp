// The notification side of the store: the bounded log of attempts to POST a workload's
// events to its notification_url. Written by the store writer only (one-way, so the
// notifier never waits on it); read by the readers for /api/workloads/{id}/notifications.
#pragma once

#include "core/notification_model.hpp"
#include "store/database.hpp"
#include "core/model.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <string>

namespace tf {

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
