// The admin routes: settings, apps (behind features.apps_grouping), the proxy routes
// Tinyforge manages, stale Docker resources and their prune, and /metrics. Handlers ask
// the store actors, the proxy actor and the docker worker; none touches SQLite or Docker.
#include "actors/stale_scan.hpp"
#include "http/ask.hpp"
#include "http/auth.hpp"
#include "http/route_helpers.hpp"
#include "http/routes.hpp"
#include "http/server.hpp"
#include "core/clock.hpp"
#include "store/settings.hpp"

#include <httplib.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <fstream>
#include <initializer_list>
#include <memory>
#include <set>

#ifndef TINYFORGE_VERSION
#define TINYFORGE_VERSION "unknown"
#endif

namespace tf::http {

namespace {

using req_t = const httplib::Request&;
using res_t = httplib::Response&;

/// Removing a container or an image can take longer than an ordinary request.
constexpr auto removal_timeout = std::chrono::seconds{60};
/// A prune body names at most this many ids of each kind.
constexpr size_t max_prune_ids = 1000;
/// The longest id or image reference a prune body may name.
constexpr size_t max_prune_id_length = 512;

caf::error invalid(std::string message) {
  return make_error(ec::invalid_argument, std::move(message));
}

std::string unix_to_utc(int64_t seconds) {
  return seconds > 0 ? tf::format_utc(std::chrono::system_clock::time_point{
                         std::chrono::seconds{seconds}})
                     : std::string{};
}

void write_optional(net::json_writer& w, const std::string& s) {
  if (s.empty())
    w.Null();
  else
    net::write_string(w, s);
}

// -- settings -----------------------------------------------------------------------------

void write_settings(net::json_writer& w, const settings_map& values) {
  w.StartObject();
  for (const auto& [key, json] : values) {
    net::write_string(w, key);
    // Values are canonical JSON texts the store checked against their definitions.
    w.RawValue(json.data(), json.size(), rapidjson::kNullType);
  }
  w.EndObject();
}

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
      return net::make_json([&](net::json_writer& w) { net::write_string(w, {v.GetString(), v.GetStringLength()}); });
  }
  return invalid(key + ": unknown type");
}

caf::expected<settings_map> read_settings(const server_context& ctx) {
  return ask<settings_map>(*ctx.sys, ctx.store.readers->next(), ctx.request_timeout,
                           atom::get_v, atom::settings_v);
}

void get_settings(const server_context& ctx, req_t, res_t res) {
  reply(res, read_settings(ctx), 200, write_settings);
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
  auto after = ask<settings_map>(*ctx.sys, ctx.store.writer, ctx.request_timeout,
                                 atom::update_v, atom::settings_v, changes);
  if (after) {
    auto detail = net::make_json([&](net::json_writer& w) {
      w.StartObject();
      for (const auto& [key, json] : changes) {
        auto old = before->find(key);
        if (old != before->end() && old->second == json)
          continue;
        net::write_string(w, key);
        w.RawValue(json.data(), json.size(), rapidjson::kNullType);
      }
      w.EndObject();
    });
    if (detail != "{}")
      audit(ctx, req, "settings.update", "settings", "", detail);
  }
  reply(res, after, 200, write_settings);
}

// -- apps ---------------------------------------------------------------------------------

/// Apps exist for the API only while features.apps_grouping is on: otherwise every apps
/// route answers 404 as if it were not there. False when it has answered.
bool apps_enabled(const server_context& ctx, res_t res) {
  auto values = read_settings(ctx);
  if (!values) {
    render_error(res, values.error());
    return false;
  }
  if (!store::setting_is_true(*values, store::setting::apps_grouping)) {
    render_error(res, 404, "not_found",
                 "apps are turned off (setting features.apps_grouping is false)");
    return false;
  }
  return true;
}

void write_app(net::json_writer& w, const app& a) {
  w.StartObject();
  w.Key("id");
  net::write_string(w, a.id);
  w.Key("name");
  net::write_string(w, a.name);
  w.Key("description");
  net::write_string(w, a.description);
  w.Key("created_at");
  net::write_string(w, a.created_at);
  w.Key("updated_at");
  net::write_string(w, a.updated_at);
  w.EndObject();
}

/// Reads name and description where present; `fields` gets the names read.
caf::error read_app_fields(const rapidjson::Value& body, app& a, std::vector<std::string>& fields) {
  for (const char* key : {"name", "description"}) {
    auto m = body.FindMember(key);
    if (m == body.MemberEnd())
      continue;
    if (!m->value.IsString())
      return invalid(std::string{key} + ": must be a string");
    std::string text{m->value.GetString(), m->value.GetStringLength()};
    (std::string_view{key} == "name" ? a.name : a.description) = std::move(text);
    fields.emplace_back(key);
  }
  return {};
}

void list_apps(const server_context& ctx, req_t req, res_t res) {
  if (!apps_enabled(ctx, res))
    return;
  auto q = parse_page(req);
  if (!q)
    return render_error(res, q.error());
  auto p = ask<page<app>>(*ctx.sys, ctx.store.readers->next(), ctx.request_timeout,
                          atom::list_v, atom::app_v, q->limit, q->offset);
  reply(res, p, 200, [](net::json_writer& w, const page<app>& x) {
    w.StartObject();
    w.Key("items");
    w.StartArray();
    for (const auto& a : x.items)
      write_app(w, a);
    w.EndArray();
    w.Key("total");
    w.Int64(x.total);
    w.EndObject();
  });
}

void create_app(const server_context& ctx, req_t req, res_t res) {
  if (!apps_enabled(ctx, res))
    return;
  auto body = parse_body(req);
  if (!body)
    return render_error(res, body.error());
  app a;
  std::vector<std::string> fields;
  if (auto err = read_app_fields(*body, a, fields))
    return render_error(res, err);
  if (!body->HasMember("name"))
    return render_error(res, invalid("name: required"));
  auto stored = ask<app>(*ctx.sys, ctx.store.writer, ctx.request_timeout, atom::create_v,
                         std::move(a));
  if (stored)
    audit(ctx, req, "app.create", "app", stored->id);
  reply(res, stored, 201, write_app);
}

void get_app(const server_context& ctx, req_t req, res_t res) {
  if (!apps_enabled(ctx, res))
    return;
  auto a = ask<app>(*ctx.sys, ctx.store.readers->next(), ctx.request_timeout, atom::get_v,
                    atom::app_v, std::string{req.matches[1]});
  reply(res, a, 200, write_app);
}

void update_app(const server_context& ctx, req_t req, res_t res) {
  if (!apps_enabled(ctx, res))
    return;
  auto body = parse_body(req);
  if (!body)
    return render_error(res, body.error());
  patch<app> change;
  change.id = req.matches[1];
  if (auto err = read_app_fields(*body, change.value, change.fields))
    return render_error(res, err);
  auto stored = ask<app>(*ctx.sys, ctx.store.writer, ctx.request_timeout, atom::update_v,
                         std::move(change));
  if (stored)
    audit(ctx, req, "app.update", "app", stored->id);
  reply(res, stored, 200, write_app);
}

void delete_app(const server_context& ctx, req_t req, res_t res) {
  if (!apps_enabled(ctx, res))
    return;
  auto done = ask<atom::ok>(*ctx.sys, ctx.store.writer, ctx.request_timeout, atom::erase_v,
                            atom::app_v, std::string{req.matches[1]});
  if (done)
    audit(ctx, req, "app.delete", "app", req.matches[1]);
  reply_no_content(res, done);
}

// -- proxies ------------------------------------------------------------------------------

struct proxy_status {
  bool known = false;
  std::string provider;
  bool gated = false;
};

/// The proxy actor's provider and gate; unknown when it is not running or does not answer
/// (the routes the store keeps are listed all the same).
proxy_status ask_proxy_status(const server_context& ctx) {
  proxy_status out;
  if (!ctx.proxy)
    return out;
  caf::scoped_actor self{*ctx.sys};
  self->request(ctx.proxy, ctx.request_timeout, atom::status_v)
    .receive(
      [&](std::string& provider, bool gated) {
        out = proxy_status{true, std::move(provider), gated};
      },
      [](caf::error&) {});
  return out;
}

void write_ports(net::json_writer& w, const std::vector<int64_t>& ports) {
  w.StartArray();
  for (auto p : ports)
    w.Int64(p);
  w.EndArray();
}

void write_proxy(net::json_writer& w, const proxy_listing& x) {
  w.StartObject();
  w.Key("id");
  net::write_string(w, x.id);
  w.Key("host");
  net::write_string(w, x.host);
  w.Key("health_path");
  net::write_string(w, x.health_path);
  w.Key("project_id");
  net::write_string(w, x.project_id);
  w.Key("project");
  net::write_string(w, x.project_name);
  w.Key("stage_id");
  net::write_string(w, x.stage_id);
  w.Key("stage");
  net::write_string(w, x.stage_name);
  w.Key("slots");
  write_ports(w, x.slots);
  w.Key("serving");
  write_ports(w, x.serving);
  w.Key("npm_proxy_id");
  if (x.npm_proxy_id > 0)
    w.Int64(x.npm_proxy_id);
  else
    w.Null();
  w.Key("updated_at");
  net::write_string(w, x.updated_at);
  w.EndObject();
}

void list_proxies(const server_context& ctx, req_t req, res_t res) {
  auto q = parse_page(req);
  if (!q)
    return render_error(res, q.error());
  auto p = ask<page<proxy_listing>>(*ctx.sys, ctx.store.readers->next(), ctx.request_timeout,
                                    atom::list_v, atom::proxy_v, q->limit, q->offset);
  if (!p)
    return render_error(res, p.error());
  auto status = ask_proxy_status(ctx);
  reply_json(res, 200, net::make_json([&](net::json_writer& w) {
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
               for (const auto& x : p->items)
                 write_proxy(w, x);
               w.EndArray();
               w.Key("total");
               w.Int64(p->total);
               w.EndObject();
             }));
}

// -- stale resources ----------------------------------------------------------------------

/// A fresh scan: every container and image the engine has, against what the store tracks.
caf::expected<stale_report> scan_stale(const server_context& ctx) {
  if (!ctx.docker)
    return make_error(ec::unavailable, "Docker is not connected");
  // Docker first: a store snapshot taken after the lists can only know more (a container
  // recorded meanwhile is then tracked), never less.
  auto containers = ask<std::vector<docker::container_summary>>(
    *ctx.sys, ctx.docker, ctx.request_timeout, atom::list_v, atom::container_v, docker::filters{});
  if (!containers)
    return containers.error();
  auto images = ask<std::vector<docker::image_summary>>(*ctx.sys, ctx.docker, ctx.request_timeout,
                                                        atom::list_v, atom::image_v,
                                                        docker::filters{});
  if (!images)
    return images.error();
  auto tracked = ask<tracked_resources>(*ctx.sys, ctx.store.readers->next(), ctx.request_timeout,
                                        atom::get_v, atom::stale_v);
  if (!tracked)
    return tracked.error();
  stale_rules rules;
  rules.now_unix = static_cast<int64_t>(std::time(nullptr));
  return find_stale(*tracked, *containers, *images, rules);
}

void write_stale_container(net::json_writer& w, const stale_container& c) {
  w.StartObject();
  w.Key("id");
  net::write_string(w, c.id);
  w.Key("name");
  net::write_string(w, c.name);
  w.Key("image");
  net::write_string(w, c.image);
  w.Key("state");
  net::write_string(w, c.state);
  w.Key("workload_id");
  write_optional(w, c.workload_id);
  w.Key("reason");
  net::write_string(w, c.reason);
  w.Key("created_at");
  write_optional(w, unix_to_utc(c.created));
  w.EndObject();
}

void write_stale_image(net::json_writer& w, const stale_image& i) {
  w.StartObject();
  w.Key("id");
  net::write_string(w, i.id);
  w.Key("ref");
  net::write_string(w, i.ref);
  w.Key("size");
  w.Int64(i.size);
  w.Key("created_at");
  write_optional(w, unix_to_utc(i.created));
  w.EndObject();
}

void get_stale(const server_context& ctx, req_t, res_t res) {
  reply(res, scan_stale(ctx), 200, [](net::json_writer& w, const stale_report& r) {
    w.StartObject();
    w.Key("containers");
    w.StartArray();
    for (const auto& c : r.containers)
      write_stale_container(w, c);
    w.EndArray();
    w.Key("images");
    w.StartArray();
    for (const auto& i : r.images)
      write_stale_image(w, i);
    w.EndArray();
    w.EndObject();
  });
}

caf::error read_id_list(const rapidjson::Value& body, const char* key,
                        std::vector<std::string>& out) {
  auto m = body.FindMember(key);
  if (m == body.MemberEnd())
    return {};
  if (!m->value.IsArray())
    return invalid(std::string{key} + ": must be an array of ids");
  if (m->value.Size() > max_prune_ids)
    return invalid(std::string{key} + ": at most " + std::to_string(max_prune_ids) + " ids");
  for (const auto& v : m->value.GetArray()) {
    if (!v.IsString() || v.GetStringLength() == 0 || v.GetStringLength() > max_prune_id_length)
      return invalid(std::string{key} + ": every id must be a non-empty string of at most "
                     + std::to_string(max_prune_id_length) + " characters");
    out.emplace_back(v.GetString(), v.GetStringLength());
  }
  return {};
}

/// No body: everything the scan finds. A body: only the ids it lists ("containers",
/// "images"; a kind left out is not pruned). Other members are refused, so a misspelt
/// key never widens or silently empties a prune.
caf::expected<prune_selection> read_prune_body(req_t req) {
  prune_selection sel;
  auto blank = std::all_of(req.body.begin(), req.body.end(), [](char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
  });
  if (blank)
    return sel;
  auto body = parse_body(req);
  if (!body)
    return body.error();
  for (const auto& m : body->GetObject()) {
    std::string_view key{m.name.GetString(), m.name.GetStringLength()};
    if (key != "containers" && key != "images")
      return invalid(std::string{key.substr(0, 80)}
                     + ": unknown field (a prune body has \"containers\" and \"images\")");
  }
  sel.everything = false;
  if (auto err = read_id_list(*body, "containers", sel.containers))
    return err;
  if (auto err = read_id_list(*body, "images", sel.images))
    return err;
  return sel;
}

void prune_stale(const server_context& ctx, req_t req, res_t res) {
  auto selection = read_prune_body(req);
  if (!selection)
    return render_error(res, selection.error());
  auto report = scan_stale(ctx);
  if (!report)
    return render_error(res, report.error());
  auto plan = plan_prune(*report, *selection);
  struct failure {
    std::string kind, id, error;
  };
  std::vector<stale_container> removed_containers;
  std::vector<stale_image> removed_images;
  std::vector<failure> failed;
  for (const auto& c : plan.containers) {
    auto done = ask<atom::ok>(*ctx.sys, ctx.docker, removal_timeout, atom::erase_v,
                              atom::container_v, c.id);
    if (done)
      removed_containers.push_back(c);
    else
      failed.push_back({"container", c.id, error_message(done.error())});
  }
  // Containers first: an image a removed container held is free afterwards (the scan only
  // lists images no container uses, but a stale container may have been started meanwhile).
  for (const auto& i : plan.images) {
    auto done = ask<atom::ok>(*ctx.sys, ctx.docker, removal_timeout, atom::erase_v,
                              atom::image_v, i.ref);
    if (done)
      removed_images.push_back(i);
    else
      failed.push_back({"image", i.ref, error_message(done.error())});
  }
  if (!removed_containers.empty() || !removed_images.empty())
    audit(ctx, req, "stale.prune", "docker", "",
          net::make_json([&](net::json_writer& w) {
            w.StartObject();
            w.Key("containers");
            w.Int64(static_cast<int64_t>(removed_containers.size()));
            w.Key("images");
            w.Int64(static_cast<int64_t>(removed_images.size()));
            w.Key("failed");
            w.Int64(static_cast<int64_t>(failed.size()));
            w.EndObject();
          }));
  reply_json(res, 200, net::make_json([&](net::json_writer& w) {
               w.StartObject();
               w.Key("removed");
               w.StartObject();
               w.Key("containers");
               w.StartArray();
               for (const auto& c : removed_containers)
                 write_stale_container(w, c);
               w.EndArray();
               w.Key("images");
               w.StartArray();
               for (const auto& i : removed_images)
                 write_stale_image(w, i);
               w.EndArray();
               w.EndObject();
               w.Key("failed");
               w.StartArray();
               for (const auto& f : failed) {
                 w.StartObject();
                 w.Key("kind");
                 net::write_string(w, f.kind);
                 w.Key("id");
                 net::write_string(w, f.id);
                 w.Key("error");
                 net::write_string(w, f.error);
                 w.EndObject();
               }
               w.EndArray();
               w.Key("skipped");
               w.StartArray();
               for (const auto& [kind, id] : plan.not_stale) {
                 w.StartObject();
                 w.Key("kind");
                 net::write_string(w, kind);
                 w.Key("id");
                 net::write_string(w, id);
                 w.Key("reason");
                 w.String("not stale");
                 w.EndObject();
               }
               w.EndArray();
               w.EndObject();
             }));
}

// -- metrics ------------------------------------------------------------------------------

/// A Prometheus label value: backslash, double quote and newline escaped.
std::string label_value(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"')
      out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

/// Resident memory from /proc/self/statm (pages), in bytes; -1 when unreadable.
int64_t resident_bytes() {
  std::ifstream statm{"/proc/self/statm"};
  int64_t size = 0;
  int64_t resident = 0;
  if (!(statm >> size >> resident) || resident < 0)
    return -1;
  return resident * static_cast<int64_t>(::sysconf(_SC_PAGESIZE));
}

class prom_text {
public:
  void family(const char* name, const char* type, const char* help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  void sample(const std::string& name_and_labels, double value) {
    out_ += name_and_labels;
    out_ += ' ';
    auto whole = static_cast<int64_t>(value);
    out_ += static_cast<double>(whole) == value ? std::to_string(whole) : std::to_string(value);
    out_ += '\n';
  }
  std::string take() { return std::move(out_); }

private:
  std::string out_;
};

/// Every value of a labelled count, with zeros for the known values not counted.
void counts_with_zeros(prom_text& t, const std::string& name, const char* label,
                       const std::vector<labelled_count>& xs,
                       std::initializer_list<const char*> known) {
  std::set<std::string> seen;
  for (const auto& x : xs) {
    seen.insert(x.first);
    t.sample(name + "{" + label + "=\"" + label_value(x.first) + "\"}",
             static_cast<double>(x.count));
  }
  for (const auto* k : known)
    if (seen.count(k) == 0)
      t.sample(name + "{" + label + "=\"" + k + "\"}", 0);
}

void get_metrics(const server_context& ctx, std::chrono::steady_clock::time_point started,
                 req_t, res_t res) {
  auto m = ask<store_metrics>(*ctx.sys, ctx.store.readers->next(), ctx.request_timeout,
                              atom::get_v, atom::metrics_v);
  if (!m)
    return render_error(res, m.error());
  auto docker = ask<std::string>(*ctx.sys, ctx.reconciler, ctx.request_timeout, atom::status_v);
  prom_text t;
  t.family("tinyforge_build_info", "gauge", "The running build; the value is always 1.");
  t.sample(std::string{"tinyforge_build_info{version=\""} + label_value(TINYFORGE_VERSION) + "\"}",
           1);
  t.family("tinyforge_uptime_seconds", "gauge", "Seconds since the HTTP server started.");
  auto up = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  t.sample("tinyforge_uptime_seconds", static_cast<double>(static_cast<int64_t>(up)));
  auto rss = resident_bytes();
  if (rss >= 0) {
    t.family("process_resident_memory_bytes", "gauge", "Resident memory of the daemon.");
    t.sample("process_resident_memory_bytes", static_cast<double>(rss));
  }
  t.family("tinyforge_docker_up", "gauge", "1 when the Docker engine answered last, else 0.");
  t.sample("tinyforge_docker_up", docker && *docker == "ok" ? 1 : 0);
  t.family("tinyforge_workloads", "gauge", "Projects, stacks and sites.");
  t.sample("tinyforge_workloads", static_cast<double>(m->workloads));
  t.family("tinyforge_apps", "gauge", "Apps (groups of workloads).");
  t.sample("tinyforge_apps", static_cast<double>(m->apps));
  t.family("tinyforge_containers", "gauge", "Rows of the containers index by kind and state.");
  for (const auto& c : m->containers)
    t.sample("tinyforge_containers{kind=\"" + label_value(c.first) + "\",state=\""
               + label_value(c.second) + "\"}",
             static_cast<double>(c.count));
  t.family("tinyforge_deployments", "gauge", "Deployments kept, by status.");
  counts_with_zeros(t, "tinyforge_deployments", "status", m->deployments,
                    {"queued", "running", "succeeded", "failed", "superseded"});
  t.family("tinyforge_webhook_deliveries", "gauge",
           "Webhook deliveries kept in the log, by result.");
  counts_with_zeros(t, "tinyforge_webhook_deliveries", "result", m->deliveries,
                    {"accepted", "duplicate", "rejected", "ignored", "unchanged"});
  res.status = 200;
  res.set_content(t.take(), "text/plain; version=0.0.4; charset=utf-8");
}

} // namespace

void install_admin_routes(route_table& http, const server_context& ctx) {
  auto bind = [&ctx](void (*handler)(const server_context&, req_t, res_t)) {
    return [&ctx, handler](req_t req, res_t res) { handler(ctx, req, res); };
  };
  const std::string one_app = R"(/api/apps/([^/]+))";
  http.Get("/api/settings", bind(get_settings));
  http.Patch("/api/settings", bind(patch_settings));
  http.Get("/api/apps", bind(list_apps));
  http.Post("/api/apps", bind(create_app));
  http.Get(one_app, bind(get_app));
  http.Patch(one_app, bind(update_app));
  http.Delete(one_app, bind(delete_app));
  http.Get("/api/proxies", bind(list_proxies));
  http.Get("/api/stale", bind(get_stale));
  http.Post("/api/stale/prune", bind(prune_stale));
}

void install_metrics_route(route_table& http, const server_context& ctx) {
  auto started = std::chrono::steady_clock::now();
  http.Get("/metrics", [&ctx, started](req_t req, res_t res) {
    get_metrics(ctx, started, req, res);
  });
}

} // namespace tf::http
