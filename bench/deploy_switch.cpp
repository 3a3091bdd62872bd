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
//                  run -d -p 127.0.0.1:<free slot>:8080 --label ... tinyforge-test/web:<tag>`
//                  while GET /version is polled through Caddy from the start (as (a) is from
//                  its POST) until it answers the new tag ("serving"),
//                  then `docker stop` + `docker rm` of the old one ("done"). These are the
//                  steps of a blue-green switch done with the docker CLI; what the daemon adds
//                  on top (journal, closing and draining slots, checks) is the ratio.
//                  (a) and (b) take turns, deploy by deploy, so the machine's other load at
//                  the time falls on both, each after a random pause of 0-249 ms so that
//                  Caddy's 250 ms health-check ticks fall at random in both (see run()).
//   ratio          median serving (a) / median serving (b); target <= 1.0 (issue 14: the
//                  daemon skips the process start-ups the CLI pays, so it should win).
//   phases         where the time of (a) goes: the daemon's log lines of each deploy
//                  (event=deploy-start, event=deploy-log for each step, event=deploy-end, with
//                  millisecond timestamps; the API's deployment has only the current phase and
//                  untimed log lines) give the time of each step; beside them the CLI's steps
//                  of (b). Printed as a markdown table to $BENCH_PHASES_FILE when set (bench/run
//                  shows it under "where deploy time goes"), else on stderr.
//   (c) under load 8 keep-alive clients sending GET /version through Caddy without pause
//                  (tests/load.hpp) while D deploys run one after the other; target 0 failed.
// Figures only: nothing here asserts on time. Rows (bench/table.hpp) on stdout: serving and
// done, min/median of the N deploys beside the by-hand anchor, and (c)'s failed requests;
// the detail on stderr.
//
// Build and run (needs Docker, caddy, iptables, root, and the test images: tests/images/build):
//   cmake --build build --target deploy_switch tinyforge && build/bench/deploy_switch [N] [D]
//   N = deploys per median (default 5), D = deploys under load (default 20).
// Everything it creates (temp dir, Caddy, the daemon, containers labelled
// tinyforge.test.run=<run id> or with the project's workload id, slot iptables rules) is
// removed at the end.
#include "deploy_harness.hpp"
#include "load.hpp"
#include "table.hpp"
#include "core/errors.hpp"
#include "proxy/provider.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <thread>
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

/// The time of each named step over several deploys, the steps in the order first seen.
struct step_times {
  std::vector<std::string> order;
  std::map<std::string, std::vector<double>> ms;
  /// One deploy's steps (a step seen twice in one deploy counts once, summed).
  void add(const std::vector<std::pair<std::string, double>>& deploy) {
    std::map<std::string, double> sum;
    for (const auto& [step, t] : deploy) {
      if (!ms.count(step))
        order.push_back(step);
      if (!sum.count(step))
        ms[step]; // keeps the order even when a later deploy lacks the step
      sum[step] += t;
    }
    for (const auto& [step, t] : sum)
      ms[step].push_back(t);
  }
};

struct timings {
  std::vector<double> serving, done;
  int failed = 0;
  step_times steps;
};

double wall_ms() {
  return static_cast<double>(std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count());
}

/// The wall time (ms since the epoch) of a daemon log line ("2026-12-04T22:30:01.123Z info
/// ..."), -1 when it has none.
double log_ms(const std::string& line) {
  std::tm tm{};
  int ms = 0;
  if (std::sscanf(line.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon,
                  &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms)
      != 7)
    return -1;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<double>(::timegm(&tm)) * 1000 + ms;
}

/// The step a deploy's log line ends (the deploy job logs one line as each step is done).
std::string step_of(const std::string& line) {
  auto starts = [&](const char* p) { return line.rfind(p, 0) == 0; };
  if (starts("deploying "))
    return "job start: first log line";
  if (starts("image ") || starts("pulling ") || starts("pull: "))
    return "pull (image present?)";
  if (starts("removing "))
    return "create: remove leftovers";
  if (starts("started "))
    return "create + start container";
  if (starts("waiting for GET"))
    return "health: checks begin";
  if (starts("healthy: "))
    return "health: until GET /up 200";
  if (starts("opened slots "))
    return "switch: slots opened (iptables)";
  if (starts("the route of "))
    return "switch: route recorded and sent to the proxy";
  if (starts("switched to slots"))
    return "switch: slots opened to the proxy";
  if (starts("the proxy"))
    return "switch: proxy serves the new colour";
  if (starts("old colour drained") || line.find("still open") != std::string::npos)
    return "drain the old colour";
  if (starts("removed ") || starts("kept "))
    return "stop + remove the old colour";
  return line.substr(0, 32);
}

/// One deploy's steps read off the daemon's log: from the POST (`posted`, wall ms) to
/// event=deploy-start, then each event=deploy-log line, then event=deploy-end.
std::vector<std::pair<std::string, double>> deploy_steps(const std::string& log,
                                                         const std::string& id, double posted) {
  std::vector<std::pair<std::string, double>> out;
  std::istringstream in{log};
  std::string line;
  double prev = posted;
  const std::string key = "deployment=" + id + " ";
  while (std::getline(in, line)) {
    if (line.find(key) == std::string::npos)
      continue;
    auto t = log_ms(line);
    if (t < 0)
      continue;
    std::string step;
    if (line.find("event=deploy-start") != std::string::npos)
      step = "queue: POST to job start";
    else if (line.find("event=deploy-end") != std::string::npos)
      step = "finish: status recorded";
    else if (auto at = line.find(" line="); at != std::string::npos)
      step = step_of(line.substr(at + 6));
    else
      continue;
    out.emplace_back(step, t - prev);
    prev = t;
  }
  return out;
}

/// "min/median" of a step's times, in ms.
std::string ms_of(const std::vector<double>& v) {
  auto s = tf::bench::spread_of(v);
  char b[64];
  std::snprintf(b, sizeof b, "%.0f/%.0f", s.min, s.median);
  return b;
}

/// The phase table: Tinyforge's steps beside the CLI's, min/median ms of each.
std::string phase_table(const timings& a, const timings& b) {
  auto cell = [](const step_times& s, size_t i, std::string& name) {
    if (i >= s.order.size()) {
      name = "";
      return std::string{};
    }
    name = s.order[i];
    return ms_of(s.ms.at(name));
  };
  std::string t = "| Tinyforge step (daemon log) | min/median ms | docker CLI by hand | "
                  "min/median ms |\n|---|---|---|---|\n";
  for (size_t i = 0; i < std::max(a.steps.order.size(), b.steps.order.size()); ++i) {
    std::string na, nb;
    auto ca = cell(a.steps, i, na), cb = cell(b.steps, i, nb);
    t += "| " + na + " | " + ca + " | " + nb + " | " + cb + " |\n";
  }
  t += "| **POST to new tag served** | " + ms_of(a.serving) + " | **run to new tag served** | "
       + ms_of(b.serving) + " |\n";
  t += "| **POST to done** | " + ms_of(a.done) + " | **run to rm done** | " + ms_of(b.done)
       + " |\n";
  return t;
}

/// (a): deploys through the daemon, one per call of one(); tags alternate v2, v1, ...
class tinyforge_side {
public:
  tinyforge_side(deploy_env& env, const project_ids& p) : env_{env}, p_{p} {}

  void one(int i) {
    std::string tag = i % 2 == 0 ? "v2" : "v1";
    auto t0 = steady::now();
    auto posted_at = wall_ms();
    auto [reply, id] = env_.deploy(p_, tag);
    if (reply.status != 202 || id.empty()) {
      std::fprintf(stderr, "deploy %s refused: %d %s %s\n", tag.c_str(), reply.status,
                   reply.error.c_str(), reply.body.c_str());
      ++t_.failed;
      return;
    }
    bool serving = poll_until(
      60s,
      [&] {
        auto r = env_.version(p_);
        return r.status == 200 && r.body == tag;
      },
      10ms);
    auto t_serving = steady::now();
    // Polled every 10 ms like the serving check (wait_finished polls every 100 ms, which
    // added ~50 ms on average to this side only; the by-hand side times its commands exactly).
    std::optional<deployment_view> d;
    poll_until(
      90s,
      [&] {
        if (auto v = env_.deployment(id))
          d = v;
        return d && d->finished();
      },
      10ms);
    auto t_done = steady::now();
    if (!serving || !d || d->status != "succeeded") {
      std::fprintf(stderr, "deploy %s: serving=%d %s\n", tag.c_str(), serving,
                   d ? d->describe().c_str() : "no answer");
      ++t_.failed;
      return;
    }
    t_.serving.push_back(ms_between(t0, t_serving));
    t_.done.push_back(ms_between(t0, t_done));
    posted_.emplace_back(id, posted_at);
  }

  /// The timings, with each deploy's steps read off the daemon's log.
  timings finish() {
    auto log = env_.daemon().process().log();
    for (const auto& [id, at] : posted_)
      t_.steps.add(deploy_steps(log, id, at));
    return t_;
  }

private:
  deploy_env& env_;
  const project_ids& p_;
  timings t_;
  std::vector<std::pair<std::string, double>> posted_; // deployment id, wall ms of the POST
};

/// (b): the same switches by hand, one per call of one(), with two ports of `ports` taking
/// turns behind a route of the same shape as the stage's.
class by_hand_side {
public:
  by_hand_side(deploy_env& env, const slot_range& ports) : env_{env}, ports_{ports} {
    // The by-hand route, through Tinyforge's own Caddy provider so its shape is the same.
    tf::config cfg;
    cfg.proxy_provider = "caddy";
    cfg.caddy_admin = "http://127.0.0.1:" + std::to_string(env.caddy_admin_port());
    cfg.caddy_listen = "127.0.0.1:" + std::to_string(env.proxy_port());
    provider_ = tf::proxy::make_provider(cfg);
    route_.id = "byhand" + std::to_string(ports.low());
    route_.owner_id = route_.id;
    route_.host = "byhand";
    route_.slots = {ports.low(), ports.low() + 1};
    route_.health_path = "/up";
    if (auto applied = provider_->apply(route_); !applied) {
      std::fprintf(stderr, "by-hand route: %s\n", tf::error_message(applied.error()).c_str());
      return;
    }
    port_ = ports.low();
    old_ = start("v1", port_);
    ready_ = !old_.empty() && poll_until(
      30s, [&] { return direct_get(static_cast<uint16_t>(port_), "/up").status == 200; }, 10ms);
  }
  ~by_hand_side() { provider_->remove(route_); }

  void one(int i) {
    if (!ready_) {
      ++t_.failed;
      return;
    }
    std::string tag = i % 2 == 0 ? "v2" : "v1";
    int next_port = port_ == ports_.low() ? ports_.low() + 1 : ports_.low();
    // Polled from the start, as the daemon's side is polled from its POST: a client waiting
    // for the new version loads the machine the same way on both sides.
    std::atomic<bool> serving{false};
    steady::time_point t_serving{};
    auto t0 = steady::now();
    std::thread poller{[&] {
      serving = poll_until(
        30s,
        [&] {
          auto r = proxy_get(env_.proxy_port(), "byhand", "/version");
          return r.status == 200 && r.body == tag;
        },
        10ms);
      t_serving = steady::now();
    }};
    auto id = start(tag, next_port);
    auto t_started = steady::now();
    poller.join();
    if (id.empty() || !serving) {
      ++t_.failed;
      ready_ = false;
      return;
    }
    run_command({"docker", "stop", "-t", "2", old_});
    auto t_stopped = steady::now();
    run_command({"docker", "rm", old_});
    auto t_done = steady::now();
    t_.steps.add({{"docker run -d (create + start)", ms_between(t0, t_started)},
                  {"until Caddy serves the new tag", ms_between(t_started, t_serving)},
                  {"docker stop -t 2 (old)", ms_between(t_serving, t_stopped)},
                  {"docker rm (old)", ms_between(t_stopped, t_done)}});
    if (direct_get(static_cast<uint16_t>(next_port), "/version").body != tag)
      ++t_.failed;
    t_.serving.push_back(ms_between(t0, t_serving));
    t_.done.push_back(ms_between(t0, t_done));
    old_ = id;
    port_ = next_port;
  }

  timings finish() { return t_; }

private:
  std::string start(const std::string& tag, int port) {
    auto r = run_command({"docker", "run", "-d", "-p",
                          "127.0.0.1:" + std::to_string(port) + ":8080", "--label",
                          "tinyforge.test=true", "--label", run_label(), "--name",
                          unique_name("tf-bench", "manual"), "tinyforge-test/web:" + tag});
    if (r.exit_code != 0) {
      std::fprintf(stderr, "docker run failed: %s\n", r.output.c_str());
      return {};
    }
    auto id = r.output.substr(0, r.output.find('\n'));
    made_.ids.push_back(id);
    return id;
  }

  deploy_env& env_;
  const slot_range& ports_;
  std::unique_ptr<tf::proxy::provider> provider_;
  tf::proxy_route route_;
  manual_containers made_;
  timings t_;
  std::string old_;
  int port_ = 0;
  bool ready_ = false;
};

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

  std::fprintf(stderr, "deploy_switch: %d deploys per median, %d under load; Caddy, stage behind "
              "slots %s\n",
              n, d, env.slots().flag().c_str());
  // The two sides take turns, so whatever else the machine does at the time falls on both.
  // Each deploy starts after a random pause of 0-249 ms: a side's start follows the other's
  // end, which is aligned to Caddy's health-check ticks (every 250 ms), so without it the
  // admission waits were phase-locked, not random: in one run every deploy to one of the
  // daemon's two slots waited 208-244 ms for Caddy's next check, to the other 10-149 ms.
  slot_range manual_ports{2};
  timings a, b;
  {
    tinyforge_side daemon_side{env, *p};
    by_hand_side hand_side{env, manual_ports};
    std::mt19937 rng{std::random_device{}()};
    std::uniform_int_distribution<int> pause_ms{0, 249};
    for (int i = 0; i < n; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds{pause_ms(rng)});
      daemon_side.one(i);
      std::this_thread::sleep_for(std::chrono::milliseconds{pause_ms(rng)});
      hand_side.one(i);
    }
    a = daemon_side.finish();
    b = hand_side.finish();
  }
  std::fprintf(stderr, "(a) tinyforge  serving median %.0f ms [%s]  done median %.0f ms [%s]  failed %d\n",
              median(a.serving), list(a.serving).c_str(), median(a.done), list(a.done).c_str(),
              a.failed);
  std::fprintf(stderr, "(b) by hand    serving median %.0f ms [%s]  done median %.0f ms [%s]  failed %d\n",
              median(b.serving), list(b.serving).c_str(), median(b.done), list(b.done).c_str(),
              b.failed);
  if (median(b.serving) > 0)
    std::fprintf(stderr, "ratio serving (a)/(b) %.2f (target <= 1.0); done %.2f\n",
                 median(a.serving) / median(b.serving), median(a.done) / median(b.done));
  {
    using namespace tf::bench;
    auto as = spread_of(a.serving), bs = spread_of(b.serving), ad = spread_of(a.done),
         bd = spread_of(b.done);
    double rs = bs.median > 0 && !a.serving.empty() ? as.median / bs.median : 0;
    double rd = bd.median > 0 && !a.done.empty() ? ad.median / bd.median : 0;
    auto failures = a.failed + b.failed > 0 ? " (" + std::to_string(a.failed) + " of Tinyforge's, "
                                                + std::to_string(b.failed) + " by hand failed)"
                                            : std::string{};
    auto of_n = " (" + std::to_string(n) + " deploys, taking turns with the anchor's)";
    print_row("deploy behind Caddy: POST to the new tag served" + of_n + failures, show(as, "ms", 0),
              "docker CLI by hand: " + show(bs, "ms", 0), rs, "<= 1.0x anchor",
              rs > 0 && rs <= 1.0);
    print_row("deploy behind Caddy: POST to done (old colour drained and removed)" + of_n,
              show(ad, "ms", 0), "docker CLI by hand, to rm: " + show(bd, "ms", 0), rd,
              "<= 1.0x anchor", rd > 0 && rd <= 1.0);
    auto table = phase_table(a, b);
    if (const char* file = std::getenv("BENCH_PHASES_FILE"))
      std::ofstream{file} << table;
    else
      std::fprintf(stderr, "%s", table.c_str());
  }

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
  std::fprintf(stderr, "(c) %d deploys under load in %.1f s (%d failed deploys): failed requests %lld "
              "(target 0); %s\n",
              d, ms_between(t0, steady::now()) / 1000, deploy_failures,
              static_cast<long long>(counts.failed()), counts.describe().c_str());
  if (d > 0)
    tf::bench::print_row("failed requests over " + std::to_string(d)
                           + " deploys under load (8 keep-alive clients through Caddy; 1 run"
                           + (deploy_failures ? ", " + std::to_string(deploy_failures)
                                                  + " deploys failed"
                                              : std::string{})
                           + ")",
                         std::to_string(counts.failed()), "-", 0, "0",
                         counts.failed() == 0 && deploy_failures == 0);
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
