// GET /api/proxies: the proxy routes the store keeps, with the proxy actor's provider and
// whether its switch is gated.
#include "http/ask.hpp"
#include "http/json_admin.hpp"
#include "http/route_helpers.hpp"
#include "http/routes.hpp"
#include "http/server.hpp"
#include "http/store_views.hpp"

#include <httplib.h>

namespace tf::http {

namespace {

/// The proxy actor's provider and gate; unknown when it is not running or does not answer
/// (the routes the store keeps are listed all the same).
proxy_status ask_proxy_status(const server_context& ctx) {
  proxy_status out;
  if (!ctx.proxy)
    return out;
  caf::scoped_actor self{*ctx.sys};
  self->request(ctx.proxy, ctx.request_timeout, atom::status_v)
    .receive(
      [&](std::string& provider, bool gated) {
        out = proxy_status{true, std::move(provider), gated};
      },
      [](caf::error&) {});
  return out;
}

void list_proxies(const server_context& ctx, const httplib::Request& req, httplib::Response& res) {
  auto q = parse_page(req);
  if (!q)
    return render_error(res, q.error());
  auto p = ask<page<proxy_listing>>(*ctx.sys, read_through<journal_reader_actor>(ctx), ctx.request_timeout,
                                    atom::list_v, atom::proxy_v, q->limit, q->offset);
  if (!p)
    return render_error(res, p.error());
  auto status = ask_proxy_status(ctx);
  reply_json(res, 200,
             net::make_json([&](net::json_writer& w) { write_proxies(w, *p, status); }));
}

} // namespace

void install_proxy_routes(route_table& http, const server_context& ctx) {
  http.Get("/api/proxies", bind_context(ctx, list_proxies));
}

} // namespace tf::http
