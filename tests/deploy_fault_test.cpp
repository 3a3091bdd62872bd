// Faults around a deploy (issue 11): the Docker engine gone mid-deploy, the data dir full, a
// SIGTERM mid-deploy, and an already-stopped old container. The real daemon, the real Docker
// engine, real Caddy and real iptables (deploy_harness.hpp). Each test checks what a user
// would: the deployment's status and error, what answers through the proxy the whole time,
// /healthz, what the API lists against `docker ps -a`, the database after the stop.
//
// The Docker engine is shared with other people's tests and is never stopped: the daemon
// reaches it through a unix-socket relay in this process (docker_relay), and "the engine is
// gone" means the relay is cut (its socket removed, every relayed connection shut).
#include <doctest/doctest.h>

#include "deploy_checks.hpp"
#include "deploy_harness.hpp"
#include "net.hpp"

#include <poll.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace tf::test;
using namespace std::chrono_literals;

namespace {

// -- a unix-socket relay to the engine that the test can cut ------------------------------

/// Listens on `path` and relays every connection to /var/run/docker.sock, both ways. cut()
/// removes the socket and shuts every relayed connection, so the daemon sees an engine that
/// went away (calls in flight end, new connects fail); restore() listens again.
class docker_relay {
public:
  explicit docker_relay(std::string path) : path_{std::move(path)} { restore(); }
  docker_relay(const docker_relay&) = delete;
  docker_relay& operator=(const docker_relay&) = delete;
  ~docker_relay() { cut(); }

  const std::string& path() const { return path_; }
  /// The daemon's --docker_host.
  std::string docker_host() const { return "unix://" + path_; }

  void restore() {
    if (listener_ >= 0)
      return;
    ::unlink(path_.c_str());
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    auto addr = unix_address(path_);
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0
        || ::listen(fd, 64) != 0) {
      auto why = std::string{std::strerror(errno)};
      if (fd >= 0)
        ::close(fd);
      throw harness_error("relay: cannot listen on " + path_ + ": " + why);
    }
    listener_ = fd;
    stopping_ = false;
    acceptor_ = std::thread{[this] { accept_loop(); }};
  }

  /// Removes the socket path and shuts every relayed connection; returns once no relay
  /// thread runs any more.
  void cut() {
    if (listener_ < 0)
      return;
    stopping_ = true;
    ::shutdown(listener_, SHUT_RDWR); // wakes the acceptor's poll
    acceptor_.join();
    ::close(listener_);
    listener_ = -1;
    ::unlink(path_.c_str());
    std::vector<std::thread> pumps;
    {
      std::lock_guard<std::mutex> guard{mutex_};
      for (int fd : open_fds_)
        ::shutdown(fd, SHUT_RDWR);
      pumps.swap(pumps_);
    }
    for (auto& t : pumps)
      t.join();
  }

  /// Connections relayed so far (to see that the daemon talks through the relay).
  int relayed() const { return relayed_.load(); }

private:
  static sockaddr_un unix_address(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof(addr.sun_path))
      throw harness_error("relay: socket path too long: " + path);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    return addr;
  }

  void accept_loop() {
    for (;;) {
      pollfd p{listener_, POLLIN, 0};
      if (::poll(&p, 1, 1000) < 0 && errno != EINTR)
        return;
      if (stopping_)
        return;
      if (!(p.revents & POLLIN))
        continue;
      int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0)
        continue;
      int engine = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      auto addr = unix_address("/var/run/docker.sock");
      if (engine < 0 || ::connect(engine, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        if (engine >= 0)
          ::close(engine);
        ::close(client);
        continue;
      }
      ++relayed_;
      std::lock_guard<std::mutex> guard{mutex_};
      open_fds_.push_back(client);
      open_fds_.push_back(engine);
      pumps_.emplace_back([this, client, engine] { pump(client, engine); });
    }
  }

  /// Copies both ways until either side ends (or cut() shuts both).
  void pump(int a, int b) {
    char buf[64 * 1024];
    for (bool open = true; open;) {
      pollfd p[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
      if (::poll(p, 2, -1) < 0) {
        if (errno == EINTR)
          continue;
        break;
      }
      for (int i = 0; i < 2 && open; ++i) {
        if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
          continue;
        auto n = ::read(p[i].fd, buf, sizeof(buf));
        if (n <= 0) {
          open = false;
          break;
        }
        int to = i == 0 ? b : a;
        for (ssize_t sent = 0; sent < n;) {
          auto w = ::send(to, buf + sent, static_cast<size_t>(n - sent), MSG_NOSIGNAL);
          if (w <= 0) {
            open = false;
            break;
          }
          sent += w;
        }
      }
    }
    std::lock_guard<std::mutex> guard{mutex_};
    ::shutdown(a, SHUT_RDWR);
    ::shutdown(b, SHUT_RDWR);
    // Closed only here, by the thread that used them; cut() shuts them and never closes.
    open_fds_.erase(std::remove_if(open_fds_.begin(), open_fds_.end(),
                                   [&](int fd) { return fd == a || fd == b; }),
                    open_fds_.end());
    ::close(a);
    ::close(b);
  }

  std::string path_;
  int listener_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<int> open_fds_;
  std::vector<std::thread> pumps_;
  std::atomic<int> relayed_{0};
};

// -- a small tmpfs ---------------------------------------------------------------------------

/// A tmpfs of `size` mounted on `dir` while the object lives (unmounted even when the test
/// fails: declare it before the deploy_env, so the daemon has stopped when it goes).
class tmpfs_mount {
public:
  tmpfs_mount(std::string dir, const std::string& size) : dir_{std::move(dir)} {
    auto opts = "size=" + size + ",mode=0755";
    if (::mount("tmpfs", dir_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, opts.c_str()) != 0)
      throw harness_error("mount tmpfs on " + dir_ + ": " + std::strerror(errno));
  }
  tmpfs_mount(const tmpfs_mount&) = delete;
  tmpfs_mount& operator=(const tmpfs_mount&) = delete;
  ~tmpfs_mount() {
    if (::umount2(dir_.c_str(), 0) != 0 && ::umount2(dir_.c_str(), MNT_DETACH) != 0)
      std::fprintf(stderr, "test cleanup: umount %s: %s\n", dir_.c_str(), std::strerror(errno));
  }
  const std::string& dir() const { return dir_; }

private:
  std::string dir_;
};

/// Writes `path` until the file system is full; the bytes written.
int64_t fill_up(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    throw harness_error("open " + path + ": " + std::strerror(errno));
  std::vector<char> block(64 * 1024, 'x');
  int64_t total = 0;
  size_t chunk = block.size();
  for (;;) {
    auto n = ::write(fd, block.data(), chunk);
    if (n > 0) {
      total += n;
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (chunk == 1)
      break; // not one more byte fits
    chunk = std::max<size_t>(1, chunk / 16);
  }
  ::close(fd);
  return total;
}

// -- what a user watches -----------------------------------------------------------------

/// GET /version through the proxy every 100 ms on a fresh connection while it lives, and
/// every answer that is not 200 with one of `bodies` (a failure, as a user would see it).
class site_watch {
public:
  site_watch(uint16_t proxy_port, std::string host, std::vector<std::string> bodies)
    : port_{proxy_port}, host_{std::move(host)}, bodies_{std::move(bodies)} {
    thread_ = std::thread{[this] { run(); }};
  }
  site_watch(const site_watch&) = delete;
  site_watch& operator=(const site_watch&) = delete;
  ~site_watch() { stop(); }

  void stop() {
    stop_ = true;
    if (thread_.joinable())
      thread_.join();
  }
  int requests() const { return requests_.load(); }
  std::string failures() {
    std::lock_guard<std::mutex> guard{mutex_};
    return failures_;
  }

private:
  void run() {
    while (!stop_) {
      auto r = proxy_get(port_, host_);
      ++requests_;
      bool ok = r.status == 200
                && std::find(bodies_.begin(), bodies_.end(), r.body) != bodies_.end();
      if (!ok) {
        std::lock_guard<std::mutex> guard{mutex_};
        failures_ += "  #" + std::to_string(requests_.load()) + " -> " + std::to_string(r.status)
                     + " " + r.error + " '" + r.body.substr(0, 80) + "'\n";
      }
      std::this_thread::sleep_for(100ms);
    }
  }

  uint16_t port_;
  std::string host_;
  std::vector<std::string> bodies_;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::mutex mutex_;
  std::string failures_;
  std::thread thread_;
};

/// GET /healthz: the status and the "docker" member ("" when absent).
std::pair<int, std::string> healthz(const deploy_env& env) {
  auto r = env.api().get("/healthz");
  return {r.status, str(json_of(r.body), "docker")};
}

/// Polls until /healthz says docker is `state`; the last answer.
std::pair<int, std::string> wait_docker(const deploy_env& env, const std::string& state,
                                        std::chrono::milliseconds limit = 30s) {
  std::pair<int, std::string> last;
  poll_until(limit, [&] {
    last = healthz(env);
    return last.second == state;
  }, 200ms);
  return last;
}

/// `PRAGMA integrity_check` of the database file by the sqlite3 shell.
std::string integrity_check(const std::string& db_path) {
  auto r = run_command({"sqlite3", db_path, "PRAGMA integrity_check;"});
  auto out = r.output;
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r'))
    out.pop_back();
  return r.exit_code == 0 ? out : "sqlite3 failed (" + std::to_string(r.exit_code) + "): " + out;
}

std::string describe_wait_status(int st) {
  if (WIFEXITED(st))
    return "exit " + std::to_string(WEXITSTATUS(st));
  if (WIFSIGNALED(st))
    return "signal " + std::to_string(WTERMSIG(st));
  return "status " + std::to_string(st);
}

} // namespace

// -- a) the Docker engine goes away mid-deploy ----------------------------------------------

// The `broken` image never passes its health check, so the deploy sits in "health" (polling
// the engine for the container's state) until the relay is cut.
TEST_CASE("fault (caddy): the Docker engine unreachable mid-deploy fails the deploy cleanly, "
          "v1 keeps serving, and the daemon recovers with the engine") {
  temp_dir relay_dir;
  docker_relay relay{relay_dir.file("docker.sock")};
  auto opts = with(proxy_kind::caddy, /*rollback_grace_s=*/0, /*health_deadline_s=*/60);
  opts.extra_flags = {"--docker_host", relay.docker_host()};
  deploy_env env{opts};
  auto p = require_project(env, "api");
  require_deploy(env, p, "v1");
  check_serves(env, p, "v1");
  REQUIRE(relay.relayed() > 0);
  REQUIRE(healthz(env) == std::make_pair(200, std::string{"ok"}));

  site_watch site{env.proxy_port(), p.subdomain, {"v1"}};
  auto started = deploy_until_phase(env, p, "broken", "health");
  const auto& id = started.id;
  REQUIRE(started.seen.status == "running");

  relay.cut();
  auto t0 = steady::now();
  auto d = env.wait_finished(id, 60s);
  MESSAGE("with the engine gone the deploy ended after ", ms_since(t0), " ms: ",
          d ? d->describe() : std::string{"no answer"});
  {
    INFO(env.logs());
    REQUIRE(d);
    CHECK(d->status == "failed");
    CHECK_FALSE(d->error.empty());
    CHECK(lower(d->error).find("docker") != std::string::npos);
  }
  auto down = wait_docker(env, "unavailable");
  CHECK(down.first == 200); // the daemon keeps serving its API
  CHECK(down.second == "unavailable");
  CHECK(unfinished_deployments(env, p).empty());
  check_serves(env, p, "v1");
  // A deploy asked for while the engine is gone fails too, and says why.
  auto while_down = env.deploy_and_wait(p, "v2");
  REQUIRE(while_down);
  MESSAGE("a deploy while the engine is gone: ", while_down->describe());
  CHECK(while_down->status == "failed");
  CHECK_FALSE(while_down->error.empty());
  check_serves(env, p, "v1");

  // The new container could not be removed without the engine: it stays closed to the
  // proxy, and the index keeps its row (it still runs).
  auto leftovers = with_tag(p.workload_id, "broken");
  MESSAGE("broken containers left while the engine was gone: ", leftovers.size());
  REQUIRE(leftovers.size() == 1);
  auto leftover = leftovers.front().id;
  auto row_of = [&](const std::string& container_id) -> std::optional<container_row> {
    if (auto rows = env.containers(p.workload_id))
      for (const auto& r : *rows)
        if (r.container_id == container_id)
          return r;
    return std::nullopt;
  };
  CHECK(row_of(leftover));
  // Meanwhile someone stops it by hand (through the real socket): a change the daemon
  // cannot see until the engine is back.
  {
    auto ep = tf::docker::endpoint::parse(engine_host);
    REQUIRE(ep);
    tf::docker::client engine{*ep, tf::docker::make_cancel_token()};
    auto err = engine.stop_container(leftover, 2s);
    CHECK_MESSAGE(!err, describe(err));
  }
  site.stop();
  MESSAGE("through the proxy during the outage: ", site.requests(), " requests");
  CHECK_MESSAGE(site.failures().empty(), "failed requests:\n", site.failures());

  relay.restore();
  auto up = wait_docker(env, "ok");
  CHECK(up.second == "ok");
  // The reconciler catches up: the row shows the container stopped.
  std::optional<container_row> caught_up;
  poll_until(20s, [&] {
    caught_up = row_of(leftover);
    return caught_up && caught_up->state != "running";
  }, 200ms);
  {
    INFO(env.logs());
    REQUIRE(caught_up);
    CHECK(caught_up->state != "running");
  }
  MESSAGE("the leftover's row after the engine came back: state ", caught_up->state);
  check_serves(env, p, "v1");

  // The next deploy works and removes the leftover with the old colour.
  require_deploy(env, p, "v2");
  check_serves(env, p, "v2");
  check_no_container_of(env, p, "v1", 20s);
  check_no_container_of(env, p, "broken");
  check_settled(env, p); // v2 only, in both
}

// -- b) the data dir is full ---------------------------------------------------------------

TEST_CASE("fault: a full data dir gives clear API errors, no corrupt database, and service "
          "resumes when space returns") {
  temp_dir mount_dir;
  tmpfs_mount disk{mount_dir.path().string(), "16m"};
  auto data_dir = disk.dir() + "/data";
  auto opts = with(proxy_kind::none, 0, /*health_deadline_s=*/8);
  opts.data_dir = data_dir;
  deploy_env env{opts};
  auto p = require_project(env, "api");
  require_deploy(env, p, "v1");

  // A deploy that ends while nothing can be written: `broken` never passes its health check,
  // so it fails at its deadline with the disk full, and must still end failed, not running.
  auto [bad_reply, bad_id] = env.deploy(p, "broken");
  REQUIRE(bad_reply.status == 202);
  auto seen = wait_phase(env, bad_id, "health");
  {
    INFO((seen ? seen->describe() : std::string{"no answer"}));
    REQUIRE(seen);
    REQUIRE(seen->phase == "health");
  }

  auto filler = disk.dir() + "/filler";
  auto filled = fill_up(filler);
  MESSAGE("filled the data dir's file system with ", filled / 1024, " KiB");

  // Writes fail (sooner or later: SQLite first reuses pages its WAL already holds). Each
  // answer is a success or an error in the envelope with a message; never a hang.
  std::string answers;
  http_reply failure;
  for (int i = 0; i < 200 && failure.status == 0; ++i) {
    auto r = env.api().post("/api/projects",
                            project_body("full" + std::to_string(i),
                                         stage_options{"production",
                                                       deploy_env::unique_subdomain("full")}));
    if (r.status == 201)
      continue;
    answers += "  POST /api/projects #" + std::to_string(i) + " -> " + std::to_string(r.status)
               + " " + r.error + " " + r.body + "\n";
    failure = r;
    if (r.status == 0)
      break;
  }
  MESSAGE("with the disk full:\n", answers);
  {
    INFO(env.logs());
    REQUIRE_MESSAGE(failure.status != 0, "no write failed, or no answer: ", failure.error);
    CHECK(failure.status >= 500);
    auto [code, message] = api_error_of(failure);
    CHECK_FALSE(code.empty());
    CHECK_FALSE(message.empty());
  }
  // A deploy asked for now is refused the same way, or, if it was queued, it ends.
  auto [dep_reply, dep_id] = env.deploy(p, "v2");
  MESSAGE("deploy with the disk full -> ", dep_reply.status, " ", dep_reply.body);
  if (dep_reply.status != 202) {
    CHECK(dep_reply.status >= 500);
    CHECK_FALSE(api_error_of(dep_reply).second.empty());
  }
  // Reads still work and the daemon is alive.
  auto h = env.api().get("/healthz");
  INFO("healthz -> ", h.status, " ", h.body);
  CHECK(h.status == 200);
  CHECK(env.daemon().process().running());
  // The broken deploy has reached its deadline and waits to record its end.
  auto retrying = poll_until(60s, [&] {
    return env.daemon().process().log().find("event=deploy-journal-retry deployment=" + bad_id)
           != std::string::npos;
  }, 200ms);
  {
    INFO(env.logs());
    CHECK(retrying);
  }

  std::filesystem::remove(filler);
  auto bad = env.wait_finished(bad_id, 60s);
  REQUIRE_MESSAGE(bad, env.logs());
  MESSAGE("the deploy that ended while the disk was full: ", bad->describe());
  CHECK(bad->status == "failed");
  CHECK(bad->error.find("health check") != std::string::npos);
  check_no_container_of(env, p, "broken", 20s);
  if (dep_reply.status == 202) {
    auto d = env.wait_finished(dep_id, 90s);
    REQUIRE(d);
    MESSAGE("the deploy asked for while the disk was full: ", d->describe());
    CHECK(d->finished());
  }
  // Space is back: the next write and the next deploy work.
  auto again = env.api().post("/api/projects",
                              project_body("after-full", stage_options{"production",
                                                                       deploy_env::unique_subdomain("after")}));
  INFO("POST /api/projects after the filler went -> ", again.status, " ", again.body);
  CHECK(again.status == 201);
  require_deploy(env, p, "v2");
  check_settled(env, p);

  auto status = env.stop_daemon();
  INFO(env.logs());
  CHECK(describe_wait_status(status) == "exit 0");
  CHECK(integrity_check(data_dir + "/tinyforge.db") == "ok");
}

// -- c) SIGTERM mid-deploy -----------------------------------------------------------------

// Stopped in "health" (the new colour exists but never served): the restarted daemon undoes
// the deploy; v1 answered through the proxy all along.
TEST_CASE("fault (caddy): SIGTERM while the new colour waits for health exits 0, and the "
          "restarted daemon undoes the deploy") {
  deploy_env env{with(proxy_kind::caddy, 0, /*health_deadline_s=*/60)};
  auto p = require_project(env, "api");
  require_deploy(env, p, "v1");
  site_watch site{env.proxy_port(), p.subdomain, {"v1"}};

  auto id = deploy_until_phase(env, p, "broken", "health").id;
  auto t0 = steady::now();
  auto status = env.stop_daemon();
  MESSAGE("SIGTERM in the health phase to exit: ", ms_since(t0), " ms, ",
          describe_wait_status(status));
  {
    INFO(env.logs());
    CHECK(describe_wait_status(status) == "exit 0");
  }
  check_serves(env, p, "v1"); // the daemon is down; the proxy serves on its own

  env.start_daemon();
  auto d = env.wait_finished(id, 90s);
  REQUIRE_MESSAGE(d, env.logs());
  MESSAGE("after the restart: ", d->describe());
  CHECK(d->status == "failed");
  CHECK(d->error.find("stopped during the deploy") != std::string::npos);
  check_no_container_of(env, p, "broken", 20s);
  check_serves(env, p, "v1");
  check_settled(env, p);
  site.stop();
  MESSAGE("through the proxy: ", site.requests(), " requests");
  CHECK_MESSAGE(site.failures().empty(), "failed requests:\n", site.failures());
}

// Stopped in "drain" (the switch has happened; an idle connection to v1's slot holds the
// drain open): the restarted daemon finishes the deploy; the site answered all along.
TEST_CASE("fault (caddy): SIGTERM while the old colour drains exits 0, and the restarted "
          "daemon finishes the deploy") {
  auto opts = with(proxy_kind::caddy, 0);
  opts.drain_timeout_s = 30;
  deploy_env env{opts};
  auto p = require_project(env, "api");
  require_deploy(env, p, "v1");
  auto row = require_single_row(env, p);
  auto idle = std::make_unique<socket_fd>(connect_to(static_cast<uint16_t>(row.port)));
  REQUIRE(*idle);
  site_watch site{env.proxy_port(), p.subdomain, {"v1", "v2"}};

  auto id = deploy_until_phase(env, p, "v2", "drain").id;
  auto t0 = steady::now();
  auto status = env.stop_daemon();
  MESSAGE("SIGTERM in the drain phase to exit: ", ms_since(t0), " ms, ",
          describe_wait_status(status));
  {
    INFO(env.logs());
    CHECK(describe_wait_status(status) == "exit 0");
  }
  idle.reset();
  check_serves(env, p, "v2");

  env.start_daemon();
  auto d = env.wait_finished(id, 90s);
  REQUIRE_MESSAGE(d, env.logs());
  MESSAGE("after the restart: ", d->describe());
  CHECK(d->status == "succeeded");
  check_serves(env, p, "v2");
  check_no_container_of(env, p, "v1", 20s);
  check_settled(env, p);
  site.stop();
  MESSAGE("through the proxy: ", site.requests(), " requests");
  CHECK_MESSAGE(site.failures().empty(), "failed requests:\n", site.failures());
}

// -- d) an old container that is already stopped ---------------------------------------------

// Issue 11, item 7: the engine answers 304 to a stop of a stopped container; the deploy that
// removes such an old container must not log it as an error.
TEST_CASE("fault: a deploy over a stopped old container logs no stop error") {
  deploy_env env{with(proxy_kind::none, 0)};
  auto p = require_project(env, "api");
  require_deploy(env, p, "v1");
  auto row = require_single_row(env, p);
  auto stop = env.api().post("/api/instances/" + p.id + "/" + p.stage + "/" + row.id + "/stop");
  INFO("stop -> ", stop.status, " ", stop.body);
  REQUIRE(stop.status == 200);
  REQUIRE(poll_until(20s, [&] { return container_state(row.container_id) == "exited"; }));

  auto d = require_deploy(env, p, "v2");
  INFO(d.describe());
  for (const auto& line : d.log) {
    CAPTURE(line);
    CHECK(line.rfind("stop ", 0) != 0);
    CHECK(line.find("304") == std::string::npos);
  }
  check_no_container_of(env, p, "v1", 20s);
}
