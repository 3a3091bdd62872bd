// A one-shot blocking task: work that blocks (compose, unpacking an archive, removing files
// or containers) runs on a detached thread of its own, never on the scheduler's threads, and
// answers the deployer that spawned it. The stack and site deployers use it.
#pragma once

#include "actors/atoms.hpp"

#include <caf/all.hpp>

#include <functional>
#include <string>
#include <vector>

namespace tf {

/// Runs its work once asked, answers, and ends.
using blocking_task_actor
  = caf::typed_actor<caf::replies_to<atom::run>::with<std::vector<std::string>>>;

/// The work: lines of output (compose's, a release name), or an error.
using blocking_work = std::function<caf::expected<std::vector<std::string>>()>;

blocking_task_actor::behavior_type blocking_task(blocking_task_actor::pointer self,
                                                 blocking_work work);

/// Runs `work` on a thread of its own; the request's answer is its result.
template <class Self, class Duration>
auto run_blocking(Self self, Duration timeout, blocking_work work) {
  auto task = self->template spawn<caf::detached>(blocking_task, std::move(work));
  return self->request(task, timeout, atom::run_v);
}

} // namespace tf
