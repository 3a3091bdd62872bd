// One run at a time per workload (a stack's compose run, a site's deploy or removal), with at
// most one deploy waiting behind it: a newer request replaces the waiting one, which ends
// superseded. The stack and site deployers each keep one; the project deployer's stages
// coalesce differently (actors/project_deployer.hpp).
#pragma once

#include "core/model.hpp"

#include <map>
#include <optional>
#include <string>

namespace tf {

class run_queue {
public:
  /// What enqueue decided.
  struct admission {
    std::optional<deployment> start_now;  // the workload was idle: start this deploy now
    std::optional<deployment> superseded; // the waiting deploy the new one replaced
  };

  /// A deploy of workload `id`: to start now when nothing of it runs, else waiting.
  admission enqueue(const std::string& id, deployment d);
  /// A run of `id` starts: a deploy (kept for its notification) or another run (`d` empty).
  void begin(const std::string& id, deployment d = {});
  /// The run of `id` ended: the deploy waiting behind it, to start now, if any.
  std::optional<deployment> end(const std::string& id);

  bool busy(const std::string& id) const;
  bool waiting(const std::string& id) const;
  /// The deploy under way for `id` when its id is `deployment_id`, else null.
  const deployment* running(const std::string& id, const std::string& deployment_id) const;

private:
  struct slot {
    bool busy = false;
    std::optional<deployment> waiting;
    deployment running;
  };
  /// Only workloads with a run under way or waiting: an idle one's slot is dropped.
  std::map<std::string, slot> slots_;
};

} // namespace tf
