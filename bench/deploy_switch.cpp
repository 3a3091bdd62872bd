// How long a Tinyforge deploy takes to put a new version behind Caddy, against doing the same
// steps by hand with the docker CLI, and whether deploys under load drop requests.
//
//   (a) tinyforge  the daemon (build/tinyforge serve) with --proxy.provider caddy and
//                  rollback_grace_s 0, one project stage; per deploy: the time from the POST
//                  .../deploy to GET /version through Caddy answering the new tag ("serving"),
//                  and to the deployment's status succeeded ("done": the old colour is drained,
//                  stopped and removed). Tags alternate v2, v1, ...
//   (b) by hand    the anchor, measured in the same run, behind the same Caddy: a second route
//                  (host "byhand", the same route shape Tinyforge gives a stage: two fixed slot
//                  ports, active health check) is installed once before; per switch `docker
//                  run -d -p 127.0.0.1:<free slot>:8080 --label ... tinyforge-test/web:<tag>`,
//                  poll GET /version through Caddy until it answers the new tag ("serving"),
//                  then `docker stop` + `docker rm` of the old one ("done"). These are the
//                  steps of a blue-green switch done with the docker CLI; what the daemon adds
//                  on top (journal, closing and draining slots, checks) is the ratio.
//   ratio          median serving (a) / median serving (b); target <= 1.2.
//   (c) under load 8 keep-alive clients sending GET /version through Caddy without pause
//                  (tests/load.hpp) while D deploys run one after the other; target 0 failed.
// Figures only: nothing here asserts on time.
//
// Build and run (needs Docker, caddy, iptables, root, and the test images: tests/images/build):
//   cmake --build build --target deploy_switch tinyforge && build/bench/deploy_switch [N] [D]
//   N = deploys per median (default 5), D = deploys under load (default 20).
// Everything it creates (temp dir, Caddy, the daemon, containers labelled
// tinyforge.test.run=<run id> or with the project's workload id, slot iptables rules) is
// removed at the end.
#include "deploy_harness.hpp"
#include "load.hpp"
#include "core/errors.hpp"
#include "proxy/provider.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

using namespace tf::test;
using namespace std::chrono_literals;

namespace {

double ms_between(steady::time_point a, steady::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

double median(std::vector<double> v) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  auto n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string list(const std::vector<double>& v) {
  std::string s;
  for (auto x : v) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%s%.0f", s.empty() ? "" : " ", x);
    s += buf;
  }
  return s;
}

/// Containers the by-hand steps started; force-removed at the end whatever happened.
struct manual_containers {
  std::vector<std::string> ids;
  ~manual_containers() {
    for (const auto& id : ids)
      run_command({"docker", "rm", "-f", id});
  }
};

struct timings {
  std::vector<double> serving, done;
  int failed = 0;
};

/// (a): N deploys through the daemon.
timings tinyforge_deploys(deploy_env& env, const project_ids& p, int n) {
  timings t;
  for (int i = 0; i < n; ++i) {
    std::string tag = i % 2 == 0 ? "v2" : "v1";
    auto t0 = steady::now();
    auto [reply, id] = env.deploy(p, tag);
    if (reply.status != 202 || id.empty()) {
      std::fprintf(stderr, "deploy %s refused: %d %s %s\n", tag.c_str(), reply.status,
                   reply.error.c_str(), reply.body.c_str());
      ++t.failed;
      continue;
    }
    bool serving = poll_until(
      60s,
      [&] {
        auto r = env.version(p);
        return r.status == 200 && r.body == tag;
      },
      10ms);
    auto t_serving = steady::now();
    auto d = env.wait_finished(id);
    auto t_done = steady::now();
    if (!serving || !d || d->status != "succeeded") {
      std::fprintf(stderr, "deploy %s: serving=%d %s\n", tag.c_str(), serving,
                   d ? d->describe().c_str() : "no answer");
      ++t.failed;
      continue;
    }
    t.serving.push_back(ms_between(t0, t_serving));
    t.done.push_back(ms_between(t0, t_done));
  }
  return t;
}

/// (b): the same N switches by hand, with two ports of `ports` taking turns.
timings manual_deploys(deploy_env& env, const slot_range& ports, int n) {
  timings t;
  // The by-hand route, through Tinyforge's own Caddy provider so its shape is the same.
  tf::config cfg;
  cfg.proxy_provider = "caddy";
  cfg.caddy_admin = "http://127.0.0.1:" + std::to_string(env.caddy_admin_port());
  cfg.caddy_listen = "127.0.0.1:" + std::to_string(env.proxy_port());
  auto provider = tf::proxy::make_provider(cfg);
  tf::proxy_route route;
  route.id = "byhand" + std::to_string(ports.low());
  route.stage_id = route.id;
  route.host = "byhand";
  route.slots = {ports.low(), ports.low() + 1};
  route.health_path = "/up";
  if (auto applied = provider->apply(route); !applied) {
    std::fprintf(stderr, "by-hand route: %s\n", tf::error_message(applied.error()).c_str());
    return t;
  }
  manual_containers made;
  auto start = [&](const std::string& tag, int port) -> std::string {
    auto r = run_command({"docker", "run", "-d", "-p",
                          "127.0.0.1:" + std::to_string(port) + ":8080", "--label",
                          "tinyforge.test=true", "--label", run_label(), "--name",
                          unique_name("tf-bench", "manual"), "tinyforge-test/web:" + tag});
    if (r.exit_code != 0) {
      std::fprintf(stderr, "docker run failed: %s\n", r.output.c_str());
      return {};
    }
    auto id = r.output.substr(0, r.output.find('\n'));
    made.ids.push_back(id);
    return id;
  };
  auto up = [](int port) {
    return poll_until(
      30s, [&] { return direct_get(static_cast<uint16_t>(port), "/up").status == 200; }, 10ms);
  };
  auto serving = [&](const std::string& tag) {
    return poll_until(
      30s,
      [&] {
        auto r = proxy_get(env.proxy_port(), "byhand", "/version");
        return r.status == 200 && r.body == tag;
      },
      10ms);
  };
  int port = ports.low();
  std::string old = start("v1", port);
  if (old.empty() || !up(port))
    return t;
  for (int i = 0; i < n; ++i) {
    std::string tag = i % 2 == 0 ? "v2" : "v1";
    int next_port = port == ports.low() ? ports.low() + 1 : ports.low();
    auto t0 = steady::now();
    auto id = start(tag, next_port);
    if (id.empty() || !serving(tag)) {
      ++t.failed;
      break;
    }
    auto t_serving = steady::now();
    run_command({"docker", "stop", "-t", "2", old});
    run_command({"docker", "rm", old});
    auto t_done = steady::now();
    if (direct_get(static_cast<uint16_t>(next_port), "/version").body != tag)
      ++t.failed;
    t.serving.push_back(ms_between(t0, t_serving));
    t.done.push_back(ms_between(t0, t_done));
    old = id;
    port = next_port;
  }
  provider->remove(route);
  return t;
}

int run(int n, int d) {
  deploy_env env{with(proxy_kind::caddy, /*rollback_grace_s=*/0)};
  auto [reply, p] = env.create_project("bench", {});
  if (!p) {
    std::fprintf(stderr, "POST /api/projects: %d %s %s\n", reply.status, reply.error.c_str(),
                 reply.body.c_str());
    return 1;
  }
  auto first = env.deploy_and_wait(*p, "v1");
  if (!first || first->status != "succeeded" || env.wait_serving(*p, "v1").body != "v1") {
    std::fprintf(stderr, "first deploy of v1: %s\n%s\n",
                 first ? first->describe().c_str() : "refused or no answer", env.logs().c_str());
    return 1;
  }

  std::printf("deploy_switch: %d deploys per median, %d under load; Caddy, stage behind "
              "slots %s\n",
              n, d, env.slots().flag().c_str());
  auto a = tinyforge_deploys(env, *p, n);
  slot_range manual_ports{2};
  auto b = manual_deploys(env, manual_ports, n);
  std::printf("(a) tinyforge  serving median %.0f ms [%s]  done median %.0f ms [%s]  failed %d\n",
              median(a.serving), list(a.serving).c_str(), median(a.done), list(a.done).c_str(),
              a.failed);
  std::printf("(b) by hand    serving median %.0f ms [%s]  done median %.0f ms [%s]  failed %d\n",
              median(b.serving), list(b.serving).c_str(), median(b.done), list(b.done).c_str(),
              b.failed);
  if (median(b.serving) > 0)
    std::printf("ratio serving (a)/(b) %.2f (target <= 1.2); done %.2f\n",
                median(a.serving) / median(b.serving), median(a.done) / median(b.done));

  int deploy_failures = 0;
  load_counts counts;
  auto t0 = steady::now();
  {
    load_generator load{env.proxy_port(), p->subdomain, "/version", 8};
    for (int i = 0; i < d; ++i) {
      auto r = env.deploy_and_wait(*p, i % 2 == 0 ? "v2" : "v1");
      if (!r || r->status != "succeeded") {
        ++deploy_failures;
        std::fprintf(stderr, "deploy under load: %s\n",
                     r ? r->describe().c_str() : "refused or no answer");
      }
    }
    counts = load.stop();
  }
  std::printf("(c) %d deploys under load in %.1f s (%d failed deploys): failed requests %lld "
              "(target 0); %s\n",
              d, ms_between(t0, steady::now()) / 1000, deploy_failures,
              static_cast<long long>(counts.failed()), counts.describe().c_str());
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 5;
  int d = argc > 2 ? std::atoi(argv[2]) : 20;
  if (n < 1 || n > 100 || d < 0 || d > 1000) {
    std::fprintf(stderr, "usage: deploy_switch [N 1-100] [D 0-1000]\n");
    return 2;
  }
  try {
    return run(n, d);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "deploy_switch: %s\n", e.what());
    return 1;
  }
}
