// The /api route groups. Each installs its handlers on the server; a handler parses the
// request, sends one request to an actor (http/ask.hpp) and renders the reply.
#pragma once

#include <string>

namespace httplib {
class Server;
}

namespace tf::http {

struct server_context;

/// /api/projects, their stages, deploys and rollbacks.
void install_project_routes(httplib::Server& http, const server_context& ctx);

/// /api/deployments.
void install_deployment_routes(httplib::Server& http, const server_context& ctx);

/// /api/containers and the instance actions under /api/instances.
void install_container_routes(httplib::Server& http, const server_context& ctx);

/// POST /api/webhooks/{secret} (no session: the secret and the signature authenticate), and
/// a workload's delivery log with replay under /api/workloads/{id}/deliveries.
void install_webhook_routes(httplib::Server& http, const server_context& ctx);

/// A request path as logs may show it: a webhook secret replaced by a short hash prefix.
std::string loggable_path(const std::string& path);

} // namespace tf::http
