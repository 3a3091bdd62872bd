#include "store/notifications.hpp"

#include "core/errors.hpp"
#include "core/clock.hpp"
#include "core/ids.hpp"
#include "store/reads.hpp"

namespace tf::store {

namespace {

constexpr size_t max_short_field = 256;
constexpr size_t max_url = 512;
constexpr size_t max_error = 1024;

bool known_outcome(const std::string& o) {
  return o == "delivered" || o == "retrying" || o == "failed" || o == "dropped";
}

void cap(std::string& s, size_t n) {
  if (s.size() > n)
    s.resize(n);
}

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
  a.id = new_id();
  if (a.at.empty())
    a.at = now_utc();
  auto tx = transaction::begin(db);
  if (!tx)
    return tx.error();
  auto ins = db.prepare("INSERT INTO notification_attempts(id, workload_id, delivery_id, event, "
                        "url, attempt, status, error, outcome, at) "
                        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
  if (!ins)
    return ins.error();
  ins->bind(1, a.id)
    .bind(2, a.workload_id)
    .bind(3, a.delivery_id)
    .bind(4, a.event)
    .bind(5, a.url)
    .bind(6, a.attempt)
    .bind(7, a.status)
    .bind(8, a.error)
    .bind(9, a.outcome)
    .bind(10, a.at);
  if (auto err = ins->run()) {
    if (error_code(err) == ec::conflict) // the foreign key: the workload is gone
      return make_error(ec::not_found, "no workload with id \"" + a.workload_id + "\"");
    return err;
  }
  // Bounded: the workload keeps its newest rows, pruned in this same transaction.
  auto prune = db.prepare(
    "DELETE FROM notification_attempts WHERE workload_id = ?1 AND rowid NOT IN "
    "(SELECT rowid FROM notification_attempts WHERE workload_id = ?1 "
    "ORDER BY at DESC, rowid DESC LIMIT ?2)");
  if (!prune)
    return prune.error();
  prune->bind(1, a.workload_id).bind(2, max_notification_attempts_per_workload);
  if (auto err = prune->run())
    return err;
  return tx->commit();
}

caf::expected<page<notification_attempt>> list_notification_attempts(
  database& db, const std::string& workload_id, int64_t limit, int64_t offset) {
  clamp_page(limit, offset);
  read_snapshot snapshot{db};
  if (snapshot.error())
    return snapshot.error();
  page<notification_attempt> out;
  auto st = db.prepare("SELECT id, workload_id, delivery_id, event, url, attempt, status, "
                       "error, outcome, at FROM notification_attempts WHERE workload_id = ?1 "
                       "ORDER BY at DESC, rowid DESC LIMIT ?2 OFFSET ?3");
  if (!st)
    return st.error();
  st->bind(1, workload_id).bind(2, limit).bind(3, offset);
  while (st->step()) {
    notification_attempt a;
    a.id = st->text(0);
    a.workload_id = st->text(1);
    a.delivery_id = st->text(2);
    a.event = st->text(3);
    a.url = st->text(4);
    a.attempt = st->integer(5);
    a.status = st->integer(6);
    a.error = st->text(7);
    a.outcome = st->text(8);
    a.at = st->text(9);
    out.items.push_back(std::move(a));
  }
  if (st->error())
    return st->error();
  auto count = db.prepare("SELECT COUNT(*) FROM notification_attempts WHERE workload_id = ?1");
  if (!count)
    return count.error();
  count->bind(1, workload_id);
  if (!count->step())
    return count->error() ? count->error() : make_error(ec::database, "count returned no row");
  out.total = count->integer(0);
  return out;
}

} // namespace tf::store
