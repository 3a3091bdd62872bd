// /api/sites: static sites. Reads and edits of the row go to the store; what touches files,
// containers or the proxy (an upload's deploy, a rollback, removal) goes to the site
// deployer. A deploy's body is the site itself as a .tar.gz (up to sites.upload_limit_bytes,
// not the JSON limit: the request gate lets this path's body through).
#include "http/ask.hpp"
#include "http/auth.hpp"
#include "http/handler_steps.hpp"
#include "http/json_model.hpp"
#include "http/route_helpers.hpp"
#include "http/routes.hpp"
#include "http/server.hpp"

#include <httplib.h>

namespace tf::http {

namespace {

/// Unpacking hundreds of megabytes takes seconds; a removal stops the site's container.
constexpr auto site_upload_timeout = std::chrono::minutes{10};
constexpr auto site_removal_timeout = std::chrono::minutes{5};

void list_sites(const server_context& ctx, req_t req, res_t res) {
  reply_page<site>(ctx, req, res, atom::site_v, write_site);
}

void get_site(const server_context& ctx, req_t req, res_t res) {
  reply_row<site>(ctx, req, res, atom::site_v, write_site);
}

void create_site(const server_context& ctx, req_t req, res_t res) {
  reply_created<site>(ctx, req, res, site_from_json, "site.create", "site", write_site);
}

void update_site(const server_context& ctx, req_t req, res_t res) {
  reply_patched<site>(ctx, req, res, site_patch_from_json, "site.update", "site", write_site);
}

void delete_site(const server_context& ctx, req_t req, res_t res) {
  std::string id = req.matches[1];
  auto done = ask<atom::ok>(*ctx.sys, ctx.sites, site_removal_timeout, atom::erase_v,
                            atom::site_v, id);
  if (done)
    audit(ctx, req, "site.delete", "site", id);
  reply_no_content(res, done);
}

void reply_queued(const server_context& ctx, req_t req, res_t res,
                  caf::expected<deployment> queued, const char* action) {
  if (queued)
    audit(ctx, req, action, "deployment", queued->id);
  reply(res, queued, 202, [](net::json_writer& w, const deployment& d) {
    w.StartObject();
    net::field(w, "deployment_id", d.id);
    net::field(w, "status", d.status);
    net::field(w, "release", d.tag);
    w.EndObject();
  });
}

/// The body is the archive, whatever its Content-Type says (curl --data-binary sends a
/// form type); the deployer refuses what is not a .tar.gz.
void deploy_site(const server_context& ctx, req_t req, res_t res) {
  site_request r;
  r.site_id = req.matches[1];
  r.archive = req.body;
  r.trigger = "api";
  auto queued = ask<deployment>(*ctx.sys, ctx.sites, site_upload_timeout, atom::deploy_v,
                                std::move(r));
  reply_queued(ctx, req, res, std::move(queued), "site.deploy");
}

void rollback_site(const server_context& ctx, req_t req, res_t res) {
  auto body = parse_body(req, true);
  if (!body)
    return render_error(res, body.error());
  site_request r;
  r.site_id = req.matches[1];
  auto queued = ask<deployment>(*ctx.sys, ctx.sites, ctx.request_timeout, atom::rollback_v,
                                std::move(r));
  reply_queued(ctx, req, res, std::move(queued), "site.rollback");
}

} // namespace

void install_site_routes(route_table& http, const server_context& ctx) {
  auto bind = [&ctx](context_handler handler) { return bind_context(ctx, handler); };
  const std::string one = R"(/api/sites/([^/]+))";
  http.Get("/api/sites", bind(list_sites));
  http.Post("/api/sites", bind(create_site));
  http.Get(one, bind(get_site));
  http.Patch(one, bind(update_site));
  http.Delete(one, bind(delete_site));
  http.Post(one + "/deploy", bind(deploy_site));
  http.Post(one + "/rollback", bind(rollback_site));
}

} // namespace tf::http
