// The rows of core/model.hpp as the HTTP API shows them, and request bodies read back into
// rows. Writers render an empty optional value (a timestamp not reached yet, a stage id a
// stack deploy has not, a tag never deployed) as null. Readers take only the fields they
// know, ignore the others, and answer ec::invalid_argument naming the field when a known
// field has the wrong JSON type; ranges and names are the store's to check (store/validate).
#pragma once

#include "net/deployment_json.hpp"
#include "net/json.hpp"
#include "core/model.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <rapidjson/document.h>

#include <cstddef>
#include <string>
#include <vector>

namespace tf::http {

// -- rows to JSON -------------------------------------------------------------------------

void write_stage(net::json_writer& w, const stage& s);

void write_project(net::json_writer& w, const project& p);

/// A stack: its compose text and environment, and the compose project its containers carry.
void write_stack(net::json_writer& w, const stack& s);

/// A deploy; with `log` its log lines from index `log_from` on, and "log_total" (the count
/// of every line) so a client following a running deploy knows where to ask next.
using net::write_deployment; // net/deployment_json.hpp

void write_container(net::json_writer& w, const container_row& c);

/// The path a CI posts to for the workload with this webhook secret ("" when none).
std::string webhook_path(const std::string& webhook_secret);

/// A workload as every read shows it: its webhook_url, but of its signing and notification
/// secrets only whether they are set.
void write_workload(net::json_writer& w, const workload& x);

/// A workload right after its secrets were rotated: write_workload plus the new signing and
/// notification secrets, the one time the API shows them.
void write_workload_with_secrets(net::json_writer& w, const workload& x);

/// A deploy asked for: {"deployment_id","status"} (queued), or {"deployment_id","status":
/// "unchanged","reason"} when the deploy of that tag already on its way is the answer.
void write_queued(net::json_writer& w, const stage_deploy_claimed& c);

/// An audit entry's detail for a change: {"fields":[the names changed]}.
std::string fields_audit_detail(const std::vector<std::string>& fields);

/// {"items":[…],"total":N}
template <class T, class WriteItem>
void write_page(net::json_writer& w, const page<T>& p, WriteItem write_item) {
  w.StartObject();
  w.Key("items");
  w.StartArray();
  for (const auto& item : p.items)
    write_item(w, item);
  w.EndArray();
  w.Key("total");
  w.Int64(p.total);
  w.EndObject();
}

// -- JSON to rows -------------------------------------------------------------------------

/// A static site: its subdomain, how many releases it keeps, the one it serves.
void write_site(net::json_writer& w, const site& s);

/// POST /api/sites: name, and optionally subdomain and keep_releases.
caf::expected<site> site_from_json(const rapidjson::Value& body);

/// PATCH /api/sites/{id}: the fields present among name, subdomain and keep_releases.
caf::expected<patch<site>> site_patch_from_json(const rapidjson::Value& body);

/// POST /api/stacks: name, compose (the YAML text) and env (an object of strings).
caf::expected<stack> stack_from_json(const rapidjson::Value& body);

/// PATCH /api/stacks/{id}: the fields present among name, compose and env.
caf::expected<patch<stack>> stack_patch_from_json(const rapidjson::Value& body);

/// POST /api/projects: name, image and stages (each read as by stage_from_json).
caf::expected<project> project_from_json(const rapidjson::Value& body);

/// PATCH /api/projects/{id}: the fields present among name and image.
caf::expected<patch<project>> project_patch_from_json(const rapidjson::Value& body);

/// PATCH /api/workloads/{id}: app_id (a string, or null for none), notification_url (a
/// string, or null or "" for none), webhook_require_signature (a boolean). Stricter than the
/// other readers: any other field is refused, naming it, since a typo here would silently
/// leave a webhook unprotected.
caf::expected<patch<workload>> workload_patch_from_json(const rapidjson::Value& body);

/// POST /api/projects/{id}/stages. Fields left out keep the defaults of tf::stage.
caf::expected<stage> stage_from_json(const rapidjson::Value& body);

/// PATCH /api/projects/{id}/stages/{stage}: the stage fields present.
caf::expected<patch<stage>> stage_patch_from_json(const rapidjson::Value& body);

} // namespace tf::http
