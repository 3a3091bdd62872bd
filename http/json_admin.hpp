// The admin area as the HTTP API shows it: health, settings, apps, the proxy routes, stale Docker
// resources and what a prune did. (Rows of the deploy catalog are in http/json_model.hpp,
// the webhook log in http/json_webhooks.hpp, users and tokens in http/json_auth.hpp.)
#pragma once

#include "actors/stale_scan.hpp"
#include "core/admin_model.hpp"
#include "core/model.hpp"
#include "net/json.hpp"

#include <caf/expected.hpp>

#include <rapidjson/document.h>

#include <string>

namespace tf::http {

/// POST and PATCH /api/apps: name and description where present (strings), `fields`
/// naming them.
caf::expected<patch<app>> app_patch_from_json(const rapidjson::Value& body);

/// POST /api/apps: as app_patch_from_json, with the name required.
caf::expected<app> app_from_json(const rapidjson::Value& body);

/// GET /healthz: {"status":"ok"|"degraded","db","docker"}, each part "ok" or "unavailable".
void write_health(net::json_writer& w, bool db_ok, bool docker_ok, const std::string& compose);

/// {"key": value, …}: the values are canonical JSON texts the store checked.
void write_settings(net::json_writer& w, const settings_map& values);

void write_app(net::json_writer& w, const app& a);

/// The proxy actor's provider and gate; unknown when it is not running or does not answer.
struct proxy_status {
  bool known = false;
  std::string provider;
  bool gated = false;
};

/// {"provider","gated","items":[…],"total"}: provider and gated are null when unknown.
void write_proxies(net::json_writer& w, const page<proxy_listing>& p, const proxy_status& status);

/// {"containers":[…],"images":[…]}
void write_stale_report(net::json_writer& w, const stale_report& r);

/// {"removed":{"containers","images"},"failed":[…],"skipped":[…]}
void write_prune_result(net::json_writer& w, const prune_result& r);

/// The audit detail of a prune: how many of each kind it removed and how many failed.
std::string prune_audit_detail(const prune_result& r);

} // namespace tf::http
