// The reverse proxy behind one interface. A provider turns a proxy_route into the proxy's
// own configuration. Calls block (HTTP to an admin API, nginx -t, reloads): only the proxy
// actor, on its own thread, calls them, one at a time.
#pragma once

#include "config/config.hpp"
#include "core/model.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <memory>
#include <string>

namespace tf::proxy {

/// The response header every generated route adds with the upstream (slot) that answered,
/// "127.0.0.1:<port>": a deploy checks through the proxy that the new colour serves.
constexpr const char* upstream_header = "X-Tinyforge-Upstream";

class provider {
public:
  virtual ~provider() = default;
  /// none | caddy | nginx | npm
  virtual std::string name() const = 0;
  /// Whether the route lists every slot and the proxy itself skips closed or empty ones
  /// (caddy, nginx). False: the proxy points at route.serving only (npm, none), and a
  /// switch is a configuration change.
  virtual bool routes_all_slots() const = 0;
  /// Creates or replaces the route for route.host. Replies the route as applied (npm fills
  /// in npm_proxy_id). On error the proxy keeps its previous configuration.
  virtual caf::expected<proxy_route> apply(const proxy_route& route) = 0;
  /// Removes the route; a route the proxy does not have is not an error.
  virtual caf::error remove(const proxy_route& route) = 0;
};

/// The provider config.proxy_provider names, set up from the proxy.* keys.
std::unique_ptr<provider> make_provider(const config& cfg);

} // namespace tf::proxy
