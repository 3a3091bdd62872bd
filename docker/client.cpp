#include "docker/client.hpp"

#include "core/errors.hpp"
#include "docker/line_splitter.hpp"
#include "net/json.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>

namespace tf::docker {

namespace {

/// The engine's answer read by `parse`, or the error that came instead of an answer.
template <class T>
caf::expected<T> parsed(caf::expected<std::string> body,
                        caf::expected<T> (*parse)(std::string_view)) {
  if (!body)
    return body.error();
  return parse(*body);
}

/// `path` with the engine's `filters` query parameter when there are any; `separator` is '?'
/// or '&', whichever the path needs.
std::string with_filters(std::string path, char separator, const filters& f) {
  if (!f.empty())
    path += separator + std::string{"filters="} + url_encode(filters_json(f));
  return path;
}

void write_strings(net::json_writer& w, const std::vector<std::string>& xs) {
  w.StartArray();
  for (const auto& x : xs)
    net::write_string(w, x);
  w.EndArray();
}

void write_labels(net::json_writer& w, const label_map& labels) {
  w.StartObject();
  for (const auto& [k, v] : labels) {
    net::write_string(w, k);
    net::write_string(w, v);
  }
  w.EndObject();
}

std::string create_body(const container_spec& spec) {
  rapidjson::StringBuffer buf;
  net::json_writer w{buf};
  w.StartObject();
  w.Key("Image");
  net::write_string(w, spec.image);
  if (!spec.entrypoint.empty()) {
    w.Key("Entrypoint");
    write_strings(w, spec.entrypoint);
  }
  if (!spec.cmd.empty()) {
    w.Key("Cmd");
    write_strings(w, spec.cmd);
  }
  w.Key("Env");
  write_strings(w, spec.env);
  w.Key("Labels");
  write_labels(w, spec.labels);
  auto port_key = std::to_string(spec.container_port) + "/tcp";
  if (spec.container_port > 0) {
    w.Key("ExposedPorts");
    w.StartObject();
    net::write_string(w, port_key);
    w.StartObject();
    w.EndObject();
    w.EndObject();
  }
  w.Key("HostConfig");
  w.StartObject();
  if (spec.container_port > 0) {
    w.Key("PortBindings");
    w.StartObject();
    net::write_string(w, port_key);
    w.StartArray();
    w.StartObject();
    w.Key("HostIp");
    net::write_string(w, spec.host_ip);
    w.Key("HostPort");
    net::write_string(w, spec.host_port > 0 ? std::to_string(spec.host_port) : std::string{});
    w.EndObject();
    w.EndArray();
    w.EndObject();
  }
  if (!spec.binds.empty()) {
    w.Key("Binds");
    write_strings(w, spec.binds);
  }
  if (spec.memory_bytes > 0) {
    w.Key("Memory");
    w.Int64(spec.memory_bytes);
  }
  if (spec.nano_cpus > 0) {
    w.Key("NanoCpus");
    w.Int64(spec.nano_cpus);
  }
  if (!spec.restart_policy.empty()) {
    w.Key("RestartPolicy");
    w.StartObject();
    w.Key("Name");
    net::write_string(w, spec.restart_policy == "no" ? "" : spec.restart_policy);
    w.EndObject();
  }
  if (!spec.network.empty()) {
    w.Key("NetworkMode");
    net::write_string(w, spec.network);
  }
  w.EndObject();
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

/// An image reference as a path segment: the engine reads the '/' of a repository
/// (team/api) as part of the name, so each component is encoded but not the slashes.
std::string image_path(std::string_view ref) {
  std::string out;
  size_t start = 0;
  while (true) {
    auto slash = ref.find('/', start);
    out += url_encode(ref.substr(start, slash == std::string_view::npos ? slash : slash - start));
    if (slash == std::string_view::npos)
      return out;
    out += '/';
    start = slash + 1;
  }
}

} // namespace

std::string url_encode(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'
        || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 0x0f]);
    }
  }
  return out;
}

std::string filters_json(const filters& f) {
  rapidjson::StringBuffer buf;
  net::json_writer w{buf};
  w.StartObject();
  for (const auto& [k, vs] : f) {
    net::write_string(w, k);
    write_strings(w, vs);
  }
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

client::client(endpoint ep, cancel_token cancel, client_options opts)
  : http_{std::move(ep), std::move(cancel)}, opts_{opts} {
}

caf::error client::ping() {
  auto res = http_.call("GET", "/_ping", "", std::min(opts_.timeout, std::chrono::milliseconds{5000}), 1024);
  if (!res)
    return res.error();
  if (res->status != 200)
    return engine_error(res->status, res->body, "ping");
  return {};
}

caf::expected<version_info> client::version() {
  auto res = http_.call("GET", "/version", "", opts_.timeout, 64 * 1024);
  if (!res)
    return res.error();
  if (res->status != 200)
    return engine_error(res->status, res->body, "version");
  auto v = parse_version(res->body);
  if (!v)
    return v.error();
  if (auto err = speak(v->api_version))
    return err;
  return v;
}

caf::error client::speak(const std::string& engine_api) {
  auto engine = api_version_number(engine_api);
  if (engine < api_version_number(min_api_version))
    return make_error(ec::unavailable, "docker: the engine speaks API " + engine_api
                                         + ", older than the oldest supported ("
                                         + min_api_version + ")");
  api_ = engine < api_version_number(max_api_version) ? engine_api : max_api_version;
  return {};
}

caf::error client::negotiate() {
  // The engine names its API version in the API-Version header of /_ping, as the docker CLI
  // negotiates. /version would say it too, but dockerd answers it in ~18 ms (it reads the
  // kernel and OS versions each time), which every deploy job paid on its first call; a
  // ping takes under 1 ms. An engine whose ping has no such header is asked /version.
  auto res = http_.call("GET", "/_ping", "", std::min(opts_.timeout, std::chrono::milliseconds{5000}), 1024);
  if (!res)
    return res.error();
  if (res->status == 200) {
    auto api = res->header("api-version");
    if (api_version_number(api) > 0)
      return speak(api);
  }
  auto v = version();
  return v ? caf::error{} : v.error();
}

caf::expected<std::string> client::versioned(const std::string& path) {
  if (api_.empty())
    if (auto err = negotiate())
      return err;
  return "/v" + api_ + path;
}

caf::expected<std::string> client::expect_ok(std::string_view method, const std::string& path,
                                             const std::string& body, std::string_view what,
                                             std::chrono::milliseconds timeout) {
  auto full = versioned(path);
  if (!full)
    return full.error();
  auto res = http_.call(method, *full, body, timeout);
  if (!res)
    return res.error();
  if (res->status < 200 || res->status >= 300)
    return engine_error(res->status, res->body, what);
  return std::move(res->body);
}

namespace {

/// Whether a listed container has every label the filters name ("key" or "key=value") and
/// one of the states they name: what the engine was asked to list.
bool matches_filters(const container_summary& c, const filters& f) {
  if (auto labels = f.find("label"); labels != f.end())
    for (const auto& want : labels->second) {
      auto eq = want.find('=');
      auto it = c.labels.find(want.substr(0, eq));
      if (it == c.labels.end() || (eq != std::string::npos && it->second != want.substr(eq + 1)))
        return false;
    }
  if (auto states = f.find("status"); states != f.end() && !states->second.empty())
    return std::find(states->second.begin(), states->second.end(), c.state)
           != states->second.end();
  return true;
}

} // namespace

caf::expected<std::vector<container_summary>> client::list_containers(const filters& f, bool all) {
  auto path = with_filters(std::string{"/containers/json?all="} + (all ? "1" : "0"), '&', f);
  auto list = parsed(expect_ok("GET", path, "", "list containers"), parse_container_list);
  // The engine's filter is not trusted: callers remove what they list (a project's deletion
  // its containers), and an engine or a proxy in front of it that ignored the filter would
  // hand them other workloads' containers.
  if (list)
    list->erase(std::remove_if(list->begin(), list->end(),
                               [&](const container_summary& c) { return !matches_filters(c, f); }),
                list->end());
  return list;
}

caf::expected<container_details> client::inspect_container(const std::string& id) {
  return parsed(expect_ok("GET", "/containers/" + url_encode(id) + "/json", "",
                          "inspect container " + id),
                parse_container_details);
}

caf::expected<std::string> client::create_container(const container_spec& spec) {
  std::string path = "/containers/create";
  if (!spec.name.empty())
    path += "?name=" + url_encode(spec.name);
  return parsed(expect_ok("POST", path, create_body(spec), "create container " + spec.name),
                parse_created_id);
}

caf::error client::expect_done(const std::string& path, std::string_view what,
                               std::chrono::milliseconds timeout) {
  auto full = versioned(path);
  if (!full)
    return full.error();
  auto res = http_.call("POST", *full, "", timeout);
  if (!res)
    return res.error();
  // 304 Not Modified: the container already was where the call would have put it (a stop
  // of a stopped container, a start of a running one). The caller wanted that state.
  if (res->status == 304 || (res->status >= 200 && res->status < 300))
    return {};
  return engine_error(res->status, res->body, what);
}

caf::error client::start_container(const std::string& id) {
  return expect_done("/containers/" + url_encode(id) + "/start", "start container " + id,
                     opts_.timeout);
}

caf::error client::stop_container(const std::string& id, std::chrono::seconds grace) {
  // The engine answers only once the container stopped: allow the grace period on top.
  auto timeout = opts_.timeout + std::chrono::duration_cast<std::chrono::milliseconds>(grace);
  return expect_done("/containers/" + url_encode(id) + "/stop?t=" + std::to_string(grace.count()),
                     "stop container " + id, timeout);
}

caf::error client::kill_container(const std::string& id, const std::string& signal) {
  auto body = expect_ok("POST", "/containers/" + url_encode(id) + "/kill?signal=" + url_encode(signal),
                        "", "kill container " + id);
  return body ? caf::error{} : body.error();
}

caf::error client::remove_container(const std::string& id, bool force) {
  auto body = expect_ok("DELETE",
                        "/containers/" + url_encode(id) + "?v=1&force=" + (force ? "1" : "0"), "",
                        "remove container " + id);
  return body ? caf::error{} : body.error();
}

caf::expected<std::string> client::container_logs(const std::string& id, int tail,
                                                  size_t max_bytes) {
  auto full = versioned("/containers/" + url_encode(id) + "/logs?stdout=1&stderr=1&tail="
                        + std::to_string(std::max(tail, 0)));
  if (!full)
    return full.error();
  // Frames add 8 bytes per line: allow for them before demultiplexing.
  auto res = http_.call("GET", *full, "", opts_.timeout, max_bytes * 2);
  if (!res)
    return res.error();
  if (res->status != 200)
    return engine_error(res->status, res->body, "logs of container " + id);
  auto text = demultiplex_logs(res->body);
  if (text.size() > max_bytes)
    text.erase(0, text.size() - max_bytes);
  return text;
}

caf::expected<std::vector<image_summary>> client::list_images(const filters& f) {
  auto path = with_filters("/images/json", '?', f);
  return parsed(expect_ok("GET", path, "", "list images"), parse_image_list);
}

caf::expected<image_summary> client::inspect_image(const std::string& ref) {
  return parsed(
    expect_ok("GET", "/images/" + image_path(ref) + "/json", "", "inspect image " + ref),
    parse_image_details);
}

caf::error client::pull_image(const std::string& repository, const std::string& tag,
                              const std::function<void(const std::string&)>& on_progress) {
  auto full = versioned("/images/create?fromImage=" + url_encode(repository)
                        + "&tag=" + url_encode(tag));
  if (!full)
    return full.error();
  std::string first_error;
  std::string head; // the start of a non-200 body, for its message
  long status = 0;
  line_splitter lines;
  auto res = http_.stream("POST", *full, "", opts_.pull_timeout, [&](std::string_view data) {
    if (head.size() < 4096)
      head.append(data.substr(0, 4096 - head.size()));
    return lines.feed(data, [&](std::string_view line) {
      rapidjson::Document doc;
      doc.Parse<rapidjson::kParseIterativeFlag>(line.data(), line.size());
      if (doc.HasParseError() || !doc.IsObject())
        return true; // progress is informational; a line we cannot read is skipped
      auto err = doc.FindMember("error");
      if (err != doc.MemberEnd() && err->value.IsString()) {
        // The engine reports a failed pull inside a 200 stream.
        if (first_error.empty())
          first_error = err->value.GetString();
        return false;
      }
      std::string text;
      for (const char* key : {"id", "status", "progress"}) {
        auto m = doc.FindMember(key);
        if (m != doc.MemberEnd() && m->value.IsString()) {
          if (!text.empty())
            text += ' ';
          text += m->value.GetString();
        }
      }
      if (!text.empty() && on_progress)
        on_progress(text);
      return true;
    });
  });
  if (!res)
    return res.error();
  status = *res;
  if (status < 200 || status >= 300)
    return engine_error(status, head, "pull " + repository + ":" + tag);
  if (!first_error.empty())
    return make_error(ec::unavailable, "docker: pull " + repository + ":" + tag + ": " + first_error);
  if (lines.overflowed())
    return make_error(ec::unavailable, "docker: pull " + repository + ":" + tag
                                         + ": a progress line longer than 1 MiB; pull aborted");
  return {};
}

caf::error client::remove_image(const std::string& ref, bool force) {
  auto body = expect_ok("DELETE", "/images/" + image_path(ref) + "?force=" + (force ? "1" : "0"), "",
                        "remove image " + ref);
  return body ? caf::error{} : body.error();
}

caf::expected<std::vector<network_summary>> client::list_networks(const filters& f) {
  auto path = with_filters("/networks", '?', f);
  return parsed(expect_ok("GET", path, "", "list networks"), parse_network_list);
}

caf::expected<std::string> client::create_network(const std::string& name,
                                                  const label_map& labels) {
  rapidjson::StringBuffer buf;
  net::json_writer w{buf};
  w.StartObject();
  w.Key("Name");
  net::write_string(w, name);
  w.Key("CheckDuplicate");
  w.Bool(true);
  w.Key("Labels");
  write_labels(w, labels);
  w.EndObject();
  return parsed(expect_ok("POST", "/networks/create", {buf.GetString(), buf.GetSize()},
                          "create network " + name),
                parse_created_id);
}

caf::error client::connect_network(const std::string& network, const std::string& container) {
  rapidjson::StringBuffer buf;
  net::json_writer w{buf};
  w.StartObject();
  w.Key("Container");
  net::write_string(w, container);
  w.EndObject();
  auto body = expect_ok("POST", "/networks/" + url_encode(network) + "/connect",
                        {buf.GetString(), buf.GetSize()},
                        "connect " + container + " to network " + network);
  return body ? caf::error{} : body.error();
}

caf::error client::watch_events(const filters& f, const std::function<void()>& on_connected,
                                const std::function<bool(const engine_event&)>& on_event) {
  auto full = versioned(with_filters("/events", '?', f));
  if (!full)
    return full.error();
  line_splitter lines;
  caf::error parse_failure;
  long status = 0;
  std::string refusal; // the body of a non-200 answer: the engine's reason
  auto res = http_.stream(
    "GET", *full, "", std::chrono::milliseconds{0},
    [&](std::string_view data) {
      if (status != 200) {
        refusal.append(data.substr(0, 4096 - std::min<size_t>(refusal.size(), 4096)));
        return true;
      }
      return lines.feed(data, [&](std::string_view line) {
        auto e = parse_event(line);
        if (!e) {
          parse_failure = e.error();
          return false;
        }
        return on_event(*e);
      });
    },
    [&](long code) {
      status = code;
      if (code == 200 && on_connected)
        on_connected();
    });
  if (!res)
    return res.error();
  if (*res != 200)
    return engine_error(*res, refusal, "events");
  if (parse_failure)
    return parse_failure;
  if (lines.overflowed())
    return make_error(ec::unavailable, "docker: an event longer than 1 MiB; stream dropped");
  return make_error(ec::unavailable, "docker: the event stream ended");
}

} // namespace tf::docker
