#include "actors/webhook_router.hpp"

#include "core/errors.hpp"
#include "actors/webhook_payload.hpp"
#include "actors/webhook_signatures.hpp"
#include "net/json.hpp"
#include "store/password.hpp"
#include "store/webhooks.hpp"

#include <caf/all.hpp>
#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <iterator>

namespace tf {

namespace {

using self_ptr = webhook_router_actor::stateful_pointer<webhook_router_state>;
using promise = caf::typed_response_promise<webhook_answer>;

/// How long the router waits for a store reader (a lookup the secret cache missed).
constexpr auto store_timeout = std::chrono::seconds{10};

/// The router sets the writer no deadline: the HTTP handler's own wait is bounded, and a
/// request deadline costs two wake-ups of CAF's clock thread (set, then cancelled), which
/// under a burst of deliveries made that thread the busiest lock on the path. The writer
/// answers every message, and a writer gone answers through CAF as an error.
const auto writer_deadline = caf::infinite;

/// The headers a delivery keeps for its replay: what names it, never a secret (X-Gitlab-Token
/// is the signing secret itself). A verified X-Tinyforge-Signature is kept (a MAC, not a
/// secret): with the timestamp it is what the store deduplicates a signed delivery by. The
/// ones the dedupe needs come first.
constexpr const char* kept_header_names[]
  = {"x-tinyforge-timestamp", "x-tinyforge-signature", "x-tinyforge-delivery",
     "x-github-delivery",     "x-gitea-delivery",      "x-gitlab-event-uuid",
     "x-github-event",        "x-gitea-event",         "x-gitlab-event",
     "content-type",          "user-agent"};

/// The first `count` of kept_header_names present in `h`, as a JSON object.
std::string kept_headers_json(const webhook_headers& h, size_t count) {
  return net::make_json([&](net::json_writer& w) {
    w.StartObject();
    for (size_t n = 0; n < count && n < std::size(kept_header_names); ++n) {
      auto i = h.find(kept_header_names[n]);
      if (i == h.end())
        continue;
      w.Key(kept_header_names[n]);
      net::write_string(w, i->second.substr(0, 256));
    }
    w.EndObject();
  });
}

/// The kept headers, within what the store keeps whole: when a sender's long headers would
/// not fit, only the ones that name and date the delivery are kept (the store would keep
/// none, and a signed delivery could then not be recognised when it comes again).
std::string kept_headers_json(const webhook_headers& h) {
  auto all = kept_headers_json(h, std::size(kept_header_names));
  if (all.size() <= store::max_delivery_headers)
    return all;
  return kept_headers_json(h, 6);
}

webhook_headers headers_from_json(const std::string& text) {
  webhook_headers out;
  auto doc = net::parse_object(text);
  if (!doc)
    return out;
  for (const auto& m : doc->GetObject())
    if (m.value.IsString())
      out[m.name.GetString()] = std::string{m.value.GetString(), m.value.GetStringLength()};
  return out;
}

/// A delivery refused or not settled: the error code, the envelope's reason (the code's
/// name unless finer) and the message.
webhook_answer failure(ec code, std::string message, std::string reason = {}) {
  webhook_answer a;
  a.code = code;
  a.reason = reason.empty() ? std::string{to_string(code)} : std::move(reason);
  a.message = std::move(message);
  return a;
}

/// An unknown secret: the same answer whether or not anything exists.
webhook_answer no_such_webhook() {
  return failure(ec::not_found, "no such webhook");
}

/// A store error becomes the webhook's answer, with its code (a delivery or a workload
/// gone meanwhile is not_found).
webhook_answer lookup_failed(const caf::error& err) {
  return failure(error_code(err), error_message(err));
}

/// A refusal for a reason only a webhook has (see webhook_answer): input the sender must
/// change.
webhook_answer refused_for(const char* reason, std::string message) {
  return failure(ec::invalid_argument, std::move(message), reason);
}

/// Records a delivery that queues no deploy with the result of `a` (and its code, refused),
/// then answers `a` with the delivery's id (or without it, when the record could not be
/// written: the sender still gets its answer).
void record_and_answer(self_ptr self, promise rp, webhook_delivery rec, webhook_answer a) {
  rec.result = a.result;
  rec.code = a.refused() ? a.reason : std::string{};
  self->request(self->state.writer, writer_deadline, atom::create_v, std::move(rec))
    .then(
      [rp, a](webhook_delivery& stored) mutable {
        a.delivery = stored.id;
        rp.deliver(a);
      },
      [rp, a](caf::error& err) mutable {
        spdlog::warn("event=webhook-record-failed error={}", error_message(err));
        rp.deliver(a);
      });
}

/// Records a refused delivery, then answers with the refusal.
void refuse(self_ptr self, promise rp, webhook_delivery rec,
            webhook_answer a) {
  a.result = "rejected";
  rec.error = a.message;
  spdlog::info("event=webhook-refused workload={} code={} reason={}", rec.workload_id,
               a.reason, a.message);
  record_and_answer(self, std::move(rp), std::move(rec), std::move(a));
}

/// Records a delivery that asks for no deploy (ping, branch push, untagged version...), then
/// answers with the reason: the sender shows the hook as working.
void ignore(self_ptr self, promise rp, webhook_delivery rec,
            const std::string& reason) {
  rec.error = reason;
  spdlog::info("event=webhook-ignored workload={} event={} reason={}", rec.workload_id,
               rec.event, reason);
  webhook_answer a;
  a.result = "ignored";
  a.message = reason;
  record_and_answer(self, std::move(rp), std::move(rec), std::move(a));
}

/// How the store settled a claim becomes the answer: the queued deploy (handed to the
/// project deployer, or the stack deployer for `stack_id`, one-way, after the claim
/// committed), a repeat, an unchanged tag or another image's event, or the refusal.
void answer_claim(self_ptr self, promise rp, webhook_deploy_claimed& got,
                  const std::string& stack_id = {}) {
  auto& d = got.delivery;
  if (d.result == "rejected") {
    spdlog::info("event=webhook-refused workload={} code={} reason={}", d.workload_id,
                 d.code, d.error);
    auto a = failure(ec::invalid_argument, d.error, d.code);
    a.result = d.result;
    a.delivery = d.id;
    rp.deliver(a);
    return;
  }
  webhook_answer a;
  a.deployment_id = d.deployment_id;
  a.delivery = d.id;
  a.result = d.result;
  if (d.result == "ignored" || d.result == "unchanged") {
    spdlog::info("event=webhook-{} workload={} delivery={} tag={} reason={}", d.result,
                 d.workload_id, d.id, d.tag, d.error);
    a.message = d.error;
    rp.deliver(a);
    return;
  }
  if (d.result == "duplicate") {
    spdlog::info("event=webhook-duplicate workload={} delivery={} deployment={}", d.workload_id,
                 d.id, d.deployment_id);
    rp.deliver(a);
    return;
  }
  spdlog::info("event=webhook-accepted workload={} delivery={} deployment={} tag={}",
               d.workload_id, d.id, d.deployment_id, d.tag);
  // The row is committed: were the deployer to stop now, boot recovery would queue it.
  if (stack_id.empty())
    self->send(self->state.deployer, atom::queue_v, std::move(got.queued));
  else
    self->send(self->state.stacks, atom::queue_v, stack_id, std::move(got.queued));
  rp.deliver(a);
}

/// A trusted delivery whose reading settles it (ignored, refused) or whose deployer
/// (`deployer_up`, named `who`) is not running is recorded and answered here: true. Else
/// false, and the caller claims its deploy. A replay gets the event of its recorded headers.
bool answered_by_reading(self_ptr self, promise rp, webhook_delivery& rec,
                         const webhook_headers& headers, const payload_reading& reading,
                         bool deployer_up, const char* who) {
  if (rec.event.empty())
    rec.event = webhook_event(headers);
  if (reading.ignored())
    ignore(self, rp, std::move(rec), reading.message);
  else if (reading.refused())
    refuse(self, rp, std::move(rec),
           failure(ec::invalid_argument, reading.message, reading.code));
  else if (!deployer_up)
    refuse(self, rp, std::move(rec),
           failure(ec::unavailable, std::string{who} + " is not running"));
  else
    return false;
  return true;
}

/// What every delivery goes through once its sender is trusted (a verified or an allowed
/// unsigned delivery, or a replay): the workload kind and the tag are read here; the claim
/// of the delivery id, the stage and the queued deploy are one transaction in the store.
void route_to_project(self_ptr self, promise rp, webhook_delivery rec,
                      const webhook_headers& headers) {
  auto reading = read_project_payload(headers, rec.body);
  if (answered_by_reading(self, rp, rec, headers, reading, bool{self->state.deployer},
                          "the deployer"))
    return;
  rec.tag = reading.target.tag;
  rec.event = reading.target.event;
  webhook_deploy_claim claim;
  claim.delivery = std::move(rec);
  claim.wanted_stage = reading.target.stage;
  claim.event_image = reading.target.image;
  claim.force = reading.target.force; // a replay is forced by the store
  self->request(self->state.writer, writer_deadline, atom::create_v, std::move(claim))
    .then([self, rp](webhook_deploy_claimed& got) mutable { answer_claim(self, rp, got); },
          [rp](caf::error& err) mutable { rp.deliver(lookup_failed(err)); });
}

/// A stack's trusted delivery: redeploy it (a tag first becomes its TAG variable); the
/// claim of the delivery id, the variable and the queued deploy are one store transaction.
void route_to_stack(self_ptr self, promise rp, webhook_delivery rec, const workload& w,
                    const webhook_headers& headers) {
  auto reading = read_stack_payload(headers, rec.body);
  if (answered_by_reading(self, rp, rec, headers, reading, bool{self->state.stacks},
                          "the stack deployer"))
    return;
  rec.tag = reading.target.tag;
  webhook_deploy_claim claim;
  claim.delivery = std::move(rec);
  self->request(self->state.writer, writer_deadline, atom::create_v, std::move(claim))
    .then([self, rp, stack_id = w.ref_id](webhook_deploy_claimed& got) mutable {
            answer_claim(self, rp, got, stack_id);
          },
          [rp](caf::error& err) mutable { rp.deliver(lookup_failed(err)); });
}

/// A site's trusted delivery: its body is the site as a .tar.gz. The site deployer unpacks
/// it (a refused archive is the sender's 400, naming the entry) and queues its deploy; the
/// delivery is recorded without the archive (the log keeps what names a delivery, not
/// megabytes of it), so a site delivery is neither deduplicated nor replayed.
void route_to_site(self_ptr self, promise rp, webhook_delivery rec, const workload& w) {
  if (!self->state.sites)
    return refuse(self, rp, std::move(rec),
                  failure(ec::unavailable, "the site deployer is not running"));
  site_request r;
  r.site_id = w.ref_id;
  r.archive = std::move(rec.body);
  r.trigger = "webhook";
  r.triggered_by = "webhook";
  rec.body = "(a site archive of " + std::to_string(r.archive.size()) + " bytes)";
  self->request(self->state.sites, std::chrono::minutes{10}, atom::deploy_v, std::move(r))
    .then(
      [self, rp, rec](deployment& d) mutable {
        spdlog::info("event=webhook-accepted workload={} deployment={} release={}",
                     rec.workload_id, d.id, d.tag);
        rec.deployment_id = d.id;
        rec.tag = d.tag;
        webhook_answer a;
        a.result = "accepted";
        a.deployment_id = d.id;
        record_and_answer(self, rp, std::move(rec), std::move(a));
      },
      [self, rp, rec](caf::error& err) mutable {
        refuse(self, rp, std::move(rec), failure(error_code(err), error_message(err)));
      });
}

/// A trusted delivery goes to what its workload is.
void route_trusted(self_ptr self, promise rp, webhook_delivery rec, const workload& w,
                   const webhook_headers& headers) {
  if (w.kind == "project")
    return route_to_project(self, rp, std::move(rec), headers);
  if (w.kind == "stack")
    return route_to_stack(self, rp, std::move(rec), w, headers);
  if (w.kind == "site")
    return route_to_site(self, rp, std::move(rec), w);
  refuse(self, rp, std::move(rec),
         refused_for("not_implemented", "webhooks of a " + w.kind + " are not supported"));
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

/// Most secrets a router keeps resolved; past it, the cache starts again.
constexpr size_t max_resolved = 256;

/// The workload `secret` resolved to before, if nothing about workloads changed since.
const workload* resolved_before(self_ptr self, const std::string& key,
                                const std::string& secret) {
  auto& st = self->state;
  if (st.versions == nullptr)
    return nullptr;
  auto i = st.resolved.find(key);
  if (i == st.resolved.end())
    return nullptr;
  if (i->second.at != st.versions->workloads()) {
    st.resolved.erase(i);
    return nullptr;
  }
  const auto& w = i->second.w;
  // The digest matched; the secret itself is compared once more in constant time.
  if (w.webhook_secret.size() != secret.size()
      || CRYPTO_memcmp(w.webhook_secret.data(), secret.data(), secret.size()) != 0)
    return nullptr;
  return &w;
}

void remember(self_ptr self, std::string key, store::index_version at, const workload& w) {
  auto& st = self->state;
  if (st.versions == nullptr)
    return;
  if (st.resolved.size() >= max_resolved)
    st.resolved.clear();
  st.resolved[std::move(key)] = resolved_webhook{at, w};
}

/// A delivery whose secret named workload `w`: the signature decides whether its sender
/// is trusted; a trusted one goes on to its project.
void route_delivery(self_ptr self, promise rp, webhook_request& req, const workload& w) {
  webhook_delivery rec;
  rec.workload_id = w.id;
  rec.source_addr = req.source_addr;
  rec.delivery_id = webhook_delivery_id(req.headers);
  rec.event = webhook_event(req.headers);
  auto verdict = verify_signature(req.headers, req.body, w.webhook_signing_secret, unix_now());
  // Only a verified MAC is kept, in its canonical spelling (the store compares it).
  if (verdict.mac.empty())
    req.headers.erase("x-tinyforge-signature");
  else
    req.headers["x-tinyforge-signature"] = "sha256=" + verdict.mac;
  rec.headers_json = kept_headers_json(req.headers);
  rec.body = std::move(req.body);
  rec.signature = to_string(verdict.scheme);
  if (verdict.scheme != signature_scheme::none && !verdict.valid)
    return refuse(self, rp, std::move(rec), refused_for("unauthorized", verdict.reason));
  if (verdict.scheme == signature_scheme::none && w.webhook_require_signature)
    return refuse(self, rp, std::move(rec),
                  refused_for("unauthorized", "this webhook requires a signed request"));
  route_trusted(self, rp, std::move(rec), w, req.headers);
}

} // namespace

webhook_router_actor::behavior_type
webhook_router(webhook_router_actor::stateful_pointer<webhook_router_state> self,
               delivery_log_writer_actor writer, std::shared_ptr<webhook_store_readers> readers,
               project_deployer_actor deployer, const store::change_versions* versions,
               stack_deployer_actor stacks, site_deployer_actor sites) {
  self->state.versions = versions;
  self->state.stacks = std::move(stacks);
  self->state.sites = std::move(sites);
  self->state.writer = std::move(writer);
  self->state.readers = std::move(readers);
  self->state.deployer = std::move(deployer);
  return {
    [self](atom::webhook, webhook_request& req) -> caf::result<webhook_answer> {
      auto rp = self->make_response_promise<webhook_answer>();
      auto key = store::sha256_hex(req.secret);
      if (const auto* w = resolved_before(self, key, req.secret)) {
        route_delivery(self, rp, req, *w);
        return rp;
      }
      // The version before the read: an entry is never newer than what it holds.
      auto at = self->state.versions ? self->state.versions->workloads() : store::index_version{};
      auto fingerprint = secret_fingerprint(req.secret);
      auto source = req.source_addr;
      self->request(self->state.readers->next(), store_timeout, atom::get_v, atom::webhook_v,
                    req.secret)
        .then(
          [self, rp, req, key, at](workload& w) mutable {
            remember(self, std::move(key), at, w);
            route_delivery(self, rp, req, w);
          },
          [rp, fingerprint, source](caf::error& err) mutable {
            if (error_code(err) == ec::not_found) {
              spdlog::info("event=webhook-unknown secret_sha256_prefix={} source={}",
                           fingerprint, source);
              rp.deliver(no_such_webhook());
              return;
            }
            spdlog::warn("event=webhook-lookup-failed secret_sha256_prefix={} error={}",
                         fingerprint, error_message(err));
            rp.deliver(failure(ec::unavailable, "the store did not answer"));
          });
      return rp;
    },
    [self](atom::replay, webhook_replay& r) -> caf::result<webhook_answer> {
      auto rp = self->make_response_promise<webhook_answer>();
      auto reader = self->state.readers->next();
      self->request(reader, store_timeout, atom::get_v, atom::delivery_v, r.delivery)
        .then(
          [self, rp, r, reader](webhook_delivery& original) mutable {
            if (original.workload_id != r.workload_id) {
              rp.deliver(failure(ec::not_found, "this workload has no delivery \""
                                                  + r.delivery.substr(0, 80) + "\""));
              return;
            }
            if (original.result == "rejected" && original.code == "unauthorized") {
              // Its sender was never proven: a replay (which skips the signature) would
              // deploy what a forger sent.
              rp.deliver(failure(ec::conflict,
                                 "the delivery was refused as unauthenticated; it cannot be "
                                 "replayed",
                                 "not_replayable"));
              return;
            }
            if (original.body_truncated) {
              rp.deliver(failure(ec::conflict, "the delivery's body was too large to keep "
                                               "whole; it cannot be replayed"));
              return;
            }
            self->request(reader, store_timeout, atom::get_v, atom::workload_v, r.workload_id)
              .then(
                [self, rp, r, original](workload& w) mutable {
                  // The original was verified when it arrived; the replay is asked for by a
                  // user of the API. It bypasses the signature and the delivery-id dedupe.
                  webhook_delivery rec;
                  rec.workload_id = w.id;
                  rec.source_addr = r.source_addr;
                  rec.signature = "replay";
                  rec.replay_of = original.id;
                  rec.headers_json = original.headers_json;
                  rec.body = original.body;
                  auto headers = headers_from_json(original.headers_json);
                  route_trusted(self, rp, std::move(rec), w, headers);
                },
                [rp](caf::error& err) mutable {
                  rp.deliver(lookup_failed(err));
                });
          },
          [rp](caf::error& err) mutable {
            rp.deliver(lookup_failed(err));
          });
      return rp;
    },
  };
}

} // namespace tf
