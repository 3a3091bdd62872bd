#include "actors/deploy_job.hpp"

#include "core/errors.hpp"
#include "actors/fault_point.hpp"
#include "docker/client.hpp"
#include "net/http_call.hpp"
#include "proxy/provider.hpp"
#include "store/deployments.hpp"
#include "core/ids.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>
#include <thread>

namespace tf {

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

/// How long a store or proxy request may take; the proxy applies configs, so be generous.
constexpr auto ask_timeout = std::chrono::seconds{60};
/// How long the proxy may take to send traffic to a colour it can reach again.
constexpr auto proxy_verify_deadline = std::chrono::seconds{15};
/// A pull reports progress per layer many times a second; the log keeps this many lines.
constexpr int max_pull_log_lines = 60;

/// One container of the stage, as Docker lists it.
struct slot_container {
  std::string id;
  int64_t slot = 0;
  bool running = false;
  std::string image_tag;
  std::string image;
  std::string deployment_id;
};

/// The URL of the proxy's listener for a check through it: "127.0.0.1:8080", ":80", "80".
std::string proxy_base_url(const std::string& listen) {
  if (listen.empty())
    return {};
  if (listen.find_first_not_of("0123456789") == std::string::npos)
    return "http://127.0.0.1:" + listen;
  if (listen.front() == ':')
    return "http://127.0.0.1" + listen;
  return "http://" + listen;
}

std::string ports_text(const std::vector<int64_t>& ports) {
  std::string out;
  for (auto p : ports)
    out += (out.empty() ? "" : ", ") + std::to_string(p);
  return out;
}

class deploy_run {
public:
  deploy_run(caf::blocking_actor* self, deploy_job_spec spec, deploy_settings settings,
             deploy_handles handles, docker::endpoint engine, docker::cancel_token cancel)
    : self_{self},
      spec_{std::move(spec)},
      settings_{std::move(settings)},
      handles_{std::move(handles)},
      cancel_{cancel},
      docker_{std::move(engine), cancel, docker::client_options{settings_.docker_timeout, std::chrono::minutes{30}}} {
  }

  /// Runs the job; the outcome is what the deployer hears.
  deploy_outcome run() {
    outcome_.deployment_id = spec_.dep.id;
    outcome_.stage_id = spec_.dep.stage_id;
    caf::error err;
    switch (spec_.mode) {
      case job_mode::deploy: err = deploy(); break;
      case job_mode::recover: err = recover(); break;
      case job_mode::retire: err = retire(); break;
    }
    if (err && spec_.mode != job_mode::retire)
      finish("failed", error_message(err));
    else if (!err && spec_.mode != job_mode::retire)
      finish("succeeded", "");
    if (err)
      outcome_.error = error_message(err);
    outcome_.warm_container_ids = warm_ids_;
    return outcome_;
  }

  bool cancelled() const { return cancel_ && cancel_->cancelled(); }

private:
  // -- talking to the other actors (blocking request/receive: this is a detached thread) --

  template <class R, class Handle, class... Ts>
  caf::expected<R> ask(const Handle& handle, Ts&&... xs) {
    caf::expected<R> result{make_error(ec::internal, "no answer")};
    self_->request(handle, ask_timeout, std::forward<Ts>(xs)...)
      .receive([&](R& value) { result = std::move(value); },
               [&](caf::error& e) { result = std::move(e); });
    return result;
  }

  template <class Handle, class... Ts>
  caf::error ask_ok(const Handle& handle, Ts&&... xs) {
    auto r = ask<atom::ok>(handle, std::forward<Ts>(xs)...);
    return r ? caf::error{} : std::move(r.error());
  }

  /// Asks the store writer until the write lands: when it fails because the store cannot
  /// write for now (a full disk, a busy database, a writer that did not answer in time) it is
  /// tried again, with a growing pause, until it lands or the daemon stops. For the writes a
  /// deploy must not end without (its final status, the rows of containers it removed): one
  /// that failed left the deployment running and the index naming a removed container.
  template <class R, class... Ts>
  caf::expected<R> ask_recorded(const char* what, const Ts&... xs) {
    auto pause = std::chrono::milliseconds{200};
    for (;;) {
      auto r = ask<R>(handles_.writer, xs...);
      if (r || cancelled())
        return r;
      auto code = error_code(r.error());
      if (code != ec::unavailable && code != ec::timeout && code != ec::database)
        return r;
      spdlog::warn("event=deploy-journal-retry deployment={} write={} error={} retry_in_ms={}",
                   spec_.dep.id, what, error_message(r.error()), pause.count());
      for (auto until = clock_type::now() + pause; clock_type::now() < until && !cancelled();)
        std::this_thread::sleep_for(50ms);
      pause = std::min<std::chrono::milliseconds>(pause * 2, 5s);
    }
  }

  void log(const std::string& line) {
    spdlog::info("event=deploy-log deployment={} line={}", spec_.dep.id, line);
    if (!spec_.dep.id.empty())
      self_->send(handles_.writer, atom::append_v, deployment_log_line{spec_.dep.id, line});
  }

  /// The journal: records the step before it is taken.
  caf::error phase(const char* name) {
    auto err = ask_ok(handles_.writer, atom::step_v, deployment_phase{spec_.dep.id, name});
    if (!err)
      fault_point(name);
    return err;
  }

  void finish(const std::string& status, const std::string& error) {
    outcome_.status = status;
    if (cancelled())
      return; // shutdown: the row stays running and the next run finishes or undoes it
    if (!error.empty())
      log("failed: " + error);
    auto done = ask_recorded<deployment>("status", atom::update_v,
                                         deployment_transition{spec_.dep.id, status, error});
    if (!done)
      spdlog::error("event=deploy-transition-failed deployment={} status={} error={}",
                    spec_.dep.id, status, error_message(done.error()));
  }

  // -- context --

  /// Reads the project and stage fresh (settings may have changed since the deploy queued),
  /// claims the stage's route and learns the provider.
  caf::error load() {
    if (spec_.dep.workload_id.empty()) {
      // A retire knows only its stage: the stage's container rows name the workload.
      container_filter f;
      f.stage_id = spec_.dep.stage_id;
      f.limit = 1;
      auto rows = ask<page<container_row>>(handles_.readers->next(), atom::list_v,
                                           atom::container_v, f);
      if (!rows)
        return rows.error();
      if (rows->items.empty())
        return make_error(ec::not_found, "stage " + spec_.dep.stage_id + " has no containers");
      spec_.dep.workload_id = rows->items.front().workload_id;
    }
    auto w = ask<workload>(handles_.readers->next(), atom::get_v, atom::workload_v,
                           spec_.dep.workload_id);
    if (!w)
      return w.error();
    auto p = ask<project>(handles_.readers->next(), atom::get_v, atom::project_v, w->ref_id);
    if (!p)
      return p.error();
    proj_ = std::move(*p);
    auto s = std::find_if(proj_.stages.begin(), proj_.stages.end(),
                          [&](const stage& x) { return x.id == spec_.dep.stage_id; });
    if (s == proj_.stages.end())
      return make_error(ec::not_found, "the stage of this deploy no longer exists");
    stg_ = *s;
    if (stg_.port <= 0)
      return make_error(ec::invalid_argument, "stage " + stg_.name + " has no container port");
    instances_ = std::clamp<int64_t>(stg_.instances, 1, 32);
    auto status = self_->request(handles_.proxy, ask_timeout, atom::status_v);
    caf::error status_err;
    status.receive(
      [&](std::string& name, bool gated) {
        provider_ = std::move(name);
        gated_ = gated;
      },
      [&](caf::error& e) { status_err = std::move(e); });
    if (status_err)
      return status_err;
    route_claim claim;
    claim.stage_id = stg_.id;
    claim.host = stg_.subdomain.empty() ? proj_.name + "-" + stg_.name : stg_.subdomain;
    if (!settings_.proxy_domain.empty())
      claim.host += "." + settings_.proxy_domain;
    claim.health_path = stg_.health_path.empty() ? "/" : stg_.health_path;
    claim.slot_count = 2 * instances_;
    claim.port_low = settings_.slot_port_low;
    claim.port_high = settings_.slot_port_high;
    auto route = ask<proxy_route>(handles_.writer, atom::route_v, claim);
    if (!route)
      return route.error();
    // The proxy config lists every slot and is only loaded when it changed: never in a
    // deploy of an unchanged stage (a config load closes idle client connections).
    auto applied = ask<proxy_route>(handles_.proxy, atom::apply_v, *route);
    if (!applied)
      return applied.error();
    route_ = std::move(*applied);
    if (route_.npm_proxy_id != route->npm_proxy_id) {
      auto saved = ask<proxy_route>(handles_.writer, atom::update_v, route_);
      if (!saved)
        return saved.error();
    }
    colour_a_.assign(route_.slots.begin(), route_.slots.begin() + instances_);
    colour_b_.assign(route_.slots.begin() + instances_, route_.slots.begin() + 2 * instances_);
    image_ref_ = proj_.image + ":" + spec_.dep.tag;
    return {};
  }

  /// Every container of the stage Docker has, with its slot.
  caf::error observe() {
    docker::filters f{{"label", {std::string{docker::label::stage_id} + "=" + stg_.id}}};
    auto listed = docker_.list_containers(f, true);
    if (!listed)
      return listed.error();
    containers_.clear();
    for (const auto& c : *listed) {
      slot_container x;
      x.id = c.id;
      x.running = c.state == "running";
      x.image = c.image;
      auto label = [&](const char* key) {
        auto it = c.labels.find(key);
        return it == c.labels.end() ? std::string{} : it->second;
      };
      x.image_tag = label(docker::label::image_tag);
      x.deployment_id = label(docker::label::deployment_id);
      try {
        x.slot = std::stoll(label(docker::label::slot));
      } catch (...) {
        x.slot = 0; // not ours to place: treated as in no slot, removed with the stage
      }
      containers_.push_back(std::move(x));
    }
    return {};
  }

  static bool in(const std::vector<int64_t>& ports, int64_t p) {
    return std::find(ports.begin(), ports.end(), p) != ports.end();
  }

  /// The stage's containers outside `ports`: after a change of the instance count the old
  /// colour may sit on slots of either half.
  std::vector<slot_container> outside_slots(const std::vector<int64_t>& ports) const {
    std::vector<slot_container> out;
    for (const auto& c : containers_)
      if (!in(ports, c.slot))
        out.push_back(c);
    return out;
  }

  std::vector<slot_container> in_slots(const std::vector<int64_t>& ports) const {
    std::vector<slot_container> out;
    for (const auto& c : containers_)
      if (in(ports, c.slot))
        out.push_back(c);
    return out;
  }

  // -- steps --

  caf::error pull() {
    if (auto err = phase("pull"))
      return err;
    if (docker_.inspect_image(image_ref_)) {
      log("image " + image_ref_ + " is present");
      return {};
    }
    log("pulling " + image_ref_);
    int lines = 0;
    std::string last;
    auto err = docker_.pull_image(proj_.image, spec_.dep.tag, [&](const std::string& status) {
      if (status == last || lines >= max_pull_log_lines)
        return;
      last = status;
      ++lines;
      log("pull: " + status);
    });
    if (err)
      return make_error(error_code(err), "pull " + image_ref_ + ": " + error_message(err));
    return {};
  }

  /// Removes containers (and their index rows); errors are logged, not fatal: a container
  /// that is already gone is what we wanted. A container the engine did not remove (it may
  /// be unreachable) keeps its row, so the index still shows what runs; the ids of those are
  /// returned.
  std::vector<std::string> remove_containers(const std::vector<std::string>& ids, bool graceful) {
    std::vector<std::string> left;
    if (ids.empty())
      return left;
    container_filter f;
    f.stage_id = stg_.id;
    f.limit = 500;
    auto rows = ask<page<container_row>>(handles_.readers->next(), atom::list_v,
                                         atom::container_v, f);
    for (const auto& id : ids) {
      if (graceful) {
        if (auto err = docker_.stop_container(id, settings_.stop_grace))
          if (error_code(err) != ec::not_found)
            log("stop " + id.substr(0, 12) + ": " + error_message(err));
      }
      if (auto err = docker_.remove_container(id, true)) {
        if (error_code(err) != ec::not_found) {
          log("remove " + id.substr(0, 12) + ": " + error_message(err));
          left.push_back(id);
          continue;
        }
      }
      if (rows)
        for (const auto& r : rows->items)
          if (r.container_id == id)
            ask_recorded<atom::ok>("erase container row", atom::erase_v, atom::container_v,
                                   r.id);
    }
    return left;
  }

  /// Erases the stage's index rows whose container Docker no longer has (call after
  /// observe()). A run killed between removing a container and erasing its row leaves such a
  /// row, and the reconciler can only mark it missing: the job that finishes the killed run's
  /// work (recover, retire) drops it, so the index names what Docker runs.
  void forget_removed_rows() {
    container_filter f;
    f.stage_id = stg_.id;
    f.limit = 500;
    auto rows = ask<page<container_row>>(handles_.readers->next(), atom::list_v,
                                         atom::container_v, f);
    if (!rows)
      return;
    for (const auto& r : rows->items) {
      if (r.container_id.empty()
          || std::any_of(containers_.begin(), containers_.end(),
                         [&](const slot_container& c) { return c.id == r.container_id; }))
        continue;
      if (!ask_ok(handles_.writer, atom::erase_v, atom::container_v, r.id))
        spdlog::info("event=removed-row-forgotten stage={} row={} container={}", stg_.id, r.id,
                     r.container_id.substr(0, 12));
    }
  }

  /// Creates and starts one container per target slot; the slots are closed to the proxy
  /// until the containers are healthy.
  caf::error create_colour(const std::vector<int64_t>& target) {
    if (auto err = phase("create"))
      return err;
    std::vector<std::string> leftovers;
    for (const auto& c : in_slots(target))
      leftovers.push_back(c.id);
    if (!leftovers.empty())
      log("removing " + std::to_string(leftovers.size()) + " old container(s) from slots "
          + ports_text(target));
    remove_containers(leftovers, false);
    if (auto err = ask_ok(handles_.proxy, atom::close_v, target))
      return err;
    for (auto slot : target) {
      docker::container_spec c;
      c.name = "tf-" + proj_.name + "-" + stg_.name + "-" + std::to_string(slot);
      c.image = image_ref_;
      for (const auto& [k, v] : stg_.env)
        c.env.push_back(k + "=" + v);
      c.labels = {{docker::label::managed, "true"},
                  {docker::label::workload_id, proj_.workload_id},
                  {docker::label::workload_kind, "project"},
                  {docker::label::role, stg_.name},
                  {docker::label::stage_id, stg_.id},
                  {docker::label::slot, std::to_string(slot)},
                  {docker::label::deployment_id, spec_.dep.id},
                  {docker::label::image_tag, spec_.dep.tag}};
      c.container_port = stg_.port;
      c.host_ip = "127.0.0.1";
      c.host_port = slot;
      c.memory_bytes = stg_.memory_limit_bytes;
      c.nano_cpus = stg_.cpu_limit_millis * 1000000;
      c.restart_policy = stg_.restart_policy;
      auto id = docker_.create_container(c);
      if (!id && error_code(id.error()) == ec::conflict) {
        // A container of that name survived an earlier run: it holds no serving slot.
        docker_.remove_container(c.name, true);
        id = docker_.create_container(c);
      }
      if (!id)
        return id.error();
      created_.push_back({*id, slot});
      container_row row;
      row.workload_id = proj_.workload_id;
      row.workload_kind = "project";
      row.role = stg_.name;
      row.stage_id = stg_.id;
      row.subdomain = stg_.subdomain;
      row.proxy_route_id = route_.id;
      row.npm_proxy_id = route_.npm_proxy_id;
      row.image_tag = spec_.dep.tag;
      row.container_id = *id;
      row.image_ref = image_ref_;
      row.host = settings_.host;
      row.state = "created";
      row.port = slot;
      auto saved = ask<container_row>(handles_.writer, atom::upsert_v, row);
      if (!saved)
        return saved.error();
      rows_.push_back(*saved);
      if (auto err = docker_.start_container(*id))
        return err;
      if (created_.size() == 1)
        fault_point("created-1");
      row = *saved;
      row.state = "running";
      ask<container_row>(handles_.writer, atom::upsert_v, row);
      log("started " + id->substr(0, 12) + " (" + image_ref_ + ") on 127.0.0.1:"
          + std::to_string(slot));
    }
    return {};
  }

  /// One health probe of a slot, from 127.0.0.2 so a slot closed to the proxy answers.
  bool probe(int64_t slot) {
    net::http_request req;
    req.url = "http://127.0.0.1:" + std::to_string(slot) + route_.health_path;
    req.timeout = std::chrono::milliseconds{std::max<int64_t>(stg_.health_timeout_ms, 100)};
    if (gated_)
      req.source_address = "127.0.0.2";
    req.max_response_bytes = 64 * 1024;
    auto res = net::http_call(req);
    return res && res->status >= 200 && res->status < 400;
  }

  /// Waits until every container passes its health check; a container that exits fails
  /// the deploy at once, with its last log lines.
  caf::error wait_healthy(const std::vector<std::pair<std::string, int64_t>>& colour) {
    if (auto err = phase("health"))
      return err;
    auto deadline = clock_type::now() + settings_.health_deadline;
    auto interval = std::chrono::milliseconds{std::clamp<int64_t>(stg_.health_interval_ms, 50, 60000)};
    std::set<std::string> healthy;
    log("waiting for GET " + route_.health_path + " on " + std::to_string(colour.size())
        + " container(s)");
    while (healthy.size() < colour.size()) {
      if (cancelled())
        return make_error(ec::unavailable, "the daemon is stopping");
      for (const auto& [id, slot] : colour) {
        if (healthy.count(id))
          continue;
        auto details = docker_.inspect_container(id);
        if (!details)
          return details.error();
        if (!details->running) {
          std::string tail;
          if (auto logs = docker_.container_logs(id, 20, 16 * 1024))
            tail = *logs;
          if (!tail.empty())
            log("last output of " + id.substr(0, 12) + ":\n" + tail);
          return make_error(ec::unavailable, "container " + id.substr(0, 12) + " exited (code "
                                               + std::to_string(details->exit_code)
                                               + ") before it was healthy");
        }
        if (probe(slot)) {
          healthy.insert(id);
          log("healthy: " + id.substr(0, 12) + " on 127.0.0.1:" + std::to_string(slot));
        }
      }
      if (healthy.size() == colour.size())
        break;
      if (clock_type::now() >= deadline)
        return make_error(ec::timeout,
                          "health check GET " + route_.health_path + " did not pass within "
                            + std::to_string(settings_.health_deadline.count()) + " s");
      std::this_thread::sleep_for(interval);
    }
    return {};
  }

  /// Puts the target colour into rotation and checks, through the proxy, that it answers.
  caf::error switch_to(const std::vector<int64_t>& target) {
    if (auto err = phase("switch"))
      return err;
    if (auto err = ask_ok(handles_.proxy, atom::open_v, target))
      return err;
    route_.serving = target;
    auto saved = ask<proxy_route>(handles_.writer, atom::update_v, route_);
    if (!saved)
      return saved.error();
    auto moved = ask<proxy_route>(handles_.proxy, atom::update_v, route_);
    if (!moved)
      return moved.error();
    if (moved->npm_proxy_id != route_.npm_proxy_id) {
      route_ = *moved;
      ask<proxy_route>(handles_.writer, atom::update_v, route_);
    }
    fault_point("switched");
    return verify_through_proxy(target);
  }

  /// A deploy succeeds on observed state: requests through the proxy must be answered by
  /// each container of the new colour (the routes name the answering slot in a header).
  caf::error verify_through_proxy(const std::vector<int64_t>& target) {
    auto base = proxy_base_url(settings_.proxy_listen);
    if (base.empty() || (provider_ != "caddy" && provider_ != "nginx")) {
      log("switched to slots " + ports_text(target) + " (provider " + provider_
          + ": no check through the proxy)");
      return {};
    }
    std::set<std::string> wanted;
    for (auto p : target)
      wanted.insert("127.0.0.1:" + std::to_string(p));
    auto deadline = clock_type::now() + proxy_verify_deadline;
    std::string last;
    while (clock_type::now() < deadline && !cancelled()) {
      net::http_request req;
      req.url = base + route_.health_path;
      req.headers["Host"] = route_.host;
      req.timeout = 3s;
      req.max_response_bytes = 64 * 1024;
      auto res = net::http_call(req);
      if (res) {
        auto up = res->headers.find("x-tinyforge-upstream");
        auto upstream = up == res->headers.end() ? std::string{} : up->second;
        // nginx lists every upstream it tried: "127.0.0.1:a, 127.0.0.1:b".
        auto comma = upstream.rfind(", ");
        if (comma != std::string::npos)
          upstream = upstream.substr(comma + 2);
        if (res->status >= 200 && res->status < 400 && wanted.erase(upstream) > 0) {
          log("the proxy (" + provider_ + ") serves " + route_.host + " from " + upstream);
          if (wanted.empty())
            return {};
          continue; // every new container must be reached, not only one
        }
        last = std::to_string(res->status) + " from " + (upstream.empty() ? "?" : upstream);
      } else {
        last = error_message(res.error());
      }
      std::this_thread::sleep_for(50ms);
    }
    std::string missing;
    for (const auto& w : wanted)
      missing += (missing.empty() ? "" : ", ") + w;
    return make_error(ec::unavailable, "the proxy did not send traffic to every new container ("
                                         + provider_ + ", never answered from " + missing
                                         + "; last answer: " + last + ")");
  }

  /// Takes the old colour out of rotation without cutting its requests in flight: new
  /// connections are reset (the proxy retries them on the new colour), open ones finish.
  void drain(const std::vector<int64_t>& old_slots) {
    if (old_slots.empty())
      return;
    if (auto err = phase("drain"))
      log("journal: " + error_message(err));
    if (auto err = ask_ok(handles_.proxy, atom::close_v, old_slots)) {
      log("closing slots " + ports_text(old_slots) + ": " + error_message(err));
      return;
    }
    auto deadline = clock_type::now() + settings_.drain_timeout;
    int64_t open = 0;
    while (!cancelled()) {
      auto n = ask<int64_t>(handles_.proxy, atom::count_v, old_slots);
      open = n ? *n : 0;
      if (open == 0 || clock_type::now() >= deadline)
        break;
      std::this_thread::sleep_for(50ms);
    }
    if (open > 0)
      log(std::to_string(open) + " connection(s) still open on the old colour after "
          + std::to_string(settings_.drain_timeout.count()) + " s");
    else
      log("old colour drained (slots " + ports_text(old_slots) + ")");
  }

  /// After the switch: the old colour stays warm for the grace period, or goes now.
  void retire_old(const std::vector<slot_container>& old) {
    if (auto err = phase("cleanup"))
      log("journal: " + error_message(err));
    std::vector<std::string> keep, drop;
    for (const auto& c : old)
      (c.running && settings_.rollback_grace.count() > 0 ? keep : drop).push_back(c.id);
    auto left = remove_containers(drop, true);
    if (drop.size() > left.size())
      log("removed " + std::to_string(drop.size() - left.size()) + " old container(s)");
    if (!keep.empty())
      log("kept " + std::to_string(keep.size()) + " old container(s) warm for "
          + std::to_string(settings_.rollback_grace.count()) + " s (rollback = switch only)");
    warm_ids_ = keep;
  }

  /// Before the switch took effect: the new containers go, the old colour keeps serving.
  void undo(const std::vector<int64_t>& target, const std::vector<int64_t>& old_slots) {
    if (cancelled())
      return;
    phase("undo");
    ask_ok(handles_.proxy, atom::close_v, target);
    if (!old_slots.empty()) {
      ask_ok(handles_.proxy, atom::open_v, old_slots);
      route_.serving = old_slots;
      ask<proxy_route>(handles_.writer, atom::update_v, route_);
      ask<proxy_route>(handles_.proxy, atom::update_v, route_);
    }
    std::vector<std::string> ids;
    for (const auto& c : created_)
      ids.push_back(c.first);
    auto left = remove_containers(ids, false);
    if (!left.empty())
      log(std::to_string(left.size()) + " new container(s) could not be removed; closed to the "
          "proxy, they go with the next deploy of this stage");
    else if (!ids.empty())
      log("removed the new container(s); the previous version keeps serving");
  }

  /// Which colour serves now: the one the route says, else the one with running containers
  /// (a route that lost its serving list), else colour b, so the first deploy goes to a.
  const std::vector<int64_t>& serving_colour() const {
    for (auto p : route_.serving)
      if (in(colour_b_, p))
        return colour_b_;
    for (auto p : route_.serving)
      if (in(colour_a_, p))
        return colour_a_;
    for (const auto& c : containers_)
      if (c.running && c.deployment_id != spec_.dep.id && in(colour_a_, c.slot))
        return colour_a_;
    return colour_b_;
  }

  const std::vector<int64_t>& other_colour(const std::vector<int64_t>& colour) const {
    return &colour == &colour_a_ ? colour_b_ : colour_a_;
  }

  caf::error deploy() {
    auto started = ask<deployment>(handles_.writer, atom::update_v,
                                   deployment_transition{spec_.dep.id, "running", ""});
    if (!started)
      return started.error();
    fault_point("running");
    if (auto err = load())
      return err;
    log("deploying " + image_ref_ + " to " + proj_.name + "/" + stg_.name + " ("
        + std::to_string(instances_) + " instance(s), proxy " + provider_ + ")");
    if (auto err = observe())
      return err;
    const auto& target = other_colour(serving_colour());
    auto old = outside_slots(target);
    std::vector<int64_t> serving_now;
    for (const auto& c : old)
      if (c.running)
        serving_now.push_back(c.slot);
    // A rollback inside the grace period: the previous colour is still running, closed.
    auto warm = in_slots(target);
    bool reuse = static_cast<int64_t>(warm.size()) == instances_
                 && std::all_of(warm.begin(), warm.end(), [&](const slot_container& c) {
                      return c.running && c.image_tag == spec_.dep.tag && c.image == image_ref_;
                    });
    std::vector<std::pair<std::string, int64_t>> colour;
    if (reuse) {
      log("the containers of " + spec_.dep.tag + " are still warm: switching only");
      for (const auto& c : warm)
        colour.emplace_back(c.id, c.slot);
    } else {
      if (auto err = pull())
        return err;
      if (auto err = create_colour(target)) {
        undo(target, {});
        return err;
      }
      colour = created_;
    }
    if (auto err = wait_healthy(colour)) {
      if (!reuse)
        undo(target, {});
      return err;
    }
    if (auto err = switch_to(target)) {
      if (reuse)
        created_.clear(); // never remove the warm colour we only tried to switch to
      undo(target, serving_now);
      return err;
    }
    drain(serving_now);
    retire_old(old);
    fault_point("retired");
    return {};
  }

  /// The colour a deploy interrupted by a restart was bringing up. The colour of the
  /// containers it created, when there are any. Otherwise either it created none yet, or it
  /// switched to the warm colour (a rollback inside the grace period creates nothing): then
  /// the colour whose running containers all carry this deploy's tag, when the journal shows
  /// it got past the start. Failing both, the colour that does not serve: never the serving
  /// one, whose undo would close the slots the site is served from.
  const std::vector<int64_t>& interrupted_target(bool& reused) const {
    reused = false;
    for (const auto& c : containers_)
      if (c.deployment_id == spec_.dep.id)
        return in(colour_a_, c.slot) ? colour_a_ : colour_b_;
    const auto& ph = spec_.dep.phase;
    if (ph == "health" || ph == "switch" || ph == "drain" || ph == "cleanup")
      for (const auto* colour : {&colour_a_, &colour_b_}) {
        auto there = in_slots(*colour);
        if (static_cast<int64_t>(there.size()) == instances_
            && std::all_of(there.begin(), there.end(), [&](const slot_container& c) {
                 return c.running && c.image_tag == spec_.dep.tag && c.image == image_ref_;
               })) {
          reused = true;
          return *colour;
        }
      }
    return other_colour(serving_colour());
  }

  caf::error recover() {
    log("the daemon restarted during this deploy (phase "
        + (spec_.dep.phase.empty() ? std::string{"start"} : spec_.dep.phase) + ")");
    if (auto err = load())
      return err;
    if (auto err = observe())
      return err;
    forget_removed_rows();
    bool reused = false;
    const auto& target = interrupted_target(reused);
    // The new colour's containers: those this deploy created (undo removes them), or the
    // warm ones it switched to (undo only closes them again).
    std::vector<std::pair<std::string, int64_t>> colour;
    for (const auto& c : containers_)
      if (c.deployment_id == spec_.dep.id || (reused && in(target, c.slot)))
        colour.emplace_back(c.id, c.slot);
    for (const auto& c : containers_)
      if (c.deployment_id == spec_.dep.id)
        created_.emplace_back(c.id, c.slot);
    std::vector<slot_container> old;
    std::vector<int64_t> old_serving;
    for (const auto& c : outside_slots(target)) {
      old.push_back(c);
      if (c.running)
        old_serving.push_back(c.slot);
    }
    const auto& ph = spec_.dep.phase;
    bool switched = ph == "drain" || ph == "cleanup";
    bool complete = static_cast<int64_t>(colour.size()) == instances_;
    if (ph == "switch" && complete) {
      // The new colour may already take traffic: finish if it is healthy.
      bool healthy = true;
      for (const auto& c : containers_)
        if (c.deployment_id == spec_.dep.id || (reused && in(target, c.slot)))
          healthy = healthy && c.running && probe(c.slot);
      if (healthy && !switch_to(target))
        switched = true;
    }
    if (switched && complete) {
      ask_ok(handles_.proxy, atom::open_v, target);
      route_.serving = target;
      ask<proxy_route>(handles_.writer, atom::update_v, route_);
      drain(old_serving);
      retire_old(old);
      log("finished the switch to " + spec_.dep.tag);
      return {};
    }
    undo(target, old_serving);
    // A container whose create was in flight at the kill may land in Docker after observe():
    // whatever does not serve goes once the grace period has passed (as at boot).
    warm_ids_ = {"*"};
    return make_error(ec::unavailable,
                      "the daemon stopped during the deploy (phase " + (ph.empty() ? "start" : ph)
                        + "); "
                        + (created_.empty() ? "nothing new had been started"
                                            : "the new containers were removed")
                        + " and the previous version kept serving");
  }

  caf::error retire() {
    if (auto err = load())
      return err;
    if (auto err = observe())
      return err;
    forget_removed_rows();
    // Only containers still outside the rotation: a rollback may have made them serve.
    const auto& ids = spec_.warm_container_ids;
    bool everything = std::find(ids.begin(), ids.end(), "*") != ids.end();
    std::vector<std::string> drop;
    if (route_.serving.empty())
      return {}; // nothing serves: keep what is there rather than guess
    for (const auto& c : containers_)
      if ((everything || std::find(ids.begin(), ids.end(), c.id) != ids.end())
          && !in(route_.serving, c.slot))
        drop.push_back(c.id);
    remove_containers(drop, true);
    spdlog::info("event=warm-colour-retired stage={} removed={}", stg_.id, drop.size());
    return {};
  }

  caf::blocking_actor* self_;
  deploy_job_spec spec_;
  deploy_settings settings_;
  deploy_handles handles_;
  docker::cancel_token cancel_;
  docker::client docker_;
  project proj_;
  stage stg_;
  int64_t instances_ = 1;
  std::string provider_;
  bool gated_ = false;
  proxy_route route_;
  std::vector<int64_t> colour_a_, colour_b_;
  std::string image_ref_;
  std::vector<slot_container> containers_;
  std::vector<std::pair<std::string, int64_t>> created_;
  std::vector<container_row> rows_;
  std::vector<std::string> warm_ids_;
  deploy_outcome outcome_;
};

} // namespace

void deploy_job(caf::blocking_actor* self, deploy_job_spec spec, deploy_settings settings,
                deploy_handles handles, docker::endpoint engine, docker::cancel_token cancel) {
  auto deployer = handles.deployer;
  deploy_run job{self, std::move(spec), std::move(settings), std::move(handles),
                 std::move(engine), cancel};
  auto outcome = job.run();
  if (!job.cancelled())
    self->send(deployer, atom::done_v, std::move(outcome));
}

} // namespace tf
