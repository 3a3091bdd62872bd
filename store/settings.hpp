// Daemon settings changed at run time (GET/PATCH /api/settings), kept in the settings
// table. Every known setting, with its type and default, is listed here and only here:
// a key not in this list is never read or written.
#pragma once

#include "core/admin_model.hpp"
#include "store/database.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace tf::store {

enum class setting_type { boolean, integer, text };

struct setting_def {
  const char* key;
  setting_type type;
  /// The value's canonical JSON text when the table has no row for it.
  const char* default_json;
  /// What it changes, for the API's readers.
  const char* description;
  /// Bounds of an integer setting, the longest text of a text setting.
  int64_t min = 0;
  int64_t max = 0;
};

/// Every known setting.
const std::vector<setting_def>& known_settings();

/// The definition of `key`, or nullptr for an unknown key.
const setting_def* find_setting(std::string_view key);

namespace setting {
/// Shows the apps routes (/api/apps) and grouping; off, they answer 404.
constexpr const char* apps_grouping = "features.apps_grouping";
} // namespace setting

/// ec::invalid_argument unless `key` is known and `json` is a canonical value of its type
/// ("true"/"false"; a decimal integer within bounds; a JSON string).
caf::error check_setting(const std::string& key, const std::string& json);

/// Every known setting: stored values over defaults.
caf::expected<settings_map> read_settings(database& db);

/// Writes every entry of `changes` in one transaction (none when one is invalid);
/// replies every setting as it is after the write.
caf::expected<settings_map> write_settings(database& db, const settings_map& changes);

/// The key of this daemon's instance id in the settings table. Not a known setting: the
/// API neither shows nor changes it (read_settings skips it, write_settings refuses it).
constexpr const char* instance_id_key = "daemon.instance_id";

/// This daemon's instance id: read from the settings table, or generated and stored there
/// the first time. Called once at start on the writer's connection (right after the
/// migrations), so the writer's connection is the only one that ever writes it. Every
/// container the daemon creates carries it as a label; stale scans only consider those.
caf::expected<std::string> ensure_instance_id(database& db);

/// Whether a boolean setting is "true" in `values` (its default when absent).
bool setting_is_true(const settings_map& values, const char* key);

} // namespace tf::store
