// Static sites: files served under a subdomain, kept as releases. Writes on the store
// writer's connection, each one transaction; reads on any connection.
#pragma once

#include "core/model.hpp"
#include "store/database.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <string>

namespace tf::store {

caf::error validate_site(const site& s);

caf::expected<site> create_site(database& db, site s);
caf::expected<site> update_site(database& db, const patch<site>& p);
caf::error delete_site(database& db, const std::string& id);

caf::expected<site> get_site(database& db, const std::string& id);
caf::expected<page<site>> list_sites(database& db, int64_t limit, int64_t offset);

} // namespace tf::store
