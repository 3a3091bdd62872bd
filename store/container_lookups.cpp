#include "store/container_lookups.hpp"

#include "store/query.hpp"

namespace tf::store {

caf::expected<std::string> workload_kind(database& db, const std::string& workload_id) {
  auto kind = find_one(db, workload_kind_sql, text_of_first_column, workload_id);
  if (!kind)
    return kind.error();
  return kind->value_or(std::string{});
}

caf::expected<std::string> stack_workload_by_compose_project(database& db,
                                                             const std::string& name) {
  auto id = find_one(db, stack_workload_by_compose_project_sql, text_of_first_column, name);
  if (!id)
    return id.error();
  return id->value_or(std::string{});
}

} // namespace tf::store
