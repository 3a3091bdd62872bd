// Issue 14, item 5: the daemon as a process (tinyforge serve, proxy provider none) under load.
// Its data dir holds 10,000 container rows over 100 projects before it starts
// (tests/seed_rows.hpp). Its Docker endpoint is a forwarding engine on a unix socket in the
// test's temp dir: every request goes on to the real engine, except the reconciler's list of
// managed containers, answered with the real list plus one synthetic running container per
// seeded row (the row's container id and labels), so every reconcile tick (1 s) reconciles
// 10,000 rows. For the load's length (60 s; TINYFORGE_LOAD_SECONDS changes it for a quick
// local run), 200 API clients on keep-alive connections mix reads (container pages, projects,
// deployments, workloads) and writes (projects and stages created, changed and deleted, API
// tokens made and revoked, notification URLs set and cleared), while one project deploys
// tinyforge-test/web v1 and v2 one after another.
//
// What it asserts is what a client would see: every answer is one its request can get (a
// table of them is printed), none is a 5xx, none mentions SQLITE_BUSY or "database is
// locked", no request fails in transport, and every deploy succeeds. It prints the p50, p99
// and max latency of reads and writes and the requests per second; it asserts no time.
//
// A second case boots the daemon on such a data dir against the real engine, where none of
// the seeded containers exists: the first sweep marks them all missing and logs one line.
//
// Labelled `load` and run serially (tests/CMakeLists.txt); tests/run leaves it out of the
// ASan pass. Everything it creates is removed: the deploy project's containers (by workload
// label, deploy_env), the projects the clients made (they delete what they create, and the
// data dir goes with the temp dir). The synthetic containers exist only in the answers of the
// forwarding engine; nothing on the shared engine is pruned or touched by label.
#include <doctest/doctest.h>

#include "deploy_harness.hpp"
#include "fake_engine.hpp"
#include "seed_rows.hpp"

#include <httplib.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using namespace tf::test;

namespace {

constexpr long seeded_row_count = 10000;
constexpr long seeded_projects = 100;
constexpr int api_clients = 200;

std::chrono::seconds load_length() {
  if (const char* s = std::getenv("TINYFORGE_LOAD_SECONDS")) {
    auto n = std::atoi(s);
    if (n > 0 && n <= 3600)
      return std::chrono::seconds{n};
  }
  return 60s;
}

// -- the forwarding engine --------------------------------------------------------------------

std::string lower(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string percent_decoded(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1]))
        && std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i] == '+' ? ' ' : s[i]);
    }
  }
  return out;
}

bool send_all(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    auto n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

int connect_unix(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), std::min(path.size() + 1, sizeof(addr.sun_path)));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

/// A chunked body, de-chunked (what it holds up to a malformed size line).
std::string dechunked(const std::string& body) {
  std::string out;
  size_t at = 0;
  while (at < body.size()) {
    auto eol = body.find("\r\n", at);
    if (eol == std::string::npos)
      break;
    auto size = std::strtoul(body.substr(at, eol - at).c_str(), nullptr, 16);
    if (size == 0)
      break;
    out.append(body, eol + 2, size);
    at = eol + 2 + size + 2;
  }
  return out;
}

/// A Docker engine on a unix socket that passes every request to the real engine (the daemon's
/// client sends one request per connection, Connection: close), except GET /containers/json
/// filtered on the label tinyforge.managed alone (the reconciler's list), whose answer gets
/// `synthetic` (a JSON array's elements, comma-separated) appended.
class forwarding_engine {
public:
  forwarding_engine(std::string path, std::string real_path, std::string synthetic)
    : real_{std::move(real_path)}, synthetic_{std::move(synthetic)} {
    REQUIRE(::pipe2(stop_, O_CLOEXEC) == 0);
    engine_ = std::make_unique<fake_engine>(std::move(path), [this](fake_engine&, int fd) {
      int mine = ::dup(fd);
      if (mine >= 0) {
        std::lock_guard<std::mutex> lock{mx_};
        threads_.emplace_back([this, mine] {
          serve(mine);
          ::close(mine);
        });
      }
      return false; // the engine closes its copy
    });
  }
  forwarding_engine(const forwarding_engine&) = delete;
  forwarding_engine& operator=(const forwarding_engine&) = delete;
  ~forwarding_engine() {
    engine_->stop();
    char x = 'x';
    (void)!::write(stop_[1], &x, 1); // ends the relays still streaming (the event stream)
    std::vector<std::thread> threads;
    {
      std::lock_guard<std::mutex> lock{mx_};
      threads.swap(threads_);
    }
    for (auto& t : threads)
      t.join();
    ::close(stop_[0]);
    ::close(stop_[1]);
  }

  /// How many lists got the synthetic containers.
  int lists_extended() const { return lists_.load(); }

private:
  /// Reads from `fd` into `buf` until `enough(buf)`, EOF, an error or the stop pipe.
  template <class Enough>
  bool read_until(int fd, std::string& buf, Enough enough) {
    char chunk[65536];
    while (!enough(buf)) {
      pollfd fds[2] = {{fd, POLLIN, 0}, {stop_[0], POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR)
          continue;
        return false;
      }
      if (fds[1].revents != 0)
        return false;
      auto n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return false;
      buf.append(chunk, static_cast<size_t>(n));
    }
    return true;
  }

  void serve(int client) {
    std::string request;
    if (!read_until(client, request,
                    [](const std::string& b) { return b.find("\r\n\r\n") != std::string::npos; }))
      return;
    auto head_end = request.find("\r\n\r\n") + 4;
    auto head = lower(request.substr(0, head_end));
    size_t length = 0;
    if (auto at = head.find("\r\ncontent-length:"); at != std::string::npos)
      length = std::strtoul(head.c_str() + at + 17, nullptr, 10);
    if (!read_until(client, request, [&](const std::string& b) { return b.size() >= head_end + length; }))
      return;
    int engine = connect_unix(real_);
    if (engine < 0)
      return;
    auto line = request.substr(0, request.find("\r\n"));
    bool extend = line.rfind("GET ", 0) == 0 && line.find("/containers/json") != std::string::npos
                  && percent_decoded(line).find(R"({"label":["tinyforge.managed"]})")
                       != std::string::npos;
    if (send_all(engine, request)) {
      if (extend)
        answer_extended(client, engine);
      else
        relay(engine, client);
    }
    ::close(engine);
  }

  /// The engine's whole answer, with the synthetic containers added to its array.
  void answer_extended(int client, int engine) {
    std::string answer;
    read_until(engine, answer, [](const std::string&) { return false; }); // to EOF
    auto head_end = answer.find("\r\n\r\n");
    if (head_end == std::string::npos || answer.compare(0, 12, "HTTP/1.1 200") != 0) {
      send_all(client, answer);
      return;
    }
    auto head = lower(answer.substr(0, head_end));
    auto body = answer.substr(head_end + 4);
    if (head.find("transfer-encoding: chunked") != std::string::npos)
      body = dechunked(body);
    while (!body.empty() && std::isspace(static_cast<unsigned char>(body.back())))
      body.pop_back();
    if (body.size() < 2 || body.back() != ']') {
      send_all(client, answer);
      return;
    }
    body.pop_back();
    bool empty = body.find_first_not_of(" \t\r\n[") == std::string::npos;
    body += (empty ? "" : ",") + synthetic_ + "]";
    ++lists_;
    send_all(client, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                       + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
  }

  /// Copies the engine's answer to the client until the engine closes (an event stream: until
  /// the client goes or the test ends).
  void relay(int from, int to) {
    char chunk[65536];
    for (;;) {
      pollfd fds[3] = {{from, POLLIN, 0}, {to, POLLIN, 0}, {stop_[0], POLLIN, 0}};
      if (::poll(fds, 3, -1) < 0) {
        if (errno == EINTR)
          continue;
        return;
      }
      if (fds[2].revents != 0 || fds[1].revents != 0) // stopping, or the client went
        return;
      auto n = ::recv(from, chunk, sizeof chunk, 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0 || !send_all(to, std::string{chunk, static_cast<size_t>(n)}))
        return;
    }
  }

  std::string real_;
  std::string synthetic_;
  int stop_[2] = {-1, -1};
  std::mutex mx_;
  std::vector<std::thread> threads_;
  std::atomic<int> lists_{0};
  std::unique_ptr<fake_engine> engine_; // last: stopped first
};

/// One running container per seeded row, as GET /containers/json lists it: the row's
/// container id and the labels of a project container of its workload (no instance label:
/// never this daemon's to remove).
std::string synthetic_containers(const seeded_rows& seeded) {
  std::string out;
  out.reserve(seeded.containers.size() * 400);
  for (size_t i = 0; i < seeded.containers.size(); ++i) {
    const auto& [workload_id, container_id] = seeded.containers[i];
    if (i > 0)
      out += ',';
    out += R"({"Id":")" + container_id + R"(","Names":["/load-synthetic-)" + std::to_string(i)
           + R"("],"Image":"tinyforge-test/web:v1","ImageID":"sha256:0","Command":"/web",)"
             R"("Created":1700000000,"Ports":[],"Labels":{"tinyforge.managed":"true",)"
             R"("tinyforge.workload.id":")"
           + workload_id
           + R"(","tinyforge.workload.kind":"project","tinyforge.role":"prod"},)"
             R"("State":"running","Status":"Up 1 minute"})";
  }
  return out;
}

// -- the clients' tally ---------------------------------------------------------------------

using steady_clock = std::chrono::steady_clock;

/// Every answer of the load, by operation and status, with the latencies of reads and writes.
class tally {
public:
  void add(const std::string& op, bool write, const http_reply& r, double ms, bool expected) {
    bool busy = r.body.find("SQLITE_BUSY") != std::string::npos
                || r.body.find("database is locked") != std::string::npos;
    std::lock_guard<std::mutex> lock{mx_};
    ++by_op_[{op, r.status}];
    (write ? write_ms_ : read_ms_).push_back(ms);
    if (r.status == 0)
      ++transport_errors_;
    if (r.status >= 500)
      ++server_errors_;
    if (busy)
      ++busy_;
    if (!expected || busy) {
      ++unexpected_;
      if (examples_.size() < 20)
        examples_.push_back(op + " -> " + std::to_string(r.status) + " " + r.error + " "
                            + r.body.substr(0, 300));
    }
  }

  int transport_errors() const { return transport_errors_; }
  int server_errors() const { return server_errors_; }
  int busy() const { return busy_; }
  int unexpected() const { return unexpected_; }
  size_t total() const { return read_ms_.size() + write_ms_.size(); }
  const std::vector<std::string>& examples() const { return examples_; }

  /// The table of statuses and the latency figures.
  std::string report(double seconds) {
    std::string s = "  operation                          status    count\n";
    char line[256];
    for (const auto& [key, n] : by_op_) {
      std::snprintf(line, sizeof line, "  %-34s %6d %8ld\n", key.first.c_str(), key.second, n);
      s += line;
    }
    auto figures = [&](const char* what, std::vector<double>& v) {
      std::sort(v.begin(), v.end());
      auto at = [&](double p) {
        return v.empty() ? 0.0 : v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
      };
      std::snprintf(line, sizeof line,
                    "  %-6s %8zu requests  p50 %7.1f ms  p99 %7.1f ms  max %7.1f ms\n", what,
                    v.size(), at(0.50), at(0.99), v.empty() ? 0.0 : v.back());
      s += line;
    };
    figures("reads", read_ms_);
    figures("writes", write_ms_);
    std::snprintf(line, sizeof line, "  %.0f requests/s over %.1f s\n",
                  static_cast<double>(total()) / seconds, seconds);
    s += line;
    return s;
  }

private:
  std::mutex mx_;
  std::map<std::pair<std::string, int>, long> by_op_;
  std::vector<double> read_ms_, write_ms_;
  int transport_errors_ = 0, server_errors_ = 0, busy_ = 0, unexpected_ = 0;
  std::vector<std::string> examples_;
};

// -- one API client ---------------------------------------------------------------------------

/// One client on its own keep-alive connection: reads most of the time, and writes that walk
/// its own project through create, change, stages, notification URL and delete, and its own
/// API tokens through create and revoke.
class load_client {
public:
  load_client(uint16_t port, const std::string& token, int index,
              const std::vector<std::string>& seeded_project_ids, tally& t)
    : http_{bearer_client(port, token, {10s, 120s, 30s})}, index_{index},
      seeded_{seeded_project_ids}, tally_{t}, rng_{static_cast<unsigned>(index) * 7919u + 17u} {
    http_.set_keep_alive(true);
  }

  void run(steady_clock::time_point until) {
    while (steady_clock::now() < until) {
      if (pick(100) < 70)
        read();
      else
        write();
    }
    if (!project_id_.empty()) // leaves nothing behind
      call("DELETE project", true, "DELETE", "/api/projects/" + project_id_, "", {200, 204});
    for (const auto& id : tokens_)
      call("DELETE token", true, "DELETE", "/api/tokens/" + id, "", {200, 204});
  }

private:
  int pick(int n) { return std::uniform_int_distribution<int>{0, n - 1}(rng_); }

  http_reply call(const std::string& op, bool write, const std::string& method,
                  const std::string& path, const std::string& body, std::vector<int> expected) {
    auto start = steady_clock::now();
    httplib::Result res{nullptr, httplib::Error::Unknown};
    if (method == "GET")
      res = http_.Get(path.c_str());
    else if (method == "POST")
      res = http_.Post(path.c_str(), body, "application/json");
    else if (method == "PATCH")
      res = http_.Patch(path.c_str(), body, "application/json");
    else
      res = http_.Delete(path.c_str());
    auto ms = std::chrono::duration<double, std::milli>(steady_clock::now() - start).count();
    auto r = to_reply(res);
    bool ok = std::find(expected.begin(), expected.end(), r.status) != expected.end();
    tally_.add(op, write, r, ms, ok);
    return r;
  }

  void read() {
    switch (pick(6)) {
    case 0:
    case 1:
      call("GET containers page", false, "GET",
           "/api/containers?limit=50&offset=" + std::to_string(pick(static_cast<int>(seeded_row_count))),
           "", {200});
      break;
    case 2:
      call("GET projects", false, "GET", "/api/projects?offset=" + std::to_string(pick(100)), "", {200});
      break;
    case 3:
      call("GET deployments", false, "GET", "/api/deployments?limit=20", "", {200});
      break;
    case 4:
      call("GET workloads", false, "GET", "/api/workloads?offset=" + std::to_string(pick(100)), "", {200});
      break;
    default:
      call("GET project", false, "GET",
           "/api/projects/" + (project_id_.empty() ? seeded_[static_cast<size_t>(pick(static_cast<int>(seeded_.size())))]
                                                   : project_id_),
           "", {200});
    }
  }

  void write() {
    if (project_id_.empty())
      return create_project();
    switch (pick(8)) {
    case 0: {
      auto r = call("POST token", true, "POST", "/api/tokens",
                    "{\"name\":" + quote("load-" + std::to_string(index_) + "-" + std::to_string(++made_)) + "}",
                    {201});
      auto id = str(json_of(r.body), "id");
      if (r.status == 201 && !id.empty())
        tokens_.push_back(id);
      break;
    }
    case 1:
      if (!tokens_.empty()) {
        call("DELETE token", true, "DELETE", "/api/tokens/" + tokens_.back(), "", {200, 204});
        tokens_.pop_back();
      }
      break;
    case 2:
      call("PATCH project", true, "PATCH", "/api/projects/" + project_id_,
           "{\"image\":\"tinyforge-test/web-" + std::to_string(pick(1000)) + "\"}", {200});
      break;
    case 3:
      if (!has_stage_) {
        auto r = call("POST stage", true, "POST", "/api/projects/" + project_id_ + "/stages",
                      R"({"name":"staging","port":8080,"subdomain":)" + quote(name_ + "-staging") + "}",
                      {201});
        has_stage_ = r.status == 201;
      } else {
        call("PATCH stage", true, "PATCH", "/api/projects/" + project_id_ + "/stages/staging",
             "{\"instances\":" + std::to_string(1 + pick(3)) + "}", {200});
      }
      break;
    case 4:
      if (has_stage_) {
        call("DELETE stage", true, "DELETE", "/api/projects/" + project_id_ + "/stages/staging",
             "", {200, 204});
        has_stage_ = false;
      }
      break;
    case 5:
      call("PATCH workload notification_url", true, "PATCH", "/api/workloads/" + workload_id_,
           pick(2) == 0 ? R"({"notification_url":"http://203.0.113.5:9/hook"})"
                        : R"({"notification_url":null})",
           {200});
      break;
    case 6:
      call("DELETE project", true, "DELETE", "/api/projects/" + project_id_, "", {200, 204});
      project_id_.clear();
      break;
    default:
      call("PATCH stage", true, "PATCH", "/api/projects/" + project_id_ + "/stages/prod",
           "{\"health_path\":\"/up" + std::to_string(pick(10)) + "\"}", {200});
    }
  }

  void create_project() {
    name_ = unique_name("ld", std::to_string(index_) + "-" + std::to_string(++made_));
    auto r = call("POST project", true, "POST", "/api/projects",
                  "{\"name\":" + quote(name_)
                    + R"(,"image":"tinyforge-test/web","stages":[{"name":"prod","port":8080,"subdomain":)"
                    + quote(name_) + "}]}",
                  {201});
    auto doc = json_of(r.body);
    if (r.status == 201) {
      project_id_ = str(doc, "id");
      workload_id_ = str(doc, "workload_id");
      has_stage_ = false;
    }
  }

  httplib::Client http_;
  int index_;
  const std::vector<std::string>& seeded_;
  tally& tally_;
  std::mt19937 rng_;
  std::string name_, project_id_, workload_id_;
  bool has_stage_ = false;
  std::vector<std::string> tokens_;
  int made_ = 0;
};

} // namespace

TEST_CASE("load: 200 API clients read and write for a minute while the reconciler ticks over "
          "10,000 rows and deploys run") {
  temp_dir work;
  auto data_dir = work.file("data");
  auto seeded = seed_rows(data_dir, seeded_row_count, seeded_projects);
  REQUIRE_MESSAGE(seeded, "seed: ", tf::error_message(seeded.error()));
  std::vector<std::string> seeded_ids;
  for (const auto& p : seeded->projects)
    seeded_ids.push_back(p.id);

  auto socket_path = work.file("engine.sock");
  forwarding_engine engine{socket_path, "/var/run/docker.sock", synthetic_containers(*seeded)};

  env_options opts;
  opts.proxy = proxy_kind::none;
  opts.data_dir = data_dir;
  opts.health_deadline_s = 60; // a loaded box starts a container slowly: that is no failure
  opts.extra_flags = {"--docker_host", "unix://" + socket_path};
  deploy_env env{opts};
  auto token = sign_in_token(env.api().port(), "admin", harness_admin_password, "load-test",
                             {10s, 60s, 10s});
  REQUIRE_MESSAGE(token, tf::error_message(token.error()));

  // The project the deploys run on, created before the load.
  auto [made, project] = env.create_project("load-deploys", stage_options{});
  REQUIRE_MESSAGE(project, made.status, " ", made.body);

  tally t;
  auto length = load_length();
  auto start = steady_clock::now();
  auto until = start + length;

  std::vector<deployment_view> deploys;
  std::vector<http_reply> deploy_refusals;
  std::thread deployer{[&] {
    for (int i = 0; steady_clock::now() < until; ++i) {
      auto tag = i % 2 == 0 ? "v1" : "v2";
      auto asked = steady_clock::now();
      auto [r, id] = env.deploy(*project, tag);
      auto ms = std::chrono::duration<double, std::milli>(steady_clock::now() - asked).count();
      bool accepted = (r.status == 202 || r.status == 200) && !id.empty();
      t.add("POST deploy", true, r, ms, accepted);
      if (!accepted) { // the previous deploy has finished: nothing else may refuse it
        deploy_refusals.push_back(r);
        break;
      }
      if (auto d = env.wait_finished(id, 300s))
        deploys.push_back(*d);
    }
  }};
  std::vector<std::unique_ptr<load_client>> clients;
  for (int i = 0; i < api_clients; ++i)
    clients.push_back(std::make_unique<load_client>(env.api().port(), *token, i, seeded_ids, t));
  std::vector<std::thread> threads;
  for (auto& c : clients)
    threads.emplace_back([&c, until] { c->run(until); });
  for (auto& th : threads)
    th.join();
  auto seconds = std::chrono::duration<double>(steady_clock::now() - start).count();
  deployer.join();

  auto log = env.daemon().process().log();
  auto count_lines = [&](const std::string& text) {
    size_t n = 0;
    for (auto at = log.find(text); at != std::string::npos; at = log.find(text, at + 1))
      ++n;
    return n;
  };
  int succeeded = 0;
  std::string failed;
  for (const auto& d : deploys) {
    if (d.status == "succeeded")
      ++succeeded;
    else
      failed += d.describe();
  }
  auto report = t.report(seconds);
  MESSAGE("load over ", api_clients, " clients, ", seeded_row_count, " seeded rows:\n", report,
          "  deploys: ", deploys.size(), " finished, ", succeeded, " succeeded\n",
          "  reconcile runs: ", count_lines("event=reconcile-done"), ", lists with the ",
          seeded_row_count, " synthetic containers: ", engine.lists_extended());

  std::string examples;
  for (const auto& e : t.examples())
    examples += "  " + e + "\n";
  INFO("unexpected answers (first 20):\n", examples);
  CHECK(t.transport_errors() == 0);
  CHECK(t.server_errors() == 0);
  CHECK(t.busy() == 0);
  CHECK(t.unexpected() == 0);
  CHECK(count_lines("SQLITE_BUSY") == 0);
  CHECK(count_lines("database is locked") == 0);
  INFO("deploys that did not succeed:\n", failed, env.logs(40));
  CHECK(failed.empty());
  CHECK(succeeded >= 1);
  CHECK(deploy_refusals.empty());
  // The reconciler really worked over the rows: its list carried the synthetic containers,
  // and the seeded rows are running, none swept to missing.
  CHECK(engine.lists_extended() >= 1);
  auto total_in = [&](const std::string& state) {
    auto r = env.api().get("/api/containers?limit=1&state=" + state);
    REQUIRE_MESSAGE(r.status == 200, r.status, " ", r.body);
    return integer(json_of(r.body), "total");
  };
  CHECK(total_in("running") >= seeded_row_count);
  CHECK(total_in("missing") == 0);
  CHECK(count_lines("notification-dropped") == 0);
}

// Issue 14, item 3: a first boot over 10,000 rows whose containers are gone logged ~9,000
// notification-dropped warnings, one container.missing per row overflowing the notifier's
// queue. What an operator reads now: one line with the count.
TEST_CASE("load: a first boot over 10,000 rows whose containers are gone logs one summary line") {
  temp_dir work;
  auto data_dir = work.file("data");
  auto seeded = seed_rows(data_dir, seeded_row_count, seeded_projects);
  REQUIRE_MESSAGE(seeded, "seed: ", tf::error_message(seeded.error()));

  env_options opts;
  opts.proxy = proxy_kind::none;
  opts.data_dir = data_dir;
  deploy_env env{opts}; // the real engine: none of the seeded containers exists
  auto& daemon = env.daemon().process();
  auto swept = poll_until(120s, [&] {
    return daemon.log().find("event=containers-missing host=local ") != std::string::npos;
  });
  INFO(env.logs(40));
  REQUIRE(swept);
  auto missing = env.api().get("/api/containers?limit=1&state=missing");
  REQUIRE(missing.status == 200);
  CHECK(integer(json_of(missing.body), "total") == seeded_row_count);

  auto log = daemon.log();
  std::vector<std::string> lines;
  for (auto at = log.find("event=containers-missing"); at != std::string::npos;
       at = log.find("event=containers-missing", at + 1))
    lines.push_back(log.substr(at, log.find('\n', at) - at));
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].find("count=" + std::to_string(seeded_row_count) + " workloads="
                      + std::to_string(seeded_projects))
        != std::string::npos);
  CHECK(log.find("notification-dropped") == std::string::npos);
  CHECK(log.find("notifications-dropped") == std::string::npos);
}
