// Nginx Proxy Manager through its REST API (v2): one proxy host per route, pointing at the
// slot that serves now. NPM cannot list several upstreams, so a switch is a configuration
// change (routes_all_slots false). The bearer token is cached and renewed once on a 401;
// the password goes only into the token request and never into a message.
#include "core/errors.hpp"
#include "net/json.hpp"
#include "net/http_call.hpp"
#include "proxy/providers.hpp"

#include <rapidjson/document.h>

namespace tf::proxy {

namespace {

constexpr const char* hosts_path = "/api/nginx/proxy-hosts";

/// NPM's error body is {"error": {"code": 400, "message": "..."}}; anything else is shown
/// as it came.
std::string npm_message(const net::http_response& res) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag>(res.body.data(), res.body.size());
  if (!doc.HasParseError() && doc.IsObject() && doc.HasMember("error")) {
    const auto& e = doc["error"];
    if (e.IsObject() && e.HasMember("message") && e["message"].IsString())
      return short_text(e["message"].GetString());
    if (e.IsString())
      return short_text(e.GetString());
  }
  return short_text(res.body);
}

caf::expected<rapidjson::Document> parse_reply(const std::string& what,
                                               const net::http_response& res) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag>(res.body.data(), res.body.size());
  if (doc.HasParseError() || !doc.IsObject())
    return make_error(ec::unavailable,
                      "npm: malformed JSON in the answer to " + what + ": " + short_text(res.body));
  return doc;
}

int64_t forward_port(const proxy_route& route) {
  return route.serving.empty() ? route.slots.front() : route.serving.front();
}

void write_target(net::json_writer& w, const proxy_route& route) {
  w.Key("domain_names");
  w.StartArray();
  net::write_string(w, route.host);
  w.EndArray();
  w.Key("forward_scheme");
  w.String("http");
  w.Key("forward_host");
  w.String("127.0.0.1");
  w.Key("forward_port");
  w.Int64(forward_port(route));
}

std::string create_body(const proxy_route& route) {
  return net::make_json([&](net::json_writer& w) {
    w.StartObject();
    write_target(w, route);
    w.Key("access_list_id");
    w.Int(0);
    w.Key("certificate_id");
    w.Int(0);
    w.Key("ssl_forced");
    w.Bool(false);
    w.Key("caching_enabled");
    w.Bool(false);
    w.Key("block_exploits");
    w.Bool(false);
    w.Key("advanced_config");
    w.String("");
    w.Key("meta");
    w.StartObject();
    w.Key("letsencrypt_agree");
    w.Bool(false);
    w.Key("dns_challenge");
    w.Bool(false);
    w.EndObject();
    w.Key("allow_websocket_upgrade");
    w.Bool(true);
    w.Key("http2_support");
    w.Bool(false);
    w.Key("hsts_enabled");
    w.Bool(false);
    w.Key("hsts_subdomains");
    w.Bool(false);
    w.Key("locations");
    w.StartArray();
    w.EndArray();
    w.EndObject();
  });
}

std::string update_body(const proxy_route& route) {
  return net::make_json([&](net::json_writer& w) {
    w.StartObject();
    write_target(w, route);
    w.EndObject();
  });
}

class npm_provider : public provider {
public:
  explicit npm_provider(const config& cfg)
    : base_{trim_base_url(cfg.npm_url)}, email_{cfg.npm_email}, password_{cfg.npm_password} {
  }

  std::string name() const override { return "npm"; }
  bool routes_all_slots() const override { return false; }

  caf::expected<proxy_route> apply(const proxy_route& route) override {
    if (auto err = validate_route(route))
      return err;
    if (route.npm_proxy_id < 0)
      return make_error(ec::invalid_argument, "proxy route " + route.id + ": bad npm_proxy_id");
    if (route.npm_proxy_id > 0) {
      auto path = std::string{hosts_path} + "/" + std::to_string(route.npm_proxy_id);
      auto res = call("PUT", path, update_body(route));
      if (!res)
        return res.error();
      if (res->status == 200) {
        if (auto doc = parse_reply("PUT " + path, *res); !doc)
          return doc.error();
        return route;
      }
      // Deleted in NPM's UI: create it again below, under a new id.
      if (res->status != 404)
        return npm_error("updating proxy host " + std::to_string(route.npm_proxy_id), *res);
    }
    auto res = call("POST", hosts_path, create_body(route));
    if (!res)
      return res.error();
    if (res->status != 200 && res->status != 201)
      return npm_error("creating the proxy host for " + route.host, *res);
    auto doc = parse_reply(std::string{"POST "} + hosts_path, *res);
    if (!doc)
      return doc.error();
    if (!doc->HasMember("id") || !(*doc)["id"].IsInt64() || (*doc)["id"].GetInt64() <= 0)
      return make_error(ec::unavailable,
                        "npm: the new proxy host has no id: " + short_text(res->body));
    auto applied = route;
    applied.npm_proxy_id = (*doc)["id"].GetInt64();
    return applied;
  }

  caf::error remove(const proxy_route& route) override {
    if (route.npm_proxy_id <= 0)
      return caf::none; // never created
    auto path = std::string{hosts_path} + "/" + std::to_string(route.npm_proxy_id);
    auto res = call("DELETE", path, "");
    if (!res)
      return res.error();
    if (res->status == 200 || res->status == 404)
      return caf::none;
    return npm_error("removing proxy host " + std::to_string(route.npm_proxy_id), *res);
  }

private:
  caf::expected<net::http_response> send(const std::string& method, const std::string& path,
                                     const std::string& body, const std::string& token) {
    net::http_request req;
    req.method = method;
    req.url = base_ + path;
    req.body = body;
    req.timeout = std::chrono::seconds{15}; // NPM regenerates and reloads nginx per change
    if (!body.empty())
      req.headers["Content-Type"] = "application/json";
    if (!token.empty())
      req.headers["Authorization"] = "Bearer " + token;
    auto res = net::http_call(req);
    if (!res)
      return make_error(ec::unavailable, "npm at " + base_ + " does not answer: "
                                           + error_message(res.error()));
    return res;
  }

  /// Logs in and caches the token.
  caf::error login() {
    token_.clear();
    if (email_.empty() || password_.empty())
      return make_error(ec::bad_config, "proxy.npm_email and proxy.npm_password must be set "
                                        "for the npm provider");
    auto body = net::make_json([&](net::json_writer& w) {
      w.StartObject();
      w.Key("identity");
      net::write_string(w, email_);
      w.Key("secret");
      net::write_string(w, password_);
      w.EndObject();
    });
    auto res = send("POST", "/api/tokens", body, "");
    if (!res)
      return res.error();
    if (res->status != 200)
      return make_error(res->status >= 500 ? ec::unavailable : ec::bad_config,
                        "npm: login as " + email_ + " failed (HTTP "
                          + std::to_string(res->status) + "): " + npm_message(*res));
    auto doc = parse_reply("POST /api/tokens", *res);
    if (!doc)
      return doc.error();
    if (!doc->HasMember("token") || !(*doc)["token"].IsString()
        || (*doc)["token"].GetStringLength() == 0 || (*doc)["token"].GetStringLength() > 8192)
      return make_error(ec::unavailable, "npm: the login answer has no token");
    token_ = (*doc)["token"].GetString();
    for (char c : token_)
      if (static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7e) {
        token_.clear();
        return make_error(ec::unavailable, "npm: the login answer's token has bad characters");
      }
    return caf::none;
  }

  /// A call with the cached token; on a 401 (expired or revoked) logs in again once.
  caf::expected<net::http_response> call(const std::string& method, const std::string& path,
                                     const std::string& body) {
    if (token_.empty())
      if (auto err = login())
        return err;
    auto res = send(method, path, body, token_);
    if (!res || res->status != 401)
      return res;
    if (auto err = login())
      return err;
    return send(method, path, body, token_);
  }

  static caf::error npm_error(const std::string& what, const net::http_response& res) {
    auto code = res.status >= 500 || res.status == 401 ? ec::unavailable : ec::invalid_argument;
    return make_error(code, "npm: " + what + " failed (HTTP " + std::to_string(res.status)
                              + "): " + npm_message(res));
  }

  std::string base_;
  std::string email_;
  std::string password_;
  std::string token_;
};

} // namespace

std::unique_ptr<provider> make_npm_provider(const config& cfg) {
  return std::make_unique<npm_provider>(cfg);
}

} // namespace tf::proxy
