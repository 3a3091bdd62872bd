// The real tinyforge binary as a child process: start-up, health, graceful shutdown on
// SIGTERM and SIGINT (including a request in flight and an idle keep-alive connection),
// the database left behind, and configuration errors. Every wait is on an event (a log
// line, a response, the child's exit) with a generous upper bound, so a broken daemon fails
// a test instead of hanging it; no test asserts on elapsed time.
#include <doctest/doctest.h>

#include "helpers.hpp"
#include "net.hpp"
#include "process.hpp"
#include "config/ephemeral_ports.hpp"
#include "store/database.hpp"

#include <httplib.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace fs = std::filesystem;

using namespace tf::test;

namespace {

using clock_type = std::chrono::steady_clock;

// --- sockets and HTTP ------------------------------------------------------------------

bool connection_refused(uint16_t port) {
  auto fd = connect_to(port);
  return !fd && errno == ECONNREFUSED;
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

/// Sends `sig`, expects exit 0, and reports (never asserts) how long that took.
void stop_cleanly(child_process& d, int sig, const std::string& what) {
  MESSAGE(what, " to exit: ", expect_clean_stop(d, sig), " ms");
}

/// Starts, checks bad config is rejected: exit 2, exactly one stderr line containing
/// `needle`, no data directory created, nothing listening.
void check_bad_config(const std::vector<std::string>& extra_args,
                      const std::map<std::string, std::string>& env, const std::string& needle) {
  tf::test::temp_dir tmp;
  auto data_dir = tmp.file("data");
  auto port = free_loopback_port();
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
  auto port = d.require_port();
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
  auto port = d.require_port();

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
  auto port = d.require_port();
  check_healthz(port);
  stop_cleanly(d, SIGINT, "SIGINT");
  CHECK(d.stderr_text().find("event=shutdown-begin signal=SIGINT") != std::string::npos);
  CHECK(connection_refused(port));
}

TEST_CASE("daemon: an idle keep-alive connection does not hold up the exit") {
  tf::test::temp_dir tmp;
  child_process d{serve_args(tmp.file("data"))};
  auto port = d.require_port();

  auto idle = healthz_kept_alive(port);

  stop_cleanly(d, SIGTERM, "SIGTERM (idle keep-alive connection open)");
  CHECK(closed_by_peer(idle.fd.get()));
}

// --- configuration ---------------------------------------------------------------------

TEST_CASE("daemon: the shipped config file starts the daemon") {
  tf::test::temp_dir tmp;
  auto data_dir = tmp.file("data");
  child_process d{{"serve", "--config", std::string{TINYFORGE_SOURCE_DIR} + "/config/tinyforge.json",
                   "--listen", "127.0.0.1:0", "--data_dir", data_dir}};
  check_healthz(d.require_port());
  CHECK(fs::exists(data_dir + "/tinyforge.db"));
  stop_cleanly(d, SIGTERM, "SIGTERM (shipped config)");
}

// Issue 11, item 6: a slot port inside the kernel's ephemeral range can be held by an outgoing
// connection's source port, and a deploy then fails to bind it. The daemon still starts (a
// warning, nothing refused), but says which key, which value and which range.
TEST_CASE("daemon: slot_ports inside the kernel's ephemeral range start with a warning that "
          "names them") {
  auto kernel = tf::read_ephemeral_range();
  REQUIRE_MESSAGE(kernel, tf::ephemeral_range_path, " is unreadable here");
  auto inside = std::to_string(kernel->low) + "-" + std::to_string(kernel->low + 9);
  auto range = std::to_string(kernel->low) + "-" + std::to_string(kernel->high);
  tf::test::temp_dir tmp;
  auto args = serve_args(tmp.file("data"));
  args.insert(args.end(), {"--proxy.slot_ports", inside});
  child_process d{args};
  auto port = d.require_port();
  check_healthz(port);
  // Logged before http-listening, which require_port() already read past.
  auto line = d.wait_for_line_from("event=ephemeral-port-overlap", 0);
  REQUIRE_MESSAGE(line, "no warning; stderr:\n", d.stderr_text());
  MESSAGE(*line);
  CHECK(line->find(" warning ") != std::string::npos);
  CHECK(line->find("key=proxy.slot_ports") != std::string::npos);
  CHECK(line->find("value=" + inside) != std::string::npos);
  CHECK(line->find("kernel_range=" + range) != std::string::npos);
  // `listen` port 0 is the kernel's pick: no warning for it.
  CHECK(d.stderr_text().find("key=listen") == std::string::npos);
  stop_cleanly(d, SIGTERM, "SIGTERM (slot ports in the ephemeral range)");
}

TEST_CASE("daemon: the default slot_ports start without an ephemeral-range warning") {
  tf::test::temp_dir tmp;
  child_process d{serve_args(tmp.file("data"))};
  check_healthz(d.require_port());
  stop_cleanly(d, SIGTERM, "SIGTERM (default slot ports)");
  CHECK(d.stderr_text().find("event=ephemeral-port-overlap") == std::string::npos);
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
