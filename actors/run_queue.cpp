#include "actors/run_queue.hpp"

namespace tf {

run_queue::admission run_queue::enqueue(const std::string& id, deployment d) {
  admission out;
  auto& s = slots_[id];
  if (!s.busy) {
    out.start_now = std::move(d);
    return out;
  }
  out.superseded = std::move(s.waiting);
  s.waiting = std::move(d);
  return out;
}

void run_queue::begin(const std::string& id, deployment d) {
  auto& s = slots_[id];
  s.busy = true;
  s.running = std::move(d);
}

std::optional<deployment> run_queue::end(const std::string& id) {
  auto i = slots_.find(id);
  if (i == slots_.end())
    return std::nullopt;
  auto next = std::move(i->second.waiting);
  slots_.erase(i);
  return next;
}

bool run_queue::busy(const std::string& id) const {
  auto i = slots_.find(id);
  return i != slots_.end() && i->second.busy;
}

bool run_queue::waiting(const std::string& id) const {
  auto i = slots_.find(id);
  return i != slots_.end() && i->second.waiting.has_value();
}

const deployment* run_queue::running(const std::string& id,
                                     const std::string& deployment_id) const {
  auto i = slots_.find(id);
  if (i == slots_.end() || i->second.running.id.empty()
      || i->second.running.id != deployment_id)
    return nullptr;
  return &i->second.running;
}

} // namespace tf
