// /api/containers (the containers index, from the store readers) and /api/instances
// (stop, start or restart one container of a stage, through the project deployer).
#include "http/ask.hpp"
#include "http/auth.hpp"
#include "http/json_model.hpp"
#include "http/route_helpers.hpp"
#include "http/routes.hpp"
#include "http/server.hpp"

#include <httplib.h>

namespace tf::http {

namespace {

using req_t = const httplib::Request&;
using res_t = httplib::Response&;

void list_containers(const server_context& ctx, req_t req, res_t res) {
  auto q = parse_page(req);
  if (!q)
    return render_error(res, q.error());
  container_filter f;
  f.workload_id = query_text(req, "workload_id");
  f.stage_id = query_text(req, "stage_id");
  f.kind = query_text(req, "kind");
  f.state = query_text(req, "state");
  f.app_id = query_text(req, "app_id");
  f.limit = q->limit;
  f.offset = q->offset;
  auto p = ask<page<container_row>>(*ctx.sys, ctx.store.readers->next(), ctx.request_timeout,
                                    atom::list_v, atom::container_v, std::move(f));
  reply(res, p, 200, [](json_writer& w, const page<container_row>& x) {
    write_page(w, x, write_container);
  });
}

void get_container(const server_context& ctx, req_t req, res_t res) {
  auto c = ask<container_row>(*ctx.sys, ctx.store.readers->next(), ctx.request_timeout,
                              atom::get_v, atom::container_v, std::string{req.matches[1]});
  reply(res, c, 200, write_container);
}

/// The deployer checks that the row's (workload, role) is the URL's (project, stage) and
/// answers not_found otherwise, so one project's URL never acts on another's container.
void instance_action_route(const server_context& ctx, req_t req, res_t res) {
  instance_action a;
  a.project_id = req.matches[1];
  a.stage = req.matches[2];
  a.container_row_id = req.matches[3];
  a.action = req.matches[4];
  auto row = ask<container_row>(*ctx.sys, ctx.deployer, ctx.request_timeout, atom::instance_v,
                                std::move(a));
  if (row)
    audit(ctx, req, "instance." + std::string{req.matches[4]}, "container", row->id);
  reply(res, row, 200, write_container);
}

} // namespace

void install_container_routes(route_table& http, const server_context& ctx) {
  http.Get("/api/containers", [&ctx](req_t req, res_t res) { list_containers(ctx, req, res); });
  http.Get(R"(/api/containers/([^/]+))",
           [&ctx](req_t req, res_t res) { get_container(ctx, req, res); });
  http.Post(R"(/api/instances/([^/]+)/([^/]+)/([^/]+)/(stop|start|restart))",
            [&ctx](req_t req, res_t res) { instance_action_route(ctx, req, res); });
}

} // namespace tf::http
