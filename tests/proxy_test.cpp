// The proxy layer against the real things: a Caddy and an nginx started by the test, real
// iptables rules on loopback, and Nginx Proxy Manager's API replayed from recorded
// exchanges (tests/data/npm), since no NPM server runs here.
#include "expect.hpp"
#include "helpers.hpp"
#include "net.hpp"

#include "core/errors.hpp"
#include "net/http_call.hpp"
#include "proxy/provider.hpp"
#include "core/run_command.hpp"
#include "proxy/slot_gate.hpp"
#include "proxy/tcp_table.hpp"

#include <doctest/doctest.h>
#include <httplib.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <functional>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

using namespace tf;
using namespace tf::test;
using namespace std::chrono_literals;

namespace {

/// Every wait here polls with this bound; it only turns a hang into a failure.
constexpr auto wait_bound = 20s;

/// Polls `ok` until it holds or the bound passes.
bool eventually(const std::function<bool()>& ok) {
  auto deadline = std::chrono::steady_clock::now() + wait_bound;
  while (std::chrono::steady_clock::now() < deadline) {
    if (ok())
      return true;
    std::this_thread::sleep_for(50ms);
  }
  return ok();
}

std::string read_text(const std::string& path) {
  std::ifstream in{path};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out{path};
  out << text;
  REQUIRE(out.good());
}

/// A program as a child in its own process group, stdout and stderr into `log_path`. When
/// the test ends, however it ends, the group gets SIGTERM (nginx's master then stops its
/// workers), and SIGKILL for whatever is left after a bound, so no worker outlives the test.
class child {
public:
  child(const std::vector<std::string>& argv, const std::string& log_path) : log_{log_path} {
    std::vector<char*> args;
    for (const auto& a : argv)
      args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    REQUIRE(log >= 0);
    pid_ = ::fork();
    if (pid_ == 0) {
      // A test that crashes runs no destructor: the child dies with it, not as an orphan
      // holding ports.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::setpgid(0, 0);
      ::dup2(log, 1);
      ::dup2(log, 2);
      ::execvp(args[0], args.data());
      ::_exit(127);
    }
    ::close(log);
    REQUIRE(pid_ > 0);
    ::setpgid(pid_, pid_); // also here: the group exists before either side goes on
  }
  child(const child&) = delete;
  child& operator=(const child&) = delete;
  ~child() {
    ::kill(-pid_, SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + 10s;
    int st = 0;
    bool reaped = false;
    while (!reaped && std::chrono::steady_clock::now() < deadline) {
      auto r = ::waitpid(pid_, &st, WNOHANG);
      reaped = r == pid_ || (r < 0 && errno != EINTR);
      if (!reaped)
        std::this_thread::sleep_for(20ms);
    }
    ::kill(-pid_, SIGKILL);
    if (!reaped)
      while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
      }
  }
  bool running() const { return ::waitpid(pid_, nullptr, WNOHANG) == 0; }
  pid_t pid() const { return pid_; }
  std::string log() const { return read_text(log_); }

private:
  pid_t pid_ = -1;
  std::string log_;
};

/// A slot's app: 200 with "slot <port>" on any GET.
std::unique_ptr<loopback_server> slot_app() {
  auto app = std::make_unique<loopback_server>([](httplib::Server& s) {
    s.Get(".*", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content("served " + req.path, "text/plain");
    });
  });
  return app;
}

/// GET through the proxy on `port` with a Host header.
caf::expected<net::http_response> get_via(uint16_t port, const std::string& host,
                                            const std::string& path = "/") {
  net::http_request req;
  req.url = "http://127.0.0.1:" + std::to_string(port) + path;
  req.headers["Host"] = host;
  req.timeout = 10s;
  return net::http_call(req);
}

/// The first answer through the proxy after a configuration change: Caddy swaps its server
/// on every admin API change and may reset a connection accepted during the swap, so a
/// transport error right after a change is retried within the bound.
net::http_response settled_get(uint16_t port, const std::string& host,
                                 const std::string& path = "/") {
  caf::expected<net::http_response> res = caf::error{};
  eventually([&] {
    res = get_via(port, host, path);
    return static_cast<bool>(res);
  });
  INFO("GET ", host, path, " through port ", port);
  return MUST(std::move(res));
}

proxy_route make_route(const std::string& id, const std::string& host,
                       std::vector<int64_t> slots) {
  proxy_route r;
  r.id = id;
  r.owner_id = "stage-" + id;
  r.host = host;
  r.slots = std::move(slots);
  r.health_path = "/up";
  return r;
}

rapidjson::Document json_of(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.data(), text.size());
  INFO("json: ", text);
  REQUIRE_FALSE(doc.HasParseError());
  return doc;
}

} // namespace

// --- http_call -------------------------------------------------------------------------

TEST_CASE("http_call: status, body, lower-cased headers, a request body and its headers") {
  loopback_server api{[](httplib::Server& s) {
    s.Post("/echo", [](const httplib::Request& req, httplib::Response& res) {
      res.status = 201;
      res.set_header("X-Mixed-Case", "yes");
      res.set_content(req.get_header_value("X-Token") + ":" + req.body, "application/json");
    });
  }};
  net::http_request req;
  req.method = "POST";
  req.url = "http://127.0.0.1:" + std::to_string(api.port()) + "/echo";
  req.body = R"({"a":1})";
  req.headers["X-Token"] = "t1";
  auto res = MUST(net::http_call(req));
  CHECK(res.status == 201);
  CHECK(res.body == R"(t1:{"a":1})");
  CHECK(res.headers["x-mixed-case"] == "yes");
  CHECK(res.headers["content-type"] == "application/json");
}

TEST_CASE("http_call: a body over the cap is payload_too_large, a dead port unavailable") {
  loopback_server api{[](httplib::Server& s) {
    s.Get("/big", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(std::string(10000, 'x'), "text/plain");
    });
  }};
  net::http_request req;
  req.url = "http://127.0.0.1:" + std::to_string(api.port()) + "/big";
  req.max_response_bytes = 1000;
  auto res = net::http_call(req);
  CHECK(code_of(res) == "payload_too_large");

  req.url = "http://127.0.0.1:" + std::to_string(free_loopback_port()) + "/";
  auto dead = net::http_call(req);
  CHECK(code_of(dead) == "unavailable");
  CHECK(contains(message_of(dead), "127.0.0.1"));

  req.headers["X-Bad"] = "a\r\nInjected: 1";
  CHECK(code_of(net::http_call(req)) == "invalid_argument");
}

// --- run_command -----------------------------------------------------------------------

TEST_CASE("run_command: argv without a shell, output captured, exit code, missing program") {
  auto res = MUST(tf::run_command({"sh", "-c", "echo out; echo err >&2; exit 3"}));
  CHECK(res.exit_code == 3);
  CHECK(contains(res.output, "out"));
  CHECK(contains(res.output, "err"));
  // A shell metacharacter in an argument stays a plain argument.
  auto literal = MUST(tf::run_command({"echo", "$(id); rm -rf /nonexistent"}));
  CHECK(literal.output == "$(id); rm -rf /nonexistent\n");
  CHECK(code_of(tf::run_command({"/nonexistent/program"})) == "unavailable");
  CHECK(code_of(tf::run_command({"sleep", "10"}, 200ms)) == "unavailable");
}

// --- /proc/net/tcp parsing -------------------------------------------------------------

TEST_CASE("count_established: counts state 01 on the given local ports, skips bad rows") {
  const std::string table =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid\n"
    "   0: 0100007F:4E21 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0\n"
    "   1: 0100007F:4E21 0100007F:9C41 06 00000000:00000000 00:00000000 00000000     0\n"
    "   2: 0100007F:4E21 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0\n"
    "   3: 0100007F:4E22 0100007F:9C42 01 00000000:00000000 00:00000000 00000000     0\n"
    "   4: 0100007F:9C40 0100007F:4E21 01 00000000:00000000 00:00000000 00000000     0\n"
    "   5: 00000000000000000000000001000000:4E21 00000000000000000000000001000000:9C43 01\n";
  CHECK(proxy::count_established(table, {20001}) == 2); // rows 0 and 5 (tcp6 shape)
  CHECK(proxy::count_established(table, {20001, 20002}) == 3);
  CHECK(proxy::count_established(table, {}) == 0);

  // Bad input: no crash, no count.
  CHECK(proxy::count_established("", {20001}) == 0);
  CHECK(proxy::count_established("header only", {20001}) == 0);
  const std::string bad =
    "header\n"
    "   0: 0100007F:4E2 0100007F:9C40 01\n"            // short port
    "   1: 0100007F:ZZZZ 0100007F:9C40 01\n"           // not hex
    "   2: 0100007F4E21 0100007F:9C40 01\n"            // no colon
    "   3: 0100007F:4E21\n"                            // truncated
    "   4 0100007F:4E21 0100007F:9C40 01\n"            // slot without ':'
    "   5: 01007F:4E21 0100007F:9C40 01\n"             // address of odd length
    "\n\n\t\t\n"
    "   6: 0100007F:4E21 0100007F:9C40 01 trailing fields are fine\n";
  CHECK(proxy::count_established(bad, {20001}) == 1);
  CHECK(proxy::count_established(std::string(100000, ':'), {20001}) == 0);
  CHECK(proxy::count_established(std::string("x\n") + std::string(5000, ' '), {20001}) == 0);
}

// --- slot gate with real iptables ------------------------------------------------------

namespace {

/// The rules of one table's chain (the gate's resets: filter INPUT; its redirects: nat
/// OUTPUT) that carry the slot comment of `port`.
int rules_for(uint16_t port, const char* table = "filter", const char* chain = "INPUT") {
  auto res = MUST(tf::run_command({"iptables", "-w", "-t", table, "-S", chain}));
  REQUIRE(res.exit_code == 0);
  int n = 0;
  std::istringstream lines{res.output};
  std::string line;
  while (std::getline(lines, line))
    // iptables -S quotes the comment: --comment "tinyforge-slot:<port>"
    if (contains(line, "\"tinyforge-slot:" + std::to_string(port) + "\""))
      ++n;
  return n;
}

/// Removes the test's rules whatever happens to the test.
struct rule_cleanup {
  std::vector<int64_t> ports;
  ~rule_cleanup() {
    proxy::slot_gate gate{"iptables"};
    auto err = gate.open(ports);
    (void)err; // a destructor cannot fail the test; the CHECK at the end of the test does
  }
};

/// A socket connected to 127.0.0.1:`port` from `source`, or an empty one with errno.
socket_fd connect_from(const char* source, uint16_t port) {
  socket_fd fd{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  REQUIRE(fd);
  sockaddr_in src{};
  src.sin_family = AF_INET;
  REQUIRE(::inet_pton(AF_INET, source, &src.sin_addr) == 1);
  REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&src), sizeof(src)) == 0);
  return connect_socket(std::move(fd), port);
}

} // namespace

TEST_CASE("slot gate: close resets new connections except from 127.0.0.2, open lets all in") {
  loopback_server app{[](httplib::Server& s) {
    s.Get("/up", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("up", "text/plain");
    });
  }};
  auto port = app.port();
  rule_cleanup cleanup{{port}};
  proxy::slot_gate gate{"iptables"};
  REQUIRE(gate.enabled());
  CHECK_FALSE(MUST(gate.is_closed(port)));

  // A connection opened before the close stays usable: a draining slot finishes its work.
  auto before = connect_and_send(port, "GET /up HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string buf;
  auto first = read_response(before.get(), buf);
  REQUIRE(first);
  CHECK(first->status == 200);

  MUST_OK(gate.close({port}));
  MUST_OK(gate.close({port})); // idempotent
  CHECK(MUST(gate.is_closed(port)));
  CHECK(rules_for(port) == 1);

  errno = 0;
  auto refused = connect_from("127.0.0.1", port);
  CHECK_FALSE(refused);
  CHECK(errno == ECONNREFUSED);
  auto probe = connect_from("127.0.0.2", port);
  CHECK(probe);

  // http_call's source address: a health check from 127.0.0.2 still reaches the slot.
  net::http_request check;
  check.url = "http://127.0.0.1:" + std::to_string(port) + "/up";
  check.timeout = 5s;
  CHECK(code_of(net::http_call(check)) == "unavailable");
  check.source_address = "127.0.0.2";
  auto health = MUST(net::http_call(check));
  CHECK(health.status == 200);

  REQUIRE(send_all(before.get(), "GET /up HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto second = read_response(before.get(), buf);
  REQUIRE(second);
  CHECK(second->status == 200);

  MUST_OK(gate.open({port}));
  MUST_OK(gate.open({port})); // idempotent
  CHECK_FALSE(MUST(gate.is_closed(port)));
  CHECK(rules_for(port) == 0);
  CHECK(connect_from("127.0.0.1", port));
  CHECK(connect_from("127.0.0.2", port));
}

TEST_CASE("slot gate: a slot closed toward another sends new connections there, open takes them back") {
  auto answering = [](std::string name) {
    return [name](httplib::Server& s) {
      s.Get("/who", [name](const httplib::Request&, httplib::Response& res) {
        res.set_content(name, "text/plain");
      });
    };
  };
  loopback_server closing{answering("closing")};
  loopback_server serving{answering("serving")};
  auto port = closing.port();
  rule_cleanup cleanup{{port}};
  proxy::slot_gate gate{"iptables"};
  auto who = [&](const char* source) {
    net::http_request req;
    req.url = "http://127.0.0.1:" + std::to_string(port) + "/who";
    req.timeout = 5s;
    req.source_address = source;
    auto res = net::http_call(req);
    return res ? res->body : "error: " + error_message(res.error());
  };
  CHECK(who("127.0.0.1") == "closing");

  // A keep-alive connection opened before the close stays with its server (a drain counts it).
  auto before = connect_and_send(port, "GET /who HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string buf;
  REQUIRE(read_response(before.get(), buf));

  MUST_OK(gate.close({port}, {serving.port()}));
  MUST_OK(gate.close({port}, {serving.port()})); // idempotent
  CHECK(MUST(gate.is_closed(port)));
  CHECK(rules_for(port, "nat", "OUTPUT") == 1);
  CHECK(rules_for(port) == 0);
  CHECK(who("127.0.0.1") == "serving");
  // The deployer's own health checks still reach the closed slot's server.
  CHECK(who("127.0.0.2") == "closing");
  REQUIRE(send_all(before.get(), "GET /who HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto still = read_response(before.get(), buf);
  REQUIRE(still);
  CHECK(still->body == "closing");

  // Nothing serving: the redirect becomes a reset, and back.
  MUST_OK(gate.close({port}));
  CHECK(rules_for(port, "nat", "OUTPUT") == 0);
  CHECK(rules_for(port) == 1);
  CHECK(contains(who("127.0.0.1"), "error"));
  MUST_OK(gate.close({port}, {serving.port()}));
  CHECK(rules_for(port) == 0);
  CHECK(who("127.0.0.1") == "serving");

  MUST_OK(gate.open({port}));
  CHECK_FALSE(MUST(gate.is_closed(port)));
  CHECK(rules_for(port, "nat", "OUTPUT") == 0);
  CHECK(who("127.0.0.1") == "closing");
}

TEST_CASE("slot gate: open removes duplicate rules, bad ports are refused") {
  auto port = free_loopback_port();
  rule_cleanup cleanup{{port}};
  // Two rules, as if two daemons had raced: open must leave none.
  auto args = [&](const char* op) {
    auto p = std::to_string(port);
    return std::vector<std::string>{"iptables", "-w", op, "INPUT", "-i", "lo", "-p", "tcp",
                                    "--dport", p, "--syn", "!", "-s", "127.0.0.2", "-m",
                                    "comment", "--comment", "tinyforge-slot:" + p, "-j",
                                    "REJECT", "--reject-with", "tcp-reset"};
  };
  REQUIRE(MUST(tf::run_command(args("-I"))).exit_code == 0);
  REQUIRE(MUST(tf::run_command(args("-I"))).exit_code == 0);
  CHECK(rules_for(port) == 2);
  proxy::slot_gate gate{"iptables"};
  MUST_OK(gate.open({port}));
  CHECK(rules_for(port) == 0);

  // Redirects too, to two places: close keeps one rule, the one it was asked for.
  auto redirect = [&](int64_t toward) {
    auto p = std::to_string(port);
    return std::vector<std::string>{"iptables", "-w", "-t", "nat", "-I", "OUTPUT", "-o", "lo",
                                    "-p", "tcp", "-d", "127.0.0.1", "--dport", p, "-m",
                                    "comment", "--comment", "tinyforge-slot:" + p, "-j",
                                    "DNAT", "--to-destination",
                                    "127.0.0.1:" + std::to_string(toward)};
  };
  int64_t other = port == 65535 ? port - 1 : port + 1;
  REQUIRE(MUST(tf::run_command(redirect(other))).exit_code == 0);
  REQUIRE(MUST(tf::run_command(redirect(other))).exit_code == 0);
  REQUIRE(MUST(tf::run_command(args("-I"))).exit_code == 0);
  MUST_OK(gate.close({port}, {other}));
  CHECK(rules_for(port, "nat", "OUTPUT") == 1);
  CHECK(rules_for(port) == 0);
  MUST_OK(gate.open({port}));
  CHECK(rules_for(port, "nat", "OUTPUT") == 0);
  CHECK_FALSE(MUST(gate.is_closed(port)));

  CHECK(code_of(gate.close({0})) == "invalid_argument");
  CHECK(code_of(gate.close({70000})) == "invalid_argument");
  CHECK(code_of(gate.close({port}, {0})) == "invalid_argument");
  CHECK(code_of(gate.close({port}, {port})) == "invalid_argument");
  CHECK(rules_for(port) == 0);
  CHECK(rules_for(port, "nat", "OUTPUT") == 0);
  CHECK(code_of(gate.is_closed(-1)) == "invalid_argument");
  proxy::slot_gate broken{"iptables", "/nonexistent/iptables"};
  CHECK(code_of(broken.close({port})) == "unavailable");
}

TEST_CASE("split_rule_line: words, quoted words with escapes, an unclosed quote, nothing") {
  using proxy::split_rule_line;
  using words = std::vector<std::string>;
  CHECK(split_rule_line("-A INPUT -m comment --comment \"tinyforge-slot:80\" -j REJECT")
        == words{"-A", "INPUT", "-m", "comment", "--comment", "tinyforge-slot:80", "-j", "REJECT"});
  CHECK(split_rule_line("--comment \"a b \\\" c\"  x") == words{"--comment", "a b \" c", "x"});
  CHECK(split_rule_line("--comment \"\"") == words{"--comment", ""});
  CHECK(split_rule_line("\"open to the end") == words{"open to the end"});
  CHECK(split_rule_line("").empty());
  CHECK(split_rule_line("   ").empty());
}

TEST_CASE("slot gate: mode none does nothing and says so") {
  proxy::slot_gate gate{"none"};
  CHECK_FALSE(gate.enabled());
  auto port = free_loopback_port();
  MUST_OK(gate.close({port}));
  CHECK_FALSE(MUST(gate.is_closed(port)));
  CHECK(rules_for(port) == 0);
  MUST_OK(gate.open({port}));
}

TEST_CASE("established_connections counts the open connections to a port") {
  loopback_server app{[](httplib::Server& s) {
    s.Get("/up", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("up", "text/plain");
    });
  }};
  auto port = app.port();
  CHECK(MUST(proxy::established_connections({port})) == 0);
  {
    auto conn = connect_and_send(port, "GET /up HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string buf;
    REQUIRE(read_response(conn.get(), buf));
    // The server's side of the connection has the slot as its local port; the client's
    // side has an ephemeral one and is not counted. The kernel's socket dump and the /proc
    // tables (the fallback) count the same.
    CHECK(MUST(proxy::established_connections({port})) == 1);
    CHECK(MUST(proxy::established_by_sock_diag({port})) == 1);
    CHECK(MUST(proxy::established_by_proc({port})) == 1);
    CHECK(MUST(proxy::established_by_sock_diag({})) == 0);
  }
  CHECK(eventually([&] { return MUST(proxy::established_connections({port})) == 0; }));
  CHECK(MUST(proxy::established_by_sock_diag({port})) == 0);
  CHECK(MUST(proxy::established_by_proc({port})) == 0);
}

// --- providers: none -------------------------------------------------------------------

TEST_CASE("provider none: applies and removes nothing") {
  config cfg;
  cfg.proxy_provider = "none";
  auto p = proxy::make_provider(cfg);
  REQUIRE(p);
  CHECK(p->name() == "none");
  CHECK_FALSE(p->routes_all_slots());
  auto route = make_route("r1", "a.test", {20001, 20002});
  auto applied = MUST(p->apply(route));
  CHECK(applied.host == "a.test");
  MUST_OK(p->remove(route));
}

// --- providers: caddy ------------------------------------------------------------------

namespace {

/// A Caddy with its admin API on a free loopback port and no apps.
struct caddy_instance {
  temp_dir dir;
  uint16_t admin_port = free_loopback_port();
  uint16_t listen_port = free_loopback_port();
  std::unique_ptr<child> process;

  caddy_instance() {
    auto conf = dir.file("caddy.json");
    write_text(conf, R"({"admin":{"listen":"127.0.0.1:)" + std::to_string(admin_port)
                       + R"(","config":{"persist":false}},"apps":{}})");
    // XDG paths into the temp dir: Caddy keeps its storage there, not in root's home.
    process = std::make_unique<child>(
      std::vector<std::string>{"env", "XDG_DATA_HOME=" + dir.file("data"),
                               "XDG_CONFIG_HOME=" + dir.file("config"),
                               "HOME=" + dir.path().string(), "caddy", "run", "--config", conf},
      dir.file("caddy.log"));
    INFO("caddy log: ", process->log());
    REQUIRE(eventually([&] {
      net::http_request req;
      req.url = admin() + "/config/";
      auto res = net::http_call(req);
      return res && res->status == 200;
    }));
  }

  std::string admin() const { return "http://127.0.0.1:" + std::to_string(admin_port); }

  config cfg() const {
    config c;
    c.proxy_provider = "caddy";
    c.caddy_admin = admin() + "/";
    c.caddy_server = "tinyforge";
    c.caddy_listen = "127.0.0.1:" + std::to_string(listen_port);
    return c;
  }

  /// A call to the admin API. Caddy restarts its admin endpoint after a change: a reset
  /// right then is retried within the bound.
  net::http_response admin_call(net::http_request req) const {
    caf::expected<net::http_response> got = caf::error{};
    eventually([&] {
      got = net::http_call(req);
      return static_cast<bool>(got);
    });
    return MUST(std::move(got));
  }

  /// The routes of our server as Caddy holds them.
  rapidjson::Document routes() const {
    net::http_request req;
    req.url = admin() + "/config/apps/http/servers/tinyforge/routes";
    auto res = admin_call(req);
    REQUIRE(res.status == 200);
    return json_of(res.body);
  }
};

} // namespace

TEST_CASE("provider caddy: a route over two slots serves from the live one, is idempotent, is removed") {
  caddy_instance caddy;
  auto app = slot_app();
  auto empty_slot = free_loopback_port();
  auto p = proxy::make_provider(caddy.cfg());
  CHECK(p->name() == "caddy");
  CHECK(p->routes_all_slots());
  auto route = make_route("r1", "shop.example.test", {empty_slot, app->port()});

  auto applied = MUST(p->apply(route));
  CHECK(applied.slots == route.slots);
  auto live = "127.0.0.1:" + std::to_string(app->port());
  // Caddy loads a new config in the background: until the new server takes over, the old
  // one (no route yet) answers an empty 200. Wait for the route, then check it.
  CHECK(eventually([&] {
    auto res = get_via(caddy.listen_port, "shop.example.test", "/version");
    return res && res->headers.count("x-tinyforge-upstream") > 0;
  }));
  // Every request, whichever slot round robin tries first, lands on the live one.
  for (int i = 0; i < 4; ++i) {
    auto res = settled_get(caddy.listen_port, "shop.example.test", "/version");
    CHECK(res.status == 200);
    CHECK(res.body == "served /version");
    CHECK(res.headers["x-tinyforge-upstream"] == live);
  }

  // Applying again replaces the route in place: still one route, with the same @id.
  MUST(p->apply(route));
  auto routes = caddy.routes();
  REQUIRE(routes.IsArray());
  CHECK(routes.Size() == 1);
  CHECK(std::string{routes[0]["@id"].GetString()} == "tinyforge-route-r1");

  // A second route for another host sits next to it, and other hosts do not reach ours.
  auto other = make_route("r2", "other.example.test", {app->port()});
  MUST(p->apply(other));
  CHECK(caddy.routes().Size() == 2);
  auto stranger = settled_get(caddy.listen_port, "nobody.example.test");
  CHECK(stranger.headers.count("x-tinyforge-upstream") == 0);

  MUST_OK(p->remove(route));
  MUST_OK(p->remove(route)); // gone already: fine
  auto left = caddy.routes();
  REQUIRE(left.Size() == 1);
  CHECK(std::string{left[0]["@id"].GetString()} == "tinyforge-route-r2");
  net::http_request by_id;
  by_id.url = caddy.admin() + "/id/tinyforge-route-r1";
  CHECK(caddy.admin_call(by_id).status == 404);
  // The removal takes effect once the new config has taken over (see above).
  CHECK(eventually([&] {
    auto res = get_via(caddy.listen_port, "shop.example.test", "/");
    return res && res->headers.count("x-tinyforge-upstream") == 0;
  }));
  auto after = settled_get(caddy.listen_port, "shop.example.test");
  CHECK(after.headers.count("x-tinyforge-upstream") == 0);
  CHECK(after.body != "served /");
  MUST_OK(p->remove(other));
}

/// Reads one chunked response (what Caddy relays from the slot app); true when it is a 200.
bool read_chunked_200(int fd) {
  std::string buf;
  auto deadline = std::chrono::steady_clock::now() + io_bound;
  while (buf.find("\r\n0\r\n\r\n") == std::string::npos)
    if (read_some(fd, buf, deadline) != read_result::data)
      return false;
  return buf.compare(0, 12, "HTTP/1.1 200") == 0;
}

TEST_CASE("provider caddy: re-applying an unchanged route (a daemon restart) resets no client") {
  caddy_instance caddy;
  auto app = slot_app();
  auto route = make_route("r1", "keep.example.test", {free_loopback_port(), app->port()});
  MUST(proxy::make_provider(caddy.cfg())->apply(route));
  REQUIRE(eventually([&] {
    auto res = get_via(caddy.listen_port, "keep.example.test", "/version");
    return res && res->headers.count("x-tinyforge-upstream") > 0;
  }));

  // A client with an idle keep-alive connection, as a browser or a load balancer has.
  auto idle_client = [&] {
    auto fd = connect_and_send(caddy.listen_port, "GET /version HTTP/1.1\r\n"
                                                  "Host: keep.example.test\r\n\r\n");
    REQUIRE(read_chunked_200(fd.get()));
    return fd;
  };
  auto closed_within = [](int fd, std::chrono::milliseconds bound) {
    std::string buf;
    return read_some(fd, buf, std::chrono::steady_clock::now() + bound) == read_result::eof;
  };

  // A fresh provider (what a restarted daemon has) applying the same route. Caddy skips a
  // PATCH that changes nothing, so this holds as long as the route JSON we generate is the
  // same every time: the idle connection stays open and serves its next request.
  auto kept = idle_client();
  MUST(proxy::make_provider(caddy.cfg())->apply(route));
  CHECK_FALSE(closed_within(kept.get(), std::chrono::milliseconds{1500}));
  REQUIRE(send_all(kept.get(), "GET /version HTTP/1.1\r\nHost: keep.example.test\r\n\r\n"));
  CHECK(read_chunked_200(kept.get()));

  // The control: a changed route is a config load, and Caddy closes the idle connection.
  auto changed = route;
  changed.health_path = "/version";
  auto dropped = idle_client();
  MUST(proxy::make_provider(caddy.cfg())->apply(changed));
  CHECK(closed_within(dropped.get(), std::chrono::milliseconds{10000}));
}

TEST_CASE("provider caddy: keeps a server that exists, rejects a bad route before Caddy") {
  caddy_instance caddy;
  // Someone else's server and route under our server's name stay.
  net::http_request put;
  put.method = "PUT";
  put.url = caddy.admin() + "/config/apps/http/servers/tinyforge";
  put.body = R"({"listen":["127.0.0.1:)" + std::to_string(caddy.listen_port)
             + R"("],"automatic_https":{"disable":true},"routes":[{"@id":"theirs",)"
             + R"("match":[{"host":["their.test"]}],"terminal":true,)"
             + R"("handle":[{"handler":"static_response","body":"theirs"}]}]})";
  REQUIRE(caddy.admin_call(put).status == 200);
  auto p = proxy::make_provider(caddy.cfg());
  auto app = slot_app();
  MUST(p->apply(make_route("r1", "shop.example.test", {app->port()})));
  CHECK(caddy.routes().Size() == 2);
  auto theirs = settled_get(caddy.listen_port, "their.test");
  CHECK(theirs.body == "theirs");

  CHECK(code_of(p->apply(make_route("r1", "Bad Host", {app->port()}))) == "invalid_argument");
  CHECK(code_of(p->apply(make_route("r1", "a.test\"}", {app->port()}))) == "invalid_argument");
  CHECK(code_of(p->apply(make_route("r/../x", "a.test", {app->port()}))) == "invalid_argument");
  CHECK(code_of(p->apply(make_route("r1", "a.test", {}))) == "invalid_argument");
  CHECK(code_of(p->apply(make_route("r1", "a.test", {70000}))) == "invalid_argument");
  CHECK(caddy.routes().Size() == 2);
}

TEST_CASE("provider caddy: an unreachable admin API or a malformed answer is unavailable") {
  config cfg;
  cfg.proxy_provider = "caddy";
  cfg.caddy_admin = "http://127.0.0.1:" + std::to_string(free_loopback_port());
  auto p = proxy::make_provider(cfg);
  auto route = make_route("r1", "a.test", {20001});
  auto res = p->apply(route);
  CHECK(code_of(res) == "unavailable");
  CHECK(contains(message_of(res), "caddy admin API"));
  CHECK(code_of(p->remove(route)) == "unavailable");

  // An admin API that answers nonsense: no route by that id, and a server that is not JSON.
  loopback_server liar{[](httplib::Server& s) {
    s.Get("/id/.*", [](const httplib::Request&, httplib::Response& res) {
      res.status = 404;
      res.set_content(R"({"error":"unknown object ID"})", "application/json");
    });
    s.Get("/config/.*", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("{\"listen\": [", "application/json");
    });
    s.Delete("/id/.*", [](const httplib::Request&, httplib::Response& res) {
      res.status = 500;
      res.set_content("<html>gateway exploded</html>", "text/html");
    });
  }};
  cfg.caddy_admin = "http://127.0.0.1:" + std::to_string(liar.port());
  auto q = proxy::make_provider(cfg);
  auto bad = q->apply(route);
  CHECK(code_of(bad) == "unavailable");
  CHECK(contains(message_of(bad), "malformed JSON"));
  auto del = q->remove(route);
  CHECK(code_of(del) == "unavailable");
  CHECK(contains(message_of(del), "gateway exploded"));
}

TEST_CASE("provider caddy: an answer nested 300000 levels deep is refused, the stack survives") {
  // RapidJSON's recursive parser needs a stack frame per level: this answer (600 KB, under
  // http_call's 1 MiB cap) used to overflow the daemon's stack. The parse is iterative now.
  const std::string deep = std::string(300000, '[') + std::string(300000, ']');
  loopback_server deep_api{[&](httplib::Server& s) {
    s.Get("/config/.*", [&](const httplib::Request&, httplib::Response& res) {
      res.set_content(deep, "application/json");
    });
    s.Delete("/id/.*", [&](const httplib::Request&, httplib::Response& res) {
      res.status = 400;
      res.set_content(deep, "application/json");
    });
  }};
  config cfg;
  cfg.proxy_provider = "caddy";
  cfg.caddy_admin = "http://127.0.0.1:" + std::to_string(deep_api.port());
  auto p = proxy::make_provider(cfg);
  auto route = make_route("r1", "a.test", {20001});
  auto res = p->apply(route);
  CHECK(code_of(res) == "unavailable");
  CHECK(contains(message_of(res), "not an object"));
  CHECK(code_of(p->remove(route)) == "invalid_argument");
}

// --- providers: nginx ------------------------------------------------------------------

namespace {

/// An nginx in the foreground with everything in a temp dir; the main configuration has a
/// default server on the listen port and includes <dir>/routes/*.conf.
struct nginx_instance {
  temp_dir dir;
  uint16_t listen_port = free_loopback_port();
  std::unique_ptr<child> process;

  nginx_instance() {
    auto d = dir.path().string();
    std::filesystem::create_directories(dir.path() / "routes");
    std::filesystem::create_directories(dir.path() / "tmp");
    auto listen = "127.0.0.1:" + std::to_string(listen_port);
    write_text(conf(), "user root;\n"
                       "worker_processes 1;\n"
                       "pid " + d + "/nginx.pid;\n"
                       "error_log " + d + "/error.log warn;\n"
                       "events { worker_connections 256; }\n"
                       "http {\n"
                       "  access_log off;\n"
                       "  client_body_temp_path " + d + "/tmp/client_body;\n"
                       "  proxy_temp_path " + d + "/tmp/proxy;\n"
                       "  fastcgi_temp_path " + d + "/tmp/fastcgi;\n"
                       "  uwsgi_temp_path " + d + "/tmp/uwsgi;\n"
                       "  scgi_temp_path " + d + "/tmp/scgi;\n"
                       "  server { listen " + listen + " default_server; return 404; }\n"
                       "  include " + d + "/routes/*.conf;\n"
                       "}\n");
    process = std::make_unique<child>(
      std::vector<std::string>{"nginx", "-c", conf(), "-p", d + "/", "-e", d + "/error.log",
                               "-g", "daemon off;"},
      dir.file("nginx.out"));
    INFO("nginx output: ", process->log(), read_text(dir.file("error.log")));
    REQUIRE(eventually([&] {
      auto res = get_via(listen_port, "nobody.test");
      return res && res->status == 404;
    }));
    // -s reload needs the pid file.
    REQUIRE(eventually([&] { return !read_text(dir.file("nginx.pid")).empty(); }));
  }

  std::string conf() const { return dir.file("nginx.conf"); }
  std::string route_file(const std::string& id) const {
    return dir.file("routes/tinyforge-" + id + ".conf");
  }

  config cfg() const {
    config c;
    c.proxy_provider = "nginx";
    c.nginx_bin = "nginx";
    c.nginx_conf = conf();
    c.nginx_dir = dir.file("routes");
    c.nginx_listen = "127.0.0.1:" + std::to_string(listen_port);
    return c;
  }

  /// The worker processes of the master now.
  std::set<pid_t> workers() const {
    std::set<pid_t> found;
    for (auto& e : std::filesystem::directory_iterator("/proc")) {
      auto name = e.path().filename().string();
      if (name.find_first_not_of("0123456789") != std::string::npos)
        continue;
      auto stat = read_text(e.path().string() + "/stat");
      auto close = stat.rfind(')');
      if (close == std::string::npos)
        continue;
      std::istringstream rest{stat.substr(close + 1)};
      std::string state;
      pid_t ppid = 0;
      rest >> state >> ppid;
      if (ppid == process->pid())
        found.insert(static_cast<pid_t>(std::stol(name)));
    }
    return found;
  }

  /// Runs `change` (which reloads nginx) and waits until every worker that ran before it
  /// has exited: until then an old worker may still accept connections with the old
  /// configuration.
  template <class Change>
  auto reloaded(Change&& change) {
    auto before = workers();
    auto result = change();
    REQUIRE(eventually([&] {
      auto now = workers();
      if (now.empty())
        return false;
      for (auto pid : before)
        if (now.count(pid) != 0)
          return false;
      return true;
    }));
    return result;
  }

  /// Waits until a request for `host` gets an answer that `ok` accepts (a reload takes
  /// effect when the new workers run).
  bool serves(const std::string& host,
              const std::function<bool(const net::http_response&)>& ok) const {
    return eventually([&] {
      auto res = get_via(listen_port, host);
      return res && ok(*res);
    });
  }
};

} // namespace

TEST_CASE("provider nginx: a route over two slots serves from the live one, is idempotent, is removed") {
  nginx_instance nginx;
  auto app = slot_app();
  auto empty_slot = free_loopback_port();
  auto p = proxy::make_provider(nginx.cfg());
  CHECK(p->name() == "nginx");
  CHECK(p->routes_all_slots());
  auto route = make_route("r1", "shop.example.test", {empty_slot, app->port()});
  nginx.reloaded([&] { return MUST(p->apply(route)); });

  auto file = read_text(nginx.route_file("r1"));
  CHECK(contains(file, "server 127.0.0.1:" + std::to_string(empty_slot) + " max_fails=0;"));
  CHECK(contains(file, "server 127.0.0.1:" + std::to_string(app->port()) + " max_fails=0;"));
  CHECK(contains(file, "proxy_next_upstream_tries 4;"));
  auto live = "127.0.0.1:" + std::to_string(app->port());
  REQUIRE(nginx.serves("shop.example.test", [](const net::http_response& r) {
    return r.status == 200;
  }));
  for (int i = 0; i < 4; ++i) {
    auto res = MUST(get_via(nginx.listen_port, "shop.example.test"));
    INFO("nginx error.log: ", read_text(nginx.dir.file("error.log")));
    CHECK(res.status == 200);
    CHECK(res.body == "served /");
    // $upstream_addr lists every slot tried, the one that answered last.
    auto upstream = res.headers["x-tinyforge-upstream"];
    CHECK(upstream.size() >= live.size());
    CHECK(upstream.compare(upstream.size() - live.size(), live.size(), live) == 0);
  }

  // Same route again: same file, no reload needed, still serving.
  auto mtime = std::filesystem::last_write_time(nginx.route_file("r1"));
  MUST(p->apply(route));
  CHECK(std::filesystem::last_write_time(nginx.route_file("r1")) == mtime);
  size_t files = 0;
  for (auto& e : std::filesystem::directory_iterator(nginx.dir.path() / "routes")) {
    (void)e;
    ++files;
  }
  CHECK(files == 1);

  MUST_OK(nginx.reloaded([&] { return p->remove(route); }));
  MUST_OK(p->remove(route));
  CHECK_FALSE(std::filesystem::exists(nginx.route_file("r1")));
  CHECK(nginx.serves("shop.example.test", [](const net::http_response& r) {
    return r.status == 404;
  }));
  CHECK(nginx.process->running());
}

TEST_CASE("provider nginx: a configuration nginx -t rejects leaves the previous file serving") {
  nginx_instance nginx;
  auto app = slot_app();
  auto p = proxy::make_provider(nginx.cfg());
  auto route = make_route("r1", "shop.example.test", {app->port()});
  nginx.reloaded([&] { return MUST(p->apply(route)); });
  REQUIRE(nginx.serves("shop.example.test", [](const net::http_response& r) {
    return r.status == 200;
  }));
  auto before = read_text(nginx.route_file("r1"));

  // A listen value nginx refuses (the port is out of range): nginx -t fails.
  auto cfg = nginx.cfg();
  cfg.nginx_listen = "127.0.0.1:99999";
  auto bad = proxy::make_provider(cfg);
  auto changed = make_route("r1", "shop.example.test", {app->port(), free_loopback_port()});
  auto res = bad->apply(changed);
  CHECK(code_of(res) == "bad_config");
  CHECK(contains(message_of(res), "nginx -t"));
  CHECK(contains(message_of(res), "99999"));
  CHECK(read_text(nginx.route_file("r1")) == before);
  // A new route that fails leaves no file behind.
  CHECK(code_of(bad->apply(make_route("r2", "new.example.test", {app->port()}))) == "bad_config");
  CHECK_FALSE(std::filesystem::exists(nginx.route_file("r2")));
  CHECK_FALSE(std::filesystem::exists(nginx.route_file("r1") + ".tmp"));

  auto still = MUST(get_via(nginx.listen_port, "shop.example.test"));
  CHECK(still.status == 200);
  CHECK(nginx.process->running());

  // Values that would break out of the file never reach it.
  CHECK(code_of(p->apply(make_route("r1", "a.test;}", {app->port()}))) == "invalid_argument");
  CHECK(code_of(p->apply(make_route("r1\n", "a.test", {app->port()}))) == "invalid_argument");
  cfg.nginx_listen = "80; include /etc/passwd";
  CHECK(code_of(proxy::make_provider(cfg)->apply(route)) == "bad_config");
  CHECK(read_text(nginx.route_file("r1")) == before);
  MUST_OK(p->remove(route));
}

TEST_CASE("provider nginx: a reload that fails (nginx not running) keeps the previous file") {
  temp_dir dir;
  std::filesystem::create_directories(dir.path() / "routes");
  auto d = dir.path().string();
  write_text(dir.file("nginx.conf"), "pid " + d + "/nginx.pid;\nerror_log " + d
                                       + "/error.log;\nevents {}\nhttp { include " + d
                                       + "/routes/*.conf; }\n");
  config cfg;
  cfg.proxy_provider = "nginx";
  cfg.nginx_conf = dir.file("nginx.conf");
  cfg.nginx_dir = dir.file("routes");
  cfg.nginx_listen = "127.0.0.1:" + std::to_string(free_loopback_port());
  auto p = proxy::make_provider(cfg);
  auto res = p->apply(make_route("r1", "a.test", {20001}));
  CHECK(code_of(res) == "unavailable");
  CHECK(contains(message_of(res), "reload"));
  CHECK_FALSE(std::filesystem::exists(dir.file("routes/tinyforge-r1.conf")));
}

// --- providers: npm against recorded exchanges -----------------------------------------

namespace {

/// Replays tests/data/npm/<name>.json exchanges: a request is answered by the recorded
/// exchange with its method and path whose body fields it carries; a request that needs the
/// token must carry "Bearer <token of login.json>". Anything else is a 400 and a failure.
class npm_replay {
public:
  explicit npm_replay(const std::vector<std::string>& names) {
    for (const auto& name : names) {
      auto doc = std::make_unique<rapidjson::Document>();
      auto text = read_text(std::string{TINYFORGE_SOURCE_DIR} + "/tests/data/npm/" + name
                            + ".json");
      doc->Parse(text.data(), text.size());
      REQUIRE_MESSAGE(!doc->HasParseError(), name);
      exchanges_.push_back({name, std::move(doc)});
    }
    auto login = json_of(read_text(std::string{TINYFORGE_SOURCE_DIR}
                                   + "/tests/data/npm/login.json"));
    token_ = login["response"]["body"]["token"].GetString();
    server_ = std::make_unique<loopback_server>([this](httplib::Server& s) {
      auto handler = [this](const httplib::Request& req, httplib::Response& res) {
        answer(req, res);
      };
      s.Post(".*", handler);
      s.Put(".*", handler);
      s.Delete(".*", handler);
      s.Get(".*", handler);
    });
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }
  int hits(const std::string& name) {
    std::lock_guard<std::mutex> g{mx_};
    return hits_[name];
  }
  std::vector<std::string> failures() {
    std::lock_guard<std::mutex> g{mx_};
    return failures_;
  }
  /// The next request with a token is answered 401 (the token expired).
  void expire_token() { expire_ = true; }
  /// Every body the server received, for checks that the password stays where it belongs.
  std::string received() {
    std::lock_guard<std::mutex> g{mx_};
    return received_;
  }

private:
  struct exchange {
    std::string name;
    std::unique_ptr<rapidjson::Document> doc;
  };

  static bool holds(const rapidjson::Value& expected, const rapidjson::Value& actual) {
    if (expected.IsObject()) {
      if (!actual.IsObject())
        return false;
      for (auto& m : expected.GetObject())
        if (!actual.HasMember(m.name) || !holds(m.value, actual[m.name]))
          return false;
      return true;
    }
    return expected == actual;
  }

  void answer(const httplib::Request& req, httplib::Response& res) {
    std::lock_guard<std::mutex> g{mx_};
    received_ += req.method + " " + req.path + " " + req.get_header_value("Authorization")
                 + " " + req.body + "\n";
    rapidjson::Document body;
    if (!req.body.empty())
      body.Parse(req.body.data(), req.body.size());
    for (auto& ex : exchanges_) {
      const auto& rq = (*ex.doc)["request"];
      if (req.method != rq["method"].GetString() || req.path != rq["path"].GetString())
        continue;
      if (rq.HasMember("body")
          && (req.body.empty() || body.HasParseError() || !holds(rq["body"], body)))
        continue;
      if (rq.HasMember("auth") && rq["auth"].GetBool()) {
        if (req.get_header_value("Authorization") != "Bearer " + token_) {
          failures_.push_back(ex.name + ": wrong Authorization header");
          res.status = 401;
          res.set_content(R"({"error":{"code":401,"message":"Unauthorized"}})",
                          "application/json");
          return;
        }
        if (expire_.exchange(false)) {
          res.status = 401;
          res.set_content(R"({"error":{"code":401,"message":"Token has expired"}})",
                          "application/json");
          return;
        }
      }
      ++hits_[ex.name];
      const auto& rs = (*ex.doc)["response"];
      res.status = rs["status"].GetInt();
      if (rs.HasMember("raw_body")) {
        res.set_content(rs["raw_body"].GetString(), "application/json");
      } else {
        rapidjson::StringBuffer buf;
        rapidjson::Writer<rapidjson::StringBuffer> w{buf};
        rs["body"].Accept(w);
        res.set_content(std::string{buf.GetString(), buf.GetSize()}, "application/json");
      }
      return;
    }
    failures_.push_back("no recorded exchange for " + req.method + " " + req.path + " "
                        + req.body);
    res.status = 400;
    res.set_content(R"({"error":{"code":400,"message":"no recorded exchange"}})",
                    "application/json");
  }

  std::vector<exchange> exchanges_;
  std::string token_;
  std::mutex mx_;
  std::map<std::string, int> hits_;
  std::vector<std::string> failures_;
  std::string received_;
  std::atomic<bool> expire_{false};
  std::unique_ptr<loopback_server> server_;
};

config npm_config(const std::string& url, const std::string& password = "changeme-recorded") {
  config c;
  c.proxy_provider = "npm";
  c.npm_url = url;
  c.npm_email = "admin@example.com";
  c.npm_password = password;
  return c;
}

} // namespace

TEST_CASE("provider npm: create, update, remove with one token") {
  npm_replay npm{{"login", "create", "update", "delete"}};
  auto p = proxy::make_provider(npm_config(npm.url()));
  CHECK(p->name() == "npm");
  CHECK_FALSE(p->routes_all_slots());

  auto route = make_route("r1", "shop.example.test", {20001, 20002});
  auto created = MUST(p->apply(route));
  CHECK(created.npm_proxy_id == 7);
  CHECK(npm.hits("create") == 1);

  // The switch: serving moves to the other slot, NPM's host is updated in place.
  created.serving = {20002};
  auto updated = MUST(p->apply(created));
  CHECK(updated.npm_proxy_id == 7);
  CHECK(npm.hits("update") == 1);

  MUST_OK(p->remove(updated));
  CHECK(npm.hits("delete") == 1);
  CHECK(npm.hits("login") == 1); // the token was reused
  for (const auto& f : npm.failures())
    MESSAGE(f);
  CHECK(npm.failures().empty());
  // A route never created in NPM has nothing to remove.
  MUST_OK(p->remove(route));
}

TEST_CASE("provider npm: an expired token is renewed once") {
  npm_replay npm{{"login", "update"}};
  auto p = proxy::make_provider(npm_config(npm.url()));
  auto route = make_route("r1", "shop.example.test", {20001, 20002});
  route.npm_proxy_id = 7;
  route.serving = {20002};
  MUST(p->apply(route));
  npm.expire_token();
  MUST(p->apply(route));
  CHECK(npm.hits("login") == 2);
  CHECK(npm.hits("update") == 2);
  CHECK(npm.failures().empty());
}

TEST_CASE("provider npm: a wrong password is an error without the password in it") {
  npm_replay npm{{"login_wrong_password"}};
  auto p = proxy::make_provider(npm_config(npm.url(), "wrong-password"));
  auto res = p->apply(make_route("r1", "shop.example.test", {20001}));
  CHECK(code_of(res) == "bad_config");
  CHECK(contains(message_of(res), "Invalid password"));
  CHECK_FALSE(contains(message_of(res), "wrong-password"));
  CHECK(npm.hits("login_wrong_password") == 1);
  // The password went only into the token request.
  auto received = npm.received();
  CHECK(received.find("wrong-password") == received.rfind("wrong-password"));

  auto missing = proxy::make_provider(npm_config(npm.url(), ""));
  CHECK(code_of(missing->apply(make_route("r1", "shop.example.test", {20001}))) == "bad_config");
}

TEST_CASE("provider npm: malformed answers and an unreachable NPM are unavailable") {
  npm_replay npm{{"login", "create_malformed"}};
  auto p = proxy::make_provider(npm_config(npm.url()));
  auto res = p->apply(make_route("r1", "shop.example.test", {20001}));
  CHECK(code_of(res) == "unavailable");
  CHECK(contains(message_of(res), "malformed JSON"));

  auto dead = proxy::make_provider(npm_config("http://127.0.0.1:" + std::to_string(free_loopback_port())));
  auto gone = dead->apply(make_route("r1", "shop.example.test", {20001}));
  CHECK(code_of(gone) == "unavailable");
  CHECK_FALSE(contains(message_of(gone), "changeme"));
}
