// The ground every in-process API test stands on: an actor system and a store in a
// throwaway directory, the server context over them, and the deployers' stack for the tests
// that deploy. Each test's fixture derives from store_fixture, adds what it is about, and
// stops its own actors in its destructor; the store stops after them, in store_fixture's.
#pragma once

#include "actors/system.hpp"
#include "api_client.hpp"
#include "config/config.hpp"
#include "docker_fixtures.hpp"
#include "expect.hpp"
#include "helpers.hpp"
#include "http/server.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <doctest/doctest.h>

#include <chrono>
#include <cstddef>
#include <string>

namespace tf::test {

/// An actor system and a store of `readers` readers on their own threads, in a database of
/// a fresh directory. Stops the store when the fixture ends.
struct store_fixture {
  temp_dir dir;
  caf::actor_system_config actor_cfg;
  caf::actor_system sys{actor_cfg};
  tf::store_handles store;

  explicit store_fixture(size_t readers)
    : store{MUST(tf::start_store(sys, tf::store_options{dir.file("tinyforge.db"), readers, true}))} {}
  store_fixture(const store_fixture&) = delete;
  store_fixture& operator=(const store_fixture&) = delete;
  ~store_fixture() { tf::stop_store(sys, store); }

  /// A bearer token of an admin made straight in the store for `label`.
  std::string api_token(const std::string& label) {
    return MUST(make_api_user(sys, store, label)).token;
  }

  /// A server context over this system and store that holds a request at most `timeout`;
  /// the fixture sets the other actors it runs.
  tf::http::server_context server_context(std::chrono::milliseconds timeout) {
    tf::http::server_context ctx;
    ctx.sys = &sys;
    ctx.store = store;
    ctx.request_timeout = timeout;
    return ctx;
  }
};

/// A docker host (worker and reconciler) on the test engine whose reconciler waits an hour
/// between passes: the tests ask it for a pass themselves.
inline tf::docker_host_handles start_test_docker_host(caf::actor_system& sys,
                                                      const tf::store_handles& store,
                                                      tf::notifier_actor notifier = {}) {
  tf::reconciler_config rc;
  rc.interval = std::chrono::hours{1};
  rc.instance_id = store.instance_id;
  rc.notifier = notifier;
  return MUST(tf::start_docker_host(sys, engine_host, rc, store.writer));
}

/// `ctx` with the deployers of `deployers` behind the deploy and webhook routes.
inline tf::http::server_context with_deployers(tf::http::server_context ctx,
                                               const tf::deployer_handles& deployers) {
  ctx.deployer = deployers.projects;
  ctx.webhooks = deployers.webhooks;
  return ctx;
}

} // namespace tf::test
