// /api/apps: groups of workloads, there only while the setting features.apps_grouping is
// on (otherwise every apps route answers 404 as if it were not there).
#include "http/ask.hpp"
#include "http/handler_steps.hpp"
#include "http/auth.hpp"
#include "http/json_admin.hpp"
#include "http/json_model.hpp"
#include "http/route_helpers.hpp"
#include "http/routes.hpp"
#include "http/server.hpp"
#include "http/store_views.hpp"
#include "store/settings.hpp"

#include <httplib.h>


namespace tf::http {

namespace {

/// False when the apps routes are off or the settings cannot be read, and it has answered.
bool apps_enabled(const server_context& ctx, res_t res) {
  auto values = ask<settings_map>(*ctx.sys, read_through<settings_reader_actor>(ctx), ctx.request_timeout,
                                  atom::get_v, atom::settings_v);
  if (!values) {
    render_error(res, values.error());
    return false;
  }
  if (!store::setting_is_true(*values, store::setting::apps_grouping)) {
    render_error(res, make_error(ec::not_found,
                                 "apps are turned off (setting features.apps_grouping is false)"));
    return false;
  }
  return true;
}

void list_apps(const server_context& ctx, req_t req, res_t res) {
  reply_page<app>(ctx, req, res, atom::app_v, write_app);
}

void create_app(const server_context& ctx, req_t req, res_t res) {
  reply_created<app>(ctx, req, res, app_from_json, "app.create", "app", write_app);
}

void get_app(const server_context& ctx, req_t req, res_t res) {
  reply_row<app>(ctx, req, res, atom::app_v, write_app);
}

void update_app(const server_context& ctx, req_t req, res_t res) {
  reply_patched<app>(ctx, req, res, app_patch_from_json, "app.update", "app", write_app);
}

void delete_app(const server_context& ctx, req_t req, res_t res) {
  reply_deleted(ctx, req, res, atom::app_v, "app.delete", "app");
}

} // namespace

void install_app_routes(route_table& http, const server_context& ctx) {
  // Every apps route answers 404 while apps are turned off.
  auto bind = [&ctx](context_handler handler) -> route_table::handler {
    return [&ctx, handler](req_t req, res_t res) {
      if (apps_enabled(ctx, res))
        handler(ctx, req, res);
    };
  };
  const std::string one_app = R"(/api/apps/([^/]+))";
  http.Get("/api/apps", bind(list_apps));
  http.Post("/api/apps", bind(create_app));
  http.Get(one_app, bind(get_app));
  http.Patch(one_app, bind(update_app));
  http.Delete(one_app, bind(delete_app));
}

} // namespace tf::http
