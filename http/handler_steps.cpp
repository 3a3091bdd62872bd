#include "http/handler_steps.hpp"

#include "http/ask.hpp"
#include "http/server.hpp"
#include "http/store_views.hpp"

#include <httplib.h>

namespace tf::http {

caf::expected<page_query> workload_list_query(const server_context& ctx,
                                              const httplib::Request& req) {
  auto q = parse_page(req);
  if (!q)
    return q.error();
  auto w = ask<workload>(*ctx.sys, read_through<catalog_reader_actor>(ctx), ctx.request_timeout, atom::get_v,
                         atom::workload_v, std::string{req.matches[1]});
  if (!w)
    return w.error();
  return q;
}

const request_auth* logged_in(httplib::Response& res) {
  const auto* auth = current_auth();
  if (!auth)
    render_error(res, 401, "unauthorized", "not logged in");
  return auth;
}

} // namespace tf::http
