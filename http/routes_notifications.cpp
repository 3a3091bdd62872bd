// GET /api/workloads/{id}/notifications: the workload's notification attempts, newest
// first, so a user sees whether and how its events reached notification_url.
#include "http/ask.hpp"
#include "http/handler_steps.hpp"
#include "http/json_model.hpp"
#include "http/json_webhooks.hpp"
#include "http/route_helpers.hpp"
#include "http/routes.hpp"
#include "http/server.hpp"
#include "http/store_views.hpp"

#include <httplib.h>

namespace tf::http {

namespace {

void list_notifications(const server_context& ctx, req_t req, res_t res) {
  auto q = workload_list_query(ctx, req);
  if (!q)
    return render_error(res, q.error());
  std::string workload_id{req.matches[1]};
  auto p = ask<page<notification_attempt>>(*ctx.sys, read_through<notification_log_reader_actor>(ctx),
                                           ctx.request_timeout, atom::list_v,
                                           atom::notification_v, workload_id, q->limit,
                                           q->offset);
  reply(res, p, 200, [](net::json_writer& w, const page<notification_attempt>& x) {
    write_page(w, x, write_attempt);
  });
}

} // namespace

void install_notification_routes(route_table& http, const server_context& ctx) {
  http.Get(R"(/api/workloads/([^/]+)/notifications)", bind_context(ctx, list_notifications));
}

} // namespace tf::http
