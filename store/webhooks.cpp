#include "store/webhooks.hpp"

#include "store/stacks.hpp"

#include "core/errors.hpp"
#include "core/clock.hpp"
#include "store/deployments.hpp"
#include "core/ids.hpp"
#include "store/projects.hpp"
#include "store/query.hpp"
#include "store/secrets.hpp"
#include "store/validate.hpp"
#include "store/workloads.hpp"

#include <openssl/crypto.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <iterator>
#include <map>
#include <optional>
#include <string_view>
#include <utility>

namespace tf::store {

namespace {

constexpr size_t max_short_field = 256;
constexpr size_t max_error = 1024;
constexpr size_t max_code = 64;

constexpr std::string_view delivery_columns
  = "SELECT id, workload_id, received_at, source_addr, delivery_id, event, signature, result, "
    "code, tag, stage, deployment_id, error, replay_of, body_truncated, headers_json, body "
    "FROM webhook_deliveries ";

/// A delivery without its body (which lists and lookups by delivery id do not need).
const auto read_delivery = columns(&webhook_delivery::id, &webhook_delivery::workload_id,
                                   &webhook_delivery::received_at, &webhook_delivery::source_addr,
                                   &webhook_delivery::delivery_id, &webhook_delivery::event,
                                   &webhook_delivery::signature, &webhook_delivery::result,
                                   &webhook_delivery::code, &webhook_delivery::tag,
                                   &webhook_delivery::stage, &webhook_delivery::deployment_id,
                                   &webhook_delivery::error, &webhook_delivery::replay_of,
                                   &webhook_delivery::body_truncated,
                                   &webhook_delivery::headers_json);

webhook_delivery read_delivery_with_body(const statement& st) {
  auto d = read_delivery(st);
  d.body = st.text(16);
  return d;
}

bool known_result(const std::string& r) {
  return r == "accepted" || r == "duplicate" || r == "rejected" || r == "ignored"
         || r == "unchanged";
}

/// The signed key of a delivery: "<timestamp> <MAC>" of its kept headers when it is signed
/// the Tinyforge way and they hold both as strings, else ''. Computed once, here, for the
/// row written and for the row searched, so the two always agree (migration 11 spelled the
/// same key in SQL for the rows it found; SQLite's JSON functions, five of them on each
/// insert, were a quarter of the insert's cost).
std::string signed_key_of(const webhook_delivery& d) {
  if (d.signature != "tinyforge")
    return {};
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag>(d.headers_json.data(), d.headers_json.size());
  if (doc.HasParseError() || !doc.IsObject())
    return {};
  auto text = [&](const char* name) -> const rapidjson::Value* {
    auto m = doc.FindMember(name);
    return m != doc.MemberEnd() && m->value.IsString() ? &m->value : nullptr;
  };
  const auto* ts = text("x-tinyforge-timestamp");
  const auto* mac = text("x-tinyforge-signature");
  if (ts == nullptr || mac == nullptr)
    return {};
  std::string key{ts->GetString(), ts->GetStringLength()};
  key += ' ';
  key.append(mac->GetString(), mac->GetStringLength());
  return key;
}

/// The first delivery this workload accepted under a delivery id.
const std::string& accepted_by_delivery_id_sql() {
  static const std::string sql = std::string{delivery_columns}
                                 + "WHERE workload_id = ?1 AND delivery_id = ?2 "
                                   "AND delivery_id != '' AND result = 'accepted' "
                                   "ORDER BY rowid LIMIT 1";
  return sql;
}

caf::expected<std::optional<webhook_delivery>> accepted_before(database& db,
                                                                const std::string& workload_id,
                                                                const std::string& delivery_id) {
  return find_one(db, accepted_by_delivery_id_sql(), read_delivery, workload_id, delivery_id);
}

/// The row's signed_key (migration 11) is "<timestamp> <MAC>" of its kept headers, the key
/// searched that of the delivery (signed_key_of): one search of the partial index.
const std::string& accepted_by_signed_key_sql() {
  static const std::string sql
    = std::string{delivery_columns}
      + "INDEXED BY idx_webhook_deliveries_signed "
        "WHERE workload_id = ?1 AND signed_key != '' AND signed_key = ?2 "
        "AND signature = 'tinyforge' AND result = 'accepted' ORDER BY rowid LIMIT 1";
  return sql;
}

/// The first delivery this workload accepted with the same Tinyforge timestamp and MAC as
/// `d`, if any: a captured signed delivery sent again with a changed or no delivery id. Only
/// rows inside the signature window can match (an older timestamp fails the check before the
/// store is asked), and the log holds at most max_deliveries_per_workload of them.
caf::expected<std::optional<webhook_delivery>>
accepted_with_signature(database& db, const webhook_delivery& d, const std::string& key) {
  if (d.signature != "tinyforge" || !d.replay_of.empty())
    return std::optional<webhook_delivery>{};
  if (key.empty())
    return std::optional<webhook_delivery>{}; // no row has an empty key to match
  return find_one(db, accepted_by_signed_key_sql(), read_delivery, d.workload_id, key);
}

/// Checks what the router set and cuts what came from outside to what the log keeps.
caf::error check_and_cap(webhook_delivery& d) {
  if (!known_result(d.result))
    return make_error(ec::invalid_argument,
                      "result must be accepted, duplicate, rejected, ignored or unchanged");
  // A refusal names its code, and only a refusal has one: the status the log shows for
  // the row is read from the two.
  if ((d.result == "rejected") == d.code.empty())
    return make_error(ec::invalid_argument, "a rejected delivery, and only one, has a code");
  if (d.code.size() > max_code)
    return make_error(ec::invalid_argument, "code: longer than 64 characters");
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
  d.deployment_id = first.deployment_id;
  d.error = !d.delivery_id.empty() && d.delivery_id == first.delivery_id
              ? "delivery " + d.delivery_id + " was accepted before (" + first.id + ")"
              : "a delivery with this signature and timestamp was accepted before (" + first.id
                  + ")";
}

/// The stage a delivery asks for (by name or id; "" = the first in the project's order),
/// nothing when the project has no such stage.
caf::expected<std::optional<stage>>
find_stage_of_project(database& db, const std::string& project_id, const std::string& wanted) {
  auto id = find_one(db,
                     "SELECT id FROM stages WHERE project_id = ?1 "
                     "AND (?2 = '' OR name = ?2 OR id = ?2) ORDER BY position, name LIMIT 1",
                     text_of_first_column, project_id, wanted);
  if (!id)
    return id.error();
  if (!*id)
    return std::optional<stage>{};
  auto s = get_stage(db, **id);
  if (!s)
    return s.error();
  return std::optional<stage>{std::move(*s)};
}

/// The image a project deploys.
caf::expected<std::string> project_image(database& db, const std::string& project_id) {
  return one(db, "SELECT image FROM projects WHERE id = ?1", "project", project_id, text_of_first_column);
}

/// Bounded: the workload keeps its newest max_deliveries_per_workload rows. The oldest row
/// to keep is found by walking the (workload_id, received_at) index, and only what lies
/// behind it is deleted, so a full log costs one short index walk rather than a sort of the
/// whole log. The caller holds the transaction.
caf::error prune_deliveries(database& db, const std::string& workload_id) {
  auto cut = find_one(db,
                      "SELECT received_at, rowid FROM webhook_deliveries WHERE workload_id = ?1 "
                      "ORDER BY received_at DESC, rowid DESC LIMIT 1 OFFSET ?2",
                      [](const statement& st) {
                        return std::pair<std::string, int64_t>{st.text(0), st.integer(1)};
                      },
                      workload_id, max_deliveries_per_workload);
  if (!cut)
    return cut.error();
  if (!*cut)
    return {}; // fewer rows than the bound: nothing to prune
  return run(db,
             "DELETE FROM webhook_deliveries WHERE workload_id = ?1 "
             "AND (received_at < ?2 OR (received_at = ?2 AND rowid <= ?3))",
             workload_id, (*cut)->first, (*cut)->second);
}

/// Whether insert_delivery prunes the log itself, or leaves it to a caller that prunes
/// once for many inserts (the batch of claims).
enum class pruning { now, by_caller };

/// Inserts a checked delivery (giving it an id and a time if it has none) and, unless the
/// caller will, prunes the workload's log to its newest rows. The caller holds the
/// transaction.
/// `signed_key`: signed_key_of(d), when the caller has it already.
caf::error insert_delivery(database& db, webhook_delivery& d, pruning when = pruning::now,
                           const std::string* signed_key = nullptr) {
  if (d.id.empty())
    d.id = new_log_id();
  if (d.received_at.empty())
    d.received_at = now_utc();
  if (auto err = run(
        db,
        "INSERT INTO webhook_deliveries(id, workload_id, received_at, source_addr, delivery_id, "
        "event, signature, result, code, tag, stage, deployment_id, error, replay_of, body, "
        "body_truncated, headers_json, signed_key) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, "
        "?18)",
        d.id, d.workload_id, d.received_at, d.source_addr, d.delivery_id, d.event, d.signature,
        d.result, d.code, d.tag, d.stage, d.deployment_id, d.error, d.replay_of, d.body,
        d.body_truncated, d.headers_json, signed_key ? *signed_key : signed_key_of(d)))
    return parent_gone(err, "workload", d.workload_id);
  if (when == pruning::by_caller)
    return {};
  return prune_deliveries(db, d.workload_id);
}

} // namespace

bool replayable(const webhook_delivery& d) {
  return !d.body_truncated && !(d.result == "rejected" && d.code == "unauthorized");
}

caf::expected<workload> find_workload_by_webhook_secret(database& db, const std::string& secret) {
  auto none = [] { return make_error(ec::not_found, "no such webhook"); };
  if (secret.empty() || secret.size() > max_short_field)
    return none();
  // Secrets are sealed with a fresh nonce each; the index holds their HMAC under the key.
  auto lookup = webhook_lookup(db, secret);
  if (!lookup)
    return lookup.error();
  auto id = find_one(db,
                     "SELECT id FROM workloads WHERE webhook_secret_lookup = ?1 "
                     "AND webhook_secret_lookup != ''",
                     text_of_first_column, *lookup);
  if (!id)
    return id.error();
  if (!*id)
    return none();
  auto w = get_workload(db, **id);
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
  return in_transaction(db, [&]() -> caf::expected<webhook_delivery> {
    if (d.result == "accepted" && !d.delivery_id.empty()) {
      auto first = accepted_before(db, d.workload_id, d.delivery_id);
      if (!first)
        return first.error();
      if (*first)
        mark_duplicate(d, **first);
    }
    if (auto err = insert_delivery(db, d))
      return err;
    return d;
  });
}

namespace {

/// What a claim reads of its workload: its kind and the project it is (no secrets: the
/// router has checked the signature, and unsealing them would be wasted work here).
struct claimed_workload {
  std::string id, kind, ref_id;
};

caf::expected<claimed_workload> get_claimed_workload(database& db, const std::string& id) {
  return one(db, "SELECT id, kind, ref_id FROM workloads WHERE id = ?1", "workload", id,
             [](const statement& st) {
               return claimed_workload{st.text(0), st.text(1), st.text(2)};
             });
}

/// The deploy an accepted delivery `d` queues (of a stage, or of a whole stack when
/// `stage_id` is empty), named by the delivery it came from; `d` and `out` name it back.
caf::error queue_webhook_deploy(database& db, const std::string& workload_id,
                                const std::string& stage_id, webhook_delivery& d,
                                webhook_deploy_claimed& out) {
  d.id = new_log_id(); // named by the deploy's triggered_by before the row exists
  deployment dep;
  dep.workload_id = workload_id;
  dep.stage_id = stage_id;
  dep.tag = d.tag;
  dep.trigger = "webhook";
  dep.triggered_by = d.replay_of.empty() ? "webhook delivery " + d.id
                                         : "replay of webhook delivery " + d.replay_of;
  auto queued = insert_queued_deployment(db, std::move(dep));
  if (!queued)
    return queued.error();
  d.deployment_id = queued->id;
  out.queued = std::move(*queued);
  return {};
}

/// What the claims of one transaction read of the catalog: each claim of a burst for one
/// project asked again for the same workload, image and stage (three of the eleven
/// statements a claim ran). Nothing a claim writes changes them, and the writer, the only
/// writer, commits nothing else while the batch's transaction is open.
class claim_lookups {
public:
  caf::expected<claimed_workload> workload(database& db, const std::string& id) {
    return remembered(workloads_, id, [&] { return get_claimed_workload(db, id); });
  }

  caf::expected<std::string> image(database& db, const std::string& project_id) {
    return remembered(images_, project_id, [&] { return project_image(db, project_id); });
  }

  caf::expected<std::optional<stage>> stage_of(database& db, const std::string& project_id,
                                               const std::string& wanted) {
    return remembered(stages_, std::make_pair(project_id, wanted),
                      [&] { return find_stage_of_project(db, project_id, wanted); });
  }

private:
  /// What `read` found for `key` the first time it was asked (errors are not kept).
  template <class Map, class Read>
  static auto remembered(Map& seen, const typename Map::key_type& key, Read read)
    -> decltype(read()) {
    if (auto i = seen.find(key); i != seen.end())
      return i->second;
    auto got = read();
    if (got)
      seen.emplace(key, *got);
    return got;
  }

  std::map<std::string, claimed_workload> workloads_;
  std::map<std::string, std::string> images_;
  std::map<std::pair<std::string, std::string>, std::optional<stage>> stages_;
};

caf::expected<webhook_deploy_claimed> claim_one(database& db, webhook_deploy_claim c,
                                                pruning when, claim_lookups& lookups) {
  webhook_deploy_claimed out;
  auto& d = c.delivery;
  d.result = "accepted";
  d.code.clear();
  if (auto err = check_and_cap(d))
    return err;
  auto tx = transaction::begin(db);
  if (!tx)
    return tx.error();
  auto w = lookups.workload(db, d.workload_id);
  if (!w)
    return w.error();
  // What the signature lookup searches and the insert stores: one reading of the headers.
  const auto signed_key = signed_key_of(d);
  if (w->kind != "project" && w->kind != "stack")
    return make_error(ec::invalid_argument,
                      "workload " + w->id + " is neither a project nor a stack");
  auto refuse = [&](const char* code, std::string why) {
    d.result = "rejected";
    d.code = code;
    d.error = std::move(why);
  };
  auto settle = [&](const char* result, std::string why) {
    d.result = result;
    d.error = std::move(why);
  };
  auto first = d.delivery_id.empty()
                 ? caf::expected<std::optional<webhook_delivery>>{std::nullopt}
                 : accepted_before(db, d.workload_id, d.delivery_id);
  if (!first)
    return first.error();
  if (!*first) {
    first = accepted_with_signature(db, d, signed_key);
    if (!first)
      return first.error();
  }
  std::string image;
  if (!*first && !c.event_image.empty() && w->kind == "project") {
    auto own = lookups.image(db, w->ref_id);
    if (!own)
      return own.error();
    image = std::move(*own);
  }
  if (*first) {
    mark_duplicate(d, **first);
  } else if (w->kind == "stack") {
    // A stack has no stage and no tag of its own: a delivery redeploys it, and a tag
    // becomes its TAG variable first (the compose file names its image with ${TAG}).
    if (!d.tag.empty() && !is_image_tag(d.tag)) {
      refuse("invalid_argument", "tag: \"" + d.tag.substr(0, 80) + "\" is not an image tag");
    } else {
      if (!d.tag.empty())
        if (auto err = set_stack_variable(db, w->ref_id, "TAG", d.tag))
          return err;
      if (auto err = queue_webhook_deploy(db, w->id, "", d, out))
        return err;
    }
  } else if (!c.event_image.empty()
             && image_repository_key(c.event_image) != image_repository_key(image)) {
    // An organisation's or a repository's hook sends every package's events: only this
    // project's image is deployed. Ignored, so the sender does not count it as a failure.
    settle("ignored",
           "the event is about " + c.event_image.substr(0, 200) + ", this project deploys "
             + image);
  } else if (!is_image_tag(d.tag)) {
    refuse("invalid_argument", "tag: \"" + d.tag.substr(0, 80) + "\" is not an image tag");
  } else {
    auto s = lookups.stage_of(db, w->ref_id, c.wanted_stage);
    if (!s)
      return s.error();
    if (!*s) {
      refuse("no_stage",
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
        settle("unchanged", (*same)->reason);
        d.deployment_id = (*same)->deployment_id;
      } else {
        if (auto err = queue_webhook_deploy(db, w->id, (*s)->id, d, out))
          return err;
      }
    }
  }
  if (auto err = insert_delivery(db, d, when, &signed_key))
    return err;
  if (auto err = tx->commit())
    return err;
  d.body.clear(); // the caller has it; the answer need not carry it back
  out.delivery = std::move(d);
  return out;
}

/// What each log written by a pass holds once it commits, pruning those that reached their
/// bound and slack (every one without `sizes`). A log the hints do not know yet is counted.
caf::expected<std::vector<std::pair<std::string, int64_t>>>
settle_log_sizes(database& db, const std::vector<std::pair<std::string, int64_t>>& written,
                 const delivery_log_sizes* sizes) {
  std::vector<std::pair<std::string, int64_t>> out;
  out.reserve(written.size());
  for (const auto& [id, added] : written) {
    int64_t rows = 0;
    if (sizes != nullptr) {
      if (const auto* known = sizes->find(id)) {
        rows = *known + added;
      } else {
        // This pass's rows included: the transaction sees its own writes.
        auto counted = one(db, "SELECT COUNT(*) FROM webhook_deliveries WHERE workload_id = ?1",
                           "webhook deliveries", id,
                           [](const statement& st) { return st.integer(0); });
        if (!counted)
          return counted.error();
        rows = *counted;
      }
    }
    if (sizes == nullptr || rows >= max_deliveries_per_workload + delivery_prune_slack) {
      if (auto err = prune_deliveries(db, id))
        return err;
      rows = std::min(rows, max_deliveries_per_workload);
    }
    out.emplace_back(id, rows);
  }
  return out;
}

/// A pass that did not commit leaves its logs' hints unknown: counted again when next written.
void forget_log_sizes(const std::vector<std::pair<std::string, int64_t>>& written,
                      delivery_log_sizes* sizes) {
  if (sizes != nullptr)
    for (const auto& w : written)
      sizes->forget(w.first);
}

} // namespace

caf::expected<webhook_deploy_claimed> claim_webhook_deploy(database& db, webhook_deploy_claim c) {
  claim_lookups lookups;
  return claim_one(db, std::move(c), pruning::now, lookups);
}

std::vector<caf::expected<webhook_deploy_claimed>>
claim_webhook_deploys(database& db, std::vector<webhook_deploy_claim> cs,
                      delivery_log_sizes* sizes) {
  std::vector<caf::expected<webhook_deploy_claimed>> out;
  out.reserve(cs.size());
  // Each pass settles the claims from `first` on in one transaction. An error SQLite ends
  // the whole transaction with (a full disk, an I/O error) takes the claims of that pass
  // along: they answer its error, and the next pass starts a new transaction after them.
  for (size_t first = 0; first < cs.size();) {
    auto fail_pass = [&](const caf::error& err) {
      for (size_t i = first; i < out.size(); ++i)
        out[i] = err;
    };
    auto tx = transaction::begin(db);
    if (!tx) {
      out.resize(cs.size(), tx.error());
      return out;
    }
    // The logs this pass wrote to, with how many rows each: pruned before the commit.
    std::vector<std::pair<std::string, int64_t>> written;
    claim_lookups lookups; // one pass's transaction: what it read holds until its commit
    bool ended = false;
    while (out.size() < cs.size()) {
      auto& c = cs[out.size()];
      auto workload_id = c.delivery.workload_id;
      out.push_back(claim_one(db, std::move(c), pruning::by_caller, lookups));
      if (out.back()) {
        auto w = std::find_if(written.begin(), written.end(),
                              [&](const auto& x) { return x.first == workload_id; });
        if (w == written.end())
          written.emplace_back(std::move(workload_id), 1);
        else
          ++w->second;
      }
      if (!transaction_open(db)) {
        fail_pass(out.back() ? make_error(ec::database, "the transaction ended unexpectedly")
                             : out.back().error());
        ended = true;
        break;
      }
    }
    if (!ended) {
      auto settled = settle_log_sizes(db, written, sizes);
      if (!settled) {
        fail_pass(settled.error());
        forget_log_sizes(written, sizes);
        return out; // the transaction rolls back: nothing of the pass is kept
      }
      if (auto err = tx->commit()) {
        fail_pass(err);
        forget_log_sizes(written, sizes);
      } else if (sizes != nullptr) {
        for (const auto& [id, rows] : *settled)
          sizes->set(id, rows);
      }
    } else {
      forget_log_sizes(written, sizes);
    }
    first = out.size();
  }
  return out;
}

std::vector<std::pair<std::string_view, std::string_view>> delivery_dedupe_statements() {
  return {{"accepted by delivery id", accepted_by_delivery_id_sql()},
          {"accepted by signed key", accepted_by_signed_key_sql()}};
}

caf::expected<webhook_delivery> get_delivery(database& db, const std::string& id) {
  static const auto sql = concat(delivery_columns, "WHERE id = ?1");
  return one(db, sql, "webhook delivery", id, read_delivery_with_body, 80);
}

caf::expected<page<webhook_delivery>> list_deliveries(database& db,
                                                      const std::string& workload_id,
                                                      int64_t limit, int64_t offset) {
  static const auto sql = concat(delivery_columns,
                                 "WHERE workload_id = ?3 "
                                 "ORDER BY received_at DESC, rowid DESC LIMIT ?1 OFFSET ?2");
  return paged(db, {sql, "SELECT COUNT(*) FROM webhook_deliveries WHERE workload_id = ?3"},
               limit, offset, read_delivery, workload_id);
}

} // namespace tf::store
