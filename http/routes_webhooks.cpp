// POST /api/webhooks/{secret}: a delivery handed to the webhook router, which answers how
// it settled it; http/errors.cpp:webhook_status makes that a status. No session is asked for here (the server's auth exempts this path):
// the secret in the URL and the signature are the credentials. A workload's delivery log
// and its replay live under /api/workloads/{id}/deliveries, which do need a session.
#include "actors/webhook_signatures.hpp"
#include "http/ask.hpp"
#include "http/handler_steps.hpp"
#include "http/json_model.hpp"
#include "http/json_webhooks.hpp"
#include "http/route_helpers.hpp"
#include "http/routes.hpp"
#include "http/server.hpp"
#include "http/store_views.hpp"

#include <httplib.h>

#include <string_view>

namespace tf::http {

namespace {

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

/// The name of `name` among read_headers, compared without case, or nullptr.
const char* read_header_named(std::string_view name) {
  for (const char* known : read_headers) {
    std::string_view k{known};
    if (k.size() != name.size())
      continue;
    bool same = true;
    for (size_t i = 0; same && i < k.size(); ++i)
      same = (name[i] >= 'A' && name[i] <= 'Z' ? char(name[i] - 'A' + 'a') : name[i]) == k[i];
    if (same)
      return known;
  }
  return nullptr;
}

/// One pass over what the sender sent (a lookup per known name costs a case-insensitive
/// tree search each, twice: a tenth of the HTTP thread's time under a burst). A repeated
/// header keeps its first value, as httplib's get_header_value would.
webhook_headers collect_headers(req_t req) {
  webhook_headers out;
  for (const auto& [name, value] : req.headers)
    if (const char* known = read_header_named(name))
      out.emplace(known, printable(value));
  return out;
}

/// A refusal goes out as the error envelope with the router's reason; the other answers
/// as write_webhook_answer writes them.
void render_answer(res_t res, const caf::expected<webhook_answer>& a) {
  if (!a)
    return render_error(res, a.error());
  auto status = static_cast<int>(webhook_status(*a));
  if (a->refused())
    return render_error(res, status, a->reason, a->message);
  reply_json(res, status,
             net::make_json([&](net::json_writer& w) { write_webhook_answer(w, *a); }));
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
    return render_error(res, make_error(ec::not_found, "no such webhook"));
  webhook_request wr;
  wr.secret = std::move(secret);
  wr.body = req.body;
  wr.headers = collect_headers(req);
  wr.source_addr = req.remote_addr;
  render_answer(res, ask<webhook_answer>(*ctx.sys, ctx.webhooks, router_timeout(ctx),
                                         atom::webhook_v, std::move(wr)));
}

void list_deliveries(const server_context& ctx, req_t req, res_t res) {
  auto q = workload_list_query(ctx, req);
  if (!q)
    return render_error(res, q.error());
  std::string workload_id{req.matches[1]};
  auto p = ask<page<webhook_delivery>>(*ctx.sys, read_through<delivery_log_reader_actor>(ctx), ctx.request_timeout,
                                       atom::list_v, atom::delivery_v, workload_id, q->limit,
                                       q->offset);
  reply(res, p, 200, [](net::json_writer& w, const page<webhook_delivery>& x) {
    write_page(w, x, write_delivery);
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
  http.Post(R"(/api/webhooks(?:/(.*))?)", bind_context(ctx, receive_webhook));
  http.Get(R"(/api/workloads/([^/]+)/deliveries)", bind_context(ctx, list_deliveries));
  http.Post(R"(/api/workloads/([^/]+)/deliveries/([^/]+)/replay)",
            bind_context(ctx, replay_delivery));
}

} // namespace tf::http
