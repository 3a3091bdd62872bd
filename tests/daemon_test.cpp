// The real tinyforge binary as a child process: start-up, health, graceful shutdown on
// SIGTERM and SIGINT (including a request in flight and an idle keep-alive connection),
// the database left behind, and configuration errors. Every wait is on an event (a log
// line, a response, the child's exit) with a generous upper bound, so a broken daemon fails
// a test instead of hanging it; no test asserts on elapsed time.
#include <doctest/doctest.h>

#include "helpers.hpp"
#include "net.hpp"
#include "store/database.hpp"

#include <httplib.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

extern char** environ;

using namespace std::chrono_literals;
namespace fs = std::filesystem;

using namespace tf::test;

namespace {

constexpr auto bound = 20s;
using clock_type = std::chrono::steady_clock;

// --- the child process -----------------------------------------------------------------

/// The daemon as a child: stdin and stdout on /dev/null, stderr captured through a pipe.
/// The destructor SIGKILLs a child that is still running and reaps it, so a failing test
/// never leaves a daemon behind.
class child_process {
public:
  /// `args` follow the binary's name. The environment is the test's own minus every
  /// TINYFORGE_* variable, plus `env`. A non-zero `pending_signal` starts the binary with
  /// that signal blocked and already pending (pending signals survive execve), as if it
  /// had arrived during start-up.
  explicit child_process(const std::vector<std::string>& args,
                         const std::map<std::string, std::string>& env = {},
                         int pending_signal = 0) {
    // Everything the child needs is built before fork(): after it, only exec.
    std::vector<std::string> argv_s{TINYFORGE_BINARY};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<std::string> env_s;
    for (char** e = environ; e && *e; ++e)
      if (std::strncmp(*e, "TINYFORGE_", 10) != 0)
        env_s.emplace_back(*e);
    for (const auto& [k, v] : env)
      env_s.push_back(k + "=" + v);
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
    if (devnull < 0) {
      ::close(fds[0]);
      ::close(fds[1]);
      throw std::runtime_error("open /dev/null failed");
    }
    sigset_t mask;
    sigemptyset(&mask);
    if (pending_signal != 0)
      sigaddset(&mask, pending_signal);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(devnull, 0);
      ::dup2(devnull, 1);
      ::dup2(fds[1], 2);
      ::sigprocmask(SIG_SETMASK, &mask, nullptr);
      if (pending_signal != 0)
        ::raise(pending_signal);
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    ::close(devnull);
    if (pid_ < 0) {
      ::close(fds[0]);
      throw std::runtime_error("fork failed");
    }
    err_fd_ = fds[0];
    ::fcntl(err_fd_, F_SETFL, ::fcntl(err_fd_, F_GETFL) | O_NONBLOCK);
  }

  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  ~child_process() {
    if (pid_ > 0 && !status_) {
      ::kill(pid_, SIGKILL);
      int st = 0;
      while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
      }
    }
    if (err_fd_ >= 0)
      ::close(err_fd_);
  }

  pid_t pid() const { return pid_; }

  void signal(int sig) {
    REQUIRE_FALSE(status_.has_value());
    REQUIRE(::kill(pid_, sig) == 0);
  }

  /// The next stderr line (after the previous match) containing `needle`; nothing when the
  /// stream ends or the bound passes first.
  std::optional<std::string> wait_for_line(const std::string& needle) {
    auto deadline = clock_type::now() + bound;
    for (;;) {
      size_t end;
      while ((end = err_.find('\n', cursor_)) != std::string::npos) {
        auto line = err_.substr(cursor_, end - cursor_);
        cursor_ = end + 1;
        if (line.find(needle) != std::string::npos)
          return line;
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

  /// The port from the `event=http-listening address=host:port` line.
  std::optional<uint16_t> listening_port() {
    auto line = wait_for_line("event=http-listening");
    if (!line)
      return std::nullopt;
    const std::string key = "address=127.0.0.1:";
    auto at = line->find(key);
    if (at == std::string::npos)
      return std::nullopt;
    auto port = std::stoul(line->substr(at + key.size()));
    if (port == 0 || port > 65535)
      return std::nullopt;
    return static_cast<uint16_t>(port);
  }

  /// Reaps the child (polling waitpid with WNOHANG, draining stderr in between) and then
  /// reads stderr to its end. The raw wait status; nothing if still running at the bound.
  std::optional<int> wait_exit() {
    auto deadline = clock_type::now() + bound;
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

  std::vector<std::string> stderr_lines() const {
    std::vector<std::string> lines;
    size_t start = 0;
    while (start < err_.size()) {
      auto end = err_.find('\n', start);
      if (end == std::string::npos)
        end = err_.size();
      lines.push_back(err_.substr(start, end - start));
      start = end + 1;
    }
    return lines;
  }

private:
  /// Waits up to `timeout_ms` for stderr and reads what is there.
  void pump(int timeout_ms) {
    pollfd p{err_fd_, POLLIN, 0};
    auto ready = ::poll(&p, 1, timeout_ms);
    if (ready <= 0)
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
      return; // EAGAIN: all read for now
    }
  }

  pid_t pid_ = -1;
  int err_fd_ = -1;
  std::optional<int> status_;
  std::string err_;
  size_t cursor_ = 0;
  bool eof_ = false;
};

std::string describe_status(int st) {
  if (WIFEXITED(st))
    return "exit " + std::to_string(WEXITSTATUS(st));
  if (WIFSIGNALED(st))
    return std::string{"killed by signal "} + ::strsignal(WTERMSIG(st));
  return "status " + std::to_string(st);
}

/// Waits for the child and checks it exited with `code`; returns the milliseconds from
/// `since` to the reaping (reported, never asserted).
long long expect_exit(child_process& d, int code, clock_type::time_point since) {
  auto st = d.wait_exit();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - since);
  INFO("stderr:\n", d.stderr_text());
  REQUIRE_MESSAGE(st, "the daemon did not exit within the bound");
  INFO("wait status: ", describe_status(*st));
  CHECK(WIFEXITED(*st));
  CHECK(WEXITSTATUS(*st) == code);
  return static_cast<long long>(ms.count());
}

// --- sockets and HTTP ------------------------------------------------------------------

bool connection_refused(uint16_t port) {
  auto fd = connect_to(port);
  return !fd && errno == ECONNREFUSED;
}

/// A port that was free a moment ago.
uint16_t free_port() {
  socket_fd fd{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  REQUIRE(fd);
  auto addr = loopback(0);
  REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  socklen_t len = sizeof(addr);
  REQUIRE(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  return ntohs(addr.sin_port);
}

/// True when the connection ends (or stays silent for the whole bound) without sending
/// anything more.
bool closed_by_peer(int fd) {
  std::string buf;
  return next_event(fd, buf) != read_result::data;
}

void check_healthz(uint16_t port) {
  httplib::Client c{"127.0.0.1", port};
  c.set_connection_timeout(5, 0);
  c.set_read_timeout(20, 0);
  check_health_answer(c.Get("/healthz"), 200, "ok", "ok");
}

std::vector<std::string> serve_args(const std::string& data_dir) {
  return {"serve", "--listen", "127.0.0.1:0", "--data_dir", data_dir};
}

/// The port from the daemon's event=http-listening line; fails the test when there is none.
uint16_t require_port(child_process& d) {
  auto port = d.listening_port();
  REQUIRE_MESSAGE(port, "no event=http-listening line; stderr:\n", d.stderr_text());
  return *port;
}

/// Sends `sig`, expects exit 0, and reports (never asserts) how long that took.
void stop_cleanly(child_process& d, int sig, const std::string& what) {
  auto t0 = clock_type::now();
  d.signal(sig);
  auto ms = expect_exit(d, 0, t0);
  MESSAGE(what, " to exit: ", ms, " ms");
}

/// Starts, checks bad config is rejected: exit 2, exactly one stderr line containing
/// `needle`, no data directory created, nothing listening.
void check_bad_config(const std::vector<std::string>& extra_args,
                      const std::map<std::string, std::string>& env, const std::string& needle) {
  tf::test::temp_dir tmp;
  auto data_dir = tmp.file("data");
  auto port = free_port();
  std::vector<std::string> args{"serve", "--listen", "127.0.0.1:" + std::to_string(port),
                                "--data_dir", data_dir};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  child_process d{args, env};
  auto ms = expect_exit(d, 2, clock_type::now());
  MESSAGE("rejected '", needle, "' in ", ms, " ms: ", d.stderr_text());
  auto lines = d.stderr_lines();
  CHECK(lines.size() == 1);
  REQUIRE_FALSE(lines.empty());
  CHECK(lines[0].find(needle) != std::string::npos);
  CHECK_FALSE(fs::exists(data_dir));
  CHECK(connection_refused(port));
}

} // namespace

// --- start, serve, stop ----------------------------------------------------------------

TEST_CASE("daemon: starts, answers healthz, exits 0 on SIGTERM and leaves a sound database") {
  tf::test::temp_dir tmp;
  auto data_dir = tmp.file("data");
  child_process d{serve_args(data_dir)};
  auto port = require_port(d);
  check_healthz(port);

  stop_cleanly(d, SIGTERM, "SIGTERM");
  CHECK(d.stderr_text().find("event=shutdown-begin signal=SIGTERM") != std::string::npos);
  CHECK(d.stderr_text().find("event=shutdown-complete") != std::string::npos);
  CHECK(connection_refused(port));

  auto db_path = data_dir + "/tinyforge.db";
  REQUIRE(fs::exists(db_path));
  // The last connection closed cleanly: the WAL was checkpointed into the main file.
  std::error_code ec;
  auto wal_size = fs::exists(db_path + "-wal") ? fs::file_size(db_path + "-wal", ec) : 0;
  CHECK(wal_size == 0);

  auto db = tf::store::database::open(db_path, tf::store::database::mode::read_only);
  REQUIRE(db);
  auto check = db->prepare("PRAGMA integrity_check");
  REQUIRE(check);
  REQUIRE(check->step());
  CHECK(check->text(0) == "ok");
  auto table = db->prepare(
    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'");
  REQUIRE(table);
  REQUIRE(table->step());
  CHECK(table->integer(0) == 1);
  auto applied = db->prepare("SELECT COUNT(*) FROM schema_migrations");
  REQUIRE(applied);
  REQUIRE(applied->step());
  CHECK(applied->integer(0) >= 1);
}

TEST_CASE("daemon: a request in flight at SIGTERM is answered in full before the exit") {
  tf::test::temp_dir tmp;
  child_process d{serve_args(tmp.file("data"))};
  auto port = require_port(d);

  auto fd = connect_and_send(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n");
  // Connections are accepted and handed to workers in order: once a request on a later
  // connection has been answered, the first one is in a worker's hands.
  check_healthz(port);

  auto t0 = clock_type::now();
  d.signal(SIGTERM);
  REQUIRE_MESSAGE(d.wait_for_line("event=shutdown-begin"),
                  "no event=shutdown-begin line; stderr:\n", d.stderr_text());
  // The daemon is shutting down; the request it is reading now completes.
  REQUIRE(send_all(fd.get(), "\r\n"));
  std::string buf;
  auto res = read_response(fd.get(), buf);
  REQUIRE_MESSAGE(res, "the in-flight request got no complete response");
  CHECK(res->status == 200);
  CHECK(res->header("Content-Type") == "application/json");
  check_health_body(res->body, "ok", "ok");

  auto ms = expect_exit(d, 0, t0);
  MESSAGE("SIGTERM (request in flight) to exit: ", ms, " ms");
  CHECK(closed_by_peer(fd.get()));
  CHECK(connection_refused(port));
}

// A supervisor may stop the daemon while it is still starting. The daemon blocks SIGTERM
// first thing, so the signal waits until it is up; then it must shut down as usual. Here the
// signal is pending from the first instruction, so the daemon takes it the moment it logs
// http-listening, right after starting the HTTP thread. Several rounds, because the
// outcome depends on how far that thread has got.
TEST_CASE("daemon: a SIGTERM that arrives during start-up still ends in a clean exit 0") {
  for (int round = 0; round < 10; ++round) {
    CAPTURE(round);
    tf::test::temp_dir tmp;
    child_process d{serve_args(tmp.file("data")), {}, SIGTERM};
    auto t0 = clock_type::now();
    auto ms = expect_exit(d, 0, t0);
    CHECK(d.stderr_text().find("event=shutdown-complete") != std::string::npos);
    if (round == 0)
      MESSAGE("start-up with SIGTERM pending to exit: ", ms, " ms");
  }
}

TEST_CASE("daemon: SIGINT also exits 0") {
  tf::test::temp_dir tmp;
  child_process d{serve_args(tmp.file("data"))};
  auto port = require_port(d);
  check_healthz(port);
  stop_cleanly(d, SIGINT, "SIGINT");
  CHECK(d.stderr_text().find("event=shutdown-begin signal=SIGINT") != std::string::npos);
  CHECK(connection_refused(port));
}

TEST_CASE("daemon: an idle keep-alive connection does not hold up the exit") {
  tf::test::temp_dir tmp;
  child_process d{serve_args(tmp.file("data"))};
  auto port = require_port(d);

  auto fd = connect_and_send(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string buf;
  auto res = read_response(fd.get(), buf);
  REQUIRE(res);
  CHECK(res->status == 200);
  // HTTP/1.1 without "Connection: close": the server keeps the connection open.
  CHECK(res->header("Connection") != "close");

  stop_cleanly(d, SIGTERM, "SIGTERM (idle keep-alive connection open)");
  CHECK(closed_by_peer(fd.get()));
}

// --- configuration ---------------------------------------------------------------------

TEST_CASE("daemon: the shipped config file starts the daemon") {
  tf::test::temp_dir tmp;
  auto data_dir = tmp.file("data");
  child_process d{{"serve", "--config", std::string{TINYFORGE_SOURCE_DIR} + "/config/tinyforge.json",
                   "--listen", "127.0.0.1:0", "--data_dir", data_dir}};
  check_healthz(require_port(d));
  CHECK(fs::exists(data_dir + "/tinyforge.db"));
  stop_cleanly(d, SIGTERM, "SIGTERM (shipped config)");
}

TEST_CASE("daemon: bad configuration exits 2 with one line naming the key or file") {
  SUBCASE("a flag with a bad value") {
    check_bad_config({"--reconcile_interval_s", "abc"}, {}, "reconcile_interval_s");
  }
  SUBCASE("an environment variable with a bad value") {
    check_bad_config({}, {{"TINYFORGE_PROXY_PROVIDER", "traefik"}}, "proxy.provider");
  }
  SUBCASE("a config file that does not exist") {
    check_bad_config({"--config", "/nonexistent.json"}, {}, "/nonexistent.json");
  }
}
