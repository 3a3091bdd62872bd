// The /api route groups. Each installs its handlers on the server; a handler parses the
// request, sends one request to an actor (http/ask.hpp) and renders the reply.
#pragma once

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

} // namespace tf::http
