#include "http/ask.hpp"

namespace tf::http {

namespace {

thread_local worker_asker* this_thread_asker = nullptr;

} // namespace

worker_asker::worker_asker(caf::actor_system& sys)
  : sys_{sys}, outer_{this_thread_asker} {
  self_.emplace(sys_);
  this_thread_asker = this;
}

worker_asker::~worker_asker() {
  this_thread_asker = outer_;
}

caf::scoped_actor* worker_asker::current(caf::actor_system& sys) {
  auto* a = this_thread_asker;
  if (a == nullptr || &a->sys_ != &sys)
    return nullptr;
  return &*a->self_;
}

void worker_asker::renew_current() {
  if (auto* a = this_thread_asker) {
    a->self_.reset();
    a->self_.emplace(a->sys_);
  }
}

} // namespace tf::http
