// Fixtures for the end-to-end deploy tests and the deploy bench: the tinyforge daemon, Caddy
// and nginx as real child processes, a reserved range of slot ports, a small JSON client for
// the API, requests through the proxy, and a clean-up that removes what a deploy created
// (containers labelled with the test's workload ids, iptables rules of the test's slot ports).
//
// No doctest in here (the bench links without it): a step that cannot go on (a proxy that does
// not start, a daemon without a port) throws harness_error, which doctest reports as a failure
// with its message; everything a test asserts on comes back as a value.
//
// Children write their output to log files in the environment's temp dir, not to a pipe: the
// daemon logs at debug level and a pipe nobody reads would block it. A failing test prints the
// tails (deploy_env::logs()).
#pragma once

#include "api_client.hpp"
#include "docker/client.hpp"
#include "docker/transport.hpp"
#include "docker/types.hpp"
#include "proxy/slot_gate.hpp"
#include "docker_fixtures.hpp"
#include "helpers.hpp"
#include "spawn.hpp"

#include <httplib.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace tf::test {

using steady = std::chrono::steady_clock;

/// A fixture step that cannot go on.
struct harness_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// -- polling ------------------------------------------------------------------------------

/// Calls `f` every `every` until it returns a value or `limit` passes (then nothing). For
/// outside processes (a proxy, the daemon's API) that have no event to wait on.
template <class F>
auto poll_until(std::chrono::milliseconds limit, F f,
                std::chrono::milliseconds every = std::chrono::milliseconds{50})
  -> decltype(f()) {
  auto deadline = steady::now() + limit;
  for (;;) {
    if (auto x = f())
      return x;
    if (steady::now() >= deadline)
      return {};
    std::this_thread::sleep_for(every);
  }
}

// -- ports --------------------------------------------------------------------------------

/// A loopback port that was free a moment ago.
inline uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    throw harness_error("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0
            && ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  ::close(fd);
  if (!ok)
    throw harness_error("no free port");
  return ntohs(addr.sin_port);
}

inline bool port_bindable(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // As a listener binds (docker-proxy, Caddy, nginx all set SO_REUSEADDR): a port whose
  // last connections wait in TIME_WAIT is free, one that something listens on is not.
  int on = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

/// A range of loopback ports this process owns for slots while the object lives. Ranges sit
/// below Linux's ephemeral ports (32768+), so free_port() never hands one out. Ownership
/// between processes (ctest runs tests in parallel) is an abstract unix socket named after
/// the range: the kernel frees it when the process ends, so nothing is left behind.
class slot_range {
public:
  explicit slot_range(int size = 20) : size_{size} {
    // TINYFORGE_TEST_PORTS=low-high keeps a run inside ports its machine gave it (several
    // people testing on one host); the default is the whole 21000-32000.
    int first = 21000, last = 32000;
    if (const char* env = std::getenv("TINYFORGE_TEST_PORTS")) {
      int lo = 0, hi = 0;
      if (std::sscanf(env, "%d-%d", &lo, &hi) == 2 && lo > 1024 && hi < 32768
          && hi - lo + 1 >= size) {
        first = lo;
        last = hi + 1;
      }
    }
    std::random_device rd;
    std::mt19937 gen{rd() ^ static_cast<unsigned>(::getpid())};
    std::uniform_int_distribution<int> pick{0, (last - first) / size - 1};
    for (int attempt = 0; attempt < 200; ++attempt) {
      int low = first + pick(gen) * size;
      if (claim(low))
        return;
    }
    throw harness_error("no free range of slot ports in " + std::to_string(first) + "-"
                        + std::to_string(last));
  }
  slot_range(const slot_range&) = delete;
  slot_range& operator=(const slot_range&) = delete;
  ~slot_range() {
    if (lock_fd_ >= 0)
      ::close(lock_fd_);
  }
  int low() const { return low_; }
  int high() const { return low_ + size_ - 1; }
  /// "low-high", for --proxy.slot_ports.
  std::string flag() const { return std::to_string(low()) + "-" + std::to_string(high()); }
  bool contains(int port) const { return port >= low() && port <= high(); }

private:
  bool claim(int low) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
      return false;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    auto name = "tinyforge-test-slots-" + std::to_string(low);
    std::memcpy(addr.sun_path + 1, name.data(), name.size()); // abstract: leading NUL
    auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
      ::close(fd);
      return false;
    }
    for (int p = low; p < low + size_; ++p)
      if (!port_bindable(static_cast<uint16_t>(p))) {
        ::close(fd);
        return false;
      }
    lock_fd_ = fd;
    low_ = low;
    return true;
  }

  int size_;
  int low_ = 0;
  int lock_fd_ = -1;
};

// -- child processes ----------------------------------------------------------------------

/// A program started by spawn_program() (spawn.hpp: an argument vector, never a shell, and the
/// test's environment minus TINYFORGE_* plus `env`), stdin on /dev/null, stdout and stderr
/// appended to `log_path`. The destructor stops a child that still runs (SIGTERM,
/// then SIGKILL after 10 s) and reaps it.
class program {
public:
  program(const std::vector<std::string>& argv, std::string log_path,
          const std::map<std::string, std::string>& env = {})
    : log_path_{std::move(log_path)} {
    int out = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (out >= 0 && in >= 0)
      pid_ = spawn_program(argv, child_stdio{in, out, out}, env);
    if (out >= 0)
      ::close(out);
    if (in >= 0)
      ::close(in);
    if (out < 0 || in < 0)
      throw harness_error("cannot open " + log_path_);
    if (pid_ < 0)
      throw harness_error("fork failed");
  }
  program(const program&) = delete;
  program& operator=(const program&) = delete;
  ~program() { stop(std::chrono::seconds{10}); }

  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }

  /// Whether the child still runs (reaps it when it has ended).
  bool running() {
    if (status_)
      return false;
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      status_ = st;
      return false;
    }
    return true;
  }

  /// SIGTERM, up to `grace` for the exit, then SIGKILL. The wait status.
  int stop(std::chrono::milliseconds grace) {
    if (pid_ <= 0)
      return 0;
    if (running()) {
      ::kill(pid_, SIGTERM);
      if (!wait_exit(grace)) {
        ::kill(pid_, SIGKILL);
        wait_exit(std::chrono::seconds{30});
      }
    }
    return status_.value_or(-1);
  }

  /// SIGKILL and reap: a crash, as far as the child can tell.
  void kill9() {
    if (running()) {
      ::kill(pid_, SIGKILL);
      wait_exit(std::chrono::seconds{30});
    }
  }

  /// The log so far.
  std::string log() const {
    std::ifstream in{log_path_};
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  /// The last `n` lines of the log.
  std::string log_tail(size_t n = 40) const {
    auto text = log();
    size_t pos = text.size();
    if (pos > 0 && text[pos - 1] == '\n')
      --pos;
    for (size_t i = 0; i < n && pos > 0; ++i) {
      auto nl = text.rfind('\n', pos - 1);
      pos = nl == std::string::npos ? 0 : nl;
    }
    return text.substr(pos == 0 ? 0 : pos + 1);
  }

private:
  bool wait_exit(std::chrono::milliseconds limit) {
    if (!status_)
      status_ = reap_within(pid_, limit, [] {
        std::this_thread::sleep_for(std::chrono::milliseconds{10});
      });
    return status_.has_value();
  }

  std::string log_path_;
  pid_t pid_ = -1;
  std::optional<int> status_;
};

/// What a short command printed and how it ended.
struct command_result {
  int exit_code = -1; // -1: killed or could not run
  std::string output; // stdout and stderr
};

/// Runs `argv` (no shell) to its end and captures its output.
inline command_result run_command(const std::vector<std::string>& argv) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    return {};
  int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_t pid = in < 0 ? -1 : spawn_program(argv, child_stdio{in, fds[1], fds[1]});
  ::close(fds[1]);
  if (in >= 0)
    ::close(in);
  command_result r;
  if (pid < 0) {
    ::close(fds[0]);
    return r;
  }
  char buf[4096];
  for (;;) {
    auto n = ::read(fds[0], buf, sizeof(buf));
    if (n > 0)
      r.output.append(buf, static_cast<size_t>(n));
    else if (n < 0 && errno == EINTR)
      continue;
    else
      break;
  }
  ::close(fds[0]);
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

// -- HTTP and JSON ------------------------------------------------------------------------

/// One HTTP exchange: status 0 when there was no response (the error says why).
struct http_reply {
  int status = 0;
  std::string body;
  std::string error;
  httplib::Headers headers;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string{} : it->second;
  }
};

inline http_reply to_reply(const httplib::Result& res) {
  http_reply r;
  if (!res) {
    r.error = httplib::to_string(res.error());
    return r;
  }
  r.status = res->status;
  r.body = res->body;
  r.headers = res->headers;
  return r;
}

/// `body` parsed; a null document when it is not JSON.
inline rapidjson::Document json_of(const std::string& body) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError())
    doc.SetNull();
  return doc;
}

/// The string member `key` of `v`; empty when `v` is no object or the member is absent or
/// no string.
inline std::string str(const rapidjson::Value& v, const char* key) {
  if (!v.IsObject())
    return {};
  auto it = v.FindMember(key);
  if (it == v.MemberEnd() || !it->value.IsString())
    return {};
  return {it->value.GetString(), it->value.GetStringLength()};
}

/// The integer member `key` of `v`; -1 when absent or no integer.
inline int64_t integer(const rapidjson::Value& v, const char* key) {
  if (!v.IsObject())
    return -1;
  auto it = v.FindMember(key);
  if (it == v.MemberEnd() || !it->value.IsInt64())
    return -1;
  return it->value.GetInt64();
}

/// A JSON string literal of `s`.
inline std::string quote(const std::string& s) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w{buf};
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  return buf.GetString();
}

/// GET http://127.0.0.1:<proxy_port><path> with `Host: <host>`, on a fresh connection.
inline http_reply proxy_get(uint16_t proxy_port, const std::string& host,
                            const std::string& path = "/version") {
  httplib::Client c{"127.0.0.1", proxy_port};
  c.set_connection_timeout(std::chrono::seconds{5});
  c.set_read_timeout(std::chrono::seconds{10});
  return to_reply(c.Get(path.c_str(), httplib::Headers{{"Host", host}}));
}

/// GET http://127.0.0.1:<port><path>, straight to a container's published port.
inline http_reply direct_get(uint16_t port, const std::string& path) {
  httplib::Client c{"127.0.0.1", port};
  c.set_connection_timeout(std::chrono::seconds{2});
  c.set_read_timeout(std::chrono::seconds{5});
  return to_reply(c.Get(path.c_str()));
}

/// The status of GET <path> on 127.0.0.1:<port> read off the raw status line (0 when nothing
/// answers). For Caddy's admin API: it answers GET /config/ chunked with a trailer, which
/// cpp-httplib 0.11.4 fails to read (Error::Read).
inline int raw_get_status(uint16_t port, const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::string head;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    auto req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port)
               + "\r\nConnection: close\r\n\r\n";
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
      char buf[256];
      ssize_t n;
      while (head.size() < 12 && (n = ::recv(fd, buf, sizeof(buf), 0)) > 0)
        head.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  if (head.size() < 12 || head.compare(0, 9, "HTTP/1.1 ") != 0)
    return 0;
  return std::atoi(head.c_str() + 9);
}

/// The admin the harness's daemons are started with (TINYFORGE_ADMIN_PASSWORD).
inline constexpr const char* harness_admin_password = "deploy-harness-admin-password";

/// The daemon's API on 127.0.0.1:<port>, as the harness's admin.
class api_client {
public:
  explicit api_client(uint16_t port = 0) : port_{port} {}
  uint16_t port() const { return port_; }

  /// Logs in as the harness's admin and creates an API token that every later request
  /// carries as its bearer, as CI would.
  void sign_in() {
    auto token = sign_in_token(port_, "admin", harness_admin_password, "deploy-harness", timeouts);
    if (!token)
      throw harness_error("the harness cannot sign in: " + error_message(token.error()));
    token_ = *token;
  }

  http_reply get(const std::string& path) const {
    auto c = client();
    return to_reply(c.Get(path.c_str()));
  }
  http_reply post(const std::string& path, const std::string& json = "{}") const {
    auto c = client();
    return to_reply(c.Post(path.c_str(), json, "application/json"));
  }
  /// POST of a body that is not JSON (a site's .tar.gz), with its content type.
  http_reply post_body(const std::string& path, const std::string& body,
                       const std::string& content_type) const {
    auto c = client();
    return to_reply(c.Post(path.c_str(), body, content_type.c_str()));
  }
  http_reply patch(const std::string& path, const std::string& json) const {
    auto c = client();
    return to_reply(c.Patch(path.c_str(), json, "application/json"));
  }
  http_reply del(const std::string& path) const {
    auto c = client();
    return to_reply(c.Delete(path.c_str()));
  }

private:
  static constexpr client_timeouts timeouts{std::chrono::seconds{5}, std::chrono::seconds{30},
                                            std::chrono::seconds{5}};
  httplib::Client client() const { return bearer_client(port_, token_, timeouts); }
  uint16_t port_;
  std::string token_;
};

// -- the API's objects --------------------------------------------------------------------

/// A project as POST /api/projects answered it.
struct project_ids {
  std::string id;
  std::string workload_id;
  std::string stage;     // the (one) stage's name
  std::string subdomain; // = the route's host
};

/// A stage for POST /api/projects.
struct stage_options {
  std::string name = "production";
  std::string subdomain;
  std::string health_path = "/up";
  int instances = 1;
  int health_interval_ms = 200;
};

/// The body of POST /api/projects for one stage of tinyforge-test/web.
inline std::string project_body(const std::string& name, const stage_options& s) {
  return "{\"name\":" + quote(name) + ",\"image\":\"tinyforge-test/web\",\"stages\":[{\"name\":"
         + quote(s.name) + ",\"port\":8080,\"instances\":" + std::to_string(s.instances)
         + ",\"health_path\":" + quote(s.health_path) + ",\"subdomain\":" + quote(s.subdomain)
         + ",\"health_interval_ms\":" + std::to_string(s.health_interval_ms) + "}]}";
}

/// A deployment as GET /api/deployments/{id} shows it.
struct deployment_view {
  std::string id, status, tag, error, phase, started_at, finished_at;
  std::vector<std::string> log;
  bool finished() const {
    return status == "succeeded" || status == "failed" || status == "superseded";
  }
  std::string log_text() const {
    std::string s;
    for (const auto& l : log)
      s += "  | " + l + "\n";
    return s;
  }
  std::string describe() const {
    return "deployment " + id + " tag=" + tag + " status=" + status + " phase=" + phase
           + " error=\"" + error + "\" started_at=" + started_at + " finished_at=" + finished_at
           + "\n" + log_text();
  }
};

inline std::optional<deployment_view> parse_deployment(const rapidjson::Value& v) {
  if (!v.IsObject())
    return std::nullopt;
  deployment_view d;
  d.id = str(v, "id");
  d.status = str(v, "status");
  d.tag = str(v, "tag");
  d.error = str(v, "error");
  d.phase = str(v, "phase");
  d.started_at = str(v, "started_at");
  d.finished_at = str(v, "finished_at");
  auto log = v.FindMember("log");
  if (log != v.MemberEnd() && log->value.IsArray())
    for (const auto& l : log->value.GetArray()) {
      if (l.IsString())
        d.log.emplace_back(l.GetString());
      else if (l.IsObject()) { // {"at","line"} or similar: keep the text we find
        auto line = str(l, "line");
        if (line.empty())
          line = str(l, "message");
        d.log.push_back(line.empty() ? std::string{"<object>"} : line);
      }
    }
  return d;
}

/// A row of GET /api/containers.
struct container_row {
  std::string id, container_id, state, role, image_tag, workload_id;
  int64_t port = -1;
};

// -- Docker, for checks and clean-up ------------------------------------------------------

/// The containers (all states) labelled tinyforge.workload.id=<workload_id>.
inline std::vector<docker::container_summary> workload_containers(const std::string& workload_id) {
  auto ep = docker::endpoint::parse(engine_host);
  if (!ep)
    throw harness_error("bad engine endpoint");
  docker::client c{*ep, docker::make_cancel_token()};
  auto list = c.list_containers({{"label", {"tinyforge.workload.id=" + workload_id}}}, true);
  if (!list)
    throw harness_error("docker list: " + describe(list.error()));
  return *list;
}

/// The tag of an image reference "repo:tag" (empty without one).
inline std::string tag_of(const std::string& image) {
  auto colon = image.rfind(':');
  auto slash = image.rfind('/');
  if (colon == std::string::npos || (slash != std::string::npos && colon < slash))
    return {};
  return image.substr(colon + 1);
}

/// State of one container as the engine reports it ("" when it is gone).
inline std::string container_state(const std::string& id) {
  auto ep = docker::endpoint::parse(engine_host);
  if (!ep)
    return {};
  docker::client c{*ep, docker::make_cancel_token()};
  auto d = c.inspect_container(id);
  return d ? d->state : std::string{};
}

/// Force-removes every container labelled with `workload_id`; reports on stderr what fails.
inline void remove_workload_containers(const std::string& workload_id) {
  auto ep = docker::endpoint::parse(engine_host);
  if (!ep)
    return;
  docker::client c{*ep, docker::make_cancel_token()};
  auto list = c.list_containers({{"label", {"tinyforge.workload.id=" + workload_id}}}, true);
  if (!list) {
    warn_cleanup("list containers of workload " + workload_id, list.error());
    return;
  }
  for (const auto& ct : *list)
    warn_cleanup("remove container " + ct.id, c.remove_container(ct.id, true));
}

/// Removes the containers of the workloads a test made when it goes. An in-process fixture
/// declares it before its actor system, so it runs after the system has gone: a deploy job
/// still creating a container when the deployer stopped has finished by then, and nothing is
/// created after the removal.
struct workload_cleanup {
  std::vector<std::string> ids;
  workload_cleanup() = default;
  workload_cleanup(const workload_cleanup&) = delete;
  workload_cleanup& operator=(const workload_cleanup&) = delete;
  ~workload_cleanup() {
    for (const auto& w : ids)
      remove_workload_containers(w);
  }
};

/// The ports in `range` that have a slot rule (an iptables rule whose comment is
/// "tinyforge-slot:<port>"): the slots closed to the proxy now.
inline std::set<int> closed_slots(const slot_range& range) {
  std::set<int> out;
  auto saved = run_command({"iptables-save"});
  std::istringstream in{saved.output};
  std::string line;
  const std::string key = "tinyforge-slot:";
  while (std::getline(in, line)) {
    auto at = line.find(key);
    if (line.rfind("-A ", 0) != 0 || at == std::string::npos)
      continue;
    int port = std::atoi(line.c_str() + at + key.size());
    if (range.contains(port))
      out.insert(port);
  }
  return out;
}

/// Deletes every iptables rule (any table) whose comment is "tinyforge-slot:<port>" with a
/// port in `range`. The number deleted; failures are reported on stderr.
inline int delete_slot_rules(const slot_range& range) {
  auto saved = run_command({"iptables-save"});
  if (saved.exit_code != 0) {
    std::fprintf(stderr, "test cleanup: iptables-save failed: %s\n", saved.output.c_str());
    return 0;
  }
  int deleted = 0;
  std::string table;
  std::istringstream in{saved.output};
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] == '*') {
      table = line.substr(1);
      continue;
    }
    if (line.rfind("-A ", 0) != 0)
      continue;
    const std::string key = "tinyforge-slot:";
    auto at = line.find(key);
    if (at == std::string::npos)
      continue;
    int port = std::atoi(line.c_str() + at + key.size());
    if (!range.contains(port))
      continue;
    auto args = tf::proxy::split_rule_line(line);
    args[0] = "-D";
    args.insert(args.begin(), {"iptables", "-t", table});
    auto r = run_command(args);
    if (r.exit_code == 0)
      ++deleted;
    else
      std::fprintf(stderr, "test cleanup: could not delete '%s': %s\n", line.c_str(),
                   r.output.c_str());
  }
  return deleted;
}

// -- proxies ------------------------------------------------------------------------------

/// Caddy with nothing but its admin API (`caddy run --config <json>`); Tinyforge creates its
/// server on `proxy_port`.
class caddy_proxy {
public:
  explicit caddy_proxy(const std::filesystem::path& dir)
    : dir_{dir}, admin_port_{free_port()}, proxy_port_{free_port()} {
    std::filesystem::create_directories(dir_ / "caddy-home");
    std::ofstream{config_path()} << "{\"admin\":{\"listen\":\"127.0.0.1:" << admin_port_
                                 << "\"}}\n";
    start();
  }

  /// Stops Caddy and starts a fresh one on the same admin port with the same admin-only
  /// config (no --resume): what a host sees after `systemctl restart caddy` when the routes
  /// lived only in Caddy's memory. Nothing listens on proxy_port() until someone configures
  /// the server again.
  void restart_empty() {
    proc_->stop(std::chrono::seconds{10});
    proc_.reset();
    // The old process has exited, but its listening sockets may take a moment to go.
    poll_until(std::chrono::seconds{10}, [&] {
      return port_bindable(admin_port_) && port_bindable(proxy_port_);
    });
    start();
  }
  uint16_t admin_port() const { return admin_port_; }
  uint16_t proxy_port() const { return proxy_port_; }
  program& process() { return *proc_; }
  std::vector<std::string> daemon_flags() const {
    return {"--proxy.provider",     "caddy",
            "--proxy.caddy_admin",  "http://127.0.0.1:" + std::to_string(admin_port_),
            "--proxy.caddy_server", "tinyforge",
            "--proxy.caddy_listen", "127.0.0.1:" + std::to_string(proxy_port_)};
  }

private:
  std::string config_path() const { return (dir_ / "caddy.json").string(); }

  void start() {
    auto home = (dir_ / "caddy-home").string();
    proc_ = std::make_unique<program>(
      std::vector<std::string>{"caddy", "run", "--config", config_path()},
      (dir_ / "caddy.log").string(),
      std::map<std::string, std::string>{
        {"HOME", home}, {"XDG_DATA_HOME", home}, {"XDG_CONFIG_HOME", home}});
    auto up = poll_until(std::chrono::seconds{20}, [&] {
      return proc_->running() && raw_get_status(admin_port_, "/config/") == 200;
    });
    if (!up)
      throw harness_error("caddy did not start; its log:\n" + proc_->log_tail());
  }

  std::filesystem::path dir_;
  uint16_t admin_port_;
  uint16_t proxy_port_;
  std::unique_ptr<program> proc_;
};

/// nginx in the foreground with everything it writes under `dir`; its http{} block includes
/// <dir>/routes/*.conf, where Tinyforge writes one file per route.
class nginx_proxy {
public:
  explicit nginx_proxy(const std::filesystem::path& dir) : proxy_port_{free_port()} {
    auto root = dir / "nginx";
    routes_ = (root / "routes").string();
    conf_ = (root / "nginx.conf").string();
    std::filesystem::create_directories(root / "tmp");
    std::filesystem::create_directories(routes_);
    auto r = root.string();
    std::ofstream{conf_} << "worker_processes 1;\n"
                         << "pid " << r << "/nginx.pid;\n"
                         << "error_log " << r << "/error.log warn;\n"
                         << "events { worker_connections 1024; }\n"
                         << "http {\n"
                         << "  access_log off;\n"
                         << "  client_body_temp_path " << r << "/tmp/client_body;\n"
                         << "  proxy_temp_path " << r << "/tmp/proxy;\n"
                         << "  fastcgi_temp_path " << r << "/tmp/fastcgi;\n"
                         << "  uwsgi_temp_path " << r << "/tmp/uwsgi;\n"
                         << "  scgi_temp_path " << r << "/tmp/scgi;\n"
                         << "  keepalive_timeout 65s;\n"
                         << "  keepalive_requests 1000000;\n"
                         << "  include " << routes_ << "/*.conf;\n"
                         << "}\n";
    pid_file_ = r + "/nginx.pid";
    proc_ = std::make_unique<program>(
      std::vector<std::string>{"nginx", "-c", conf_, "-p", r + "/", "-g", "daemon off;"},
      (root / "nginx.log").string());
    auto up = poll_until(std::chrono::seconds{20}, [&] {
      return proc_->running() && std::filesystem::exists(pid_file_);
    });
    if (!up)
      throw harness_error("nginx did not start; its log:\n" + proc_->log_tail()
                          + "\nerror.log:\n" + error_log());
  }
  uint16_t proxy_port() const { return proxy_port_; }
  program& process() { return *proc_; }
  std::string error_log() const {
    std::ifstream in{std::filesystem::path{conf_}.parent_path() / "error.log"};
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  std::vector<std::string> daemon_flags() const {
    return {"--proxy.provider",     "nginx",
            "--proxy.nginx_conf",   conf_,
            "--proxy.nginx_dir",    routes_,
            "--proxy.nginx_listen", "127.0.0.1:" + std::to_string(proxy_port_),
            "--proxy.nginx_bin",    "nginx"};
  }

private:
  uint16_t proxy_port_;
  std::string conf_, routes_, pid_file_;
  std::unique_ptr<program> proc_;
};

// -- the daemon ---------------------------------------------------------------------------

/// `TINYFORGE_BINARY serve` with `args`, logging to `log_path`.
class daemon_process {
public:
  daemon_process(const std::vector<std::string>& args, const std::string& log_path,
                 std::map<std::string, std::string> env = {}) {
    std::vector<std::string> argv{TINYFORGE_BINARY, "serve"};
    argv.insert(argv.end(), args.begin(), args.end());
    // The first start creates the admin; later starts on the same data dir ignore it.
    env["TINYFORGE_ADMIN_PASSWORD"] = harness_admin_password;
    proc_ = std::make_unique<program>(argv, log_path, env);
    const std::string key = "event=http-listening address=127.0.0.1:";
    auto port = poll_until(std::chrono::seconds{30}, [&]() -> std::optional<uint16_t> {
      auto text = proc_->log();
      auto at = text.find(key);
      if (at != std::string::npos && text.find('\n', at) != std::string::npos)
        return static_cast<uint16_t>(std::stoul(text.substr(at + key.size())));
      if (!proc_->running())
        throw harness_error("the daemon exited during start-up; its log:\n" + proc_->log_tail());
      return std::nullopt;
    });
    if (!port)
      throw harness_error("the daemon logged no event=http-listening; its log:\n"
                          + proc_->log_tail());
    api_ = api_client{*port};
    api_.sign_in();
  }
  const api_client& api() const { return api_; }
  program& process() { return *proc_; }

private:
  std::unique_ptr<program> proc_;
  api_client api_;
};

// -- one test's world ---------------------------------------------------------------------

enum class proxy_kind { none, caddy, nginx };

inline const char* to_string(proxy_kind k) {
  return k == proxy_kind::caddy ? "caddy" : k == proxy_kind::nginx ? "nginx" : "none";
}

struct env_options {
  proxy_kind proxy = proxy_kind::caddy;
  int rollback_grace_s = 0;
  int health_deadline_s = 15;
  int drain_timeout_s = 5; // how long a deploy waits for the old colour's connections
  std::string data_dir;     // empty: "data" in the env's temp dir
  std::string log_level = "debug"; // tests read the debug lines; a bench may want the default
  std::vector<std::string> extra_flags;
};

/// env_options for a proxy, a rollback grace and a health deadline.
inline env_options with(proxy_kind proxy, int rollback_grace_s = 0, int health_deadline_s = 15) {
  env_options o;
  o.proxy = proxy;
  o.rollback_grace_s = rollback_grace_s;
  o.health_deadline_s = health_deadline_s;
  return o;
}

/// A temp dir, a slot range, the proxy and the daemon, plus the API steps the tests take. The
/// destructor stops the daemon, removes the containers of every workload it created, deletes
/// the slot rules of its range, stops the proxy and removes the temp dir, in that order.
class deploy_env {
public:
  explicit deploy_env(env_options opts = {}) : opts_{std::move(opts)} {
    if (opts_.proxy == proxy_kind::caddy)
      caddy_ = std::make_unique<caddy_proxy>(tmp_.path());
    else if (opts_.proxy == proxy_kind::nginx)
      nginx_ = std::make_unique<nginx_proxy>(tmp_.path());
    start_daemon();
  }
  deploy_env(const deploy_env&) = delete;
  deploy_env& operator=(const deploy_env&) = delete;
  ~deploy_env() {
    if (daemon_)
      daemon_->process().stop(std::chrono::seconds{20});
    daemon_.reset();
    for (const auto& w : workloads_)
      remove_workload_containers(w);
    delete_slot_rules(slots_);
    caddy_.reset();
    nginx_.reset();
  }

  const env_options& options() const { return opts_; }
  const slot_range& slots() const { return slots_; }
  const temp_dir& tmp() const { return tmp_; }
  const api_client& api() const { return daemon_->api(); }
  daemon_process& daemon() { return *daemon_; }
  uint16_t proxy_port() const {
    return caddy_ ? caddy_->proxy_port() : nginx_ ? nginx_->proxy_port() : 0;
  }
  uint16_t caddy_admin_port() const { return caddy_ ? caddy_->admin_port() : 0; }

  /// The daemon's flags: this env's data dir, slots and proxy.
  std::vector<std::string> daemon_args() const {
    std::vector<std::string> a{"--listen",
                               "127.0.0.1:0",
                               "--data_dir",
                               opts_.data_dir.empty() ? tmp_.file("data") : opts_.data_dir,
                               "--proxy.slot_ports",
                               slots_.flag(),
                               "--rollback_grace_s",
                               std::to_string(opts_.rollback_grace_s),
                               "--deploy.stop_grace_s",
                               "2",
                               "--deploy.drain_timeout_s",
                               std::to_string(opts_.drain_timeout_s),
                               "--deploy.health_deadline_s",
                               std::to_string(opts_.health_deadline_s),
                               "--reconcile_interval_s",
                               "1",
                               "--log_level",
                               opts_.log_level};
    std::vector<std::string> p{"--proxy.provider", "none"};
    if (caddy_)
      p = caddy_->daemon_flags();
    else if (nginx_)
      p = nginx_->daemon_flags();
    a.insert(a.end(), p.begin(), p.end());
    a.insert(a.end(), opts_.extra_flags.begin(), opts_.extra_flags.end());
    return a;
  }

  /// Starts the daemon on this env's data dir (a new log file each time), with `env` added
  /// to its environment (TINYFORGE_FAULT_KILL_AT for the crash tests).
  void start_daemon(std::map<std::string, std::string> env = {}) {
    daemon_.reset();
    auto log = tmp_.file("daemon-" + std::to_string(++daemon_starts_) + ".log");
    daemon_ = std::make_unique<daemon_process>(daemon_args(), log, std::move(env));
  }

  /// SIGKILL, then start again on the same data dir.
  void crash_and_restart() {
    crash_daemon();
    start_daemon();
  }

  /// SIGKILL, nothing else: the test does what it needs while the daemon is down, then
  /// start_daemon(). The dead daemon's log stays readable through daemon().
  void crash_daemon() { daemon_->process().kill9(); }

  /// SIGTERM and wait for the exit (SIGKILL after 20 s); the wait status.
  int stop_daemon() { return daemon_->process().stop(std::chrono::seconds{20}); }

  /// Restarts Caddy with an empty config on the same ports (caddy_proxy::restart_empty).
  void restart_caddy_empty() {
    if (!caddy_)
      throw harness_error("restart_caddy_empty: this env has no caddy");
    caddy_->restart_empty();
  }

  /// Tails of the daemon's and the proxy's logs, for INFO on failure.
  std::string logs(size_t lines = 60) const {
    std::string s = "--- daemon log (tail) ---\n" + daemon_->process().log_tail(lines);
    if (caddy_)
      s += "--- caddy log (tail) ---\n" + caddy_->process().log_tail(20);
    if (nginx_)
      s += "--- nginx error.log ---\n" + nginx_->error_log();
    return s;
  }

  /// A subdomain no other test (in this run or another) uses.
  static std::string unique_subdomain(const std::string& what) {
    return unique_name("t", what);
  }

  /// A workload whose containers the destructor removes (one a test created itself).
  void track_workload(const std::string& workload_id) { workloads_.push_back(workload_id); }

  // -- API steps --------------------------------------------------------------------------

  /// POST /api/projects for one stage; the reply (201 expected) and, when it parses, the ids.
  /// The workload is remembered for clean-up.
  std::pair<http_reply, std::optional<project_ids>> create_project(const std::string& name,
                                                                   stage_options stage) {
    if (stage.subdomain.empty())
      stage.subdomain = unique_subdomain(name);
    auto r = api().post("/api/projects", project_body(name, stage));
    auto doc = json_of(r.body);
    if (r.status != 201 || !doc.IsObject())
      return {r, std::nullopt};
    project_ids p{str(doc, "id"), str(doc, "workload_id"), stage.name, stage.subdomain};
    if (!p.workload_id.empty())
      workloads_.push_back(p.workload_id);
    if (p.id.empty() || p.workload_id.empty())
      return {r, std::nullopt};
    return {r, p};
  }

  /// POST .../deploy {"tag"}: the reply (202 expected) and the deployment id.
  std::pair<http_reply, std::string> deploy(const project_ids& p, const std::string& tag) const {
    auto r = api().post("/api/projects/" + p.id + "/stages/" + p.stage + "/deploy",
                        "{\"tag\":" + quote(tag) + "}");
    return {r, str(json_of(r.body), "deployment_id")};
  }

  /// POST .../rollback: the reply (202 expected) and the deployment id.
  std::pair<http_reply, std::string> rollback(const project_ids& p) const {
    auto r = api().post("/api/projects/" + p.id + "/stages/" + p.stage + "/rollback", "{}");
    return {r, str(json_of(r.body), "deployment_id")};
  }

  /// GET /api/deployments/{id}; nothing when it does not answer 200 with an object.
  std::optional<deployment_view> deployment(const std::string& id) const {
    auto r = api().get("/api/deployments/" + id);
    if (r.status != 200)
      return std::nullopt;
    return parse_deployment(json_of(r.body));
  }

  /// Polls the deployment until it has finished (succeeded, failed, superseded) or `limit`
  /// passes; the last view seen (nothing when it never answered).
  std::optional<deployment_view> wait_finished(const std::string& id,
                                               std::chrono::milliseconds limit
                                               = std::chrono::seconds{90}) const {
    std::optional<deployment_view> last;
    poll_until(
      limit,
      [&] {
        if (auto d = deployment(id))
          last = d;
        return last && last->finished();
      },
      std::chrono::milliseconds{100});
    return last;
  }

  /// Deploys `tag` and waits for the end: the final view, or nothing when the request was
  /// refused or the deployment never answered.
  std::optional<deployment_view> deploy_and_wait(const project_ids& p, const std::string& tag) {
    auto [r, id] = deploy(p, tag);
    if (r.status != 202 || id.empty())
      return std::nullopt;
    return wait_finished(id);
  }

  /// GET /api/containers?workload_id=: the rows; nothing when it does not answer 200 with
  /// {"items":[…]}.
  std::optional<std::vector<container_row>> containers(const std::string& workload_id) const {
    auto r = api().get("/api/containers?workload_id=" + workload_id);
    auto doc = json_of(r.body);
    if (r.status != 200 || !doc.IsObject() || !doc.HasMember("items") || !doc["items"].IsArray())
      return std::nullopt;
    std::vector<container_row> rows;
    for (const auto& it : doc["items"].GetArray()) {
      container_row c;
      c.id = str(it, "id");
      c.container_id = str(it, "container_id");
      c.state = str(it, "state");
      c.role = str(it, "role");
      c.image_tag = str(it, "image_tag");
      c.workload_id = str(it, "workload_id");
      c.port = integer(it, "port");
      rows.push_back(c);
    }
    return rows;
  }

  /// GET /api/deployments?workload_id=: the rows (without logs); nothing when it does not
  /// answer 200 with {"items":[…]}.
  std::optional<std::vector<deployment_view>> deployments(const std::string& workload_id) const {
    auto r = api().get("/api/deployments?workload_id=" + workload_id + "&limit=100");
    auto doc = json_of(r.body);
    if (r.status != 200 || !doc.IsObject() || !doc.HasMember("items") || !doc["items"].IsArray())
      return std::nullopt;
    std::vector<deployment_view> out;
    for (const auto& it : doc["items"].GetArray())
      if (auto d = parse_deployment(it))
        out.push_back(*d);
    return out;
  }

  /// GET /version through the proxy for the project's host.
  http_reply version(const project_ids& p) const { return proxy_get(proxy_port(), p.subdomain); }

  /// Polls GET /version through the proxy until it answers 200 `tag` or `limit` passes; the
  /// last reply.
  http_reply wait_serving(const project_ids& p, const std::string& tag,
                          std::chrono::milliseconds limit = std::chrono::seconds{10}) const {
    http_reply last;
    poll_until(limit, [&] {
      last = version(p);
      return last.status == 200 && last.body == tag;
    });
    return last;
  }

private:
  env_options opts_;
  temp_dir tmp_;
  slot_range slots_;
  std::unique_ptr<caddy_proxy> caddy_;
  std::unique_ptr<nginx_proxy> nginx_;
  std::unique_ptr<daemon_process> daemon_;
  std::vector<std::string> workloads_;
  int daemon_starts_ = 0;
};

} // namespace tf::test
