// A fake Docker engine on a unix socket, for what a real engine does not do on demand. By
// default it accepts every connection and never answers: an engine that hangs, which only
// cancellation or a timeout gets a client away from. A handler can take each connection over
// instead (docker_client_test.cpp reads the request and answers canned responses through one).
// It runs on its own thread, woken by the listening socket or a stop pipe, so it never sleeps or
// polls with a timeout.
#pragma once

#include <doctest/doctest.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace tf::test {

class fake_engine {
public:
  /// Takes one accepted connection, on the engine's thread: true to hold it open (the engine
  /// closes it when it stops), false when done with it (the engine closes it now).
  using handler = std::function<bool(fake_engine& engine, int fd)>;

  /// Listens on the unix socket `path`. With no handler, holds every connection it accepts
  /// and reads and answers nothing.
  explicit fake_engine(std::string path, handler serve = {})
    : path_{std::move(path)}, serve_{std::move(serve)} {
    REQUIRE(::pipe2(stop_, O_CLOEXEC) == 0);
    listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(listen_fd_ >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    REQUIRE(path_.size() < sizeof(addr.sun_path));
    std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
    REQUIRE(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    REQUIRE(::listen(listen_fd_, 16) == 0);
    thread_ = std::thread{[this] { run(); }};
  }
  fake_engine(const fake_engine&) = delete;
  fake_engine& operator=(const fake_engine&) = delete;
  ~fake_engine() { stop(); }

  /// Waits until the engine holds `n` connections; false when `bound` passed first.
  bool wait_for_connections(size_t n, std::chrono::milliseconds bound) {
    std::unique_lock<std::mutex> lock{mx_};
    return cv_.wait_for(lock, bound, [&] { return held_.size() >= n; });
  }

  /// How many connections the engine holds.
  size_t connections() {
    std::lock_guard<std::mutex> lock{mx_};
    return held_.size();
  }

  /// Stops accepting, closes every connection it holds (the clients see the engine hang up)
  /// and removes the socket file. Also what the destructor does; only the first call acts.
  void stop() {
    if (stopping_.exchange(true))
      return;
    char x = 'x';
    (void) !::write(stop_[1], &x, 1);
    if (thread_.joinable())
      thread_.join();
    std::lock_guard<std::mutex> lock{mx_};
    for (int fd : held_)
      ::close(fd);
    held_.clear();
    ::close(listen_fd_);
    ::close(stop_[0]);
    ::close(stop_[1]);
    ::unlink(path_.c_str());
  }

  /// For a handler: waits until `fd` is ready for `events`; false when the engine stops first
  /// (or poll fails).
  bool wait_ready(int fd, short events) {
    pollfd fds[2] = {{fd, events, 0}, {stop_[0], POLLIN, 0}};
    for (;;) {
      int n = ::poll(fds, 2, -1);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 || (fds[1].revents & POLLIN) != 0)
        return false;
      if (fds[0].revents != 0)
        return true;
    }
  }

private:
  void run() {
    while (wait_ready(listen_fd_, POLLIN)) {
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0)
        continue;
      if (serve_ && !serve_(*this, fd)) {
        ::close(fd);
        continue;
      }
      {
        std::lock_guard<std::mutex> lock{mx_};
        held_.push_back(fd); // accepted, never answered
      }
      cv_.notify_all();
    }
  }

  std::string path_;
  handler serve_;
  int listen_fd_ = -1;
  int stop_[2] = {-1, -1};
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::mutex mx_;
  std::condition_variable cv_;
  std::vector<int> held_;
};

} // namespace tf::test
