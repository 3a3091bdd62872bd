// /api/stacks: compose stacks. Reads go to the store readers; everything that runs compose
// (a new or changed compose file is checked by compose itself, deploys, stop, start,
// restart, down, removal) goes to the stack deployer.
#include "http/ask.hpp"
#include "http/auth.hpp"
#include "http/handler_steps.hpp"
#include "http/json_model.hpp"
#include "http/route_helpers.hpp"
#include "http/routes.hpp"
#include "http/server.hpp"

#include <httplib.h>

namespace tf::http {

namespace {

/// A check or an action runs compose once or a few times (the v1 binary starts in about
/// half a second); stopping a stack waits for each container's stop grace.
constexpr auto stack_compose_timeout = std::chrono::minutes{2};

/// A removal stops and removes every container of the stack first.
constexpr auto stack_removal_timeout = std::chrono::minutes{5};

void list_stacks(const server_context& ctx, req_t req, res_t res) {
  reply_page<stack>(ctx, req, res, atom::stack_v, write_stack);
}

void get_stack(const server_context& ctx, req_t req, res_t res) {
  reply_row<stack>(ctx, req, res, atom::stack_v, write_stack);
}

void create_stack(const server_context& ctx, req_t req, res_t res) {
  auto s = parse_body_as(req, stack_from_json);
  if (!s)
    return render_error(res, s.error());
  auto stored = ask<stack>(*ctx.sys, ctx.stacks, stack_compose_timeout, atom::create_v, std::move(*s));
  reply_audited(ctx, req, res, stored, "stack.create", "stack", 201, write_stack);
}

void update_stack(const server_context& ctx, req_t req, res_t res) {
  auto change = parse_body_as(req, stack_patch_from_json);
  if (!change)
    return render_error(res, change.error());
  change->id = req.matches[1];
  auto stored
    = ask<stack>(*ctx.sys, ctx.stacks, stack_compose_timeout, atom::update_v, std::move(*change));
  reply_audited(ctx, req, res, stored, "stack.update", "stack", 200, write_stack);
}

void delete_stack(const server_context& ctx, req_t req, res_t res) {
  std::string id = req.matches[1];
  auto done = ask<atom::ok>(*ctx.sys, ctx.stacks, stack_removal_timeout, atom::erase_v, atom::stack_v,
                            id);
  if (done)
    audit(ctx, req, "stack.delete", "stack", id);
  reply_no_content(res, done);
}

void deploy_stack(const server_context& ctx, req_t req, res_t res) {
  auto body = parse_body(req, true); // no options yet; a body that is there is an object
  if (!body)
    return render_error(res, body.error());
  stack_request r;
  r.stack_id = req.matches[1];
  r.action = "deploy";
  auto queued = ask<deployment>(*ctx.sys, ctx.stacks, ctx.request_timeout, atom::deploy_v,
                                std::move(r));
  if (queued)
    audit(ctx, req, "stack.deploy", "deployment", queued->id);
  reply(res, queued, 202, [](net::json_writer& w, const deployment& d) {
    w.StartObject();
    net::field(w, "deployment_id", d.id);
    net::field(w, "status", d.status);
    w.EndObject();
  });
}

/// stop, start, restart, or down ({"volumes": true} removes the stack's volumes too).
void stack_action(const server_context& ctx, req_t req, res_t res) {
  auto body = parse_body(req, true);
  if (!body)
    return render_error(res, body.error());
  stack_request r;
  r.stack_id = req.matches[1];
  r.action = req.matches[2];
  auto volumes = body->FindMember("volumes");
  if (volumes != body->MemberEnd()) {
    if (r.action != "down" || !volumes->value.IsBool())
      return render_error(res, make_error(ec::invalid_argument,
                                          "volumes: only down takes it, as true or false"));
    if (volumes->value.GetBool())
      r.action = "down-volumes";
  }
  auto out = ask<std::string>(*ctx.sys, ctx.stacks, stack_compose_timeout, atom::compose_v, r);
  if (out)
    audit(ctx, req, "stack." + r.action, "stack", r.stack_id);
  reply(res, out, 200, [](net::json_writer& w, const std::string& output) {
    w.StartObject();
    net::field(w, "output", output);
    w.EndObject();
  });
}

} // namespace

void install_stack_routes(route_table& http, const server_context& ctx) {
  auto bind = [&ctx](context_handler handler) { return bind_context(ctx, handler); };
  const std::string one = R"(/api/stacks/([^/]+))";
  http.Get("/api/stacks", bind(list_stacks));
  http.Post("/api/stacks", bind(create_stack));
  http.Get(one, bind(get_stack));
  http.Patch(one, bind(update_stack));
  http.Delete(one, bind(delete_stack));
  http.Post(one + "/deploy", bind(deploy_stack));
  http.Post(one + "/(stop|start|restart|down)", bind(stack_action));
}

} // namespace tf::http
