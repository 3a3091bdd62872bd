// Caddy through its admin API. Each route is one object in the server's route list with
// "@id": "tinyforge-route-<id>", so it can be replaced (PATCH /id/...) or removed
// (DELETE /id/...) without reading or touching the rest of Caddy's configuration. The
// route lists every slot; Caddy's active health checks and a retry window skip the closed
// or empty ones (bench/proxy_switch).
#include "core/errors.hpp"
#include "net/json.hpp"
#include "net/http_call.hpp"
#include "proxy/providers.hpp"

#include <rapidjson/document.h>

#include <chrono>
#include <thread>

namespace tf::proxy {

namespace {

std::string caddy_id(const proxy_route& route) {
  return "tinyforge-route-" + route.id;
}

std::string route_json(const proxy_route& route) {
  return net::make_json([&](net::json_writer& w) {
    w.StartObject();
    w.Key("@id");
    net::write_string(w, caddy_id(route));
    w.Key("match");
    w.StartArray();
    w.StartObject();
    w.Key("host");
    w.StartArray();
    net::write_string(w, route.host);
    w.EndArray();
    w.EndObject();
    w.EndArray();
    w.Key("terminal");
    w.Bool(true);
    w.Key("handle");
    w.StartArray();
    w.StartObject();
    w.Key("handler");
    w.String("reverse_proxy");
    w.Key("upstreams");
    w.StartArray();
    for (auto port : route.slots) {
      w.StartObject();
      w.Key("dial");
      net::write_string(w, "127.0.0.1:" + std::to_string(port));
      w.EndObject();
    }
    w.EndArray();
    w.Key("load_balancing");
    w.StartObject();
    w.Key("selection_policy");
    w.StartObject();
    w.Key("policy");
    w.String("round_robin");
    w.EndObject();
    // A refused (closed or empty) slot is retried on another within this window.
    w.Key("try_duration");
    w.String("5s");
    w.Key("try_interval");
    w.String("50ms");
    w.EndObject();
    w.Key("health_checks");
    w.StartObject();
    w.Key("active");
    w.StartObject();
    w.Key("uri");
    net::write_string(w, route.health_path);
    w.Key("interval");
    w.String("250ms");
    w.Key("timeout");
    w.String("2s");
    w.EndObject();
    w.Key("passive");
    w.StartObject();
    w.Key("fail_duration");
    w.String("2s");
    w.Key("max_fails");
    w.Int(1);
    w.EndObject();
    w.EndObject();
    w.Key("headers");
    w.StartObject();
    w.Key("response");
    w.StartObject();
    w.Key("set");
    w.StartObject();
    w.Key(upstream_header);
    w.StartArray();
    w.String("{http.reverse_proxy.upstream.hostport}");
    w.EndArray();
    w.EndObject();
    w.EndObject();
    w.EndObject();
    w.EndObject();
    w.EndArray();
    w.EndObject();
  });
}

bool server_name_ok(const std::string& s) {
  if (s.empty() || s.size() > 64)
    return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
          || c == '-' || c == '_'))
      return false;
  return true;
}

class caddy_provider : public provider {
public:
  explicit caddy_provider(const config& cfg)
    : admin_{trim_base_url(cfg.caddy_admin)},
      server_{cfg.caddy_server},
      listen_{cfg.caddy_listen} {
  }

  std::string name() const override { return "caddy"; }
  bool routes_all_slots() const override { return true; }

  caf::expected<proxy_route> apply(const proxy_route& route) override {
    return with_retries([&] { return apply_once(route); });
  }

  caf::error remove(const proxy_route& route) override {
    auto res = with_retries([&]() -> caf::expected<bool> {
      if (auto err = remove_once(route))
        return err;
      return true;
    });
    return res ? caf::none : res.error();
  }

private:
  /// Caddy restarts its admin endpoint and swaps its servers on every configuration
  /// change, so a call right after one may find its connection reset. Both operations are
  /// safe to run again from the start (apply looks the route up first, so a POST whose
  /// answer was lost turns into a PATCH), so an unavailable Caddy is retried twice.
  template <class F>
  auto with_retries(F&& once) -> decltype(once()) {
    auto res = once();
    for (auto pause : {std::chrono::milliseconds{100}, std::chrono::milliseconds{400}}) {
      if (res || error_code(res.error()) != ec::unavailable)
        break;
      std::this_thread::sleep_for(pause);
      res = once();
    }
    return res;
  }

  caf::expected<proxy_route> apply_once(const proxy_route& route) {
    if (auto err = validate_route(route))
      return err;
    if (!server_name_ok(server_))
      return make_error(ec::bad_config, "proxy.caddy_server: \"" + short_text(server_)
                                          + "\" must be letters, digits, '-' or '_'");
    auto body = route_json(route);
    auto id_path = "/id/" + caddy_id(route);
    auto existing = call("GET", id_path, "");
    if (!existing)
      return existing.error();
    if (existing->status == 200) {
      auto res = call("PATCH", id_path, body);
      if (!res)
        return res.error();
      if (res->status != 200)
        return caddy_error("replacing route " + route.id, *res);
      return route;
    }
    if (existing->status != 404)
      return caddy_error("looking up route " + route.id, *existing);
    if (auto err = ensure_server())
      return err;
    auto res = call("POST", servers_path() + "/routes", body);
    if (!res)
      return res.error();
    if (res->status != 200)
      return caddy_error("adding route " + route.id, *res);
    return route;
  }

  caf::error remove_once(const proxy_route& route) {
    if (auto err = validate_route(route))
      return err;
    auto res = call("DELETE", "/id/" + caddy_id(route), "");
    if (!res)
      return res.error();
    if (res->status == 200 || res->status == 404)
      return caf::none;
    return caddy_error("removing route " + route.id, *res);
  }

  std::string servers_path() const { return "/config/apps/http/servers/" + server_; }

  caf::expected<net::http_response> call(const std::string& method, const std::string& path,
                                    const std::string& body) {
    net::http_request req;
    req.method = method;
    req.url = admin_ + path;
    req.body = body;
    if (!body.empty())
      req.headers["Content-Type"] = "application/json";
    req.timeout = std::chrono::seconds{10};
    req.max_response_bytes = 4 << 20;
    auto res = net::http_call(req);
    if (!res)
      return make_error(ec::unavailable, "caddy admin API at " + admin_
                                           + " does not answer: " + error_message(res.error()));
    return res;
  }

  /// Caddy's {"error": "..."} body, or the raw body when it is not that shape.
  static caf::error caddy_error(const std::string& what, const net::http_response& res) {
    std::string message = short_text(res.body);
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseIterativeFlag>(res.body.data(), res.body.size());
    if (!doc.HasParseError() && doc.IsObject() && doc.HasMember("error")
        && doc["error"].IsString())
      message = short_text(doc["error"].GetString());
    auto code = res.status >= 500 || res.status == 0 ? ec::unavailable : ec::invalid_argument;
    // Caddy answers 500 to a configuration it cannot load: our route's fault, not an outage.
    if (res.status == 500 && message.find("loading") != std::string::npos)
      code = ec::invalid_argument;
    return make_error(code, "caddy: " + what + " failed (HTTP " + std::to_string(res.status)
                              + "): " + message);
  }

  /// Creates our server (and the http app) when Caddy has none by that name. Other
  /// servers and routes stay as they are.
  caf::error ensure_server() {
    auto res = call("GET", servers_path(), "");
    if (!res)
      return res.error();
    // 200 "null": the http app exists but not our server; 400 "invalid traversal path":
    // there is no http app (or no apps) yet. A PUT creates the missing levels.
    if (res->status == 200) {
      rapidjson::Document doc;
      doc.Parse<rapidjson::kParseIterativeFlag>(res->body.data(), res->body.size());
      if (doc.HasParseError())
        return make_error(ec::unavailable, "caddy: malformed JSON in the answer to GET "
                                             + servers_path() + ": " + short_text(res->body));
      if (!doc.IsNull()) {
        if (!doc.IsObject())
          return make_error(ec::unavailable, "caddy: server " + server_ + " is not an object");
        return caf::none;
      }
    } else if (res->status != 400 && res->status != 404) {
      return caddy_error("reading server " + server_, *res);
    }
    auto server = net::make_json([&](net::json_writer& w) {
      w.StartObject();
      w.Key("listen");
      w.StartArray();
      net::write_string(w, listen_);
      w.EndArray();
      w.Key("automatic_https");
      w.StartObject();
      w.Key("disable");
      w.Bool(true);
      w.EndObject();
      w.Key("routes");
      w.StartArray();
      w.EndArray();
      w.EndObject();
    });
    auto put = call("PUT", servers_path(), server);
    if (!put)
      return put.error();
    if (put->status != 200)
      return caddy_error("creating server " + server_, *put);
    return caf::none;
  }

  std::string admin_;
  std::string server_;
  std::string listen_;
};

} // namespace

std::unique_ptr<provider> make_caddy_provider(const config& cfg) {
  return std::make_unique<caddy_provider>(cfg);
}

} // namespace tf::proxy
