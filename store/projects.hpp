// Projects and their stages: the image a project deploys and the stages it deploys to.
// Writes on the store writer's connection, each one transaction; reads on any connection
// (and by the writer, to answer with what it just stored).
#pragma once

#include "core/model.hpp"
#include "store/database.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <string>

namespace tf::store {

caf::error validate_project(const project& p);
caf::error validate_stage(const stage& s);

caf::expected<project> create_project(database& db, project p);
caf::expected<project> update_project(database& db, const patch<project>& p);
caf::error delete_project(database& db, const std::string& id);

caf::expected<stage> create_stage(database& db, stage s);
caf::expected<stage> update_stage(database& db, const patch<stage>& p);
caf::error delete_stage(database& db, const std::string& id);

/// The project with its stages (in their order), read from one snapshot.
caf::expected<project> get_project(database& db, const std::string& id);
caf::expected<page<project>> list_projects(database& db, int64_t limit, int64_t offset);
caf::expected<stage> get_stage(database& db, const std::string& id);

} // namespace tf::store
