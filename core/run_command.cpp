#include "core/run_command.hpp"

#include "core/errors.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>

extern char** environ;

namespace tf {

namespace {

struct fd_owner {
  int fd = -1;
  ~fd_owner() {
    if (fd >= 0)
      ::close(fd);
  }
};

int exit_code_of(int st) {
  if (WIFEXITED(st))
    return WEXITSTATUS(st);
  if (WIFSIGNALED(st))
    return 128 + WTERMSIG(st);
  return -1;
}

/// Hands complete lines of the output to a callback as they arrive.
class line_feed {
public:
  explicit line_feed(const std::function<void(std::string_view)>& on_line) : on_line_{on_line} {}
  void add(const char* data, size_t n) {
    if (!on_line_)
      return;
    for (size_t i = 0; i < n; ++i) {
      if (data[i] == '\n') {
        flush();
        continue;
      }
      if (data[i] != '\r' && pending_.size() < max_line)
        pending_ += data[i];
    }
  }
  void finish() {
    if (on_line_ && !pending_.empty())
      flush();
  }

private:
  static constexpr size_t max_line = 4096;
  void flush() {
    on_line_(pending_);
    pending_.clear();
  }
  const std::function<void(std::string_view)>& on_line_;
  std::string pending_;
};

/// How often a run with a cancel check looks at it.
constexpr std::chrono::milliseconds cancel_check_interval{100};

bool was_cancelled(const command_options& o) {
  return o.cancelled && o.cancelled();
}

/// Reaps a child that was just sent SIGKILL.
void reap(pid_t pid) {
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
}

} // namespace

caf::expected<command_result> run_command(const std::vector<std::string>& argv,
                                          std::chrono::milliseconds timeout,
                                          size_t max_output) {
  command_options options;
  options.timeout = timeout;
  options.max_output = max_output;
  return run_command(argv, options);
}

caf::expected<command_result> run_command(const std::vector<std::string>& argv,
                                          const command_options& options) {
  auto timeout = options.timeout;
  auto max_output = options.max_output;
  if (argv.empty() || argv[0].empty())
    return make_error(ec::invalid_argument, "run_command: no program given");
  std::vector<char*> args;
  for (const auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    return make_error(ec::unavailable, std::string{"run_command: pipe2: "} + std::strerror(errno));
  fd_owner read_end{fds[0]}, write_end{fds[1]};
  fd_owner err_read, err_write;
  if (options.stderr_apart) {
    if (::pipe2(fds, O_CLOEXEC) != 0)
      return make_error(ec::unavailable,
                        std::string{"run_command: pipe2: "} + std::strerror(errno));
    err_read.fd = fds[0];
    err_write.fd = fds[1];
  }

  // posix_spawn rather than fork+exec: safe in a multithreaded process (no code of ours
  // runs between fork and exec) and the PATH lookup happens in the library.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, write_end.fd, 1);
  posix_spawn_file_actions_adddup2(&actions, options.stderr_apart ? err_write.fd : write_end.fd,
                                   2);
  if (!options.cwd.empty())
    posix_spawn_file_actions_addchdir_np(&actions, options.cwd.c_str());
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // The daemon may block or ignore signals on its threads; the child starts with defaults.
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  std::vector<char*> env_ptrs;
  for (const auto& e : options.env)
    env_ptrs.push_back(const_cast<char*>(e.c_str()));
  env_ptrs.push_back(nullptr);
  char** env = options.replace_env ? env_ptrs.data() : environ;
  int rc = ::posix_spawnp(&pid, args[0], &actions, &attr, args.data(), env);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0)
    return make_error(ec::unavailable,
                      "cannot run " + argv[0] + ": " + std::strerror(rc));
  ::close(write_end.fd);
  write_end.fd = -1;
  if (err_write.fd >= 0) {
    ::close(err_write.fd);
    err_write.fd = -1;
  }

  command_result result;
  line_feed lines{options.on_line};
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ::kill(pid, SIGKILL);
      reap(pid);
      return make_error(ec::unavailable, argv[0] + " did not finish within "
                                           + std::to_string(timeout.count()) + " ms");
    }
    if (was_cancelled(options)) {
      ::kill(pid, SIGKILL);
      reap(pid);
      return make_error(ec::unavailable, argv[0] + " was stopped: the daemon is shutting down");
    }
    // With a cancel check, the wait is cut into slices so a shutdown is seen within one.
    if (options.cancelled)
      left = std::min(left, cancel_check_interval);
    pollfd p[2] = {{read_end.fd, POLLIN, 0}, {err_read.fd, POLLIN, 0}};
    auto ready = ::poll(p, err_read.fd >= 0 ? 2 : 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR)
      continue;
    if (ready <= 0)
      continue; // the deadline check above decides
    char buf[4096];
    if (err_read.fd >= 0 && p[1].revents != 0) {
      auto n = ::read(err_read.fd, buf, sizeof(buf));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0) {
        ::close(err_read.fd); // stderr ended; stdout's end is what ends the loop
        err_read.fd = -1;
      } else {
        auto room = max_output - std::min(max_output, result.error_output.size());
        result.error_output.append(buf, std::min(room, static_cast<size_t>(n)));
      }
    }
    if (p[0].revents == 0)
      continue;
    auto n = ::read(read_end.fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break; // every writer closed: the program (and its children) finished writing
    auto room = max_output - std::min(max_output, result.output.size());
    result.output.append(buf, std::min(room, static_cast<size_t>(n)));
    lines.add(buf, static_cast<size_t>(n));
  }
  // What stderr still holds once stdout ended (its writers are gone or going).
  while (err_read.fd >= 0) {
    pollfd p{err_read.fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0)
      break;
    char buf[4096];
    auto n = ::read(err_read.fd, buf, sizeof(buf));
    if (n <= 0)
      break;
    auto room = max_output - std::min(max_output, result.error_output.size());
    result.error_output.append(buf, std::min(room, static_cast<size_t>(n)));
  }
  lines.finish();
  // The output ended; the program may still run (it closed its descriptors): the same
  // deadline bounds the wait for its exit.
  for (;;) {
    int st = 0;
    auto r = ::waitpid(pid, &st, WNOHANG);
    if (r == pid) {
      result.exit_code = exit_code_of(st);
      return result;
    }
    if (r < 0 && errno != EINTR)
      return make_error(ec::internal, "run_command: waitpid for " + argv[0] + ": "
                                        + std::strerror(errno));
    if (std::chrono::steady_clock::now() >= deadline || was_cancelled(options)) {
      ::kill(pid, SIGKILL);
      reap(pid);
      return make_error(ec::unavailable, argv[0] + " did not finish within "
                                           + std::to_string(timeout.count()) + " ms");
    }
    ::poll(nullptr, 0, 5);
  }
}

std::string one_line(const std::string& output) {
  std::string s;
  for (char c : output)
    s += (c == '\n' || c == '\r') ? ' ' : c;
  auto first = s.find_first_not_of(' ');
  if (first == std::string::npos)
    return {};
  auto last = s.find_last_not_of(' ');
  s = s.substr(first, last - first + 1);
  if (s.size() > 2000)
    s = s.substr(0, 2000) + "...";
  return s;
}

} // namespace tf
