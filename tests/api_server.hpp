// tf::http::server in-process for the API tests: bound to 127.0.0.1 on an ephemeral port
// and answering on a thread of its own until stop(). A fixture calls stop() in its
// destructor where the server must go before the actors behind it; the destructor stops it
// too, so a fixture whose constructor fails half-way leaves no thread running.
#pragma once

#include "core/errors.hpp"
#include "config/config.hpp"
#include "http/server.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <memory>
#include <thread>

namespace tf::test {

class api_server {
public:
  api_server() = default;
  api_server(const api_server&) = delete;
  api_server& operator=(const api_server&) = delete;
  ~api_server() { stop(); }

  /// Binds and starts serving; the port. Fails the test when the server cannot bind.
  uint16_t start(const tf::http::server_context& ctx, const tf::config& cfg) {
    srv_ = std::make_unique<tf::http::server>(ctx, cfg);
    auto bound = srv_->bind("127.0.0.1", 0);
    REQUIRE_MESSAGE(bound, tf::error_message(bound.error()));
    serving_ = std::thread{[this] { srv_->run(); }};
    return *bound;
  }

  /// The server itself, once start() has made it (its route table, for instance).
  const tf::http::server& http() const { return *srv_; }

  /// Stops serving and joins the thread; nothing when it does not serve.
  void stop() {
    if (!serving_.joinable())
      return;
    srv_->stop();
    serving_.join();
  }

private:
  std::unique_ptr<tf::http::server> srv_;
  std::thread serving_;
};

/// The settings of an in-process fixture that runs the real deployers: no proxy and no slot
/// gate, slots in the fixture's own range [slot_low, slot_high], no rollback grace, a 30 s
/// health deadline and a 1 s stop grace, so a test's deploys end quickly either way.
inline tf::config deployer_config(int slot_low, int slot_high) {
  tf::config cfg;
  cfg.proxy_provider = "none";
  cfg.proxy_slot_gate = "none";
  cfg.slot_port_low = slot_low;
  cfg.slot_port_high = slot_high;
  cfg.rollback_grace_s = 0;
  cfg.deploy_health_deadline_s = 30;
  cfg.deploy_stop_grace_s = 1;
  return cfg;
}

} // namespace tf::test
