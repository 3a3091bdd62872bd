#include "http/event_streams.hpp"

#include <spdlog/spdlog.h>

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace tf::http {

namespace {

using stream_clock = std::chrono::steady_clock;

/// The answer's head: a body that runs until the connection closes (no length, no chunks,
/// which EventSource reads as they come), then how long a client waits to reconnect.
constexpr std::string_view stream_head = "HTTP/1.1 200 OK\r\n"
                                         "Content-Type: text/event-stream; charset=utf-8\r\n"
                                         "Cache-Control: no-store\r\n"
                                         "X-Accel-Buffering: no\r\n"
                                         "X-Content-Type-Options: nosniff\r\n"
                                         "Connection: close\r\n"
                                         "\r\n"
                                         "retry: 2000\n\n";

constexpr std::string_view heartbeat_line = ": keep-alive\n\n";

/// The kernel's send buffer of a stream (it doubles it for its bookkeeping).
constexpr size_t stream_send_buffer = 64 * 1024;

/// Events read from the feed per client per round: a client far behind is served in
/// rounds, so one cannot hold the thread for long.
constexpr size_t batch = 256;

/// The sequence number `id` names in the feed of `epoch`, or none (another run, or not an
/// id of ours: an empty or forged header).
std::optional<uint64_t> seq_of(std::string_view id, uint64_t epoch) {
  auto dash = id.find('-');
  if (dash == std::string_view::npos || dash == 0 || id.size() > 40)
    return std::nullopt;
  uint64_t e = 0, seq = 0;
  auto head = std::from_chars(id.data(), id.data() + dash, e, 16);
  auto tail = std::from_chars(id.data() + dash + 1, id.data() + id.size(), seq, 10);
  if (head.ec != std::errc{} || head.ptr != id.data() + dash || tail.ec != std::errc{}
      || tail.ptr != id.data() + id.size() || e != epoch)
    return std::nullopt;
  return seq;
}

void append_frame(std::string& out, uint64_t epoch, uint64_t seq, std::string_view type,
                  std::string_view data) {
  out += "id: ";
  out += event_id(epoch, seq);
  out += "\nevent: ";
  out += type;
  out += "\ndata: ";
  out += data;
  out += "\n\n";
}

} // namespace

std::string event_id(uint64_t epoch, uint64_t seq) {
  char buf[48];
  auto end = std::to_chars(buf, buf + 20, epoch, 16).ptr;
  *end++ = '-';
  end = std::to_chars(end, buf + sizeof buf, seq, 10).ptr;
  return {buf, end};
}

struct event_streams::impl {
  struct client {
    int fd = -1;
    std::string out; // queued bytes; out[sent, size) not yet written
    size_t sent = 0;
    uint64_t after = 0; // the last event queued
    bool writable_wait = false; // watching EPOLLOUT
    stream_clock::time_point last_write = stream_clock::now();
  };

  std::shared_ptr<const live_feed> feed;
  stream_limits lim;
  std::atomic<size_t> places{0}; // reserved or open
  std::mutex mu;                 // guards pending, stopped, thread start
  std::vector<std::pair<int, std::string>> pending;
  bool stopped = false;
  int epoll_fd = -1;
  int wake_fd = -1;
  std::thread thread;
  std::unordered_map<int, client> clients; // the thread's alone

  impl(std::shared_ptr<const live_feed> f, stream_limits l) : feed{std::move(f)}, lim{l} {}

  ~impl() { stop(); }

  void watch(int fd, uint32_t events, bool add) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    ::epoll_ctl(epoll_fd, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev);
  }

  /// Under `mu`: the thread and its descriptors, made with the first stream (an idle
  /// daemon has none).
  bool start_locked() {
    if (thread.joinable())
      return true;
    epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
    wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (epoll_fd < 0 || wake_fd < 0)
      return false;
    watch(wake_fd, EPOLLIN, true);
    if (feed)
      watch(feed->wake_fd(), EPOLLIN, true);
    thread = std::thread{[this] { run(); }};
    return true;
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lock{mu};
      if (stopped)
        return;
      stopped = true;
    }
    if (thread.joinable()) {
      uint64_t one = 1;
      (void)!::write(wake_fd, &one, sizeof one);
      thread.join();
    }
    for (auto& [fd, c] : clients)
      ::close(fd);
    clients.clear();
    for (auto& [fd, id] : pending)
      ::close(fd);
    pending.clear();
    if (epoll_fd >= 0)
      ::close(epoll_fd);
    if (wake_fd >= 0)
      ::close(wake_fd);
    epoll_fd = wake_fd = -1;
  }

  void adopt(int fd, std::string last_event_id) {
    {
      std::lock_guard<std::mutex> lock{mu};
      if (!stopped && start_locked()) {
        pending.emplace_back(fd, std::move(last_event_id));
        uint64_t one = 1;
        (void)!::write(wake_fd, &one, sizeof one);
        return;
      }
    }
    ::close(fd);
    --places;
  }

  void drop(int fd, const char* why) {
    auto it = clients.find(fd);
    if (it == clients.end())
      return;
    spdlog::debug("event=event-stream-closed reason={} open={}", why, places.load() - 1);
    ::epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, nullptr);
    ::close(fd);
    clients.erase(it);
    --places;
  }

  /// Writes what the client has queued, as far as its socket takes it; false when the
  /// client is gone (dropped).
  bool flush(client& c) {
    while (c.sent < c.out.size()) {
      auto n = ::send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent,
                      MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        c.sent += static_cast<size_t>(n);
        c.last_write = stream_clock::now();
        continue;
      }
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (c.sent >= 65536) { // what was written leaves the buffer now and then, not per send
          c.out.erase(0, c.sent);
          c.sent = 0;
        }
        if (!c.writable_wait) {
          c.writable_wait = true;
          watch(c.fd, EPOLLIN | EPOLLRDHUP | EPOLLOUT, false);
        }
        return true;
      }
      drop(c.fd, "write-failed");
      return false;
    }
    c.out.clear();
    c.sent = 0;
    if (c.writable_wait) {
      c.writable_wait = false;
      watch(c.fd, EPOLLIN | EPOLLRDHUP, false);
    }
    return true;
  }

  /// Queues the events after the client's last, or a resync when it missed some; false when
  /// the client was dropped (its buffer over the cap, or its socket gone).
  bool catch_up(client& c) {
    if (!feed)
      return true;
    std::vector<live_event> events;
    while (true) {
      events.clear();
      bool complete = feed->read_after(c.after, batch, events);
      if (!complete) {
        auto last = feed->last_seq();
        append_frame(c.out, feed->epoch(), last, "resync", "{}");
        c.after = last;
        continue;
      }
      for (const auto& e : events) {
        append_frame(c.out, feed->epoch(), e.seq, e.type, e.data);
        c.after = e.seq;
      }
      if (c.out.size() - c.sent > lim.max_buffer_bytes) {
        drop(c.fd, "slow-reader");
        return false;
      }
      if (events.size() < batch)
        break;
    }
    return flush(c);
  }

  void take_pending() {
    std::vector<std::pair<int, std::string>> taken;
    {
      std::lock_guard<std::mutex> lock{mu};
      taken.swap(pending);
    }
    for (auto& [fd, id] : taken) {
      // A fixed send buffer (no autotuning up to megabytes): what a client that stopped
      // reading can hold in the kernel is bounded as well as what it holds here.
      int kernel_buffer = static_cast<int>(stream_send_buffer);
      ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &kernel_buffer, sizeof kernel_buffer);
      client c;
      c.fd = fd;
      c.out.assign(stream_head);
      uint64_t last = feed ? feed->last_seq() : 0;
      auto epoch = feed ? feed->epoch() : 0;
      auto seq = seq_of(id, epoch);
      if (seq && *seq <= last) {
        c.after = *seq; // a reconnect of this run: what it missed follows
      } else {
        c.after = last;
        // A first connection reads the state itself; a reconnect to a new run (or with an
        // id that names nothing here) must read it again.
        if (!id.empty())
          append_frame(c.out, epoch, last, "resync", "{}");
      }
      auto [it, fresh] = clients.emplace(fd, std::move(c));
      if (!fresh) { // cannot happen: a descriptor is one connection at a time
        ::close(fd);
        --places;
        continue;
      }
      watch(fd, EPOLLIN | EPOLLRDHUP, true);
      catch_up(it->second);
    }
  }

  /// The client sent something (it should send nothing) or closed.
  void on_readable(int fd) {
    char sink[512];
    while (true) {
      auto n = ::recv(fd, sink, sizeof sink, MSG_DONTWAIT);
      if (n > 0)
        continue;
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
      drop(fd, n == 0 ? "client-closed" : "read-failed");
      return;
    }
  }

  void heartbeat(stream_clock::time_point now) {
    std::vector<int> due;
    for (auto& [fd, c] : clients)
      if (c.out.empty() && now - c.last_write >= lim.heartbeat)
        due.push_back(fd);
    for (int fd : due) {
      auto& c = clients.at(fd);
      c.out.append(heartbeat_line);
      flush(c);
    }
  }

  void run() {
    std::vector<epoll_event> events(64);
    auto tick = std::min<std::chrono::milliseconds>(lim.heartbeat, std::chrono::seconds{1});
    while (true) {
      int n = ::epoll_wait(epoll_fd, events.data(), static_cast<int>(events.size()),
                           static_cast<int>(tick.count()));
      {
        std::lock_guard<std::mutex> lock{mu};
        if (stopped)
          return;
      }
      bool published = false;
      for (int i = 0; i < n; ++i) {
        int fd = events[i].data.fd;
        if (fd == wake_fd) {
          uint64_t count = 0;
          (void)!::read(wake_fd, &count, sizeof count);
          take_pending();
        } else if (feed && fd == feed->wake_fd()) {
          feed->clear_wake();
          published = true;
        } else if (clients.count(fd) != 0) {
          auto ev = events[i].events;
          if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            on_readable(fd);
          auto it = clients.find(fd);
          if (it != clients.end() && (ev & EPOLLOUT))
            flush(it->second);
        }
      }
      if (published) {
        std::vector<int> fds;
        fds.reserve(clients.size());
        for (auto& [fd, c] : clients)
          fds.push_back(fd);
        for (int fd : fds) {
          auto it = clients.find(fd);
          if (it != clients.end())
            catch_up(it->second);
        }
      }
      heartbeat(stream_clock::now());
    }
  }
};

event_streams::event_streams(std::shared_ptr<const live_feed> feed, stream_limits limits)
  : impl_{std::make_unique<impl>(std::move(feed), limits)} {
}

event_streams::~event_streams() = default;

bool event_streams::reserve() {
  auto n = impl_->places.load();
  while (n < impl_->lim.max_clients)
    if (impl_->places.compare_exchange_weak(n, n + 1))
      return true;
  return false;
}

void event_streams::release() {
  --impl_->places;
}

void event_streams::adopt(int fd, std::string last_event_id) {
  impl_->adopt(fd, std::move(last_event_id));
}

size_t event_streams::open_streams() const {
  return impl_->places.load();
}

void event_streams::stop() {
  impl_->stop();
}

} // namespace tf::http
