// /api/containers (the containers index, from the store readers; a container's logs, from
// the docker worker) and /api/instances (stop, start or restart one container of a stage,
// through the project deployer).
#include "http/ask.hpp"
#include "http/auth.hpp"
#include "http/handler_steps.hpp"
#include "http/json_model.hpp"
#include "http/route_helpers.hpp"
#include "http/routes.hpp"
#include "http/server.hpp"
#include "http/store_views.hpp"
#include "store/containers.hpp"
#include "store/workloads.hpp"

#include <httplib.h>

namespace tf::http {

namespace {

constexpr int64_t default_log_tail = 200;
constexpr int64_t max_log_tail = 10000;

/// The filters of GET /api/containers, each checked: an id filter is a bounded printable
/// string, kind and state are among the values the index holds. Absent or empty: no filter.
caf::expected<container_filter> container_filter_of(req_t req) {
  auto q = parse_page(req);
  if (!q)
    return q.error();
  container_filter f;
  f.limit = q->limit;
  f.offset = q->offset;
  for (auto [name, out] : {std::pair{"workload_id", &f.workload_id},
                           std::pair{"stage_id", &f.stage_id}, std::pair{"app_id", &f.app_id}}) {
    auto id = query_id(req, name);
    if (!id)
      return id.error();
    *out = std::move(*id);
  }
  auto kind = query_choice(req, "kind", store::is_workload_kind, "project, stack, site");
  if (!kind)
    return kind.error();
  f.kind = std::move(*kind);
  auto state = query_choice(req, "state", store::is_container_state,
                            "created, running, stopped, failed, removing, missing, "
                            "restarting, paused");
  if (!state)
    return state.error();
  f.state = std::move(*state);
  return f;
}

void list_containers(const server_context& ctx, req_t req, res_t res) {
  auto f = container_filter_of(req);
  if (!f)
    return render_error(res, f.error());
  auto p = ask<page<container_row>>(*ctx.sys, read_through<container_index_reader_actor>(ctx), ctx.request_timeout,
                                    atom::list_v, atom::container_v, std::move(*f));
  reply(res, p, 200, [](net::json_writer& w, const page<container_row>& x) {
    write_page(w, x, write_container);
  });
}

void get_container(const server_context& ctx, req_t req, res_t res) {
  reply_row<container_row>(ctx, req, res, atom::container_v, write_container);
}

/// `?tail=N` (1 to 10000, default 200) last lines of stdout and stderr, as text/plain. The
/// row must name a Docker container (409 otherwise); one Docker no longer has is a 404. The
/// call goes through the host's docker worker, never from this thread.
void container_logs(const server_context& ctx, req_t req, res_t res) {
  auto tail = query_count(req, "tail", default_log_tail);
  if (!tail)
    return render_error(res, tail.error());
  if (*tail < 1 || *tail > max_log_tail)
    return render_error(res, make_error(ec::invalid_argument,
                                        "tail: must be from 1 to " + std::to_string(max_log_tail)
                                          + ", got " + std::to_string(*tail)));
  auto row = ask<container_row>(*ctx.sys, read_through<container_index_reader_actor>(ctx), ctx.request_timeout,
                                atom::get_v, atom::container_v, std::string{req.matches[1]});
  if (!row)
    return render_error(res, row.error());
  if (row->container_id.empty())
    return render_error(res, make_error(ec::conflict,
                                        "container \"" + row->id + "\" has no Docker container ("
                                          + (row->state.empty() ? "not started" : row->state)
                                          + "): there are no logs to read"));
  auto text = ask<std::string>(*ctx.sys, ctx.docker, ctx.request_timeout, atom::logs_v,
                               row->container_id, *tail);
  if (!text) {
    if (error_code(text.error()) == ec::not_found)
      return render_error(res, make_error(ec::not_found,
                                          "container \"" + row->id + "\": Docker has no container "
                                            + row->container_id.substr(0, 12)
                                            + " any more (state " + row->state + ")"));
    return render_error(res, text.error());
  }
  res.status = 200;
  res.set_content(std::move(*text), "text/plain; charset=utf-8");
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
  http.Get("/api/containers", bind_context(ctx, list_containers));
  http.Get(R"(/api/containers/([^/]+))", bind_context(ctx, get_container));
  http.Get(R"(/api/containers/([^/]+)/logs)", bind_context(ctx, container_logs));
  http.Post(R"(/api/instances/([^/]+)/([^/]+)/([^/]+)/(stop|start|restart))",
            bind_context(ctx, instance_action_route));
}

} // namespace tf::http
