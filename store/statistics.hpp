// The query planner's statistics. The writer's connection keeps them; the plan tests
// (tests/query_plan_test.cpp) check what the planner makes of them.
#pragma once

#include "store/database.hpp"

#include <caf/error.hpp>

namespace tf::store {

/// Keeps the query planner's statistics (sqlite_stat1) fit for the tables as they are: run on
/// the writer's connection at start (after migrate) and after a write of many rows. ANALYZE
/// reads a bounded sample (analysis_limit), so this costs milliseconds at any size.
caf::error optimize(database& db);

} // namespace tf::store
