#include "store/apps.hpp"

#include "core/errors.hpp"
#include "core/clock.hpp"
#include "core/ids.hpp"
#include "store/reads.hpp"
#include "store/validate.hpp"

namespace tf::store {

namespace {

constexpr const char* app_select
  = "SELECT id, name, description, created_at, updated_at FROM apps ";

app read_app(const statement& st) {
  return app{st.text(0), st.text(1), st.text(2), st.text(3), st.text(4)};
}

caf::error name_taken(const std::string& name) {
  return make_error(ec::conflict, "an app named \"" + name + "\" already exists");
}

/// ec::conflict when another app (not `id`) has the name.
caf::error check_name_free(database& db, const std::string& name, const std::string& id) {
  auto st = db.prepare("SELECT 1 FROM apps WHERE name = ?1 AND id != ?2");
  if (!st)
    return st.error();
  st->bind(1, name).bind(2, id);
  auto found = st->step();
  if (st->error())
    return st->error();
  return found ? name_taken(name) : caf::error{};
}

} // namespace

caf::error validate_app(const app& a) {
  if (!is_dns_label(a.name))
    return make_error(ec::invalid_argument,
                      "name: \"" + a.name.substr(0, 80)
                        + "\" is not a lowercase DNS label ([a-z0-9-]{1,63}, no leading or "
                          "trailing '-')");
  if (a.description.size() > max_app_description)
    return make_error(ec::invalid_argument, "description: at most "
                                              + std::to_string(max_app_description) + " bytes");
  if (a.description.find('\0') != std::string::npos)
    return make_error(ec::invalid_argument, "description: must not contain a NUL byte");
  return {};
}

caf::expected<app> create_app(database& db, app a) {
  if (auto err = validate_app(a))
    return err;
  auto tx = transaction::begin(db);
  if (!tx)
    return tx.error();
  if (auto err = check_name_free(db, a.name, ""))
    return err;
  a.id = new_id();
  a.created_at = a.updated_at = now_utc();
  auto st = db.prepare("INSERT INTO apps(id, name, description, created_at, updated_at) "
                       "VALUES (?1, ?2, ?3, ?4, ?4)");
  if (!st)
    return st.error();
  st->bind(1, a.id).bind(2, a.name).bind(3, a.description).bind(4, a.created_at);
  if (auto err = st->run())
    return err;
  if (auto err = tx->commit())
    return err;
  return a;
}

caf::expected<app> update_app(database& db, const patch<app>& p) {
  for (const auto& f : p.fields)
    if (f != "name" && f != "description")
      return make_error(ec::invalid_argument, f + ": this field cannot be changed");
  auto tx = transaction::begin(db);
  if (!tx)
    return tx.error();
  auto current = get_app(db, p.id);
  if (!current)
    return current.error();
  if (p.has("name"))
    current->name = p.value.name;
  if (p.has("description"))
    current->description = p.value.description;
  if (auto err = validate_app(*current))
    return err;
  if (auto err = check_name_free(db, current->name, current->id))
    return err;
  current->updated_at = now_utc();
  auto st = db.prepare("UPDATE apps SET name = ?1, description = ?2, updated_at = ?3 "
                       "WHERE id = ?4");
  if (!st)
    return st.error();
  st->bind(1, current->name).bind(2, current->description).bind(3, current->updated_at)
    .bind(4, current->id);
  if (auto err = st->run())
    return err;
  if (auto err = tx->commit())
    return err;
  return current;
}

caf::error delete_app(database& db, const std::string& id) {
  auto st = db.prepare("DELETE FROM apps WHERE id = ?1");
  if (!st)
    return st.error();
  st->bind(1, id);
  if (auto err = st->run())
    return err;
  if (st->changes() == 0)
    return make_error(ec::not_found, "no app with id \"" + id.substr(0, 80) + "\"");
  return {};
}

caf::expected<app> get_app(database& db, const std::string& id) {
  auto st = db.prepare(std::string{app_select} + "WHERE id = ?1");
  if (!st)
    return st.error();
  st->bind(1, id);
  if (!st->step())
    return st->error() ? st->error()
                       : make_error(ec::not_found, "no app with id \"" + id.substr(0, 80) + "\"");
  return read_app(*st);
}

caf::expected<page<app>> list_apps(database& db, int64_t limit, int64_t offset) {
  clamp_page(limit, offset);
  read_snapshot snapshot{db}; // the page and its total from one commit
  if (snapshot.error())
    return snapshot.error();
  auto st = db.prepare(std::string{app_select} + "ORDER BY name LIMIT ?1 OFFSET ?2");
  if (!st)
    return st.error();
  st->bind(1, limit).bind(2, offset);
  page<app> out;
  while (st->step())
    out.items.push_back(read_app(*st));
  if (st->error())
    return st->error();
  auto count = db.prepare("SELECT COUNT(*) FROM apps");
  if (!count)
    return count.error();
  if (!count->step())
    return count->error() ? count->error() : make_error(ec::database, "no count");
  out.total = count->integer(0);
  return out;
}

} // namespace tf::store
