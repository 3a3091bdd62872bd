#include "store/webhooks.hpp"

#include "core/errors.hpp"
#include "core/clock.hpp"
#include "store/deployments.hpp"
#include "core/ids.hpp"
#include "store/reads.hpp"
#include "store/validate.hpp"

#include <openssl/crypto.h>

#include <optional>
#include <string_view>
#include <utility>

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
  return r == "accepted" || r == "duplicate" || r == "rejected" || r == "ignored"
         || r == "unchanged";
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

/// Checks what the router set and cuts what came from outside to what the log keeps.
caf::error check_and_cap(webhook_delivery& d) {
  if (!known_result(d.result))
    return make_error(ec::invalid_argument,
                      "result must be accepted, duplicate, rejected, ignored or unchanged");
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
  return {};
}

void mark_duplicate(webhook_delivery& d, const webhook_delivery& first) {
  d.result = "duplicate";
  d.status = 200;
  d.deployment_id = first.deployment_id;
  d.error = "delivery " + d.delivery_id + " was accepted before (" + first.id + ")";
}

/// The stage a delivery asks for (by name or id; "" = the first in the project's order),
/// nothing when the project has no such stage.
caf::expected<std::optional<stage>>
find_stage_of_project(database& db, const std::string& project_id, const std::string& wanted) {
  auto st = db.prepare("SELECT id FROM stages WHERE project_id = ?1 "
                       "AND (?2 = '' OR name = ?2 OR id = ?2) ORDER BY position, name LIMIT 1");
  if (!st)
    return st.error();
  st->bind(1, project_id).bind(2, wanted);
  if (st->step()) {
    auto s = get_stage(db, st->text(0));
    if (!s)
      return s.error();
    return std::optional<stage>{std::move(*s)};
  }
  if (st->error())
    return st->error();
  return std::optional<stage>{};
}

/// The image a project deploys.
caf::expected<std::string> project_image(database& db, const std::string& project_id) {
  auto st = db.prepare("SELECT image FROM projects WHERE id = ?1");
  if (!st)
    return st.error();
  st->bind(1, project_id);
  if (st->step())
    return st->text(0);
  if (st->error())
    return st->error();
  return make_error(ec::not_found, "no project with id \"" + project_id + "\"");
}

/// Inserts a checked delivery (giving it an id and a time if it has none) and prunes the
/// workload's log to its newest rows. The caller holds the transaction.
caf::error insert_delivery(database& db, webhook_delivery& d) {
  if (d.id.empty())
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
  // Bounded: the workload keeps its newest rows. The oldest row to keep is found by walking
  // the (workload_id, received_at) index, and only what lies behind it is deleted, so a
  // full log costs one short index walk per delivery rather than a sort of the whole log.
  auto cut = db.prepare("SELECT received_at, rowid FROM webhook_deliveries WHERE workload_id = ?1 "
                        "ORDER BY received_at DESC, rowid DESC LIMIT 1 OFFSET ?2");
  if (!cut)
    return cut.error();
  cut->bind(1, d.workload_id).bind(2, max_deliveries_per_workload);
  if (!cut->step())
    return cut->error(); // fewer rows than the bound: nothing to prune
  auto cut_at = cut->text(0);
  auto cut_rowid = cut->integer(1);
  cut->reset(); // done with it before the delete runs
  auto prune = db.prepare("DELETE FROM webhook_deliveries WHERE workload_id = ?1 "
                          "AND (received_at < ?2 OR (received_at = ?2 AND rowid <= ?3))");
  if (!prune)
    return prune.error();
  prune->bind(1, d.workload_id).bind(2, cut_at).bind(3, cut_rowid);
  return prune->run();
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
  if (auto err = check_and_cap(d))
    return err;
  auto tx = transaction::begin(db);
  if (!tx)
    return tx.error();
  if (d.result == "accepted" && !d.delivery_id.empty()) {
    auto first = accepted_before(db, d.workload_id, d.delivery_id);
    if (!first)
      return first.error();
    if (*first)
      mark_duplicate(d, **first);
  }
  if (auto err = insert_delivery(db, d))
    return err;
  if (auto err = tx->commit())
    return err;
  return d;
}

caf::expected<webhook_deploy_claimed> claim_webhook_deploy(database& db, webhook_deploy_claim c) {
  webhook_deploy_claimed out;
  auto& d = c.delivery;
  d.result = "accepted";
  d.status = 202;
  if (auto err = check_and_cap(d))
    return err;
  auto tx = transaction::begin(db);
  if (!tx)
    return tx.error();
  auto w = get_workload(db, d.workload_id);
  if (!w)
    return w.error();
  if (w->kind != "project")
    return make_error(ec::invalid_argument, "workload " + w->id + " is not a project");
  auto refuse = [&](int64_t status, const char* code, std::string why) {
    d.result = "rejected";
    d.status = status;
    d.error = std::move(why);
    out.refusal_code = code;
  };
  auto settle = [&](int64_t status, const char* result, std::string why) {
    d.result = result;
    d.status = status;
    d.error = std::move(why);
  };
  auto first = d.delivery_id.empty()
                 ? caf::expected<std::optional<webhook_delivery>>{std::nullopt}
                 : accepted_before(db, d.workload_id, d.delivery_id);
  if (!first)
    return first.error();
  std::string image;
  if (!*first && !c.event_image.empty()) {
    auto own = project_image(db, w->ref_id);
    if (!own)
      return own.error();
    image = std::move(*own);
  }
  if (*first) {
    mark_duplicate(d, **first);
  } else if (!c.event_image.empty()
             && image_repository_key(c.event_image) != image_repository_key(image)) {
    // An organisation's or a repository's hook sends every package's events: only this
    // project's image is deployed. 200, so the sender does not count it as a failure.
    settle(200, "ignored",
           "the event is about " + c.event_image.substr(0, 200) + ", this project deploys "
             + image);
  } else if (!is_image_tag(d.tag)) {
    refuse(400, "invalid_argument", "tag: \"" + d.tag.substr(0, 80) + "\" is not an image tag");
  } else {
    auto s = find_stage_of_project(db, w->ref_id, c.wanted_stage);
    if (!s)
      return s.error();
    if (!*s) {
      refuse(422, "no_stage",
             c.wanted_stage.empty()
               ? "the project has no stage"
               : "the project has no stage \"" + c.wanted_stage.substr(0, 80) + "\"");
    } else {
      d.stage = (*s)->name;
      // A replay is asked for by name through the API, like a forced deploy.
      const bool force = c.force || !d.replay_of.empty();
      auto same = force ? caf::expected<std::optional<unchanged_deploy>>{std::nullopt}
                        : find_unchanged_deploy(db, **s, d.tag, true);
      if (!same)
        return same.error();
      if (*same) {
        settle(200, "unchanged", (*same)->reason);
        d.deployment_id = (*same)->deployment_id;
      } else {
        d.id = new_id(); // named by the deploy's triggered_by before the row exists
        deployment dep;
        dep.workload_id = w->id;
        dep.stage_id = (*s)->id;
        dep.tag = d.tag;
        dep.trigger = "webhook";
        dep.triggered_by = d.replay_of.empty() ? "webhook delivery " + d.id
                                               : "replay of webhook delivery " + d.replay_of;
        auto queued = insert_queued_deployment(db, std::move(dep));
        if (!queued)
          return queued.error();
        d.deployment_id = queued->id;
        out.queued = std::move(*queued);
      }
    }
  }
  if (auto err = insert_delivery(db, d))
    return err;
  if (auto err = tx->commit())
    return err;
  d.body.clear(); // the caller has it; the answer need not carry it back
  out.delivery = std::move(d);
  return out;
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
