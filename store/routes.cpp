#include "store/routes.hpp"

#include "actors/errors.hpp"

namespace tf::store {

// Interface placeholders while the table lands (replaced in the next commit).
caf::expected<proxy_route> claim_route(database&, const route_claim&) {
  return make_error(ec::internal, "proxy routes are not stored yet");
}
caf::expected<proxy_route> update_route(database&, const proxy_route&) {
  return make_error(ec::internal, "proxy routes are not stored yet");
}
caf::error delete_route(database&, const std::string&) {
  return make_error(ec::internal, "proxy routes are not stored yet");
}
caf::expected<proxy_route> get_route(database&, const std::string&) {
  return make_error(ec::internal, "proxy routes are not stored yet");
}
caf::expected<std::vector<proxy_route>> list_routes(database&) {
  return make_error(ec::internal, "proxy routes are not stored yet");
}

} // namespace tf::store
