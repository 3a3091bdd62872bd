// Proxy routes: one per stage, site or stack (its owner), with the loopback slot ports it
// owns. Ports are allocated here, by the store writer, so two owners can never be handed the
// same port.
#pragma once

#include "store/database.hpp"
#include "core/model.hpp"

#include <caf/expected.hpp>

#include <string>
#include <vector>

namespace tf::store {

/// The owner's route, created when missing; grown to claim.slot_count slots (lowest free
/// ports of [port_low, port_high]; ec::unavailable when the range is exhausted); its host
/// and health path updated to the claim's. Slots it already has keep their ports and order.
caf::expected<proxy_route> claim_route(database& db, const route_claim& claim);

/// Records route.serving and route.npm_proxy_id for the route with route.id.
caf::expected<proxy_route> update_route(database& db, const proxy_route& route);

/// Deletes the owner's route; an owner without one is not an error.
caf::error delete_route(database& db, const std::string& owner_id);

caf::expected<proxy_route> get_route(database& db, const std::string& owner_id);
caf::expected<std::vector<proxy_route>> list_routes(database& db);

} // namespace tf::store
