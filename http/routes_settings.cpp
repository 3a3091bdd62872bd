// GET|PATCH /api/settings: the daemon's runtime settings, checked and kept by the store.
#include "http/ask.hpp"
#include "http/auth.hpp"
#include "http/json_admin.hpp"
#include "http/route_helpers.hpp"
#include "http/routes.hpp"
#include "http/server.hpp"
#include "http/store_views.hpp"
#include "store/settings.hpp"

#include <httplib.h>

namespace tf::http {

namespace {

/// A PATCH body's member as its setting's canonical JSON text, or why it cannot be one.
caf::expected<std::string> setting_json(const std::string& key, const rapidjson::Value& v) {
  const auto* def = store::find_setting(key);
  if (def == nullptr)
    return invalid(key.substr(0, 80) + ": no such setting");
  switch (def->type) {
    case store::setting_type::boolean:
      if (!v.IsBool())
        return invalid(key + ": must be true or false");
      return std::string{v.GetBool() ? "true" : "false"};
    case store::setting_type::integer:
      if (!v.IsInt64())
        return invalid(key + ": must be an integer");
      return std::to_string(v.GetInt64());
    case store::setting_type::text:
      if (!v.IsString())
        return invalid(key + ": must be a string");
      return net::make_json(
        [&](net::json_writer& w) { net::write_string(w, {v.GetString(), v.GetStringLength()}); });
  }
  return invalid(key + ": unknown type");
}

/// The settings a change really changed, for the audit log ("{}" when none did).
std::string changed_settings(const settings_map& before, const settings_map& changes) {
  auto changed = changes;
  for (const auto& [key, json] : changes) {
    auto old = before.find(key);
    if (old != before.end() && old->second == json)
      changed.erase(key);
  }
  return net::make_json([&](net::json_writer& w) { write_settings(w, changed); });
}

caf::expected<settings_map> read_settings(const server_context& ctx) {
  return ask<settings_map>(*ctx.sys, read_through<settings_reader_actor>(ctx), ctx.request_timeout,
                           atom::get_v, atom::settings_v);
}

/// The settings, and (read-only, not a setting: PATCH refuses it) which compose the host's
/// stacks run with, as /healthz says it.
void get_settings(const server_context& ctx, req_t, res_t res) {
  auto settings = read_settings(ctx);
  if (settings) {
    auto compose = ask<std::string>(*ctx.sys, ctx.stacks, ctx.request_timeout, atom::status_v);
    (*settings)["compose"] = net::make_json([&](net::json_writer& w) {
      net::write_string(w, compose ? *compose : std::string{"unknown"});
    });
  }
  reply(res, std::move(settings), 200, write_settings);
}

void patch_settings(const server_context& ctx, req_t req, res_t res) {
  auto body = parse_body(req);
  if (!body)
    return render_error(res, body.error());
  if (body->MemberCount() == 0)
    return render_error(res, invalid("name at least one setting to change"));
  settings_map changes;
  for (const auto& m : body->GetObject()) {
    std::string key{m.name.GetString(), m.name.GetStringLength()};
    auto json = setting_json(key, m.value);
    if (!json)
      return render_error(res, json.error());
    changes[key] = std::move(*json);
  }
  auto before = read_settings(ctx);
  if (!before)
    return render_error(res, before.error());
  auto after = ask<settings_map>(*ctx.sys, write_through<settings_writer_actor>(ctx), ctx.request_timeout,
                                 atom::update_v, atom::settings_v, changes);
  if (after) {
    auto detail = changed_settings(*before, changes);
    if (detail != "{}")
      audit(ctx, req, "settings.update", "settings", "", detail);
  }
  reply(res, after, 200, write_settings);
}

} // namespace

void install_settings_routes(route_table& http, const server_context& ctx) {
  http.Get("/api/settings", bind_context(ctx, get_settings));
  http.Patch("/api/settings", bind_context(ctx, patch_settings));
}

} // namespace tf::http
