#include "store/apps.hpp"

#include "core/clock.hpp"
#include "core/errors.hpp"
#include "core/ids.hpp"
#include "store/query.hpp"
#include "store/validate.hpp"

namespace tf::store {

namespace {

constexpr std::string_view app_select
  = "SELECT id, name, description, created_at, updated_at FROM apps ";

const auto read_app = columns(&app::id, &app::name, &app::description, &app::created_at,
                              &app::updated_at);

constexpr std::string_view other_app_with_name
  = "SELECT 1 FROM apps WHERE name = ?1 AND id != ?2";

} // namespace

caf::error validate_app(const app& a) {
  if (auto err = check_name("name", a.name))
    return err;
  if (a.description.size() > max_app_description)
    return invalid("description", "at most " + std::to_string(max_app_description) + " bytes");
  if (a.description.find('\0') != std::string::npos)
    return invalid("description", "must not contain a NUL byte");
  return {};
}

caf::expected<app> create_app(database& db, app a) {
  if (auto err = validate_app(a))
    return err;
  return in_transaction(db, [&]() -> caf::expected<app> {
    if (auto err = check_unique_name(db, other_app_with_name, "an app", a.name, ""))
      return err;
    a.id = new_id();
    a.created_at = a.updated_at = now_utc();
    if (auto err = run(db,
                       "INSERT INTO apps(id, name, description, created_at, updated_at) "
                       "VALUES (?1, ?2, ?3, ?4, ?4)",
                       a.id, a.name, a.description, a.created_at))
      return err;
    return a;
  });
}

caf::expected<app> update_app(database& db, const patch<app>& p) {
  if (auto err = check_patch_fields(p, {"name", "description"}))
    return err;
  return in_transaction(db, [&]() -> caf::expected<app> {
    auto current = get_app(db, p.id);
    if (!current)
      return current.error();
    if (p.has("name"))
      current->name = p.value.name;
    if (p.has("description"))
      current->description = p.value.description;
    if (auto err = validate_app(*current))
      return err;
    if (auto err = check_unique_name(db, other_app_with_name, "an app", current->name,
                                     current->id))
      return err;
    current->updated_at = now_utc();
    if (auto err = run(db,
                       "UPDATE apps SET name = ?1, description = ?2, updated_at = ?3 "
                       "WHERE id = ?4",
                       current->name, current->description, current->updated_at, current->id))
      return err;
    return current;
  });
}

caf::error delete_app(database& db, const std::string& id) {
  return run_on_one(db, "DELETE FROM apps WHERE id = ?1", "app", id.substr(0, 80), id);
}

caf::expected<app> get_app(database& db, const std::string& id) {
  static const auto sql = concat(app_select, "WHERE id = ?1");
  return one(db, sql, "app", id, read_app, 80);
}

caf::expected<page<app>> list_apps(database& db, int64_t limit, int64_t offset) {
  static const auto sql = concat(app_select, "ORDER BY name LIMIT ?1 OFFSET ?2");
  return paged(db, {sql, "SELECT COUNT(*) FROM apps"}, limit, offset, read_app);
}

} // namespace tf::store
