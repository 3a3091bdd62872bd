// Starting and reaping a child program, shared by the tests' daemon (process.hpp) and the
// deploy harness's daemons, proxies and commands (deploy_harness.hpp). No doctest in here:
// the bench builds the harness without it, so failures come back as values.
#pragma once

#include <signal.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

extern char** environ;

namespace tf::test {

/// The child's standard streams: descriptors of the parent that the child gets as 0, 1, 2.
struct child_stdio {
  int in = -1;
  int out = -1;
  int err = -1;
};

/// Forks and execs `argv` (argv[0] looked up on PATH when it has no '/'; never a shell) with
/// `stdio` as its streams, no signal blocked, and the test's environment minus every
/// TINYFORGE_* variable plus `env` (an entry of `env` replaces the inherited one). A
/// non-zero `pending_signal` starts the program with that signal blocked and already pending
/// (pending signals survive execve), as if it had arrived during start-up. The child dies
/// with the test process (a test killed by its timeout runs no destructor, and an orphan
/// would hold ports). The child's pid, or -1 when fork() failed (errno says why); a failed
/// exec ends the child with status 127.
inline pid_t spawn_program(const std::vector<std::string>& argv, child_stdio stdio,
                           const std::map<std::string, std::string>& env = {},
                           int pending_signal = 0) {
  // Everything the child needs is built before fork(): after it, only async-signal-safe calls.
  std::vector<std::string> argv_s = argv;
  std::vector<std::string> env_s;
  for (char** e = environ; e && *e; ++e) {
    std::string kv{*e};
    auto key = kv.substr(0, kv.find('='));
    if (key.rfind("TINYFORGE_", 0) == 0 || env.count(key) != 0)
      continue;
    env_s.push_back(std::move(kv));
  }
  for (const auto& [k, v] : env)
    env_s.push_back(k + "=" + v);
  std::vector<char*> args, envp;
  for (auto& s : argv_s)
    args.push_back(s.data());
  args.push_back(nullptr);
  for (auto& s : env_s)
    envp.push_back(s.data());
  envp.push_back(nullptr);
  sigset_t mask;
  sigemptyset(&mask);
  if (pending_signal != 0)
    sigaddset(&mask, pending_signal);

  auto parent = ::getpid();
  pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) // the parent died before prctl took effect
      ::_exit(127);
    ::dup2(stdio.in, 0);
    ::dup2(stdio.out, 1);
    ::dup2(stdio.err, 2);
    ::sigprocmask(SIG_SETMASK, &mask, nullptr);
    if (pending_signal != 0)
      ::raise(pending_signal);
    ::execvpe(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  return pid;
}

/// Reaps `pid` within `limit`, polling waitpid() with WNOHANG and calling `idle()` between
/// polls (it should wait a little: read the child's output, or sleep). The raw wait status;
/// nothing when the child still runs at the limit or cannot be waited for.
template <class Idle>
std::optional<int> reap_within(pid_t pid, std::chrono::milliseconds limit, Idle idle) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    int st = 0;
    auto r = ::waitpid(pid, &st, WNOHANG);
    if (r == pid)
      return st;
    if (r < 0 && errno != EINTR)
      return std::nullopt;
    if (std::chrono::steady_clock::now() >= deadline)
      return std::nullopt;
    idle();
  }
}

/// SIGKILL and a blocking reap: for a child that must not outlive its owner.
inline void kill_and_reap(pid_t pid) {
  ::kill(pid, SIGKILL);
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
}

/// A wait status in words: "exit 2", "killed by signal Killed".
inline std::string describe_status(int st) {
  if (WIFEXITED(st))
    return "exit " + std::to_string(WEXITSTATUS(st));
  if (WIFSIGNALED(st))
    return std::string{"killed by signal "} + ::strsignal(WTERMSIG(st));
  return "status " + std::to_string(st);
}

} // namespace tf::test
