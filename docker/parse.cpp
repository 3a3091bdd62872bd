#include "docker/parse.hpp"

#include "core/errors.hpp"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <cstdlib>

namespace tf::docker {

namespace {

using value = rapidjson::Value;

caf::error bad(std::string_view what) {
  return make_error(ec::unavailable,
                    "docker: unexpected answer from the engine: " + std::string{what});
}

caf::expected<rapidjson::Document> parse_json(std::string_view json) {
  rapidjson::Document doc;
  // Iterative: a hostile or broken answer nested a million levels deep must not blow the
  // stack the way the recursive parser would.
  doc.Parse<rapidjson::kParseIterativeFlag>(json.data(), json.size());
  if (doc.HasParseError())
    return bad(std::string{"malformed JSON at offset "} + std::to_string(doc.GetErrorOffset())
               + ": " + rapidjson::GetParseError_En(doc.GetParseError()));
  return doc;
}

// Each reader leaves `out` as it is when the member is absent or null, and fails when
// the member has another type.
caf::error read(const value& obj, const char* key, std::string& out) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || it->value.IsNull())
    return {};
  if (!it->value.IsString())
    return bad(std::string{key} + " is not a string");
  out.assign(it->value.GetString(), it->value.GetStringLength());
  return {};
}

caf::error read(const value& obj, const char* key, int64_t& out) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || it->value.IsNull())
    return {};
  if (!it->value.IsInt64())
    return bad(std::string{key} + " is not an integer");
  out = it->value.GetInt64();
  return {};
}

caf::error read(const value& obj, const char* key, bool& out) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || it->value.IsNull())
    return {};
  if (!it->value.IsBool())
    return bad(std::string{key} + " is not a boolean");
  out = it->value.GetBool();
  return {};
}

caf::error read(const value& obj, const char* key, std::vector<std::string>& out) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || it->value.IsNull())
    return {};
  if (!it->value.IsArray())
    return bad(std::string{key} + " is not an array");
  for (const auto& x : it->value.GetArray()) {
    if (!x.IsString())
      return bad(std::string{key} + " holds a non-string");
    out.emplace_back(x.GetString(), x.GetStringLength());
  }
  return {};
}

caf::error read(const value& obj, const char* key, label_map& out) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || it->value.IsNull())
    return {};
  if (!it->value.IsObject())
    return bad(std::string{key} + " is not an object");
  for (const auto& m : it->value.GetObject()) {
    if (!m.value.IsString())
      return bad(std::string{key} + " holds a non-string value");
    out.emplace(std::string{m.name.GetString(), m.name.GetStringLength()},
                std::string{m.value.GetString(), m.value.GetStringLength()});
  }
  return {};
}

/// A nested object, or nullptr when absent or null; an error for another type.
caf::expected<const value*> object(const value& obj, const char* key) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || it->value.IsNull())
    return static_cast<const value*>(nullptr);
  if (!it->value.IsObject())
    return bad(std::string{key} + " is not an object");
  return &it->value;
}

/// Runs readers in order and stops at the first error.
template <class... Fs>
caf::error all_of(Fs&&... fs) {
  caf::error err;
  ((err ? void() : void(err = fs())), ...);
  return err;
}

caf::expected<container_summary> container_from(const value& v) {
  if (!v.IsObject())
    return bad("a container entry is not an object");
  container_summary c;
  if (auto err = all_of([&] { return read(v, "Id", c.id); },
                        [&] { return read(v, "Names", c.names); },
                        [&] { return read(v, "Image", c.image); },
                        [&] { return read(v, "ImageID", c.image_id); },
                        [&] { return read(v, "State", c.state); },
                        [&] { return read(v, "Status", c.status); },
                        [&] { return read(v, "Labels", c.labels); },
                        [&] { return read(v, "Created", c.created); }))
    return err;
  if (c.id.empty())
    return bad("a container without an Id");
  auto ports = v.FindMember("Ports");
  if (ports != v.MemberEnd() && !ports->value.IsNull()) {
    if (!ports->value.IsArray())
      return bad("Ports is not an array");
    for (const auto& p : ports->value.GetArray()) {
      if (!p.IsObject())
        return bad("a port is not an object");
      port_binding b;
      if (auto err = all_of([&] { return read(p, "PrivatePort", b.private_port); },
                            [&] { return read(p, "PublicPort", b.public_port); },
                            [&] { return read(p, "Type", b.type); },
                            [&] { return read(p, "IP", b.ip); }))
        return err;
      c.ports.push_back(std::move(b));
    }
  }
  return c;
}

caf::expected<image_summary> image_from(const value& v) {
  if (!v.IsObject())
    return bad("an image entry is not an object");
  image_summary i;
  if (auto err = all_of([&] { return read(v, "Id", i.id); },
                        [&] { return read(v, "RepoTags", i.repo_tags); },
                        [&] { return read(v, "Labels", i.labels); },
                        [&] { return read(v, "Size", i.size); }))
    return err;
  // Created is a unix time in lists and an RFC 3339 string in inspect: keep the number.
  auto created = v.FindMember("Created");
  if (created != v.MemberEnd() && created->value.IsInt64())
    i.created = created->value.GetInt64();
  if (i.id.empty())
    return bad("an image without an Id");
  return i;
}

template <class T, class F>
caf::expected<std::vector<T>> list_of(std::string_view json, F&& one) {
  auto doc = parse_json(json);
  if (!doc)
    return doc.error();
  if (!doc->IsArray())
    return bad("a list answer is not an array");
  std::vector<T> out;
  out.reserve(doc->Size());
  for (const auto& v : doc->GetArray()) {
    auto x = one(v);
    if (!x)
      return x.error();
    out.push_back(std::move(*x));
  }
  return out;
}

} // namespace

caf::expected<version_info> parse_version(std::string_view json) {
  auto doc = parse_json(json);
  if (!doc)
    return doc.error();
  if (!doc->IsObject())
    return bad("/version is not an object");
  version_info v;
  if (auto err = all_of([&] { return read(*doc, "Version", v.version); },
                        [&] { return read(*doc, "ApiVersion", v.api_version); },
                        [&] { return read(*doc, "MinAPIVersion", v.min_api_version); },
                        [&] { return read(*doc, "Os", v.os); },
                        [&] { return read(*doc, "Arch", v.arch); }))
    return err;
  if (api_version_number(v.api_version) < 0)
    return bad("ApiVersion \"" + v.api_version + "\" is not major.minor");
  return v;
}

caf::expected<std::vector<container_summary>> parse_container_list(std::string_view json) {
  return list_of<container_summary>(json, container_from);
}

caf::expected<container_details> parse_container_details(std::string_view json) {
  auto doc = parse_json(json);
  if (!doc)
    return doc.error();
  if (!doc->IsObject())
    return bad("a container inspect is not an object");
  container_details c;
  if (auto err = all_of([&] { return read(*doc, "Id", c.id); },
                        [&] { return read(*doc, "Name", c.name); },
                        [&] { return read(*doc, "Image", c.image_id); },
                        [&] { return read(*doc, "RestartCount", c.restart_count); }))
    return err;
  if (!c.name.empty() && c.name.front() == '/')
    c.name.erase(0, 1);
  auto state = object(*doc, "State");
  if (!state)
    return state.error();
  if (*state != nullptr) {
    const auto& s = **state;
    if (auto err = all_of([&] { return read(s, "Status", c.state); },
                          [&] { return read(s, "Running", c.running); },
                          [&] { return read(s, "ExitCode", c.exit_code); },
                          [&] { return read(s, "StartedAt", c.started_at); },
                          [&] { return read(s, "FinishedAt", c.finished_at); }))
      return err;
    auto health = object(s, "Health");
    if (!health)
      return health.error();
    if (*health != nullptr)
      if (auto err = read(**health, "Status", c.health))
        return err;
  }
  auto config = object(*doc, "Config");
  if (!config)
    return config.error();
  if (*config != nullptr)
    if (auto err = all_of([&] { return read(**config, "Image", c.image); },
                          [&] { return read(**config, "Labels", c.labels); },
                          [&] { return read(**config, "Env", c.env); }))
      return err;
  auto net = object(*doc, "NetworkSettings");
  if (!net)
    return net.error();
  if (*net != nullptr) {
    auto ports = object(**net, "Ports");
    if (!ports)
      return ports.error();
    if (*ports != nullptr) {
      // {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "49153"}], "9000/tcp": null}
      for (const auto& m : (*ports)->GetObject()) {
        std::string key{m.name.GetString(), m.name.GetStringLength()};
        auto slash = key.find('/');
        port_binding base;
        base.private_port = std::strtoll(key.c_str(), nullptr, 10);
        base.type = slash == std::string::npos ? "tcp" : key.substr(slash + 1);
        if (m.value.IsNull()) {
          c.ports.push_back(base);
          continue;
        }
        if (!m.value.IsArray())
          return bad("a port binding list is not an array");
        for (const auto& b : m.value.GetArray()) {
          if (!b.IsObject())
            return bad("a port binding is not an object");
          auto p = base;
          std::string host_port;
          if (auto err = all_of([&] { return read(b, "HostIp", p.ip); },
                                [&] { return read(b, "HostPort", host_port); }))
            return err;
          p.public_port = std::strtoll(host_port.c_str(), nullptr, 10);
          c.ports.push_back(std::move(p));
        }
      }
    }
  }
  if (c.id.empty())
    return bad("a container inspect without an Id");
  return c;
}

caf::expected<std::vector<image_summary>> parse_image_list(std::string_view json) {
  return list_of<image_summary>(json, image_from);
}

caf::expected<image_summary> parse_image_details(std::string_view json) {
  auto doc = parse_json(json);
  if (!doc)
    return doc.error();
  auto img = image_from(*doc);
  if (!img)
    return img.error();
  // Inspect keeps labels under Config.
  auto config = object(*doc, "Config");
  if (!config)
    return config.error();
  if (*config != nullptr)
    if (auto err = read(**config, "Labels", img->labels))
      return err;
  return img;
}

caf::expected<std::vector<network_summary>> parse_network_list(std::string_view json) {
  return list_of<network_summary>(json, [](const value& v) -> caf::expected<network_summary> {
    if (!v.IsObject())
      return bad("a network entry is not an object");
    network_summary n;
    if (auto err = all_of([&] { return read(v, "Id", n.id); },
                          [&] { return read(v, "Name", n.name); },
                          [&] { return read(v, "Driver", n.driver); },
                          [&] { return read(v, "Labels", n.labels); }))
      return err;
    if (n.id.empty())
      return bad("a network without an Id");
    return n;
  });
}

caf::expected<engine_event> parse_event(std::string_view json) {
  auto doc = parse_json(json);
  if (!doc)
    return doc.error();
  if (!doc->IsObject())
    return bad("an event is not an object");
  engine_event e;
  if (auto err = all_of([&] { return read(*doc, "Type", e.type); },
                        [&] { return read(*doc, "Action", e.action); },
                        [&] { return read(*doc, "timeNano", e.time_nano); }))
    return err;
  auto actor = object(*doc, "Actor");
  if (!actor)
    return actor.error();
  if (*actor != nullptr)
    if (auto err = all_of([&] { return read(**actor, "ID", e.id); },
                          [&] { return read(**actor, "Attributes", e.attributes); }))
      return err;
  return e;
}

caf::expected<std::string> parse_created_id(std::string_view json) {
  auto doc = parse_json(json);
  if (!doc)
    return doc.error();
  if (!doc->IsObject())
    return bad("a create answer is not an object");
  std::string id;
  if (auto err = read(*doc, "Id", id))
    return err;
  if (id.empty())
    return bad("a create answer without an Id");
  return id;
}

caf::error engine_error(long status, std::string_view body, std::string_view what) {
  std::string message;
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag>(body.data(), body.size());
  if (!doc.HasParseError() && doc.IsObject()) {
    auto it = doc.FindMember("message");
    if (it != doc.MemberEnd() && it->value.IsString())
      message.assign(it->value.GetString(), it->value.GetStringLength());
  }
  if (message.empty())
    message = std::string{body.substr(0, 200)};
  auto text = "docker: " + std::string{what} + ": " + std::to_string(status) + " " + message;
  switch (status) {
    case 400: return make_error(ec::invalid_argument, std::move(text));
    case 404: return make_error(ec::not_found, std::move(text));
    case 409: return make_error(ec::conflict, std::move(text));
    default: return make_error(ec::unavailable, std::move(text));
  }
}

int api_version_number(std::string_view v) {
  auto dot = v.find('.');
  // At most three digits on each side: no overflow, and no real version is longer.
  if (dot == std::string_view::npos || dot == 0 || dot > 3 || dot + 1 >= v.size()
      || v.size() - dot - 1 > 3)
    return -1;
  int major = 0;
  int minor = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i == dot)
      continue;
    if (v[i] < '0' || v[i] > '9')
      return -1;
    (i < dot ? major : minor) = (i < dot ? major : minor) * 10 + (v[i] - '0');
  }
  return major * 1000 + minor;
}

std::string demultiplex_logs(std::string_view raw) {
  auto framed = [](std::string_view s) {
    return s.size() >= 8 && (s[0] == 0 || s[0] == 1 || s[0] == 2) && s[1] == 0 && s[2] == 0
           && s[3] == 0;
  };
  if (!framed(raw))
    return std::string{raw}; // a TTY container: the stream is the text
  std::string out;
  while (raw.size() >= 8 && framed(raw)) {
    auto b = [&](int i) { return static_cast<uint32_t>(static_cast<unsigned char>(raw[i])); };
    size_t len = (b(4) << 24) | (b(5) << 16) | (b(6) << 8) | b(7);
    raw.remove_prefix(8);
    len = std::min(len, raw.size());
    out.append(raw.substr(0, len));
    raw.remove_prefix(len);
  }
  return out;
}

} // namespace tf::docker
