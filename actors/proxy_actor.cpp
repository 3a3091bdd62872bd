#include "actors/proxy_actor.hpp"

#include "core/errors.hpp"
#include "actors/reply.hpp"

#include <spdlog/spdlog.h>

namespace tf {

namespace {

bool same_route(const proxy_route& a, const proxy_route& b) {
  return a.host == b.host && a.slots == b.slots && a.health_path == b.health_path
         && a.npm_proxy_id == b.npm_proxy_id && a.serving == b.serving;
}

std::string ports_text(const std::vector<int64_t>& ports) {
  std::string out;
  for (auto p : ports)
    out += (out.empty() ? "" : ",") + std::to_string(p);
  return out;
}

} // namespace

proxy_actor::behavior_type proxy_service(proxy_actor::stateful_pointer<proxy_state> self,
                                         std::shared_ptr<proxy::provider> provider,
                                         std::string gate_mode) {
  self->state.provider = std::move(provider);
  self->state.gate = std::make_unique<proxy::slot_gate>(std::move(gate_mode));
  auto& st = self->state;
  // A route applies to the provider only when it changed (see proxy_state::applied).
  auto apply = [&st](const proxy_route& route) -> caf::result<proxy_route> {
    auto known = st.applied.find(route.id);
    if (known != st.applied.end() && same_route(known->second, route))
      return known->second;
    auto done = st.provider->apply(route);
    if (!done) {
      spdlog::warn("event=proxy-apply-failed provider={} route={} host={} error={}",
                   st.provider->name(), route.id, route.host, error_message(done.error()));
      return std::move(done.error());
    }
    spdlog::info("event=proxy-applied provider={} route={} host={} slots={} serving={}",
                 st.provider->name(), route.id, route.host, ports_text(route.slots),
                 ports_text(done->serving));
    st.applied[route.id] = *done;
    return std::move(*done);
  };
  return {
    [apply](atom::apply, const proxy_route& route) { return apply(route); },
    [&st](atom::erase, const proxy_route& route) -> caf::result<atom::ok> {
      if (auto err = st.provider->remove(route))
        return err;
      st.applied.erase(route.id);
      // A closed slot redirects to its route's other slots: the port may go to another
      // route later, and must not carry it to this one's.
      if (auto err = st.gate->open(route.slots))
        return err;
      return atom::ok_v;
    },
    [&st](atom::open, const std::vector<int64_t>& ports) -> caf::result<atom::ok> {
      if (auto err = st.gate->open(ports))
        return err;
      spdlog::debug("event=slots-opened ports={}", ports_text(ports));
      return atom::ok_v;
    },
    [&st](atom::close, const std::vector<int64_t>& ports,
          const std::vector<int64_t>& toward) -> caf::result<atom::ok> {
      if (auto err = st.gate->close(ports, toward))
        return err;
      spdlog::debug("event=slots-closed ports={} toward={}", ports_text(ports),
                    ports_text(toward));
      return atom::ok_v;
    },
    [](atom::count, const std::vector<int64_t>& ports) {
      return reply(proxy::established_connections(ports));
    },
    [&st, apply](atom::update, const proxy_route& route) -> caf::result<proxy_route> {
      // Providers that list every slot switch by the gate alone; their config stays.
      if (st.provider->routes_all_slots())
        return route;
      return apply(route);
    },
    [&st](atom::status) -> caf::result<std::string, bool> {
      return caf::result<std::string, bool>{st.provider->name(), st.gate->enabled()};
    },
  };
}

} // namespace tf
