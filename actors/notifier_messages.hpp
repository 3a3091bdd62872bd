// What the notifier receives and what its sender thread exchanges with it: an event of
// spec section 5 as its source reports it, one POST, and how that POST went.
#pragma once

#include "core/clock.hpp"
#include "core/model.hpp"

#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tf {

/// deploy.started | deploy.succeeded | deploy.failed | container.missing | container.failed
/// for one workload. Fields that do not apply stay empty. A container event covers every
/// container of the workload one reconcile run moved into that state (`containers`): a sweep
/// that finds 9,000 containers gone is one event per workload, not 9,000.
struct notification_event {
  std::string event;
  std::string workload_id;
  std::string deployment_id;
  std::string stage_id; // the notifier turns it into the stage's name
  std::string tag;
  std::string error;
  std::string container_row_id; // a container event of one container: the index row
  std::string container_id;
  std::string role;
  std::string at; // when it happened (store/clock.hpp format)
  /// A container event: the rows it covers (row_id, container_id, role). Empty for an event
  /// of one container given by the three fields above.
  std::vector<container_change> containers;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, notification_event& x) {
  return f(caf::meta::type_name("notification_event"), x.event, x.workload_id, x.deployment_id,
           x.stage_id, x.tag, x.error, x.container_row_id, x.container_id, x.role, x.at,
           x.containers);
}

/// An event of `workload_id` that happens now; the sender fills in what applies.
inline notification_event notification_now(std::string event, std::string workload_id) {
  notification_event ev;
  ev.event = std::move(event);
  ev.workload_id = std::move(workload_id);
  ev.at = now_utc();
  return ev;
}

/// deploy.started, .succeeded or .failed of deploy `d`, now (`error` when it failed). False
/// when `d` names no deploy and no workload: nothing to tell.
inline bool deploy_notification(const char* event, const deployment& d,
                                const std::string& error, notification_event& out) {
  if (d.id.empty() || d.workload_id.empty())
    return false;
  out = notification_now(event, d.workload_id);
  out.deployment_id = d.id;
  out.stage_id = d.stage_id;
  out.tag = d.tag;
  out.error = error;
  return true;
}

/// One signed POST, ready to send.
struct notification_post {
  std::string url;
  std::string body;
  std::map<std::string, std::string> headers;
  int64_t connect_timeout_ms = 2000;
  int64_t timeout_ms = 5000;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, notification_post& x) {
  return f(caf::meta::type_name("notification_post"), x.url, x.body, x.headers,
           x.connect_timeout_ms, x.timeout_ms);
}

/// How one POST went: the status answered (0 when none was) and why it failed, if it did.
struct notification_post_result {
  int64_t status = 0;
  std::string error;
  /// Every address of the URL is one the notifier may not reach: no retry can succeed.
  bool refused = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, notification_post_result& x) {
  return f(caf::meta::type_name("notification_post_result"), x.status, x.error, x.refused);
}

/// The notifier's counters, for tests and logs.
struct notifier_stats {
  int64_t held = 0;      // queued or waiting for a retry
  int64_t in_flight = 0; // 0 or 1
  int64_t delivered = 0;
  int64_t failed = 0;    // gave up after the last attempt
  int64_t dropped = 0;   // pushed out of a full queue
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, notifier_stats& x) {
  return f(caf::meta::type_name("notifier_stats"), x.held, x.in_flight, x.delivered, x.failed,
           x.dropped);
}

} // namespace tf
