// The request gate in front of httplib (issue 13, items 1, 2, 3, 14, 15): slow clients never
// hold the workers, SIGTERM ends the daemon promptly whoever is connected, header floods get
// 431, ambiguous framing gets 400, pipelined requests are answered in order, and a bodiless
// POST is an empty body. Raw sockets throughout: an HTTP client would normalise the requests.
#include <doctest/doctest.h>

#include "api_fixture.hpp"
#include "api_server.hpp"
#include "config/config.hpp"
#include "helpers.hpp"
#include "http/server.hpp"
#include "net.hpp"
#include "process.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using namespace tf::test;

namespace {

struct gate_fixture : store_fixture {
  api_server server;
  uint16_t port = 0;
  std::string token = api_token("gate-test");

  explicit gate_fixture(tf::config cfg = short_deadlines()) : store_fixture{1} {
    cfg.http_threads = 2;
    port = server.start(server_context(500ms), cfg);
  }

  /// Head and idle deadlines short enough for a test to see them pass.
  static tf::config short_deadlines() {
    tf::config cfg;
    cfg.http_head_timeout_ms = 1000;
    cfg.http_idle_timeout_ms = 1000;
    return cfg;
  }
  ~gate_fixture() { server.stop(); }

  raw_response exchange(std::string_view request) const {
    auto fd = connect_and_send(port, request);
    std::string buf;
    auto res = read_response(fd.get(), buf);
    REQUIRE_MESSAGE(res, "no complete response to: ", request);
    return *res;
  }
};

void check_refusal(const raw_response& res, int status, const std::string& code) {
  INFO("body: ", res.body);
  CHECK(res.status == status);
  CHECK(res.header("Content-Type") == "application/json");
  CHECK(res.body.find("\"code\":\"" + code + "\"") != std::string::npos);
  CHECK(lower(res.header("Connection")) == "close");
}

/// A socket from `source` (another loopback address) to 127.0.0.1:`port`.
socket_fd connect_from(const char* source, uint16_t port) {
  socket_fd fd{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  REQUIRE(fd);
  sockaddr_in from{};
  from.sin_family = AF_INET;
  ::inet_pton(AF_INET, source, &from.sin_addr);
  REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&from), sizeof from) == 0);
  auto to = loopback(port);
  REQUIRE(::connect(fd.get(), reinterpret_cast<sockaddr*>(&to), sizeof to) == 0);
  return fd;
}

/// Milliseconds for a fresh connection's GET /healthz to be answered 200.
long long timed_healthz(uint16_t port) {
  auto t0 = std::chrono::steady_clock::now();
  auto fd = connect_and_send(port, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  std::string buf;
  auto res = read_response(fd.get(), buf);
  REQUIRE(res);
  CHECK(res->status == 200);
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now()
                                                               - t0)
    .count();
}

/// `count` clients spread over 127.0.0.2.. that each send part of a head and then one byte
/// every 200 ms (the attack of issue 13, item 1) until stopped.
class slow_clients {
public:
  slow_clients(uint16_t port, int count) {
    for (int i = 0; i < count; ++i) {
      auto source = "127.0.0." + std::to_string(2 + i / 50);
      fds_.push_back(connect_from(source.c_str(), port));
      send_all(fds_.back().get(), "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-a: ");
    }
    trickle_ = std::thread{[this] {
      while (!stop_) {
        for (auto& fd : fds_)
          (void)::send(fd.get(), "a", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        std::this_thread::sleep_for(200ms); // the attacker's pace, not a wait for an event
      }
    }};
  }
  ~slow_clients() {
    stop_ = true;
    trickle_.join();
  }

private:
  std::vector<socket_fd> fds_;
  std::atomic<bool> stop_{false};
  std::thread trickle_;
};

} // namespace

// --- items 1 and 2: slow clients -----------------------------------------------------------

TEST_CASE("gate: 200 slow clients neither delay a normal client's healthz nor SIGTERM") {
  temp_dir tmp;
  child_process d{{"serve", "--listen", "127.0.0.1:0", "--data_dir", tmp.file("data")}};
  auto port = d.require_port();
  slow_clients attackers{port, 200};
  for (int i = 0; i < 5; ++i) {
    auto ms = timed_healthz(port);
    MESSAGE("healthz answered in ", ms, " ms with 200 slow clients connected");
    CHECK(ms < 1000); // the bound issue 13 demands
  }
  // The README promises a prompt exit; issue 13 demands 2 s with the slow clients connected.
  MESSAGE("SIGTERM to exit: ", expect_clean_stop(d, SIGTERM, 2000ms), " ms");
}

TEST_CASE("gate: connections beyond the per-client cap get 503 while other clients are served") {
  temp_dir tmp;
  child_process d{{"serve", "--listen", "127.0.0.1:0", "--data_dir", tmp.file("data"),
                   "--http_max_connections_per_client", "5"}};
  auto port = d.require_port();
  std::vector<socket_fd> held;
  for (int i = 0; i < 5; ++i)
    held.push_back(connect_from("127.0.0.9", port));
  auto extra = connect_from("127.0.0.9", port);
  std::string buf;
  auto res = read_response(extra.get(), buf);
  REQUIRE(res);
  check_refusal(*res, 503, "unavailable");
  CHECK(timed_healthz(port) < 1000);
  expect_clean_stop(d, SIGTERM, 2000ms);
}

TEST_CASE("gate: answered connections a client has not closed yet do not count against its cap") {
  // A connection-per-request sender (a CI's webhook calls) opens its next connection as
  // soon as it reads an answer, before the server has seen it close the last one.
  temp_dir tmp;
  child_process d{{"serve", "--listen", "127.0.0.1:0", "--data_dir", tmp.file("data"),
                   "--http_max_connections_per_client", "5"}};
  auto port = d.require_port();
  std::vector<socket_fd> answered; // read to their answer, never closed by this side
  for (int i = 0; i < 8; ++i) {
    answered.push_back(connect_from("127.0.0.9", port));
    REQUIRE(send_all(answered.back().get(),
                     "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"));
    std::string buf;
    auto res = read_response(answered.back().get(), buf);
    REQUIRE(res);
    CAPTURE(i);
    CHECK(res->status == 200);
  }
  expect_clean_stop(d, SIGTERM, 2000ms);
}

TEST_CASE_FIXTURE(gate_fixture, "gate: a head still incomplete at its deadline gets 408 and is closed") {
  // Trickling bytes (the attack of item 1) does not extend the deadline: it covers the head.
  auto fd = connect_and_send(port, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-a: ");
  std::string buf;
  auto deadline = std::chrono::steady_clock::now() + io_bound;
  while (buf.empty() && std::chrono::steady_clock::now() < deadline) {
    (void)::send(fd.get(), "a", 1, MSG_NOSIGNAL);
    (void)read_some(fd.get(), buf, std::chrono::steady_clock::now() + 100ms);
  }
  auto res = read_response(fd.get(), buf);
  REQUIRE(res);
  check_refusal(*res, 408, "request_timeout");
}

TEST_CASE_FIXTURE(gate_fixture, "gate: an idle keep-alive connection is closed after the idle time") {
  auto idle = healthz_kept_alive(port);
  CHECK(next_event(idle.fd.get(), idle.buf) == read_result::eof);
}

// --- item 3: header count and size ------------------------------------------------------

TEST_CASE_FIXTURE(gate_fixture, "gate: 1,000,000 headers get 431 without being buffered") {
  auto fd = connect_and_send(port, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n");
  // 12 MB of headers, sent while the answer is read: the gate answers after its cap and
  // drops the rest.
  std::thread flood{[&] {
    std::string block;
    for (int i = 0; i < 10000; ++i)
      block += "X-h: 1234567\r\n";
    for (int i = 0; i < 100; ++i)
      if (!send_all(fd.get(), block))
        return; // the server closed after its answer: fine
  }};
  std::string buf;
  auto res = read_response(fd.get(), buf);
  flood.join();
  REQUIRE(res);
  check_refusal(*res, 431, "header_fields_too_large");
}

TEST_CASE_FIXTURE(gate_fixture, "gate: more header lines than the cap get 431") {
  std::string head = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  for (int i = 0; i < 100; ++i)
    head += "X-" + std::to_string(i) + ": y\r\n";
  check_refusal(exchange(head + "\r\n"), 431, "header_fields_too_large");
}

// --- item 14: framing -----------------------------------------------------------------

TEST_CASE_FIXTURE(gate_fixture, "gate: ambiguous framing gets 400") {
  const char* cases[] = {
    "POST /api/projects HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    "POST /api/projects HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2, 3\r\n\r\n{}",
    "GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n",
    "POST /api/projects HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
    "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-a: 1\r\n  folded\r\n\r\n",
    "POST /api/projects HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: xchunked\r\n\r\n",
    "POST /api/projects HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
    "POST /api/projects HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
    "Content-Length: 2\r\n\r\n{}",
  };
  for (const char* request : cases) {
    CAPTURE(request);
    check_refusal(exchange(request), 400, "invalid_argument");
  }
}

TEST_CASE_FIXTURE(gate_fixture, "gate: three pipelined GETs are answered in order") {
  auto fd = connect_and_send(port, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                                   "GET /api/no-such-route HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                   "Authorization: Bearer " + token + "\r\n\r\n"
                                   "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  std::string buf;
  for (int expected : {200, 404, 200}) {
    auto res = read_response(fd.get(), buf);
    REQUIRE_MESSAGE(res, "answer for status ", expected, " missing");
    CHECK(res->status == expected);
  }
}

// A worker that answered a keep-alive request may read the connection's next request
// itself (when it comes at once): that request gets the same deadline and limits as one the
// gate reads. Each request is sent right after the previous answer, as a quick client does.
TEST_CASE_FIXTURE(gate_fixture, "gate: a keep-alive connection's next request gets the same deadline and limits") {
  SUBCASE("requests sent as soon as each answer arrives are all answered, in order") {
    auto kept = healthz_kept_alive(port);
    for (const char* path : {"/healthz", "/api/no-such-route", "/healthz"}) {
      CAPTURE(path);
      // With the token: an unknown API route is a 404 that keeps the connection open.
      REQUIRE(send_all(kept.fd.get(), std::string{"GET "} + path
                                        + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
                                        + token + "\r\n\r\n"));
      auto res = read_response(kept.fd.get(), kept.buf);
      REQUIRE(res);
      CHECK(res->status == (std::string_view{path} == "/healthz" ? 200 : 404));
    }
  }
  SUBCASE("a next head left incomplete gets 408") {
    auto kept = healthz_kept_alive(port);
    REQUIRE(send_all(kept.fd.get(), "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-a: "));
    auto res = read_response(kept.fd.get(), kept.buf);
    REQUIRE(res);
    check_refusal(*res, 408, "request_timeout");
  }
  SUBCASE("a next head with more header lines than the cap gets 431") {
    auto kept = healthz_kept_alive(port);
    std::string head = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    for (int i = 0; i < 100; ++i)
      head += "X-" + std::to_string(i) + ": y\r\n";
    REQUIRE(send_all(kept.fd.get(), head + "\r\n"));
    auto res = read_response(kept.fd.get(), kept.buf);
    REQUIRE(res);
    check_refusal(*res, 431, "header_fields_too_large");
  }
  SUBCASE("a next request with ambiguous framing gets 400") {
    auto kept = healthz_kept_alive(port);
    REQUIRE(send_all(kept.fd.get(), "POST /api/projects HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                    "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}"));
    auto res = read_response(kept.fd.get(), kept.buf);
    REQUIRE(res);
    check_refusal(*res, 400, "invalid_argument");
  }
}

// --- item 15: a POST without a body ---------------------------------------------------

TEST_CASE_FIXTURE(gate_fixture, "gate: a POST with no body and no Content-Length is an empty body") {
  auto head = "POST /api/stale/prune HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + token
              + "\r\n";
  auto without = exchange(head + "\r\n");
  auto with = exchange(head + "Content-Length: 0\r\n\r\n");
  CHECK(without.status == with.status);
  CHECK(without.body == with.body);
  CHECK(without.body.find("malformed") == std::string::npos);
}

// A client that writes the head and then the body (httplib's own client does) is answered
// once the body is there; the head alone is checked first, for refusals that need no body.
TEST_CASE_FIXTURE(gate_fixture, "gate: a body sent after its head is read and answered") {
  auto fd = connect_and_send(port, "POST /api/no-such-route HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                   "Authorization: Bearer " + token + "\r\n"
                                   "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n");
  std::string buf;
  // Nothing is answered while the body is missing (a short look, not a wait for an event).
  CHECK(read_some(fd.get(), buf, std::chrono::steady_clock::now() + 200ms)
        == read_result::timeout);
  REQUIRE(send_all(fd.get(), "{}"));
  auto res = read_response(fd.get(), buf);
  REQUIRE(res);
  CHECK(res->status == 404);
}
