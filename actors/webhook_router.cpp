#include "actors/webhook_router.hpp"

#include "actors/errors.hpp"
#include "actors/webhook_payload.hpp"
#include "actors/webhook_signatures.hpp"
#include "http/json.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <chrono>

namespace tf {

namespace {

using self_ptr = webhook_router_actor::stateful_pointer<webhook_router_state>;
using promise = caf::typed_response_promise<webhook_answer>;

/// How long the router waits for the store and for the deployer (which answers once it
/// has recorded the queued row).
constexpr auto store_timeout = std::chrono::seconds{10};
constexpr auto deployer_timeout = std::chrono::seconds{15};

/// The headers a delivery keeps for its replay: what names it, never what signs it
/// (X-Gitlab-Token is the signing secret itself).
constexpr const char* kept_header_names[]
  = {"content-type",        "user-agent",          "x-github-event",
     "x-gitea-event",       "x-gitlab-event",      "x-github-delivery",
     "x-gitea-delivery",    "x-gitlab-event-uuid", "x-tinyforge-delivery",
     "x-tinyforge-timestamp"};

std::string kept_headers_json(const webhook_headers& h) {
  return http::make_json([&](http::json_writer& w) {
    w.StartObject();
    for (const char* name : kept_header_names) {
      auto i = h.find(name);
      if (i == h.end())
        continue;
      w.Key(name);
      http::write_string(w, i->second);
    }
    w.EndObject();
  });
}

webhook_headers headers_from_json(const std::string& text) {
  webhook_headers out;
  auto doc = http::parse_object(text);
  if (!doc)
    return out;
  for (const auto& m : doc->GetObject())
    if (m.value.IsString())
      out[m.name.GetString()] = std::string{m.value.GetString(), m.value.GetStringLength()};
  return out;
}

webhook_answer answer(int64_t status, std::string code, std::string message,
                      std::string delivery = {}) {
  webhook_answer a;
  a.status = status;
  a.code = std::move(code);
  a.message = std::move(message);
  a.delivery = std::move(delivery);
  return a;
}

/// An unknown secret: the same answer whether or not anything exists.
webhook_answer no_such_webhook() {
  return answer(404, "not_found", "no such webhook");
}

/// The HTTP status a deployer's or store's error becomes in the webhook's answer.
int64_t status_of(const caf::error& err) {
  switch (error_code(err)) {
    case ec::invalid_argument: return 400;
    case ec::not_found: return 422; // the project or stage is gone: the secret was fine
    case ec::conflict: return 409;
    case ec::unavailable:
    case ec::timeout: return 503;
    default: return 500;
  }
}

/// A read that named something missing (a delivery, a workload) answers 404.
webhook_answer lookup_failed(const caf::error& err) {
  auto status = error_code(err) == ec::not_found ? 404 : status_of(err);
  return answer(status, to_string(error_code(err)), error_message(err));
}

/// Records a refused delivery, then answers with the refusal.
void refuse(self_ptr self, promise rp, webhook_delivery rec, int64_t status,
            const std::string& code, const std::string& message) {
  rec.result = "rejected";
  rec.status = status;
  rec.error = message;
  spdlog::info("event=webhook-refused workload={} status={} reason={}", rec.workload_id, status,
               message);
  auto refusal = answer(status, code, message);
  self->request(self->state.writer, store_timeout, atom::create_v, std::move(rec))
    .then(
      [rp, refusal](webhook_delivery& stored) mutable {
        refusal.delivery = stored.id;
        rp.deliver(refusal);
      },
      [rp, refusal](caf::error& err) mutable {
        spdlog::warn("event=webhook-record-failed error={}", error_message(err));
        rp.deliver(refusal);
      });
}

std::string claim_key(const webhook_delivery& d) {
  return d.workload_id + "\n" + d.delivery_id;
}

/// The first delivery of a delivery id has its answer: the repeats that arrived meanwhile
/// get it too, as duplicates of that deploy.
void settle_repeats(self_ptr self, const webhook_delivery& claimed, const webhook_answer& first) {
  if (claimed.delivery_id.empty())
    return;
  auto i = self->state.in_flight.find(claim_key(claimed));
  if (i == self->state.in_flight.end())
    return;
  auto waiting = std::move(i->second);
  self->state.in_flight.erase(i);
  for (auto& rp : waiting) {
    auto dup = first;
    if (dup.status < 400) {
      dup.status = 200;
      dup.duplicate = true;
    }
    rp.deliver(dup);
  }
}

/// The delivery was claimed: ask the deployer, record what it answered, then answer.
void deploy(self_ptr self, promise rp, webhook_delivery claimed, project p) {
  if (!claimed.delivery_id.empty())
    self->state.in_flight[claim_key(claimed)]; // repeats from now on wait for this one
  if (!self->state.deployer) {
    auto why = "the deployer is not running";
    self->request(self->state.writer, store_timeout, atom::update_v,
                  webhook_delivery_outcome{claimed.id, "rejected", 503, "", why})
      .then([](webhook_delivery&) {}, [](caf::error&) {});
    auto refusal = answer(503, "unavailable", why, claimed.id);
    rp.deliver(refusal);
    settle_repeats(self, claimed, refusal);
    return;
  }
  deploy_request req;
  req.project_id = p.id;
  req.stage = claimed.stage;
  req.tag = claimed.tag;
  req.trigger = "webhook";
  req.triggered_by = claimed.replay_of.empty()
                       ? "webhook delivery " + claimed.id
                       : "replay of webhook delivery " + claimed.replay_of;
  auto finish = [self, rp, claimed](webhook_delivery_outcome outcome,
                                    webhook_answer ans) mutable {
    // The answer waits for the outcome to commit, so a sender that lists deliveries or
    // repeats the delivery id right after sees this deployment.
    self->request(self->state.writer, store_timeout, atom::update_v, outcome)
      .then(
        [self, rp, ans, claimed](webhook_delivery&) mutable {
          rp.deliver(ans);
          settle_repeats(self, claimed, ans);
        },
        [self, rp, ans, claimed](caf::error& err) mutable {
          spdlog::warn("event=webhook-record-failed delivery={} error={}", claimed.id,
                       error_message(err));
          rp.deliver(ans);
          settle_repeats(self, claimed, ans);
        });
  };
  self->request(self->state.deployer, deployer_timeout, atom::deploy_v, std::move(req))
    .then(
      [finish, claimed](deployment& dep) mutable {
        spdlog::info("event=webhook-accepted workload={} delivery={} deployment={} tag={}",
                     claimed.workload_id, claimed.id, dep.id, claimed.tag);
        webhook_answer ok;
        ok.status = 202;
        ok.deployment_id = dep.id;
        ok.delivery = claimed.id;
        finish(webhook_delivery_outcome{claimed.id, "accepted", 202, dep.id, ""}, ok);
      },
      [finish, claimed](caf::error& err) mutable {
        auto status = status_of(err);
        auto message = error_message(err);
        spdlog::info("event=webhook-deploy-refused workload={} delivery={} status={} error={}",
                     claimed.workload_id, claimed.id, status, message);
        finish(webhook_delivery_outcome{claimed.id, "rejected", status, "", message},
               answer(status, to_string(error_code(err)), message, claimed.id));
      });
}

/// What every delivery goes through once its sender is trusted (a verified or an allowed
/// unsigned delivery, or a replay): the workload kind, the tag, the stage, the claim of
/// the delivery id, the deploy.
void route_to_project(self_ptr self, promise rp, webhook_delivery rec, const workload& w,
                      const webhook_headers& headers) {
  if (w.kind != "project")
    return refuse(self, rp, std::move(rec), 501, "not_implemented",
                  "webhooks of a " + w.kind + " are not supported yet");
  auto reading = read_project_payload(headers, rec.body);
  if (reading.status != 0)
    return refuse(self, rp, std::move(rec), reading.status, reading.code, reading.message);
  rec.tag = reading.target.tag;
  rec.event = reading.target.event;
  auto wanted_stage = reading.target.stage;
  self->request(self->state.readers->next(), store_timeout, atom::get_v, atom::project_v, w.ref_id)
    .then(
      [self, rp, rec, wanted_stage](project& p) mutable {
        const stage* s = nullptr;
        for (const auto& x : p.stages)
          if (wanted_stage.empty() ? true : (x.name == wanted_stage || x.id == wanted_stage)) {
            s = &x;
            break;
          }
        if (!s)
          return refuse(self, rp, std::move(rec), 422, "no_stage",
                        wanted_stage.empty()
                          ? "project " + p.name + " has no stage"
                          : "project " + p.name + " has no stage \"" + wanted_stage + "\"");
        rec.stage = s->name;
        rec.result = "accepted";
        rec.status = 202;
        // The claim: the store turns a delivery id this workload accepted before into a
        // duplicate in the same transaction that records it, so two deliveries with one id
        // never both reach the deployer.
        self->request(self->state.writer, store_timeout, atom::create_v, rec)
          .then(
            [self, rp, p](webhook_delivery& claimed) mutable {
              if (claimed.result == "duplicate") {
                spdlog::info("event=webhook-duplicate workload={} delivery={} deployment={}",
                             claimed.workload_id, claimed.id, claimed.deployment_id);
                auto first = self->state.in_flight.find(claim_key(claimed));
                if (claimed.deployment_id.empty() && first != self->state.in_flight.end()) {
                  first->second.push_back(rp); // answered with the first one's deploy
                  return;
                }
                webhook_answer dup;
                dup.status = 200;
                dup.duplicate = true;
                dup.deployment_id = claimed.deployment_id;
                dup.delivery = claimed.id;
                rp.deliver(dup);
                return;
              }
              deploy(self, rp, std::move(claimed), std::move(p));
            },
            [rp](caf::error& err) mutable {
              rp.deliver(lookup_failed(err));
            });
      },
      [self, rp, rec](caf::error& err) mutable {
        refuse(self, rp, std::move(rec), status_of(err), to_string(error_code(err)),
               error_message(err));
      });
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

} // namespace

webhook_router_actor::behavior_type
webhook_router(webhook_router_actor::stateful_pointer<webhook_router_state> self,
               store_writer_actor writer, std::shared_ptr<store_readers> readers,
               project_deployer_actor deployer) {
  self->state.writer = std::move(writer);
  self->state.readers = std::move(readers);
  self->state.deployer = std::move(deployer);
  return {
    [self](atom::webhook, webhook_request& req) -> caf::result<webhook_answer> {
      auto rp = self->make_response_promise<webhook_answer>();
      auto fingerprint = secret_fingerprint(req.secret);
      auto source = req.source_addr;
      self->request(self->state.readers->next(), store_timeout, atom::get_v, atom::webhook_v,
                    req.secret)
        .then(
          [self, rp, req](workload& w) mutable {
            webhook_delivery rec;
            rec.workload_id = w.id;
            rec.source_addr = req.source_addr;
            rec.delivery_id = webhook_delivery_id(req.headers);
            rec.event = webhook_event(req.headers);
            rec.headers_json = kept_headers_json(req.headers);
            rec.body = std::move(req.body);
            auto verdict = verify_signature(req.headers, rec.body, w.webhook_signing_secret,
                                            unix_now());
            rec.signature = to_string(verdict.scheme);
            if (verdict.scheme != signature_scheme::none && !verdict.valid)
              return refuse(self, rp, std::move(rec), 401, "unauthorized", verdict.reason);
            if (verdict.scheme == signature_scheme::none && w.webhook_require_signature)
              return refuse(self, rp, std::move(rec), 401, "unauthorized",
                            "this webhook requires a signed request");
            route_to_project(self, rp, std::move(rec), w, req.headers);
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
            rp.deliver(answer(503, "unavailable", "the store did not answer"));
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
              rp.deliver(answer(404, "not_found", "this workload has no delivery \""
                                                    + r.delivery.substr(0, 80) + "\""));
              return;
            }
            if (original.body_truncated) {
              rp.deliver(answer(409, "conflict", "the delivery's body was too large to keep "
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
                  route_to_project(self, rp, std::move(rec), w, headers);
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
