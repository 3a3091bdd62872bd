#include "core/errors.hpp"
#include "actors/system.hpp"
#include "cli/commands.hpp"
#include "config/ephemeral_ports.hpp"
#include "http/ask.hpp"
#include "http/server.hpp"
#include "core/ids.hpp"
#include "store/data_dir.hpp"
#include "store/password.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <caf/send.hpp>

#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <pthread.h>
#include <thread>

namespace tf::cli {

namespace {

void setup_logging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("tinyforge", spdlog::color_mode::never);
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
  logger->set_level(spdlog::level::from_str(level));
  // Log lines must reach a supervisor (or a test reading the pipe) at once.
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
}

/// Blocks the stop signals in this thread and in every thread it starts later, so that
/// wait_for_stop_signal() is the only place they are taken.
sigset_t block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

int wait_for_stop_signal(const sigset_t& set) {
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  return sig;
}

/// No default password, ever. With no user in the database the first admin comes from
/// TINYFORGE_ADMIN_PASSWORD (user "admin"), or else from the setup token logged here and
/// taken by POST /api/auth/setup. Replies the setup token's hash ("" when a user exists).
/// The password is never logged.
caf::expected<std::string> prepare_first_admin(caf::actor_system& sys, const store_handles& store,
                                               const std::string& admin_password,
                                               std::chrono::milliseconds timeout) {
  auto users = http::ask<int64_t>(sys, store.readers->next(), timeout, atom::count_v,
                                  atom::user_v);
  if (!users)
    return users.error();
  if (*users > 0) {
    if (!admin_password.empty())
      spdlog::info("event=admin-password-ignored reason=a-user-exists");
    return std::string{};
  }
  if (!admin_password.empty()) {
    if (auto err = store::check_new_password(admin_password))
      return make_error(ec::bad_config, "TINYFORGE_ADMIN_PASSWORD: " + error_message(err));
    auto hash = store::hash_password(admin_password);
    if (!hash)
      return hash.error();
    auto user = http::ask<user_record>(sys, store.writer, timeout, atom::create_v,
                                       new_user{"admin", *hash, true, true});
    if (!user)
      return user.error();
    caf::anon_send(store.writer, atom::append_v,
                   audit_entry{"TINYFORGE_ADMIN_PASSWORD", "user.create", "user", user->id,
                               "{}", "local"});
    spdlog::info("event=admin-created username=admin source=TINYFORGE_ADMIN_PASSWORD");
    return std::string{};
  }
  auto token = tf::new_secret();
  spdlog::warn("event=setup-token-issued token={} hint=\"no user exists: POST /api/auth/setup "
               "with this token, or run tinyforge admin create\"",
               token);
  return store::sha256_hex(token);
}

/// A warning per configured port inside the kernel's ephemeral range (no check when the
/// range cannot be read). Nothing is refused.
void warn_about_ephemeral_ports(const config& cfg) {
  auto kernel = read_ephemeral_range();
  if (!kernel) {
    spdlog::debug("event=ephemeral-range-unknown path={}", ephemeral_range_path);
    return;
  }
  for (const auto& overlap : ephemeral_overlaps(cfg, *kernel))
    spdlog::warn("{}", describe(overlap));
}

} // namespace

int serve(const config_sources& sources) {
  auto signals = block_stop_signals();
  auto cfg = load_config(sources);
  if (!cfg) {
    std::fprintf(stderr, "tinyforge: %s\n", error_message(cfg.error()).c_str());
    return 2;
  }
  setup_logging(cfg->log_level);
  warn_about_ephemeral_ports(*cfg);

  // The data dir holds the database and the key of its secrets: 0700, its files 0600.
  auto fixed = store::secure_data_dir(cfg->data_dir);
  if (!fixed) {
    spdlog::error("event=data-dir-failed path={} error={}", cfg->data_dir,
                  error_message(fixed.error()));
    return 1;
  }
  for (const auto& fix : *fixed)
    spdlog::warn("event=data-dir-mode-fixed {} (it was open to other users)",
                 store::describe(fix));
  auto db_path = (std::filesystem::path{cfg->data_dir} / "tinyforge.db").string();

  caf::actor_system_config actor_cfg;
  // Two cores here, and the store actors run on their own threads: a small scheduler
  // keeps the idle footprint low.
  actor_cfg.set("scheduler.max-threads", 2);
  // Work sharing: idle workers wait on a condition variable and wake when a message comes.
  // CAF 0.17's work stealing polls an idle worker's queue with sleeps of up to 10 ms, which a
  // webhook's chain of a dozen actor hops paid many times over (bench/webhook_burst: 252 ->
  // 355 deliveries/s), and which keeps waking an idle daemon.
  actor_cfg.set("scheduler.policy", caf::atom("sharing"));
  caf::actor_system sys{actor_cfg};

  auto store = start_store(sys, store_options{db_path, 2, true});
  if (!store) {
    spdlog::error("event=store-open-failed path={} error={}", db_path,
                  error_message(store.error()));
    return 1;
  }

  // Read once, then gone from the environment: no child process (docker, nginx) inherits it.
  std::string admin_password;
  if (const char* pw = std::getenv("TINYFORGE_ADMIN_PASSWORD")) {
    admin_password = pw;
    ::unsetenv("TINYFORGE_ADMIN_PASSWORD");
  }
  auto setup_token_hash = prepare_first_admin(sys, *store, admin_password,
                                              std::chrono::milliseconds{cfg->request_timeout_ms});
  admin_password.assign(admin_password.size(), '\0');
  if (!setup_token_hash) {
    spdlog::error("event=first-admin-failed error={}", error_message(setup_token_hash.error()));
    stop_store(sys, *store);
    return 1;
  }

  auto notifier = start_notifier(sys, notifier_settings_of(*cfg), *store);

  reconciler_config reconcile_cfg;
  reconcile_cfg.instance_id = store->instance_id;
  reconcile_cfg.interval = std::chrono::seconds{cfg->reconcile_interval_s};
  reconcile_cfg.notifier = notifier;
  auto docker = start_docker_host(sys, cfg->docker_host, reconcile_cfg, store->writer);
  if (!docker) {
    spdlog::error("event=docker-setup-failed error={}", error_message(docker.error()));
    stop_notifier(sys, notifier);
    stop_store(sys, *store);
    return 1;
  }

  auto deployers = start_deployers(sys, *cfg, *store, *docker, notifier);
  if (!deployers) {
    spdlog::error("event=deployer-setup-failed error={}", error_message(deployers.error()));
    stop_docker_host(sys, *docker);
    stop_notifier(sys, notifier);
    stop_store(sys, *store);
    return 1;
  }

  http::server_context ctx;
  ctx.sys = &sys;
  ctx.store = *store;
  ctx.reconciler = docker->reconciler;
  ctx.deployer = deployers->projects;
  ctx.stacks = deployers->stacks;
  ctx.sites = deployers->sites;
  ctx.webhooks = deployers->webhooks;
  ctx.docker = docker->worker;
  ctx.proxy = deployers->proxy;
  ctx.request_timeout = std::chrono::milliseconds{cfg->request_timeout_ms};
  ctx.setup_token_hash = *setup_token_hash;
  http::server server{ctx, *cfg};
  auto port = server.bind(cfg->listen_host, cfg->listen_port);
  if (!port) {
    spdlog::error("event=http-listen-failed error={}", error_message(port.error()));
    stop_deployers(sys, *deployers);
    stop_docker_host(sys, *docker);
    stop_notifier(sys, notifier);
    stop_store(sys, *store);
    return 1;
  }
  std::thread http_thread{[&server] { server.run(); }};
  spdlog::info("event=http-listening address={}:{} data_dir={} db={} docker_host={}",
               cfg->listen_host, *port, cfg->data_dir, db_path, cfg->docker_host);

  auto sig = wait_for_stop_signal(signals);
  spdlog::info("event=shutdown-begin signal={}", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  // Order: stop accepting and finish in-flight requests, then the actors they talk to,
  // then the database (closed by the writer as it stops).
  server.stop();
  http_thread.join();
  stop_deployers(sys, *deployers);
  stop_docker_host(sys, *docker);
  stop_notifier(sys, notifier);
  stop_store(sys, *store);
  spdlog::info("event=shutdown-complete");
  return 0;
}

} // namespace tf::cli
