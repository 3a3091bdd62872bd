// The NOTIFIER (spec section 5): posts a workload's events (deploy.started,
// deploy.succeeded, deploy.failed, container.missing, container.failed) to its
// notification_url as JSON, signed like incoming Tinyforge webhooks with the workload's
// notification secret. Sources send events one-way and never wait. Events wait in a bounded
// queue (the oldest is dropped, and the drop recorded, when it is full), are posted one at a
// time by a sender on its own thread (http_call blocks), and are retried with exponential
// backoff. Every attempt goes to the store writer, one-way, for /api/workloads/{id}/notifications.
#pragma once

#include "actors/actors.hpp"
#include "actors/store_reader.hpp"
#include "net/address_policy.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

namespace tf {

struct notifier_settings {
  /// Deliveries held (queued or waiting for a retry) beyond the one in flight.
  size_t queue_max = 1000;
  /// Attempts per event, the first included.
  int64_t max_attempts = 5;
  /// The wait before the first retry; doubled for each further one, up to max_backoff.
  std::chrono::milliseconds backoff{1000};
  std::chrono::milliseconds max_backoff{std::chrono::minutes{5}};
  std::chrono::milliseconds connect_timeout{2000};
  /// One POST, connection included.
  std::chrono::milliseconds timeout{5000};
  /// A container.missing waits this long and is posted only if the row is still missing:
  /// a deploy removes a container a moment before it deletes the row, and a reconcile in
  /// between would otherwise report a container the deployer removed on purpose.
  std::chrono::milliseconds missing_confirm{2000};
  /// Which addresses a notification URL may reach (checked on the resolved address, which
  /// the connection then uses): no loopback, link-local or private ones unless allowed.
  net::target_policy targets;
};

struct notifier_state {
  static inline const char* name = "notifier";

  /// One event on its way to one URL.
  struct delivery {
    std::string id; // X-Tinyforge-Delivery, shared by its attempts
    std::string event;
    std::string workload_id;
    std::string url;
    std::string secret;
    std::string body;
    int64_t attempts = 0;
    bool waiting = false; // its backoff runs; a retry message puts it back in `ready`
  };

  notifier_settings settings;
  notification_log_writer_actor writer;
  std::shared_ptr<notifier_store_readers> readers;
  notify_sender_actor sender;
  /// Held deliveries by the order their events arrived in (oldest first), whatever order
  /// the store's lookups came back in; the one in flight is not among them.
  std::map<uint64_t, delivery> held;
  /// Those of `held` that may be posted now, oldest event first.
  std::set<uint64_t> ready;
  std::optional<std::pair<uint64_t, delivery>> in_flight;
  /// container.missing events waiting for their confirmation.
  std::map<uint64_t, notification_event> unconfirmed;
  uint64_t next_seq = 0;
  notifier_stats stats;
  /// Drops since the queue was last below its bound: the first is logged at once, the rest
  /// are counted and logged as one line when the queue has room again.
  int64_t drops_in_burst = 0;
};

notifier_actor::behavior_type
notifier(notifier_actor::stateful_pointer<notifier_state> self, notifier_settings settings,
         notification_log_writer_actor writer, std::shared_ptr<notifier_store_readers> readers);

/// The sender: one blocking POST at a time (spawned detached by the notifier).
/// `answer_limit` caps how much of a receiver's answer is read; `targets` refuses the
/// addresses a POST must not reach (the attempt fails with the reason, nothing connected).
notify_sender_actor::behavior_type notify_sender(notify_sender_actor::pointer self,
                                                 size_t answer_limit, net::target_policy targets);

/// Whether `event` is one of spec section 5's.
bool is_notification_event(const std::string& event);

/// The JSON body: event, workload_id, workload_name, kind, at, and those of deployment_id,
/// stage, tag, error, container_id, role that apply. A container event also has `count`
/// (the containers it covers) and `containers` ([{container_id, role}], the first
/// max_listed_containers of them); container_id and role when it covers exactly one.
inline constexpr size_t max_listed_containers = 100;
std::string notification_body(const notification_event& ev, const workload& w,
                              const std::string& stage_name);

/// The headers of one attempt: Content-Type, X-Tinyforge-Event, X-Tinyforge-Delivery,
/// X-Tinyforge-Timestamp and, with a secret, X-Tinyforge-Signature:
/// sha256=hex(HMAC-SHA256(secret, timestamp + "." + body)).
std::map<std::string, std::string> notification_headers(const std::string& event,
                                                         const std::string& delivery_id,
                                                         const std::string& secret,
                                                         const std::string& body,
                                                         int64_t unix_seconds);

/// The wait before retry number `attempts` (1 after the first attempt): backoff doubled
/// attempts - 1 times, at most max_backoff.
std::chrono::milliseconds notification_backoff(const notifier_settings& s, int64_t attempts);

} // namespace tf
