#include "http/json_webhooks.hpp"

#include "http/errors.hpp"
#include "http/json_fields.hpp"
#include "store/webhooks.hpp"

namespace tf::http {

void write_webhook_answer(net::json_writer& w, const webhook_answer& a) {
  const bool settled = a.result == "unchanged" || a.result == "ignored";
  w.StartObject();
  // Null: nothing deployed, or a duplicate of one still being asked for.
  net::nullable(w, "deployment_id", a.deployment_id);
  if (a.result == "duplicate") {
    w.Key("duplicate");
    w.Bool(true);
  } else {
    net::field(w, "status", settled ? a.result : std::string{"queued"});
  }
  if (settled)
    net::field(w, "reason", a.message);
  net::field(w, "delivery_id", a.delivery);
  w.EndObject();
}

void write_delivery(net::json_writer& w, const webhook_delivery& d) {
  w.StartObject();
  write_texts(w, {{"id", d.id}, {"workload_id", d.workload_id}, {"received_at", d.received_at},
                  {"source_addr", d.source_addr}});
  write_optional_texts(w, {{"delivery_id", d.delivery_id}, {"event", d.event}});
  write_texts(w, {{"signature", d.signature}, {"result", d.result}});
  net::field(w, "status", webhook_status(d));
  if (!d.code.empty())
    net::field(w, "code", d.code);
  write_optional_texts(w, {{"tag", d.tag}, {"stage", d.stage}, {"deployment_id", d.deployment_id},
                           {"error", d.error}, {"replay_of", d.replay_of}});
  w.Key("replayable");
  w.Bool(store::replayable(d));
  w.Key("headers");
  w.RawValue(d.headers_json.data(), d.headers_json.size(), rapidjson::kObjectType);
  w.EndObject();
}

void write_attempt(net::json_writer& w, const notification_attempt& a) {
  w.StartObject();
  write_texts(w, {{"id", a.id}, {"workload_id", a.workload_id}, {"delivery_id", a.delivery_id},
                  {"event", a.event}, {"url", a.url}});
  net::field(w, "attempt", a.attempt);
  w.Key("status");
  if (a.status == 0)
    w.Null();
  else
    w.Int64(a.status);
  net::nullable(w, "error", a.error);
  net::field(w, "outcome", a.outcome);
  net::field(w, "at", a.at);
  w.EndObject();
}

} // namespace tf::http
