#include "store/webhooks.hpp"

#include "actors/errors.hpp"
#include "store/clock.hpp"
#include "store/ids.hpp"
#include "store/reads.hpp"

#include <openssl/crypto.h>

#include <string_view>

namespace tf::store {

namespace {

constexpr size_t max_short_field = 256;
constexpr size_t max_error = 1024;

constexpr std::string_view delivery_columns
  = "SELECT id, workload_id, received_at, source_addr, delivery_id, event, signature, result, "
    "status, tag, stage, deployment_id, error, replay_of, body_truncated, headers_json, body "
    "FROM webhook_deliveries ";

webhook_delivery read_delivery(const statement& st, bool with_body) {
  webhook_delivery d;
  d.id = st.text(0);
  d.workload_id = st.text(1);
  d.received_at = st.text(2);
  d.source_addr = st.text(3);
  d.delivery_id = st.text(4);
  d.event = st.text(5);
  d.signature = st.text(6);
  d.result = st.text(7);
  d.status = st.integer(8);
  d.tag = st.text(9);
  d.stage = st.text(10);
  d.deployment_id = st.text(11);
  d.error = st.text(12);
  d.replay_of = st.text(13);
  d.body_truncated = st.integer(14) != 0;
  d.headers_json = st.text(15);
  if (with_body)
    d.body = st.text(16);
  return d;
}

bool known_result(const std::string& r) {
  return r == "accepted" || r == "duplicate" || r == "rejected";
}

/// Cuts outside input to a length the log keeps.
void cap(std::string& s, size_t n) {
  if (s.size() > n)
    s.resize(n);
}

/// The first delivery this workload accepted under `delivery_id`, if any.
caf::expected<std::optional<webhook_delivery>> accepted_before(database& db,
                                                                const std::string& workload_id,
                                                                const std::string& delivery_id) {
  static const std::string sql = std::string{delivery_columns}
                                 + "WHERE workload_id = ?1 AND delivery_id = ?2 "
                                   "AND delivery_id != '' AND result = 'accepted' "
                                   "ORDER BY rowid LIMIT 1";
  auto st = db.prepare(sql);
  if (!st)
    return st.error();
  st->bind(1, workload_id).bind(2, delivery_id);
  if (st->step())
    return std::optional<webhook_delivery>{read_delivery(*st, false)};
  if (st->error())
    return st->error();
  return std::optional<webhook_delivery>{};
}

} // namespace

caf::expected<workload> find_workload_by_webhook_secret(database& db, const std::string& secret) {
  auto none = [] { return make_error(ec::not_found, "no such webhook"); };
  if (secret.empty() || secret.size() > max_short_field)
    return none();
  auto st = db.prepare("SELECT id FROM workloads WHERE webhook_secret = ?1 AND webhook_secret != ''");
  if (!st)
    return st.error();
  st->bind(1, secret);
  if (!st->step())
    return st->error() ? st->error() : none();
  auto w = get_workload(db, st->text(0));
  if (!w)
    return error_code(w.error()) == ec::not_found ? none() : w.error();
  // The index found it by equality; comparing the stored secret once more in constant time
  // keeps what an attacker can time to one comparison that does not stop early.
  if (w->webhook_secret.size() != secret.size()
      || CRYPTO_memcmp(w->webhook_secret.data(), secret.data(), secret.size()) != 0)
    return none();
  return w;
}

caf::expected<webhook_delivery> record_delivery(database& db, webhook_delivery d) {
  if (!known_result(d.result))
    return make_error(ec::invalid_argument, "result must be accepted, duplicate or rejected");
  if (d.status < 100 || d.status > 599)
    return make_error(ec::invalid_argument, "status must be an HTTP status");
  for (auto* s : {&d.source_addr, &d.delivery_id, &d.event, &d.signature, &d.tag, &d.stage,
                  &d.deployment_id, &d.replay_of})
    cap(*s, max_short_field);
  cap(d.error, max_error);
  if (d.body.size() > max_delivery_body) {
    d.body.resize(max_delivery_body);
    d.body_truncated = true;
  }
  if (d.headers_json.size() > max_delivery_headers)
    d.headers_json = "{}"; // a cut JSON document would not parse: keep none rather than half
  if (d.headers_json.empty())
    d.headers_json = "{}";
  auto tx = transaction::begin(db);
  if (!tx)
    return tx.error();
  if (d.result == "accepted" && !d.delivery_id.empty()) {
    auto first = accepted_before(db, d.workload_id, d.delivery_id);
    if (!first)
      return first.error();
    if (*first) {
      d.result = "duplicate";
      d.status = 200;
      d.deployment_id = (*first)->deployment_id;
      d.error = "delivery " + d.delivery_id + " was accepted before (" + (*first)->id + ")";
    }
  }
  d.id = new_id();
  if (d.received_at.empty())
    d.received_at = now_utc();
  auto ins = db.prepare(
    "INSERT INTO webhook_deliveries(id, workload_id, received_at, source_addr, delivery_id, "
    "event, signature, result, status, tag, stage, deployment_id, error, replay_of, body, "
    "body_truncated, headers_json) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)");
  if (!ins)
    return ins.error();
  ins->bind(1, d.id)
    .bind(2, d.workload_id)
    .bind(3, d.received_at)
    .bind(4, d.source_addr)
    .bind(5, d.delivery_id)
    .bind(6, d.event)
    .bind(7, d.signature)
    .bind(8, d.result)
    .bind(9, d.status)
    .bind(10, d.tag)
    .bind(11, d.stage)
    .bind(12, d.deployment_id)
    .bind(13, d.error)
    .bind(14, d.replay_of)
    .bind(15, d.body)
    .bind(16, d.body_truncated)
    .bind(17, d.headers_json);
  if (auto err = ins->run()) {
    if (error_code(err) == ec::conflict) // the foreign key: the workload is gone
      return make_error(ec::not_found, "no workload with id \"" + d.workload_id + "\"");
    return err;
  }
  // Bounded: the workload keeps its newest rows, pruned in this same transaction.
  auto prune = db.prepare("DELETE FROM webhook_deliveries WHERE workload_id = ?1 AND rowid NOT IN "
                          "(SELECT rowid FROM webhook_deliveries WHERE workload_id = ?1 "
                          "ORDER BY received_at DESC, rowid DESC LIMIT ?2)");
  if (!prune)
    return prune.error();
  prune->bind(1, d.workload_id).bind(2, max_deliveries_per_workload);
  if (auto err = prune->run())
    return err;
  auto stored = get_delivery(db, d.id);
  if (!stored)
    return stored.error();
  if (auto err = tx->commit())
    return err;
  return stored;
}

caf::expected<webhook_delivery> finish_delivery(database& db, const webhook_delivery_outcome& o) {
  if (o.result != "accepted" && o.result != "rejected")
    return make_error(ec::invalid_argument, "an outcome is accepted or rejected");
  if (o.status < 100 || o.status > 599)
    return make_error(ec::invalid_argument, "status must be an HTTP status");
  auto error = o.error;
  cap(error, max_error);
  auto deployment_id = o.deployment_id;
  cap(deployment_id, max_short_field);
  auto tx = transaction::begin(db);
  if (!tx)
    return tx.error();
  auto st = db.prepare("UPDATE webhook_deliveries SET result = ?1, status = ?2, "
                       "deployment_id = ?3, error = ?4 WHERE id = ?5");
  if (!st)
    return st.error();
  st->bind(1, o.result).bind(2, o.status).bind(3, deployment_id).bind(4, error).bind(5, o.id);
  if (auto err = st->run())
    return err;
  if (st->changes() == 0) // pruned meanwhile, or never recorded
    return make_error(ec::not_found, "no webhook delivery with id \"" + o.id + "\"");
  auto stored = get_delivery(db, o.id);
  if (!stored)
    return stored.error();
  if (auto err = tx->commit())
    return err;
  return stored;
}

caf::expected<webhook_delivery> get_delivery(database& db, const std::string& id) {
  static const std::string sql = std::string{delivery_columns} + "WHERE id = ?1";
  auto st = db.prepare(sql);
  if (!st)
    return st.error();
  st->bind(1, id);
  if (st->step())
    return read_delivery(*st, true);
  if (st->error())
    return st->error();
  return make_error(ec::not_found, "no webhook delivery with id \"" + id.substr(0, 80) + "\"");
}

caf::expected<page<webhook_delivery>> list_deliveries(database& db,
                                                      const std::string& workload_id,
                                                      int64_t limit, int64_t offset) {
  clamp_page(limit, offset);
  static const std::string sql = std::string{delivery_columns}
                                 + "WHERE workload_id = ?1 "
                                   "ORDER BY received_at DESC, rowid DESC LIMIT ?2 OFFSET ?3";
  read_snapshot snapshot{db};
  if (snapshot.error())
    return snapshot.error();
  page<webhook_delivery> out;
  auto st = db.prepare(sql);
  if (!st)
    return st.error();
  st->bind(1, workload_id).bind(2, limit).bind(3, offset);
  while (st->step())
    out.items.push_back(read_delivery(*st, false));
  if (st->error())
    return st->error();
  auto count = db.prepare("SELECT COUNT(*) FROM webhook_deliveries WHERE workload_id = ?1");
  if (!count)
    return count.error();
  count->bind(1, workload_id);
  if (!count->step())
    return count->error() ? count->error() : make_error(ec::database, "count returned no row");
  out.total = count->integer(0);
  return out;
}

} // namespace tf::store
