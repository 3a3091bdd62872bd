#include "actors/system.hpp"

#include "actors/docker_worker.hpp"
#include "core/errors.hpp"
#include "actors/event_watcher.hpp"
#include "actors/project_deployer.hpp"
#include "actors/site_deployer.hpp"
#include "actors/stack_deployer.hpp"

#include <filesystem>
#include "actors/proxy_actor.hpp"
#include "actors/store_writer.hpp"
#include "actors/webhook_router.hpp"
#include "store/migrations.hpp"
#include "store/secrets.hpp"
#include "store/settings.hpp"

#include <caf/all.hpp>
#include "store/index_version.hpp"

#include <spdlog/spdlog.h>

#include <filesystem>

namespace tf {

caf::expected<store_handles> start_store(caf::actor_system& sys, const store_options& opts) {
  // The writer's connection creates the file and migrates it before any reader opens it.
  auto db = store::database::open(opts.db_path, store::database::mode::read_write);
  if (!db)
    return db.error();
  auto applied = store::migrate(*db);
  if (!applied)
    return applied.error();
  // The writer seals what is still plain before any reader can see the database.
  auto secrets = store::unlock_secrets(*db, store::key_path_for(opts.db_path));
  if (!secrets)
    return secrets.error();
  // Generated once and kept: written on the writer's connection before the writer starts.
  auto instance_id = store::ensure_instance_id(*db);
  if (!instance_id)
    return instance_id.error();
  std::vector<store::database> reader_dbs;
  for (size_t i = 0; i < std::max<size_t>(opts.readers, 1); ++i) {
    auto rdb = store::database::open(opts.db_path, store::database::mode::read_only);
    if (!rdb)
      return rdb.error();
    rdb->use_secrets(*secrets);
    reader_dbs.push_back(std::move(*rdb));
  }
  store_handles h;
  h.instance_id = std::move(*instance_id);
  h.versions = &store::versions_of(*db);
  h.feed = std::make_shared<live_feed>();
  std::vector<store_reader_actor> readers;
  if (opts.detached) {
    h.writer = sys.spawn<caf::detached>(store_writer, std::move(*db), h.feed);
    for (auto& rdb : reader_dbs)
      readers.push_back(sys.spawn<caf::detached>(store_reader, std::move(rdb)));
  } else {
    h.writer = sys.spawn(store_writer, std::move(*db), h.feed);
    for (auto& rdb : reader_dbs)
      readers.push_back(sys.spawn(store_reader, std::move(rdb)));
  }
  h.readers = std::make_shared<store_readers>(std::move(readers));
  return h;
}

namespace {

/// Stops one actor and waits until it is gone.
template <class Handle>
void stop_and_wait(caf::scoped_actor& self, const Handle& handle) {
  if (!handle)
    return;
  self->monitor(handle);
  self->send_exit(handle, caf::exit_reason::user_shutdown);
  self->receive([](const caf::down_msg&) {});
}

} // namespace

void stop_store(caf::actor_system& sys, store_handles& handles) {
  caf::scoped_actor self{sys};
  auto stop = [&](const auto& handle) { stop_and_wait(self, handle); };
  // Readers first: nothing may still read when the writer closes the last connection,
  // which checkpoints the WAL into the main file.
  if (handles.readers)
    for (const auto& r : handles.readers->all())
      stop(r);
  stop(handles.writer);
  handles.writer = nullptr;
  handles.readers.reset();
}

net::target_policy notify_target_policy(const config& cfg) {
  net::target_policy p;
  p.allow_private = cfg.notify_private_targets == "allow";
  p.own_host = cfg.listen_host;
  p.own_port = cfg.listen_port;
  return p;
}

notifier_settings notifier_settings_of(const config& cfg) {
  notifier_settings s;
  s.queue_max = static_cast<size_t>(cfg.notify_queue_max);
  s.max_attempts = cfg.notify_max_attempts;
  s.backoff = std::chrono::milliseconds{cfg.notify_backoff_ms};
  s.targets = notify_target_policy(cfg);
  return s;
}

notifier_actor start_notifier(caf::actor_system& sys, notifier_settings settings,
                              const store_handles& store) {
  return sys.spawn(notifier, std::move(settings), store.writer,
                   narrowed<notifier_store_reader_actor>(store.readers));
}

void stop_notifier(caf::actor_system& sys, notifier_actor& notifier) {
  caf::scoped_actor self{sys};
  stop_and_wait(self, notifier);
  notifier = nullptr;
}

caf::expected<docker_host_handles> start_docker_host(caf::actor_system& sys,
                                                     const std::string& docker_host,
                                                     reconciler_config cfg,
                                                     container_index_writer_actor writer) {
  auto ep = docker::endpoint::parse(docker_host);
  if (!ep)
    return ep.error();
  docker_host_handles h;
  h.cancel = docker::make_cancel_token();
  cfg.cancel = h.cancel;
  docker::client_options opts;
  opts.timeout = cfg.docker_timeout;
  h.worker = sys.spawn<caf::detached>(docker_worker, *ep, h.cancel, opts);
  h.reconciler = sys.spawn(reconciler, std::move(cfg), std::move(writer), h.worker);
  h.watcher = sys.spawn(event_watcher, *ep, h.cancel, h.reconciler);
  return h;
}

void stop_docker_host(caf::actor_system& sys, docker_host_handles& handles) {
  // Cancel first: it shuts down the sockets of the calls in flight, so a worker blocked on
  // a hung engine returns at once instead of at its timeout, and can take the exit message.
  if (handles.cancel)
    handles.cancel->cancel();
  caf::scoped_actor self{sys};
  stop_and_wait(self, handles.watcher);
  stop_and_wait(self, handles.reconciler);
  stop_and_wait(self, handles.worker);
  handles = docker_host_handles{};
}

namespace {

/// What sites need of the configuration; the command's words split at spaces (no shell).
site_settings site_settings_of(const config& cfg, const store_handles& store,
                               docker::cancel_token cancel) {
  site_settings s;
  s.data_dir = std::filesystem::absolute(cfg.data_dir).lexically_normal().string();
  s.instance_id = store.instance_id;
  s.image = cfg.sites_image;
  for (size_t at = 0; at < cfg.sites_command.size();) {
    auto end = cfg.sites_command.find(' ', at);
    if (end == std::string::npos)
      end = cfg.sites_command.size();
    if (end > at)
      s.command.push_back(cfg.sites_command.substr(at, end - at));
    at = end + 1;
  }
  s.port = cfg.sites_port;
  s.proxy_domain = cfg.proxy_domain;
  s.slot_port_low = cfg.slot_port_low;
  s.slot_port_high = cfg.slot_port_high;
  s.limits.max_bytes = cfg.sites_max_unpacked_bytes;
  s.limits.max_files = cfg.sites_max_files;
  s.health_deadline = std::chrono::seconds{cfg.deploy_health_deadline_s};
  s.cancel = std::move(cancel);
  return s;
}

} // namespace

caf::expected<deployer_handles> start_deployers(caf::actor_system& sys, const config& cfg,
                                                const store_handles& store,
                                                const docker_host_handles& docker,
                                                notifier_actor notifier) {
  auto ep = docker::endpoint::parse(cfg.docker_host);
  if (!ep)
    return ep.error();
  std::shared_ptr<proxy::provider> provider = proxy::make_provider(cfg);
  if (!provider)
    return make_error(ec::bad_config, "no proxy provider \"" + cfg.proxy_provider + "\"");
  deploy_settings settings;
  settings.instance_id = store.instance_id;
  settings.proxy_domain = cfg.proxy_domain;
  settings.slot_port_low = cfg.slot_port_low;
  settings.slot_port_high = cfg.slot_port_high;
  if (cfg.proxy_provider == "caddy")
    settings.proxy_listen = cfg.caddy_listen;
  else if (cfg.proxy_provider == "nginx")
    settings.proxy_listen = cfg.nginx_listen;
  settings.rollback_grace = std::chrono::seconds{cfg.rollback_grace_s};
  settings.settle = std::chrono::milliseconds{cfg.deploy_settle_ms};
  settings.health_deadline = std::chrono::seconds{cfg.deploy_health_deadline_s};
  settings.drain_timeout = std::chrono::seconds{cfg.deploy_drain_timeout_s};
  settings.stop_grace = std::chrono::seconds{cfg.deploy_stop_grace_s};
  deployer_handles h;
  h.cancel = docker::make_cancel_token();
  h.proxy = sys.spawn<caf::detached>(proxy_service, std::move(provider), cfg.proxy_slot_gate);
  h.projects = sys.spawn(project_deployer, std::move(settings), store.writer,
                         narrowed<deploy_store_reader_actor>(store.readers), h.proxy,
                         docker.worker, *ep, h.cancel, notifier);
  stack_settings stacks;
  stacks.data_dir = std::filesystem::absolute(cfg.data_dir).lexically_normal().string();
  stacks.docker_host = cfg.docker_host;
  stacks.instance_id = store.instance_id;
  stacks.cancel = h.cancel;
  stacks.proxy = h.proxy;
  stacks.proxy_domain = cfg.proxy_domain;
  stacks.slot_port_low = cfg.slot_port_low;
  stacks.slot_port_high = cfg.slot_port_high;
  h.stacks = sys.spawn(stack_deployer, std::move(stacks), store.writer,
                       narrowed<stack_store_reader_actor>(store.readers), notifier);
  h.sites = sys.spawn(site_deployer, site_settings_of(cfg, store, h.cancel),
                      site_handles{store.writer,
                                   narrowed<deploy_store_reader_actor>(store.readers), h.proxy},
                      *ep, notifier);
  h.webhooks = sys.spawn(webhook_router, store.writer,
                         narrowed<webhook_store_reader_actor>(store.readers), h.projects,
                         store.versions, h.stacks, h.sites);
  caf::scoped_actor self{sys};
  caf::error err;
  self->request(h.projects, std::chrono::minutes{2}, atom::recover_v)
    .receive([](int64_t) {}, [&](caf::error& e) { err = std::move(e); });
  if (err)
    spdlog::warn("event=deploy-recovery-failed error={}", error_message(err));
  self->request(h.stacks, std::chrono::minutes{2}, atom::recover_v)
    .receive([](int64_t) {}, [&](caf::error& e) {
      spdlog::warn("event=stack-recovery-failed error={}", error_message(e));
    });
  self->request(h.sites, std::chrono::minutes{2}, atom::recover_v)
    .receive([](int64_t) {}, [&](caf::error& e) {
      spdlog::warn("event=site-recovery-failed error={}", error_message(e));
    });
  return h;
}

void stop_deployers(caf::actor_system& sys, deployer_handles& handles) {
  if (handles.cancel)
    handles.cancel->cancel();
  caf::scoped_actor self{sys};
  stop_and_wait(self, handles.webhooks); // it hands deploys to the deployer: stop it first
  stop_and_wait(self, handles.projects);
  stop_and_wait(self, handles.stacks);
  stop_and_wait(self, handles.sites);
  stop_and_wait(self, handles.proxy);
  handles = deployer_handles{};
}

} // namespace tf
