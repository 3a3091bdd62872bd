// /api/workloads: the one row every project, stack and site has. Reads come from the store
// readers; changes (app, notification URL, signature requirement) and secret rotation go to
// the store writer. The signing and notification secrets leave the daemon only in the answer
// to a rotation.
#include "http/ask.hpp"
#include "http/handler_steps.hpp"
#include "http/auth.hpp"
#include "http/json_model.hpp"
#include "http/route_helpers.hpp"
#include "http/routes.hpp"
#include "http/server.hpp"
#include "http/store_views.hpp"
#include "net/address_policy.hpp"
#include "net/http_call.hpp"
#include "store/workloads.hpp"

#include <httplib.h>

namespace tf::http {

namespace {

/// A PATCH of three small fields needs nothing near the server's body limit (which is sized
/// for uploads): a bigger body is a mistake or an attack, refused before it is parsed.
constexpr size_t max_patch_body = 16 * 1024;

/// Answers that carry a secret must not be kept by a browser or a proxy.
void no_store(res_t res) {
  res.set_header("Cache-Control", "no-store");
}

void list_workloads(const server_context& ctx, req_t req, res_t res) {
  auto q = parse_page(req);
  if (!q)
    return render_error(res, q.error());
  auto kind = query_choice(req, "kind", store::is_workload_kind, "project, stack, site");
  if (!kind)
    return render_error(res, kind.error());
  auto app_id = query_id(req, "app_id");
  if (!app_id)
    return render_error(res, app_id.error());
  workload_filter f{std::move(*kind), std::move(*app_id), q->limit, q->offset};
  auto p = ask<page<workload>>(*ctx.sys, read_through<catalog_reader_actor>(ctx), ctx.request_timeout,
                               atom::list_v, atom::workload_v, std::move(f));
  no_store(res); // webhook URLs
  reply(res, p, 200, [](net::json_writer& w, const page<workload>& x) {
    write_page(w, x, write_workload);
  });
}

void get_workload(const server_context& ctx, req_t req, res_t res) {
  auto w = ask<workload>(*ctx.sys, read_through<catalog_reader_actor>(ctx), ctx.request_timeout, atom::get_v,
                         atom::workload_v, std::string{req.matches[1]});
  no_store(res);
  reply(res, w, 200, write_workload);
}

/// A notification URL whose host resolves to an address the notifier would refuse
/// (loopback in any spelling, link-local, private, this daemon's API) is refused when it is
/// set, so the user learns it at once rather than from failed attempts. The sender checks
/// again at every POST: a name may resolve otherwise later.
caf::error check_notification_target(const server_context& ctx, const patch<workload>& p) {
  if (!p.has("notification_url") || p.value.notification_url.empty())
    return {};
  auto target = net::url_host_port(p.value.notification_url);
  if (!target)
    return {}; // not a URL: the store's check names what is wrong
  auto why = net::forbidden_host(target->first, target->second, ctx.notify_targets);
  if (why.empty())
    return {};
  return make_error(ec::invalid_argument, "notification_url: " + why);
}

void update_workload(const server_context& ctx, req_t req, res_t res) {
  if (req.body.size() > max_patch_body)
    return render_error(res, make_error(ec::payload_too_large,
                                        "the body is larger than "
                                          + std::to_string(max_patch_body) + " bytes"));
  auto change = parse_body_as(req, workload_patch_from_json);
  if (!change)
    return render_error(res, change.error());
  change->id = req.matches[1];
  if (auto err = check_notification_target(ctx, *change))
    return render_error(res, err);
  auto fields = change->fields;
  auto stored = ask<workload>(*ctx.sys, write_through<catalog_writer_actor>(ctx), ctx.request_timeout, atom::update_v,
                              std::move(*change));
  if (stored)
    audit(ctx, req, "workload.update", "workload", stored->id, fields_audit_detail(fields));
  no_store(res);
  reply(res, stored, 200, write_workload);
}

/// New webhook, signing and notification secrets in one transaction: the old webhook URL
/// stops working at once. The answer is the only place the new secrets are shown.
void rotate_secrets(const server_context& ctx, req_t req, res_t res) {
  // No options, but a body that is there must still be a JSON object.
  auto body = parse_body(req, true);
  if (!body)
    return render_error(res, body.error());
  auto stored = ask<workload>(*ctx.sys, write_through<catalog_writer_actor>(ctx), ctx.request_timeout, atom::rotate_v,
                              std::string{req.matches[1]});
  if (stored)
    audit(ctx, req, "workload.rotate_secrets", "workload", stored->id);
  no_store(res);
  reply(res, stored, 200, write_workload_with_secrets);
}

} // namespace

void install_workload_routes(route_table& http, const server_context& ctx) {
  auto bind = [&ctx](context_handler handler) { return bind_context(ctx, handler); };
  const std::string one = R"(/api/workloads/([^/]+))";
  http.Get("/api/workloads", bind(list_workloads));
  http.Get(one, bind(get_workload));
  http.Patch(one, bind(update_workload));
  http.Post(one + "/rotate-secrets", bind(rotate_secrets));
}

} // namespace tf::http
