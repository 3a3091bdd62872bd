// tf::docker::client against the real Docker engine on /var/run/docker.sock (no registry, no
// internet: only the tinyforge-test/web images that tests/images/build makes), and against
// test-owned unix-socket servers for what a real engine does not do on demand: never answer
// (cancellation, timeouts), speak an older API version, fail an event stream or a pull.
//
// Isolation: every container and network this file creates carries tinyforge.test=true and
// this process's tinyforge.test.run=<random>, has a unique name, and is force-removed by a guard
// even when the test fails.
//
// Every wait is on an event (a future, a condition) with a generous bound that only turns a
// hang into a failure. The one retry loop is the first HTTP GET to a new container: nothing
// tells when busybox httpd is listening. Latencies are printed with MESSAGE, not asserted,
// except that "at once" (nothing listens) and a 300 ms timeout must come well below the
// 5 s connect timeout and the 5 s ping cap they would otherwise hit.
#include <doctest/doctest.h>

#include "core/errors.hpp"
#include "docker/client.hpp"
#include "docker/parse.hpp"
#include "docker/transport.hpp"
#include "docker/types.hpp"
#include "docker_fixtures.hpp"
#include "expect.hpp"
#include "fake_engine.hpp"
#include "helpers.hpp"
#include "net.hpp"

#include <httplib.h>
#include <rapidjson/document.h>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using namespace tf::test;
namespace docker = tf::docker;

namespace {

using clock_type = std::chrono::steady_clock;

constexpr const char* web_v1 = "tinyforge-test/web:v1";
/// How long any one wait may take before the test fails instead of hanging.
constexpr auto bound = 30s;

/// A container or network name no other test (in this run or another) uses.
std::string unique_name(const std::string& what) {
  return tf::test::unique_name("tf-dc", what);
}

// -- errors -------------------------------------------------------------------------------

#define REQUIRE_OK(expr)                                                                       \
  do {                                                                                         \
    auto require_ok_err = (expr);                                                              \
    REQUIRE_MESSAGE(!require_ok_err, #expr ": ", describe(require_ok_err));                    \
  } while (false)

#define CHECK_OK(expr)                                                                         \
  do {                                                                                         \
    auto check_ok_err = (expr);                                                                \
    CHECK_MESSAGE(!check_ok_err, #expr ": ", describe(check_ok_err));                          \
  } while (false)

#define REQUIRE_VALUE(x) REQUIRE_MESSAGE(static_cast<bool>(x), #x ": ", describe(x))

/// The error of `x` (which must not hold a value).
template <class T>
caf::error error_of(const caf::expected<T>& x) {
  return x ? caf::error{} : x.error();
}

// -- clients --------------------------------------------------------------------------------

docker::endpoint endpoint_of(const std::string& host) {
  auto ep = docker::endpoint::parse(host);
  REQUIRE_VALUE(ep);
  return *ep;
}

std::unique_ptr<docker::client> make_client(docker::cancel_token cancel = docker::make_cancel_token(),
                                            docker::client_options opts = {}) {
  return std::make_unique<docker::client>(endpoint_of(engine_host), std::move(cancel), opts);
}

/// A client of a test-owned server on the unix socket `path`.
std::unique_ptr<docker::client> client_at(const std::string& path, docker::cancel_token cancel,
                                          docker::client_options opts = {}) {
  return std::make_unique<docker::client>(endpoint_of("unix://" + path), std::move(cancel), opts);
}

/// GET of a versioned Engine API path through the transport itself (what the client does not
/// expose), as a JSON document.
rapidjson::Document raw_get(const std::string& path) {
  docker::transport http{endpoint_of(engine_host), docker::make_cancel_token()};
  auto res = http.call("GET", "/v1.41" + path, "", 30s);
  REQUIRE_VALUE(res);
  INFO("body: ", res->body.substr(0, 300));
  REQUIRE(res->status == 200);
  rapidjson::Document doc;
  doc.Parse(res->body.data(), res->body.size());
  REQUIRE_FALSE(doc.HasParseError());
  return doc;
}

// -- guards: what a test creates goes away even when it fails --------------------------------

/// Removes a network. The client has no remove_network: DELETE /networks/{name} through the
/// transport.
void remove_network_now(const docker::endpoint& ep, const std::string& name) {
  docker::transport http{ep, docker::make_cancel_token()};
  auto res = http.call("DELETE", "/v1.41/networks/" + docker::url_encode(name), "", 30s);
  if (!res)
    warn_cleanup("remove network " + name, res.error());
  else if (res->status != 204 && res->status != 404)
    std::fprintf(stderr, "test cleanup: remove network %s: %ld %s\n", name.c_str(), res->status,
                 res->body.c_str());
}

/// Removes an image reference (a tag, not forced).
void remove_image_tag_now(const docker::endpoint& ep, const std::string& ref) {
  docker::client c{ep, docker::make_cancel_token()};
  warn_cleanup("remove image " + ref, c.remove_image(ref, false));
}

/// Removes the network named `name` when the test ends.
struct network_guard : engine_guard {
  explicit network_guard(std::string name) : engine_guard{remove_network_now, {std::move(name)}} {}
};

/// Removes the image reference `ref` (a tag) when the test ends.
struct image_tag_guard : engine_guard {
  explicit image_tag_guard(std::string ref)
    : engine_guard{remove_image_tag_now, {std::move(ref)}} {}
};

/// A container spec of tinyforge-test/web:v1 named `name`, with the test labels.
docker::container_spec web_spec(const std::string& name) {
  docker::container_spec spec;
  spec.name = name;
  spec.image = web_v1;
  spec.labels = test_labels();
  return spec;
}

/// Creates and starts a web container; replies its id.
std::string start_web(docker::client& c, const container_guard& guard) {
  auto id = c.create_container(web_spec(guard.name()));
  REQUIRE_VALUE(id);
  REQUIRE_OK(c.start_container(*id));
  return *id;
}

/// GET http://127.0.0.1:<port><path>, retried while the container is not listening yet.
std::optional<std::string> http_get_when_up(int port, const std::string& path,
                                            std::chrono::milliseconds within, int& attempts) {
  httplib::Client cli{"127.0.0.1", port};
  cli.set_connection_timeout(2s);
  cli.set_read_timeout(5s);
  auto deadline = clock_type::now() + within;
  attempts = 0;
  for (;;) {
    ++attempts;
    // Before httpd listens, the connection is refused or (through docker-proxy) accepted and
    // closed at once: both show as an error here.
    if (auto res = cli.Get(path.c_str()); res && res->status == 200)
      return res->body;
    if (clock_type::now() >= deadline)
      return std::nullopt;
    std::this_thread::sleep_for(20ms); // no event says "httpd is listening"
  }
}

// -- a test-owned server on a unix socket ----------------------------------------------------

struct fake_request {
  std::string method;
  std::string target;
};

/// What to answer a request: the raw HTTP response, or nullopt to hold the connection open and
/// never answer.
using responder = std::function<std::optional<std::string>(const fake_request&)>;

std::string http_response(int status, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(status) + " Status\r\nContent-Type: application/json\r\n"
         + "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n"
         + body;
}

std::string version_body(const std::string& api) {
  return R"({"Version":"fake","ApiVersion":")" + api
         + R"(","MinAPIVersion":"1.12","Os":"linux","Arch":"amd64"})" + "\n";
}

/// Reads more of a request from `fd` into `data`; false when the client went away or the
/// engine stops first.
bool read_more(fake_engine& engine, int fd, std::string& data) {
  if (!engine.wait_ready(fd, POLLIN))
    return false;
  char buf[4096];
  auto n = ::recv(fd, buf, sizeof buf, 0);
  if (n <= 0)
    return false;
  data.append(buf, static_cast<size_t>(n));
  return true;
}

/// Reads one request (head and body) from `fd`: its method and target.
std::optional<fake_request> read_request(fake_engine& engine, int fd) {
  std::string data;
  size_t end = std::string::npos;
  while ((end = data.find("\r\n\r\n")) == std::string::npos)
    if (!read_more(engine, fd, data))
      return std::nullopt;
  // Read the body too, so that the client sees its request consumed.
  size_t length = 0;
  std::string lower;
  for (char c : data.substr(0, end))
    lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (auto at = lower.find("\r\ncontent-length:"); at != std::string::npos)
    length = std::strtoull(lower.c_str() + at + 17, nullptr, 10);
  while (data.size() < end + 4 + length)
    if (!read_more(engine, fd, data))
      return std::nullopt;
  fake_request req;
  auto sp1 = data.find(' ');
  auto sp2 = data.find(' ', sp1 + 1);
  if (sp1 == std::string::npos || sp2 == std::string::npos)
    return std::nullopt;
  req.method = data.substr(0, sp1);
  req.target = data.substr(sp1 + 1, sp2 - sp1 - 1);
  return req;
}

/// Sends all of `bytes` unless the client goes away (it may stop reading on purpose) or the
/// engine stops first.
void send_answer(fake_engine& engine, int fd, const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    if (!engine.wait_ready(fd, POLLOUT))
      return;
    auto n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0)
      return;
    sent += static_cast<size_t>(n);
  }
}

/// The fake engine of fake_engine.hpp, reading one request from each connection and answering
/// what the responder says (Connection: close), or holding the connection.
class scripted_engine {
public:
  scripted_engine(std::string path, responder respond)
    : respond_{std::move(respond)}, first_{first_promise_.get_future()},
      engine_{std::move(path), [this](fake_engine& e, int fd) { return serve(e, fd); }} {}

  /// Ready once the first request has been read whole.
  std::shared_future<void> first_request() const { return first_; }

  std::vector<fake_request> requests() const {
    std::lock_guard<std::mutex> lock{mutex_};
    return requests_;
  }

private:
  /// On the engine's thread: true to hold the connection (accepted, read, never answered).
  bool serve(fake_engine& engine, int fd) {
    auto req = read_request(engine, fd);
    if (!req)
      return false;
    {
      std::lock_guard<std::mutex> lock{mutex_};
      requests_.push_back(*req);
    }
    if (!first_set_) {
      first_set_ = true;
      first_promise_.set_value();
    }
    auto answer = respond_(*req);
    if (!answer)
      return true;
    send_answer(engine, fd, *answer);
    return false;
  }

  responder respond_;
  std::promise<void> first_promise_;
  std::shared_future<void> first_;
  bool first_set_ = false;
  mutable std::mutex mutex_;
  std::vector<fake_request> requests_;
  fake_engine engine_; // last: its thread stops before the members it uses go
};

/// Holds every connection and never answers.
std::optional<std::string> never_answer(const fake_request&) {
  return std::nullopt;
}

/// An engine of API version `api`: answers /version with that and every other request with
/// `answer`.
/// A ping's answer as dockerd gives it: "OK", the API version in a header when `api` is set.
std::string ping_response(const std::string& api) {
  std::string head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n";
  if (!api.empty())
    head += "Api-Version: " + api + "\r\n";
  return head + "Content-Length: 2\r\nConnection: close\r\n\r\nOK";
}

/// An engine speaking `api` (named by its ping as dockerd does unless `ping_api` says
/// otherwise: "" for a ping without the header) that answers everything else with `answer`.
responder engine_answering(const std::string& api, std::string answer,
                           std::optional<std::string> ping_api = std::nullopt) {
  return [version = http_response(200, version_body(api)), ping = ping_response(ping_api.value_or(api)),
          answer = std::move(answer)](const fake_request& r) -> std::optional<std::string> {
    if (r.target == "/version")
      return version;
    if (r.target == "/_ping")
      return ping;
    return answer;
  };
}

/// Runs `f` on its own thread; its result arrives on a future, so that a call that does not
/// return fails the test instead of hanging it.
template <class T>
class background_call {
public:
  explicit background_call(std::function<T()> f) {
    auto promise = std::make_shared<std::promise<T>>();
    result_ = promise->get_future();
    thread_ = std::thread{[promise, f = std::move(f)] { promise->set_value(f()); }};
  }
  background_call(const background_call&) = delete;
  background_call& operator=(const background_call&) = delete;
  ~background_call() {
    if (thread_.joinable())
      thread_.join();
  }
  /// The result within `within`, or nullopt (the thread is then still blocked in the call).
  std::optional<T> get(std::chrono::milliseconds within) {
    if (result_.wait_for(within) != std::future_status::ready)
      return std::nullopt;
    thread_.join();
    return result_.get();
  }

private:
  std::future<T> result_;
  std::thread thread_;
};

/// Starts `call` on a client (60 s timeout) of an engine on `path` that never answers, sets
/// the client's cancel token once the engine has read the call's first request, and checks
/// that the call then returns unavailable, "cancelled". The requests the engine read.
std::vector<fake_request> check_cancelled(const std::string& path, const std::string& what,
                                          const std::function<caf::error(docker::client&)>& call) {
  scripted_engine server{path, never_answer};
  auto cancel = docker::make_cancel_token();
  docker::client_options opts;
  opts.timeout = 60s;
  auto c = client_at(path, cancel, opts);
  background_call<caf::error> pending{[&] { return call(*c); }};
  REQUIRE(server.first_request().wait_for(bound) == std::future_status::ready);
  auto t_cancel = clock_type::now();
  cancel->cancel();
  auto err = pending.get(bound);
  REQUIRE_MESSAGE(err.has_value(), what, " did not return after cancel");
  MESSAGE(what, " returned ", ms_since(t_cancel), " ms after cancel: ", describe(*err));
  CHECK(tf::error_code(*err) == tf::ec::unavailable);
  CHECK(tf::error_message(*err).find("cancelled") != std::string::npos);
  return server.requests();
}

} // namespace

// --- the engine ------------------------------------------------------------------------------

TEST_CASE("engine: ping and version negotiation") {
  auto c = make_client();
  CHECK(c->api_version().empty());
  REQUIRE_OK(c->ping());
  auto v = c->version();
  REQUIRE_VALUE(v);
  CHECK_FALSE(v->version.empty());
  CHECK(v->api_version == "1.41");
  CHECK_FALSE(v->min_api_version.empty());
  CHECK(v->os == "linux");
  CHECK(c->api_version() == "1.41");
  MESSAGE("engine ", v->version, ", API ", v->api_version, " (min ", v->min_api_version, ")");
}

TEST_CASE("engine: a first versioned call negotiates by itself") {
  auto c = make_client();
  auto list = c->list_containers({{"label", {run_label()}}});
  REQUIRE_VALUE(list);
  CHECK(c->api_version() == "1.41");
}

// --- containers --------------------------------------------------------------------------------

TEST_CASE("container lifecycle: create then start then inspect then HTTP then list then logs then stop then remove") {
  auto c = make_client();
  container_guard guard{unique_name("web")};
  auto spec = web_spec(guard.name());
  spec.labels["tinyforge.test.case"] = "lifecycle";
  spec.env = {"GREETING=hello world", "TF_RUN=" + run_id()};
  spec.container_port = 8080;
  spec.host_ip = "127.0.0.1";
  spec.host_port = 0; // Docker picks
  spec.memory_bytes = 64 * 1024 * 1024;
  spec.restart_policy = "unless-stopped";

  auto id = c->create_container(spec);
  REQUIRE_VALUE(id);
  CHECK(id->size() == 64);
  REQUIRE_OK(c->start_container(*id));

  // Inspect: running, with our labels, env and the published port.
  auto d = c->inspect_container(*id);
  REQUIRE_VALUE(d);
  CHECK(d->id == *id);
  CHECK(d->name == guard.name());
  CHECK(d->image == web_v1);
  CHECK(d->image_id.rfind("sha256:", 0) == 0);
  CHECK(d->state == "running");
  CHECK(d->running);
  CHECK(d->restart_count == 0);
  CHECK_FALSE(d->started_at.empty());
  CHECK(d->labels.at("tinyforge.test") == "true");
  CHECK(d->labels.at("tinyforge.test.run") == run_id());
  CHECK(d->labels.at("tinyforge.test.case") == "lifecycle");
  CHECK(d->labels.at("tinyforge.test.variant") == "v1"); // the image's own label
  CHECK(std::count(d->env.begin(), d->env.end(), "GREETING=hello world") == 1);
  CHECK(std::count(d->env.begin(), d->env.end(), "TF_RUN=" + run_id()) == 1);
  int port = 0;
  for (const auto& p : d->ports)
    if (p.private_port == 8080 && p.type == "tcp" && p.ip == "127.0.0.1")
      port = static_cast<int>(p.public_port);
  INFO("ports: ", d->ports.size());
  REQUIRE(port > 0);
  CHECK(d->ports.size() == 1); // only 127.0.0.1: no 0.0.0.0 or :: binding

  // What the client sent that inspect_container does not parse: memory and restart policy.
  auto raw = raw_get("/containers/" + *id + "/json");
  REQUIRE(raw.IsObject());
  const auto& host = raw["HostConfig"];
  CHECK(host["Memory"].GetInt64() == 64 * 1024 * 1024);
  CHECK(std::string{host["RestartPolicy"]["Name"].GetString()} == "unless-stopped");
  CHECK(std::string{host["PortBindings"]["8080/tcp"][0]["HostIp"].GetString()} == "127.0.0.1");

  // The container answers on the published port.
  auto t_http = clock_type::now();
  int attempts = 0;
  auto body = http_get_when_up(port, "/version", 10s, attempts);
  REQUIRE_MESSAGE(body.has_value(), "no answer on 127.0.0.1:", port, " after ", attempts, " tries");
  CHECK(*body == "v1");
  MESSAGE("GET 127.0.0.1:", port, "/version answered after ", ms_since(t_http), " ms (",
          attempts, " attempts)");

  // Listed under this run's label, exactly once, with the port.
  auto list = c->list_containers({{"label", {run_label()}}});
  REQUIRE_VALUE(list);
  REQUIRE(list->size() == 1);
  const auto& s = list->front();
  CHECK(s.id == *id);
  CHECK(s.names == std::vector<std::string>{"/" + guard.name()});
  CHECK(s.image == web_v1);
  CHECK(s.image_id == d->image_id);
  CHECK(s.state == "running");
  CHECK(s.labels.at("tinyforge.test.run") == run_id());
  REQUIRE(s.ports.size() == 1);
  CHECK(s.ports[0].private_port == 8080);
  CHECK(s.ports[0].public_port == port);
  CHECK(s.ports[0].ip == "127.0.0.1");
  CHECK(s.ports[0].type == "tcp");
  // Only running ones (all=false) still finds it; a status filter too.
  auto running = c->list_containers({{"label", {run_label()}}, {"status", {"running"}}}, false);
  REQUIRE_VALUE(running);
  CHECK(running->size() == 1);

  // Logs: busybox httpd logs next to nothing; the call works on a running container.
  auto logs = c->container_logs(*id, 100);
  REQUIRE_VALUE(logs);
  MESSAGE("logs: ", logs->size(), " bytes");

  // Stop (the image's shell exits on SIGTERM at once), then it is not running.
  auto t_stop = clock_type::now();
  REQUIRE_OK(c->stop_container(*id, 5s));
  MESSAGE("stop_container took ", ms_since(t_stop), " ms");
  auto stopped = c->inspect_container(*id);
  REQUIRE_VALUE(stopped);
  CHECK_FALSE(stopped->running);
  CHECK(stopped->state == "exited");
  CHECK_FALSE(stopped->finished_at.empty());
  auto exited = c->list_containers({{"label", {run_label()}}}, false);
  REQUIRE_VALUE(exited);
  CHECK(exited->empty());
  auto logs_after = c->container_logs(*id, 10);
  CHECK_MESSAGE(static_cast<bool>(logs_after), describe(logs_after));

  // Remove (not forced: it is stopped), then inspect says not_found.
  REQUIRE_OK(c->remove_container(*id, false));
  auto gone = c->inspect_container(*id);
  REQUIRE_FALSE(gone);
  CHECK(tf::error_code(gone.error()) == tf::ec::not_found);
  auto none = c->list_containers({{"label", {run_label()}}});
  REQUIRE_VALUE(none);
  CHECK(none->empty());
}

TEST_CASE("containers: kill and a forced remove of a running container") {
  auto c = make_client();
  container_guard guard{unique_name("kill")};
  auto id = start_web(*c, guard);
  REQUIRE_OK(c->kill_container(id, "KILL"));
  auto killed = c->inspect_container(id);
  REQUIRE_VALUE(killed);
  CHECK_FALSE(killed->running);
  CHECK(killed->exit_code == 137);

  container_guard guard2{unique_name("forced")};
  auto id2 = start_web(*c, guard2);
  auto refused = c->remove_container(id2, false);
  CHECK(tf::error_code(refused) == tf::ec::conflict); // running: 409 without force
  REQUIRE_OK(c->remove_container(id2, true));
  auto gone = c->inspect_container(id2);
  CHECK(tf::error_code(error_of(gone)) == tf::ec::not_found);
}

// The engine answers 304 Not Modified to a stop of a stopped container and to a start of a
// running one. The caller wanted that state, so neither is an error (issue 11, item 7: a
// deploy logged the 304 of an already-stopped container as a failure).
TEST_CASE("containers: stop of a stopped container and start of a running one succeed (304)") {
  auto c = make_client();
  container_guard guard{unique_name("again")};
  auto id = start_web(*c, guard);
  CHECK_OK(c->start_container(id)); // already running
  auto running = c->inspect_container(id);
  REQUIRE_VALUE(running);
  CHECK(running->running);

  REQUIRE_OK(c->stop_container(id, 5s));
  CHECK_OK(c->stop_container(id, 5s)); // already stopped
  auto stopped = c->inspect_container(id);
  REQUIRE_VALUE(stopped);
  CHECK_FALSE(stopped->running);
  CHECK(stopped->state == "exited");

  // A container that does not exist is still an error.
  auto gone = c->stop_container("tinyforge-test-no-such-container", 1s);
  CHECK(tf::error_code(gone) == tf::ec::not_found);
}

TEST_CASE("container errors: unknown id / missing image / removed container / duplicate name") {
  auto c = make_client();

  SUBCASE("inspect of an unknown id is not_found with the engine's message") {
    auto unknown = "tf-dc-no-such-" + run_id();
    check_failed(c->inspect_container(unknown), tf::ec::not_found, "No such container: " + unknown);
    CHECK(tf::error_code(c->remove_container(unknown, true)) == tf::ec::not_found);
    CHECK(tf::error_code(c->stop_container(unknown, 1s)) == tf::ec::not_found);
    CHECK(tf::error_code(c->kill_container(unknown)) == tf::ec::not_found);
    CHECK(tf::error_code(error_of(c->container_logs(unknown, 10))) == tf::ec::not_found);
  }

  SUBCASE("create from an image that does not exist is not_found") {
    container_guard guard{unique_name("noimage")};
    auto spec = web_spec(guard.name());
    spec.image = "tinyforge-test/nonexistent:v9";
    check_failed(c->create_container(spec), tf::ec::not_found, "No such image");
  }

  SUBCASE("start of a removed container is not_found") {
    container_guard guard{unique_name("removed")};
    auto id = c->create_container(web_spec(guard.name()));
    REQUIRE_VALUE(id);
    REQUIRE_OK(c->remove_container(*id, false));
    auto err = c->start_container(*id);
    CHECK(tf::error_code(err) == tf::ec::not_found);
    CHECK(tf::error_message(err).find(*id) != std::string::npos);
  }

  SUBCASE("two containers with the same name: conflict") {
    container_guard guard{unique_name("twice")};
    auto first = c->create_container(web_spec(guard.name()));
    REQUIRE_VALUE(first);
    check_failed(c->create_container(web_spec(guard.name())), tf::ec::conflict,
                 "is already in use");
  }

  SUBCASE("an invalid name is invalid_argument") {
    auto spec = web_spec("bad name " + run_id());
    auto id = c->create_container(spec);
    REQUIRE_FALSE(id);
    CHECK(tf::error_code(id.error()) == tf::ec::invalid_argument);
  }

  SUBCASE("kill of a container that is not running is a conflict") {
    container_guard guard{unique_name("created")};
    auto id = c->create_container(web_spec(guard.name()));
    REQUIRE_VALUE(id);
    CHECK(tf::error_code(c->kill_container(*id)) == tf::ec::conflict);
  }
}

// --- images ------------------------------------------------------------------------------------

TEST_CASE("images: list and inspect the test image") {
  auto c = make_client();
  auto all = c->list_images({});
  REQUIRE_VALUE(all);
  auto v1 = std::find_if(all->begin(), all->end(), [](const docker::image_summary& i) {
    return std::count(i.repo_tags.begin(), i.repo_tags.end(), web_v1) == 1;
  });
  REQUIRE_MESSAGE(v1 != all->end(), web_v1, " is missing: run tests/images/build");
  CHECK(v1->id.rfind("sha256:", 0) == 0);
  CHECK(v1->size > 0);
  CHECK(v1->created > 0);
  CHECK(v1->labels.at("tinyforge.test.variant") == "v1");

  auto filtered = c->list_images({{"reference", {web_v1}}});
  REQUIRE_VALUE(filtered);
  REQUIRE(filtered->size() == 1);
  CHECK(filtered->front().id == v1->id);

  auto img = c->inspect_image(web_v1);
  REQUIRE_VALUE(img);
  CHECK(img->id == v1->id);
  CHECK(std::count(img->repo_tags.begin(), img->repo_tags.end(), web_v1) == 1);
  CHECK(img->labels.at("tinyforge.test") == "true");
  CHECK(img->labels.at("tinyforge.test.variant") == "v1");
  // By id as well.
  auto by_id = c->inspect_image(v1->id);
  REQUIRE_VALUE(by_id);
  CHECK(by_id->id == v1->id);

  auto missing = c->inspect_image("tinyforge-test/nonexistent:v9");
  REQUIRE_FALSE(missing);
  CHECK(tf::error_code(missing.error()) == tf::ec::not_found);
}

TEST_CASE("images: a pull without a registry fails fast with the engine's message") {
  docker::client_options opts;
  opts.pull_timeout = 60s;
  auto c = make_client(docker::make_cancel_token(), opts);
  std::vector<std::string> progress;
  auto t0 = clock_type::now();
  auto err = c->pull_image("tinyforge-test/nonexistent", "v9",
                           [&](const std::string& line) { progress.push_back(line); });
  auto took = ms_since(t0);
  REQUIRE(err);
  auto msg = tf::error_message(err);
  MESSAGE("pull failed after ", took, " ms as ", describe(err));
  CHECK(tf::error_code(err) != tf::ec::timeout);
  const std::string prefix = "docker: pull tinyforge-test/nonexistent:v9: ";
  REQUIRE(msg.rfind(prefix, 0) == 0);
  // More than our prefix and a status: the engine said why (no such host, access denied...).
  auto rest = msg.substr(prefix.size());
  CHECK(rest.size() > 4);
  CHECK(rest.find("{\"message\"") == std::string::npos);
}

TEST_CASE("images: remove a throwaway tag and an unknown image (not_found)") {
  auto c = make_client();
  auto repo = "tinyforge-test/tmp-" + run_id();
  auto ref = repo + ":v1";
  image_tag_guard guard{ref};
  // The client cannot tag: the CLI does it, in setup only.
  auto cmd = std::string{"docker tag "} + web_v1 + " " + ref;
  REQUIRE(std::system(cmd.c_str()) == 0);
  auto tagged = c->inspect_image(ref);
  REQUIRE_VALUE(tagged);
  auto original = c->inspect_image(web_v1);
  REQUIRE_VALUE(original);
  CHECK(tagged->id == original->id);

  REQUIRE_OK(c->remove_image(ref, false)); // untags: web:v1 keeps the image
  auto gone = c->inspect_image(ref);
  CHECK(tf::error_code(error_of(gone)) == tf::ec::not_found);
  auto still = c->inspect_image(web_v1);
  REQUIRE_VALUE(still);
  CHECK(still->id == original->id);

  auto unknown = c->remove_image("tinyforge-test/nonexistent:v9", false);
  CHECK(tf::error_code(unknown) == tf::ec::not_found);
  CHECK(tf::error_message(unknown).find("nonexistent") != std::string::npos);
}

// --- networks ----------------------------------------------------------------------------------

TEST_CASE("networks: create then list by name then connect a container / duplicate name") {
  auto c = make_client();
  auto name = unique_name("net");
  network_guard net_guard{name}; // declared first: removed after the container
  auto labels = test_labels();
  labels["tinyforge.test.case"] = "network";
  auto net_id = c->create_network(name, labels);
  REQUIRE_VALUE(net_id);
  CHECK(net_id->size() == 64);

  auto again = c->create_network(name, labels);
  REQUIRE_FALSE(again);
  CHECK(tf::error_code(again.error()) == tf::ec::conflict);

  auto list = c->list_networks({{"name", {name}}});
  REQUIRE_VALUE(list);
  REQUIRE(list->size() == 1);
  const auto& n = list->front();
  CHECK(n.id == *net_id);
  CHECK(n.name == name);
  CHECK(n.driver == "bridge");
  CHECK(n.labels == labels);
  auto by_label = c->list_networks({{"label", {run_label()}}});
  REQUIRE_VALUE(by_label);
  CHECK(by_label->size() == 1);

  container_guard guard{unique_name("netweb")};
  auto cid = start_web(*c, guard);
  REQUIRE_OK(c->connect_network(*net_id, cid));
  auto raw = raw_get("/containers/" + cid + "/json");
  const auto& networks = raw["NetworkSettings"]["Networks"];
  REQUIRE(networks.IsObject());
  REQUIRE(networks.HasMember(name.c_str()));
  CHECK(std::string{networks[name.c_str()]["NetworkID"].GetString()} == *net_id);

  auto twice = c->connect_network(*net_id, cid);
  CHECK(twice); // already connected: the engine refuses (403 on 20.10)
  auto unknown = c->connect_network("tf-dc-no-such-net-" + run_id(), cid);
  CHECK(tf::error_code(unknown) == tf::ec::not_found);
}

// --- events ------------------------------------------------------------------------------------

namespace {

/// What the watcher thread shares with the test; owned jointly so that a watcher that never
/// returns can be left behind without dangling references.
struct watcher_state {
  std::unique_ptr<docker::client> client;
  docker::cancel_token cancel = docker::make_cancel_token();
  std::promise<void> connected;
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::pair<docker::engine_event, clock_type::time_point>> events;
  std::promise<std::pair<caf::error, clock_type::time_point>> done;
};

} // namespace

TEST_CASE("events: watch_events sees a labelled container start and returns on cancel") {
  auto st = std::make_shared<watcher_state>();
  st->client = make_client(st->cancel);
  docker::filters f{{"label", {run_label()}}, {"type", {"container"}}};
  auto connected = st->connected.get_future();
  auto done = st->done.get_future();
  std::thread watcher{[st, f] {
    bool signalled = false;
    auto err = st->client->watch_events(
      f,
      [&] {
        if (!signalled) {
          signalled = true;
          st->connected.set_value();
        }
      },
      [st](const docker::engine_event& e) {
        std::lock_guard<std::mutex> lock{st->mutex};
        st->events.emplace_back(e, clock_type::now());
        st->changed.notify_all();
        return true;
      });
    st->done.set_value({err, clock_type::now()});
  }};
  struct joiner {
    std::thread& t;
    std::shared_ptr<watcher_state> st;
    std::future<std::pair<caf::error, clock_type::time_point>>& done;
    ~joiner() {
      if (!t.joinable())
        return;
      st->cancel->cancel();
      if (done.wait_for(bound) == std::future_status::ready)
        t.join();
      else
        t.detach(); // already failed; the state outlives the thread
    }
  } join_on_exit{watcher, st, done};

  REQUIRE_MESSAGE(connected.wait_for(bound) == std::future_status::ready,
                  "the event stream did not come up");

  auto c = make_client();
  container_guard guard{unique_name("events")};
  auto id = c->create_container(web_spec(guard.name()));
  REQUIRE_VALUE(id);
  auto t_start = clock_type::now();
  REQUIRE_OK(c->start_container(*id));
  auto t_started = clock_type::now();

  std::optional<std::pair<docker::engine_event, clock_type::time_point>> start_event;
  {
    std::unique_lock<std::mutex> lock{st->mutex};
    st->changed.wait_for(lock, bound, [&] {
      for (const auto& e : st->events)
        if (e.first.action == "start" && e.first.id == *id) {
          start_event = e;
          return true;
        }
      return false;
    });
  }
  REQUIRE_MESSAGE(start_event.has_value(), "no start event for ", *id);
  const auto& e = start_event->first;
  CHECK(e.type == "container");
  CHECK(e.attributes.at("name") == guard.name());
  CHECK(e.attributes.at("image") == web_v1);
  CHECK(e.attributes.at("tinyforge.test.run") == run_id());
  CHECK(e.time_nano > 0);
  {
    std::lock_guard<std::mutex> lock{st->mutex};
    bool created = false;
    for (const auto& [ev, at] : st->events) {
      CHECK(ev.attributes.at("tinyforge.test.run") == run_id()); // the filter held
      created = created || (ev.action == "create" && ev.id == *id);
    }
    CHECK(created);
  }
  auto us = [](auto d) {
    return static_cast<long long>(std::chrono::duration_cast<std::chrono::microseconds>(d).count());
  };
  MESSAGE("start event: ", us(start_event->second - t_start), " us after start_container was called, ",
          us(start_event->second - t_started), " us after it returned");

  auto t_cancel = clock_type::now();
  st->cancel->cancel();
  REQUIRE_MESSAGE(done.wait_for(bound) == std::future_status::ready,
                  "watch_events did not return after cancel");
  watcher.join();
  auto [err, returned_at] = done.get();
  MESSAGE("watch_events returned ", us(returned_at - t_cancel), " us after cancel");
  REQUIRE(err);
  CHECK(tf::error_code(err) == tf::ec::unavailable);
  CHECK(tf::error_message(err).find("cancelled") != std::string::npos);
}

// --- cancellation, unreachable engines, timeouts -----------------------------------------------

TEST_CASE("cancel: a call to an engine that never answers returns unavailable") {
  tf::test::temp_dir dir;

  SUBCASE("list_containers (negotiating first) with a 60 s timeout") {
    auto reqs = check_cancelled(dir.file("engine.sock"), "list_containers", [](docker::client& c) {
      return error_of(c.list_containers({}));
    });
    REQUIRE(reqs.size() == 1);
    CHECK(reqs[0].target == "/_ping");
  }

  SUBCASE("ping") {
    // Not ec::timeout: ping's own 5 s cap must not be what ended it.
    check_cancelled(dir.file("engine.sock"), "ping", [](docker::client& c) { return c.ping(); });
  }

  SUBCASE("a token set before the call: refused without connecting") {
    scripted_engine server{dir.file("engine.sock"), never_answer};
    auto cancel = docker::make_cancel_token();
    cancel->cancel();
    auto c = client_at(dir.file("engine.sock"), cancel);
    auto err = c->ping();
    CHECK(tf::error_code(err) == tf::ec::unavailable);
    auto list = c->list_containers({});
    CHECK(tf::error_code(error_of(list)) == tf::ec::unavailable);
    CHECK(server.requests().empty());
  }
}

TEST_CASE("unreachable: nothing listens on the socket path") {
  tf::test::temp_dir dir;
  SUBCASE("no such file") {
    auto c = client_at(dir.file("absent.sock"), docker::make_cancel_token());
    auto t0 = clock_type::now();
    auto err = c->ping();
    auto took = ms_since(t0);
    MESSAGE("ping to a missing socket: ", took, " ms, ", describe(err));
    CHECK(tf::error_code(err) == tf::ec::unavailable);
    CHECK(tf::error_message(err).find(dir.file("absent.sock")) != std::string::npos);
    CHECK(took < 4000); // at once: not the 5 s connect timeout
    auto list = c->list_containers({});
    CHECK(tf::error_code(error_of(list)) == tf::ec::unavailable);
  }
  SUBCASE("a socket file whose server is gone (connection refused)") {
    auto path = dir.file("stale.sock");
    {
      int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
      REQUIRE(fd >= 0);
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
      REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
      ::close(fd); // the file stays, nobody listens
    }
    auto c = client_at(path, docker::make_cancel_token());
    auto t0 = clock_type::now();
    auto err = c->ping();
    auto took = ms_since(t0);
    MESSAGE("ping to a stale socket: ", took, " ms, ", describe(err));
    CHECK(tf::error_code(err) == tf::ec::unavailable);
    CHECK(took < 4000);
  }
}

TEST_CASE("timeout: an engine that never answers with a 300 ms timeout") {
  tf::test::temp_dir dir;
  scripted_engine server{dir.file("engine.sock"), never_answer};
  docker::client_options opts;
  opts.timeout = 300ms;
  auto c = client_at(dir.file("engine.sock"), docker::make_cancel_token(), opts);

  auto t0 = clock_type::now();
  auto err = c->ping();
  auto took = ms_since(t0);
  MESSAGE("ping timed out after ", took, " ms: ", describe(err));
  CHECK(tf::error_code(err) == tf::ec::timeout);
  CHECK(tf::error_message(err).find("300 ms") != std::string::npos);
  CHECK(took < 4000); // the 300 ms, not ping's 5 s cap

  t0 = clock_type::now();
  auto list = c->list_containers({});
  took = ms_since(t0);
  MESSAGE("list_containers timed out after ", took, " ms: ", describe(list));
  CHECK(tf::error_code(error_of(list)) == tf::ec::timeout);
  CHECK(took < 4000);
}

// --- answers a real engine gives only in other situations (test-owned server) -----------------

TEST_CASE("fake engine: a list the engine did not filter keeps only what the filters name") {
  tf::test::temp_dir dir;
  auto path = dir.file("engine.sock");
  // An engine (or something in front of it) that ignores ?filters= and lists everything.
  auto listing = R"([
    {"Id":"mine","Names":["/a"],"Image":"x","State":"running","Labels":{"app":"a","tier":"web"}},
    {"Id":"stopped","Names":["/b"],"Image":"x","State":"exited","Labels":{"app":"a"}},
    {"Id":"other","Names":["/c"],"Image":"x","State":"running","Labels":{"app":"b"}},
    {"Id":"bare","Names":["/d"],"Image":"x","State":"running"}
  ])";
  scripted_engine server{path, engine_answering("1.41", http_response(200, listing))};
  auto c = client_at(path, docker::make_cancel_token());
  auto ids = [](const std::vector<docker::container_summary>& list) {
    std::vector<std::string> out;
    for (const auto& x : list)
      out.push_back(x.id);
    return out;
  };
  using names = std::vector<std::string>;
  CHECK(ids(MUST(c->list_containers({{"label", {"app=a"}}}))) == names{"mine", "stopped"});
  CHECK(ids(MUST(c->list_containers({{"label", {"app=a", "tier"}}}))) == names{"mine"});
  CHECK(ids(MUST(c->list_containers({{"label", {"app"}}, {"status", {"running"}}})))
        == names{"mine", "other"});
  CHECK(ids(MUST(c->list_containers({{"label", {"app=c"}}}))).empty());
  CHECK(ids(MUST(c->list_containers({}))).size() == 4);
}

TEST_CASE("fake engine: API version negotiation with older and newer engines") {
  tf::test::temp_dir dir;
  auto path = dir.file("engine.sock");
  auto serve = [](const std::string& api) {
    return engine_answering(api, http_response(200, "[]\n"));
  };

  SUBCASE("an older engine is spoken to in its version") {
    scripted_engine server{path, serve("1.30")};
    auto c = client_at(path, docker::make_cancel_token());
    auto list = c->list_containers({{"label", {"a=b"}}});
    REQUIRE_VALUE(list);
    CHECK(c->api_version() == "1.30");
    auto reqs = server.requests();
    REQUIRE(reqs.size() == 2);
    CHECK(reqs[0].target == "/_ping"); // not /version: dockerd takes ~18 ms to answer that
    CHECK(reqs[1].method == "GET");
    CHECK(reqs[1].target
          == "/v1.30/containers/json?all=1&filters=" + docker::url_encode(R"({"label":["a=b"]})"));
  }
  SUBCASE("a ping without an API version, or with a malformed one, falls back to /version") {
    for (std::string ping_api : {"", "one.two", "1.", "99999.1"}) {
      CAPTURE(ping_api);
      scripted_engine server{path, engine_answering("1.30", http_response(200, "[]\n"), ping_api)};
      auto c = client_at(path, docker::make_cancel_token());
      REQUIRE_VALUE(c->list_containers({}));
      CHECK(c->api_version() == "1.30");
      auto reqs = server.requests();
      REQUIRE(reqs.size() == 3);
      CHECK(reqs[0].target == "/_ping");
      CHECK(reqs[1].target == "/version");
    }
  }
  SUBCASE("a ping naming an API older than 1.24 is refused without asking /version") {
    scripted_engine server{path, engine_answering("1.41", http_response(200, "[]\n"), "1.20")};
    auto c = client_at(path, docker::make_cancel_token());
    auto list = c->list_containers({});
    CHECK(tf::error_code(error_of(list)) == tf::ec::unavailable);
    CHECK(tf::error_message(error_of(list)).find("1.20") != std::string::npos);
    CHECK(c->api_version().empty());
  }
  SUBCASE("a newer engine is spoken to in 1.41") {
    scripted_engine server{path, serve("1.45")};
    auto c = client_at(path, docker::make_cancel_token());
    REQUIRE_VALUE(c->version());
    CHECK(c->api_version() == "1.41");
  }
  SUBCASE("an engine older than 1.24 is refused") {
    scripted_engine server{path, serve("1.20")};
    auto c = client_at(path, docker::make_cancel_token());
    auto v = c->version();
    REQUIRE_FALSE(v);
    CHECK(tf::error_code(v.error()) == tf::ec::unavailable);
    CHECK(tf::error_message(v.error()).find("1.20") != std::string::npos);
    CHECK(c->api_version().empty());
    CHECK(tf::error_code(error_of(c->list_containers({}))) == tf::ec::unavailable);
  }
}

TEST_CASE("fake engine: an event stream the engine refuses") {
  // The engine answers a bad /events request with a status >= 400 and {"message": ...}
  // (20.10: 500 for filters it cannot decode), like every other error.
  tf::test::temp_dir dir;
  auto path = dir.file("engine.sock");
  auto refusal = http_response(500, "{\"message\":\"boom: events are broken\"}\n");
  scripted_engine server{path, engine_answering("1.41", refusal)};
  auto c = client_at(path, docker::make_cancel_token());
  int connected = 0;
  std::vector<docker::engine_event> seen;
  auto err = c->watch_events({}, [&] { ++connected; },
                             [&](const docker::engine_event& e) {
                               seen.push_back(e);
                               return true;
                             });
  REQUIRE(err);
  CHECK(connected == 0);
  CHECK(tf::error_code(err) == tf::ec::unavailable);
  INFO("error: ", describe(err));
  // The error body is not an event, and its message is what the caller should see.
  CHECK(seen.empty());
  CHECK(tf::error_message(err).find("boom: events are broken") != std::string::npos);
}

TEST_CASE("fake engine: a pull that fails inside its 200 stream") {
  tf::test::temp_dir dir;
  auto path = dir.file("engine.sock");
  auto stream = http_response(
    200, "{\"status\":\"Pulling from x/y\",\"id\":\"v1\"}\n"
         "{\"status\":\"Downloading\",\"progress\":\"[=>  ] 1MB/9MB\",\"id\":\"abc\"}\n"
         "{\"errorDetail\":{\"message\":\"boom: disk full\"},\"error\":\"boom: disk full\"}\n"
         "{\"status\":\"never reached\"}\n");
  scripted_engine server{path, engine_answering("1.41", stream)};
  auto c = client_at(path, docker::make_cancel_token());
  std::vector<std::string> progress;
  auto err = c->pull_image("x/y", "v1", [&](const std::string& line) { progress.push_back(line); });
  REQUIRE(err);
  CHECK(tf::error_code(err) == tf::ec::unavailable);
  CHECK(tf::error_message(err).find("boom: disk full") != std::string::npos);
  CHECK(progress == std::vector<std::string>{"v1 Pulling from x/y", "abc Downloading [=>  ] 1MB/9MB"});
  auto reqs = server.requests();
  REQUIRE(reqs.size() == 2);
  CHECK(reqs[1].method == "POST");
  CHECK(reqs[1].target == "/v1.41/images/create?fromImage=x%2Fy&tag=v1");
}

TEST_CASE("fake engine: a pull whose progress line is too long is not a success") {
  // line_splitter stops at lines over 1 MiB; the pull was aborted, not completed.
  tf::test::temp_dir dir;
  auto path = dir.file("engine.sock");
  auto stream = http_response(200, "{\"status\":\"" + std::string(1536 * 1024, 'x')
                                     + "\"}\n{\"status\":\"Downloaded newer image\"}\n");
  scripted_engine server{path, engine_answering("1.41", stream)};
  auto c = client_at(path, docker::make_cancel_token());
  auto err = c->pull_image("x/y", "v1", {});
  CHECK_MESSAGE(err, "an aborted pull reported success");
}

TEST_CASE("fake engine: container_logs demultiplexes a recorded body and keeps the last max_bytes") {
  tf::test::temp_dir dir;
  auto path = dir.file("engine.sock");
  std::string recorded;
  {
    auto file = std::string{TINYFORGE_SOURCE_DIR} + "/tests/data/engine/logs_multiplexed.bin";
    std::unique_ptr<FILE, int (*)(FILE*)> f{std::fopen(file.c_str(), "rb"), &std::fclose};
    REQUIRE(f != nullptr);
    char buf[256];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, f.get())) > 0;)
      recorded.append(buf, n);
  }
  REQUIRE(recorded.size() == 54);
  scripted_engine server{path, engine_answering("1.41", http_response(200, recorded))};
  auto c = client_at(path, docker::make_cancel_token());
  auto logs = c->container_logs("abc", 5);
  REQUIRE_VALUE(logs);
  CHECK(*logs == "to stderr\nline one\nline three\n");
  // 30 bytes of text in 54 bytes of frames; at most 27: the last 27 bytes.
  auto tail = c->container_logs("abc", 5, 27);
  REQUIRE_VALUE(tail);
  CHECK(*tail == "stderr\nline one\nline three\n");
  auto reqs = server.requests();
  REQUIRE(reqs.size() == 3);
  CHECK(reqs[1].target == "/v1.41/containers/abc/logs?stdout=1&stderr=1&tail=5");
}

namespace {

/// Makes the real engine reachable over tcp, as a remote engine would be: a loopback tcp
/// listener that relays each connection, byte for byte, to the engine's unix socket.
class tcp_relay {
public:
  tcp_relay() {
    REQUIRE(::pipe2(stop_, O_CLOEXEC) == 0);
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(listen_fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    REQUIRE(::listen(listen_fd_, 16) == 0);
    socklen_t len = sizeof(addr);
    REQUIRE(::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread{[this] { run(); }};
  }
  tcp_relay(const tcp_relay&) = delete;
  tcp_relay& operator=(const tcp_relay&) = delete;
  ~tcp_relay() {
    char x = 0;
    [[maybe_unused]] auto n = ::write(stop_[1], &x, 1);
    thread_.join();
    for (int fd : {listen_fd_, stop_[0], stop_[1]})
      ::close(fd);
  }
  uint16_t port() const { return port_; }
  int connections() const { return connections_; }

private:
  // One thread serves every connection in turn (the client makes one call at a time).
  void run() {
    while (true) {
      pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_[0], POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0 || (fds[1].revents & POLLIN))
        return;
      int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0)
        continue;
      ++connections_;
      int engine = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      std::strcpy(addr.sun_path, "/var/run/docker.sock");
      if (engine >= 0 && ::connect(engine, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0)
        if (!pump(client, engine))
          return;
      ::close(engine);
      ::close(client);
    }
  }

  // Relays until either side closes; false when the relay is being stopped.
  bool pump(int a, int b) {
    char buf[65536];
    while (true) {
      pollfd fds[3] = {{a, POLLIN, 0}, {b, POLLIN, 0}, {stop_[0], POLLIN, 0}};
      if (::poll(fds, 3, -1) < 0 || (fds[2].revents & POLLIN))
        return false;
      for (int i = 0; i < 2; ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
          continue;
        auto n = ::read(fds[i].fd, buf, sizeof buf);
        if (n <= 0)
          return true;
        if (!send_all(fds[1 - i].fd, std::string_view{buf, static_cast<size_t>(n)}))
          return true;
      }
    }
  }

  int listen_fd_ = -1;
  int stop_[2] = {-1, -1};
  uint16_t port_ = 0;
  std::atomic<int> connections_{0};
  std::thread thread_;
};

} // namespace

TEST_CASE("tcp: the client reaches an engine over tcp as it does over the unix socket") {
  tcp_relay relay;
  auto ep = docker::endpoint::parse("tcp://127.0.0.1:" + std::to_string(relay.port()));
  REQUIRE(ep);
  docker::client c{*ep, docker::make_cancel_token()};
  REQUIRE_FALSE(c.ping());
  auto v = c.version();
  REQUIRE_MESSAGE(v, describe(v.error()));
  CHECK(c.api_version() == "1.41");
  // The same engine answers the same list through either path.
  auto over_tcp = c.list_containers({{"label", {"tinyforge.test=true"}}});
  REQUIRE_MESSAGE(over_tcp, describe(over_tcp.error()));
  auto local = make_client();
  auto over_unix = local->list_containers({{"label", {"tinyforge.test=true"}}});
  REQUIRE(over_unix);
  CHECK(over_tcp->size() == over_unix->size());
  CHECK(relay.connections() >= 1); // the calls went through the relay, not around it
}
