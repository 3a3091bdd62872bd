// The HTTP front-end. Handlers parse the request, send one request to an actor and render
// its reply; they never touch SQLite or Docker themselves.
#pragma once

#include "actors/stale_actor.hpp"
#include "actors/system.hpp"
#include "config/config.hpp"

#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace httplib {
class Server;
}

namespace tf::http {

class event_streams;
class login_throttle;
class request_gate;
class route_table;
struct route_entry;

struct server_context {
  caf::actor_system* sys = nullptr;
  store_handles store;
  /// The reconciler of the local Docker host: it knows whether the engine answers.
  reconciler_actor reconciler;
  /// Deploys, rollbacks and instance actions. May be null (not started yet): those routes
  /// then answer 503.
  project_deployer_actor deployer;
  /// Compose stacks (checks, deploys, actions, removal). May be null: those answer 503.
  stack_deployer_actor stacks;
  /// Static sites (uploads, deploys, rollbacks, removal). May be null: those answer 503.
  site_deployer_actor sites;
  /// Deliveries to /api/webhooks/{secret} and their replays. May be null: those answer 503.
  webhook_router_actor webhooks;
  /// The docker worker of the local host: container logs, the stale scan and prune. May be
  /// null: those answer 503.
  docker_actor docker;
  /// The proxy actor: its provider's name for /api/proxies. May be null (shown as null).
  proxy_actor proxy;
  /// The stale scanner for /api/stale; the server spawns one over `docker` when left null.
  stale_actor stale;
  std::chrono::milliseconds request_timeout{5000};
  /// SHA-256 of the one-time setup token logged at start while no user exists ("" when a
  /// user existed at start): POST /api/auth/setup needs the token.
  std::string setup_token_hash;
  /// How long a login's session lasts (server side; the cookie has no Max-Age).
  std::chrono::seconds session_ttl{std::chrono::hours{12}};
  /// Failed logins (and setups) allowed per client address and username, per minute.
  int login_attempts_per_minute = 10;
  /// Failed logins allowed per client address (any usernames), per minute.
  int login_failures_per_address = 30;
  /// Failed logins allowed from all addresses together, per minute.
  int login_failures_global = 100;
  /// Shared by the copies of this context; the server makes it when left null.
  std::shared_ptr<login_throttle> login_limiter;
  /// Where a notification URL may point (the server sets it from its config).
  net::target_policy notify_targets;
  /// Names the Host header may carry (config http_public_names; the server fills the
  /// defaults when empty).
  std::vector<std::string> public_names;
  /// Peers whose X-Forwarded-For is believed (config http_trusted_proxies).
  std::vector<std::string> trusted_proxies;
};

class server {
public:
  server(server_context ctx, const config& cfg);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Binds the listening socket; replies the bound port (useful with port 0).
  caf::expected<uint16_t> bind(const std::string& host, uint16_t port);

  /// Serves until stop(); returns after every in-flight request has been answered.
  void run();

  /// Stops accepting, closes every connection not being answered at once and lets the
  /// requests in flight finish. Safe to call from any thread, before or during run().
  void stop();

  /// Every (method, pattern) the server routes, in installation order (the test that
  /// proves every /api route is closed walks this).
  const std::vector<route_entry>& routes() const;

private:
  void install_routes();
  /// GET /api/events: hands its connections to streams_.
  void install_event_stream_route(route_table& routes);
  server_context ctx_;
  bool owns_stale_ = false; // the stale scanner was spawned here and is stopped here
  std::unique_ptr<httplib::Server> http_;
  /// Reads each request completely (deadlines, caps, framing) before a worker runs httplib.
  std::unique_ptr<request_gate> gate_;
  /// The server-sent event streams of GET /api/events (their own thread).
  std::unique_ptr<event_streams> streams_;
  std::vector<route_entry> routes_;
};

/// For a bare httplib::Server (the bench's anchor; the server above listens through its
/// request gate, with a backlog of 1024): httplib 0.11 (Debian's, compiled into its shared
/// library) listens with a backlog of 5: a burst of clients, such as webhook senders,
/// overflows the accept queue and connections are reset after the client has sent its
/// request. Linux lets listen() be called again on a listening socket to change its backlog;
/// httplib does not expose its socket, so it is found among this process's descriptors by its
/// bound address. Best effort: failing leaves 5.
void widen_listen_backlog(uint16_t port, int backlog);

} // namespace tf::http
