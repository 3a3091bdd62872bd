// The admin routes in-process: settings, apps behind features.apps_grouping, the proxy
// routes, the stale scan and prune on the real Docker engine, and /metrics. A real actor
// system, the real store actors on a temporary database, a real docker worker and a proxy
// actor with the "none" provider, and tf::http::server on an ephemeral port.
#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "actors/docker_worker.hpp"
#include "core/errors.hpp"
#include "actors/proxy_actor.hpp"
#include "actors/stale_scan.hpp"
#include "actors/system.hpp"
#include "api_client.hpp"
#include "api_fixture.hpp"
#include "api_server.hpp"
#include "json_checks.hpp"
#include "config/config.hpp"
#include "docker_fixtures.hpp"
#include "expect.hpp"
#include "helpers.hpp"
#include "http/ask.hpp"
#include "http/server.hpp"
#include "net.hpp"
#include "proxy/provider.hpp"
#include "core/ids.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <httplib.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using namespace tf::test;

namespace {

constexpr const char* json = "application/json";

/// The ids (or `key`) of the objects in an array.
std::vector<std::string> field_of(const rapidjson::Value& items, const char* key) {
  std::vector<std::string> out;
  REQUIRE(items.IsArray());
  for (const auto& x : items.GetArray())
    out.push_back(str(x, key));
  return out;
}

bool contains(const std::vector<std::string>& xs, const std::string& x) {
  return std::find(xs.begin(), xs.end(), x) != xs.end();
}

struct admin_fixture : store_fixture {
  tf::docker::cancel_token cancel = tf::docker::make_cancel_token();
  tf::docker_actor docker;
  tf::proxy_actor proxy;
  api_server server;
  uint16_t port = 0;
  std::string token = api_token("admin-test");

  admin_fixture() : store_fixture{1} {
    auto ep = tf::docker::endpoint::parse(engine_host);
    REQUIRE(ep);
    docker = sys.spawn<caf::detached>(tf::docker_worker, *ep, cancel, tf::docker::client_options{});
    tf::config cfg;
    cfg.http_threads = 4;
    cfg.proxy_provider = "none";
    std::shared_ptr<tf::proxy::provider> provider = tf::proxy::make_provider(cfg);
    REQUIRE(provider);
    proxy = sys.spawn<caf::detached>(tf::proxy_service, provider, std::string{"none"});
    auto ctx = server_context(20s);
    ctx.docker = docker;
    ctx.proxy = proxy;
    port = server.start(ctx, cfg);
  }

  ~admin_fixture() {
    server.stop();
    cancel->cancel();
    caf::scoped_actor self{sys};
    for (const auto& h : {caf::actor_cast<caf::actor>(docker), caf::actor_cast<caf::actor>(proxy)}) {
      self->monitor(h);
      self->send_exit(h, caf::exit_reason::user_shutdown);
      self->receive([](const caf::down_msg&) {});
    }
  }

  httplib::Client client(bool with_token = true) const {
    return bearer_client(port, with_token ? token : std::string{}, {5s, 60s, 20s});
  }
  httplib::Result get(const std::string& path) { return client().Get(path.c_str()); }
  httplib::Result post(const std::string& path, const std::string& body) {
    return client().Post(path.c_str(), body, json);
  }
  httplib::Result patch(const std::string& path, const std::string& body) {
    return client().Patch(path.c_str(), body, json);
  }
  httplib::Result del(const std::string& path) { return client().Delete(path.c_str()); }

  template <class R, class Handle, class... Ts>
  R call(const Handle& h, Ts&&... xs) {
    auto r = tf::http::ask<R>(sys, h, 20s, std::forward<Ts>(xs)...);
    REQUIRE_MESSAGE(r, tf::error_message(r.error()));
    return std::move(*r);
  }

  /// A project with one stage "production" whose image is `image`.
  tf::project make_project(const std::string& name, const std::string& image) {
    auto doc = check_json(post("/api/projects",
                               R"({"name":")" + name + R"(","image":")" + image
                                 + R"(","stages":[{"name":"production","port":8080,)"
                                   R"("subdomain":")" + name + R"("}]})"),
                          201);
    return call<tf::project>(store.readers->next(), tf::atom::get_v, tf::atom::project_v,
                             str(doc, "id"));
  }

  void turn_apps(bool on) {
    auto doc = check_json(patch("/api/settings", std::string{R"({"features.apps_grouping":)"}
                                                   + (on ? "true" : "false") + "}"),
                          200);
    CHECK(doc["features.apps_grouping"].GetBool() == on);
  }

  /// The newest audit rows' actions, once `last` is among them (or after 10 s). A handler
  /// sends its audit row to the store writer without waiting for it, so the row may land
  /// just after the answer that the test has already read.
  std::vector<std::string> audit_actions(const std::string& last) {
    std::vector<std::string> out;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{10};
    do {
      auto rows = call<std::vector<tf::audit_row>>(store.readers->next(), tf::atom::list_v,
                                                   tf::atom::audit_v, int64_t{50});
      out.clear();
      for (const auto& r : rows)
        out.push_back(r.entry.action);
      if (contains(out, last))
        break;
      std::this_thread::sleep_for(std::chrono::milliseconds{20});
    } while (std::chrono::steady_clock::now() < deadline);
    return out;
  }
};

// -- the engine: images made for one test and removed with it ----------------------------------

void remove_image_now(const tf::docker::endpoint& ep, const std::string& ref) {
  tf::docker::client c{ep, tf::docker::make_cancel_token()};
  warn_cleanup("remove image " + ref, c.remove_image(ref, true));
}

/// Commits `container` as repository:tag: an image of its own id (not shared with the
/// image the container came from, which other tests' containers may use).
std::string commit(const std::string& container, const std::string& repository,
                   const std::string& tag) {
  auto ep = tf::docker::endpoint::parse(engine_host);
  REQUIRE(ep);
  tf::docker::transport http{*ep, tf::docker::make_cancel_token()};
  auto res = http.call("POST",
                       "/commit?container=" + tf::docker::url_encode(container)
                         + "&repo=" + tf::docker::url_encode(repository)
                         + "&tag=" + tf::docker::url_encode(tag)
                         + "&comment=" + tf::docker::url_encode("admin_api_test " + tag),
                       "{}", 60s);
  REQUIRE_MESSAGE(res, describe(res.error()));
  INFO("commit answered: ", res->body);
  REQUIRE(res->status == 201);
  auto id = tf::docker::parse_created_id(res->body);
  REQUIRE(id);
  return *id;
}

std::string create_container(tf::docker::client& c, const std::string& name,
                             const std::string& image, tf::docker::label_map labels) {
  tf::docker::container_spec spec;
  spec.name = name;
  spec.image = image;
  spec.labels = test_labels(std::move(labels));
  auto id = c.create_container(spec);
  REQUIRE_MESSAGE(id, describe(id.error()));
  return *id;
}

} // namespace

// -- settings -----------------------------------------------------------------------------------

TEST_CASE_FIXTURE(admin_fixture, "settings: defaults, a change, and bad changes that write nothing") {
  auto got = check_json(get("/api/settings"), 200);
  REQUIRE(got.HasMember("features.apps_grouping"));
  CHECK(got["features.apps_grouping"].IsFalse());

  turn_apps(true);
  got = check_json(get("/api/settings"), 200);
  CHECK(got["features.apps_grouping"].IsTrue());
  CHECK(contains(audit_actions("settings.update"), "settings.update"));

  check_error(patch("/api/settings", R"({"features.nope":true})"), 400, "invalid_argument",
              "no such setting");
  check_error(patch("/api/settings", R"({"features.apps_grouping":"yes"})"), 400,
              "invalid_argument", "true or false");
  check_error(patch("/api/settings", R"({"features.apps_grouping":1})"), 400,
              "invalid_argument");
  // A valid change beside an invalid one is not written either.
  check_error(patch("/api/settings", R"({"features.apps_grouping":false,"x":1})"), 400,
              "invalid_argument");
  check_error(patch("/api/settings", R"({"features.apps_grouping":)"), 400, "invalid_argument");
  check_error(patch("/api/settings", R"([true])"), 400, "invalid_argument");
  check_error(patch("/api/settings", "{}"), 400, "invalid_argument");
  got = check_json(get("/api/settings"), 200);
  CHECK(got["features.apps_grouping"].IsTrue());
}

// -- apps ---------------------------------------------------------------------------------------

TEST_CASE_FIXTURE(admin_fixture, "apps answer 404 while features.apps_grouping is off") {
  check_error(get("/api/apps"), 404, "not_found", "features.apps_grouping");
  check_error(post("/api/apps", R"({"name":"shop"})"), 404, "not_found");
  check_error(get("/api/apps/x"), 404, "not_found");
  check_error(patch("/api/apps/x", R"({"name":"y"})"), 404, "not_found");
  check_error(del("/api/apps/x"), 404, "not_found");
  // Turned on and off again: hidden again, and nothing was created meanwhile.
  turn_apps(true);
  check_json(post("/api/apps", R"({"name":"shop"})"), 201);
  turn_apps(false);
  check_error(get("/api/apps"), 404, "not_found");
}

TEST_CASE_FIXTURE(admin_fixture, "apps are created, listed, changed and deleted, and their workloads stay") {
  turn_apps(true);
  auto created = check_json(post("/api/apps", R"({"name":"shop","description":"the store"})"), 201);
  auto id = str(created, "id");
  CHECK(str(created, "name") == "shop");
  CHECK(str(created, "description") == "the store");
  check_json(post("/api/apps", R"({"name":"blog"})"), 201);

  auto list = check_json(get("/api/apps"), 200);
  CHECK(list["total"].GetInt64() == 2);
  CHECK(field_of(list["items"], "name") == std::vector<std::string>{"blog", "shop"});
  list = check_json(get("/api/apps?limit=1&offset=1"), 200);
  CHECK(list["total"].GetInt64() == 2);
  CHECK(field_of(list["items"], "name") == std::vector<std::string>{"shop"});
  check_error(get("/api/apps?limit=0"), 400, "invalid_argument");

  CHECK(str(check_json(get("/api/apps/" + id), 200), "name") == "shop");
  auto changed = check_json(patch("/api/apps/" + id, R"({"description":"shop front"})"), 200);
  CHECK(str(changed, "name") == "shop");
  CHECK(str(changed, "description") == "shop front");
  changed = check_json(patch("/api/apps/" + id, R"({"name":"shop2"})"), 200);
  CHECK(str(changed, "name") == "shop2");

  // A workload in the app: deleting the app leaves the workload, ungrouped.
  auto p = make_project("web", "tinyforge-test/web");
  tf::patch<tf::workload> grouping;
  grouping.id = p.workload_id;
  grouping.fields = {"app_id"};
  grouping.value.app_id = id;
  CHECK(call<tf::workload>(store.writer, tf::atom::update_v, grouping).app_id == id);

  auto gone = del("/api/apps/" + id);
  REQUIRE(gone);
  CHECK(gone->status == 204);
  check_error(get("/api/apps/" + id), 404, "not_found");
  check_error(del("/api/apps/" + id), 404, "not_found");
  auto w = call<tf::workload>(store.readers->next(), tf::atom::get_v, tf::atom::workload_v,
                              p.workload_id);
  CHECK(w.app_id.empty());
  auto actions = audit_actions("app.delete");
  CHECK(contains(actions, "app.create"));
  CHECK(contains(actions, "app.update"));
  CHECK(contains(actions, "app.delete"));
}

TEST_CASE_FIXTURE(admin_fixture, "apps: bad names, duplicates and bad bodies") {
  turn_apps(true);
  auto first = check_json(post("/api/apps", R"({"name":"shop"})"), 201);
  check_error(post("/api/apps", R"({"name":"shop"})"), 409, "conflict", "already exists");
  auto other = check_json(post("/api/apps", R"({"name":"blog"})"), 201);
  check_error(patch("/api/apps/" + str(other, "id"), R"({"name":"shop"})"), 409, "conflict");
  check_error(post("/api/apps", R"({"name":"Shop"})"), 400, "invalid_argument", "DNS label");
  check_error(post("/api/apps", R"({"name":"-shop"})"), 400, "invalid_argument");
  check_error(post("/api/apps", R"({"name":""})"), 400, "invalid_argument");
  check_error(post("/api/apps", R"({"description":"no name"})"), 400, "invalid_argument",
              "name");
  check_error(post("/api/apps", R"({"name":7})"), 400, "invalid_argument", "string");
  check_error(post("/api/apps", R"({"name":"ok","description":[]})"), 400, "invalid_argument");
  check_error(post("/api/apps", R"({"name":"ok","description":")" + std::string(2000, 'x')
                                  + "\"}"),
              400, "invalid_argument", "description");
  check_error(post("/api/apps", "{\"name\":"), 400, "invalid_argument");
  check_error(patch("/api/apps/no-such-id", R"({"name":"x"})"), 404, "not_found");
  // Nothing of the refused requests was written.
  CHECK(check_json(get("/api/apps"), 200)["total"].GetInt64() == 2);
  CHECK(str(check_json(get("/api/apps/" + str(first, "id")), 200), "name") == "shop");
}

// -- proxies ------------------------------------------------------------------------------------

TEST_CASE_FIXTURE(admin_fixture, "proxies list the routes with their stage, project and provider") {
  auto empty = check_json(get("/api/proxies"), 200);
  CHECK(empty["total"].GetInt64() == 0);
  CHECK(str(empty, "provider") == "none");
  CHECK(empty["gated"].IsFalse());

  auto p = make_project("web", "tinyforge-test/web");
  tf::route_claim claim;
  claim.owner_id = p.stages.at(0).id;
  claim.host = "web.example.test";
  claim.health_path = "/up";
  claim.slot_count = 2;
  claim.port_low = 21000;
  claim.port_high = 21099;
  auto route = call<tf::proxy_route>(store.writer, tf::atom::route_v, claim);
  route.serving = {route.slots.at(0)};
  call<tf::proxy_route>(store.writer, tf::atom::update_v, route);

  auto list = check_json(get("/api/proxies"), 200);
  CHECK(list["total"].GetInt64() == 1);
  REQUIRE(list["items"].Size() == 1);
  const auto& r = list["items"][0];
  CHECK(str(r, "host") == "web.example.test");
  CHECK(str(r, "project") == "web");
  CHECK(str(r, "project_id") == p.id);
  CHECK(str(r, "stage") == "production");
  CHECK(str(r, "health_path") == "/up");
  REQUIRE(r["slots"].Size() == 2);
  CHECK(r["slots"][0].GetInt64() == route.slots[0]);
  REQUIRE(r["serving"].Size() == 1);
  CHECK(r["serving"][0].GetInt64() == route.slots[0]);
  CHECK(check_json(get("/api/proxies?offset=1"), 200)["items"].Size() == 0);
  check_error(get("/api/proxies?limit=x"), 400, "invalid_argument");
}

// -- stale resources ----------------------------------------------------------------------------

TEST_CASE("find_stale: the rules on listed values") {
  tf::tracked_resources tracked;
  tracked.workload_ids = {"w1"};
  tracked.container_ids = {"c-tracked"};
  tracked.images = {{"team/api", {"v2", "v1"}}};
  // What this daemon's deploys named: v0 and v1 of team/api (never v7, nor other/x).
  tracked.deployed = {{"team/api", {"v0", "v1", "v2"}}, {"registry:5000/team/api", {"v1"}}};
  auto managed = [](std::string id, std::string workload, std::string state, int64_t created,
                    std::string instance = "me") {
    tf::docker::container_summary c;
    c.id = std::move(id);
    c.names = {"/" + c.id};
    c.image_id = "sha256:used";
    c.state = std::move(state);
    c.created = created;
    c.labels[tf::docker::label::managed] = "true";
    if (!workload.empty())
      c.labels[tf::docker::label::workload_id] = std::move(workload);
    if (!instance.empty())
      c.labels[tf::docker::label::instance] = std::move(instance);
    return c;
  };
  std::vector<tf::docker::container_summary> containers{
    managed("c-forged", "w-unknown", "running", 0),  // unknown workload, even running
    managed("c-nolabel", "", "exited", 0),           // no workload label
    managed("c-tracked", "w1", "exited", 0),         // a row points at it
    managed("c-running", "w1", "running", 0),        // untracked but running
    managed("c-old", "w1", "exited", 100),           // untracked, stopped, old
    managed("c-young", "w1", "exited", 950),         // untracked, stopped, within the grace
    // Another daemon's on the same engine: never this one's to list, whatever its labels.
    managed("c-other-unknown", "w-unknown", "running", 0, "other"),
    managed("c-other-old", "w1", "exited", 100, "other"),
    // Made before the instance label existed: this daemon's only when its workload is.
    managed("c-legacy-old", "w1", "exited", 100, ""),
    managed("c-legacy-unknown", "w-unknown", "exited", 100, ""),
  };
  tf::docker::container_summary foreign;
  foreign.id = "c-foreign"; // not Tinyforge's
  foreign.state = "exited";
  containers.push_back(foreign);
  auto image = [](std::string id, std::vector<std::string> tags) {
    tf::docker::image_summary i;
    i.id = std::move(id);
    i.repo_tags = std::move(tags);
    i.size = 10;
    return i;
  };
  std::vector<tf::docker::image_summary> images{
    image("sha256:a", {"team/api:v1", "team/api:v0", "other/x:old"}),
    image("sha256:used", {"team/api:v-1"}), // a container uses it
    image("sha256:b", {"<none>:<none>"}),
    image("sha256:c", {"registry:5000/team/api:v0"}), // another repository
    image("sha256:d", {"team/api:v7"}), // never deployed here: another daemon pulled it
  };
  tf::stale_rules rules;
  rules.now_unix = 1000;
  rules.untracked_grace_s = 300;
  rules.instance_id = "me";
  auto report = tf::find_stale(tracked, containers, images, rules);
  std::vector<std::string> ids;
  for (const auto& c : report.containers)
    ids.push_back(c.id + ":" + c.reason);
  CHECK(ids == std::vector<std::string>{"c-forged:unknown_workload", "c-nolabel:unknown_workload",
                                        "c-old:untracked", "c-legacy-old:untracked"});
  REQUIRE(report.images.size() == 1);
  CHECK(report.images[0].ref == "team/api:v0");
  CHECK(report.images[0].id == "sha256:a");

  tf::prune_selection some;
  some.everything = false;
  some.containers = {"c-old", "c-running", "c-old"};
  some.images = {"sha256:a", "team/api:v1"};
  auto plan = tf::plan_prune(report, some);
  REQUIRE(plan.containers.size() == 1);
  CHECK(plan.containers[0].id == "c-old");
  REQUIRE(plan.images.size() == 1);
  CHECK(plan.images[0].ref == "team/api:v0");
  CHECK(plan.not_stale == std::vector<std::pair<std::string, std::string>>{
                            {"container", "c-running"}, {"image", "team/api:v1"}});

  std::string repo, tag;
  CHECK(tf::split_image_ref("registry:5000/team/api:v1", repo, tag));
  CHECK(repo == "registry:5000/team/api");
  CHECK(tag == "v1");
  CHECK_FALSE(tf::split_image_ref("registry:5000/team/api", repo, tag));
  CHECK_FALSE(tf::split_image_ref("<none>:<none>", repo, tag));
}

TEST_CASE_FIXTURE(admin_fixture, "stale: forged containers and unkept tags are listed and pruned, and the rest stay") {
  auto ep = tf::docker::endpoint::parse(engine_host);
  REQUIRE(ep);
  tf::docker::client engine{*ep, tf::docker::make_cancel_token()};
  container_guard containers;
  engine_guard images{remove_image_now};

  // A repository of this test's own, so no other test's image is ever in the scan's reach.
  const std::string repo = "tinyforge-test/admin-" + run_id();
  auto p = make_project("web", repo);
  const auto& stage = p.stages.at(0);

  // Three images of distinct ids: :old (stale), :keep (the stage's current tag), :inuse.
  auto base_name = unique_name("tf-admin", "base");
  auto base = create_container(engine, base_name, "tinyforge-test/web:v1", {});
  containers.add(base);
  for (const char* tag : {"old", "keep", "inuse", "never"}) {
    images.add(repo + ":" + tag);
    commit(base, repo, tag);
  }
  auto user = create_container(engine, unique_name("tf-admin", "user"), repo + ":inuse", {});
  containers.add(user);

  // A deploy of :old failed (this daemon pulled it; no stage keeps it). Nothing here ever
  // named :never: another daemon's pull, not this one's to remove.
  tf::deployment failed;
  failed.workload_id = p.workload_id;
  failed.stage_id = stage.id;
  failed.tag = "old";
  failed = call<tf::deployment>(store.writer, tf::atom::create_v, failed);
  call<tf::deployment>(store.writer, tf::atom::update_v,
                       tf::deployment_transition{failed.id, "running", ""});
  call<tf::deployment>(store.writer, tf::atom::update_v,
                       tf::deployment_transition{failed.id, "failed", "test"});

  // The stage deployed :keep (a succeeded deployment sets its current tag).
  tf::deployment d;
  d.workload_id = p.workload_id;
  d.stage_id = stage.id;
  d.tag = "keep";
  d = call<tf::deployment>(store.writer, tf::atom::create_v, d);
  call<tf::deployment>(store.writer, tf::atom::update_v, tf::deployment_transition{d.id, "running", ""});
  call<tf::deployment>(store.writer, tf::atom::update_v,
                       tf::deployment_transition{d.id, "succeeded", ""});

  // A managed container with a forged workload id, and one of the project that the index
  // tracks.
  // The labels of a project container of `instance` on `workload_id`, role production.
  auto labels_of = [](const std::string& instance, const std::string& workload_id) {
    return tf::docker::label_map{{tf::docker::label::managed, "true"},
                                 {tf::docker::label::instance, instance},
                                 {tf::docker::label::workload_id, workload_id},
                                 {tf::docker::label::workload_kind, "project"},
                                 {tf::docker::label::role, "production"}};
  };
  auto forged = create_container(engine, unique_name("tf-admin", "forged"), "tinyforge-test/web:v1",
                                 labels_of(store.instance_id, tf::new_id()));
  containers.add(forged);
  // Another daemon's on the same engine: its workload id means nothing here.
  auto others = create_container(engine, unique_name("tf-admin", "other-daemon"),
                                 "tinyforge-test/web:v1",
                                 labels_of("another-" + run_id(), tf::new_id()));
  containers.add(others);
  auto tracked = create_container(engine, unique_name("tf-admin", "tracked"),
                                  "tinyforge-test/web:v1",
                                  labels_of(store.instance_id, p.workload_id));
  containers.add(tracked);
  tf::container_row row;
  row.id = tf::new_id();
  row.workload_id = p.workload_id;
  row.workload_kind = "project";
  row.role = "production";
  row.stage_id = stage.id;
  row.container_id = tracked;
  row.state = "created";
  call<tf::container_row>(store.writer, tf::atom::upsert_v, row);

  auto scan = check_json(get("/api/stale"), 200);
  auto stale_containers = field_of(scan["containers"], "id");
  CHECK(contains(stale_containers, forged));
  CHECK_FALSE(contains(stale_containers, tracked));
  CHECK_FALSE(contains(stale_containers, base)); // not Tinyforge's
  CHECK_FALSE(contains(stale_containers, others)); // another daemon's
  for (const auto& c : scan["containers"].GetArray())
    if (str(c, "id") == forged)
      CHECK(str(c, "reason") == "unknown_workload");
  auto stale_refs = field_of(scan["images"], "ref");
  CHECK(contains(stale_refs, repo + ":old"));
  CHECK_FALSE(contains(stale_refs, repo + ":keep"));
  CHECK_FALSE(contains(stale_refs, repo + ":inuse"));
  CHECK_FALSE(contains(stale_refs, repo + ":never")); // this daemon never pulled it
  for (const auto& i : scan["images"].GetArray())
    if (str(i, "ref") == repo + ":old") {
      CHECK(i["size"].GetInt64() > 0);
      CHECK(i["created_at"].IsString());
    }

  // A prune limited to this test's objects: the live ones asked for are skipped, not removed.
  // (A prune without a body would also take other tests' forged-label containers.)
  auto pruned = check_json(post("/api/stale/prune",
                                R"({"containers":[")" + forged + R"(",")" + tracked
                                  + R"("],"images":[")" + repo + R"(:old",")" + repo
                                  + R"(:keep"]})"),
                           200);
  CHECK(field_of(pruned["removed"]["containers"], "id") == std::vector<std::string>{forged});
  CHECK(field_of(pruned["removed"]["images"], "ref") == std::vector<std::string>{repo + ":old"});
  CHECK(pruned["failed"].Size() == 0);
  CHECK(field_of(pruned["skipped"], "id") == std::vector<std::string>{tracked, repo + ":keep"});

  // What the engine has now.
  CHECK(tf::error_code(engine.inspect_container(forged).error()) == tf::ec::not_found);
  CHECK(engine.inspect_container(tracked));
  CHECK(engine.inspect_container(user));
  CHECK(tf::error_code(engine.inspect_image(repo + ":old").error()) == tf::ec::not_found);
  CHECK(engine.inspect_image(repo + ":keep"));
  CHECK(engine.inspect_image(repo + ":inuse"));
  CHECK(contains(audit_actions("stale.prune"), "stale.prune"));

  // A second scan no longer finds them.
  scan = check_json(get("/api/stale"), 200);
  CHECK_FALSE(contains(field_of(scan["containers"], "id"), forged));
  CHECK_FALSE(contains(field_of(scan["images"], "ref"), repo + ":old"));

  // A bare prune takes everything this daemon finds stale, and nothing of another daemon's
  // nor an image it never pulled.
  pruned = check_json(post("/api/stale/prune", ""), 200);
  CHECK_FALSE(contains(field_of(pruned["removed"]["containers"], "id"), others));
  CHECK_FALSE(contains(field_of(pruned["removed"]["images"], "ref"), repo + ":never"));
  CHECK(engine.inspect_container(others));
  CHECK(engine.inspect_image(repo + ":never"));
}

TEST_CASE_FIXTURE(admin_fixture, "stale prune: a bad body is refused before anything is removed") {
  check_error(post("/api/stale/prune", R"({"containers":"abc"})"), 400, "invalid_argument",
              "array");
  check_error(post("/api/stale/prune", R"({"containers":[1]})"), 400, "invalid_argument");
  check_error(post("/api/stale/prune", R"({"containers":[""]})"), 400, "invalid_argument");
  check_error(post("/api/stale/prune", R"({"container":["abc"]})"), 400, "invalid_argument",
              "unknown field");
  check_error(post("/api/stale/prune", R"(["abc"])"), 400, "invalid_argument");
  check_error(post("/api/stale/prune", R"({"images":[)"), 400, "invalid_argument");
  std::string many = R"({"images":[)";
  for (int i = 0; i < 1001; ++i)
    many += std::string{i ? "," : ""} + "\"x\"";
  check_error(post("/api/stale/prune", many + "]}"), 400, "invalid_argument", "at most");
  // Ids that are not stale are reported, never removed.
  auto pruned = check_json(post("/api/stale/prune", R"({"containers":["no-such-container"]})"), 200);
  CHECK(pruned["removed"]["containers"].Size() == 0);
  CHECK(field_of(pruned["skipped"], "id") == std::vector<std::string>{"no-such-container"});
}

// -- metrics ------------------------------------------------------------------------------------

TEST_CASE_FIXTURE(admin_fixture, "metrics: Prometheus text without a token, with the store's counts") {
  auto p = make_project("web", "tinyforge-test/web");
  tf::container_row row;
  row.id = tf::new_id();
  row.workload_id = p.workload_id;
  row.workload_kind = "project";
  row.role = "production";
  row.stage_id = p.stages.at(0).id;
  row.state = "running";
  call<tf::container_row>(store.writer, tf::atom::upsert_v, row);
  tf::deployment d;
  d.workload_id = p.workload_id;
  d.stage_id = p.stages.at(0).id;
  d.tag = "v1";
  call<tf::deployment>(store.writer, tf::atom::create_v, d);

  auto res = client(false).Get("/metrics");
  REQUIRE(res);
  INFO("body: ", res->body);
  REQUIRE(res->status == 200);
  CHECK(res->get_header_value("Content-Type").rfind("text/plain; version=0.0.4", 0) == 0);
  const auto& text = res->body;
  auto has_line = [&](const std::string& line) {
    return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
  };
  CHECK(text.find("# TYPE tinyforge_build_info gauge") != std::string::npos);
  CHECK(text.find("tinyforge_build_info{version=\"") != std::string::npos);
  CHECK(text.find("\ntinyforge_uptime_seconds ") != std::string::npos);
  CHECK(text.find("\nprocess_resident_memory_bytes ") != std::string::npos);
  CHECK(has_line("tinyforge_containers{kind=\"project\",state=\"running\"} 1"));
  CHECK(has_line("tinyforge_deployments{status=\"queued\"} 1"));
  CHECK(has_line("tinyforge_deployments{status=\"failed\"} 0"));
  CHECK(has_line("tinyforge_webhook_deliveries{result=\"accepted\"} 0"));
  CHECK(has_line("tinyforge_workloads 1"));
  CHECK(has_line("tinyforge_docker_up 0")); // no reconciler in this test
  // Every sample line is "name{labels} value" or "name value".
  std::istringstream lines{text};
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#')
      continue;
    auto space = line.rfind(' ');
    REQUIRE(space != std::string::npos);
    CHECK_MESSAGE(line.find_first_not_of("0123456789.", space + 1) == std::string::npos, line);
  }
}
