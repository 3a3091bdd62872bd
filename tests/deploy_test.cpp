// Deploys end to end, as a user drives them: the real daemon (`tinyforge serve`), the real
// Docker engine, real Caddy and nginx, real iptables. Each test builds its own world
// (deploy_harness.hpp: temp dir, slot port range, proxy, daemon), creates projects through the
// API, deploys tinyforge-test/web tags and checks what a user would: the deployment's status,
// what answers through the proxy, what `docker ps -a` shows, what the API lists. Waits poll
// with generous deadlines; nothing asserts on elapsed time (durations are printed).
#include <doctest/doctest.h>

#include "deploy_checks.hpp"
#include "deploy_harness.hpp"
#include "load.hpp"
#include "net.hpp"

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <string>
#include <vector>

using namespace tf::test;
using namespace std::chrono_literals;

// -- 1. blue-green behind Caddy ------------------------------------------------------------

namespace {

/// A project "api" with v1 deployed: where most of these tests start.
project_ids require_api_on_v1(deploy_env& env) {
  auto p = require_project(env, "api");
  require_deploy(env, p, "v1");
  return p;
}

/// Rolls `p` back: the request is accepted, and the deployment it runs ends; that deployment.
deployment_view require_rollback(deploy_env& env, const project_ids& p) {
  auto [reply, id] = env.rollback(p);
  INFO("rollback -> ", reply.status, " ", reply.error, " ", reply.body);
  REQUIRE(reply.status == 202);
  REQUIRE_FALSE(id.empty());
  auto d = env.wait_finished(id);
  REQUIRE(d);
  return *d;
}

/// v1, then v2 behind `proxy`: each serves in turn, no v1 container is left behind, and the
/// API agrees with Docker.
void v1_then_v2(proxy_kind proxy) {
  deploy_env env{with(proxy, /*rollback_grace_s=*/0)};
  auto p = require_project(env, "api");

  require_deploy(env, p, "v1");
  check_serves(env, p, "v1");
  require_deploy(env, p, "v2");
  check_serves(env, p, "v2");
  check_no_container_of(env, p, "v1");
  check_api_agrees_with_docker(env, p);
}

} // namespace

TEST_CASE("deploy (caddy): v1 then v2 serves v2 and leaves no v1 container behind") {
  v1_then_v2(proxy_kind::caddy);
}

// -- 2. a failed health check rolls back ---------------------------------------------------

TEST_CASE("deploy (caddy): a tag that fails its health check fails, v1 keeps serving") {
  deploy_env env{with(proxy_kind::caddy, 0, /*health_deadline_s=*/10)};
  auto p = require_api_on_v1(env);

  auto d = require_deploy(env, p, "broken", "failed");
  CHECK_FALSE(d.error.empty());
  MESSAGE("error of the broken deploy: ", d.error);
  check_serves(env, p, "v1");
  check_no_container_of(env, p, "broken");
  check_api_agrees_with_docker(env, p);
}

// -- 3. a burst of requests is coalesced ---------------------------------------------------

TEST_CASE("deploy (caddy): a burst of ten deploys runs at most two, one at a time, and the "
          "last tag wins") {
  deploy_env env{with(proxy_kind::caddy, 0)};
  auto p = require_api_on_v1(env);

  std::vector<std::string> ids;
  std::string last_tag;
  for (int i = 0; i < 10; ++i) {
    last_tag = i % 2 == 0 ? "v1" : "v2";
    auto [reply, id] = env.deploy(p, last_tag);
    INFO("deploy #", i, " -> ", reply.status, " ", reply.error, " ", reply.body);
    REQUIRE(reply.status == 202);
    REQUIRE_FALSE(id.empty());
    ids.push_back(id);
  }
  CHECK(std::set<std::string>(ids.begin(), ids.end()).size() == ids.size());

  std::vector<deployment_view> ran;
  std::string summary;
  int superseded = 0;
  for (const auto& id : ids) {
    auto d = env.wait_finished(id, 180s);
    INFO(env.logs());
    REQUIRE_MESSAGE(d, "GET /api/deployments/", id, " never answered");
    INFO(d->describe());
    REQUIRE(d->finished());
    summary += "  " + d->id + " " + d->tag + " " + d->status + " [" + d->started_at + ", "
               + d->finished_at + "]\n";
    if (d->status == "superseded")
      ++superseded;
    else
      ran.push_back(*d);
  }
  MESSAGE("burst:\n", summary);
  INFO("burst:\n", summary);
  CHECK(ran.size() <= 2);
  CHECK(superseded == static_cast<int>(ids.size() - ran.size()));
  CHECK(superseded >= 8);
  // Timestamps are ISO-8601 UTC with milliseconds (store/clock.hpp): they sort as text.
  std::sort(ran.begin(), ran.end(),
            [](const auto& a, const auto& b) { return a.started_at < b.started_at; });
  for (const auto& d : ran) {
    CHECK_FALSE(d.started_at.empty());
    CHECK_FALSE(d.finished_at.empty());
  }
  for (size_t i = 1; i < ran.size(); ++i)
    CHECK(ran[i - 1].finished_at <= ran[i].started_at);
  CHECK(ran.back().tag == last_tag);
  CHECK(ran.back().status == "succeeded");
  check_serves(env, p, last_tag);
}

// -- 4. rollback ---------------------------------------------------------------------------

TEST_CASE("rollback (caddy): inside the grace period it only switches back to the warm v1") {
  deploy_env env{with(proxy_kind::caddy, /*rollback_grace_s=*/300)};
  auto p = require_api_on_v1(env);
  auto v1_before = with_tag(p.workload_id, "v1");
  INFO("v1 containers:\n", describe_containers(v1_before));
  REQUIRE(v1_before.size() == 1);

  require_deploy(env, p, "v2");
  check_serves(env, p, "v2");
  // The previous colour stays warm for the grace period.
  CHECK(container_state(v1_before[0].id) == "running");

  auto t0 = steady::now();
  auto d = require_rollback(env, p);
  MESSAGE("rollback (warm) ", d.status, " after ", ms_since(t0), " ms; log:\n", d.log_text());
  INFO(d.describe());
  INFO(env.logs());
  CHECK(d.status == "succeeded");
  CHECK(d.tag == "v1");
  check_serves(env, p, "v1");
  // Only a proxy switch: the same v1 container serves, no new one was started.
  auto v1_after = with_tag(p.workload_id, "v1");
  INFO("v1 containers after the rollback:\n", describe_containers(v1_after));
  REQUIRE(v1_after.size() == 1);
  CHECK(v1_after[0].id == v1_before[0].id);
  // The log says so; the wording is the deployer's, so only look for the word.
  auto text = lower(d.log_text());
  bool says_switch =
    text.find("switch") != std::string::npos || text.find("warm") != std::string::npos;
  WARN_MESSAGE(says_switch, "the rollback's log does not mention a switch or a warm colour");
}

TEST_CASE("rollback (caddy): with grace 0 it is a full deploy of the previous tag") {
  deploy_env env{with(proxy_kind::caddy, /*rollback_grace_s=*/0)};
  auto p = require_api_on_v1(env);
  auto v1_before = with_tag(p.workload_id, "v1");
  REQUIRE(v1_before.size() == 1);
  require_deploy(env, p, "v2");
  check_no_container_of(env, p, "v1");

  auto d = require_rollback(env, p);
  INFO(d.describe());
  INFO(env.logs());
  CHECK(d.status == "succeeded");
  CHECK(d.tag == "v1");
  check_serves(env, p, "v1");
  check_no_container_of(env, p, "v2");
  auto v1_after = with_tag(p.workload_id, "v1");
  INFO("v1 containers after the rollback:\n", describe_containers(v1_after));
  REQUIRE(v1_after.size() == 1);
  CHECK(v1_after[0].id != v1_before[0].id);
  check_api_agrees_with_docker(env, p);
}

// -- 5. instance actions are scoped to their project and stage ----------------------------

TEST_CASE("instances: an action through another project's URL is 404 and changes nothing") {
  deploy_env env{with(proxy_kind::caddy, 0)};
  auto a = require_project(env, "api");
  auto b = require_project(env, "web");
  require_deploy(env, a, "v1");

  auto row = require_single_row(env, a);
  REQUIRE(container_state(row.container_id) == "running");

  auto path = [&](const project_ids& p, const std::string& stage, const std::string& action) {
    return "/api/instances/" + p.id + "/" + stage + "/" + row.id + "/" + action;
  };
  for (const auto* action : {"stop", "restart", "start"}) {
    CAPTURE(action);
    auto r = env.api().post(path(b, "production", action));
    INFO("-> ", r.status, " ", r.body);
    CHECK(r.status == 404);
    auto wrong_stage = env.api().post(path(a, "staging", action));
    INFO("wrong stage -> ", wrong_stage.status, " ", wrong_stage.body);
    CHECK(wrong_stage.status == 404);
  }
  CHECK(container_state(row.container_id) == "running");
  check_serves(env, a, "v1");

  auto stop = env.api().post(path(a, "production", "stop"));
  INFO("stop -> ", stop.status, " ", stop.body);
  CHECK(stop.status == 200);
  auto stopped = poll_until(20s, [&] { return container_state(row.container_id) == "exited"; });
  CHECK_MESSAGE(stopped, "state: ", container_state(row.container_id));

  auto start = env.api().post(path(a, "production", "start"));
  INFO("start -> ", start.status, " ", start.body);
  CHECK(start.status == 200);
  auto running = poll_until(20s, [&] { return container_state(row.container_id) == "running"; });
  CHECK_MESSAGE(running, "state: ", container_state(row.container_id));
}

// -- 6. zero downtime under load ------------------------------------------------------------

namespace {

void deploys_under_load(proxy_kind proxy) {
  deploy_env env{with(proxy, 0)};
  auto p = require_api_on_v1(env);
  {
    auto r = env.wait_serving(p, "v1");
    INFO(env.logs());
    REQUIRE_MESSAGE(r.body == "v1", "through the proxy: ", r.status, " ", r.error, " ", r.body);
  }

  load_generator load{env.proxy_port(), p.subdomain, "/version", 8};
  REQUIRE(poll_until(10s, [&] { return load.answered() > 0; }));
  std::string summary;
  auto t0 = steady::now();
  for (const auto* tag : {"v2", "v1", "v2", "v1", "v2"}) {
    auto d = require_deploy(env, p, tag);
    summary += std::string{"  "} + tag + " " + d.status + " [" + d.started_at + ", "
               + d.finished_at + "]\n";
  }
  auto counts = load.stop();
  MESSAGE(std::string{to_string(proxy)}, ": 5 deploys under load in ", ms_since(t0), " ms\n", summary,
          "  requests: ", counts.describe());
  INFO(env.logs());
  CHECK(counts.transport_errors == 0);
  CHECK(counts.non_2xx == 0);
  CHECK(counts.ok > 100);
  check_serves(env, p, "v2");
}

} // namespace

TEST_CASE("zero downtime (caddy): five deploys under load, no failed request") {
  deploys_under_load(proxy_kind::caddy);
}

TEST_CASE("zero downtime (nginx): five deploys under load, no failed request") {
  deploys_under_load(proxy_kind::nginx);
}

TEST_CASE("deploy (nginx): v1 then v2 serves v2 and leaves no v1 container behind") {
  v1_then_v2(proxy_kind::nginx);
}

// -- 7. a crash in the middle of a deploy ---------------------------------------------------

// The deploy must be caught in its health phase: a tag whose health check never passes stays
// there until the deadline (30 s here), so the kill lands in it every time.
TEST_CASE("restart (caddy): a deploy killed in its health phase ends failed after the restart") {
  deploy_env env{with(proxy_kind::caddy, 0, /*health_deadline_s=*/30)};
  auto p = require_api_on_v1(env);

  auto id = deploy_until_phase(env, p, "broken", "health").id;

  env.crash_and_restart();
  auto d = require_finished_after_restart(env, id, 60s);
  INFO(env.logs());
  INFO(d->describe());
  CHECK(d->status == "failed");
  auto r = env.wait_serving(p, "v1");
  CHECK(r.body == "v1");
  check_no_container_of(env, p, "broken", 20s);
  check_api_agrees_with_docker(env, p);
}

// -- the harness itself (needs no deployer) ------------------------------------------------

TEST_CASE("harness: the daemon starts with the deploy flags, caddy and nginx come up") {
  for (auto proxy : {proxy_kind::caddy, proxy_kind::nginx, proxy_kind::none}) {
    auto proxy_name = std::string{to_string(proxy)};
    CAPTURE(proxy_name);
    deploy_env env{with(proxy, 0)};
    auto r = env.api().get("/healthz");
    INFO(env.logs());
    CHECK(r.status == 200);
    if (proxy != proxy_kind::none)
      CHECK(env.proxy_port() != 0);
  }
}

TEST_CASE("harness: the load generator counts no failure against a container that stays put") {
  slot_range ports;
  auto ep = tf::docker::endpoint::parse(engine_host);
  REQUIRE(ep);
  tf::docker::client docker{*ep, tf::docker::make_cancel_token()};
  tf::docker::container_spec spec;
  spec.name = unique_name("tf-deploy-harness", "web");
  spec.image = "tinyforge-test/web:v1";
  spec.labels = test_labels();
  spec.container_port = 8080;
  spec.host_port = ports.low();
  container_guard guard{spec.name};
  auto id = docker.create_container(spec);
  REQUIRE_MESSAGE(id, describe(id));
  REQUIRE_MESSAGE(!docker.start_container(*id), "start failed");
  auto port = static_cast<uint16_t>(ports.low());
  REQUIRE(poll_until(10s, [&] { return direct_get(port, "/up").status == 200; }));

  SUBCASE("straight to the container") {
    load_generator load{port, "web", "/version", 8};
    REQUIRE(poll_until(10s, [&] { return load.answered() > 100; }));
    auto counts = load.stop();
    MESSAGE("direct: ", counts.describe());
    CHECK(counts.failed() == 0);
    CHECK(counts.by_body["v1"] == counts.ok);
  }
  SUBCASE("through caddy with a route set by hand") {
    temp_dir tmp;
    caddy_proxy caddy{tmp.path()};
    auto config = "{\"http\":{\"servers\":{\"tinyforge\":{\"listen\":[\"127.0.0.1:"
                  + std::to_string(caddy.proxy_port())
                  + "\"],\"automatic_https\":{\"disable\":true},\"routes\":[{\"match\":[{\"host\":"
                    "[\"web\"]}],\"handle\":[{\"handler\":\"reverse_proxy\",\"upstreams\":[{"
                    "\"dial\":\"127.0.0.1:"
                  + std::to_string(port) + "\"}]}]}]}}}}";
    httplib::Client admin{"127.0.0.1", caddy.admin_port()};
    auto res = admin.Post("/config/apps", config, "application/json");
    REQUIRE(res);
    INFO(res->body, caddy.process().log_tail());
    REQUIRE(res->status == 200);
    REQUIRE(poll_until(10s, [&] { return proxy_get(caddy.proxy_port(), "web").body == "v1"; }));
    load_generator load{caddy.proxy_port(), "web", "/version", 8};
    REQUIRE(poll_until(10s, [&] { return load.answered() > 100; }));
    auto counts = load.stop();
    MESSAGE("through caddy: ", counts.describe());
    CHECK(counts.failed() == 0);
    CHECK(counts.by_body["v1"] == counts.ok);
  }
}
