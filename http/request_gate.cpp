#include "http/request_gate.hpp"

#include "core/errors.hpp"
#include "http/errors.hpp"
#include "http/request_head.hpp"

#include <spdlog/spdlog.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

namespace tf::http {

namespace {

using gate_clock = std::chrono::steady_clock;

/// How long a refused connection is still read (and the bytes dropped) after its answer,
/// so that closing with unread data does not reset the connection before the client has
/// read the answer.
constexpr std::chrono::milliseconds linger{1000};

/// When the gate stops, a request partly read gets this long to arrive whole (and then be
/// answered); idle connections close at once. Short, so SIGTERM exits within 2 s whatever
/// the clients do.
constexpr std::chrono::milliseconds stop_grace{500};

/// How long a worker that answered a keep-alive request waits for the connection's next
/// one before giving the connection back to the gate (see may_wait_for_next). Short: a
/// quick client's next request comes within it, and the worker is held no longer than this.
constexpr int next_request_wait = 1; // ms

/// Whether bytes (or the client's close) arrive on `fd` within `ms`.
bool next_bytes_within(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, ms) > 0;
}

enum class phase { head, body, idle, busy, draining };

struct connection {
  int fd = -1;
  std::string buf;
  std::string remote_addr, local_addr;
  int remote_port = 0, local_port = 0;
  phase state = phase::head;
  gate_clock::time_point deadline;
  size_t head_len = 0;
  head_verdict verdict;
  bool sent_continue = false;
  bool prechecked = false; // the head passed the server's refusals made before any body
  bool in_precheck = false;
  /// Counted in its client's open connections: every connection until it is answered for
  /// the last time; one only lingering for the client's close (draining) no longer is.
  bool counted = true;
};

void address_of(const sockaddr_storage& a, std::string& ip, int& port) {
  char text[INET6_ADDRSTRLEN] = {};
  if (a.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&a);
    ::inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
    port = ntohs(in->sin_port);
  } else if (a.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&a);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
    port = ntohs(in6->sin6_port);
  }
  ip = text;
}

const char* reason(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 408: return "Request Timeout";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

/// Best effort: a refusal is small and the socket's buffer is empty, so one send suffices.
void send_refusal(int fd, int status, std::string_view code, std::string_view message) {
  auto body = error_body(code, message);
  auto text = "HTTP/1.1 " + std::to_string(status) + " " + reason(status)
              + "\r\nContent-Type: application/json\r\nContent-Length: "
              + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  (void)::send(fd, text.data(), text.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

} // namespace

/// True on the worker threads. A worker that queues its connection's next (pipelined)
/// request takes it itself from the queue, so waking another worker would only cost a
/// context switch.
static thread_local bool on_worker = false;

/// The gate's state (connections, per-client counts, the queue) is guarded by `mu`: the
/// gate thread reads sockets and queues complete requests, and a worker that has answered a
/// request puts its connection back itself (into the epoll set, and its pipelined bytes
/// through the same `advance`), without a round trip through the gate thread.
struct request_gate::impl {
  gate_limits lim;
  request_server serve;
  worker_setup setup;
  int listen_fd = -1;
  int epoll_fd = -1;
  int wake_fd = -1;
  std::atomic<bool> stopping{false};
  std::unordered_map<int, connection> conns;
  std::unordered_map<std::string, size_t> per_client;
  size_t busy = 0;

  std::mutex mu;
  std::condition_variable cv;
  std::deque<gated_request> queue;               // complete requests for the workers
  size_t idle_workers = 0;                       // waiting on `cv`
  bool workers_exit = false;
  /// When the gate thread's epoll_wait returns at the latest: a worker that sets an earlier
  /// deadline wakes it, so that deadline is not overslept.
  gate_clock::time_point gate_wakes_at = gate_clock::time_point::max();

  impl(gate_limits l, request_server s, worker_setup w)
    : lim{l}, serve{std::move(s)}, setup{std::move(w)} {
    epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
    wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = wake_fd;
    ::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, wake_fd, &ev);
  }

  ~impl() {
    for (auto& [fd, c] : conns)
      ::close(fd);
    if (listen_fd >= 0)
      ::close(listen_fd);
    ::close(wake_fd);
    ::close(epoll_fd);
  }

  void wake() {
    uint64_t one = 1;
    (void)!::write(wake_fd, &one, sizeof one);
  }

  void watch(int fd) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.fd = fd;
    ::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev);
  }

  void close_connection(int fd) {
    auto it = conns.find(fd);
    if (it == conns.end())
      return;
    ::epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, nullptr);
    ::close(fd);
    release_client_slot(it->second);
    conns.erase(it);
  }

  void release_client_slot(connection& c) {
    if (!c.counted)
      return;
    c.counted = false;
    auto pc = per_client.find(c.remote_addr);
    if (pc != per_client.end() && --pc->second == 0)
      per_client.erase(pc);
  }

  /// The connection has had its last answer: its write side is shut and what the client
  /// still sends is dropped until it closes or the linger ends. It leaves its client's
  /// count now (it still counts in the total): a client that opens its next connection as
  /// soon as it reads an answer must not find the last one still held against it
  /// (bench/webhook_burst: 200 connection-per-request senders got 503s at the cap of 256).
  /// `shut`: the FIN is still to send (a worker that closes sends it before it takes the
  /// lock, so the workers and the gate do not wait on each other's syscall).
  void start_draining(connection& c, bool shut = true) {
    if (shut)
      ::shutdown(c.fd, SHUT_WR);
    c.buf.clear();
    c.buf.shrink_to_fit();
    c.state = phase::draining;
    c.deadline = gate_clock::now() + linger;
    release_client_slot(c);
  }

  /// Answers with the envelope, then drops what the client still sends until it closes or
  /// the linger ends.
  /// While stopping the connection is closed at once (and `c` is gone).
  void refuse(connection& c, int status, std::string_view code, std::string_view message) {
    send_refusal(c.fd, status, code, message);
    if (stopping) {
      close_connection(c.fd);
      return;
    }
    start_draining(c);
  }

  void accept_all() {
    while (true) {
      sockaddr_storage addr{};
      socklen_t len = sizeof addr;
      int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&addr), &len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0)
        return; // EAGAIN, or a transient error (EMFILE...): retried on the next readiness
      connection c;
      c.fd = fd;
      address_of(addr, c.remote_addr, c.remote_port);
      sockaddr_storage local{};
      socklen_t llen = sizeof local;
      if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &llen) == 0)
        address_of(local, c.local_addr, c.local_port);
      auto& mine = per_client[c.remote_addr];
      if (conns.size() >= lim.max_connections || mine >= lim.max_connections_per_client) {
        if (mine == 0)
          per_client.erase(c.remote_addr);
        spdlog::warn("event=http-connection-refused remote={} open={} from_client={}",
                     c.remote_addr, conns.size(), mine);
        send_refusal(fd, 503, "unavailable", "too many open connections; retry later");
        ::close(fd);
        continue;
      }
      ++mine;
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      c.state = phase::head;
      c.deadline = gate_clock::now() + lim.head_timeout;
      conns.emplace(fd, std::move(c));
      watch(fd);
    }
  }

  void on_readable(connection& c) {
    // A readiness reported before a worker put the connection back and queued its
    // pipelined request: the connection is the worker's now.
    if (c.state == phase::busy)
      return;
    char chunk[16384];
    if (c.state == phase::draining) {
      while (true) {
        auto n = ::recv(c.fd, chunk, sizeof chunk, 0);
        if (n > 0)
          continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
          return;
        close_connection(c.fd);
        return;
      }
    }
    // Never buffer more than the request being read can still need.
    size_t room = c.state == phase::body
                    ? c.head_len + c.verdict.body_length - c.buf.size()
                    : lim.max_head_bytes + 1 - std::min(c.buf.size(), lim.max_head_bytes);
    auto n = ::recv(c.fd, chunk, std::min(room, sizeof chunk), 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
      return;
    if (n <= 0) {
      close_connection(c.fd);
      return;
    }
    c.buf.append(chunk, static_cast<size_t>(n));
    advance(c);
  }

  /// Moves the connection on with what it has buffered: refuses, waits for more, or hands a
  /// complete request to the workers.
  void advance(connection& c) {
    if (c.state == phase::idle || c.state == phase::head) {
      if (c.buf.empty())
        return;
      if (c.state == phase::idle) {
        c.state = phase::head;
        c.deadline = gate_clock::now() + lim.head_timeout;
      }
      auto end = c.buf.find("\r\n\r\n");
      if (end == std::string::npos || end + 4 > lim.max_head_bytes) {
        if (c.buf.size() > lim.max_head_bytes || end != std::string::npos)
          refuse(c, 431, "header_fields_too_large",
                 "the request head is larger than " + std::to_string(lim.max_head_bytes)
                   + " bytes");
        return;
      }
      c.head_len = end + 4;
      c.verdict = check_head(std::string_view{c.buf}.substr(0, c.head_len),
                             head_limits{lim.max_header_count, lim.max_body_bytes,
                                         lim.max_upload_bytes});
      if (c.verdict.status != 0) {
        refuse(c, c.verdict.status, c.verdict.code, c.verdict.message);
        return;
      }
      c.state = phase::body;
      c.sent_continue = false;
      c.prechecked = false;
      c.deadline = gate_clock::now() + lim.body_timeout;
    }
    if (c.state != phase::body)
      return;
    if (c.buf.size() - c.head_len < c.verdict.body_length) {
      if (!c.prechecked) {
        // A refusal that needs no body (401, 403) is answered now, as httplib would,
        // not after the client has sent a body that is then thrown away.
        gated_request r = request_of(c, c.verdict.head);
        r.precheck = true;
        dispatch(c, std::move(r));
        return;
      }
      if (c.verdict.expect_continue && !c.sent_continue) {
        static constexpr std::string_view go = "HTTP/1.1 100 Continue\r\n\r\n";
        (void)::send(c.fd, go.data(), go.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        c.sent_continue = true;
      }
      return;
    }
    gated_request r = request_of(c, std::move(c.verdict.head));
    r.bytes.append(c.buf, c.head_len, c.verdict.body_length);
    c.buf.erase(0, c.head_len + c.verdict.body_length);
    dispatch(c, std::move(r));
  }

  gated_request request_of(const connection& c, std::string bytes) {
    gated_request r;
    r.fd = c.fd;
    r.bytes = std::move(bytes);
    r.remote_addr = c.remote_addr;
    r.remote_port = c.remote_port;
    r.local_addr = c.local_addr;
    r.local_port = c.local_port;
    r.close_after = c.verdict.close_after;
    r.write_timeout = lim.write_timeout;
    r.stopping = &stopping;
    return r;
  }

  void dispatch(connection& c, gated_request r) {
    c.state = phase::busy;
    c.in_precheck = r.precheck;
    ::epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c.fd, nullptr);
    ++busy;
    queue.push_back(std::move(r));
    if (!on_worker && idle_workers > 0)
      cv.notify_one();
  }

  /// Takes back a connection whose request a worker has answered (called by that worker,
  /// under `mu`): closes it, drains it, or watches it for its next request. `readable`: the
  /// worker saw the next request's bytes arrive, so they are read now, by the same
  /// on_readable/advance the gate uses (same limits and deadlines), and a complete request
  /// is queued for this worker without a trip through epoll.
  void give_back(int fd, bool keep, bool readable, bool shut_already = false) {
    --busy;
    auto it = conns.find(fd);
    if (it == conns.end())
      return;
    auto& c = it->second;
    if (stopping) {
      close_connection(fd);
      if (busy == 0)
        wake(); // the gate may be waiting for the last answer to end
      return;
    }
    if (!keep) {
      // Unread bytes at close() would reset the connection and could discard the answer
      // before the client reads it: drop them until the client closes or the linger ends.
      start_draining(c, !shut_already);
    } else if (c.in_precheck) {
      // The head passed its precheck: read the body (its deadline runs since the head).
      c.in_precheck = false;
      c.prechecked = true;
      c.state = phase::body;
      advance(c);
    } else {
      c.state = phase::idle;
      c.head_len = 0;
      c.deadline = gate_clock::now() + lim.idle_timeout;
      if (readable)
        on_readable(c); // may close the connection (the client closed it)
      else
        advance(c); // a pipelined request already read is served next, in order
    }
    if (conns.count(fd) == 0 || c.state == phase::busy)
      return; // closed, or its next request is queued (and out of the epoll set)
    watch(fd);
    if (c.deadline < gate_wakes_at)
      wake();
  }

  /// Lets go of a connection the server took over (under `mu`): out of every count, and
  /// neither closed nor watched (it is out of the epoll set while its request is served).
  void forget(int fd) {
    --busy;
    auto it = conns.find(fd);
    if (it != conns.end()) {
      release_client_slot(it->second);
      conns.erase(it);
    }
    if (stopping && busy == 0)
      wake(); // the gate may be waiting for the last answer to end
  }

  /// Whether a worker that answered a keep-alive request should wait a moment for the
  /// connection's next one (under `mu`): only when no request waits for a worker and another
  /// worker is idle to take one that comes meanwhile. A client that sends its next request
  /// as soon as it reads the answer (a polling UI, a load tool) is then served by the same
  /// worker: no epoll_ctl, no gate wake-up, no hand-off.
  bool may_wait_for_next(const gated_request& r, bool keep) const {
    return keep && !r.precheck && !stopping && queue.empty() && idle_workers > 0;
  }

  void expire(gate_clock::time_point now) {
    std::vector<int> due;
    for (auto& [fd, c] : conns)
      if (c.state != phase::busy && c.deadline <= now)
        due.push_back(fd);
    for (int fd : due) {
      auto& c = conns.at(fd);
      if (stopping)
        close_connection(fd);
      else if ((c.state == phase::head || c.state == phase::body) && !c.buf.empty())
        refuse(c, 408, "request_timeout", "the request was not sent in time");
      else
        close_connection(fd);
    }
  }

  int wait_ms(gate_clock::time_point now) const {
    auto next = now + std::chrono::seconds{1};
    for (const auto& [fd, c] : conns)
      if (c.state != phase::busy)
        next = std::min(next, c.deadline);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count();
    return static_cast<int>(std::max<int64_t>(ms + 1, 0));
  }

  /// Closes the listener and every connection without a request under way; a request
  /// partly read gets stop_grace to arrive whole; complete ones are answered.
  void shut() {
    if (listen_fd >= 0) {
      ::epoll_ctl(epoll_fd, EPOLL_CTL_DEL, listen_fd, nullptr);
      ::close(listen_fd);
      listen_fd = -1;
    }
    auto now = gate_clock::now();
    std::vector<int> open;
    for (auto& [fd, c] : conns) {
      bool under_way = (c.state == phase::head && !c.buf.empty()) || c.state == phase::body;
      if (under_way)
        c.deadline = std::min(c.deadline, now + stop_grace);
      else if (c.state != phase::busy)
        open.push_back(fd);
    }
    for (int fd : open)
      close_connection(fd);
  }

  void work() {
    on_worker = true;
    auto kept = setup ? setup() : nullptr;
    std::unique_lock<std::mutex> lock{mu};
    while (true) {
      ++idle_workers;
      cv.wait(lock, [&] { return !queue.empty() || workers_exit; });
      --idle_workers;
      if (queue.empty())
        return;
      // Serve until the queue is empty: the request this worker's connection queued
      // (pipelined) is taken here, without waking anyone.
      while (!queue.empty()) {
        gated_request r = std::move(queue.front());
        queue.pop_front();
        lock.unlock();
        bool keep = false;
        std::function<void(int)> take_over;
        r.take_over = &take_over;
        try {
          keep = serve(r);
        } catch (const std::exception& e) {
          spdlog::error("event=http-serve-failed what={}", e.what());
        }
        // An answer that ends its connection sends the FIN now, before the lock every
        // worker and the gate share (shutdown() is a TCP send: a few microseconds a request,
        // which under a burst of one-request connections the others waited out).
        const bool shut = !keep && !take_over;
        if (shut)
          ::shutdown(r.fd, SHUT_WR);
        lock.lock();
        if (take_over) {
          forget(r.fd);
          lock.unlock();
          take_over(r.fd);
          lock.lock();
          continue;
        }
        bool readable = false;
        if (may_wait_for_next(r, keep)) {
          lock.unlock();
          readable = next_bytes_within(r.fd, next_request_wait);
          lock.lock();
        }
        give_back(r.fd, keep, readable, shut);
      }
    }
  }

  void run() {
    std::vector<std::thread> workers;
    for (size_t i = 0; i < std::max<size_t>(lim.workers, 1); ++i)
      workers.emplace_back([this] { work(); });
    bool shut_down = false;
    std::vector<epoll_event> events(256);
    std::unique_lock<std::mutex> lock{mu};
    while (true) {
      if (stopping && !shut_down) {
        shut();
        shut_down = true;
      }
      if (shut_down && busy == 0 && conns.empty())
        break;
      auto now = gate_clock::now();
      int timeout = wait_ms(now);
      gate_wakes_at = now + std::chrono::milliseconds{timeout};
      lock.unlock();
      int n = ::epoll_wait(epoll_fd, events.data(), static_cast<int>(events.size()), timeout);
      lock.lock();
      gate_wakes_at = gate_clock::time_point::min(); // awake: deadlines are seen below
      for (int i = 0; i < n; ++i) {
        int fd = events[static_cast<size_t>(i)].data.fd;
        if (fd == wake_fd) {
          uint64_t count;
          (void)!::read(wake_fd, &count, sizeof count);
        } else if (fd == listen_fd) {
          if (!stopping)
            accept_all();
        } else if (auto it = conns.find(fd); it != conns.end()) {
          on_readable(it->second);
        }
      }
      expire(gate_clock::now());
    }
    workers_exit = true;
    lock.unlock();
    cv.notify_all();
    for (auto& t : workers)
      t.join();
  }
};

request_gate::request_gate(gate_limits limits, request_server serve, worker_setup setup)
  : impl_{std::make_unique<impl>(limits, std::move(serve), std::move(setup))} {}

request_gate::~request_gate() = default;

caf::expected<uint16_t> request_gate::bind(const std::string& host, uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  auto service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0)
    return make_error(ec::unavailable,
                      "cannot listen on " + host + ":" + service + ": " + ::gai_strerror(rc));
  std::string failure = "no address";
  for (auto* ai = found; ai != nullptr; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                      ai->ai_protocol);
    if (fd < 0)
      continue;
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    // The kernel caps the backlog at somaxconn; a burst of webhook senders needs more than 5.
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd, 1024) != 0) {
      failure = std::strerror(errno);
      ::close(fd);
      continue;
    }
    ::freeaddrinfo(found);
    sockaddr_storage bound{};
    socklen_t len = sizeof bound;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
    std::string ip;
    int bound_port = 0;
    address_of(bound, ip, bound_port);
    impl_->listen_fd = fd;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    ::epoll_ctl(impl_->epoll_fd, EPOLL_CTL_ADD, fd, &ev);
    return static_cast<uint16_t>(bound_port);
  }
  ::freeaddrinfo(found);
  return make_error(ec::unavailable, "cannot listen on " + host + ":" + service + ": " + failure);
}

void request_gate::run() {
  impl_->run();
}

void request_gate::stop() {
  impl_->stopping = true;
  impl_->wake();
}

} // namespace tf::http
