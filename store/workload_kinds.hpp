// The three kinds of workload (project, stack, site) are each a row of their own table
// plus the workloads row that stands for it. One create, update and delete serves the
// three; each kind's file describes its table with a workload_kind and calls these.
#pragma once

#include "core/clock.hpp"
#include "core/ids.hpp"
#include "core/model.hpp"
#include "store/database.hpp"
#include "store/query.hpp"

#include <caf/expected.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace tf::store {

/// How one kind's row is checked, read and written.
template <class T>
struct workload_kind {
  /// workloads.kind: "project", "stack" or "site".
  const char* kind;
  /// The kind's own table, keyed by id, with a unique name.
  const char* table;
  /// The fields a patch may change.
  std::vector<const char*> patchable;
  caf::error (*validate)(const T& row);
  caf::expected<T> (*get)(database& db, const std::string& id);
  /// Inserts the row (with its new id) and whatever belongs to it.
  caf::error (*insert)(database& db, T& row, const std::string& now);
  /// Copies what the patch changes onto the current row.
  void (*apply)(T& row, const patch<T>& p);
  /// Writes the changed row.
  caf::error (*update)(database& db, const T& row, const std::string& now);
};

/// Inserts the workloads row standing for a new row of `kind`, with fresh secrets.
caf::error insert_workload(database& db, const char* kind, const std::string& ref_id,
                           const std::string& name, const std::string& now);

/// Keeps the workload's name that of its row.
caf::error rename_workload(database& db, const char* kind, const std::string& ref_id,
                           const std::string& name, const std::string& now);

/// Deletes the workload (its containers and deployments cascade) and then the row, in one
/// transaction; ec::not_found when there is no such row.
caf::error delete_with_workload(database& db, const char* kind, std::string_view delete_sql,
                                const std::string& id);

/// ec::conflict when another row of the kind's table (not `id`) has the name.
template <class T>
caf::error check_kind_name_free(database& db, const workload_kind<T>& k, const std::string& name,
                                const std::string& id) {
  return check_unique_name(db, "SELECT 1 FROM " + std::string{k.table}
                                 + " WHERE name = ?1 AND id != ?2",
                           "a " + std::string{k.kind}, name, id);
}

/// Checks and inserts a new row and its workload in one transaction; replies the row as
/// stored.
template <class T>
caf::expected<T> create_of_kind(database& db, T row, const workload_kind<T>& k) {
  if (auto err = k.validate(row))
    return err;
  return in_transaction(db, [&]() -> caf::expected<T> {
    if (auto err = check_kind_name_free(db, k, row.name, ""))
      return err;
    auto now = now_utc();
    row.id = new_id();
    if (auto err = k.insert(db, row, now))
      return err;
    if (auto err = insert_workload(db, k.kind, row.id, row.name, now))
      return err;
    return k.get(db, row.id);
  });
}

/// Applies a patch to a row (and its workload's name) in one transaction; replies the row
/// as stored.
template <class T>
caf::expected<T> update_of_kind(database& db, const patch<T>& p, const workload_kind<T>& k) {
  if (auto err = check_patch_fields(p, k.patchable))
    return err;
  return in_transaction(db, [&]() -> caf::expected<T> {
    auto row = k.get(db, p.id);
    if (!row)
      return row.error();
    k.apply(*row, p);
    if (auto err = k.validate(*row))
      return err;
    if (auto err = check_kind_name_free(db, k, row->name, row->id))
      return err;
    auto now = now_utc();
    if (auto err = k.update(db, *row, now))
      return err;
    if (auto err = rename_workload(db, k.kind, row->id, row->name, now))
      return err;
    return k.get(db, row->id);
  });
}

template <class T>
caf::error delete_of_kind(database& db, const std::string& id, const workload_kind<T>& k) {
  return delete_with_workload(db, k.kind, "DELETE FROM " + std::string{k.table} + " WHERE id = ?1",
                              id);
}

} // namespace tf::store
