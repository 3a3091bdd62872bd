// The in-process API with the real deployers behind it, on the test engine: the fixture of
// the tests that deploy through the API (webhooks, workloads, notifications). A test's
// fixture derives from it, starts the docker host it needs, then calls start().
#pragma once

#include "actors/docker_worker.hpp"
#include "actors/notifier.hpp"
#include "actors/system.hpp"
#include "api_fixture.hpp"
#include "api_server.hpp"
#include "deploy_harness.hpp"
#include "expect.hpp"
#include "http/ask.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>

namespace tf::test {

/// What must outlive the actor system: the fixture's slot ports, and the removal of its
/// workloads' containers, which runs once the system has gone (see workload_cleanup).
struct deploy_ground {
  slot_range slots{10};
  /// The workloads whose containers go when the test ends.
  workload_cleanup workloads;
};

struct deploy_api_fixture : deploy_ground, store_fixture {
  /// Runs when set: started before the docker host, stopped after it.
  tf::notifier_actor notifier;
  tf::docker_host_handles docker;
  tf::deployer_handles deployers;
  api_server server;
  uint16_t port = 0;
  /// The admin made for the test, and a bearer token of theirs.
  std::string user_id;
  std::string token;

  explicit deploy_api_fixture(const std::string& label) : store_fixture{2} {
    auto made = MUST(make_api_user(sys, store, label));
    user_id = made.user_id;
    token = made.token;
  }

  /// The deployers' settings: slots in the fixture's range, `http_threads` for the server.
  tf::config deploy_config(int64_t http_threads) const {
    auto cfg = deployer_config(slots.low(), slots.high());
    cfg.http_threads = http_threads;
    return cfg;
  }

  /// Starts the deployers with `cfg`, and the server with `ctx`, the docker host's reconciler
  /// (when it runs one) and the deployers behind it; waits for its answer.
  void start(const tf::config& cfg, tf::http::server_context ctx) {
    deployers = MUST(tf::start_deployers(sys, cfg, store, docker, notifier));
    ctx.reconciler = docker.reconciler;
    port = server.start(with_deployers(ctx, deployers), cfg);
    REQUIRE(bearer_client(port, token).Get("/healthz"));
  }

  /// start() with requests held at most 10 s.
  void start(const tf::config& cfg) {
    using namespace std::chrono_literals;
    start(cfg, server_context(10s));
  }

  /// start() with only the host's docker worker (container logs, removals), no reconciler:
  /// one would mark missing the rows a test writes with made-up container ids.
  void start_with_docker_worker() {
    using namespace std::chrono_literals;
    auto ep = tf::docker::endpoint::parse(engine_host);
    REQUIRE(ep);
    docker.cancel = tf::docker::make_cancel_token();
    docker.worker = sys.spawn<caf::detached>(tf::docker_worker, *ep, docker.cancel,
                                             tf::docker::client_options{});
    auto ctx = server_context(10s);
    ctx.docker = docker.worker;
    start(deploy_config(4), ctx);
  }

  /// POST /api/projects with `body`: a 201 whose workload's containers go when the test
  /// ends. The answer.
  rapidjson::Document create_project(const std::string& body) {
    using namespace std::chrono_literals;
    auto res = bearer_client(port, token, {5s, 40s, 20s}).Post("/api/projects", body, "application/json");
    REQUIRE(res);
    REQUIRE_MESSAGE(res->status == 201, res->body);
    auto doc = json_of(res->body);
    auto workload_id = str(doc, "workload_id");
    REQUIRE_FALSE(workload_id.empty());
    workloads.ids.push_back(workload_id);
    return doc;
  }

  /// The workload row as the store has it.
  tf::workload workload(const std::string& id) {
    using namespace std::chrono_literals;
    auto w = tf::http::ask<tf::workload>(sys, store.readers->next(), 5s, tf::atom::get_v,
                                         tf::atom::workload_v, id);
    REQUIRE_MESSAGE(w, tf::error_message(w.error()));
    return *w;
  }

  ~deploy_api_fixture() {
    // Deploys end on their own before the teardown: a deploy cancelled while the engine
    // creates a container could leave one created after the clean-up listed them.
    settle_deploys();
    server.stop();
    tf::stop_deployers(sys, deployers);
    tf::stop_docker_host(sys, docker);
    if (notifier)
      tf::stop_notifier(sys, notifier);
  }

  /// Waits (at most a minute) until no deploy of the test's workloads is queued or running.
  void settle_deploys() {
    using namespace std::chrono_literals;
    auto deadline = std::chrono::steady_clock::now() + 60s;
    for (const auto& w : workloads.ids) {
      while (std::chrono::steady_clock::now() < deadline) {
        auto res = bearer_client(port, token, {5s, 40s, 20s})
                     .Get(("/api/deployments?limit=500&workload_id=" + w).c_str());
        if (!res || res->status != 200)
          break;
        auto doc = json_of(res->body);
        bool busy = false;
        if (doc.IsObject() && doc.HasMember("items") && doc["items"].IsArray())
          for (const auto& d : doc["items"].GetArray()) {
            auto st = str(d, "status");
            busy = busy || st == "queued" || st == "running";
          }
        if (!busy)
          break;
        std::this_thread::sleep_for(100ms);
      }
    }
  }
};

} // namespace tf::test
