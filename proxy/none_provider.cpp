// No reverse proxy: containers are reached on their host ports. Blue-green switches are
// then only a matter of which slot serves; nothing to configure.
#include "proxy/providers.hpp"

namespace tf::proxy {

namespace {

class none_provider : public provider {
public:
  std::string name() const override { return "none"; }
  bool routes_all_slots() const override { return false; }
  caf::expected<proxy_route> apply(const proxy_route& route) override { return route; }
  caf::error remove(const proxy_route&) override { return caf::none; }
};

} // namespace

std::unique_ptr<provider> make_none_provider() {
  return std::make_unique<none_provider>();
}

} // namespace tf::proxy
