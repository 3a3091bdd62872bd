// The project deployer's pieces, shared by its files (internal to the deployer: only
// actors/project_deployer.cpp and actors/project_deployer/*.cpp include it).
// actors/project_deployer.cpp: the behaviour, and the stages' queues and jobs;
// requests.cpp: deploy, rollback and instance requests (read the project, then act);
// boot.cpp: the recovery at boot. A request that asks the store and then acts goes through
// named steps, one function per answer, each delivering to the request's promise.
#pragma once

#include "actors/project_deployer.hpp"

#include <caf/all.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace tf::deployer {

using self_ptr = project_deployer_actor::stateful_pointer<project_deployer_state>;

/// One store reader, as the deployer's readers hand them out.
using reader_handle = deploy_store_reader_actor;

/// How long the deployer waits for the store; a request from HTTP waits on us in turn.
constexpr auto store_timeout = std::chrono::seconds{10};

/// The error handler of a request whose failure is the answer to `rp`'s requester.
template <class T>
auto deliver_error(caf::typed_response_promise<T> rp) {
  return [rp](caf::error& err) mutable { rp.deliver(std::move(err)); };
}

// -- project_deployer.cpp: the stages' queues and jobs --

/// A deploy row exists: run it now, or queue it behind the stage's running job.
void enqueue(self_ptr self, deployment dep, uint64_t seq);
void start_job(self_ptr self, job_mode mode, deployment dep,
               std::vector<std::string> warm = {});
/// The stage's warm colour goes when the grace period is over (unless a deploy takes it).
void schedule_warm_expiry(self_ptr self, const std::string& stage_id);

// -- requests.cpp --

caf::result<stage_deploy_claimed> request_deploy(self_ptr self, deploy_request req);
caf::result<stage_deploy_claimed> request_rollback(self_ptr self, deploy_request req);
caf::result<container_row> request_instance_action(self_ptr self, const instance_action& act);

// -- removal.cpp --

/// Deletes a project (`what` "project", `id` its id) or one of its stages ("stage", its id
/// or name): its containers, routes, then rows; a conflict while a deploy of it runs.
caf::result<atom::ok> request_removal(self_ptr self, const std::string& what,
                                      const std::string& project_id, const std::string& id);

// -- boot.cpp --

caf::result<int64_t> recover_at_boot(self_ptr self);

} // namespace tf::deployer
