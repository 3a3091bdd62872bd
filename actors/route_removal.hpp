// A stack's or a site's route taken off the proxy when the workload is deleted, before its
// rows go: a route left in the proxy would keep sending the host name to a port nothing of
// the workload listens on any more (projects remove theirs stage by stage, in
// actors/project_deployer/removal.cpp).
#pragma once

#include "actors/atoms.hpp"
#include "core/errors.hpp"
#include "core/model.hpp"

#include <caf/all.hpp>

#include <chrono>
#include <string>

namespace tf {

/// Reads the workload's route and has the proxy remove it, then calls `then()`; a workload
/// that never had a route (or no proxy) goes straight on. A failure goes to `fail(error&)`
/// and leaves the route's row, so a retry of the removal finds it again.
template <class Self, class Reader, class Proxy, class Then, class Fail>
void remove_route_of(Self self, Reader reader, Proxy proxy, const std::string& workload_id,
                     Then then, Fail fail) {
  if (!proxy)
    return then();
  self->request(reader, std::chrono::seconds{10}, atom::get_v, atom::route_v, workload_id)
    .then(
      [self, proxy, then, fail](proxy_route& route) mutable {
        // A proxy reload may wait on the proxy's admin API: the same bound as a deploy's.
        self->request(proxy, std::chrono::seconds{60}, atom::erase_v, route)
          .then([then](atom::ok) mutable { then(); }, fail);
      },
      [then, fail](caf::error& err) mutable {
        if (error_code(err) == ec::not_found)
          return then(); // never routed
        fail(err);
      });
}

} // namespace tf
