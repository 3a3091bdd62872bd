// The container index: one row per container Tinyforge runs (or means to), written by the
// deployers (upsert, delete) and by the reconciler (what Docker reports, and the sweep of
// what it no longer lists). Writes on the store writer's connection; reads on any.
#pragma once

#include "core/model.hpp"
#include "store/container_reconcile.hpp" // the reconciler's writes
#include "store/database.hpp"
#include "store/index_version.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tf::store {

/// A state the containers index knows ("" is a row not observed yet).
bool is_container_state(std::string_view s);

caf::error validate_container(const container_row& c);

caf::expected<container_row> upsert_container(database& db, container_row c);
/// The deployer removed the container: its row leaves the index (a missing id is fine).
caf::error delete_container(database& db, const std::string& id);

// -- reads --------------------------------------------------------------------------------

caf::expected<container_row> get_container(database& db, const std::string& id);

/// The largest page of the containers index (a UI reads the whole index in one request).
inline constexpr int64_t max_container_page = 5000;

/// A page of container rows matching a filter, in (created_at, id) order, after the cursor
/// when the filter has one (the deployers' reads; at most 500 rows).
caf::expected<page<container_row>> list_containers(database& db, const container_filter& f);

/// What a reader keeps of the index while its version stays, so a page of an unchanged index
/// reads only its rows: the totals of the filters it answered, and the hosts' latest
/// listings (the last sighting of live rows). One per reader (not shared between threads).
class container_index_cache {
public:
  caf::expected<int64_t> total(database& db, const container_filter& f, const index_version& at);
  caf::expected<const host_sightings*> sightings(database& db, const index_version& at);

private:
  /// Forgets what was kept for another version.
  void keep_for(const index_version& at);

  index_version version_;
  std::map<std::string, int64_t> totals_;
  std::optional<host_sightings> sightings_;
};

/// What a walk of a page saw: its rows, the total of the filter, and the cursor of the last
/// row when there may be a next page ("" when there is none).
struct container_walk {
  int64_t rows = 0;
  int64_t total = 0;
  std::string next_after;
};

/// GET /api/containers's rows (at most max_container_page), each given to `row` straight
/// from the statement (views valid during the call: no row object is built), in
/// (created_at, id) order. `at` is the index version read before this call (the total is
/// kept for it).
caf::expected<container_walk> walk_containers(database& db, const container_filter& f,
                                              const index_version& at,
                                              container_index_cache& cache,
                                              const std::function<void(const container_view&)>& row);

/// A statement the lists run, named, for the plan test (tests/list_plan_test.cpp).
struct list_statement {
  std::string name;
  std::string sql;
};

/// Every statement a list of container rows may run: per filter key, its items and total.
std::vector<list_statement> container_list_statements();

} // namespace tf::store
