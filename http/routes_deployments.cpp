// /api/deployments: the deploy journal, read from the store readers.
#include "http/ask.hpp"
#include "http/json_model.hpp"
#include "http/route_helpers.hpp"
#include "http/routes.hpp"
#include "http/server.hpp"
#include "http/store_views.hpp"

#include <httplib.h>

namespace tf::http {

namespace {

void list_deployments(const server_context& ctx, req_t req, res_t res) {
  auto q = parse_page(req);
  if (!q)
    return render_error(res, q.error());
  auto p = ask<page<deployment>>(*ctx.sys, read_through<journal_reader_actor>(ctx), ctx.request_timeout,
                                 atom::list_v, atom::deployment_v,
                                 query_text(req, "workload_id"), q->limit, q->offset);
  reply(res, p, 200, [](net::json_writer& w, const page<deployment>& x) {
    write_page(w, x, [](net::json_writer& iw, const deployment& d) { write_deployment(iw, d, false); });
  });
}

/// `?after=N` answers only the log lines from index N on: a client following a running
/// deploy asks again with the "log_total" it last saw.
void get_deployment(const server_context& ctx, req_t req, res_t res) {
  auto after = query_count(req, "after", 0);
  if (!after)
    return render_error(res, after.error());
  auto d = ask<deployment>(*ctx.sys, read_through<journal_reader_actor>(ctx), ctx.request_timeout,
                           atom::get_v, atom::deployment_v, std::string{req.matches[1]});
  auto from = static_cast<size_t>(*after);
  reply(res, d, 200, [from](net::json_writer& w, const deployment& x) { write_deployment(w, x, true, from); });
}

} // namespace

void install_deployment_routes(route_table& http, const server_context& ctx) {
  http.Get("/api/deployments", bind_context(ctx, list_deployments));
  http.Get(R"(/api/deployments/([^/]+))", bind_context(ctx, get_deployment));
}

} // namespace tf::http
