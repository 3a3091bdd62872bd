// Authentication, in-process (real store actors on a temporary database, tf::http::server
// on an ephemeral port) and through the real binary for the CLI and first start: the walk
// over the route table (every /api route but the public ones answers 401 without
// credentials), login, logout, session expiry, API tokens, the same-origin rule for cookie
// changes, the login rate limit, the first-run setup token and the audit log.
#include <doctest/doctest.h>

#include "core/errors.hpp"
#include "actors/system.hpp"
#include "api_client.hpp"
#include "api_fixture.hpp"
#include "api_server.hpp"
#include "json_checks.hpp"
#include "net.hpp"
#include "config/config.hpp"
#include "helpers.hpp"
#include "http/ask.hpp"
#include "http/auth.hpp"
#include "http/routes.hpp"
#include "http/server.hpp"
#include "process.hpp"
#include "core/clock.hpp"
#include "core/ids.hpp"
#include "store/password.hpp"
#include "store/totp.hpp"
#include "web/assets.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <httplib.h>
#include <rapidjson/document.h>
#include <rapidjson/pointer.h>

#include <signal.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using namespace tf::test;

namespace {

constexpr const char* json = "application/json";
constexpr const char* admin_password = "correct horse battery staple";

rapidjson::Document parse(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str(), text.size());
  return d;
}

std::string error_message_of(const httplib::Result& r) {
  REQUIRE(r);
  auto d = parse(r->body);
  REQUIRE(d.IsObject());
  REQUIRE(d.HasMember("error"));
  return str(d["error"], "message");
}

/// `tf_session=<value>` from a Set-Cookie header ("" when none).
std::string session_cookie_of(const httplib::Result& r) {
  REQUIRE(r);
  auto header = r->get_header_value("Set-Cookie");
  auto end = header.find(';');
  return header.substr(0, end);
}

/// A route pattern with every group replaced by a value it matches: the first
/// alternative of (a|b), else a dummy id.
std::string fill_pattern(const std::string& pattern) {
  std::string out;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '(') {
      out.push_back(pattern[i]);
      continue;
    }
    auto close = pattern.find(')', i);
    REQUIRE(close != std::string::npos);
    auto group = pattern.substr(i + 1, close - i - 1);
    auto bar = group.find('|');
    out += bar != std::string::npos ? group.substr(0, bar) : std::string{"dummy-id"};
    i = close;
  }
  return out;
}

/// The index of the ')' that closes the '(' at `open`.
size_t closing_paren(const std::string& pattern, size_t open) {
  int depth = 0;
  for (size_t i = open; i < pattern.size(); ++i) {
    if (pattern[i] == '(')
      ++depth;
    else if (pattern[i] == ')' && --depth == 0)
      return i;
  }
  FAIL("unbalanced route pattern: ", pattern);
  return pattern.size();
}

/// The OpenAPI path templates a route pattern stands for, parameters written "{}": a
/// capture group is a parameter, a group of words (a|b) is one path per word, and an
/// optional group (?:X)? stands for X (the webhook's secret).
std::vector<std::string> openapi_paths(const std::string& pattern) {
  auto open = pattern.find('(');
  if (open == std::string::npos)
    return {pattern};
  auto close = closing_paren(pattern, open);
  auto head = pattern.substr(0, open);
  auto inner = pattern.substr(open + 1, close - open - 1);
  auto tail = pattern.substr(close + 1);
  std::vector<std::string> middles;
  if (inner.rfind("?:", 0) == 0 && tail.rfind("?", 0) == 0) {
    middles = openapi_paths(inner.substr(2));
    tail = tail.substr(1);
  } else if (inner.find_first_not_of("abcdefghijklmnopqrstuvwxyz-|") == std::string::npos) {
    for (size_t from = 0;;) {
      auto bar = inner.find('|', from);
      middles.push_back(inner.substr(from, bar - from));
      if (bar == std::string::npos)
        break;
      from = bar + 1;
    }
  } else {
    middles = {"{}"};
  }
  std::vector<std::string> out;
  for (const auto& middle : middles)
    for (const auto& rest : openapi_paths(tail))
      out.push_back(head + middle + rest);
  return out;
}

/// An OpenAPI path with its parameter names dropped: "/a/{id}" is "/a/{}".
std::string unnamed_parameters(const std::string& path) {
  std::string out;
  for (size_t i = 0; i < path.size(); ++i) {
    out.push_back(path[i]);
    if (path[i] == '{') {
      i = path.find('}', i);
      REQUIRE(i != std::string::npos);
      out.push_back('}');
    }
  }
  return out;
}

/// Every "$ref" in the document names something the document has.
void check_refs(const rapidjson::Value& v, const rapidjson::Document& doc) {
  if (v.IsArray()) {
    for (const auto& item : v.GetArray())
      check_refs(item, doc);
    return;
  }
  if (!v.IsObject())
    return;
  for (const auto& m : v.GetObject()) {
    if (std::string{m.name.GetString()} == "$ref") {
      REQUIRE(m.value.IsString());
      std::string ref = m.value.GetString();
      INFO("$ref ", ref);
      REQUIRE(ref.rfind("#/", 0) == 0);
      auto pointer = rapidjson::Pointer(ref.substr(1).c_str());
      CHECK(pointer.IsValid());
      CHECK(pointer.Get(doc) != nullptr);
    } else {
      check_refs(m.value, doc);
    }
  }
}

struct auth_fixture : store_fixture {
  api_server server;
  uint16_t port = 0;
  std::string admin_id;

  explicit auth_fixture(bool with_admin = true, std::string setup_hash = "",
                        std::function<void(tf::http::server_context&)> tune = {})
    : store_fixture{1} {
    if (with_admin)
      admin_id = add_user("admin", admin_password);
    tf::config cfg;
    cfg.http_threads = 4;
    auto ctx = server_context(5s);
    ctx.setup_token_hash = std::move(setup_hash);
    if (tune)
      tune(ctx);
    port = server.start(ctx, cfg);
  }

  ~auth_fixture() { server.stop(); }

  std::string add_user(const std::string& name, const std::string& password) {
    auto id = make_user(sys, store, name, password);
    REQUIRE_MESSAGE(id, tf::error_message(id.error()));
    return *id;
  }

  /// A client without credentials: each test sends the ones it is about.
  httplib::Client client() const { return bearer_client(port, ""); }

  std::string origin() const { return "http://127.0.0.1:" + std::to_string(port); }

  httplib::Result login(const std::string& user, const std::string& password) {
    return client().Post("/api/auth/login",
                         R"({"username":")" + user + R"(","password":")" + password + "\"}",
                         json);
  }

  /// Logs in as admin; replies "tf_session=<value>".
  std::string admin_cookie() {
    auto r = login("admin", admin_password);
    REQUIRE(r);
    REQUIRE_MESSAGE(r->status == 200, r->body);
    auto cookie = session_cookie_of(r);
    REQUIRE(cookie.rfind("tf_session=", 0) == 0);
    return cookie;
  }

  httplib::Result with_cookie(const std::string& method, const std::string& path,
                              const std::string& cookie, const std::string& origin_header,
                              const std::string& body = "{}") {
    httplib::Headers h{{"Cookie", cookie}};
    if (!origin_header.empty())
      h.emplace("Origin", origin_header);
    return send(method, path, h, body);
  }

  httplib::Result with_bearer(const std::string& method, const std::string& path,
                              const std::string& token, const std::string& body = "{}") {
    return send(method, path, httplib::Headers{{"Authorization", "Bearer " + token}}, body);
  }

  httplib::Result send(const std::string& method, const std::string& path,
                       const httplib::Headers& h, const std::string& body = "{}") {
    auto c = client();
    if (method == "GET")
      return c.Get(path.c_str(), h);
    if (method == "POST")
      return c.Post(path.c_str(), h, body, json);
    if (method == "PUT")
      return c.Put(path.c_str(), h, body, json);
    if (method == "PATCH")
      return c.Patch(path.c_str(), h, body, json);
    if (method == "DELETE")
      return c.Delete(path.c_str(), h);
    FAIL("unknown method ", method);
    return c.Get("/");
  }

  std::vector<tf::audit_row> audit_rows() {
    auto rows = tf::http::ask<std::vector<tf::audit_row>>(
      sys, store.readers->next(), 5s, tf::atom::list_v, tf::atom::audit_v, int64_t{100});
    REQUIRE_MESSAGE(rows, tf::error_message(rows.error()));
    return *rows;
  }

  /// Waits (deadline 10 s) for an audit row with this action; the audit write is one-way.
  tf::audit_row wait_audit(const std::string& action) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      for (auto& r : audit_rows())
        if (r.entry.action == action)
          return r;
      std::this_thread::sleep_for(20ms);
    }
    FAIL("no audit row with action ", action);
    return {};
  }
};

struct no_user_fixture : auth_fixture {
  static inline const std::string setup_token = tf::new_secret();
  no_user_fixture() : auth_fixture(false, tf::store::sha256_hex(setup_token)) {}
};

int status_of(const httplib::Result& r) {
  REQUIRE(r);
  return r->status;
}

} // namespace

TEST_CASE_FIXTURE(auth_fixture, "every /api route but the public ones answers 401 without credentials") {
  const auto& routes = server.http().routes();
  size_t closed = 0, open = 0;
  for (const auto& r : routes) {
    if (r.pattern.rfind("/api", 0) != 0)
      continue;
    auto path = fill_pattern(r.pattern);
    INFO(r.method, " ", r.pattern, " as ", path);
    auto answer = send(r.method, path, {}, "{\"name\":\"x\"}");
    REQUIRE(answer);
    if (tf::http::is_public_api_path(path)) {
      ++open;
      CHECK(answer->status != 401);
      continue;
    }
    ++closed;
    CHECK(answer->status == 401);
    CHECK(parse(answer->body)["error"]["code"] == "unauthorized");
    // The body was never read: the connection must not be reused for its bytes.
    CHECK(answer->get_header_value("Connection") == "close");
    // A bearer value that is no token and a made-up cookie are refused the same way.
    CHECK(status_of(send(r.method, path, {{"Authorization", "Bearer nope"}})) == 401);
    CHECK(status_of(send(r.method, path,
                         {{"Cookie", "tf_session=" + tf::new_secret()},
                          {"Origin", origin()}})) == 401);
  }
  MESSAGE(closed, " closed routes, ", open, " public");
  // Every group installed its routes through the table.
  CHECK(closed >= 17);
  CHECK(open >= 2);
  // Paths no route matches are closed too, and so tell a stranger nothing.
  CHECK(status_of(send("GET", "/api/no-such-route", {})) == 401);
  CHECK(status_of(send("GET", "/api", {})) == 401);
  // Dot segments never make a path public (httplib decodes %2F into '/').
  CHECK(status_of(send("GET", "/api/webhooks/../projects", {})) == 401);
  CHECK(status_of(send("GET", "/api/webhooks/%2E%2E/projects", {})) == 401);
  CHECK(status_of(send("POST", "/api/auth/login/../../projects", {})) == 401);
  // Public outside /api.
  CHECK(status_of(send("GET", "/healthz", {})) == 200);
}

TEST_CASE_FIXTURE(auth_fixture, "the OpenAPI document is public and lists exactly the routes installed") {
  auto r = client().Get("/api/openapi.json");
  REQUIRE(r);
  REQUIRE(r->status == 200);
  CHECK(r->get_header_value("Content-Type") == "application/json");
  auto doc = parse(r->body);
  REQUIRE_FALSE(doc.HasParseError());
  CHECK(str(doc, "openapi").rfind("3.", 0) == 0);
  check_refs(doc, doc);

  // What the server routes: everything under /api, /healthz and /metrics (not the UI).
  std::set<std::string> installed;
  for (const auto& route : server.http().routes())
    if (route.pattern.rfind("/api", 0) == 0 || route.pattern == "/healthz"
        || route.pattern == "/metrics")
      for (const auto& path : openapi_paths(route.pattern))
        installed.insert(route.method + " " + path);

  // What the document says, with each operation checked on the way.
  std::set<std::string> documented;
  const auto& paths = doc["paths"];
  REQUIRE(paths.IsObject());
  const std::set<std::string> methods{"get", "post", "put", "patch", "delete"};
  for (const auto& p : paths.GetObject()) {
    std::string path = p.name.GetString();
    auto declared_path_params = [&](const rapidjson::Value& holder) {
      std::set<std::string> names;
      if (!holder.HasMember("parameters"))
        return names;
      for (const auto& param : holder["parameters"].GetArray()) {
        const auto* resolved = &param;
        if (param.HasMember("$ref"))
          resolved = rapidjson::Pointer(std::string{param["$ref"].GetString()}.substr(1).c_str())
                       .Get(doc);
        REQUIRE(resolved != nullptr);
        if (std::string{(*resolved)["in"].GetString()} == "path")
          names.insert((*resolved)["name"].GetString());
      }
      return names;
    };
    auto path_level = declared_path_params(p.value);
    std::set<std::string> in_template;
    for (size_t i = path.find('{'); i != std::string::npos; i = path.find('{', i + 1))
      in_template.insert(path.substr(i + 1, path.find('}', i) - i - 1));
    for (const auto& op : p.value.GetObject()) {
      std::string method = op.name.GetString();
      if (method == "parameters")
        continue;
      INFO(method, " ", path);
      REQUIRE(methods.count(method) == 1);
      CHECK(op.value.HasMember("summary"));
      REQUIRE(op.value.HasMember("responses"));
      CHECK(op.value["responses"].MemberCount() > 0);
      // Every {name} of the path is a declared path parameter, and nothing more.
      auto params = path_level;
      for (const auto& name : declared_path_params(op.value))
        params.insert(name);
      CHECK(params == in_template);
      // The document says public exactly where the router lets a stranger in.
      auto public_op = op.value.HasMember("security") && op.value["security"].Empty();
      auto filled = unnamed_parameters(path);
      for (auto i = filled.find("{}"); i != std::string::npos; i = filled.find("{}"))
        filled.replace(i, 2, "dummy-id");
      auto open = filled.rfind("/api", 0) != 0 || tf::http::is_public_api_path(filled);
      CHECK(public_op == open);
      std::string upper;
      for (char c : method)
        upper.push_back(static_cast<char>(c - 'a' + 'A'));
      documented.insert(upper + " " + unnamed_parameters(path));
    }
  }

  std::vector<std::string> undocumented, not_routed;
  for (const auto& route : installed)
    if (documented.count(route) == 0)
      undocumented.push_back(route);
  for (const auto& op : documented)
    if (installed.count(op) == 0)
      not_routed.push_back(op);
  auto joined = [](const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v)
      out += "\n  " + s;
    return out;
  };
  CHECK_MESSAGE(undocumented.empty(), "routes missing from the document:", joined(undocumented));
  CHECK_MESSAGE(not_routed.empty(), "documented but not routed:", joined(not_routed));
  CHECK(installed.size() >= 30);
}

TEST_CASE_FIXTURE(auth_fixture, "login sets a session cookie, and a wrong password and an unknown user get one answer") {
  auto ok = login("admin", admin_password);
  REQUIRE(ok);
  REQUIRE(ok->status == 200);
  auto body = parse(ok->body);
  CHECK(str(body["user"], "username") == "admin");
  CHECK(str(body["user"], "id") == admin_id);
  auto set_cookie = ok->get_header_value("Set-Cookie");
  CHECK(set_cookie.find("HttpOnly") != std::string::npos);
  CHECK(set_cookie.find("SameSite=Strict") != std::string::npos);
  CHECK(set_cookie.find("Path=/") != std::string::npos);
  auto cookie = session_cookie_of(ok);
  auto me = with_cookie("GET", "/api/auth/me", cookie, "");
  REQUIRE(me);
  REQUIRE(me->status == 200);
  CHECK(str(parse(me->body)["user"], "username") == "admin");
  CHECK(str(parse(me->body), "via") == "session");
  CHECK_FALSE(parse(me->body)["totp_enabled"].GetBool());

  auto wrong = login("admin", "not the password");
  auto unknown = login("nobody", admin_password);
  CHECK(status_of(wrong) == 401);
  CHECK(status_of(unknown) == 401);
  CHECK(error_message_of(wrong) == error_message_of(unknown));
  CHECK(wrong->get_header_value("Set-Cookie").empty());
  CHECK(set_cookie.find("Secure") == std::string::npos); // plain HTTP here
  auto behind_tls = client().Post("/api/auth/login", httplib::Headers{{"X-Forwarded-Proto", "https"}},
                                  R"({"username":"admin","password":")" + std::string{admin_password} + "\"}",
                                  json);
  REQUIRE(status_of(behind_tls) == 200);
  CHECK(behind_tls->get_header_value("Set-Cookie").find("; Secure") != std::string::npos);

  // Bad bodies are 400, never a login.
  CHECK(status_of(client().Post("/api/auth/login", "{\"username\":\"admin\"}", json)) == 400);
  CHECK(status_of(client().Post("/api/auth/login", "[1]", json)) == 400);
  CHECK(status_of(client().Post("/api/auth/login",
                                R"({"username":"admin","password":")" + std::string(2000, 'a')
                                  + "\"}",
                                json))
        == 400);
  CHECK(wait_audit("auth.login").entry.actor == "admin");
}

TEST_CASE_FIXTURE(auth_fixture, "after logout the session cookie is refused") {
  auto cookie = admin_cookie();
  CHECK(status_of(with_cookie("GET", "/api/tokens", cookie, "")) == 200);
  auto out = with_cookie("POST", "/api/auth/logout", cookie, origin());
  REQUIRE(out);
  CHECK(out->status == 204);
  CHECK(out->get_header_value("Set-Cookie").find("Max-Age=0") != std::string::npos);
  CHECK(status_of(with_cookie("GET", "/api/tokens", cookie, "")) == 401);
  CHECK(status_of(with_cookie("GET", "/api/auth/me", cookie, "")) == 401);
  CHECK(wait_audit("auth.logout").entry.actor == "admin");
}

TEST_CASE_FIXTURE(auth_fixture, "an expired session is refused") {
  auto token = tf::new_secret();
  auto stored = tf::http::ask<std::string>(
    sys, store.writer, 5s, tf::atom::create_v,
    tf::new_session{admin_id, tf::store::sha256_hex(token), "127.0.0.1",
                    tf::format_utc(std::chrono::system_clock::now() - 1s)});
  REQUIRE(stored);
  auto r = with_cookie("GET", "/api/auth/me", "tf_session=" + token, "");
  CHECK(status_of(r) == 401);
  CHECK(error_message_of(r).find("expired") != std::string::npos);
  // The same row an hour from now is accepted: it was the expiry that refused it.
  auto fresh = tf::new_secret();
  REQUIRE(tf::http::ask<std::string>(
    sys, store.writer, 5s, tf::atom::create_v,
    tf::new_session{admin_id, tf::store::sha256_hex(fresh), "127.0.0.1",
                    tf::format_utc(std::chrono::system_clock::now() + 1h)}));
  CHECK(status_of(with_cookie("GET", "/api/auth/me", "tf_session=" + fresh, "")) == 200);
}

TEST_CASE_FIXTURE(auth_fixture, "an API token works as a bearer until it is revoked") {
  auto cookie = admin_cookie();
  auto created = with_cookie("POST", "/api/tokens", cookie, origin(), R"({"name":"ci"})");
  REQUIRE(created);
  REQUIRE_MESSAGE(created->status == 201, created->body);
  auto doc = parse(created->body);
  auto id = str(doc, "id");
  auto token = str(doc, "token");
  CHECK(str(doc, "name") == "ci");
  CHECK(token.size() == 64);

  auto me = with_bearer("GET", "/api/auth/me", token);
  REQUIRE(status_of(me) == 200);
  CHECK(str(parse(me->body), "via") == "token");
  CHECK(status_of(with_bearer("GET", "/api/projects", token)) == 200);

  // The list never shows a value; last_used_at is written (one-way) after the first use.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  std::string listed, last_used;
  while (std::chrono::steady_clock::now() < deadline) {
    auto l = with_bearer("GET", "/api/tokens", token);
    REQUIRE(status_of(l) == 200);
    listed = l->body;
    auto doc = parse(listed); // the array below points into it: keep it alive
    auto items = doc["items"].GetArray();
    REQUIRE(items.Size() == 1);
    last_used = str(items[0], "last_used_at");
    if (!last_used.empty())
      break;
    std::this_thread::sleep_for(20ms);
  }
  CHECK(listed.find(token) == std::string::npos);
  CHECK_FALSE(last_used.empty());

  // Bad names are refused.
  CHECK(status_of(with_bearer("POST", "/api/tokens", token, R"({"name":""})")) == 400);
  CHECK(status_of(with_bearer("POST", "/api/tokens", token, R"({"name":"a\nb"})")) == 400);
  CHECK(status_of(with_bearer("POST", "/api/tokens", token, R"({"name":7})")) == 400);

  auto revoked = with_bearer("DELETE", "/api/tokens/" + id, token);
  CHECK(status_of(revoked) == 204);
  CHECK(status_of(with_bearer("GET", "/api/auth/me", token)) == 401);
  CHECK(status_of(with_cookie("DELETE", "/api/tokens/" + id, cookie, origin())) == 404);
  CHECK(wait_audit("token.create").entry.target_id == id);
  CHECK(wait_audit("token.revoke").entry.target_id == id);
}

TEST_CASE_FIXTURE(auth_fixture, "a change made with the cookie needs our own origin, a bearer needs none") {
  auto cookie = admin_cookie();
  const std::string body = R"({"name":"t"})";
  auto none = with_cookie("POST", "/api/tokens", cookie, "", body);
  CHECK(status_of(none) == 403);
  CHECK(status_of(with_cookie("POST", "/api/tokens", cookie, "http://evil.example", body))
        == 403);
  CHECK(status_of(with_cookie("POST", "/api/tokens", cookie, "http://127.0.0.1:1", body)) == 403);
  CHECK(status_of(with_cookie("POST", "/api/tokens", cookie, "null", body)) == 403);
  // A Referer from our origin stands in for a missing Origin.
  CHECK(status_of(send("POST", "/api/tokens",
                       {{"Cookie", cookie}, {"Referer", origin() + "/ui/tokens"}}, body))
        == 201);
  auto same = with_cookie("POST", "/api/tokens", cookie, origin(), body);
  REQUIRE(status_of(same) == 201);
  // Reads need no Origin.
  CHECK(status_of(with_cookie("GET", "/api/tokens", cookie, "")) == 200);
  auto token = str(parse(same->body), "token");
  CHECK(status_of(with_bearer("POST", "/api/tokens", token, body)) == 201);
}

TEST_CASE_FIXTURE(auth_fixture, "login attempts are rate limited per address") {
  int answered_401 = 0;
  for (int i = 0; i < 10; ++i)
    answered_401 += status_of(login("admin", "wrong password")) == 401 ? 1 : 0;
  CHECK(answered_401 == 10);
  auto limited = login("admin", admin_password);
  CHECK(status_of(limited) == 429);
  CHECK(limited->get_header_value("Set-Cookie").empty());
}

TEST_CASE("the login throttle stays bounded and forgets the oldest window") {
  // Two failures per (address, username), room for three windows of each kind.
  tf::http::login_throttle throttle{2, 100, 1000, 3};
  CHECK(throttle.begin("a", "admin"));
  CHECK(throttle.begin("a", "admin"));
  CHECK_FALSE(throttle.begin("a", "admin"));
  CHECK(throttle.begin("b", "admin"));
  CHECK(throttle.begin("c", "admin"));
  CHECK(throttle.begin("d", "admin")); // evicts ("a", admin), the oldest window
  CHECK(throttle.begin("a", "admin"));
}

TEST_CASE_FIXTURE(auth_fixture, "every mutation of the API writes an audit row") {
  auto cookie = admin_cookie();
  auto created = with_cookie("POST", "/api/projects", cookie, origin(),
                             R"({"name":"api","image":"tinyforge-test/web","stages":[{"name":"production","port":8080}]})");
  REQUIRE(status_of(created) == 201);
  auto id = str(parse(created->body), "id");
  REQUIRE(status_of(with_cookie("PATCH", "/api/projects/" + id, cookie, origin(),
                                R"({"image":"tinyforge-test/web2"})"))
          == 200);
  REQUIRE(status_of(with_cookie("DELETE", "/api/projects/" + id, cookie, origin())) == 204);
  for (auto action : {"project.create", "project.update", "project.delete"}) {
    auto row = wait_audit(action);
    CHECK(row.entry.actor == "admin");
    CHECK(row.entry.target_kind == "project");
    CHECK(row.entry.target_id == id);
    CHECK(row.entry.source_addr == "127.0.0.1");
  }
}

TEST_CASE_FIXTURE(no_user_fixture, "the first admin comes from the setup token, once") {
  auto setup = [&](const std::string& token, const std::string& user) {
    return client().Post("/api/auth/setup",
                         R"({"token":")" + token + R"(","username":")" + user
                           + R"(","password":")" + admin_password + "\"}",
                         json);
  };
  CHECK(status_of(setup(tf::new_secret(), "root")) == 401);
  CHECK(status_of(setup("", "root")) == 401);
  CHECK(status_of(client().Post("/api/auth/setup",
                                R"({"token":")" + setup_token
                                  + R"(","username":"root","password":"short"})",
                                json))
        == 400);
  CHECK(status_of(login("root", admin_password)) == 401);
  auto made = setup(setup_token, "root");
  REQUIRE(status_of(made) == 201);
  CHECK(str(parse(made->body)["user"], "username") == "root");
  CHECK(status_of(login("root", admin_password)) == 200);
  CHECK(status_of(setup(setup_token, "second")) == 409);
  CHECK(status_of(login("second", admin_password)) == 401);
}

TEST_CASE("admin create from the CLI, the first admin from the environment, and no password in the log") {
  temp_dir data;
  const std::string cli_password = "cli-password-" + tf::new_secret().substr(0, 16);
  const std::string env_password = "env-password-" + tf::new_secret().substr(0, 16);
  auto run_cli = [&](const std::string& user, const std::string& password) {
    auto command = std::string{TINYFORGE_BINARY} + " admin create --username '" + user + "'"
                   + " --data_dir " + data.path().string() + " 2>&1";
    FILE* p = ::popen(command.c_str(), "w");
    REQUIRE(p != nullptr);
    std::fputs((password + "\n").c_str(), p);
    auto st = ::pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  };
  CHECK(run_cli("ops", "short") == 2);      // too short: nothing created
  CHECK(run_cli("Bad Name", cli_password) == 2);
  CHECK(run_cli("ops", cli_password) == 0);
  CHECK(run_cli("ops", cli_password) == 3); // taken

  // A user exists, so TINYFORGE_ADMIN_PASSWORD is ignored ("admin" is not created).
  {
    child_process d{{"serve", "--listen", "127.0.0.1:0", "--data_dir", data.path().string(),
                     "--docker_host", "unix:///nonexistent.sock"},
                    {{"TINYFORGE_ADMIN_PASSWORD", env_password}}};
    auto port = d.require_port();
    httplib::Client c{"127.0.0.1", port};
    c.set_read_timeout(20, 0);
    auto ops = c.Post("/api/auth/login",
                      R"({"username":"ops","password":")" + cli_password + "\"}", json);
    CHECK(status_of(ops) == 200);
    auto admin = c.Post("/api/auth/login",
                        R"({"username":"admin","password":")" + env_password + "\"}", json);
    CHECK(status_of(admin) == 401);
    expect_clean_stop(d, SIGTERM);
    CHECK(d.stderr_text().find("admin-password-ignored") != std::string::npos);
    CHECK(d.stderr_text().find(cli_password) == std::string::npos);
    CHECK(d.stderr_text().find(env_password) == std::string::npos);
  }

  // A fresh data dir: the first start creates "admin" from the environment, logs no secret.
  temp_dir fresh;
  child_process d{{"serve", "--listen", "127.0.0.1:0", "--data_dir", fresh.path().string(),
                   "--docker_host", "unix:///nonexistent.sock", "--log_level", "debug"},
                  {{"TINYFORGE_ADMIN_PASSWORD", env_password}}};
  auto port = d.require_port();
  httplib::Client c{"127.0.0.1", port};
  c.set_read_timeout(20, 0);
  CHECK(status_of(c.Post("/api/auth/login",
                         R"({"username":"admin","password":")" + env_password + "\"}", json))
        == 200);
  CHECK(status_of(c.Post("/api/auth/login",
                         R"({"username":"admin","password":")" + cli_password + "\"}", json))
        == 401);
  expect_clean_stop(d, SIGTERM);
  INFO("stderr:\n", d.stderr_text());
  CHECK(d.stderr_text().find("event=admin-created") != std::string::npos);
  CHECK(d.stderr_text().find("setup-token") == std::string::npos);
  CHECK(d.stderr_text().find(env_password) == std::string::npos);
}

TEST_CASE("the unknown-user hash costs what a real one costs and no password matches it") {
  const auto& dummy = tf::store::dummy_password_hash();
  auto real = tf::store::hash_password(admin_password);
  REQUIRE(real);
  // The cost (scrypt$N$r$p$) is what an unknown user's login pays: it must be a real user's.
  auto cost_of = [](const std::string& h) {
    size_t at = 0;
    for (int i = 0; i < 4 && at != std::string::npos; ++i)
      at = h.find('$', at + 1);
    return at == std::string::npos ? std::string{} : h.substr(0, at + 1);
  };
  CHECK_FALSE(cost_of(dummy).empty());
  CHECK(cost_of(dummy) == cost_of(*real));
  CHECK(dummy.size() == real->size()); // the same salt and hash lengths
  CHECK(&dummy == &tf::store::dummy_password_hash()); // made once
  for (const auto* guess : {"", "password", admin_password})
    CHECK_FALSE(tf::store::verify_password(guess, dummy));
}

// The daemon makes the unknown-user hash without scrypt (issue 14: it cost the start-up
// 165-380 ms): the first request it serves may be an unknown user's login, which must answer
// as a wrong password does, and the real user's first login then works.
TEST_CASE("a fresh daemon's first login, of an unknown user, answers like a wrong password") {
  temp_dir data;
  child_process d{{"serve", "--listen", "127.0.0.1:0", "--data_dir", data.path().string(),
                   "--docker_host", "unix:///nonexistent.sock"},
                  {{"TINYFORGE_ADMIN_PASSWORD", admin_password}}};
  auto port = d.require_port();
  httplib::Client c{"127.0.0.1", port};
  c.set_read_timeout(20, 0);
  auto login = [&](const std::string& user, const std::string& password) {
    return c.Post("/api/auth/login",
                  R"({"username":")" + user + R"(","password":")" + password + "\"}", json);
  };
  auto unknown = login("nobody", admin_password);
  auto wrong = login("admin", "not the password at all");
  CHECK(status_of(unknown) == 401);
  CHECK(status_of(wrong) == 401);
  CHECK(error_message_of(unknown) == error_message_of(wrong));
  CHECK(unknown->get_header_value("Set-Cookie").empty());
  auto ok = login("admin", admin_password);
  CHECK(status_of(ok) == 200);
  CHECK_FALSE(ok->get_header_value("Set-Cookie").empty());
  expect_clean_stop(d, SIGTERM);
}

TEST_CASE("with no user and no TINYFORGE_ADMIN_PASSWORD the daemon logs a setup token") {
  temp_dir data;
  child_process d{{"serve", "--listen", "127.0.0.1:0", "--data_dir", data.path().string(),
                   "--docker_host", "unix:///nonexistent.sock"}};
  auto line = d.wait_for_line("event=setup-token-issued");
  REQUIRE(line);
  auto at = line->find("token=");
  REQUIRE(at != std::string::npos);
  auto token = line->substr(at + 6, 64);
  auto port = d.require_port();
  httplib::Client c{"127.0.0.1", port};
  c.set_read_timeout(20, 0);
  auto made = c.Post("/api/auth/setup",
                     R"({"token":")" + token + R"(","username":"boss","password":")"
                       + admin_password + "\"}",
                     json);
  CHECK(status_of(made) == 201);
  CHECK(status_of(c.Post("/api/auth/login",
                         R"({"username":"boss","password":")" + std::string{admin_password}
                           + "\"}",
                         json))
        == 200);
  expect_clean_stop(d, SIGTERM);
}

TEST_CASE("TOTP codes match RFC 6238's SHA-1 vectors") {
  // The RFC's key "12345678901234567890" in base32; its 8-digit codes end in these 6.
  const std::string key = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
  CHECK(tf::store::totp_code(key, 59 / 30) == "287082");
  CHECK(tf::store::totp_code(key, 1111111109 / 30) == "081804");
  CHECK(tf::store::totp_code(key, 1234567890 / 30) == "005924");
  CHECK(tf::store::verify_totp(key, "287082", 59));
  CHECK(tf::store::verify_totp(key, "287082", 59 + 30)); // one step of skew
  CHECK_FALSE(tf::store::verify_totp(key, "287082", 59 + 90));
  CHECK_FALSE(tf::store::verify_totp(key, "28708", 59));
  CHECK_FALSE(tf::store::verify_totp("not base32!", "287082", 59));
  CHECK(tf::store::new_totp_secret().size() == 32);
}

TEST_CASE_FIXTURE(auth_fixture, "a user with TOTP needs the code to log in") {
  auto cookie = admin_cookie();
  auto enrolled = with_cookie("POST", "/api/auth/totp/enroll", cookie, origin());
  REQUIRE(status_of(enrolled) == 200);
  auto secret = str(parse(enrolled->body), "secret");
  auto now = [] {
    return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
  };
  auto code_now = [&] { return tf::store::totp_code(secret, now() / 30); };
  // Enrolling alone changes nothing; enabling needs a current code of the secret.
  CHECK(status_of(login("admin", admin_password)) == 200);
  CHECK(status_of(with_cookie("POST", "/api/auth/totp/enable", cookie, origin(),
                              R"({"secret":")" + secret + R"(","code":"000000x"})"))
        == 400);
  CHECK(status_of(with_cookie("POST", "/api/auth/totp/enable", cookie, origin(),
                              R"({"secret":")" + secret + R"(","code":")" + code_now()
                                + R"(","password":"not it"})"))
        == 403);
  REQUIRE(status_of(with_cookie("POST", "/api/auth/totp/enable", cookie, origin(),
                                R"({"secret":")" + secret + R"(","code":")" + code_now()
                                  + R"(","password":")" + admin_password + "\"}"))
          == 204);
  auto me = with_cookie("GET", "/api/auth/me", cookie, "");
  REQUIRE(me);
  CHECK(parse(me->body)["totp_enabled"].GetBool());

  auto without = login("admin", admin_password);
  CHECK(status_of(without) == 401);
  CHECK(parse(without->body)["error"]["code"] == "totp_required");
  auto login_code = [&](const std::string& code) {
    return client().Post("/api/auth/login",
                         R"({"username":"admin","password":")" + std::string{admin_password}
                           + R"(","code":")" + code + "\"}",
                         json);
  };
  // A code far from now is wrong.
  CHECK(status_of(login_code(tf::store::totp_code(secret, now() / 30 + 10))) == 401);
  CHECK(status_of(login_code(code_now())) == 200);
  // The wrong password with a right code tells nothing about the second factor.
  auto wrong = client().Post("/api/auth/login",
                             R"({"username":"admin","password":"nope nope","code":")"
                               + code_now() + "\"}",
                             json);
  CHECK(status_of(wrong) == 401);
  CHECK(parse(wrong->body)["error"]["code"] == "unauthorized");

  CHECK(status_of(with_cookie("POST", "/api/auth/totp/disable", cookie, origin(),
                              R"({"password":"not it"})"))
        == 403);
  REQUIRE(status_of(with_cookie("POST", "/api/auth/totp/disable", cookie, origin(),
                                R"({"password":")" + std::string{admin_password} + "\"}"))
          == 204);
  CHECK(status_of(login("admin", admin_password)) == 200);
  CHECK(wait_audit("auth.totp_enable").entry.actor == "admin");
  CHECK(wait_audit("auth.totp_disable").entry.actor == "admin");
}

namespace {

/// One request over a socket bound to `source` (another loopback address: 127.0.0.2 and
/// up reach the server as other clients), with `head` the request line and headers.
raw_response raw_from(const std::string& source, uint16_t port, const std::string& request) {
  socket_fd fd{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  REQUIRE(fd);
  sockaddr_in from{};
  from.sin_family = AF_INET;
  REQUIRE(::inet_pton(AF_INET, source.c_str(), &from.sin_addr) == 1);
  REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&from), sizeof from) == 0);
  auto conn = connect_socket(std::move(fd), port);
  REQUIRE(conn);
  REQUIRE(send_all(conn.get(), request));
  std::string buf;
  auto res = read_response(conn.get(), buf);
  REQUIRE(res);
  return *res;
}

std::string login_request(uint16_t port, const std::string& user, const std::string& password,
                          const std::string& extra_headers = "",
                          const std::string& type = "application/json") {
  auto body = R"({"username":")" + user + R"(","password":")" + password + "\"}";
  return "POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port)
         + "\r\nContent-Type: " + type + "\r\nContent-Length: " + std::to_string(body.size())
         + "\r\nConnection: close\r\n" + extra_headers + "\r\n" + body;
}

bool valid_utf8_json(const std::string& body) {
  rapidjson::Document d;
  d.Parse<rapidjson::kParseValidateEncodingFlag>(body.data(), body.size());
  return !d.HasParseError() && d.IsObject();
}

} // namespace

TEST_CASE_FIXTURE(auth_fixture,
                  "failed logins lock neither another user at the address nor the user elsewhere") {
  add_user("bob", "bob's long password");
  for (int i = 0; i < 10; ++i)
    REQUIRE(raw_from("127.0.0.1", port, login_request(port, "admin", "wrong")).status == 401);
  // admin is under attack from 127.0.0.1: even the right password waits there.
  CHECK(raw_from("127.0.0.1", port, login_request(port, "admin", admin_password)).status == 429);
  // bob, behind the same address (a proxy, a NAT), logs in.
  auto bob = raw_from("127.0.0.1", port, login_request(port, "bob", "bob's long password"));
  CHECK(bob.status == 200);
  CHECK(bob.header("Set-Cookie").rfind("tf_session=", 0) == 0);
  // admin from elsewhere is not locked out by the attacker's failures.
  CHECK(raw_from("127.0.0.2", port, login_request(port, "admin", admin_password)).status == 200);
}

struct ceiling_fixture : auth_fixture {
  ceiling_fixture()
    : auth_fixture(true, "", [](tf::http::server_context& ctx) {
        ctx.login_failures_global = 5;
      }) {}
};

TEST_CASE_FIXTURE(ceiling_fixture, "a global ceiling holds across many source addresses") {
  for (int i = 2; i < 7; ++i) {
    auto source = "127.0.0." + std::to_string(i);
    CHECK(raw_from(source, port, login_request(port, "admin", "wrong")).status == 401);
  }
  auto over = raw_from("127.0.0.7", port, login_request(port, "admin", "wrong"));
  CHECK(over.status == 429);
  CHECK(over.header("Retry-After") == "60");
  CHECK(raw_from("127.0.0.8", port, login_request(port, "nobody", "wrong")).status == 429);
}

struct proxy_fixture : auth_fixture {
  proxy_fixture()
    : auth_fixture(true, "", [](tf::http::server_context& ctx) {
        ctx.login_attempts_per_minute = 2;
        ctx.trusted_proxies = {"127.0.0.3"};
      }) {}
};

TEST_CASE_FIXTURE(proxy_fixture, "X-Forwarded-For is believed only from a trusted proxy") {
  auto xff = [](const std::string& a) { return "X-Forwarded-For: " + a + "\r\n"; };
  // Two wrong passwords from `peer` naming `client`, then the right one naming `then`: 429.
  auto limited_after_two = [&](const char* peer, const std::string& client,
                               const std::string& then) {
    for (int i = 0; i < 2; ++i)
      REQUIRE(raw_from(peer, port, login_request(port, "admin", "wrong", xff(client))).status
              == 401);
    CHECK(raw_from(peer, port, login_request(port, "admin", admin_password, xff(then))).status
          == 429);
  };
  // An untrusted peer's header is ignored: its failures count against its own address.
  limited_after_two("127.0.0.2", "10.0.0.1", "10.0.0.9");
  // Through the trusted proxy each client counts on its own: 10.0.0.1 is limited, 10.0.0.2
  // (same proxy socket) is not; a forged entry left of the real one changes nothing.
  limited_after_two("127.0.0.3", "10.0.0.1", "10.0.0.2, 10.0.0.1");
  auto ok = raw_from("127.0.0.3", port,
                     login_request(port, "admin", admin_password, xff("10.0.0.1, 10.0.0.2")));
  CHECK(ok.status == 200);
  auto row = wait_audit("auth.login");
  CHECK(row.entry.source_addr == "10.0.0.2");
}

TEST_CASE_FIXTURE(auth_fixture, "a login must be JSON: a cross-site form post is refused") {
  for (auto type : {"text/plain", "application/x-www-form-urlencoded", ""}) {
    auto r = raw_from("127.0.0.1", port, login_request(port, "admin", admin_password, "", type));
    CHECK(r.status == 415);
    CHECK(r.header("Set-Cookie").empty());
  }
  // httplib refuses a multipart body it cannot split before the route runs (400).
  auto multipart = raw_from("127.0.0.1", port,
                            login_request(port, "admin", admin_password, "",
                                          "multipart/form-data; boundary=x"));
  CHECK(multipart.status >= 400);
  CHECK(multipart.header("Set-Cookie").empty());
  CHECK(raw_from("127.0.0.1", port,
                 login_request(port, "admin", admin_password, "",
                               "Application/JSON; charset=utf-8"))
          .status
        == 200);
}

TEST_CASE_FIXTURE(auth_fixture, "Origin is compared with scheme, host and port") {
  auto cookie = admin_cookie();
  auto body = R"({"name":"ci"})";
  auto hostport = "127.0.0.1:" + std::to_string(port);
  for (auto bad : {"foo://" + hostport, "file://" + hostport, "javascript://" + hostport,
                   "http://" + hostport + ".evil.example", "http://localhost:" + std::to_string(port)})
    CHECK_MESSAGE(status_of(with_cookie("POST", "/api/tokens", cookie, bad, body)) == 403, bad);
  CHECK(status_of(with_cookie("POST", "/api/tokens", cookie, "https://" + hostport, body)) == 201);
  CHECK(status_of(with_cookie("POST", "/api/tokens", cookie, "HTTP://" + hostport, body)) == 201);
}

TEST_CASE_FIXTURE(auth_fixture, "a Host that is not a name of this server gets 421") {
  auto get = [&](const std::string& host) {
    return raw_from("127.0.0.1", port,
                    "GET /api/auth/me HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n");
  };
  auto p = std::to_string(port);
  for (auto bad : {"evil.example:" + p, std::string{"evil.example"}, "127.0.0.1.nip.io:" + p, std::string{}}) {
    auto r = get(bad);
    CHECK_MESSAGE(r.status == 421, bad);
    CHECK(valid_utf8_json(r.body));
  }
  // The loopback names pass the Host check (and reach the credential check).
  for (auto good : {"127.0.0.1:" + p, "localhost:" + p, "LOCALHOST:" + p, "[::1]:" + p})
    CHECK_MESSAGE(get(good).status == 401, good);
  // The health probe answers whatever name it is asked by.
  CHECK(raw_from("127.0.0.1", port,
                 "GET /healthz HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
          .status
        == 200);
}

TEST_CASE("public names: configured names replace the loopback defaults") {
  tf::config cfg;
  cfg.listen_host = "10.1.2.3";
  auto names = tf::http::default_public_names(cfg);
  CHECK(std::find(names.begin(), names.end(), "10.1.2.3") != names.end());
  httplib::Request req;
  req.headers.emplace("Host", "forge.example.com:8443");
  CHECK_FALSE(tf::http::host_is_ours(names, req));
  CHECK(tf::http::host_is_ours({"forge.example.com"}, req));
  CHECK(tf::http::host_is_ours({"Forge.Example.com:8443"}, req));
  CHECK_FALSE(tf::http::host_is_ours({"forge.example.com:443"}, req));
}

TEST_CASE_FIXTURE(auth_fixture, "invalid UTF-8 in a query is never echoed raw") {
  auto cookie = admin_cookie();
  for (auto path : {"/api/projects?limit=%FF%FE", "/api/projects?offset=%C0%AF",
                    "/api/tokens?limit=%ED%A0%80x"}) {
    auto r = raw_from("127.0.0.1", port,
                      std::string{"GET "} + path + " HTTP/1.1\r\nHost: 127.0.0.1:"
                        + std::to_string(port) + "\r\nCookie: " + cookie
                        + "\r\nConnection: close\r\n\r\n");
    CHECK_MESSAGE(r.status == 400, path);
    CHECK_MESSAGE(valid_utf8_json(r.body), r.body);
  }
}

TEST_CASE_FIXTURE(auth_fixture, "a key given twice in a body is refused, naming the key") {
  auto cookie = admin_cookie();
  auto r = with_cookie("POST", "/api/projects", cookie, origin(),
                       R"({"name":"dup","image":"busybox","image":"../../etc/passwd",)"
                       R"("stages":[{"name":"production","port":8080}]})");
  REQUIRE(r);
  CHECK(r->status == 400);
  CHECK(error_message_of(r).find("\"image\"") != std::string::npos);
  // Nested objects are checked too; the same key in two objects is fine.
  auto nested = with_cookie("POST", "/api/projects", cookie, origin(),
                            R"({"name":"dup","image":"busybox",)"
                            R"("stages":[{"name":"production","port":8080,"port":8081}]})");
  REQUIRE(nested);
  CHECK(nested->status == 400);
  CHECK(error_message_of(nested).find("\"port\"") != std::string::npos);
  auto body = std::string{R"({"username":"admin","username":"x","password":"y"})"};
  auto twice = raw_from("127.0.0.1", port,
                        "POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port)
                          + "\r\nContent-Type: application/json\r\nContent-Length: "
                          + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
  CHECK(twice.status == 400);
}

TEST_CASE_FIXTURE(auth_fixture, "image references follow the distribution grammar") {
  auto cookie = admin_cookie();
  auto create = [&](const std::string& name, const std::string& image) {
    return status_of(with_cookie("POST", "/api/projects", cookie, origin(),
                                 R"({"name":")" + name + R"(","image":")" + image
                                   + R"(","stages":[{"name":"production","port":8080}]})"));
  };
  int n = 0;
  for (auto bad : {"../../etc/passwd", "-a", "a..b", ".", "registry:99999999999/a",
                   "registry:0/a", "a/", "/a", "a//b", "a/B", "a_", "a/-b", "a:tag"})
    CHECK_MESSAGE(create("bad" + std::to_string(n++), bad) == 400, std::string{bad});
  for (auto good : {"ghcr.io/acme/web", "localhost:5000/a/b", "a/b_c.d-e", "busybox",
                    "registry.example.com:65535/team/api", "a__b/c--d"})
    CHECK_MESSAGE(create("good" + std::to_string(n++), good) == 201, std::string{good});
}

TEST_CASE_FIXTURE(auth_fixture, "the web UI is served without credentials, and every other page path opens it") {
  auto c = client();
  auto index = c.Get("/");
  REQUIRE(index);
  CHECK(index->status == 200);
  CHECK(index->get_header_value("Content-Type").rfind("text/html", 0) == 0);
  CHECK(index->get_header_value("Cache-Control") == "no-cache");
  CHECK(index->get_header_value("X-Content-Type-Options") == "nosniff");
  // A shared link to a page of the app gets the same index (the app reads its own URL).
  auto page = c.Get("/containers?kind=stack&state=running");
  REQUIRE(page);
  CHECK(page->status == 200);
  CHECK(page->body == index->body);
  // Each file the index names is served, hashed ones cached for good, with its type.
  const auto& assets = tf::web::assets();
  size_t scripts = 0;
  for (const auto& a : assets) {
    if (a.path.rfind("_app/immutable/", 0) != 0)
      continue;
    auto r = c.Get("/" + std::string{a.path});
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == a.content);
    CHECK(r->get_header_value("Cache-Control").find("immutable") != std::string::npos);
    if (a.path.size() > 3 && a.path.substr(a.path.size() - 3) == ".js") {
      ++scripts;
      CHECK(r->get_header_value("Content-Type").rfind("text/javascript", 0) == 0);
    }
  }
  if (tf::web::find_asset("_app/version.json")) // built with the UI (TINYFORGE_WEB_UI)
    CHECK(scripts > 0);
  // The API keeps its own answers: no index for an unknown /api path, no credentials skipped.
  CHECK(status_of(send("GET", "/api/containers", {})) == 401);
  CHECK(status_of(send("GET", "/api/no-such-route", {})) == 401);
  CHECK(status_of(send("GET", "/api", {})) == 401);
  auto health = c.Get("/healthz");
  REQUIRE(health);
  CHECK(health->get_header_value("Content-Type").find("json") != std::string::npos);
}
