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

void write_attempt(json_writer& w, const notification_attempt& a) {
  w.StartObject();
  field(w, "id", a.id);
  field(w, "workload_id", a.workload_id);
  field(w, "delivery_id", a.delivery_id);
  field(w, "event", a.event);
  field(w, "url", a.url);
  field(w, "attempt", a.attempt);
  w.Key("status");
  if (a.status == 0)
    w.Null();
  else
    w.Int64(a.status);
  nullable(w, "error", a.error);
  field(w, "outcome", a.outcome);
  field(w, "at", a.at);
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
  reply(res, p, 200, [](json_writer& jw, const page<notification_attempt>& x) {
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
