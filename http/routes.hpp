// The /api route groups. Each installs its handlers on the server; a handler parses the
// request, sends one request to an actor (http/ask.hpp) and renders the reply.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace httplib {
class Server;
struct Request;
struct Response;
} // namespace httplib

namespace tf::http {

struct server_context;

/// One installed route: its method and its path pattern (httplib's regex).
struct route_entry {
  std::string method;
  std::string pattern;
};

/// Registers routes on the server and remembers each (method, pattern): the route table
/// that the auth test walks. Same method names as httplib::Server, so install functions
/// read as before.
class route_table {
public:
  using handler = std::function<void(const httplib::Request&, httplib::Response&)>;
  route_table(httplib::Server& http, std::vector<route_entry>& entries)
    : http_{http}, entries_{entries} {}
  route_table& Get(const std::string& pattern, handler h);
  route_table& Post(const std::string& pattern, handler h);
  route_table& Put(const std::string& pattern, handler h);
  route_table& Patch(const std::string& pattern, handler h);
  route_table& Delete(const std::string& pattern, handler h);

private:
  /// Remembers (method, pattern) for the route table.
  route_table& remember(const char* method, const std::string& pattern);

  httplib::Server& http_;
  std::vector<route_entry>& entries_;
};

/// A handler of the server's routes: the context, the request, the response.
using context_handler = void (*)(const server_context&, const httplib::Request&,
                                 httplib::Response&);

/// `handler` bound to the context (which outlives the routes: the server owns both).
route_table::handler bind_context(const server_context& ctx, context_handler handler);

/// /api/auth (login, logout, me, first-run setup) and /api/tokens.
void install_auth_routes(route_table& http, const server_context& ctx);
/// The web UI's files, and its index.html for every other GET outside /api (last).
void install_ui_routes(route_table& http);

/// /api/projects, their stages, deploys and rollbacks.
void install_project_routes(route_table& http, const server_context& ctx);

/// /api/stacks: compose stacks, their deploys and stop/start/restart/down.
void install_stack_routes(route_table& http, const server_context& ctx);

/// /api/sites: static sites, their uploads' deploys and rollbacks.
void install_site_routes(route_table& http, const server_context& ctx);

/// /api/deployments.
void install_deployment_routes(route_table& http, const server_context& ctx);

/// /api/containers (the index, one row, its logs), one workload's rows of the index
/// (/api/workloads/{id}/containers) and the instance actions under /api/instances.
void install_container_routes(route_table& http, const server_context& ctx);

/// /api/workloads: list, read, change (app, notification URL, signature requirement) and
/// rotating their secrets (their containers are with the index's routes).
void install_workload_routes(route_table& http, const server_context& ctx);

/// POST /api/webhooks/{secret} (no session: the secret and the signature authenticate), and
/// a workload's delivery log with replay under /api/workloads/{id}/deliveries.
void install_webhook_routes(route_table& http, const server_context& ctx);

/// GET|PATCH /api/settings.
void install_settings_routes(route_table& http, const server_context& ctx);

/// /api/apps (404 unless features.apps_grouping).
void install_app_routes(route_table& http, const server_context& ctx);

/// GET /api/proxies: the routes Tinyforge manages, with the proxy's provider and gate.
void install_proxy_routes(route_table& http, const server_context& ctx);

/// GET /api/stale and POST /api/stale/prune, answered by the stale scanner.
void install_stale_routes(route_table& http, const server_context& ctx);

/// GET /metrics (Prometheus text format), outside /api: a loopback scraper needs no token.
void install_metrics_route(route_table& http, const server_context& ctx);
/// A workload's notification attempts under /api/workloads/{id}/notifications.
void install_notification_routes(route_table& http, const server_context& ctx);

/// A request path as logs may show it: a webhook secret replaced by a short hash prefix.
std::string loggable_path(const std::string& path);

} // namespace tf::http
