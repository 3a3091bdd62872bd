// Steps that many /api handlers take the same way once they know the server's context:
// reading, changing and deleting the row the path names, answering a write with its audit
// row, and reading the page of a list that belongs to a workload.
#pragma once

#include "http/ask.hpp"
#include "http/auth.hpp"
#include "http/json_model.hpp"
#include "http/route_helpers.hpp"
#include "http/server.hpp"

#include <caf/expected.hpp>
#include <httplib.h>

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

/// GET of a plain list: the paging query, a store reader's page of `what`, answered as
/// {"items":[write_item(row)…],"total"}.
template <class Row, class What, class WriteItem>
void reply_page(const server_context& ctx, const httplib::Request& req, httplib::Response& res,
                What what, WriteItem write_item) {
  auto q = parse_page(req);
  if (!q)
    return render_error(res, q.error());
  auto p = ask<page<Row>>(*ctx.sys, ctx.store.readers->next(), ctx.request_timeout,
                          atom::list_v, what, q->limit, q->offset);
  reply(res, p, 200,
        [&](net::json_writer& w, const page<Row>& x) { write_page(w, x, write_item); });
}

/// GET of the row the path names (its first group): a store reader's answer, 200 with
/// write(row).
template <class Row, class What, class Write>
void reply_row(const server_context& ctx, const httplib::Request& req, httplib::Response& res,
               What what, Write write) {
  reply(res,
        ask<Row>(*ctx.sys, ctx.store.readers->next(), ctx.request_timeout, atom::get_v, what,
                 std::string{req.matches[1]}),
        200, write);
}

/// Sends a row read from the body to the writer with `verb` (create or update), audits
/// `action` and answers `status` with write(row); the error envelope when the body was none.
template <class Row, class Verb, class Value, class Write>
void reply_stored(const server_context& ctx, const httplib::Request& req, httplib::Response& res,
                  Verb verb, caf::expected<Value> value, const char* action, const char* kind,
                  int status, Write write) {
  if (!value)
    return render_error(res, value.error());
  reply_audited(ctx, req, res,
                ask<Row>(*ctx.sys, ctx.store.writer, ctx.request_timeout, verb, std::move(*value)),
                action, kind, status, write);
}

/// POST of a new row: the body read by `from_json`; 201 with write(row).
template <class Row, class FromJson, class Write>
void reply_created(const server_context& ctx, const httplib::Request& req,
                   httplib::Response& res, FromJson from_json, const char* action,
                   const char* kind, Write write) {
  reply_stored<Row>(ctx, req, res, atom::create_v, parse_body_as(req, from_json), action, kind,
                    201, write);
}

/// PATCH of the row the path names: the body read by `from_json` into a patch of that row;
/// 200 with write(row).
template <class Row, class FromJson, class Write>
void reply_patched(const server_context& ctx, const httplib::Request& req,
                   httplib::Response& res, FromJson from_json, const char* action,
                   const char* kind, Write write) {
  auto change = parse_body_as(req, from_json);
  if (change)
    change->id = req.matches[1];
  reply_stored<Row>(ctx, req, res, atom::update_v, std::move(change), action, kind, 200, write);
}

/// DELETE of the row the path names: the writer's answer, audited as `action`; 204.
template <class What>
void reply_deleted(const server_context& ctx, const httplib::Request& req,
                   httplib::Response& res, What what, const char* action, const char* kind) {
  auto done = ask<atom::ok>(*ctx.sys, ctx.store.writer, ctx.request_timeout, atom::erase_v,
                            what, std::string{req.matches[1]});
  if (done)
    audit(ctx, req, action, kind, req.matches[1]);
  reply_no_content(res, done);
}

/// The paging query of a list under /api/workloads/{id}, once that workload is known to
/// exist: an unknown workload is a 404, not an empty list.
caf::expected<page_query> workload_list_query(const server_context& ctx,
                                              const httplib::Request& req);

/// The caller, or null after answering 401 (a route that needs a user, not a token's
/// absence of one).
const request_auth* logged_in(httplib::Response& res);

} // namespace tf::http
