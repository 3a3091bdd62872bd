#include "actors/stack_job.hpp"

#include "actors/fault_point.hpp"
#include "core/errors.hpp"
#include "core/ids.hpp"
#include "docker/compose_policy.hpp"
#include "docker/types.hpp"

#include <spdlog/spdlog.h>

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <system_error>

namespace tf {

namespace {

using namespace std::chrono_literals;

/// How long a job waits for the store.
constexpr auto store_ask_timeout = std::chrono::seconds{60};

/// At most this many lines of compose's output go into a deploy's log.
constexpr size_t max_logged_lines = 2000;

std::string stacks_root(const stack_settings& s) {
  return s.data_dir + "/stacks";
}

caf::error ensure_stacks_root(const stack_settings& s) {
  auto root = stacks_root(s);
  if (::mkdir(root.c_str(), 0700) != 0 && errno != EEXIST)
    return make_error(ec::internal, "cannot create " + root + ": " + std::strerror(errno));
  return {};
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos)
      end = text.size();
    auto line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    if (!line.empty())
      out.push_back(std::move(line));
    start = end + 1;
  }
  return out;
}

/// The last few lines of compose's output, on one line, for an error message.
std::string tail_of(const std::string& output) {
  auto lines = lines_of(output);
  std::string out;
  auto first = lines.size() > 5 ? lines.size() - 5 : 0;
  for (auto i = first; i < lines.size(); ++i)
    out += (out.empty() ? "" : " | ") + lines[i];
  return one_line(out);
}

docker::compose_project project_of(const stack_settings& s, const stack& st,
                                   bool with_override) {
  return {st.compose_project_name, stack_directory(s, st.id), with_override};
}

/// compose's configuration of `st` (its files written in its directory), its services once
/// the stack policy (docker/compose_policy.hpp) allowed them.
caf::expected<std::vector<std::string>> checked_services_of(compose_probe& probe,
                                                            const stack_settings& s,
                                                            const stack& st) {
  auto config = docker::compose_config(probe.runner(), project_of(s, st, false), st.env);
  if (!config)
    return config.error();
  return docker::checked_services(*config, s.data_dir, stack_directory(s, st.id));
}

/// Writes the compose file, asks compose for its services and writes the override that
/// labels them: the files `up` runs with.
caf::expected<std::vector<std::string>>
write_stack_files(compose_probe& probe, const stack_settings& s, const stack& st,
                  int64_t route_slot) {
  if (auto err = ensure_stacks_root(s))
    return err;
  auto dir = stack_directory(s, st.id);
  if (auto err = docker::write_private_file(dir, docker::compose_file_name, st.compose))
    return err;
  auto services = checked_services_of(probe, s, st);
  if (!services)
    return services.error();
  std::map<std::string, std::string> published;
  if (route_slot > 0) {
    if (std::find(services->begin(), services->end(), st.route_service) == services->end())
      return make_error(ec::invalid_argument, "route_service \"" + st.route_service
                                                + "\" is not a service of the compose file");
    published[st.route_service] = "127.0.0.1:" + std::to_string(route_slot) + ":"
                                  + std::to_string(st.route_port);
  }
  if (auto err = docker::write_private_file(
        dir, docker::override_file_name,
        docker::label_override(*services, stack_labels(s, st), docker::label::role, published)))
    return err;
  return services;
}

} // namespace

const docker::compose_tool& compose_probe::tool() {
  std::call_once(once_, [this] {
    tool_ = docker::detect_compose(settings_.docker_cli, settings_.v1_binary);
    if (tool_.found())
      spdlog::info("event=compose-found flavor={} version={}", tool_.flavor, tool_.version);
    else
      spdlog::warn("event=compose-missing reason=\"neither docker compose nor {} runs\"",
                   settings_.v1_binary);
  });
  return tool_;
}

docker::compose_runner compose_probe::runner() {
  docker::compose_runner r;
  r.tool = tool();
  r.docker_host = settings_.docker_host;
  r.timeout = settings_.compose_timeout;
  if (auto cancel = settings_.cancel)
    r.cancelled = [cancel] { return cancel->cancelled(); };
  return r;
}

std::string stack_directory(const stack_settings& s, const std::string& stack_id) {
  return stacks_root(s) + "/" + stack_id;
}

std::map<std::string, std::string> stack_labels(const stack_settings& s, const stack& st) {
  std::map<std::string, std::string> labels{{docker::label::managed, "true"},
                                            {docker::label::workload_id, st.workload_id},
                                            {docker::label::workload_kind, "stack"}};
  if (!s.instance_id.empty())
    labels[docker::label::instance] = s.instance_id;
  return labels;
}

caf::expected<std::vector<std::string>> check_stack(compose_probe& probe,
                                                    const stack_settings& s, const stack& st) {
  if (auto err = ensure_stacks_root(s))
    return err;
  // A scratch copy: the stack's own files stay what its last deploy ran.
  stack scratch = st;
  scratch.id = ".check-" + new_id();
  scratch.compose_project_name = "tf-check";
  auto dir = stack_directory(s, scratch.id);
  auto services = [&]() -> caf::expected<std::vector<std::string>> {
    if (auto err = docker::write_private_file(dir, docker::compose_file_name, st.compose))
      return err;
    return checked_services_of(probe, s, scratch);
  }();
  std::error_code ec_ignored;
  std::filesystem::remove_all(dir, ec_ignored);
  return services;
}

caf::expected<std::vector<std::string>>
run_stack_action(compose_probe& probe, const stack_settings& s, const stack& st,
                 const std::string& action) {
  std::vector<std::string> args;
  if (action == "stop" || action == "start" || action == "restart")
    args = {action};
  else if (action == "down")
    args = {"down", "--remove-orphans"};
  else if (action == "down-volumes")
    args = {"down", "--remove-orphans", "--volumes"};
  else
    return make_error(ec::invalid_argument, "no stack action \"" + action.substr(0, 40) + "\"");
  auto dir = stack_directory(s, st.id);
  std::error_code ec_ignored;
  if (!std::filesystem::exists(dir + "/" + docker::override_file_name, ec_ignored))
    return make_error(ec::conflict, "stack \"" + st.name + "\" has not been deployed yet");
  auto r = probe.runner().run(project_of(s, st, true), args, st.env);
  if (!r)
    return r.error();
  if (r->exit_code != 0)
    return make_error(ec::unavailable, "compose " + action + " failed (exit "
                                         + std::to_string(r->exit_code)
                                         + "): " + tail_of(r->output));
  return lines_of(r->output);
}

caf::expected<std::vector<std::string>> remove_stack_files(compose_probe& probe,
                                                           const stack_settings& s,
                                                           const stack& st) {
  auto dir = stack_directory(s, st.id);
  std::error_code ec_ignored;
  std::vector<std::string> out;
  if (std::filesystem::exists(dir + "/" + docker::override_file_name, ec_ignored)) {
    auto down = run_stack_action(probe, s, st, "down");
    if (!down)
      return down.error(); // the files stay: a retry can still find its containers
    out = std::move(*down);
  }
  std::filesystem::remove_all(dir, ec_ignored);
  if (ec_ignored)
    return make_error(ec::internal, "cannot remove " + dir + ": " + ec_ignored.message());
  return out;
}

namespace {

/// One deploy, its state and its steps.
class stack_run {
public:
  stack_run(caf::blocking_actor* self, stack_job_spec spec, stack_settings settings,
            std::shared_ptr<compose_probe> probe, stack_store_writer_actor writer,
            std::shared_ptr<stack_store_readers> readers)
    : self_{self},
      spec_{std::move(spec)},
      settings_{std::move(settings)},
      probe_{std::move(probe)},
      writer_{std::move(writer)},
      readers_{std::move(readers)},
      proxy_{settings_.proxy} {}

  stack_outcome run() {
    stack_outcome out;
    out.stack_id = spec_.stack_id;
    out.deployment_id = spec_.dep.id;
    auto err = deploy();
    if (cancelled())
      return out; // no status: the journal keeps it running, and the next start runs it again
    out.status = err ? "failed" : "succeeded";
    if (err) {
      out.error = error_message(err);
      log("failed: " + out.error);
    }
    auto ended = ask<deployment>(writer_, atom::update_v,
                                 deployment_transition{spec_.dep.id, out.status, out.error});
    if (!ended)
      spdlog::error("event=stack-deploy-unrecorded deployment={} error={}", spec_.dep.id,
                    error_message(ended.error()));
    return out;
  }

  bool cancelled() const { return settings_.cancel && settings_.cancel->cancelled(); }

private:
  caf::error deploy() {
    if (spec_.dep.status == "running") {
      // Left running by a daemon that stopped: compose up is idempotent, so it runs again.
      log("the daemon restarted during this deploy (phase "
          + (spec_.dep.phase.empty() ? std::string{"start"} : spec_.dep.phase)
          + "): running it again");
    } else {
      auto started = ask<deployment>(writer_, atom::update_v,
                                     deployment_transition{spec_.dep.id, "running", ""});
      if (!started)
        return started.error();
    }
    auto st = ask<stack>(readers_->next(), atom::get_v, atom::stack_v, spec_.stack_id);
    if (!st)
      return st.error();
    const auto& tool = probe_->tool();
    if (!tool.found())
      return make_error(ec::unavailable,
                        "no docker compose on this host (neither the v2 plugin nor "
                          + settings_.v1_binary + ")");
    log("deploying stack " + st->name + " as compose project " + st->compose_project_name
        + " (compose " + tool.flavor + " " + tool.version + ")");
    if (auto err = step("files"))
      return err;
    auto slot = claim_route(*st);
    if (!slot)
      return slot.error();
    auto services = write_stack_files(*probe_, settings_, *st, *slot);
    if (!services)
      return services.error();
    std::string names;
    for (const auto& s : *services)
      names += (names.empty() ? "" : ", ") + s;
    log("services: " + names);
    if (auto err = step("up"))
      return err;
    fault_point("stack-up");
    auto up = probe_->runner().run(project_of(settings_, *st, true),
                                   {"up", "-d", "--remove-orphans"}, st->env,
                                   [this](std::string_view line) { log(std::string{line}); });
    if (!up)
      return up.error();
    if (up->exit_code != 0)
      return make_error(ec::unavailable, "compose up failed (exit "
                                           + std::to_string(up->exit_code)
                                           + "): " + tail_of(up->output));
    log("compose up finished");
    fault_point("stack-upped");
    return route_to(*st, *slot);
  }

  // -- the stack's proxy route (one service and port, when it names one) ------------------

  /// The stack's slot port (claimed once, kept across deploys), or 0 when it routes nothing.
  caf::expected<int64_t> claim_route(const stack& st) {
    if (st.route_service.empty() || !handles_proxy())
      return int64_t{0};
    route_claim claim;
    claim.owner_id = st.workload_id;
    claim.owner_kind = "stack";
    claim.host = st.subdomain.empty() ? st.name : st.subdomain;
    if (!settings_.proxy_domain.empty())
      claim.host += "." + settings_.proxy_domain;
    claim.health_path = "/";
    claim.slot_count = 1;
    claim.port_low = settings_.slot_port_low;
    claim.port_high = settings_.slot_port_high;
    auto route = ask<proxy_route>(writer_, atom::route_v, claim);
    if (!route)
      return route.error();
    route_ = std::move(*route);
    return route_.slots.at(0);
  }

  /// After compose up: the proxy routes the stack's host to its service's published port;
  /// a stack that no longer names a service loses the route it had.
  caf::error route_to(const stack& st, int64_t slot) {
    if (!handles_proxy())
      return {};
    if (slot == 0) {
      auto old = ask<proxy_route>(readers_->next(), atom::get_v, atom::route_v, st.workload_id);
      if (!old)
        return error_code(old.error()) == ec::not_found ? caf::error{} : old.error();
      if (auto err = ask<atom::ok>(proxy_, atom::erase_v, *old); !err)
        return err.error();
      log("the proxy no longer routes " + old->host);
      auto gone = ask<atom::ok>(writer_, atom::erase_v, atom::route_v, st.workload_id);
      return gone ? caf::error{} : gone.error();
    }
    if (auto opened = ask<atom::ok>(proxy_, atom::open_v, std::vector<int64_t>{slot}); !opened)
      return opened.error();
    if (route_.serving != std::vector<int64_t>{slot}) {
      route_.serving = {slot};
      auto saved = ask<proxy_route>(writer_, atom::update_v, route_);
      if (!saved)
        return saved.error();
      route_ = std::move(*saved);
    }
    auto applied = ask<proxy_route>(proxy_, atom::apply_v, route_);
    if (!applied)
      return applied.error();
    log("the proxy routes " + route_.host + " to " + st.route_service + " on 127.0.0.1:"
        + std::to_string(slot));
    return {};
  }

  bool handles_proxy() const { return static_cast<bool>(proxy_); }

  caf::error step(const char* phase) {
    auto r = ask<atom::ok>(writer_, atom::step_v, deployment_phase{spec_.dep.id, phase});
    return r ? caf::error{} : r.error();
  }

  /// One line of the deploy's log; one-way, in order (one sender, one mailbox).
  void log(std::string line) {
    if (logged_ == max_logged_lines)
      line = "(the rest of compose's output is not kept)";
    else if (logged_ > max_logged_lines)
      return;
    ++logged_;
    if (line.size() > 2000)
      line.resize(2000);
    self_->send(writer_, atom::append_v, deployment_log_line{spec_.dep.id, std::move(line)});
  }

  template <class R, class Handle, class... Ts>
  caf::expected<R> ask(const Handle& handle, Ts&&... xs) {
    caf::expected<R> result{make_error(ec::unavailable, "the store did not answer")};
    self_->request(handle, store_ask_timeout, std::forward<Ts>(xs)...)
      .receive([&](R& r) { result = std::move(r); },
               [&](caf::error& e) { result = std::move(e); });
    return result;
  }

  caf::blocking_actor* self_;
  stack_job_spec spec_;
  stack_settings settings_;
  std::shared_ptr<compose_probe> probe_;
  stack_store_writer_actor writer_;
  std::shared_ptr<stack_store_readers> readers_;
  size_t logged_ = 0;
  proxy_actor proxy_;
  proxy_route route_;
};

} // namespace

void stack_job(caf::blocking_actor* self, stack_job_spec spec, stack_settings settings,
               std::shared_ptr<compose_probe> probe, stack_store_writer_actor writer,
               std::shared_ptr<stack_store_readers> readers, stack_deployer_actor deployer) {
  stack_run job{self,          std::move(spec),    std::move(settings),
                std::move(probe), std::move(writer), std::move(readers)};
  auto outcome = job.run();
  if (!job.cancelled())
    self->send(deployer, atom::done_v, std::move(outcome));
}

} // namespace tf
