// POST /api/webhooks/{secret}: a delivery handed to the webhook router, which answers with
// the status to send. No session is asked for here (the server's auth exempts this path):
// the secret in the URL and the signature are the credentials. A workload's delivery log
// and its replay live under /api/workloads/{id}/deliveries, which do need a session.
#include "actors/webhook_signatures.hpp"
#include "http/ask.hpp"
#include "http/route_helpers.hpp"
#include "http/routes.hpp"
#include "http/server.hpp"

#include <httplib.h>

namespace tf::http {

namespace {

using req_t = const httplib::Request&;
using res_t = httplib::Response&;

constexpr std::string_view webhook_prefix = "/api/webhooks/";
/// Real secrets are 64 hex digits; anything much longer is not looked up.
constexpr size_t max_secret = 256;
/// Signature and id headers are short; a longer value is cut (and then fails to verify).
constexpr size_t max_header_value = 1024;

/// The headers the router reads (signatures, event names, delivery ids), lowercased.
constexpr const char* read_headers[]
  = {"x-tinyforge-signature", "x-tinyforge-timestamp", "x-tinyforge-delivery",
     "x-hub-signature-256",   "x-gitea-signature",     "x-gitlab-token",
     "x-github-event",        "x-gitea-event",         "x-gitlab-event",
     "x-github-delivery",     "x-gitea-delivery",      "x-gitlab-event-uuid",
     "content-type",          "user-agent"};

/// Header values go into the delivery log and its JSON: printable ASCII only.
std::string printable(std::string v) {
  if (v.size() > max_header_value)
    v.resize(max_header_value);
  for (auto& c : v)
    if (c < 0x20 || c > 0x7e)
      c = '?';
  return v;
}

webhook_headers collect_headers(req_t req) {
  webhook_headers out;
  for (const char* name : read_headers)
    if (req.has_header(name))
      out[name] = printable(req.get_header_value(name));
  return out;
}

void render_answer(res_t res, const caf::expected<webhook_answer>& a) {
  if (!a)
    return render_error(res, a.error());
  if (a->status >= 400)
    return render_error(res, static_cast<int>(a->status), a->code, a->message);
  // 202 {"deployment_id","status":"queued"}; 200 {"duplicate":true} for a delivery id seen
  // before; 200 {"status":"unchanged"|"ignored","reason"} for a delivery that started no
  // deploy (an unchanged one names the deploy of its tag on its way, if any).
  const bool settled = a->result == "unchanged" || a->result == "ignored";
  reply_json(res, static_cast<int>(a->status), net::make_json([&](net::json_writer& w) {
               w.StartObject();
               w.Key("deployment_id");
               if (a->deployment_id.empty())
                 w.Null(); // nothing deployed, or a duplicate of one still being asked for
               else
                 net::write_string(w, a->deployment_id);
               if (a->duplicate) {
                 w.Key("duplicate");
                 w.Bool(true);
               } else {
                 w.Key("status");
                 net::write_string(w, settled ? a->result : std::string{"queued"});
               }
               if (settled) {
                 w.Key("reason");
                 net::write_string(w, a->message);
               }
               w.Key("delivery_id");
               net::write_string(w, a->delivery);
               w.EndObject();
             }));
}

/// The router chains a store read, a claim, the deployer and a record: give it room beyond
/// one plain request.
std::chrono::milliseconds router_timeout(const server_context& ctx) {
  return ctx.request_timeout * 3;
}

void receive_webhook(const server_context& ctx, req_t req, res_t res) {
  auto secret = req.matches.size() > 1 ? std::string{req.matches[1]} : std::string{};
  // Nothing that cannot be a secret is looked up, and the answer is the one an unknown
  // secret gets: the same status and body whether or not anything exists.
  if (secret.empty() || secret.size() > max_secret || secret.find('/') != std::string::npos)
    return render_error(res, 404, "not_found", "no such webhook");
  webhook_request wr;
  wr.secret = std::move(secret);
  wr.body = req.body;
  wr.headers = collect_headers(req);
  wr.source_addr = req.remote_addr;
  render_answer(res, ask<webhook_answer>(*ctx.sys, ctx.webhooks, router_timeout(ctx),
                                         atom::webhook_v, std::move(wr)));
}

void write_delivery(net::json_writer& w, const webhook_delivery& d) {
  w.StartObject();
  net::field(w, "id", d.id);
  net::field(w, "workload_id", d.workload_id);
  net::field(w, "received_at", d.received_at);
  net::field(w, "source_addr", d.source_addr);
  net::nullable(w, "delivery_id", d.delivery_id);
  net::nullable(w, "event", d.event);
  net::field(w, "signature", d.signature);
  net::field(w, "result", d.result);
  net::field(w, "status", d.status);
  net::nullable(w, "tag", d.tag);
  net::nullable(w, "stage", d.stage);
  net::nullable(w, "deployment_id", d.deployment_id);
  net::nullable(w, "error", d.error);
  net::nullable(w, "replay_of", d.replay_of);
  w.Key("replayable");
  w.Bool(!d.body_truncated);
  w.Key("headers");
  w.RawValue(d.headers_json.data(), d.headers_json.size(), rapidjson::kObjectType);
  w.EndObject();
}

void list_deliveries(const server_context& ctx, req_t req, res_t res) {
  auto q = parse_page(req);
  if (!q)
    return render_error(res, q.error());
  std::string workload_id{req.matches[1]};
  auto w = ask<workload>(*ctx.sys, ctx.store.readers->next(), ctx.request_timeout, atom::get_v,
                         atom::workload_v, workload_id);
  if (!w)
    return render_error(res, w.error());
  auto p = ask<page<webhook_delivery>>(*ctx.sys, ctx.store.readers->next(), ctx.request_timeout,
                                       atom::list_v, atom::delivery_v, workload_id, q->limit,
                                       q->offset);
  reply(res, p, 200, [](net::json_writer& jw, const page<webhook_delivery>& x) {
    jw.StartObject();
    jw.Key("items");
    jw.StartArray();
    for (const auto& d : x.items)
      write_delivery(jw, d);
    jw.EndArray();
    jw.Key("total");
    jw.Int64(x.total);
    jw.EndObject();
  });
}

void replay_delivery(const server_context& ctx, req_t req, res_t res) {
  webhook_replay r{std::string{req.matches[1]}, std::string{req.matches[2]}, req.remote_addr};
  render_answer(res, ask<webhook_answer>(*ctx.sys, ctx.webhooks, router_timeout(ctx),
                                         atom::replay_v, std::move(r)));
}

} // namespace

std::string loggable_path(const std::string& path) {
  if (path.compare(0, webhook_prefix.size(), webhook_prefix) != 0)
    return path;
  return std::string{webhook_prefix} + "<secret sha256:"
         + secret_fingerprint(std::string_view{path}.substr(webhook_prefix.size())) + ">";
}

void install_webhook_routes(route_table& http, const server_context& ctx) {
  // Every path under /api/webhooks reaches the handler, so a malformed one gets the same
  // 404 as an unknown secret rather than the router's "no such route".
  http.Post(R"(/api/webhooks(?:/(.*))?)",
            [&ctx](req_t req, res_t res) { receive_webhook(ctx, req, res); });
  http.Get(R"(/api/workloads/([^/]+)/deliveries)",
           [&ctx](req_t req, res_t res) { list_deliveries(ctx, req, res); });
  http.Post(R"(/api/workloads/([^/]+)/deliveries/([^/]+)/replay)",
            [&ctx](req_t req, res_t res) { replay_delivery(ctx, req, res); });
}

} // namespace tf::http
