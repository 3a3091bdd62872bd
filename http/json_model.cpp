#include "http/json_model.hpp"

#include "core/errors.hpp"
#include "http/json_fields.hpp"
#include "net/container_json.hpp"
#include "store/notifications.hpp"

#include <algorithm>
#include <string>
#include <vector>

namespace tf::http {

namespace {

// -- writing ------------------------------------------------------------------------------

void write_env(net::json_writer& w, const env_map& env) {
  w.StartObject();
  for (const auto& [k, v] : env) {
    w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
    net::write_string(w, v);
  }
  w.EndObject();
}

// -- reading ------------------------------------------------------------------------------

/// At most `max` bytes of `s` for an error message, cut on a UTF-8 character boundary so the
/// JSON answer stays valid UTF-8.
std::string clip(const std::string& s, size_t max) {
  if (s.size() <= max)
    return s;
  auto cut = max;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80)
    --cut;
  return s.substr(0, cut) + "...";
}

const char* type_name(const rapidjson::Value& v) {
  switch (v.GetType()) {
    case rapidjson::kNullType: return "null";
    case rapidjson::kFalseType:
    case rapidjson::kTrueType: return "a boolean";
    case rapidjson::kObjectType: return "an object";
    case rapidjson::kArrayType: return "an array";
    case rapidjson::kStringType: return "a string";
    case rapidjson::kNumberType: return "a number";
  }
  return "a value";
}

/// Reads the known members of one JSON object, keeps the first type error, and records
/// which fields were present (what a patch changes).
class field_reader {
public:
  field_reader(const rapidjson::Value& obj, std::string prefix)
    : obj_{obj}, prefix_{std::move(prefix)} {}

  void string(const char* key, std::string& out) {
    if (const auto* v = find(key)) {
      if (!v->IsString())
        return wrong_type(key, "a string", *v);
      out.assign(v->GetString(), v->GetStringLength());
      present_.emplace_back(key);
    }
  }

  void integer(const char* key, int64_t& out) {
    if (const auto* v = find(key)) {
      // 8080.0 or 1e3 are numbers but not integers: a port of 8080.5 is a mistake to name.
      if (!v->IsInt64())
        return wrong_type(key, "an integer", *v);
      out = v->GetInt64();
      present_.emplace_back(key);
    }
  }

  void env(const char* key, env_map& out) {
    if (const auto* v = find(key)) {
      if (!v->IsObject())
        return wrong_type(key, "an object of strings", *v);
      env_map read;
      for (const auto& m : v->GetObject()) {
        std::string name{m.name.GetString(), m.name.GetStringLength()};
        if (!m.value.IsString())
          return wrong_type(std::string{key} + "." + name.substr(0, 64), "a string", m.value);
        read[name].assign(m.value.GetString(), m.value.GetStringLength());
      }
      out = std::move(read);
      present_.emplace_back(key);
    }
  }

  /// A member that is present and must be an array; null when absent.
  const rapidjson::Value* array(const char* key) {
    const auto* v = find(key);
    if (v && !v->IsArray()) {
      wrong_type(key, "an array", *v);
      return nullptr;
    }
    return v;
  }

  caf::error& error() { return error_; }
  std::vector<std::string>& present() { return present_; }

private:
  const rapidjson::Value* find(const char* key) const {
    if (error_)
      return nullptr;
    auto it = obj_.FindMember(key);
    return it == obj_.MemberEnd() ? nullptr : &it->value;
  }

  void wrong_type(const std::string& key, const char* expected, const rapidjson::Value& got) {
    error_ = make_error(ec::invalid_argument, prefix_ + key + ": must be " + expected
                                                + ", got " + type_name(got));
  }

  const rapidjson::Value& obj_;
  std::string prefix_;
  caf::error error_;
  std::vector<std::string> present_;
};

void read_stage(field_reader& r, stage& s) {
  r.string("name", s.name);
  r.string("subdomain", s.subdomain);
  r.integer("port", s.port);
  r.integer("instances", s.instances);
  r.env("env", s.env);
  r.string("health_path", s.health_path);
  r.integer("health_timeout_ms", s.health_timeout_ms);
  r.integer("health_interval_ms", s.health_interval_ms);
  r.integer("memory_limit_bytes", s.memory_limit_bytes);
  r.integer("cpu_limit_millis", s.cpu_limit_millis);
  r.string("restart_policy", s.restart_policy);
}

caf::expected<stage> read_stage_at(const rapidjson::Value& v, const std::string& prefix) {
  if (!v.IsObject())
    return make_error(ec::invalid_argument,
                      (prefix.empty() ? std::string{"the body"} : prefix.substr(0, prefix.size() - 1))
                        + ": must be an object, got " + type_name(v));
  field_reader r{v, prefix};
  stage s;
  read_stage(r, s);
  if (r.error())
    return std::move(r.error());
  return s;
}

} // namespace

// -- rows to JSON -------------------------------------------------------------------------

void write_stage(net::json_writer& w, const stage& s) {
  w.StartObject();
  write_texts(w, {{"id", s.id}, {"project_id", s.project_id}, {"name", s.name}});
  net::nullable(w, "subdomain", s.subdomain);
  net::field(w, "port", s.port);
  net::field(w, "instances", s.instances);
  w.Key("env");
  write_env(w, s.env);
  net::field(w, "health_path", s.health_path);
  net::field(w, "health_timeout_ms", s.health_timeout_ms);
  net::field(w, "health_interval_ms", s.health_interval_ms);
  net::field(w, "memory_limit_bytes", s.memory_limit_bytes);
  net::field(w, "cpu_limit_millis", s.cpu_limit_millis);
  net::field(w, "restart_policy", s.restart_policy);
  write_optional_texts(w, {{"current_tag", s.current_tag}, {"previous_tag", s.previous_tag}});
  write_texts(w, {{"created_at", s.created_at}, {"updated_at", s.updated_at}});
  w.EndObject();
}

void write_project(net::json_writer& w, const project& p) {
  w.StartObject();
  write_texts(w, {{"id", p.id}, {"name", p.name}, {"image", p.image},
                  {"workload_id", p.workload_id}});
  net::nullable(w, "webhook_url", webhook_path(p.webhook_secret));
  w.Key("stages");
  w.StartArray();
  for (const auto& s : p.stages)
    write_stage(w, s);
  w.EndArray();
  write_texts(w, {{"created_at", p.created_at}, {"updated_at", p.updated_at}});
  w.EndObject();
}

void write_stack(net::json_writer& w, const stack& s) {
  w.StartObject();
  write_texts(w, {{"id", s.id}, {"name", s.name}, {"workload_id", s.workload_id},
                  {"compose", s.compose}, {"compose_project_name", s.compose_project_name}});
  w.Key("env");
  write_env(w, s.env);
  net::nullable(w, "route_service", s.route_service);
  w.Key("route_port");
  if (s.route_port > 0)
    w.Int64(s.route_port);
  else
    w.Null();
  net::nullable(w, "subdomain", s.subdomain);
  write_texts(w, {{"created_at", s.created_at}, {"updated_at", s.updated_at}});
  w.EndObject();
}

void write_site(net::json_writer& w, const site& s) {
  w.StartObject();
  write_texts(w, {{"id", s.id}, {"name", s.name}, {"workload_id", s.workload_id}});
  net::nullable(w, "subdomain", s.subdomain);
  w.Key("keep_releases");
  w.Int64(s.keep_releases);
  net::nullable(w, "current_release", s.current_release);
  write_texts(w, {{"created_at", s.created_at}, {"updated_at", s.updated_at}});
  w.EndObject();
}

void write_container(net::json_writer& w, const container_row& c) {
  // The list is written by the store reader from the same shape (net/container_json.hpp).
  net::write_container_fields(w, net::view_of(c));
}

std::string webhook_path(const std::string& webhook_secret) {
  return webhook_secret.empty() ? std::string{} : "/api/webhooks/" + webhook_secret;
}

namespace {

void write_workload_fields(net::json_writer& w, const workload& x) {
  write_texts(w, {{"id", x.id}, {"kind", x.kind}, {"name", x.name}, {"ref_id", x.ref_id}});
  // Credentials and the query string (an API key) are the receiver's secrets: no answer
  // shows them, as the attempts list does not (one function for both).
  write_optional_texts(w, {{"app_id", x.app_id},
                           {"notification_url", store::redact_url(x.notification_url)}});
  w.Key("webhook_require_signature");
  w.Bool(x.webhook_require_signature);
  net::nullable(w, "webhook_url", webhook_path(x.webhook_secret));
  w.Key("has_signing_secret");
  w.Bool(!x.webhook_signing_secret.empty());
  w.Key("has_notification_secret");
  w.Bool(!x.notification_secret.empty());
  net::field(w, "created_at", x.created_at);
  net::field(w, "updated_at", x.updated_at);
}

} // namespace

void write_workload(net::json_writer& w, const workload& x) {
  w.StartObject();
  write_workload_fields(w, x);
  w.EndObject();
}

void write_workload_with_secrets(net::json_writer& w, const workload& x) {
  w.StartObject();
  write_workload_fields(w, x);
  net::field(w, "webhook_signing_secret", x.webhook_signing_secret);
  net::field(w, "notification_secret", x.notification_secret);
  w.EndObject();
}

void write_queued(net::json_writer& w, const stage_deploy_claimed& c) {
  w.StartObject();
  net::field(w, "deployment_id", c.queued.id);
  net::field(w, "status", c.unchanged ? std::string{"unchanged"} : c.queued.status);
  if (c.unchanged)
    net::field(w, "reason", c.reason);
  w.EndObject();
}

std::string fields_audit_detail(const std::vector<std::string>& fields) {
  return net::make_json([&](net::json_writer& w) {
    w.StartObject();
    w.Key("fields");
    w.StartArray();
    for (const auto& f : fields)
      net::write_string(w, f);
    w.EndArray();
    w.EndObject();
  });
}

// -- JSON to rows -------------------------------------------------------------------------

caf::expected<project> project_from_json(const rapidjson::Value& body) {
  field_reader r{body, ""};
  project p;
  r.string("name", p.name);
  r.string("image", p.image);
  const auto* stages = r.array("stages");
  if (r.error())
    return std::move(r.error());
  if (stages != nullptr) {
    // The store allows 32; refusing more here keeps a large body from building more rows.
    if (stages->Size() > 32)
      return make_error(ec::invalid_argument, "stages: at most 32 stages");
    for (rapidjson::SizeType i = 0; i < stages->Size(); ++i) {
      auto s = read_stage_at((*stages)[i], "stages[" + std::to_string(i) + "].");
      if (!s)
        return s.error();
      p.stages.push_back(std::move(*s));
    }
  }
  return p;
}

caf::expected<stack> stack_from_json(const rapidjson::Value& body) {
  field_reader r{body, ""};
  stack s;
  r.string("name", s.name);
  r.string("compose", s.compose);
  r.env("env", s.env);
  r.string("route_service", s.route_service);
  r.integer("route_port", s.route_port);
  r.string("subdomain", s.subdomain);
  if (r.error())
    return std::move(r.error());
  return s;
}

caf::expected<patch<stack>> stack_patch_from_json(const rapidjson::Value& body) {
  field_reader r{body, ""};
  patch<stack> p;
  r.string("name", p.value.name);
  r.string("compose", p.value.compose);
  r.env("env", p.value.env);
  r.string("route_service", p.value.route_service);
  r.integer("route_port", p.value.route_port);
  r.string("subdomain", p.value.subdomain);
  if (r.error())
    return std::move(r.error());
  p.fields = std::move(r.present());
  return p;
}

caf::expected<site> site_from_json(const rapidjson::Value& body) {
  field_reader r{body, ""};
  site s;
  r.string("name", s.name);
  r.string("subdomain", s.subdomain);
  r.integer("keep_releases", s.keep_releases);
  if (r.error())
    return std::move(r.error());
  return s;
}

caf::expected<patch<site>> site_patch_from_json(const rapidjson::Value& body) {
  field_reader r{body, ""};
  patch<site> p;
  r.string("name", p.value.name);
  r.string("subdomain", p.value.subdomain);
  r.integer("keep_releases", p.value.keep_releases);
  if (r.error())
    return std::move(r.error());
  p.fields = std::move(r.present());
  return p;
}

caf::expected<patch<project>> project_patch_from_json(const rapidjson::Value& body) {
  field_reader r{body, ""};
  patch<project> p;
  r.string("name", p.value.name);
  r.string("image", p.value.image);
  if (r.error())
    return std::move(r.error());
  p.fields = std::move(r.present());
  return p;
}

caf::expected<patch<workload>> workload_patch_from_json(const rapidjson::Value& body) {
  if (!body.IsObject())
    return make_error(ec::invalid_argument, std::string{"the body: must be an object, got "}
                                              + type_name(body));
  patch<workload> p;
  for (const auto& m : body.GetObject()) {
    std::string key{m.name.GetString(), m.name.GetStringLength()};
    const auto& v = m.value;
    if (std::find(p.fields.begin(), p.fields.end(), key) != p.fields.end())
      return make_error(ec::invalid_argument, key + ": given twice");
    auto wrong = [&](const char* expected) {
      return make_error(ec::invalid_argument,
                        key + ": must be " + expected + ", got " + type_name(v));
    };
    if (key == "app_id") {
      if (v.IsNull()) {
        p.value.app_id.clear();
      } else if (v.IsString() && v.GetStringLength() > 0) {
        if (v.GetStringLength() > 128)
          return make_error(ec::invalid_argument, "app_id: at most 128 characters");
        p.value.app_id.assign(v.GetString(), v.GetStringLength());
      } else {
        return wrong("an app id or null");
      }
    } else if (key == "notification_url") {
      if (v.IsString())
        p.value.notification_url.assign(v.GetString(), v.GetStringLength());
      else if (!v.IsNull())
        return wrong("a URL string or null");
      // The store checks the URL itself (scheme, length, no whitespace).
    } else if (key == "webhook_require_signature") {
      if (!v.IsBool())
        return wrong("a boolean");
      p.value.webhook_require_signature = v.GetBool();
    } else {
      return make_error(ec::invalid_argument,
                        clip(key, 64)
                          + ": unknown field (a workload's app_id, notification_url and "
                            "webhook_require_signature can be changed)");
    }
    p.fields.push_back(std::move(key));
  }
  return p;
}

caf::expected<stage> stage_from_json(const rapidjson::Value& body) {
  return read_stage_at(body, "");
}

caf::expected<patch<stage>> stage_patch_from_json(const rapidjson::Value& body) {
  field_reader r{body, ""};
  patch<stage> p;
  read_stage(r, p.value);
  if (r.error())
    return std::move(r.error());
  p.fields = std::move(r.present());
  return p;
}

} // namespace tf::http
