// Compose stacks through the API of a real daemon, with the real compose binary and engine
// (issue 15): a stack comes up with every container indexed under its service's name,
// stop/start/down show in the index, an edit that drops a service removes its container,
// and a compose file compose refuses changes nothing.
#include "deploy_harness.hpp"
#include "expect.hpp"
#include "actors/webhook_signatures.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <string>

using namespace tf::test;
using namespace std::chrono_literals;

namespace {

/// Two services of the test image; `worker` sees the stack's GREETING as its own.
std::string two_services() {
  return "services:\n"
         "  web:\n"
         "    image: tinyforge-test/web:v1\n"
         "  worker:\n"
         "    image: tinyforge-test/web:v1\n"
         "    environment:\n"
         "      GREETING: \"${GREETING}\"\n";
}

std::string web_only() {
  return "services:\n"
         "  web:\n"
         "    image: tinyforge-test/web:v1\n";
}

struct stack_ids {
  std::string id, workload_id, compose_project;
};

/// A stack created through the API (and removed through it at the end of the test).
class test_stack {
public:
  test_stack(deploy_env& env, const std::string& compose, const std::string& env_json = "{}")
    : env_{env} {
    auto name = deploy_env::unique_subdomain("stack");
    auto r = env.api().post("/api/stacks", "{\"name\":" + quote(name) + ",\"compose\":"
                                             + quote(compose) + ",\"env\":" + env_json + "}");
    INFO(r.body);
    REQUIRE(r.status == 201);
    auto doc = json_of(r.body);
    ids.id = str(doc, "id");
    ids.workload_id = str(doc, "workload_id");
    ids.compose_project = str(doc, "compose_project_name");
    REQUIRE(!ids.workload_id.empty());
  }
  ~test_stack() {
    env_.api().del("/api/stacks/" + ids.id); // compose down: containers and network
    remove_workload_containers(ids.workload_id);
  }
  test_stack(const test_stack&) = delete;
  test_stack& operator=(const test_stack&) = delete;

  /// Deploys and waits for the deploy's end; its view.
  deployment_view deploy() {
    auto r = env_.api().post("/api/stacks/" + ids.id + "/deploy");
    INFO(r.body);
    REQUIRE(r.status == 202);
    auto id = str(json_of(r.body), "deployment_id");
    auto done = env_.wait_finished(id, 120s);
    INFO(env_.logs());
    REQUIRE(done);
    REQUIRE(done->finished());
    return *done;
  }

  http_reply action(const std::string& verb, const std::string& body = "{}") {
    return env_.api().post("/api/stacks/" + ids.id + "/" + verb, body);
  }

  /// role -> state of the stack's rows in the index, once `want` says they are as expected.
  std::map<std::string, std::string> rows_when(
    const std::function<bool(const std::map<std::string, std::string>&)>& want) {
    std::map<std::string, std::string> last;
    poll_until(30s, [&] {
      last.clear();
      auto r = env_.api().get("/api/containers?workload_id=" + ids.workload_id);
      if (r.status != 200)
        return false;
      auto doc = json_of(r.body);
      for (const auto& it : doc["items"].GetArray())
        last[str(it, "role")] = str(it, "state");
      return want(last);
    }, 100ms);
    return last;
  }

  stack_ids ids;

private:
  deploy_env& env_;
};

bool all_in(const std::map<std::string, std::string>& rows, const std::set<std::string>& roles,
            const std::string& state) {
  if (rows.size() != roles.size())
    return false;
  for (const auto& [role, st] : rows)
    if (roles.count(role) == 0 || st != state)
      return false;
  return true;
}

std::string docker_out(const std::vector<std::string>& argv) {
  auto r = run_command(argv);
  return r.output;
}

} // namespace

TEST_CASE("stacks: two services come up labelled and indexed by service, and stop, start, an edit and down show in the index") {
  deploy_env env{with(proxy_kind::none)};
  // Shell and YAML syntax in a value stays one literal value in the container.
  const std::string greeting = "$(touch /tmp/tf-stack-pwned); \"hi\" 'there' # x";
  test_stack s{env, two_services(), "{\"GREETING\":" + quote(greeting) + "}"};

  auto d = s.deploy();
  INFO(env.logs());
  REQUIRE(d.status == "succeeded");
  // compose's own output is in the deploy's log.
  bool creating = false;
  for (const auto& l : d.log)
    creating = creating || contains(l, "Creating") || contains(l, "Created")
               || contains(l, "Started");
  CHECK(creating);

  auto rows = s.rows_when([](const auto& r) { return all_in(r, {"web", "worker"}, "running"); });
  CHECK(all_in(rows, {"web", "worker"}, "running"));

  // /healthz names the compose it ran (looked for a moment after start).
  std::string compose;
  poll_until(30s, [&] {
    auto h = env.api().get("/healthz");
    compose = h.status == 200 ? str(json_of(h.body), "compose") : "";
    return !compose.empty() && compose != "unknown";
  }, 100ms);
  CHECK((compose.rfind("v1 ", 0) == 0 || compose.rfind("v2 ", 0) == 0));

  // What Docker runs carries the labels, each container its service's role.
  auto ids = docker_out({"docker", "ps", "-q", "--filter",
                         "label=tinyforge.workload.id=" + s.ids.workload_id});
  std::set<std::string> roles;
  std::string worker_id;
  for (size_t at = 0; at < ids.size();) {
    auto end = ids.find('\n', at);
    auto id = ids.substr(at, end - at);
    at = end == std::string::npos ? ids.size() : end + 1;
    if (id.empty())
      continue;
    auto labels = docker_out({"docker", "inspect", "-f",
                              "{{index .Config.Labels \"tinyforge.role\"}} "
                              "{{index .Config.Labels \"tinyforge.workload.kind\"}} "
                              "{{index .Config.Labels \"tinyforge.managed\"}} "
                              "{{index .Config.Labels \"com.docker.compose.project\"}}",
                              id});
    auto role = labels.substr(0, labels.find(' '));
    roles.insert(role);
    CHECK(contains(labels, " stack true " + s.ids.compose_project));
    if (role == "worker")
      worker_id = id;
  }
  CHECK(roles == std::set<std::string>{"web", "worker"});
  REQUIRE(!worker_id.empty());
  CHECK(contains(docker_out({"docker", "inspect", "-f", "{{json .Config.Env}}", worker_id}),
                 "GREETING=$(touch /tmp/tf-stack-pwned); \\\"hi\\\" 'there' # x"));
  CHECK(!std::filesystem::exists("/tmp/tf-stack-pwned"));

  // The stack's files are private to the daemon.
  auto dir = env.tmp().file("data") + "/stacks/" + s.ids.id;
  CHECK((std::filesystem::status(dir).permissions() & std::filesystem::perms::all)
        == std::filesystem::perms::owner_all);

  auto stopped = s.action("stop");
  INFO(stopped.body);
  REQUIRE(stopped.status == 200);
  rows = s.rows_when([](const auto& r) { return all_in(r, {"web", "worker"}, "stopped"); });
  CHECK(all_in(rows, {"web", "worker"}, "stopped"));

  REQUIRE(s.action("start").status == 200);
  rows = s.rows_when([](const auto& r) { return all_in(r, {"web", "worker"}, "running"); });
  CHECK(all_in(rows, {"web", "worker"}, "running"));

  // An edit that drops a service: its container goes at the next deploy.
  auto edited = env.api().patch("/api/stacks/" + s.ids.id,
                                "{\"compose\":" + quote(web_only()) + "}");
  INFO(edited.body);
  REQUIRE(edited.status == 200);
  REQUIRE(s.deploy().status == "succeeded");
  rows = s.rows_when([](const auto& r) {
    auto w = r.find("worker");
    return r.count("web") && r.at("web") == "running" && (w == r.end() || w->second == "missing");
  });
  CHECK(rows["web"] == "running");
  CHECK((rows.count("worker") == 0 || rows["worker"] == "missing"));
  CHECK(docker_out({"docker", "ps", "-aq", "--filter",
                    "label=tinyforge.workload.id=" + s.ids.workload_id, "--filter",
                    "label=tinyforge.role=worker"})
          .empty());

  REQUIRE(s.action("down").status == 200);
  rows = s.rows_when([](const auto& r) {
    for (const auto& [role, st] : r)
      if (st != "missing")
        return false;
    return true;
  });
  for (const auto& [role, st] : rows)
    CHECK(st == "missing");
  CHECK(docker_out({"docker", "ps", "-aq", "--filter",
                    "label=tinyforge.workload.id=" + s.ids.workload_id})
          .empty());
}

TEST_CASE("stacks: a compose file compose refuses is a 400 with its message, and nothing changes") {
  deploy_env env{with(proxy_kind::none)};
  auto name = deploy_env::unique_subdomain("badstack");
  auto broken = env.api().post("/api/stacks", "{\"name\":" + quote(name)
                                                + ",\"compose\":\"services:\\n  web: [\\n\"}");
  CHECK(broken.status == 400);
  CHECK(contains(broken.body, "does not parse"));
  auto unknown = env.api().post(
    "/api/stacks", "{\"name\":" + quote(name)
                     + ",\"compose\":\"services:\\n  web:\\n    image: x\\n    bogus_key: 1\\n\"}");
  CHECK(unknown.status == 400);
  CHECK(contains(unknown.body, "bogus_key"));
  // The stack policy: what would reach past the container is refused for every user.
  auto privileged = env.api().post(
    "/api/stacks", "{\"name\":" + quote(name)
                     + ",\"compose\":\"services:\\n  web:\\n    image: x\\n    privileged: true\\n\"}");
  CHECK(privileged.status == 400);
  CHECK(contains(privileged.body, "privileged"));
  auto docker_socket = env.api().post(
    "/api/stacks",
    "{\"name\":" + quote(name)
      + ",\"compose\":\"services:\\n  web:\\n    image: x\\n    volumes:\\n      - "
        "/var/run/docker.sock:/var/run/docker.sock\\n\"}");
  CHECK(docker_socket.status == 400);
  CHECK(contains(docker_socket.body, "Docker socket"));
  auto list = env.api().get("/api/stacks?limit=500");
  REQUIRE(list.status == 200);
  CHECK(!contains(list.body, name));

  test_stack s{env, web_only()};
  auto before = env.api().get("/api/stacks/" + s.ids.id);
  REQUIRE(before.status == 200);
  auto patched = env.api().patch("/api/stacks/" + s.ids.id, "{\"compose\":\"services: [\"}");
  CHECK(patched.status == 400);
  CHECK(contains(patched.body, "does not parse"));
  auto after = env.api().get("/api/stacks/" + s.ids.id);
  CHECK(str(json_of(after.body), "compose") == str(json_of(before.body), "compose"));
  CHECK(str(json_of(after.body), "updated_at") == str(json_of(before.body), "updated_at"));

  // Actions on a stack never deployed have no files to run: a conflict, not a crash.
  CHECK(s.action("stop").status == 409);
  CHECK(s.action("nonsense").status == 404); // no such route
  CHECK(s.action("down", "{\"volumes\":\"yes\"}").status == 400);
  CHECK(env.api().post("/api/stacks/no-such-stack/deploy").status == 404);
}

TEST_CASE("stacks: a deploy compose cannot finish fails with compose's own words in its log") {
  deploy_env env{with(proxy_kind::none)};
  test_stack s{env, "services:\n  web:\n    image: tinyforge-test/web:no-such-tag\n"};
  auto d = s.deploy();
  CHECK(d.status == "failed");
  CHECK(contains(d.error, "compose up failed"));
  bool named = false;
  for (const auto& l : d.log)
    named = named || contains(l, "no-such-tag");
  CHECK(named);
}

TEST_CASE("stacks: a daemon killed before or after compose up finishes the deploy at its next start") {
  for (const char* point : {"stack-up", "stack-upped"}) {
    CAPTURE(point);
    deploy_env env{with(proxy_kind::none)};
    test_stack s{env, two_services(), "{\"GREETING\":\"hi\"}"};
    env.stop_daemon();
    env.start_daemon({{"TINYFORGE_FAULT_KILL_AT", point}});
    auto r = env.api().post("/api/stacks/" + s.ids.id + "/deploy");
    REQUIRE(r.status == 202);
    auto id = str(json_of(r.body), "deployment_id");
    auto& proc = env.daemon().process();
    REQUIRE(poll_until(60s, [&] { return !proc.running(); }, 20ms));
    env.start_daemon(); // no fault point: the journal's running deploy runs again
    auto done = env.wait_finished(id, 120s);
    INFO(env.logs());
    REQUIRE(done);
    REQUIRE(done->finished());
    CHECK(done->status == "succeeded");
    auto rows = s.rows_when([](const auto& r) { return all_in(r, {"web", "worker"}, "running"); });
    CHECK(all_in(rows, {"web", "worker"}, "running"));
    // One container per service: the second run found the first run's, it did not add more.
    auto ids = docker_out({"docker", "ps", "-aq", "--filter",
                           "label=tinyforge.workload.id=" + s.ids.workload_id});
    CHECK(std::count(ids.begin(), ids.end(), '\n') == 2);
  }
}

TEST_CASE("stacks: one container stops, starts and restarts through its workload, and another workload's URL cannot reach it") {
  deploy_env env{with(proxy_kind::none)};
  test_stack s{env, two_services(), "{\"GREETING\":\"hi\"}"};
  test_stack other{env, web_only()};
  REQUIRE(s.deploy().status == "succeeded");
  s.rows_when([](const auto& r) { return all_in(r, {"web", "worker"}, "running"); });
  std::string web_row;
  auto rows = json_of(env.api().get("/api/containers?workload_id=" + s.ids.workload_id).body);
  for (const auto& it : rows["items"].GetArray())
    if (str(it, "role") == "web")
      web_row = str(it, "id");
  REQUIRE(!web_row.empty());
  auto action = [&](const std::string& workload, const std::string& verb) {
    return env.api().post("/api/workloads/" + workload + "/containers/" + web_row + "/" + verb);
  };

  // Another stack's URL naming this row: the same 404 as a row that does not exist.
  auto hijack = action(other.ids.workload_id, "stop");
  CHECK(hijack.status == 404);
  CHECK(action(s.ids.workload_id + "x", "stop").status == 404);
  CHECK(s.rows_when([](const auto& r) { return all_in(r, {"web", "worker"}, "running"); })
          .at("web") == "running");

  auto stop = action(s.ids.workload_id, "stop");
  INFO(stop.body);
  REQUIRE(stop.status == 200);
  auto stopped = s.rows_when([](const auto& r) { return r.count("web") && r.at("web") == "stopped"; });
  CHECK(stopped.at("web") == "stopped");
  CHECK(stopped.at("worker") == "running"); // only the one container
  REQUIRE(action(s.ids.workload_id, "start").status == 200);
  CHECK(s.rows_when([](const auto& r) { return all_in(r, {"web", "worker"}, "running"); })
          .at("web") == "running");
  CHECK(action(s.ids.workload_id, "restart").status == 200);
  // Per-service logs: the row of a service is named <workload id>:<service>.
  CHECK(web_row == s.ids.workload_id + ":web");
  auto logs = env.api().get("/api/containers/" + web_row + "/logs?tail=20");
  CHECK(logs.status == 200);
  CHECK(action(s.ids.workload_id, "pause").status == 404); // no such action: no route
}

TEST_CASE("stacks: a stack's route_service is reachable through Caddy at its subdomain, and goes when unset") {
  deploy_env env{with(proxy_kind::caddy)};
  auto sub = deploy_env::unique_subdomain("routed");
  // Refused before anything is stored: a service the file lacks, a port without a service.
  CHECK(env.api().post("/api/stacks", "{\"name\":" + quote(sub) + ",\"compose\":" + quote(web_only())
                                        + ",\"route_service\":\"nope\",\"route_port\":8080}")
          .status
        == 400);
  CHECK(env.api().post("/api/stacks", "{\"name\":" + quote(sub) + ",\"compose\":" + quote(web_only())
                                        + ",\"route_port\":8080}")
          .status
        == 400);
  CHECK(json_of(env.api().get("/api/stacks").body)["items"].Size() == 0);

  test_stack s{env, web_only()};
  auto set = env.api().patch("/api/stacks/" + s.ids.id,
                             "{\"route_service\":\"web\",\"route_port\":8080,\"subdomain\":"
                               + quote(sub) + "}");
  INFO(set.body);
  REQUIRE(set.status == 200);
  REQUIRE(s.deploy().status == "succeeded");
  CHECK(poll_until(20s, [&] { return proxy_get(env.proxy_port(), sub, "/version").body == "v1"; }));
  auto proxies = env.api().get("/api/proxies");
  CHECK(contains(proxies.body, "\"kind\":\"stack\""));

  // No route_service: the next deploy takes the route away.
  REQUIRE(env.api().patch("/api/stacks/" + s.ids.id, R"({"route_service":"","route_port":0})").status
          == 200);
  REQUIRE(s.deploy().status == "succeeded");
  CHECK(proxy_get(env.proxy_port(), sub, "/version").body != "v1");
  CHECK(!contains(env.api().get("/api/proxies").body, "\"kind\":\"stack\""));
}

/// The id of the proxy route the daemon keeps for `workload_id` ("" when it has none).
std::string route_id_of(deploy_env& env, const std::string& workload_id) {
  auto doc = json_of(env.api().get("/api/proxies").body);
  for (const auto& it : doc["items"].GetArray())
    if (str(it, "workload_id") == workload_id)
      return str(it, "id");
  return {};
}

TEST_CASE("stacks: deleting a routed stack takes its route off Caddy before its rows go") {
  deploy_env env{with(proxy_kind::caddy)};
  auto sub = deploy_env::unique_subdomain("gone");
  test_stack s{env, web_only()};
  REQUIRE(env.api().patch("/api/stacks/" + s.ids.id,
                          "{\"route_service\":\"web\",\"route_port\":8080,\"subdomain\":"
                            + quote(sub) + "}")
            .status
          == 200);
  REQUIRE(s.deploy().status == "succeeded");
  REQUIRE(poll_until(20s, [&] { return proxy_get(env.proxy_port(), sub, "/version").body == "v1"; }));
  auto route = route_id_of(env, s.ids.workload_id);
  REQUIRE(!route.empty());
  auto in_caddy = "/id/tinyforge-route-" + route;
  REQUIRE(raw_get_status(env.caddy_admin_port(), in_caddy) == 200);

  auto del = env.api().del("/api/stacks/" + s.ids.id);
  INFO(del.body);
  REQUIRE(del.status == 204);
  // Once the DELETE is answered: Caddy no longer has the route, the store no longer lists
  // it, and the host name is served by nothing of the stack.
  CHECK(raw_get_status(env.caddy_admin_port(), in_caddy) == 404);
  CHECK(route_id_of(env, s.ids.workload_id).empty());
  CHECK(proxy_get(env.proxy_port(), sub, "/version").body != "v1");
  CHECK(env.api().get("/api/stacks/" + s.ids.id).status == 404);
}

TEST_CASE("stacks: a signed webhook redeploys the stack, and its tag becomes the TAG the compose file uses") {
  deploy_env env{with(proxy_kind::none)};
  test_stack s{env, "services:\n  web:\n    image: tinyforge-test/web:${TAG}\n",
               "{\"TAG\":\"v1\"}"};
  REQUIRE(s.deploy().status == "succeeded");
  auto image_of_web = [&] {
    auto ids = docker_out({"docker", "ps", "-q", "--filter",
                           "label=tinyforge.workload.id=" + s.ids.workload_id});
    auto id = ids.substr(0, ids.find('\n'));
    auto image = docker_out({"docker", "inspect", "-f", "{{.Config.Image}}", id});
    return image.substr(0, image.find('\n'));
  };
  CHECK(image_of_web() == "tinyforge-test/web:v1");

  // The URL and signing secret as a user gets them: from a rotation's answer.
  auto rotated = env.api().post("/api/workloads/" + s.ids.workload_id + "/rotate-secrets");
  REQUIRE(rotated.status == 200);
  auto doc = json_of(rotated.body);
  auto url = str(doc, "webhook_url");
  auto signing = str(doc, "webhook_signing_secret");
  REQUIRE(!url.empty());
  REQUIRE(!signing.empty());
  auto send = [&](const std::string& body, const std::string& delivery, bool sign = true) {
    auto ts = std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count());
    httplib::Headers h{{"X-Tinyforge-Delivery", delivery}};
    if (sign) {
      h.emplace("X-Tinyforge-Timestamp", ts);
      h.emplace("X-Tinyforge-Signature", "sha256=" + tf::hmac_sha256_hex(signing, ts + "." + body));
    }
    httplib::Client c{"127.0.0.1", env.api().port()};
    c.set_read_timeout(std::chrono::seconds{30});
    return to_reply(c.Post(url.c_str(), h, body, "application/json"));
  };

  CHECK(send(R"({"tag":"v2"})", "d-unsigned", false).status == 401);
  CHECK(send(R"({"tag":"not a tag"})", "d-bad").status == 400);
  auto accepted = send(R"({"tag":"v2"})", "d-1");
  INFO(accepted.body);
  REQUIRE(accepted.status == 202);
  auto deployment_id = str(json_of(accepted.body), "deployment_id");
  // The same delivery again deploys nothing more.
  auto again = send(R"({"tag":"v2"})", "d-1");
  CHECK(again.status == 200);
  CHECK(contains(again.body, "\"duplicate\":true"));

  auto done = env.wait_finished(deployment_id, 120s);
  INFO(env.logs());
  REQUIRE(done);
  REQUIRE(done->finished());
  CHECK(done->status == "succeeded");
  CHECK(done->tag == "v2");
  CHECK(image_of_web() == "tinyforge-test/web:v2");
  CHECK(contains(env.api().get("/api/stacks/" + s.ids.id).body, "\"TAG\":\"v2\""));
  // The delivery log names the deploy.
  auto log = env.api().get("/api/workloads/" + s.ids.workload_id + "/deliveries");
  CHECK(contains(log.body, deployment_id));
}
