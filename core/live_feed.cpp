#include "core/live_feed.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <random>

namespace tf {

namespace {

uint64_t random_epoch() {
  std::random_device rd;
  // Never 0: ids print it in hex and a client's missing id parses as 0.
  return (static_cast<uint64_t>(rd()) << 32 | rd()) | 1;
}

} // namespace

live_feed::live_feed(size_t capacity)
  : epoch_{random_epoch()},
    wake_fd_{::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)},
    ring_(std::max<size_t>(capacity, 1)) {
}

live_feed::~live_feed() {
  if (wake_fd_ >= 0)
    ::close(wake_fd_);
}

void live_feed::publish(std::string type, std::string data) {
  if (type.size() + data.size() > max_event_bytes)
    return;
  {
    std::lock_guard<std::mutex> lock{mu_};
    auto seq = ++last_;
    auto& slot = ring_[(seq - 1) % ring_.size()];
    slot.seq = seq;
    slot.type = std::move(type);
    slot.data = std::move(data);
  }
  uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
}

uint64_t live_feed::last_seq() const {
  std::lock_guard<std::mutex> lock{mu_};
  return last_;
}

bool live_feed::read_after(uint64_t after, size_t max, std::vector<live_event>& out) const {
  std::lock_guard<std::mutex> lock{mu_};
  auto oldest = last_ >= ring_.size() ? last_ - ring_.size() + 1 : 1;
  bool complete = after + 1 >= oldest;
  auto from = std::max(after + 1, oldest);
  for (auto seq = from; seq <= last_ && max > 0; ++seq, --max)
    out.push_back(ring_[(seq - 1) % ring_.size()]);
  return complete;
}

void live_feed::clear_wake() const {
  uint64_t count = 0;
  (void)!::read(wake_fd_, &count, sizeof count);
}

} // namespace tf
