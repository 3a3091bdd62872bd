// The tinyforge binary as a child process, for the tests that run the daemon whole: fork/exec
// with stdin and stdout on /dev/null and stderr captured through a pipe, waits on a log line or
// on the exit with a bound, the port of the `event=http-listening` line, and a SIGKILL and reap
// in the destructor, so a failing test never leaves a daemon behind. Every wait has a generous
// bound that only turns a hang into a failure; elapsed times are reported, never asserted.
#pragma once

#include "helpers.hpp"
#include "spawn.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace tf::test {

/// How long a wait on the child (a log line, its exit) takes before the test gives up.
inline constexpr std::chrono::seconds process_bound{20};

/// The daemon binary (TINYFORGE_BINARY) as a child: stdin and stdout on /dev/null, stderr
/// captured through a pipe. The destructor SIGKILLs a child that is still running and reaps it.
class child_process {
public:
  /// `args` follow the binary's name. The environment is the test's own minus every
  /// TINYFORGE_* variable, plus `env`. A non-zero `pending_signal` starts the binary with
  /// that signal blocked and already pending (pending signals survive execve), as if it
  /// had arrived during start-up.
  explicit child_process(const std::vector<std::string>& args,
                         const std::map<std::string, std::string>& env = {},
                         int pending_signal = 0) {
    std::vector<std::string> argv{TINYFORGE_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0)
      throw std::runtime_error("pipe2 failed");
    int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0) {
      ::close(fds[0]);
      ::close(fds[1]);
      throw std::runtime_error("open /dev/null failed");
    }
    pid_ = spawn_program(argv, child_stdio{devnull, devnull, fds[1]}, env, pending_signal);
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
    if (pid_ > 0 && !status_)
      kill_and_reap(pid_);
    if (err_fd_ >= 0) {
      fail_on_thread_sanitizer_report();
      ::close(err_fd_);
    }
  }

  pid_t pid() const { return pid_; }

  /// Sends `sig` to the child, which must not have been reaped yet.
  void signal(int sig) {
    REQUIRE_FALSE(status_.has_value());
    REQUIRE(::kill(pid_, sig) == 0);
  }

  /// Where the captured stderr ends now: a later wait_for_line_from(..., mark()) sees only
  /// what follows.
  size_t mark() {
    pump(0);
    return err_.size();
  }

  /// The next stderr line (after the previous match of this function) containing `needle`;
  /// nothing when the stream ends or `limit` passes first.
  std::optional<std::string> wait_for_line(const std::string& needle,
                                           std::chrono::milliseconds limit = process_bound) {
    return wait_until(
      [&]() -> std::optional<std::string> {
        size_t end;
        while ((end = err_.find('\n', cursor_)) != std::string::npos) {
          auto line = err_.substr(cursor_, end - cursor_);
          cursor_ = end + 1;
          if (line.find(needle) != std::string::npos)
            return line;
        }
        return std::nullopt;
      },
      limit);
  }

  /// The first complete stderr line that contains `needle` at or after offset `from` (a
  /// mark()), whatever earlier waits matched; nothing when the stream ends or `limit` passes
  /// first.
  std::optional<std::string> wait_for_line_from(const std::string& needle, size_t from,
                                                std::chrono::milliseconds limit = process_bound) {
    return wait_until(
      [&]() -> std::optional<std::string> {
        auto at = err_.find(needle, from);
        if (at == std::string::npos)
          return std::nullopt;
        auto end = err_.find('\n', at);
        if (end == std::string::npos)
          return std::nullopt;
        auto start = err_.rfind('\n', at);
        start = start == std::string::npos ? 0 : start + 1;
        return err_.substr(start, end - start);
      },
      limit);
  }

  /// The port of the `event=http-listening address=127.0.0.1:<port>` line; fails the test when
  /// there is no such line or no port in it.
  uint16_t require_port() {
    auto line = wait_for_line("event=http-listening");
    REQUIRE_MESSAGE(line, "no event=http-listening line; stderr:\n", err_);
    const std::string key = "address=127.0.0.1:";
    auto at = line->find(key);
    REQUIRE(at != std::string::npos);
    auto port = std::stoul(line->substr(at + key.size()));
    REQUIRE(port > 0);
    REQUIRE(port < 65536);
    return static_cast<uint16_t>(port);
  }

  /// Reaps the child within `limit` (polling waitpid with WNOHANG, draining stderr in between)
  /// and then reads stderr to its end. The raw wait status; nothing if it still runs at the
  /// limit.
  std::optional<int> wait_exit(std::chrono::milliseconds limit = process_bound) {
    using clock = std::chrono::steady_clock;
    if (!status_)
      status_ = reap_within(pid_, limit, [this] {
        if (eof_)
          ::poll(nullptr, 0, 5);
        else
          pump(5);
      });
    if (!status_)
      return std::nullopt;
    auto drain_deadline = clock::now() + process_bound;
    while (!eof_ && clock::now() < drain_deadline)
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
  /// Reads stderr until `find()` returns a line, the stream ends, or `limit` passes.
  template <class Find>
  std::optional<std::string> wait_until(Find find, std::chrono::milliseconds limit) {
    using clock = std::chrono::steady_clock;
    auto deadline = clock::now() + limit;
    for (;;) {
      if (auto line = find())
        return line;
      if (eof_)
        return std::nullopt;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
      if (left.count() <= 0)
        return std::nullopt;
      pump(static_cast<int>(left.count()));
    }
  }

  /// Under ThreadSanitizer the child inherits TSAN_OPTIONS and exits 66 at its first report,
  /// which fails a test that checks the exit status; a child this destructor kills has none to
  /// check, and a test that failed on the child's vanishing would not show why. So a report in
  /// the child's stderr fails the test here, with the report. (No throw: this may run while a
  /// failed REQUIRE unwinds.)
  void fail_on_thread_sanitizer_report() {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{2};
    while (!eof_ && std::chrono::steady_clock::now() < deadline)
      pump(50);
    auto at = err_.find("WARNING: ThreadSanitizer:");
    if (at != std::string::npos)
      FAIL_CHECK("ThreadSanitizer report in the daemon's stderr:\n", err_.substr(at));
  }

  /// Waits up to `timeout_ms` for stderr and reads what is there.
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

/// Waits up to `limit` for the child and checks it exited with `code`; returns the
/// milliseconds from `since` to the reaping (to report, never to assert).
inline long long expect_exit(child_process& d, int code,
                             std::chrono::steady_clock::time_point since,
                             std::chrono::milliseconds limit = process_bound) {
  auto st = d.wait_exit(limit);
  auto ms = ms_since(since);
  INFO("stderr:\n", d.stderr_text());
  REQUIRE_MESSAGE(st, "the daemon did not exit within ",
                  std::chrono::duration_cast<std::chrono::seconds>(limit).count(), " s");
  INFO("wait status: ", describe_status(*st));
  CHECK(WIFEXITED(*st));
  CHECK(WEXITSTATUS(*st) == code);
  return ms;
}

/// Sends `sig` and checks the child then exits 0 within `limit`; returns the milliseconds
/// from the signal to the reaping (to report, never to assert).
inline long long expect_clean_stop(child_process& d, int sig,
                                   std::chrono::milliseconds limit = process_bound) {
  auto t0 = std::chrono::steady_clock::now();
  d.signal(sig);
  return expect_exit(d, 0, t0, limit);
}

} // namespace tf::test
