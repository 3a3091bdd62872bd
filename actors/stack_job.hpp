// The blocking side of stacks: a deploy of one stack run start to finish on its own thread
// (files written, the labels' override generated, compose up streamed into the deploy's
// log), and one-shot compose tasks (a compose file checked, stop/start/restart/down, a
// stack's removal) that answer the stack deployer once and end. The deployer never runs
// two of them for one stack.
#pragma once

#include "actors/actors.hpp"
#include "actors/reader_pool.hpp"
#include "docker/compose.hpp"
#include "docker/transport.hpp"

#include <caf/blocking_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace tf {

using stack_store_readers = reader_pool<stack_store_reader_actor>;

/// Everything stacks need from the daemon's configuration.
struct stack_settings {
  std::string data_dir;    // a stack's files live in data_dir/stacks/<stack id>
  std::string docker_host; // the engine compose talks to (--host)
  std::string instance_id; // labelled on every container, as projects' are
  std::chrono::milliseconds compose_timeout = std::chrono::minutes{10};
  /// Set first at shutdown: the compose run in flight is killed, and its deploy stays
  /// running in the journal for the next start to run again.
  docker::cancel_token cancel;
  std::string docker_cli = "docker";         // the v2 plugin is looked for through it
  std::string v1_binary = "docker-compose"; // then this
  /// A stack's route (its route_service): the proxy, the slot ports, the host's domain.
  /// A null proxy: stacks get no route.
  proxy_actor proxy;
  std::string proxy_domain;
  int64_t slot_port_low = 20000;
  int64_t slot_port_high = 20999;
};

/// The host's compose, found once on first use (a process start each: never at boot, whose
/// time is bounded) and shared by every job and task thread.
class compose_probe {
public:
  explicit compose_probe(stack_settings s) : settings_{std::move(s)} {}
  /// Blocking on the first call.
  const docker::compose_tool& tool();
  /// A runner for this host, its tool found.
  docker::compose_runner runner();

private:
  stack_settings settings_;
  std::once_flag once_;
  docker::compose_tool tool_;
};

/// The directory of a stack's files.
std::string stack_directory(const stack_settings& s, const std::string& stack_id);

/// The labels compose gives every container of `st` (the role is the service's name).
std::map<std::string, std::string> stack_labels(const stack_settings& s, const stack& st);

/// Checks a stack's compose file and environment with compose itself, in a scratch
/// directory removed afterwards; its service names, or invalid_argument with compose's
/// message.
caf::expected<std::vector<std::string>> check_stack(compose_probe& probe,
                                                    const stack_settings& s, const stack& st);

/// stop | start | restart | down | down-volumes of a stack's services; the output's lines.
caf::expected<std::vector<std::string>>
run_stack_action(compose_probe& probe, const stack_settings& s, const stack& st,
                 const std::string& action);

/// A stack's removal: compose down (volumes kept) when its files exist, then its directory.
caf::expected<std::vector<std::string>> remove_stack_files(compose_probe& probe,
                                                           const stack_settings& s,
                                                           const stack& st);

/// What a stack deploy job needs.
struct stack_job_spec {
  deployment dep;
  std::string stack_id;
};

/// The deploy: running, files, compose up, succeeded or failed; sends (done, stack_outcome)
/// to `deployer` at the end.
void stack_job(caf::blocking_actor* self, stack_job_spec spec, stack_settings settings,
               std::shared_ptr<compose_probe> probe, stack_store_writer_actor writer,
               std::shared_ptr<stack_store_readers> readers, stack_deployer_actor deployer);

} // namespace tf
