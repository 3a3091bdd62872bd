#include "store/settings.hpp"

#include "core/errors.hpp"
#include "core/clock.hpp"
#include "store/query.hpp"

#include <algorithm>

namespace tf::store {

const std::vector<setting_def>& known_settings() {
  static const std::vector<setting_def> defs{
    {setting::apps_grouping, setting_type::boolean, "false",
     "group workloads into apps; off, /api/apps answers 404"},
  };
  return defs;
}

const setting_def* find_setting(std::string_view key) {
  for (const auto& d : known_settings())
    if (key == d.key)
      return &d;
  return nullptr;
}

caf::error check_setting(const std::string& key, const std::string& json) {
  const auto* def = find_setting(key);
  if (def == nullptr)
    return make_error(ec::invalid_argument, key.substr(0, 80) + ": no such setting");
  auto wrong = [&](const char* what) {
    return make_error(ec::invalid_argument, key + ": must be " + what);
  };
  switch (def->type) {
    case setting_type::boolean:
      return json == "true" || json == "false" ? caf::error{} : wrong("true or false");
    case setting_type::integer: {
      auto digits = json.size() <= 18 && !json.empty()
                    && std::all_of(json.begin() + (json[0] == '-' ? 1 : 0), json.end(),
                                   [](char c) { return c >= '0' && c <= '9'; })
                    && json != "-";
      if (!digits)
        return wrong("an integer");
      auto v = std::stoll(json);
      if (v < def->min || v > def->max)
        return wrong(("from " + std::to_string(def->min) + " to " + std::to_string(def->max))
                       .c_str());
      return {};
    }
    case setting_type::text:
      if (json.size() < 2 || json.front() != '"' || json.back() != '"')
        return wrong("a string");
      if (def->max > 0 && static_cast<int64_t>(json.size()) > def->max + 2)
        return wrong(("at most " + std::to_string(def->max) + " characters").c_str());
      return {};
  }
  return wrong("a known type");
}

caf::expected<settings_map> read_settings(database& db) {
  auto rows = select_all(db, "SELECT key, value FROM settings", [](const statement& st) {
    return std::pair<std::string, std::string>{st.text(0), st.text(1)};
  });
  if (!rows)
    return rows.error();
  settings_map values;
  for (const auto& d : known_settings())
    values[d.key] = d.default_json;
  for (auto& [key, value] : *rows)
    // A row that is no longer valid (an old key, a hand-edited value) keeps the default.
    if (!check_setting(key, value))
      values[key] = std::move(value);
  return values;
}

caf::expected<settings_map> write_settings(database& db, const settings_map& changes) {
  for (const auto& [key, json] : changes)
    if (auto err = check_setting(key, json))
      return err;
  return in_transaction(db, [&]() -> caf::expected<settings_map> {
    auto now = now_utc();
    for (const auto& [key, json] : changes)
      if (auto err = run(db,
                         "INSERT INTO settings(key, value, updated_at) VALUES (?1, ?2, ?3) "
                         "ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
                         "updated_at = excluded.updated_at",
                         key, json, now))
        return err;
    return read_settings(db);
  });
}

caf::expected<std::string> ensure_instance_id(database& db) {
  // Random hex, stored as a JSON string like every settings value. INSERT OR IGNORE keeps
  // the first id ever written, so a restart (or a second start racing) reads the same one.
  if (auto err = run(db,
                     "INSERT OR IGNORE INTO settings(key, value, updated_at) "
                     "VALUES (?1, '\"' || lower(hex(randomblob(16))) || '\"', ?2)",
                     std::string{instance_id_key}, now_utc()))
    return err;
  auto rows = select_all(db, "SELECT value FROM settings WHERE key = ?1",
                         [](const statement& st) { return st.text(0); },
                         std::string{instance_id_key});
  if (!rows)
    return rows.error();
  if (rows->size() != 1 || (*rows)[0].size() < 4 || (*rows)[0].front() != '"'
      || (*rows)[0].back() != '"')
    return make_error(ec::database, "settings: the daemon's instance id is malformed");
  return (*rows)[0].substr(1, (*rows)[0].size() - 2);
}

bool setting_is_true(const settings_map& values, const char* key) {
  auto i = values.find(key);
  if (i != values.end())
    return i->second == "true";
  const auto* def = find_setting(key);
  return def != nullptr && std::string_view{def->default_json} == "true";
}

} // namespace tf::store
