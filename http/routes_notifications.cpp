// GET /api/workloads/{id}/notifications: the workload's notification attempts, newest
// first, so a user sees whether and how its events reached notification_url.
#include "http/ask.hpp"
#include "http/route_helpers.hpp"
#include "http/routes.hpp"
#include "http/server.hpp"

#include <httplib.h>

namespace tf::http {

namespace {

using req_t = const httplib::Request&;
using res_t = httplib::Response&;

void write_attempt(net::json_writer& w, const notification_attempt& a) {
  w.StartObject();
  net::field(w, "id", a.id);
  net::field(w, "workload_id", a.workload_id);
  net::field(w, "delivery_id", a.delivery_id);
  net::field(w, "event", a.event);
  net::field(w, "url", a.url);
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

void list_notifications(const server_context& ctx, req_t req, res_t res) {
  auto q = parse_page(req);
  if (!q)
    return render_error(res, q.error());
  std::string workload_id{req.matches[1]};
  // An unknown workload is a 404, not an empty list.
  auto w = ask<workload>(*ctx.sys, ctx.store.readers->next(), ctx.request_timeout, atom::get_v,
                         atom::workload_v, workload_id);
  if (!w)
    return render_error(res, w.error());
  auto p = ask<page<notification_attempt>>(*ctx.sys, ctx.store.readers->next(),
                                           ctx.request_timeout, atom::list_v,
                                           atom::notification_v, workload_id, q->limit,
                                           q->offset);
  reply(res, p, 200, [](net::json_writer& jw, const page<notification_attempt>& x) {
    jw.StartObject();
    jw.Key("items");
    jw.StartArray();
    for (const auto& a : x.items)
      write_attempt(jw, a);
    jw.EndArray();
    jw.Key("total");
    jw.Int64(x.total);
    jw.EndObject();
  });
}

} // namespace

void install_notification_routes(route_table& http, const server_context& ctx) {
  http.Get(R"(/api/workloads/([^/]+)/notifications)",
           [&ctx](req_t req, res_t res) { list_notifications(ctx, req, res); });
}

} // namespace tf::http
