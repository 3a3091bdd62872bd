// The /api routes for projects, stages, deploys, deployments, containers and instances,
// in-process: a real actor system, the real store actors on a temporary database and
// tf::http::server on an ephemeral port, driven through httplib's client. No deployer runs
// here (its handle is null), so deploy, rollback and instance actions answer 503; their
// success paths are tested end to end with the real deployer.
#include <doctest/doctest.h>

#include "core/errors.hpp"
#include "actors/system.hpp"
#include "api_client.hpp"
#include "api_fixture.hpp"
#include "api_server.hpp"
#include "json_checks.hpp"
#include "config/config.hpp"
#include "expect.hpp"
#include "helpers.hpp"
#include "http/ask.hpp"
#include "http/server.hpp"
#include "net.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <httplib.h>
#include <rapidjson/document.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using namespace tf::test;

namespace {

constexpr const char* json = "application/json";

struct api_fixture : store_fixture {
  api_server server;
  uint16_t port = 0;
  /// A bearer token of a user made here (auth itself is tested in auth_test).
  std::string token = api_token("api-test");

  api_fixture() : store_fixture{1} {
    tf::config cfg;
    cfg.http_threads = 4;
    // No deployer in these tests: the context's deployer stays null.
    port = server.start(server_context(5s), cfg);
    auto warm = client().Get("/healthz");
    CHECK_MESSAGE(warm, "the server did not answer its first request");
  }

  ~api_fixture() { server.stop(); }

  httplib::Client client() const {
    return bearer_client(port, token);
  }

  httplib::Result post(const std::string& path, const std::string& body) {
    return client().Post(path.c_str(), body, json);
  }
  httplib::Result patch(const std::string& path, const std::string& body) {
    return client().Patch(path.c_str(), body, json);
  }
  httplib::Result get(const std::string& path) { return client().Get(path.c_str()); }
  httplib::Result del(const std::string& path) { return client().Delete(path.c_str()); }

  /// Creates a project with one stage "production"; replies the parsed answer.
  rapidjson::Document make_project(const std::string& name) {
    return check_json(post("/api/projects",
                           R"({"name":")" + name
                             + R"(","image":"tinyforge-test/web","stages":[{"name":"production",)"
                               R"("port":8080,"instances":1,"health_path":"/up","subdomain":")"
                             + name + R"(","env":{"K":"V"}}]})"),
                      201);
  }

  /// A direct request to a store actor, for rows no route writes (deployments, containers).
  template <class R, class Handle, class... Ts>
  R call(const Handle& h, Ts&&... xs) {
    auto r = tf::http::ask<R>(sys, h, 5s, std::forward<Ts>(xs)...);
    REQUIRE_MESSAGE(r, tf::error_message(r.error()));
    return std::move(*r);
  }
};

} // namespace

TEST_CASE_FIXTURE(api_fixture, "a project is created, read, listed, changed and deleted") {
  auto created = make_project("api");
  auto id = str(created, "id");
  CHECK(str(created, "name") == "api");
  CHECK(str(created, "image") == "tinyforge-test/web");
  CHECK_FALSE(str(created, "workload_id").empty());
  CHECK_FALSE(str(created, "created_at").empty());
  REQUIRE(created["stages"].IsArray());
  REQUIRE(created["stages"].Size() == 1);
  const auto& st = created["stages"][0];
  CHECK(str(st, "name") == "production");
  CHECK(str(st, "project_id") == id);
  CHECK(num(st, "port") == 8080);
  CHECK(num(st, "instances") == 1);
  CHECK(str(st, "health_path") == "/up");
  CHECK(str(st, "subdomain") == "api");
  CHECK(str(st["env"], "K") == "V");
  CHECK(str(st, "restart_policy") == "unless-stopped"); // the default
  CHECK(st["current_tag"].IsNull());                     // never deployed

  auto got = check_json(get("/api/projects/" + id), 200);
  CHECK(str(got, "id") == id);
  CHECK(got["stages"].Size() == 1);

  auto list = check_json(get("/api/projects"), 200);
  CHECK(num(list, "total") == 1);
  REQUIRE(list["items"].Size() == 1);
  CHECK(str(list["items"][0], "id") == id);

  auto changed = check_json(patch("/api/projects/" + id, R"({"name":"api2"})"), 200);
  CHECK(str(changed, "name") == "api2");
  CHECK(str(changed, "image") == "tinyforge-test/web"); // not in the patch: kept
  changed = check_json(patch("/api/projects/" + id, R"({"image":"registry:5000/team/api"})"), 200);
  CHECK(str(changed, "name") == "api2");
  CHECK(str(changed, "image") == "registry:5000/team/api");

  auto gone = del("/api/projects/" + id);
  REQUIRE(gone);
  CHECK(gone->status == 204);
  CHECK(gone->body.empty());
  check_error(get("/api/projects/" + id), 404, "not_found");
  CHECK(num(check_json(get("/api/projects"), 200), "total") == 0);
}

TEST_CASE_FIXTURE(api_fixture, "projects are listed a page at a time") {
  for (auto name : {"a1", "a2", "a3"})
    make_project(name);
  auto first = check_json(get("/api/projects?limit=2"), 200);
  CHECK(num(first, "total") == 3);
  CHECK(first["items"].Size() == 2);
  auto rest = check_json(get("/api/projects?limit=2&offset=2"), 200);
  CHECK(num(rest, "total") == 3);
  CHECK(rest["items"].Size() == 1);
  auto past = check_json(get("/api/projects?offset=10"), 200);
  CHECK(past["items"].Size() == 0);
}

TEST_CASE_FIXTURE(api_fixture, "limit and offset that are not counts get 400") {
  for (std::string query : {"limit=-1", "limit=abc", "limit=", "limit=0", "limit=501",
                            "offset=-5", "offset=1.5", "limit=99999999999999999999"}) {
    CAPTURE(query);
    for (std::string path : {"/api/projects", "/api/deployments", "/api/containers"})
      if (query != "limit=501" || path != "/api/containers") // containers take 5000
        check_error(get(path + "?" + query), 400, "invalid_argument",
                    query.substr(0, query.find('=')));
  }
  check_error(get("/api/containers?limit=5001"), 400, "invalid_argument", "limit");
  check_error(get("/api/deployments/x?after=-1"), 400, "invalid_argument", "after");
}

TEST_CASE_FIXTURE(api_fixture, "stages are added, changed and deleted by name or id") {
  auto id = str(make_project("web"), "id");
  auto added = check_json(post("/api/projects/" + id + "/stages",
                               R"({"name":"staging","port":8080,"instances":2})"),
                          201);
  auto stage_id = str(added, "id");
  CHECK(str(added, "name") == "staging");
  CHECK(num(added, "instances") == 2);
  CHECK(str(added, "project_id") == id);

  auto by_name = check_json(patch("/api/projects/" + id + "/stages/staging",
                                  R"({"instances":3,"env":{"A":"1"}})"),
                            200);
  CHECK(num(by_name, "instances") == 3);
  CHECK(str(by_name["env"], "A") == "1");
  CHECK(num(by_name, "port") == 8080); // not in the patch: kept
  auto by_id = check_json(
    patch("/api/projects/" + id + "/stages/" + stage_id, R"({"name":"qa"})"), 200);
  CHECK(str(by_id, "name") == "qa");
  CHECK(num(by_id, "instances") == 3);

  auto gone = del("/api/projects/" + id + "/stages/qa");
  REQUIRE(gone);
  CHECK(gone->status == 204);
  auto project = check_json(get("/api/projects/" + id), 200);
  REQUIRE(project["stages"].Size() == 1);
  CHECK(str(project["stages"][0], "name") == "production");
  check_error(del("/api/projects/" + id + "/stages/qa"), 404, "not_found");
}

TEST_CASE_FIXTURE(api_fixture, "malformed JSON and a body that is not an object get 400") {
  auto id = str(make_project("web"), "id");
  for (std::string body : {"{not json", "", "[]", "\"text\"", "{\"name\":\"x\",}"}) {
    CAPTURE(body);
    check_error(post("/api/projects", body), 400, "invalid_argument");
    check_error(patch("/api/projects/" + id, body), 400, "invalid_argument");
    check_error(post("/api/projects/" + id + "/stages", body), 400, "invalid_argument");
    check_error(post("/api/projects/" + id + "/stages/production/deploy", body), 400,
                "invalid_argument");
  }
  check_error(post("/api/projects/" + id + "/stages/production/rollback", "[1]"), 400,
              "invalid_argument");
  CHECK(num(check_json(get("/api/projects"), 200), "total") == 1);
}

TEST_CASE_FIXTURE(api_fixture, "a known field of the wrong type gets 400 naming the field") {
  struct bad {
    std::string body;
    std::string field;
  };
  const bad creates[] = {
    {R"({"name":5,"image":"x"})", "name"},
    {R"({"name":"a","image":["x"]})", "image"},
    {R"({"name":"a","image":"x","stages":{}})", "stages"},
    {R"({"name":"a","image":"x","stages":[7]})", "stages[0]"},
    {R"({"name":"a","image":"x","stages":[{"name":"p","port":"8080"}]})", "stages[0].port"},
    {R"({"name":"a","image":"x","stages":[{"name":"p","port":8080.5}]})", "stages[0].port"},
    {R"({"name":"a","image":"x","stages":[{"name":"p","port":8080,"env":{"K":1}}]})",
     "stages[0].env.K"},
    {R"({"name":"a","image":"x","stages":[{"name":"p","port":8080,"env":[]}]})",
     "stages[0].env"},
    {R"({"name":null,"image":"x"})", "name"},
  };
  for (const auto& b : creates) {
    CAPTURE(b.body);
    check_error(post("/api/projects", b.body), 400, "invalid_argument", b.field + ":");
  }
  CHECK(num(check_json(get("/api/projects"), 200), "total") == 0);

  auto id = str(make_project("web"), "id");
  check_error(patch("/api/projects/" + id, R"({"image":false})"), 400, "invalid_argument",
              "image:");
  check_error(post("/api/projects/" + id + "/stages", R"({"name":"s","instances":"2"})"), 400,
              "invalid_argument", "instances:");
  check_error(patch("/api/projects/" + id + "/stages/production", R"({"health_path":1})"), 400,
              "invalid_argument", "health_path:");
  // Nothing changed.
  auto p = check_json(get("/api/projects/" + id), 200);
  CHECK(str(p["stages"][0], "health_path") == "/up");
}

TEST_CASE_FIXTURE(api_fixture, "unknown fields are ignored") {
  auto created = check_json(post("/api/projects", R"({"name":"api","image":"tinyforge-test/web",
    "color":{"deep":[1,2,{"x":null}]},"stages":[{"name":"p","port":80,"extra":true}]})"),
                            201);
  CHECK(str(created, "name") == "api");
  CHECK(created["stages"].Size() == 1);
}

TEST_CASE_FIXTURE(api_fixture, "names that are not DNS labels and values out of range get 400") {
  check_error(post("/api/projects", R"({"name":"Bad_Name","image":"tinyforge-test/web"})"), 400,
              "invalid_argument", "name");
  check_error(post("/api/projects", R"({"name":"ok","image":"tinyforge-test/web:v1"})"), 400,
              "invalid_argument", "image");
  check_error(post("/api/projects", R"({"name":"ok","image":"tinyforge-test/web",
    "stages":[{"name":"-prod","port":80}]})"),
              400, "invalid_argument", "stages[0].name");
  auto id = str(make_project("web"), "id");
  check_error(patch("/api/projects/" + id, R"({"name":"UPPER"})"), 400, "invalid_argument",
              "name");
  check_error(post("/api/projects/" + id + "/stages", R"({"name":"s","port":70000})"), 400,
              "invalid_argument", "port");
  check_error(patch("/api/projects/" + id + "/stages/production", R"({"name":"a b"})"), 400,
              "invalid_argument", "name");
  CHECK(num(check_json(get("/api/projects"), 200), "total") == 1);
}

TEST_CASE_FIXTURE(api_fixture, "a name already taken gets 409") {
  auto id = str(make_project("api"), "id");
  auto other = str(make_project("other"), "id");
  check_error(post("/api/projects", R"({"name":"api","image":"tinyforge-test/web"})"), 409,
              "conflict", "api");
  check_error(patch("/api/projects/" + other, R"({"name":"api"})"), 409, "conflict");
  check_error(post("/api/projects/" + id + "/stages", R"({"name":"production","port":80})"),
              409, "conflict", "production");
  check_json(post("/api/projects/" + id + "/stages", R"({"name":"staging","port":80})"), 201);
  check_error(patch("/api/projects/" + id + "/stages/staging", R"({"name":"production"})"), 409,
              "conflict");
}

TEST_CASE_FIXTURE(api_fixture, "an unknown project gets 404 on every route that names one") {
  const std::string p = "/api/projects/no-such-id";
  check_error(get(p), 404, "not_found");
  check_error(patch(p, R"({"name":"x"})"), 404, "not_found");
  check_error(del(p), 404, "not_found");
  check_error(post(p + "/stages", R"({"name":"s","port":80})"), 404, "not_found");
  check_error(patch(p + "/stages/production", R"({"port":81})"), 404, "not_found");
  check_error(del(p + "/stages/production"), 404, "not_found");
}

TEST_CASE_FIXTURE(api_fixture, "a stage of another project gets 404 and is left alone") {
  auto a = make_project("alpha");
  auto b = make_project("beta");
  auto a_id = str(a, "id");
  auto b_id = str(b, "id");
  auto b_stage = str(b["stages"][0], "id");
  check_error(patch("/api/projects/" + a_id + "/stages/" + b_stage, R"({"port":9999})"), 404,
              "not_found");
  check_error(del("/api/projects/" + a_id + "/stages/" + b_stage), 404, "not_found");
  check_error(patch("/api/projects/" + a_id + "/stages/nope", R"({"port":9999})"), 404,
              "not_found", "nope");
  auto still = check_json(get("/api/projects/" + b_id), 200);
  REQUIRE(still["stages"].Size() == 1);
  CHECK(num(still["stages"][0], "port") == 8080);
}

TEST_CASE_FIXTURE(api_fixture, "a deploy without a valid tag gets 400 before any deployer") {
  auto id = str(make_project("web"), "id");
  const std::string deploy = "/api/projects/" + id + "/stages/production/deploy";
  const std::string too_long = R"({"tag":")" + std::string(129, 'a') + R"("})";
  const std::vector<std::string> bodies{R"({})",           R"({"tag":""})",
                                        R"({"tag":"-v1"})",   R"({"tag":"v 1"})",
                                        R"({"tag":"v1:latest"})", R"({"tag":7})", too_long};
  for (const auto& body : bodies) {
    CAPTURE(body);
    check_error(post(deploy, body), 400, "invalid_argument", "tag");
  }
  CHECK(num(check_json(get("/api/deployments"), 200), "total") == 0);
}

TEST_CASE_FIXTURE(api_fixture, "without a deployer, deploys, rollbacks and instance actions get 503") {
  auto id = str(make_project("web"), "id");
  const std::string stage = "/api/projects/" + id + "/stages/production";
  check_error(post(stage + "/deploy", R"({"tag":"v2"})"), 503, "unavailable");
  check_error(post(stage + "/rollback", ""), 503, "unavailable");
  check_error(post(stage + "/rollback", "{}"), 503, "unavailable");
  for (std::string action : {"stop", "start", "restart"})
    check_error(post("/api/instances/" + id + "/production/row-1/" + action, ""), 503,
                "unavailable");
  check_error(post("/api/instances/" + id + "/production/row-1/explode", ""), 404, "not_found");
  CHECK(num(check_json(get("/api/deployments"), 200), "total") == 0);
}

TEST_CASE_FIXTURE(api_fixture, "deployments are listed without logs and read with them") {
  check_error(get("/api/deployments/no-such-id"), 404, "not_found");
  auto empty = check_json(get("/api/deployments"), 200);
  CHECK(num(empty, "total") == 0);
  CHECK(empty["items"].Size() == 0);

  // No deployer runs here: the deploy is recorded the way a deployer records it.
  auto p = make_project("web");
  tf::deployment d;
  d.workload_id = str(p, "workload_id");
  d.stage_id = str(p["stages"][0], "id");
  d.tag = "v2";
  auto queued = call<tf::deployment>(store.writer, tf::atom::create_v, d);
  caf::scoped_actor self{sys};
  for (auto line : {"pull tinyforge-test/web:v2", "create 1 container", "health ok"})
    self->send(store.writer, tf::atom::append_v, tf::deployment_log_line{queued.id, line});
  // The writer handles one sender's messages in order: once this answers, the lines are in.
  call<tf::deployment>(store.writer, tf::atom::update_v,
                       tf::deployment_transition{queued.id, "running", ""});

  auto list = check_json(get("/api/deployments?workload_id=" + d.workload_id), 200);
  CHECK(num(list, "total") == 1);
  REQUIRE(list["items"].Size() == 1);
  CHECK(str(list["items"][0], "id") == queued.id);
  CHECK_FALSE(list["items"][0].HasMember("log"));
  auto other = check_json(get("/api/deployments?workload_id=someone-else"), 200);
  CHECK(num(other, "total") == 0);

  auto got = check_json(get("/api/deployments/" + queued.id), 200);
  CHECK(str(got, "status") == "running");
  CHECK(str(got, "tag") == "v2");
  CHECK(str(got, "trigger") == "api");
  CHECK(str(got, "stage_id") == d.stage_id);
  CHECK_FALSE(str(got, "started_at").empty());
  CHECK(got["finished_at"].IsNull());
  CHECK(got["error"].IsNull());
  REQUIRE(got["log"].IsArray());
  REQUIRE(got["log"].Size() == 3);
  CHECK(std::string{got["log"][0].GetString()} == "pull tinyforge-test/web:v2");
  CHECK(num(got, "log_total") == 3);

  auto tail = check_json(get("/api/deployments/" + queued.id + "?after=2"), 200);
  REQUIRE(tail["log"].Size() == 1);
  CHECK(std::string{tail["log"][0].GetString()} == "health ok");
  CHECK(num(tail, "log_total") == 3);
  auto none = check_json(get("/api/deployments/" + queued.id + "?after=100"), 200);
  CHECK(none["log"].Size() == 0);
}

TEST_CASE_FIXTURE(api_fixture, "containers are listed with filters and read one at a time") {
  check_error(get("/api/containers/no-such-id"), 404, "not_found");
  CHECK(num(check_json(get("/api/containers"), 200), "total") == 0);

  // The deployer's write, done here directly: no deployer runs in this test.
  auto p = make_project("web");
  tf::container_row row;
  row.id = "row-web-1";
  row.workload_id = str(p, "workload_id");
  row.workload_kind = "project";
  row.role = "production";
  row.stage_id = str(p["stages"][0], "id");
  row.subdomain = "web";
  row.image_tag = "v1";
  row.container_id = std::string(64, 'a');
  row.state = "running";
  row.port = 20001;
  call<tf::container_row>(store.writer, tf::atom::upsert_v, row);

  auto list = check_json(get("/api/containers?workload_id=" + row.workload_id + "&state=running"),
                         200);
  CHECK(num(list, "total") == 1);
  REQUIRE(list["items"].Size() == 1);
  const auto& item = list["items"][0];
  CHECK(str(item, "id") == row.id);
  CHECK(str(item, "workload_kind") == "project");
  CHECK(str(item, "role") == "production");
  CHECK(str(item, "stage_id") == row.stage_id);
  CHECK(str(item, "image_tag") == "v1");
  CHECK(str(item, "container_id") == row.container_id);
  CHECK(str(item, "host") == "local");
  CHECK(num(item, "port") == 20001);
  CHECK(num(check_json(get("/api/containers?state=missing"), 200), "total") == 0);
  CHECK(num(check_json(get("/api/containers?kind=stack"), 200), "total") == 0);

  auto one = check_json(get("/api/containers/" + row.id), 200);
  CHECK(str(one, "state") == "running");
  CHECK(str(one, "subdomain") == "web");
}
