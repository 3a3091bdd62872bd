#include "actors/blocking_task.hpp"

namespace tf {

blocking_task_actor::behavior_type blocking_task(blocking_task_actor::pointer self,
                                                 blocking_work work) {
  return {
    [self, work](atom::run) -> caf::result<std::vector<std::string>> {
      auto result = work();
      self->quit();
      if (!result)
        return std::move(result.error());
      return std::move(*result);
    },
  };
}

} // namespace tf
