// /api/projects: projects and their stages (store writer and readers), deploys and
// rollbacks (the project deployer).
#include "http/ask.hpp"
#include "http/handler_steps.hpp"
#include "http/auth.hpp"
#include "http/json_model.hpp"
#include "http/route_helpers.hpp"
#include "http/routes.hpp"
#include "http/server.hpp"
#include "http/store_views.hpp"
#include "store/deployments.hpp"

#include <httplib.h>

namespace tf::http {

namespace {

/// The stage of `p` named by a URL part: its name or its id.
caf::expected<stage> stage_of(const project& p, const std::string& name_or_id) {
  for (const auto& s : p.stages)
    if (s.name == name_or_id || s.id == name_or_id)
      return s;
  return make_error(ec::not_found, "project \"" + p.name + "\" has no stage \""
                                     + name_or_id.substr(0, 80) + "\"");
}

/// Reads the project and finds the URL's stage in it, so a stage id of another project
/// is never changed through this one's URL.
caf::expected<stage> find_stage(const server_context& ctx, const std::string& project_id,
                                const std::string& name_or_id) {
  auto p = ask<project>(*ctx.sys, read_through<catalog_reader_actor>(ctx), ctx.request_timeout,
                        atom::get_v, atom::project_v, project_id);
  if (!p)
    return p.error();
  return stage_of(*p, name_or_id);
}

/// 202 with the queued deploy, or 200 when the deploy of that tag already on its way is
/// the answer.
void reply_claimed(res_t res, const caf::expected<stage_deploy_claimed>& got) {
  if (!got)
    return render_error(res, got.error());
  reply_json(res, got->unchanged ? 200 : 202,
             net::make_json([&](net::json_writer& w) { write_queued(w, *got); }));
}

void list_projects(const server_context& ctx, req_t req, res_t res) {
  reply_page<project>(ctx, req, res, atom::project_v, write_project);
}

void create_project(const server_context& ctx, req_t req, res_t res) {
  reply_created<project>(ctx, req, res, project_from_json, "project.create", "project",
                         write_project);
}

void get_project(const server_context& ctx, req_t req, res_t res) {
  reply_row<project>(ctx, req, res, atom::project_v, write_project);
}

void update_project(const server_context& ctx, req_t req, res_t res) {
  reply_patched<project>(ctx, req, res, project_patch_from_json, "project.update", "project",
                         write_project);
}

/// How long a delete may take: each container's forced removal and each route's reload.
constexpr auto removal_timeout = std::chrono::minutes{5};

/// A project's delete goes to the deployer, which removes its containers and routes before
/// its rows, or answers a conflict while a deploy of it runs. Without a deployer (a server
/// with no Docker host: nothing of it was ever deployed) the writer deletes the rows.
void delete_project(const server_context& ctx, req_t req, res_t res) {
  if (!ctx.deployer)
    return reply_deleted(ctx, req, res, atom::project_v, "project.delete", "project");
  std::string id = req.matches[1];
  auto done = ask<atom::ok>(*ctx.sys, ctx.deployer, removal_timeout, atom::erase_v,
                            atom::project_v, id);
  if (done)
    audit(ctx, req, "project.delete", "project", id);
  reply_no_content(res, done);
}

void create_stage(const server_context& ctx, req_t req, res_t res) {
  auto s = parse_body_as(req, stage_from_json);
  if (s)
    s->project_id = req.matches[1];
  reply_stored<stage>(ctx, req, res, atom::create_v, std::move(s), "stage.create", "stage", 201,
                      write_stage);
}

void update_stage(const server_context& ctx, req_t req, res_t res) {
  auto change = parse_body_as(req, stage_patch_from_json);
  if (!change)
    return render_error(res, change.error());
  auto target = find_stage(ctx, req.matches[1], req.matches[2]);
  if (!target)
    return render_error(res, target.error());
  change->id = target->id;
  reply_stored<stage>(ctx, req, res, atom::update_v, std::move(change), "stage.update", "stage",
                      200, write_stage);
}

void delete_stage(const server_context& ctx, req_t req, res_t res) {
  auto target = find_stage(ctx, req.matches[1], req.matches[2]);
  if (!target)
    return render_error(res, target.error());
  auto done = ctx.deployer ? ask<atom::ok>(*ctx.sys, ctx.deployer, removal_timeout,
                                           atom::erase_v, atom::stage_v,
                                           std::string{req.matches[1]}, target->id)
                          : ask<atom::ok>(*ctx.sys, write_through<catalog_writer_actor>(ctx), ctx.request_timeout,
                                          atom::erase_v, atom::stage_v, target->id);
  if (done)
    audit(ctx, req, "stage.delete", "stage", target->id);
  reply_no_content(res, done);
}

void deploy_stage(const server_context& ctx, req_t req, res_t res) {
  auto body = parse_body(req);
  if (!body)
    return render_error(res, body.error());
  auto tag = body->FindMember("tag");
  if (tag == body->MemberEnd())
    return render_error(res, make_error(ec::invalid_argument, "tag: required"));
  if (!tag->value.IsString())
    return render_error(res, make_error(ec::invalid_argument, "tag: must be a string"));
  std::string tag_text{tag->value.GetString(), tag->value.GetStringLength()};
  if (!store::is_image_tag(tag_text))
    return render_error(res, make_error(ec::invalid_argument,
                                        "tag: \"" + tag_text.substr(0, 80)
                                          + "\" is not an image tag "
                                            "([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})"));
  bool force = false;
  auto f = body->FindMember("force");
  if (f != body->MemberEnd()) {
    if (!f->value.IsBool())
      return render_error(res, make_error(ec::invalid_argument, "force: must be true or false"));
    force = f->value.GetBool();
  }
  deploy_request r;
  r.project_id = req.matches[1];
  r.stage = req.matches[2];
  r.tag = std::move(tag_text);
  r.trigger = "api";
  r.force = force;
  auto got = ask<stage_deploy_claimed>(*ctx.sys, ctx.deployer, ctx.request_timeout,
                                       atom::deploy_v, std::move(r));
  if (got && !got->unchanged)
    audit(ctx, req, "stage.deploy", "deployment", got->queued.id);
  reply_claimed(res, got);
}

void rollback_stage(const server_context& ctx, req_t req, res_t res) {
  // No options yet, but a body that is there must still be a JSON object.
  auto body = parse_body(req, true);
  if (!body)
    return render_error(res, body.error());
  deploy_request r;
  r.project_id = req.matches[1];
  r.stage = req.matches[2];
  r.trigger = "rollback";
  auto got = ask<stage_deploy_claimed>(*ctx.sys, ctx.deployer, ctx.request_timeout,
                                       atom::rollback_v, std::move(r));
  if (got)
    audit(ctx, req, "stage.rollback", "deployment", got->queued.id);
  reply_claimed(res, got);
}

} // namespace

void install_project_routes(route_table& http, const server_context& ctx) {
  auto bind = [&ctx](context_handler handler) { return bind_context(ctx, handler); };
  const std::string one = R"(/api/projects/([^/]+))";
  const std::string stage = one + R"(/stages/([^/]+))";
  http.Get("/api/projects", bind(list_projects));
  http.Post("/api/projects", bind(create_project));
  http.Get(one, bind(get_project));
  http.Patch(one, bind(update_project));
  http.Delete(one, bind(delete_project));
  http.Post(one + "/stages", bind(create_stage));
  http.Patch(stage, bind(update_stage));
  http.Delete(stage, bind(delete_stage));
  http.Post(stage + "/deploy", bind(deploy_stage));
  http.Post(stage + "/rollback", bind(rollback_stage));
}

} // namespace tf::http
