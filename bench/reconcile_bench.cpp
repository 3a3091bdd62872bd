// Measures one reconcile of N managed containers on the real engine: the reconciler lists
// them, writes them in one batch (one transaction at the store writer) and sweeps for
// missing rows. The anchor, measured in the same run, is `docker ps -a` listing the same
// containers. Target: under 1 s for 200 containers.
// Usage: reconcile_bench [N]   (default 200; needs tinyforge-test/web:v1, see tests/images/build)
#include "core/errors.hpp"
#include "actors/system.hpp"
#include "docker/client.hpp"
#include "core/ids.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

using namespace std::chrono;

namespace {

template <class F>
double millis(F&& f) {
  auto t0 = steady_clock::now();
  f();
  return duration<double, std::milli>(steady_clock::now() - t0).count();
}

} // namespace

int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 200;
  auto run_id = tf::new_id();
  auto dir = std::filesystem::temp_directory_path() / ("tinyforge-bench-" + run_id);
  std::filesystem::create_directories(dir);

  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto store = tf::start_store(sys, {(dir / "tinyforge.db").string(), 1, true});
  if (!store) {
    std::fprintf(stderr, "store: %s\n", tf::error_message(store.error()).c_str());
    return 1;
  }
  caf::scoped_actor self{sys};
  tf::stack st;
  st.name = "bench";
  st.compose = "services: {}";
  tf::stack created;
  self->request(store->writer, caf::infinite, tf::atom::create_v, st)
    .receive([&](tf::stack& s) { created = s; },
             [&](caf::error& e) { std::fprintf(stderr, "%s\n", tf::error_message(e).c_str()); });
  if (created.workload_id.empty())
    return 1;

  auto ep = tf::docker::endpoint::parse("unix:///var/run/docker.sock");
  tf::docker::client docker{*ep, tf::docker::make_cancel_token()};
  std::vector<std::string> ids;
  std::fprintf(stderr, "starting %d containers...\n", n);
  for (int i = 0; i < n; ++i) {
    tf::docker::container_spec spec;
    spec.name = "tf-bench-" + run_id + "-" + std::to_string(i);
    spec.image = "tinyforge-test/web:v1";
    spec.labels = {{"tinyforge.managed", "true"},
                   {"tinyforge.workload.id", created.workload_id},
                   {"tinyforge.workload.kind", "stack"},
                   {"tinyforge.role", "svc-" + std::to_string(i)},
                   {"tinyforge.test", "true"},
                   {"tinyforge.test.run", run_id}};
    auto id = docker.create_container(spec);
    if (!id) {
      std::fprintf(stderr, "create: %s\n", tf::error_message(id.error()).c_str());
      break;
    }
    ids.push_back(*id);
    if (auto err = docker.start_container(*id)) {
      std::fprintf(stderr, "start: %s\n", tf::error_message(err).c_str());
      break;
    }
  }

  tf::reconciler_config rc;
  rc.interval = hours{1}; // only the boot run and the runs asked for below
  auto host = tf::start_docker_host(sys, "unix:///var/run/docker.sock", rc, store->writer);
  caf::anon_send(host->reconciler, tf::atom::subscribe_v, caf::actor_cast<caf::actor>(self));
  auto await_report = [&] {
    tf::reconcile_report report;
    self->receive([&](tf::atom::done, tf::reconcile_report& r) { report = r; });
    return report;
  };
  await_report(); // the boot run (it may have started before the subscription)

  std::vector<double> runs;
  tf::reconcile_report last;
  for (int i = 0; i < 5; ++i)
    runs.push_back(millis([&] {
      caf::anon_send(host->reconciler, tf::atom::run_v);
      last = await_report();
    }));
  std::vector<double> ps;
  for (int i = 0; i < 5; ++i)
    ps.push_back(millis([&] {
      auto cmd = "docker ps -a --no-trunc --filter label=tinyforge.test.run=" + run_id
                 + " --format '{{.ID}} {{.State}} {{.Ports}} {{.Labels}}' > /dev/null";
      if (std::system(cmd.c_str()) != 0)
        std::fprintf(stderr, "docker ps failed\n");
    }));
  std::sort(runs.begin(), runs.end());
  std::sort(ps.begin(), ps.end());

  std::printf("containers: %zu managed (this run), listed by the reconciler: %lld, rows written "
              "in one batch: %lld\n",
              ids.size(), static_cast<long long>(last.listed),
              static_cast<long long>(last.written));
  std::printf("%-44s %10s %10s\n", "wall time, median of 5 (ms)", "median", "max");
  std::printf("%-44s %10.1f %10.1f\n", "reconcile run (list + batch write + sweep)", runs[2],
              runs[4]);
  std::printf("%-44s %10.1f %10.1f\n", "anchor: docker ps -a of the same containers", ps[2],
              ps[4]);

  tf::stop_docker_host(sys, *host);
  for (const auto& id : ids)
    docker.remove_container(id, true);
  tf::stop_store(sys, *store);
  std::filesystem::remove_all(dir);
  return last.error.empty() ? 0 : 1;
}
