// The HTTP front-end, in-process: a real actor system, the real store actors on a temporary
// database, and tf::http::server on an ephemeral port. Requests go through httplib's client,
// or through raw sockets where the client cannot produce the case (oversized or chunked
// bodies, malformed headers). Also unit tests of parse_object and http_status.
#include <doctest/doctest.h>

#include "core/errors.hpp"
#include "actors/system.hpp"
#include "api_client.hpp"
#include "api_fixture.hpp"
#include "api_server.hpp"
#include "config/config.hpp"
#include "expect.hpp"
#include "helpers.hpp"
#include "http/ask.hpp"
#include "http/errors.hpp"
#include "net/json.hpp"
#include "http/server.hpp"
#include "net.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <httplib.h>
#include <rapidjson/document.h>

#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

using namespace std::chrono_literals;

using namespace tf::test;

namespace {

// --- JSON ------------------------------------------------------------------------------

/// Exactly {"error":{"code":<code>,"message":<non-empty string>}}.
void check_envelope(const std::string& body, const std::string& code) {
  INFO("body: ", body);
  auto doc = parse_json(body);
  REQUIRE(doc.IsObject());
  CHECK(doc.MemberCount() == 1);
  REQUIRE(doc.HasMember("error"));
  const auto& err = doc["error"];
  REQUIRE(err.IsObject());
  CHECK(err.MemberCount() == 2);
  REQUIRE(err.HasMember("code"));
  REQUIRE(err["code"].IsString());
  CHECK(std::string{err["code"].GetString()} == code);
  REQUIRE(err.HasMember("message"));
  REQUIRE(err["message"].IsString());
  CHECK(err["message"].GetStringLength() > 0);
}

/// An error answer: `status`, a JSON body, and the envelope with `code`.
void check_error(const httplib::Result& res, int status, const std::string& code) {
  REQUIRE(res);
  CHECK(res->status == status);
  CHECK(res->get_header_value("Content-Type") == "application/json");
  check_envelope(res->body, code);
}

void check_error(const raw_response& res, int status, const std::string& code) {
  CHECK(res.status == status);
  CHECK(res.header("Content-Type") == "application/json");
  check_envelope(res.body, code);
}

// --- the server under test -------------------------------------------------------------

/// One request written on its own connection, and the response read back. The connection
/// stays open, and `buf` holds whatever arrived after the response.
struct raw_exchange {
  socket_fd fd;
  std::string buf;
  raw_response res;
};

struct http_fixture : store_fixture {
  static constexpr int64_t body_limit = 4096;

  api_server server;
  uint16_t port = 0;
  /// An API token of a user made here: these tests are about HTTP, so they get past auth.
  std::string token = api_token("http-test");

  http_fixture() : store_fixture{1} {
    tf::config cfg;
    cfg.max_body_bytes = body_limit;
    cfg.http_threads = 4;
    // A dead or stuck actor must not hold a request for long.
    port = server.start(server_context(200ms), cfg);
    CHECK(port != 0);
    // One answered request proves run() is serving, so stop() in the teardown takes effect.
    auto c = client();
    auto warm = c.Get("/healthz");
    CHECK_MESSAGE(warm, "the server did not answer its first request");
  }

  ~http_fixture() { server.stop(); }

  /// Connects, sends `request` as it is, and reads one response; fails the test when any
  /// of that does not happen.
  raw_exchange send_raw(std::string_view request) const {
    raw_exchange ex{connect_and_send(port, request), {}, {}};
    auto res = read_response(ex.fd.get(), ex.buf);
    REQUIRE_MESSAGE(res, "no complete response to: ", request);
    ex.res = std::move(*res);
    return ex;
  }

  httplib::Client client() const {
    return bearer_client(port, token);
  }
};

} // namespace

// --- routes ----------------------------------------------------------------------------

TEST_CASE_FIXTURE(http_fixture, "GET /healthz answers 200 with status and db ok as JSON") {
  auto c = client();
  check_health_answer(c.Get("/healthz"), 200, "ok", "ok");
}

TEST_CASE_FIXTURE(http_fixture, "GET / serves the embedded web UI") {
  auto c = client();
  auto res = c.Get("/");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->get_header_value("Content-Type").rfind("text/html", 0) == 0);
  CHECK_FALSE(res->body.empty());
}

TEST_CASE_FIXTURE(http_fixture, "an unknown API route answers 404 in the error envelope") {
  auto c = client();
  // Other paths are the web UI's pages (its index.html: tests/auth_test.cpp).
  for (std::string path : {"/api/nothing/here", "/api", "/api/", "/api/healthz"}) {
    CAPTURE(path);
    check_error(c.Get(path), 404, "not_found");
  }
}

TEST_CASE_FIXTURE(http_fixture, "POST with a small JSON body to an unknown route answers 404") {
  auto c = client();
  check_error(c.Post("/api/unknown", R"({"name":"x"})", "application/json"), 404, "not_found");
}

TEST_CASE_FIXTURE(http_fixture, "a body of exactly max_body_bytes is read, one byte more is 413") {
  auto c = client();
  auto at_limit = c.Post("/api/unknown", std::string(body_limit, 'x'), "application/json");
  REQUIRE(at_limit);
  CHECK(at_limit->status == 404);
  check_envelope(at_limit->body, "not_found");

  auto c2 = client();
  check_error(c2.Post("/api/unknown", std::string(body_limit + 1, 'x'), "application/json"), 413,
              "payload_too_large");
}

TEST_CASE_FIXTURE(http_fixture,
                  "Content-Length above the limit gets 413 before the body is sent") {
  // 10 GB announced, nothing sent: only a server that does not read the body can answer.
  auto ex = send_raw("POST /api/projects HTTP/1.1\r\n"
                     "Host: 127.0.0.1\r\n"
                     "Content-Type: application/json\r\n"
                     "Content-Length: 10000000000\r\n"
                     "\r\n");
  check_error(ex.res, 413, "payload_too_large");
  CHECK(lower(ex.res.header("Connection")) == "close");
  // The server closes the connection: it cannot carry another request.
  CHECK(next_event(ex.fd.get(), ex.buf) == read_result::eof);
}

TEST_CASE_FIXTURE(http_fixture, "a chunked request body gets 411") {
  auto ex = send_raw("POST /api/projects HTTP/1.1\r\n"
                     "Host: 127.0.0.1\r\n"
                     "Content-Type: application/json\r\n"
                     "Transfer-Encoding: chunked\r\n"
                     "\r\n");
  check_error(ex.res, 411, "length_required");
  CHECK(next_event(ex.fd.get(), ex.buf) == read_result::eof);
}

TEST_CASE_FIXTURE(http_fixture, "a Content-Length that is not a number gets 400") {
  for (std::string value : {"abc", "12abc", "-1", "99999999999999999999999"}) {
    CAPTURE(value);
    auto ex = send_raw(std::string{"POST /api/projects HTTP/1.1\r\n"
                                   "Host: 127.0.0.1\r\n"
                                   "Content-Length: "}
                       + value + "\r\n\r\n");
    if (value == "-1") {
      // strtoull accepts "-1" as a huge number: rejected either way, as 400 or 413.
      CHECK((ex.res.status == 400 || ex.res.status == 413));
    } else {
      CHECK(ex.res.status == 400);
      check_envelope(ex.res.body, "invalid_argument");
    }
    CHECK(ex.res.header("Content-Type") == "application/json");
  }
}

TEST_CASE_FIXTURE(http_fixture, "a malformed request line or unknown method gets a 400 envelope") {
  for (std::string request : {"NONSENSE\r\n\r\n", "BREW /healthz HTTP/1.1\r\nHost: x\r\n\r\n"}) {
    CAPTURE(request);
    check_error(send_raw(request).res, 400, "invalid_argument");
  }
}

// After refusing to read a body, the server announces "Connection: close"; the bytes that
// follow on the wire are the unread body and must never be parsed as a new request (that
// would let a client smuggle a request past a proxy inside a body).
TEST_CASE_FIXTURE(http_fixture, "the unread body of a refused request is never served as a request") {
  const std::string smuggled = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  struct refusal {
    std::string name;
    std::string head;
    int status;
    const char* code;
  };
  const refusal cases[] = {
    {"413 Content-Length above the limit",
     "POST /api/projects HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10000000000\r\n\r\n",
     413, "payload_too_large"},
    {"411 chunked", "POST /api/projects HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n",
     411, "length_required"},
    {"400 bad Content-Length",
     "POST /api/projects HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\n\r\n", 400,
     "invalid_argument"},
    // The auth guard refuses before routing, so before the body is read.
    {"401 without credentials",
     "POST /api/projects HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: "
       + std::to_string(smuggled.size()) + "\r\n\r\n",
     401, "unauthorized"},
  };
  for (const auto& rc : cases) {
    CAPTURE(rc.name);
    auto ex = send_raw(rc.head);
    CHECK(ex.res.status == rc.status);
    check_envelope(ex.res.body, rc.code);
    CHECK(lower(ex.res.header("Connection")) == "close");
    // A connection declared closed carries no keep-alive parameters.
    CHECK(ex.res.header("Keep-Alive").empty());
    // The client goes on sending its body, which here looks like a request. The server
    // may already have closed the socket, so a failed send is fine.
    send_all(ex.fd.get(), smuggled);
    auto next = next_event(ex.fd.get(), ex.buf);
    CHECK_MESSAGE(next == read_result::eof,
                  "the server answered bytes of an unread body as a new request: ", ex.buf);
  }
}

TEST_CASE_FIXTURE(http_fixture, "healthz answers 503 degraded when the store readers are stopped") {
  tf::stop_store(sys, store);
  auto c = client();
  check_health_answer(c.Get("/healthz"), 503, "degraded", "unavailable");
  // And it stays answerable.
  auto again = c.Get("/healthz");
  REQUIRE(again);
  CHECK(again->status == 503);
}

// The daemon starts run() on a thread and may get SIGTERM (and call stop()) before that
// thread has entered the accept loop. stop() must still end run().
TEST_CASE("server: stop() called before run() has started still makes run() return") {
  caf::actor_system_config actor_cfg;
  caf::actor_system sys{actor_cfg};
  tf::config cfg;
  cfg.http_threads = 1;
  tf::http::server_context ctx;
  ctx.sys = &sys;
  tf::http::server srv{ctx, cfg};
  auto bound = srv.bind("127.0.0.1", 0);
  REQUIRE(bound);
  srv.stop();
  std::promise<void> returned;
  auto done = returned.get_future();
  std::thread serving{[&] {
    srv.run();
    returned.set_value();
  }};
  auto ok = done.wait_for(10s) == std::future_status::ready;
  CHECK_MESSAGE(ok, "run() kept serving after stop(): a stop() that precedes run() is lost");
  if (!ok)
    srv.stop(); // run() is in its accept loop by now; this one takes effect
  serving.join();
}

// --- parse_object ----------------------------------------------------------------------

TEST_CASE("parse_object: malformed JSON is invalid_argument with the offset") {
  for (std::string body : {"{\"a\":", "{\"a\" 1}", "", "{} x", "{'a':1}"}) {
    CAPTURE(body);
    check_failed(tf::net::parse_object(body), tf::ec::invalid_argument, "offset");
  }
}

// RapidJSON treats a NUL byte as the end of input; the body's length is the real end, so a
// NUL followed by more bytes is trailing garbage like "{} x".
TEST_CASE("parse_object: bytes after a NUL that follows the object are rejected") {
  const std::string body{"{\"a\":1}\0{\"b\":2}", 15};
  auto doc = tf::net::parse_object(body);
  CHECK_FALSE_MESSAGE(doc, "a body with trailing bytes after a NUL was accepted");
  if (!doc)
    CHECK(tf::error_code(doc.error()) == tf::ec::invalid_argument);
}

TEST_CASE("parse_object: invalid UTF-8 is rejected") {
  auto doc = tf::net::parse_object("{\"a\":\"\xff\xfe\"}");
  REQUIRE_FALSE(doc);
  CHECK(tf::error_code(doc.error()) == tf::ec::invalid_argument);
}

// Found by fuzzing request bodies: RapidJSON decodes a lone low surrogate to bytes that are
// no UTF-8, which would then be stored and written back to clients.
TEST_CASE("parse_object: an escaped lone surrogate is rejected") {
  for (std::string body : {R"({"a":"\udc00"})", R"({"a":"x\ude00y"})", R"({"\udfff":1})"}) {
    CAPTURE(body);
    check_failed(tf::net::parse_object(body), tf::ec::invalid_argument, "surrogate");
  }
  SUBCASE("a surrogate pair and characters next to the surrogate range stay valid") {
    auto doc = tf::net::parse_object(R"({"a":"\ud83d\ude00 \ud7ff \ue000"})");
    REQUIRE(doc);
    CHECK(std::string{(*doc)["a"].GetString()} == "\xF0\x9F\x98\x80 \xED\x9F\xBF \xEE\x80\x80");
  }
}

TEST_CASE("parse_object: a top level that is not an object is invalid_argument") {
  for (std::string body : {"[1,2]", "[]", "\"text\"", "42", "null", "true"}) {
    CAPTURE(body);
    auto doc = tf::net::parse_object(body);
    REQUIRE_FALSE(doc);
    CHECK(tf::error_code(doc.error()) == tf::ec::invalid_argument);
  }
}

TEST_CASE("parse_object: deep nesting is rejected without exhausting the stack") {
  SUBCASE("10,000 unclosed '['") {
    auto doc = tf::net::parse_object(std::string(10000, '['));
    REQUIRE_FALSE(doc);
    CHECK(tf::error_code(doc.error()) == tf::ec::invalid_argument);
    CHECK(tf::error_message(doc.error()).find("deeper") != std::string::npos);
  }
  SUBCASE("10,000 balanced levels inside an object") {
    auto body = "{\"a\":" + std::string(10000, '[') + std::string(10000, ']') + "}";
    auto doc = tf::net::parse_object(body);
    REQUIRE_FALSE(doc);
    CHECK(tf::error_code(doc.error()) == tf::ec::invalid_argument);
  }
  SUBCASE("100,000 nested objects") {
    std::string body;
    for (int i = 0; i < 100000; ++i)
      body += "{\"a\":";
    auto doc = tf::net::parse_object(body);
    REQUIRE_FALSE(doc);
    CHECK(tf::error_code(doc.error()) == tf::ec::invalid_argument);
  }
  SUBCASE("the limit itself: max_depth levels pass, one more fails") {
    auto nested = [](int levels) {
      std::string s;
      for (int i = 0; i < levels; ++i)
        s += "{\"a\":";
      s += "1";
      for (int i = 0; i < levels; ++i)
        s += "}";
      return s;
    };
    CHECK(tf::net::parse_object(nested(32)));
    CHECK_FALSE(tf::net::parse_object(nested(33)));
    CHECK(tf::net::parse_object(nested(3), 3));
    CHECK_FALSE(tf::net::parse_object(nested(4), 3));
  }
}

TEST_CASE("parse_object: a valid object parses") {
  auto doc = tf::net::parse_object(R"({"name":"web","port":8080,"env":{"A":"1"},"tags":[]})");
  REQUIRE_MESSAGE(doc, tf::error_message(doc.error()));
  REQUIRE(doc->IsObject());
  REQUIRE(doc->HasMember("name"));
  CHECK(std::string{(*doc)["name"].GetString()} == "web");
  CHECK((*doc)["port"].GetInt() == 8080);
  CHECK((*doc)["env"].IsObject());
  CHECK((*doc)["tags"].IsArray());

  auto empty = tf::net::parse_object("  {}  ");
  REQUIRE(empty);
  CHECK(empty->IsObject());
  CHECK(empty->MemberCount() == 0);
}

// --- http_status and the envelope ------------------------------------------------------

TEST_CASE("http_status maps every error code") {
  using tf::ec;
  CHECK(tf::http::http_status(ec::none) == 200);
  CHECK(tf::http::http_status(ec::invalid_argument) == 400);
  CHECK(tf::http::http_status(ec::not_found) == 404);
  CHECK(tf::http::http_status(ec::conflict) == 409);
  CHECK(tf::http::http_status(ec::payload_too_large) == 413);
  CHECK(tf::http::http_status(ec::database) == 500);
  CHECK(tf::http::http_status(ec::unavailable) == 503);
  CHECK(tf::http::http_status(ec::timeout) == 503);
  CHECK(tf::http::http_status(ec::bad_config) == 500);
  CHECK(tf::http::http_status(ec::internal) == 500);
  // A value outside the enum is a bug, reported as one.
  CHECK(tf::http::http_status(static_cast<ec>(200)) == 500);
}

TEST_CASE("render_error: client errors keep their message, internal ones are hidden") {
  httplib::Response res;
  tf::http::render_error(res, tf::make_error(tf::ec::conflict, "name \"web\" is taken"));
  CHECK(res.status == 409);
  check_envelope(res.body, "conflict");
  CHECK(res.body.find("is taken") != std::string::npos);

  httplib::Response db;
  tf::http::render_error(db, tf::make_error(tf::ec::database, "SQL logic error near SELECT"));
  CHECK(db.status == 500);
  check_envelope(db.body, "database");
  CHECK(db.body.find("SQL") == std::string::npos);

  auto body = tf::http::error_body("x", std::string_view{"a\"b\n\0c", 6});
  auto doc = parse_json(body);
  CHECK(doc["error"]["message"].GetStringLength() == 6);
}

TEST_CASE("error_body: bytes that are no UTF-8 never reach the envelope") {
  for (std::string_view bad :
       {std::string_view{"limit: \xFF\xFE"}, std::string_view{"\xC0\xAF overlong"},
        std::string_view{"\xED\xA0\x80 surrogate"}, std::string_view{"cut \xE2\x82"},
        std::string_view{"\xF4\x90\x80\x80 too high"}}) {
    auto body = tf::http::error_body("invalid_argument", bad);
    rapidjson::Document d;
    d.Parse<rapidjson::kParseValidateEncodingFlag>(body.data(), body.size());
    CHECK_MESSAGE(!d.HasParseError(), body);
    CHECK(body.find("\xEF\xBF\xBD") != std::string::npos); // U+FFFD stands in
  }
  // Valid multi-byte text passes unchanged.
  auto body = tf::http::error_body("x", "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
  CHECK(body.find("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80") != std::string::npos);
}

TEST_CASE("parse_object: a key given twice in one object is refused, naming the key") {
  auto top = tf::net::parse_object(R"({"a":1,"b":2,"a":3})");
  REQUIRE_FALSE(top);
  CHECK(tf::error_message(top.error()).find("\"a\"") != std::string::npos);
  auto nested = tf::net::parse_object(R"({"x":[{"k":1},{"k":2,"k":3}]})");
  REQUIRE_FALSE(nested);
  CHECK(tf::error_message(nested.error()).find("\"k\"") != std::string::npos);
  // The same key in sibling or nested objects is no duplicate.
  CHECK(tf::net::parse_object(R"({"k":{"k":1},"x":[{"k":1},{"k":2}]})"));
  // Escapes that decode to the same key are the same key.
  CHECK_FALSE(tf::net::parse_object(R"({"a":1,"\u0061":2})"));
}
