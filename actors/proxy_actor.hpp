// The PROXY actor owns the reverse proxy provider and the slot gate and applies one change
// at a time. Spawn it detached: providers talk HTTP to admin APIs or run nginx, and the gate
// runs iptables, all blocking.
#pragma once

#include "actors/actors.hpp"
#include "proxy/provider.hpp"
#include "proxy/slot_gate.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <map>
#include <memory>
#include <string>

namespace tf {

struct proxy_state {
  static inline const char* name = "proxy";
  std::shared_ptr<proxy::provider> provider;
  std::unique_ptr<proxy::slot_gate> gate;
  /// What the provider was last given per route id. Applying an unchanged route again is
  /// skipped: a Caddy config load or an nginx reload closes idle client connections, so
  /// a deploy must never cause one (bench/proxy_switch, finding 1).
  std::map<std::string, proxy_route> applied;
};

proxy_actor::behavior_type proxy_service(proxy_actor::stateful_pointer<proxy_state> self,
                                         std::shared_ptr<proxy::provider> provider,
                                         std::string gate_mode);

} // namespace tf
