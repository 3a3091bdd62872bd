#include "actors/reconciler.hpp"

#include "core/errors.hpp"
#include "core/clock.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <set>

namespace tf {

namespace {

/// The host port a container publishes for its first tcp port, preferring loopback.
int64_t published_port(const docker::container_summary& c) {
  int64_t best = 0;
  for (const auto& p : c.ports) {
    if (p.public_port <= 0 || (p.type != "tcp" && !p.type.empty()))
      continue;
    if (p.ip == "127.0.0.1")
      return p.public_port;
    if (best == 0)
      best = p.public_port;
  }
  return best;
}

std::string label_of(const docker::container_summary& c, const char* key) {
  auto it = c.labels.find(key);
  return it == c.labels.end() ? std::string{} : it->second;
}

/// Ranks which container stands for a (workload, role) when several do: a running one
/// first, then the newest.
bool better(const docker::container_summary& a, const docker::container_summary& b) {
  auto ra = a.state == "running";
  auto rb = b.state == "running";
  if (ra != rb)
    return ra;
  return a.created > b.created;
}

/// Records whether the engine answers; logs only the changes, and none while shutting down.
void engine_answered(reconciler_actor::stateful_pointer<reconciler_state> self, bool ok,
                     const std::string& why) {
  auto& st = self->state;
  auto shutting_down = st.cfg.cancel && st.cfg.cancel->cancelled();
  if (ok && !st.docker_ok)
    spdlog::info("event=docker-available host={}", st.cfg.host);
  else if (!ok && st.docker_ok && !shutting_down)
    spdlog::warn("event=docker-unavailable host={} error={}", st.cfg.host, why);
  st.docker_ok = ok;
}

/// Tells the notifier about rows a run moved into `event`'s state (one-way): one event per
/// workload covering all of its rows, so a sweep that finds thousands of containers gone
/// sends one event per workload (what its receiver wants to hear: "N containers missing"),
/// not thousands that overflow the notifier's queue. Logs one line for the run.
void notify_changes(reconciler_actor::stateful_pointer<reconciler_state> self,
                    const std::vector<container_change>& changes, const char* event) {
  if (changes.empty())
    return;
  std::map<std::string, std::vector<container_change>> by_workload;
  for (const auto& c : changes)
    by_workload[c.workload_id].push_back(c);
  // One line per run however many rows: a first boot over 10,000 rows whose containers are
  // gone says so once.
  spdlog::info("event=containers-{} host={} count={} workloads={}",
               std::string{event}.substr(std::string{"container."}.size()), self->state.cfg.host,
               changes.size(), by_workload.size());
  const auto& notifier = self->state.cfg.notifier;
  if (!notifier)
    return;
  for (auto& [workload_id, rows] : by_workload) {
    auto ev = notification_now(event, workload_id);
    if (rows.size() == 1) {
      ev.container_row_id = rows.front().row_id;
      ev.container_id = rows.front().container_id;
      ev.role = rows.front().role;
    }
    ev.containers = std::move(rows);
    self->send(notifier, atom::notify_v, std::move(ev));
  }
}

/// Removes the containers this daemon made whose workload is gone: what a delete of a
/// project or stage could not remove (the engine failed it, or the daemon stopped midway).
/// One-way for the run: the removals go to the docker worker and are logged; the next run
/// lists whatever is left.
void remove_orphans(reconciler_actor::stateful_pointer<reconciler_state> self,
                    const std::vector<std::string>& orphaned, const std::set<std::string>& own) {
  for (const auto& id : orphaned) {
    if (own.count(id) == 0)
      continue; // another daemon's, or from before the instance label: never removed here
    spdlog::info("event=orphan-remove host={} container={}", self->state.cfg.host, id);
    self->request(self->state.docker, self->state.cfg.docker_timeout, atom::erase_v,
                  atom::container_v, id)
      .then([](atom::ok) {},
            [self, id](caf::error& err) {
              spdlog::warn("event=orphan-remove-failed host={} container={} error={}",
                           self->state.cfg.host, id, error_message(err));
            });
  }
}

} // namespace

std::string index_state(const std::string& docker_state, const std::string& status) {
  if (docker_state == "running" || docker_state == "created" || docker_state == "paused"
      || docker_state == "restarting" || docker_state == "removing")
    return docker_state;
  if (docker_state == "dead")
    return "failed";
  if (docker_state == "exited") {
    // "Exited (0) ..." is a clean stop; 137 and 143 are SIGKILL and SIGTERM, what a stop
    // sends. Any other code means the program failed.
    auto open = status.find('(');
    auto close = status.find(')', open);
    if (open != std::string::npos && close != std::string::npos) {
      auto code = status.substr(open + 1, close - open - 1);
      if (code != "0" && code != "137" && code != "143")
        return "failed";
    }
    return "stopped";
  }
  return "failed";
}

std::vector<observed_container> observe(const std::vector<docker::container_summary>& listed,
                                        const std::string& host, const std::string& now) {
  std::vector<observed_container> out;
  std::map<std::pair<std::string, std::string>, const docker::container_summary*> grouped;
  std::vector<const docker::container_summary*> projects;
  for (const auto& c : listed) {
    if (label_of(c, docker::label::managed) != "true")
      continue;
    auto kind = label_of(c, docker::label::workload_kind);
    auto workload = label_of(c, docker::label::workload_id);
    auto compose = label_of(c, docker::label::compose_project);
    auto role = label_of(c, docker::label::role);
    if (role.empty())
      role = label_of(c, docker::label::compose_service);
    if (workload.empty() && compose.empty())
      continue; // nothing names its workload
    if (kind == "project") {
      projects.push_back(&c);
      continue;
    }
    // A compose container is keyed by its project and by the workload its label names, so
    // a forged container claiming a stack's service lands in a group of its own and is
    // rejected by the store instead of hiding the stack's real container.
    auto key = std::make_pair(compose.empty() ? workload : "compose:" + compose + "/" + workload,
                              role);
    auto& slot = grouped[key];
    if (slot == nullptr || better(c, *slot))
      slot = &c;
  }
  auto to_observed = [&](const docker::container_summary& c) {
    observed_container o;
    o.workload_id = label_of(c, docker::label::workload_id);
    o.workload_kind = label_of(c, docker::label::workload_kind);
    o.compose_project = label_of(c, docker::label::compose_project);
    o.role = label_of(c, docker::label::role);
    if (o.role.empty())
      o.role = label_of(c, docker::label::compose_service);
    o.host = host;
    o.container_id = c.id;
    o.image_ref = c.image;
    o.state = index_state(c.state, c.status);
    o.port = published_port(c);
    o.last_seen_at = now;
    return o;
  };
  // Project rows belong to the deployer: matched by container id, never keyed here.
  for (const auto* c : projects)
    out.push_back(to_observed(*c));
  for (const auto& [key, c] : grouped) {
    auto o = to_observed(*c);
    // Stack and site rows are one per (workload, role); a compose container's row id is
    // set by the store once it has found the stack through the compose project.
    if (o.compose_project.empty())
      o.id = workload_row_id(o.workload_id, o.role);
    out.push_back(std::move(o));
  }
  return out;
}

reconciler_actor::behavior_type
reconciler(reconciler_actor::stateful_pointer<reconciler_state> self, reconciler_config cfg,
           container_index_writer_actor writer, docker_actor docker) {
  self->state.cfg = std::move(cfg);
  self->state.writer = std::move(writer);
  self->state.docker = std::move(docker);

  auto publish = [self](reconcile_report report) {
    auto& st = self->state;
    st.in_flight = false;
    if (report.error.empty()) {
      st.retry_backoff = std::chrono::milliseconds{500};
      st.failures_in_a_row = 0;
      spdlog::debug("event=reconcile-done host={} listed={} written={} rejected={} missing={}",
                    report.host, report.listed, report.written, report.rejected,
                    report.missing);
    } else if (st.cfg.cancel && st.cfg.cancel->cancelled()) {
      return; // shutting down: a cancelled call is not a failure, and no retry
    } else {
      // The first failure of an outage is news; the retries that follow are not.
      auto level = st.failures_in_a_row++ == 0 ? spdlog::level::warn : spdlog::level::debug;
      spdlog::log(level, "event=reconcile-failed host={} error={}", report.host, report.error);
      // Retry with backoff; the event watcher's reconnect also triggers a run at once.
      self->delayed_send(self, st.retry_backoff, atom::run_v);
      st.retry_backoff = std::min<std::chrono::milliseconds>(st.retry_backoff * 2,
                                                             std::chrono::seconds{30});
    }
    for (const auto& s : st.subscribers)
      caf::anon_send(s, atom::done_v, report); // subscribers are dynamically typed
    if (st.again) {
      st.again = false;
      self->send(self, atom::run_v);
    }
  };

  auto run = [self, publish] {
    auto& st = self->state;
    if (st.in_flight) {
      st.again = true;
      return;
    }
    st.in_flight = true;
    auto host = st.cfg.host;
    const docker::filters managed{{"label", {docker::label::managed}}};
    // Rows written after the list was taken (a deploy in progress) are newer than what
    // the list can say about them: the sweep leaves them alone.
    auto listed_at = tf::now_utc();
    self->request(st.docker, st.cfg.docker_timeout + std::chrono::seconds{5}, atom::list_v,
                  atom::container_v, managed)
      .then(
        [self, publish, host, listed_at](std::vector<docker::container_summary>& listed) {
          auto& st = self->state;
          engine_answered(self, true, "");
          if (!st.cfg.instance_id.empty())
            listed.erase(std::remove_if(listed.begin(), listed.end(),
                                        [&](const docker::container_summary& c) {
                                          auto i = c.labels.find(docker::label::instance);
                                          return i != c.labels.end()
                                                 && i->second != st.cfg.instance_id;
                                        }),
                         listed.end());
          auto observed = observe(listed, host, tf::now_utc());
          // Containers this daemon made (its instance label, not merely no label): only
          // those are removed when their workload is gone.
          std::set<std::string> own;
          if (!st.cfg.instance_id.empty())
            for (const auto& c : listed)
              if (label_of(c, docker::label::instance) == st.cfg.instance_id)
                own.insert(c.id);
          missing_sweep sweep{host, {}, listed_at};
          for (const auto& c : listed)
            sweep.seen_container_ids.push_back(c.id);
          auto report = std::make_shared<reconcile_report>();
          report->host = host;
          report->listed = static_cast<int64_t>(listed.size());
          auto fail = [publish, report](caf::error& err) mutable {
            report->error = error_message(err);
            publish(*report);
          };
          self->request(st.writer, caf::infinite, atom::reconcile_v, std::move(observed))
            .then(
              [self, publish, report, sweep, fail, own](reconcile_result& r) mutable {
                report->written = r.written;
                report->rejected = r.rejected;
                notify_changes(self, r.failed, "container.failed");
                remove_orphans(self, r.orphaned, own);
                // The sweep goes after the batch, in the same order at the one writer.
                self->request(self->state.writer, caf::infinite, atom::mark_missing_v, sweep)
                  .then(
                    [self, publish, report](const std::vector<container_change>& missing) {
                      report->missing = static_cast<int64_t>(missing.size());
                      notify_changes(self, missing, "container.missing");
                      publish(*report);
                    },
                    fail);
              },
              fail);
        },
        [self, publish, host](caf::error& err) {
          engine_answered(self, false, error_message(err));
          reconcile_report report;
          report.host = host;
          report.error = error_message(err);
          publish(report);
        });
  };

  auto arm_tick = [self] {
    self->delayed_send(self, self->state.cfg.interval, atom::tick_v,
                       self->state.tick_generation);
  };

  // The run at boot, then the ticker.
  self->send(self, atom::run_v);
  arm_tick();

  return {
    [run](atom::run) { run(); },
    [self, run, arm_tick](atom::tick, uint64_t generation) {
      if (generation != self->state.tick_generation)
        return;
      run();
      arm_tick();
    },
    [run](atom::event, const docker::engine_event& e) {
      if (e.type == "container")
        run();
    },
    [self, run](atom::docker_up) {
      spdlog::info("event=docker-connected host={}", self->state.cfg.host);
      engine_answered(self, true, ""); // the engine answered the stream's request
      run(); // catch up on whatever happened while the stream was down
    },
    [self](atom::docker_down, const std::string& why) {
      spdlog::warn("event=docker-events-lost host={} error={}", self->state.cfg.host, why);
      engine_answered(self, false, why);
    },
    [self](atom::subscribe, caf::actor subscriber) {
      self->state.subscribers.push_back(std::move(subscriber));
    },
    [self](atom::status) {
      return std::string{self->state.docker_ok ? "ok" : "unavailable"};
    },
  };
}

} // namespace tf
