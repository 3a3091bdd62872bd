#include "http/json_admin.hpp"

#include "core/clock.hpp"
#include "core/errors.hpp"
#include "http/json_fields.hpp"

#include <chrono>
#include <cstdint>
#include <string_view>
#include <vector>

namespace tf::http {

namespace {

std::string unix_to_utc(int64_t seconds) {
  return seconds > 0 ? tf::format_utc(std::chrono::system_clock::time_point{
                         std::chrono::seconds{seconds}})
                     : std::string{};
}

void write_ports(net::json_writer& w, const char* key, const std::vector<int64_t>& ports) {
  w.Key(key);
  w.StartArray();
  for (auto p : ports)
    w.Int64(p);
  w.EndArray();
}

void write_proxy(net::json_writer& w, const proxy_listing& x) {
  w.StartObject();
  write_texts(w, {{"id", x.id}, {"host", x.host}, {"health_path", x.health_path},
                  {"kind", x.owner_kind}, {"workload_id", x.workload_id},
                  {"name", x.workload_name}, {"project_id", x.project_id},
                  {"project", x.project_id.empty() ? "" : x.workload_name},
                  {"stage_id", x.stage_id}, {"stage", x.stage_name}});
  write_ports(w, "slots", x.slots);
  write_ports(w, "serving", x.serving);
  w.Key("npm_proxy_id");
  if (x.npm_proxy_id > 0)
    w.Int64(x.npm_proxy_id);
  else
    w.Null();
  net::field(w, "updated_at", x.updated_at);
  w.EndObject();
}

void write_stale_container(net::json_writer& w, const stale_container& c) {
  w.StartObject();
  write_texts(w, {{"id", c.id}, {"name", c.name}, {"image", c.image}, {"state", c.state}});
  net::nullable(w, "workload_id", c.workload_id);
  net::field(w, "reason", c.reason);
  net::nullable(w, "created_at", unix_to_utc(c.created));
  w.EndObject();
}

void write_stale_image(net::json_writer& w, const stale_image& i) {
  w.StartObject();
  net::field(w, "id", i.id);
  net::field(w, "ref", i.ref);
  net::field(w, "size", i.size);
  net::nullable(w, "created_at", unix_to_utc(i.created));
  w.EndObject();
}

/// {"containers":[…],"images":[…]} as the members of an object already open.
void write_stale_lists(net::json_writer& w, const std::vector<stale_container>& containers,
                       const std::vector<stale_image>& images) {
  w.Key("containers");
  w.StartArray();
  for (const auto& c : containers)
    write_stale_container(w, c);
  w.EndArray();
  w.Key("images");
  w.StartArray();
  for (const auto& i : images)
    write_stale_image(w, i);
  w.EndArray();
}

} // namespace

caf::expected<patch<app>> app_patch_from_json(const rapidjson::Value& body) {
  patch<app> out;
  for (const char* key : {"name", "description"}) {
    auto m = body.FindMember(key);
    if (m == body.MemberEnd())
      continue;
    if (!m->value.IsString())
      return make_error(ec::invalid_argument, std::string{key} + ": must be a string");
    std::string text{m->value.GetString(), m->value.GetStringLength()};
    (std::string_view{key} == "name" ? out.value.name : out.value.description) = std::move(text);
    out.fields.emplace_back(key);
  }
  return out;
}

caf::expected<app> app_from_json(const rapidjson::Value& body) {
  auto a = app_patch_from_json(body);
  if (!a)
    return a.error();
  if (!a->has("name"))
    return make_error(ec::invalid_argument, "name: required");
  return std::move(a->value);
}

void write_health(net::json_writer& w, bool db_ok, bool docker_ok, const std::string& compose) {
  w.StartObject();
  net::field(w, "status", db_ok ? "ok" : "degraded");
  net::field(w, "db", db_ok ? "ok" : "unavailable");
  net::field(w, "docker", docker_ok ? "ok" : "unavailable");
  net::field(w, "compose", compose);
  w.EndObject();
}

void write_settings(net::json_writer& w, const settings_map& values) {
  w.StartObject();
  for (const auto& [key, json] : values) {
    net::write_string(w, key);
    // Values are canonical JSON texts the store checked against their definitions.
    w.RawValue(json.data(), json.size(), rapidjson::kNullType);
  }
  w.EndObject();
}

void write_app(net::json_writer& w, const app& a) {
  w.StartObject();
  write_texts(w, {{"id", a.id}, {"name", a.name}, {"description", a.description},
                  {"created_at", a.created_at}, {"updated_at", a.updated_at}});
  w.EndObject();
}

void write_proxies(net::json_writer& w, const page<proxy_listing>& p, const proxy_status& status) {
  w.StartObject();
  w.Key("provider");
  if (status.known)
    net::write_string(w, status.provider);
  else
    w.Null();
  w.Key("gated");
  if (status.known)
    w.Bool(status.gated);
  else
    w.Null();
  w.Key("items");
  w.StartArray();
  for (const auto& x : p.items)
    write_proxy(w, x);
  w.EndArray();
  net::field(w, "total", p.total);
  w.EndObject();
}

void write_stale_report(net::json_writer& w, const stale_report& r) {
  w.StartObject();
  write_stale_lists(w, r.containers, r.images);
  w.EndObject();
}

void write_prune_result(net::json_writer& w, const prune_result& r) {
  w.StartObject();
  w.Key("removed");
  w.StartObject();
  write_stale_lists(w, r.removed_containers, r.removed_images);
  w.EndObject();
  w.Key("failed");
  w.StartArray();
  for (const auto& f : r.failed) {
    w.StartObject();
    net::field(w, "kind", f.kind);
    net::field(w, "id", f.id);
    net::field(w, "error", f.error);
    w.EndObject();
  }
  w.EndArray();
  w.Key("skipped");
  w.StartArray();
  for (const auto& [kind, id] : r.not_stale) {
    w.StartObject();
    net::field(w, "kind", kind);
    net::field(w, "id", id);
    net::field(w, "reason", "not stale");
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
}

std::string prune_audit_detail(const prune_result& r) {
  return net::make_json([&](net::json_writer& w) {
    w.StartObject();
    net::field(w, "containers", static_cast<int64_t>(r.removed_containers.size()));
    net::field(w, "images", static_cast<int64_t>(r.removed_images.size()));
    net::field(w, "failed", static_cast<int64_t>(r.failed.size()));
    w.EndObject();
  });
}

} // namespace tf::http
