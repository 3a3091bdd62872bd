#include "http/buffered_stream.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace tf::http {

namespace {
/// Once the daemon stops, an answer still being written gets this long, so a client that
/// does not read cannot hold the shutdown for the whole write deadline.
constexpr std::chrono::milliseconds stop_grace{500};
/// A first write up to this size is held back (an answer's head is well below it).
constexpr size_t max_held = 16384;
} // namespace

ssize_t buffered_stream::read(char* ptr, size_t size) {
  auto n = std::min(size, req_.bytes.size() - pos_);
  std::memcpy(ptr, req_.bytes.data() + pos_, n);
  pos_ += n;
  return static_cast<ssize_t>(n);
}

ssize_t buffered_stream::write(const char* ptr, size_t size) {
  if (failed_)
    return -1;
  if (discard_ != nullptr && *discard_)
    return static_cast<ssize_t>(size);
  if (!wrote_) {
    wrote_ = true;
    if (size <= max_held) {
      held_.assign(ptr, size);
      return static_cast<ssize_t>(size);
    }
  } else if (!held_.empty()) {
    // The head and the body leave in one gathered send, neither copied.
    bool ok = send_all(held_.data(), held_.size(), ptr, size);
    held_.clear();
    return ok ? static_cast<ssize_t>(size) : -1;
  }
  return send_all(ptr, size, nullptr, 0) ? static_cast<ssize_t>(size) : -1;
}

void buffered_stream::flush() {
  if (held_.empty() || failed_ || (discard_ != nullptr && *discard_))
    return;
  (void)send_all(held_.data(), held_.size(), nullptr, 0);
  held_.clear();
}

bool buffered_stream::send_all(const char* first, size_t first_size, const char* second,
                               size_t second_size) {
  using clock = std::chrono::steady_clock;
  auto deadline = clock::now() + req_.write_timeout;
  bool stop_seen = false;
  iovec parts[2] = {{const_cast<char*>(first), first_size},
                    {const_cast<char*>(second), second_size}};
  iovec* next = parts;
  size_t left = second_size > 0 ? 2 : 1;
  while (left > 0) {
    msghdr msg{};
    msg.msg_iov = next;
    msg.msg_iovlen = left;
    auto n = ::sendmsg(req_.fd, &msg, MSG_NOSIGNAL);
    if (n > 0) {
      // Step over what went out: whole parts, then into the part it stopped in.
      auto sent = static_cast<size_t>(n);
      while (left > 0 && sent >= next->iov_len) {
        sent -= next->iov_len;
        ++next;
        --left;
      }
      if (left > 0) {
        next->iov_base = static_cast<char*>(next->iov_base) + sent;
        next->iov_len -= sent;
      }
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
      failed_ = true;
      return false;
    }
    auto now = clock::now();
    if (!stop_seen && req_.stopping != nullptr && *req_.stopping) {
      stop_seen = true;
      deadline = std::min(deadline, now + stop_grace);
    }
    if (now >= deadline) {
      failed_ = true;
      return false;
    }
    pollfd p{req_.fd, POLLOUT, 0};
    (void)::poll(&p, 1, 100); // short slices: a stop is noticed within 100 ms
  }
  return true;
}

void buffered_stream::get_remote_ip_and_port(std::string& ip, int& port) const {
  ip = req_.remote_addr;
  port = req_.remote_port;
}

void buffered_stream::get_local_ip_and_port(std::string& ip, int& port) const {
  ip = req_.local_addr;
  port = req_.local_port;
}

} // namespace tf::http
