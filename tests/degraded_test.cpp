// The daemon binary without a working Docker engine (degraded mode): it starts and serves,
// /healthz says "docker":"unavailable" while the database is fine, it notices the engine when
// one starts answering on the configured socket (no restart), and SIGTERM ends it with exit 0
// whether or not the engine answers. Every wait is on an event (a log line, a response, the
// child's exit) with a generous bound; elapsed times are reported, never asserted.
#include <doctest/doctest.h>

#include "helpers.hpp"
#include "net.hpp"

#include <httplib.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

using namespace std::chrono_literals;
using namespace tf::test;

namespace {

using clock_type = std::chrono::steady_clock;
constexpr auto bound = 20s;
/// How long a SIGTERM may take to end the daemon before the test calls it not prompt.
constexpr auto exit_bound = 10s;

long long ms_since(clock_type::time_point t0) {
  return static_cast<long long>(
    std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t0).count());
}

/// The daemon as a child process, stderr captured through a pipe; SIGKILLed and reaped by the
/// destructor if still running. A minimal form of daemon_test.cpp's child_process (the two
/// should share one header).
class daemon_process {
public:
  explicit daemon_process(const std::vector<std::string>& args) {
    std::vector<std::string> argv_s{TINYFORGE_BINARY};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<std::string> env_s;
    for (char** e = environ; e && *e; ++e)
      if (std::strncmp(*e, "TINYFORGE_", 10) != 0)
        env_s.emplace_back(*e);
    std::vector<char*> argv, envp;
    for (auto& s : argv_s)
      argv.push_back(s.data());
    argv.push_back(nullptr);
    for (auto& s : env_s)
      envp.push_back(s.data());
    envp.push_back(nullptr);
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0)
      throw std::runtime_error("pipe2 failed");
    int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(devnull, 0);
      ::dup2(devnull, 1);
      ::dup2(fds[1], 2);
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    if (devnull >= 0)
      ::close(devnull);
    if (pid_ < 0) {
      ::close(fds[0]);
      throw std::runtime_error("fork failed");
    }
    err_fd_ = fds[0];
    ::fcntl(err_fd_, F_SETFL, ::fcntl(err_fd_, F_GETFL) | O_NONBLOCK);
  }
  daemon_process(const daemon_process&) = delete;
  daemon_process& operator=(const daemon_process&) = delete;
  ~daemon_process() {
    if (pid_ > 0 && !status_) {
      ::kill(pid_, SIGKILL);
      int st = 0;
      while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
      }
    }
    if (err_fd_ >= 0)
      ::close(err_fd_);
  }

  void signal(int sig) { REQUIRE(::kill(pid_, sig) == 0); }

  /// Where the captured stderr ends now: a later wait_for(..., mark()) sees only what follows.
  size_t mark() {
    pump(0);
    return err_.size();
  }

  /// The first complete stderr line at or after `from` containing `needle`; nothing when the
  /// stream ends or `limit` passes first.
  std::optional<std::string> wait_for(const std::string& needle, size_t from = 0,
                                      std::chrono::milliseconds limit = bound) {
    auto deadline = clock_type::now() + limit;
    for (;;) {
      auto at = err_.find(needle, from);
      if (at != std::string::npos) {
        auto end = err_.find('\n', at);
        if (end != std::string::npos) {
          auto start = err_.rfind('\n', at);
          start = start == std::string::npos ? 0 : start + 1;
          return err_.substr(start, end - start);
        }
      }
      if (eof_)
        return std::nullopt;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline
                                                                        - clock_type::now());
      if (left.count() <= 0)
        return std::nullopt;
      pump(static_cast<int>(left.count()));
    }
  }

  /// The port of the `event=http-listening address=127.0.0.1:<port>` line.
  uint16_t port() {
    auto line = wait_for("event=http-listening");
    REQUIRE_MESSAGE(line, "no event=http-listening line; stderr:\n", err_);
    const std::string key = "address=127.0.0.1:";
    auto at = line->find(key);
    REQUIRE(at != std::string::npos);
    auto p = std::stoul(line->substr(at + key.size()));
    REQUIRE(p > 0);
    REQUIRE(p < 65536);
    return static_cast<uint16_t>(p);
  }

  /// Reaps the child within `limit`; its wait status, or nothing if it still runs.
  std::optional<int> wait_exit(std::chrono::milliseconds limit) {
    auto deadline = clock_type::now() + limit;
    while (!status_) {
      int st = 0;
      auto r = ::waitpid(pid_, &st, WNOHANG);
      if (r == pid_) {
        status_ = st;
        break;
      }
      if (r < 0 && errno != EINTR)
        return std::nullopt;
      if (clock_type::now() >= deadline)
        return std::nullopt;
      if (eof_)
        ::poll(nullptr, 0, 5);
      else
        pump(5);
    }
    auto drain_deadline = clock_type::now() + bound;
    while (!eof_ && clock_type::now() < drain_deadline)
      pump(100);
    return status_;
  }

  const std::string& stderr_text() const { return err_; }

private:
  void pump(int timeout_ms) {
    pollfd p{err_fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0)
      return;
    char buf[4096];
    for (;;) {
      auto n = ::read(err_fd_, buf, sizeof(buf));
      if (n > 0) {
        err_.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n == 0)
        eof_ = true;
      else if (errno == EINTR)
        continue;
      return;
    }
  }

  pid_t pid_ = -1;
  int err_fd_ = -1;
  std::optional<int> status_;
  std::string err_;
  bool eof_ = false;
};

std::vector<std::string> serve_args(const temp_dir& tmp, const std::string& socket) {
  return {"serve",       "--listen",   "127.0.0.1:0", "--data_dir", tmp.file("data"),
          "--docker_host", "unix://" + socket};
}

/// GET /healthz: 200, a JSON body with "status":"ok", "db":"ok" and "docker":`docker`.
void check_healthz(daemon_process& d, uint16_t port, const std::string& docker) {
  httplib::Client c{"127.0.0.1", port};
  c.set_connection_timeout(5, 0);
  c.set_read_timeout(20, 0);
  auto res = c.Get("/healthz");
  INFO("stderr:\n", d.stderr_text());
  REQUIRE_MESSAGE(res, "no answer to GET /healthz");
  CHECK(res->status == 200);
  check_health_body(res->body, "ok", "ok");
  auto doc = parse_json(res->body);
  INFO("body: ", res->body);
  REQUIRE(doc.HasMember("docker"));
  REQUIRE(doc["docker"].IsString());
  CHECK(std::string{doc["docker"].GetString()} == docker);
}

/// SIGTERM, then exit 0 within exit_bound; reports how long it took.
void sigterm_exits_0(daemon_process& d, const std::string& what) {
  auto t0 = clock_type::now();
  d.signal(SIGTERM);
  auto st = d.wait_exit(exit_bound);
  auto ms = ms_since(t0);
  {
    INFO("stderr:\n", d.stderr_text());
    REQUIRE_MESSAGE(st, "the daemon did not exit within ", exit_bound.count(), " s of SIGTERM");
    CHECK(WIFEXITED(*st));
    if (WIFEXITED(*st))
      CHECK(WEXITSTATUS(*st) == 0);
    else if (WIFSIGNALED(*st))
      FAIL_CHECK("killed by signal ", ::strsignal(WTERMSIG(*st)));
    CHECK(d.stderr_text().find("event=shutdown-complete") != std::string::npos);
  }
  MESSAGE(what, ": SIGTERM to exit ", ms, " ms");
}

/// Accepts connections on a unix socket and never answers: an engine that hangs.
class hung_engine {
public:
  explicit hung_engine(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    REQUIRE(path.size() < sizeof(addr.sun_path));
    std::copy(path.begin(), path.end(), addr.sun_path);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    REQUIRE(::listen(fd_, 16) == 0);
    thread_ = std::thread{[this] {
      while (!stopping_.load()) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0)
          continue;
        int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c >= 0) {
          std::lock_guard<std::mutex> lock{mx_};
          clients_.push_back(c); // read nothing, answer nothing
        }
      }
    }};
  }
  hung_engine(const hung_engine&) = delete;
  hung_engine& operator=(const hung_engine&) = delete;
  ~hung_engine() {
    stopping_ = true;
    thread_.join();
    for (int c : clients_)
      ::close(c);
    ::close(fd_);
  }
  size_t connections() {
    std::lock_guard<std::mutex> lock{mx_};
    return clients_.size();
  }

private:
  int fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::mutex mx_;
  std::vector<int> clients_;
};

} // namespace

TEST_CASE("degraded: serves without an engine and picks it up when it appears, then exits 0") {
  temp_dir tmp;
  auto socket = tmp.file("docker.sock"); // nothing listens here yet
  daemon_process d{serve_args(tmp, socket)};
  auto port = d.port();
  check_healthz(d, port, "unavailable");

  // The engine starts answering on the configured path.
  auto from = d.mark();
  REQUIRE(::symlink("/var/run/docker.sock", socket.c_str()) == 0);
  auto t0 = clock_type::now();
  auto connected = d.wait_for("event=docker-connected", from);
  REQUIRE_MESSAGE(connected, "no event=docker-connected within ", bound.count(),
                  " s of the engine appearing; stderr:\n", d.stderr_text());
  MESSAGE("engine appeared -> event=docker-connected: ", ms_since(t0), " ms");
  // docker-connected is logged as the event stream connects; "docker":"ok" follows the
  // catch-up list the reconciler starts then (event=docker-available; a retry run may have
  // logged it first). Waiting for both keeps the check free of that race.
  auto available = d.wait_for("event=docker-available", from);
  REQUIRE_MESSAGE(available, "no event=docker-available after the engine appeared; stderr:\n",
                  d.stderr_text());
  MESSAGE("engine appeared -> event=docker-available: ", ms_since(t0), " ms");
  check_healthz(d, port, "ok");

  sigterm_exits_0(d, "engine back");
}

TEST_CASE("degraded: with nothing listening on the engine socket SIGTERM still exits 0 promptly") {
  temp_dir tmp;
  daemon_process d{serve_args(tmp, tmp.file("docker.sock"))};
  auto port = d.port();
  check_healthz(d, port, "unavailable");
  sigterm_exits_0(d, "no engine");
}

TEST_CASE("degraded: with an engine that never answers healthz still answers and SIGTERM "
          "exits 0 promptly") {
  temp_dir tmp;
  auto socket = tmp.file("docker.sock");
  hung_engine hung{socket};
  daemon_process d{serve_args(tmp, socket)};
  auto port = d.port();
  check_healthz(d, port, "unavailable");
  MESSAGE("connections the hung engine holds at SIGTERM: ", hung.connections());
  // Docker calls time out after 30 s: only cancelling them lets the daemon exit sooner.
  sigterm_exits_0(d, "hung engine");
}
