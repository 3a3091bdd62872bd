// The state of one deploy job while it runs, shared by the files of its steps (internal to
// the deploy job: only actors/deploy_job.cpp and actors/deploy_job/*.cpp include it).
// Each step has its own file: context.cpp (project, route, containers), pull.cpp,
// create.cpp, health.cpp, switch.cpp, drain.cpp, cleanup.cpp (the old colour and the retire
// job), recovery.cpp (undo, and finishing a run a restart interrupted), journal.cpp.
// Every step that changes something journals its phase first (journal.cpp: phase()), and
// the fault points of actors/fault_point.hpp sit right after the journal wrote it.
#pragma once

#include "actors/deploy_job.hpp"

#include "core/errors.hpp"
#include "docker/client.hpp"

#include <caf/all.hpp>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace tf {

/// How long a store or proxy request may take; the proxy applies configs, so be generous.
constexpr auto deploy_ask_timeout = std::chrono::seconds{60};

/// One container of the stage, as Docker lists it.
struct slot_container {
  std::string id;
  int64_t slot = 0;
  bool running = false;
  std::string image_tag;
  std::string image;
  std::string deployment_id;
};

/// A colour's containers as (container id, slot).
using colour_containers = std::vector<std::pair<std::string, int64_t>>;

/// "20000, 20001": slots for a log line.
std::string ports_text(const std::vector<int64_t>& ports);

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
  deploy_outcome run();

  bool cancelled() const { return cancel_ && cancel_->cancelled(); }

private:
  // -- talking to the other actors (blocking request/receive: this is a detached thread) --

  template <class R, class Handle, class... Ts>
  caf::expected<R> ask(const Handle& handle, Ts&&... xs) {
    caf::expected<R> result{make_error(ec::internal, "no answer")};
    self_->request(handle, deploy_ask_timeout, std::forward<Ts>(xs)...)
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
      if (r || !wait_to_retry(what, r.error(), pause))
        return r;
    }
  }

  // -- journal.cpp --
  bool wait_to_retry(const char* what, const caf::error& err, std::chrono::milliseconds& pause);
  void log(const std::string& line);
  caf::error phase(const char* name);
  void finish(const std::string& status, const std::string& error);

  // -- context.cpp --
  caf::error load();
  caf::error find_workload_of_stage();
  caf::error claim_route();
  caf::error observe();
  static bool in(const std::vector<int64_t>& ports, int64_t p);
  std::vector<slot_container> outside_slots(const std::vector<int64_t>& ports) const;
  std::vector<slot_container> in_slots(const std::vector<int64_t>& ports) const;
  bool runs_this_tag(const std::vector<slot_container>& there) const;
  const std::vector<int64_t>& serving_colour() const;
  const std::vector<int64_t>& other_colour(const std::vector<int64_t>& colour) const;
  const std::vector<int64_t>& colour_without(const std::vector<int64_t>& target) const;

  // -- the steps of a deploy, in order --
  caf::error deploy();                                            // deploy_job.cpp
  caf::error bring_up(const std::vector<int64_t>& target);
  caf::error pull();                                              // pull.cpp
  caf::error create_colour(const std::vector<int64_t>& target);   // create.cpp
  caf::error create_container(int64_t slot);
  docker::container_spec container_spec_for(int64_t slot) const;
  container_row index_row_for(const std::string& container_id, int64_t slot) const;
  bool probe(int64_t slot);                                       // health.cpp
  caf::error wait_healthy(const colour_containers& colour);
  caf::error exited_before_healthy(const std::string& id, int64_t exit_code);
  caf::error switch_to(const std::vector<int64_t>& target);       // switch.cpp
  caf::error verify_through_proxy(const std::vector<int64_t>& target);
  void drain(const std::vector<int64_t>& old_slots,               // drain.cpp
             const std::vector<int64_t>& target);
  void retire_old(const std::vector<slot_container>& old);        // cleanup.cpp

  // -- cleanup.cpp --
  std::vector<std::string> remove_containers(const std::vector<std::string>& ids, bool graceful);
  void forget_removed_rows();
  caf::expected<page<container_row>> stage_rows();
  caf::error retire();

  // -- recovery.cpp --
  void undo(const std::vector<int64_t>& target, const std::vector<int64_t>& old_slots);
  const std::vector<int64_t>& interrupted_target(bool& reused) const;
  caf::error recover();
  bool switch_again(const std::vector<int64_t>& target, bool reused);
  caf::error finish_switch(const std::vector<int64_t>& target,
                           const std::vector<int64_t>& old_serving,
                           const std::vector<slot_container>& old);
  caf::error undo_interrupted(const std::vector<int64_t>& target,
                              const std::vector<int64_t>& old_serving);

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
  /// The slots of the running colour before this deploy: where the slots it brings up
  /// redirect until the switch (empty: nothing serves, they reset).
  std::vector<int64_t> serving_now_;
  std::string image_ref_;
  std::vector<slot_container> containers_;
  colour_containers created_;
  std::vector<container_row> rows_;
  std::vector<std::string> warm_ids_;
  deploy_outcome outcome_;
};

} // namespace tf
