#include "store/notifications.hpp"

#include "core/errors.hpp"
#include "core/clock.hpp"
#include "core/ids.hpp"
#include "store/query.hpp"
#include "store/validate.hpp"

namespace tf::store {

namespace {

constexpr size_t max_short_field = 256;
constexpr size_t max_url = 512;
constexpr size_t max_error = 1024;

bool known_outcome(const std::string& o) {
  return o == "delivered" || o == "retrying" || o == "failed" || o == "dropped";
}

const auto read_attempt = columns(&notification_attempt::id, &notification_attempt::workload_id,
                                  &notification_attempt::delivery_id,
                                  &notification_attempt::event, &notification_attempt::url,
                                  &notification_attempt::attempt, &notification_attempt::status,
                                  &notification_attempt::error, &notification_attempt::outcome,
                                  &notification_attempt::at);

} // namespace

std::string redact_url(const std::string& url) {
  auto scheme_end = url.find("://");
  auto rest_at = scheme_end == std::string::npos ? 0 : scheme_end + 3;
  // The authority ends at the first '/', '?' or '#'; credentials are what precedes its '@'.
  auto authority_end = url.find_first_of("/?#", rest_at);
  if (authority_end == std::string::npos)
    authority_end = url.size();
  auto at = url.rfind('@', authority_end == 0 ? 0 : authority_end - 1);
  auto host_at = (at != std::string::npos && at >= rest_at) ? at + 1 : rest_at;
  auto cut = url.find_first_of("?#", authority_end);
  std::string out = url.substr(0, rest_at)
                    + url.substr(host_at, (cut == std::string::npos ? url.size() : cut) - host_at);
  cap(out, max_url);
  return out;
}

caf::error record_notification_attempt(database& db, notification_attempt a) {
  if (!known_outcome(a.outcome))
    return make_error(ec::invalid_argument,
                      "outcome must be delivered, retrying, failed or dropped");
  if (a.status < 0 || a.status > 999)
    return make_error(ec::invalid_argument, "status must be 0 or an HTTP status");
  if (a.attempt < 0 || a.attempt > 1000)
    return make_error(ec::invalid_argument, "attempt out of range");
  a.url = redact_url(a.url);
  cap(a.delivery_id, max_short_field);
  cap(a.event, max_short_field);
  cap(a.error, max_error);
  a.id = new_log_id();
  if (a.at.empty())
    a.at = now_utc();
  return in_transaction(db, [&]() -> caf::error {
    if (auto err = run(db,
                       "INSERT INTO notification_attempts(id, workload_id, delivery_id, event, "
                       "url, attempt, status, error, outcome, at) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                       a.id, a.workload_id, a.delivery_id, a.event, a.url, a.attempt, a.status,
                       a.error, a.outcome, a.at))
      return parent_gone(err, "workload", a.workload_id);
    // Bounded: the workload keeps its newest rows, pruned in this same transaction.
    return run(db,
               "DELETE FROM notification_attempts WHERE workload_id = ?1 AND rowid NOT IN "
               "(SELECT rowid FROM notification_attempts WHERE workload_id = ?1 "
               "ORDER BY at DESC, rowid DESC LIMIT ?2)",
               a.workload_id, max_notification_attempts_per_workload);
  });
}

caf::expected<page<notification_attempt>> list_notification_attempts(
  database& db, const std::string& workload_id, int64_t limit, int64_t offset) {
  return paged(db,
               {"SELECT id, workload_id, delivery_id, event, url, attempt, status, error, "
                "outcome, at FROM notification_attempts WHERE workload_id = ?3 "
                "ORDER BY at DESC, rowid DESC LIMIT ?1 OFFSET ?2",
                "SELECT COUNT(*) FROM notification_attempts WHERE workload_id = ?3"},
               limit, offset, read_attempt, workload_id);
}

} // namespace tf::store
