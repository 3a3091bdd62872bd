// The crash matrix: the daemon killed with SIGKILL at every step of a deploy, with colour a
// and with colour b serving, and at random moments, then restarted on the same data dir. The
// real daemon, Docker engine, Caddy and iptables gate (deploy_harness.hpp); a load generator
// sends requests through Caddy the whole time. After each restart the checks are what an
// operator would look at: the deployment ended (never stuck), the proxy serves the version the
// deployment's status says, the serving slots are open and only idle slots are closed, Docker
// runs exactly the serving colour, and not one request through the proxy failed.
//
// A kill at a named step comes from the daemon itself (TINYFORGE_FAULT_KILL_AT, see
// actors/fault_point.hpp): a kill from outside hits a step of a few milliseconds, such as the
// one between journaling "create" and the first container, only by chance.
#include <doctest/doctest.h>

#include "deploy_checks.hpp"
#include "deploy_harness.hpp"
#include "load.hpp"

#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

using namespace tf::test;
using namespace std::chrono_literals;

namespace {

constexpr int instances = 2;

/// A step of a deploy where the daemon kills itself, and how the deploy must end after the
/// restart: undone ("failed") before the switch began, finished ("succeeded") from the switch
/// on (the new colour is healthy; the journal says it may already take traffic).
struct kill_point {
  const char* name;
  const char* outcome;
};

const kill_point kill_points[] = {
  {"running", "failed"},   // the deploy started: nothing looked at yet
  {"pull", "failed"},      // the image is checked
  {"create", "failed"},    // journaled, no container of the new colour exists
  {"created-1", "failed"}, // one of two new containers started
  {"health", "failed"},    // both started, not checked yet
  {"switch", "succeeded"}, // journaled, nothing opened yet
  {"switched", "succeeded"}, // the new colour open and recorded as serving
  {"drain", "succeeded"},  // the old colour closed, its connections finishing
  {"cleanup", "succeeded"}, // the old colour about to go
  {"retired", "succeeded"}, // the old colour gone, the deploy not yet recorded
};

/// The world a crash case runs in: one project of `instances` instances behind Caddy, its
/// deployments and the tag that serves now.
struct crash_world {
  deploy_env env;
  project_ids project;
  std::string serving_tag;

  crash_world() : env{with(proxy_kind::caddy, /*rollback_grace_s=*/0, /*health_deadline_s=*/30)} {
    stage_options stage;
    stage.instances = instances;
    stage.health_interval_ms = 100;
    project = require_project(env, "crash", stage);
    require_deploy(env, project, "v1");
    serving_tag = "v1";
    check_serves(env, project, "v1");
  }

  std::string other_tag() const { return serving_tag == "v1" ? "v2" : "v1"; }

  char colour() {
    auto r = route_of(env, project);
    return r ? r->serving_colour() : '?';
  }

  /// A plain deploy of the other tag (the daemon is up, without a fault point).
  void flip() {
    auto tag = other_tag();
    require_deploy(env, project, tag);
    serving_tag = tag;
  }

  /// Restarts the daemon (gracefully) with the fault point `point` set.
  void arm(const char* point) {
    env.stop_daemon();
    env.start_daemon({{"TINYFORGE_FAULT_KILL_AT", point}});
  }

  /// Waits (up to `limit`) until the daemon process has ended; its wait status, or nothing.
  std::optional<int> wait_daemon_dead(std::chrono::milliseconds limit) {
    auto& proc = env.daemon().process();
    if (!poll_until(limit, [&] { return !proc.running(); }, 20ms))
      return std::nullopt;
    return proc.stop(0ms); // reaped already: returns the status
  }

  /// What an operator checks after the restart, once `id` ended `status`: the proxy serves
  /// the tag that status implies, the route's serving slots are open and only others are
  /// closed, Docker runs exactly the serving colour (the rest removed: the rollback grace is
  /// 0), and no deployment of the project is left unfinished.
  void check_settled(const std::string& id, const std::string& status,
                     const std::string& attempted_tag) {
    if (status == "succeeded")
      serving_tag = attempted_tag;
    auto served = env.wait_serving(project, serving_tag, 15s);
    INFO("deployment ", id, " ended ", status, "; GET /version via the proxy -> ", served.status,
         " '", served.body, "' ", served.error);
    INFO(env.logs(40));
    CHECK(served.status == 200);
    CHECK(served.body == serving_tag);

    auto route = route_of(env, project);
    REQUIRE(route);
    INFO("route: ", route->describe());
    REQUIRE(route->serving.size() == static_cast<size_t>(instances));
    std::set<int> serving(route->serving.begin(), route->serving.end());
    // The slot gate's state settles with the job's last proxy request: poll briefly.
    std::set<int> closed;
    auto gate_ok = poll_until(
      10s,
      [&] {
        closed = closed_slots(env.slots());
        for (auto p : closed)
          if (serving.count(p))
            return false;
        return true;
      },
      100ms);
    std::string closed_text;
    for (auto p : closed)
      closed_text += " " + std::to_string(p);
    INFO("closed slots:", closed_text);
    CHECK_MESSAGE(gate_ok, "a serving slot is closed to the proxy");
    for (auto p : closed)
      CHECK(std::find(route->slots.begin(), route->slots.end(), p) != route->slots.end());

    // Docker: the serving colour and nothing else (an undone colour and a retired one are
    // removed; the boot's zero-grace retire may take a moment).
    std::string docker_text;
    auto docker_ok = poll_until(
      20s,
      [&] {
        auto all = workload_containers(project.workload_id);
        docker_text = describe_containers(all);
        if (all.size() != static_cast<size_t>(instances))
          return false;
        for (const auto& c : all)
          if (c.state != "running" || tag_of(c.image) != serving_tag)
            return false;
        return true;
      },
      200ms);
    INFO("docker ps -a of the workload:\n", docker_text);
    CHECK_MESSAGE(docker_ok, "Docker does not run exactly the serving colour");
    check_api_agrees_with_docker(env, project);

    auto list = env.deployments(project.workload_id);
    REQUIRE(list);
    for (const auto& d : *list)
      CHECK_MESSAGE(d.finished(), "deployment ", d.id, " is still ", d.status);
  }

  /// One case: the daemon armed with `point`, a deploy of the other tag, the daemon dies at
  /// the point, starts again, and the deploy must end `outcome` with every check holding.
  void crash_at(const kill_point& point) {
    arm(point.name);
    auto tag = other_tag();
    std::set<std::string> before;
    if (auto list = env.deployments(project.workload_id))
      for (const auto& d : *list)
        before.insert(d.id);
    auto [reply, id] = env.deploy(project, tag);
    INFO("kill point ", std::string{point.name}, ", deploying ", tag, " over ", serving_tag);
    // A kill at "running" can beat the 202 to the client (the job starts at once): the
    // connection then closes unanswered, and the deployment is found after the restart.
    REQUIRE((reply.status == 202 || (reply.status == 0 && std::string{point.name} == "running")));
    auto status = wait_daemon_dead(60s);
    {
      INFO(env.logs(40));
      REQUIRE_MESSAGE(status, "the daemon never reached the kill point ", point.name);
      REQUIRE_MESSAGE((WIFSIGNALED(*status) && WTERMSIG(*status) == SIGKILL),
                      "the daemon ended otherwise than by SIGKILL: status ", *status);
    }
    env.start_daemon();
    if (id.empty())
      if (auto list = env.deployments(project.workload_id))
        for (const auto& d : *list)
          if (!before.count(d.id) && d.tag == tag)
            id = d.id;
    REQUIRE_MESSAGE(!id.empty(), "no deployment of ", tag, " after the restart");
    auto d = env.wait_finished(id, 90s);
    INFO(env.logs(40));
    REQUIRE_MESSAGE(d, "GET /api/deployments/", id, " never answered after the restart");
    INFO(d->describe());
    REQUIRE_MESSAGE(d->finished(), "the deployment is still ", d->status, " after 90 s");
    CHECK(d->status == point.outcome);
    check_settled(id, d->status, tag);
  }
};

/// Runs every kill point with colour `colour` serving at the moment of the kill, under load
/// through the proxy; not one request may fail (the old colour serves until the new one does).
void crash_matrix(char colour) {
  crash_world w;
  load_generator load{w.env.proxy_port(), w.project.subdomain};
  for (const auto& point : kill_points) {
    if (w.colour() != colour)
      w.flip();
    REQUIRE(w.colour() == colour);
    auto t0 = steady::now();
    w.crash_at(point);
    MESSAGE("kill at ", std::string{point.name}, " with colour ", std::string(1, colour), " serving: settled in ",
            ms_since(t0), " ms");
  }
  w.flip(); // the next deploy works
  check_serves(w.env, w.project, w.serving_tag);
  auto counts = load.stop();
  MESSAGE("load through the proxy: ", counts.describe());
  CHECK(counts.total() > 0);
  CHECK(counts.failed() == 0);
}

} // namespace

TEST_CASE("crash matrix (caddy): SIGKILL at every deploy step with colour a serving") {
  crash_matrix('a');
}

TEST_CASE("crash matrix (caddy): SIGKILL at every deploy step with colour b serving") {
  crash_matrix('b');
}

// A deploy that can never turn healthy sits in its health phase; a second deploy queues
// behind it; the daemon is killed. After the restart the first is undone, the queued one runs
// and serves, and the site answered throughout.
TEST_CASE("crash matrix (caddy): SIGKILL with a deploy queued behind the running one") {
  crash_world w;
  load_generator load{w.env.proxy_port(), w.project.subdomain};
  auto [r1, stuck] = w.env.deploy(w.project, "broken");
  REQUIRE(r1.status == 202);
  auto in_health = poll_until(
    30s,
    [&] {
      auto d = w.env.deployment(stuck);
      return d && d->phase == "health";
    },
    20ms);
  REQUIRE_MESSAGE(in_health, w.env.logs(30));
  auto [r2, queued] = w.env.deploy(w.project, "v2");
  REQUIRE(r2.status == 202);
  auto q = w.env.deployment(queued);
  REQUIRE(q);
  CHECK(q->status == "queued");

  w.env.crash_daemon();
  // The restarted daemon undoes the stuck deploy, then runs the queued one, which dies
  // before its first container exists: a second crash with one deploy undone and another
  // interrupted.
  w.env.start_daemon({{"TINYFORGE_FAULT_KILL_AT", "create"}});
  auto dead = w.wait_daemon_dead(90s);
  REQUIRE_MESSAGE(dead, "the queued deploy never reached its create step; ", w.env.logs(40));
  w.env.start_daemon();
  auto first = w.env.wait_finished(stuck, 90s);
  auto second = w.env.wait_finished(queued, 90s);
  INFO(w.env.logs(40));
  REQUIRE(first);
  REQUIRE(second);
  INFO(first->describe(), second->describe());
  CHECK(first->status == "failed");
  CHECK(second->status == "failed");
  w.check_settled(queued, second->status, "v2");
  w.flip();
  check_serves(w.env, w.project, "v2");
  auto counts = load.stop();
  MESSAGE("load through the proxy: ", counts.describe());
  CHECK(counts.failed() == 0);
}

// Kills from outside at random moments of random deploys (TINYFORGE_CRASH_DEPLOYS, default 50):
// whatever step each lands in, the deployment ends, the proxy serves what its status says,
// the gate and Docker agree with the route, and no request through the proxy fails.
TEST_CASE("crash matrix (caddy): SIGKILL at random moments of many deploys") {
  int rounds = 50;
  if (const char* n = std::getenv("TINYFORGE_CRASH_DEPLOYS"))
    rounds = std::max(1, std::atoi(n));
  crash_world w;
  // A deploy here takes about this long from request to end: kills spread over it.
  auto t0 = steady::now();
  w.flip();
  auto span = std::max<int64_t>(ms_since(t0), 500);
  std::mt19937 gen{std::random_device{}()};
  std::uniform_int_distribution<int64_t> when{0, span};
  load_generator load{w.env.proxy_port(), w.project.subdomain};
  std::map<std::string, int> outcomes;
  for (int i = 0; i < rounds; ++i) {
    auto tag = w.other_tag();
    auto [reply, id] = w.env.deploy(w.project, tag);
    REQUIRE(reply.status == 202);
    auto delay = std::chrono::milliseconds{when(gen)};
    // The kill's moment is what is random here: a sleep, not a wait for an event.
    std::this_thread::sleep_for(delay);
    w.env.crash_daemon();
    w.env.start_daemon();
    auto d = w.env.wait_finished(id, 90s);
    INFO("round ", i, ": killed ", delay.count(), " ms into the deploy of ", tag);
    INFO(w.env.logs(40));
    REQUIRE(d);
    INFO(d->describe());
    REQUIRE(d->finished());
    ++outcomes[d->status + " (phase " + (d->phase.empty() ? "start" : d->phase) + ")"];
    w.check_settled(id, d->status, tag);
  }
  w.flip();
  auto counts = load.stop();
  std::string seen;
  for (const auto& [k, v] : outcomes)
    seen += "  " + k + ": " + std::to_string(v) + "\n";
  MESSAGE(rounds, " deploys killed at random within ", span, " ms:\n", seen,
          "load through the proxy: ", counts.describe());
  CHECK(counts.failed() == 0);
}
