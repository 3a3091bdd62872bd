// Steps that many /api handlers take the same way once they know the server's context:
// answering a write with its audit row, and reading the page of a list that belongs to a
// workload.
#pragma once

#include "http/auth.hpp"
#include "http/route_helpers.hpp"

#include <caf/expected.hpp>

#include <string>

namespace tf::http {

struct server_context;

/// Answers a write: on success an audit row names `action` and the stored row (`kind`,
/// its id), and the answer is `status` with write(row); otherwise the error envelope.
template <class T, class Write>
void reply_audited(const server_context& ctx, const httplib::Request& req,
                   httplib::Response& res, const caf::expected<T>& stored, const char* action,
                   const char* kind, int status, Write write) {
  if (stored)
    audit(ctx, req, action, kind, stored->id);
  reply(res, stored, status, write);
}

/// The paging query of a list under /api/workloads/{id}, once that workload is known to
/// exist: an unknown workload is a 404, not an empty list.
caf::expected<page_query> workload_list_query(const server_context& ctx,
                                              const httplib::Request& req);

/// The caller, or null after answering 401 (a route that needs a user, not a token's
/// absence of one).
const request_auth* logged_in(httplib::Response& res);

} // namespace tf::http
