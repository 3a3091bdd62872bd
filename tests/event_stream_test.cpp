// GET /api/events: what the store writer commits reaches a browser's EventSource as it
// happens, a reconnect gets what it missed, and a client that does not read is cut off
// instead of slowing anyone. A real server and store; raw sockets read the stream as a
// browser would.
#include "api_fixture.hpp"
#include "api_server.hpp"
#include "json_checks.hpp"
#include "net.hpp"

#include <doctest/doctest.h>
#include <sys/socket.h>

#include <chrono>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using namespace tf::test;

namespace {

/// One server-sent event as read off the wire.
struct sse_event {
  std::string id, type, data;
};

struct events_fixture : store_fixture {
  api_server server;
  uint16_t port = 0;
  std::string token = api_token("events-test");

  events_fixture() : store_fixture{1} {
    tf::config cfg;
    cfg.http_threads = 4;
    port = server.start(server_context(5s), cfg);
  }
  ~events_fixture() { server.stop(); }

  /// A connection that asked for the stream (after `last_event_id` when not empty).
  socket_fd open_stream(const std::string& last_event_id = "", int receive_buffer = 0) {
    socket_fd unconnected{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    REQUIRE(unconnected);
    if (receive_buffer > 0)
      ::setsockopt(unconnected.get(), SOL_SOCKET, SO_RCVBUF, &receive_buffer,
                   sizeof receive_buffer);
    auto fd = connect_socket(std::move(unconnected), port);
    REQUIRE(fd);
    std::string request = "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: "
                          "text/event-stream\r\nAuthorization: Bearer "
                          + token + "\r\n";
    if (!last_event_id.empty())
      request += "Last-Event-ID: " + last_event_id + "\r\n";
    request += "\r\n";
    REQUIRE(send_all(fd.get(), request));
    return fd;
  }

  /// Reads the stream's head (200, event-stream); `buf` keeps what follows it.
  void expect_stream_head(int fd, std::string& buf) {
    auto deadline = std::chrono::steady_clock::now() + io_bound;
    size_t end;
    while ((end = buf.find("\r\n\r\n")) == std::string::npos)
      REQUIRE(read_some(fd, buf, deadline) == read_result::data);
    auto head = lower(buf.substr(0, end));
    CHECK(head.rfind("http/1.1 200", 0) == 0);
    CHECK(head.find("content-type: text/event-stream") != std::string::npos);
    CHECK(head.find("cache-control: no-store") != std::string::npos);
    buf.erase(0, end + 4);
  }

  /// The next event (comments and the retry field skipped); fails the test when none comes.
  sse_event next(int fd, std::string& buf) {
    auto deadline = std::chrono::steady_clock::now() + io_bound;
    while (true) {
      auto end = buf.find("\n\n");
      if (end == std::string::npos) {
        REQUIRE(read_some(fd, buf, deadline) == read_result::data);
        continue;
      }
      auto block = buf.substr(0, end);
      buf.erase(0, end + 2);
      sse_event e;
      size_t pos = 0;
      while (pos <= block.size()) {
        auto nl = block.find('\n', pos);
        auto line = block.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
        if (line.rfind("id: ", 0) == 0)
          e.id = line.substr(4);
        else if (line.rfind("event: ", 0) == 0)
          e.type = line.substr(7);
        else if (line.rfind("data: ", 0) == 0)
          e.data = line.substr(6);
        if (nl == std::string::npos)
          break;
        pos = nl + 1;
      }
      if (!e.type.empty())
        return e;
    }
  }

  /// The next event of `type`, skipping others.
  sse_event next_of(int fd, std::string& buf, const std::string& type) {
    while (true) {
      auto e = next(fd, buf);
      if (e.type == type)
        return e;
    }
  }

  template <class R, class... Ts>
  R call(Ts&&... xs) {
    auto r = tf::http::ask<R>(sys, store.writer, 5s, std::forward<Ts>(xs)...);
    REQUIRE_MESSAGE(r, tf::error_message(r.error()));
    return std::move(*r);
  }

  /// A project straight in the store, and a deployment of it.
  tf::deployment make_deployment() {
    tf::project p;
    p.name = "events";
    p.image = "tinyforge-test/web";
    tf::stage s;
    s.name = "production";
    s.subdomain = "events";
    s.port = 8080;
    p.stages.push_back(s);
    auto stored = call<tf::project>(tf::atom::create_v, p);
    tf::deployment d;
    d.workload_id = stored.workload_id;
    d.stage_id = stored.stages.at(0).id;
    d.tag = "v1";
    return call<tf::deployment>(tf::atom::create_v, d);
  }

  void append_log(const std::string& deployment_id, const std::string& line) {
    caf::anon_send(caf::actor_cast<tf::journal_writer_actor>(store.writer), tf::atom::append_v,
                   tf::deployment_log_line{deployment_id, line});
  }
};

} // namespace

TEST_CASE_FIXTURE(events_fixture, "the event stream needs credentials like every other route") {
  auto anonymous = connect_and_send(port, "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  std::string buf;
  auto answer = read_response(anonymous.get(), buf);
  REQUIRE(answer);
  CHECK(answer->status == 401);
  CHECK(answer->header("Content-Type").find("application/json") == 0);

  auto forged = connect_and_send(
    port, "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer tf_nope\r\n\r\n");
  buf.clear();
  answer = read_response(forged.get(), buf);
  REQUIRE(answer);
  CHECK(answer->status == 401);
}

TEST_CASE_FIXTURE(events_fixture,
                  "a deploy's row, phase, log lines and its containers arrive as they commit") {
  auto stream = open_stream();
  std::string buf;
  expect_stream_head(stream.get(), buf);

  auto d = make_deployment();
  auto queued = next_of(stream.get(), buf, "deployment");
  auto q = parse_json(queued.data);
  CHECK(str(q, "id") == d.id);
  CHECK(str(q, "status") == "queued");
  CHECK(str(q, "tag") == "v1");

  call<tf::deployment>(tf::atom::update_v, tf::deployment_transition{d.id, "running", ""});
  CHECK(str(parse_json(next_of(stream.get(), buf, "deployment").data), "status") == "running");
  call<tf::atom::ok>(tf::atom::step_v, tf::deployment_phase{d.id, "pull"});
  auto phase = parse_json(next_of(stream.get(), buf, "deployment-phase").data);
  CHECK(str(phase, "id") == d.id);
  CHECK(str(phase, "phase") == "pull");

  append_log(d.id, "pulling tinyforge-test/web:v1");
  append_log(d.id, "a line with \"quotes\",\nnewlines and \x01 control bytes");
  auto first = parse_json(next_of(stream.get(), buf, "deployment-log").data);
  CHECK(str(first, "deployment_id") == d.id);
  CHECK(num(first, "index") == 0);
  CHECK(str(first, "line") == "pulling tinyforge-test/web:v1");
  auto second = parse_json(next_of(stream.get(), buf, "deployment-log").data);
  CHECK(num(second, "index") == 1);
  CHECK(str(second, "line") == "a line with \"quotes\",\nnewlines and \x01 control bytes");

  tf::container_row row;
  row.id = "row-events-1";
  row.workload_id = d.workload_id;
  row.workload_kind = "project";
  row.role = "production";
  row.stage_id = d.stage_id;
  row.image_tag = "v1";
  row.container_id = std::string(64, 'e');
  row.state = "running";
  row.port = 20001;
  call<tf::container_row>(tf::atom::upsert_v, row);
  auto written = parse_json(next_of(stream.get(), buf, "container").data);
  CHECK(str(written, "id") == row.id);
  CHECK(str(written, "state") == "running");
  CHECK(str(written, "workload_kind") == "project");

  // The reconciler's view: the container exited. A tick that finds it as it was publishes
  // nothing; one that finds it changed says the index changed.
  tf::observed_container seen;
  seen.id = row.id;
  seen.workload_id = row.workload_id;
  seen.role = row.role;
  seen.container_id = row.container_id;
  seen.state = "exited";
  seen.port = row.port;
  auto moved = call<tf::reconcile_result>(tf::atom::reconcile_v,
                                          std::vector<tf::observed_container>{seen});
  CHECK(moved.moved == 1);
  CHECK(num(parse_json(next_of(stream.get(), buf, "containers").data), "changed") == 1);
  auto same = call<tf::reconcile_result>(tf::atom::reconcile_v,
                                         std::vector<tf::observed_container>{seen});
  CHECK(same.written == 1);
  CHECK(same.moved == 0);

  call<tf::atom::ok>(tf::atom::erase_v, tf::atom::container_v, row.id);
  // The unchanged tick published nothing: the removal is the next container event.
  auto next_event = next(stream.get(), buf);
  CHECK(next_event.type == "container");
  auto removed = parse_json(next_event.data);
  CHECK(str(removed, "id") == row.id);
  CHECK(removed["removed"].GetBool());
}

TEST_CASE_FIXTURE(events_fixture,
                  "a reconnect gets what it missed, and an id that names nothing here a resync") {
  auto d = make_deployment();
  std::string last_id;
  {
    auto stream = open_stream();
    std::string buf;
    expect_stream_head(stream.get(), buf);
    append_log(d.id, "line 0");
    auto e = next_of(stream.get(), buf, "deployment-log");
    CHECK(str(parse_json(e.data), "line") == "line 0");
    last_id = e.id;
  }
  // Disconnected: these two are missed, then asked for by the id of the last one read.
  append_log(d.id, "line 1");
  append_log(d.id, "line 2");
  call<tf::deployment>(tf::atom::update_v, tf::deployment_transition{d.id, "running", ""});

  auto again = open_stream(last_id);
  std::string buf;
  expect_stream_head(again.get(), buf);
  auto one = next(again.get(), buf);
  CHECK(one.type == "deployment-log");
  CHECK(str(parse_json(one.data), "line") == "line 1");
  auto two = next(again.get(), buf);
  CHECK(str(parse_json(two.data), "line") == "line 2");
  CHECK(next(again.get(), buf).type == "deployment");

  const std::vector<std::string> ids_naming_nothing{
    "1-1", "not-an-id", "zz", std::string(200, '7'),
    last_id.substr(0, last_id.find('-')) + "-999999999"};
  // Many in a row, each closed as soon as its resync is read: a connection the streams close
  // while the gate still held it let the next accepted connection (given the same socket
  // number) go unanswered.
  for (int round = 0; round < 40; ++round)
  for (const auto& bad : ids_naming_nothing) {
    CAPTURE(round);
    CAPTURE(bad);
    auto other = open_stream(bad);
    std::string b;
    expect_stream_head(other.get(), b);
    CHECK(next(other.get(), b).type == "resync");
  }
}

TEST_CASE_FIXTURE(events_fixture,
                  "a client that stops reading is cut off, and the others get every event") {
  auto d = make_deployment();
  auto reader = open_stream();
  std::string buf;
  expect_stream_head(reader.get(), buf);
  // Reads nothing, with a small receive buffer: its events pile up in the daemon.
  auto stalled = open_stream("", 4096);
  // Both streams are open once the reader sees an event published after they connected.
  append_log(d.id, "both open");
  CHECK(str(parse_json(next_of(reader.get(), buf, "deployment-log").data), "line")
        == "both open");

  // 600 lines of ~1 KB: far over what one client may have queued.
  const std::string filler(1000, 'x');
  for (int i = 0; i < 600; ++i)
    append_log(d.id, std::to_string(i) + " " + filler);
  for (int i = 0; i < 600; ++i) {
    auto e = parse_json(next_of(reader.get(), buf, "deployment-log").data);
    REQUIRE(str(e, "line") == std::to_string(i) + " " + filler);
  }

  // The stalled client gets what was already on its way, then the end of the stream.
  std::string stalled_buf;
  auto deadline = std::chrono::steady_clock::now() + io_bound;
  read_result r;
  while ((r = read_some(stalled.get(), stalled_buf, deadline)) == read_result::data)
    stalled_buf.clear(); // kept small: only the end matters
  CHECK(r == read_result::eof);

  // The reader is still served.
  append_log(d.id, "after");
  CHECK(str(parse_json(next_of(reader.get(), buf, "deployment-log").data), "line") == "after");
}

TEST_CASE_FIXTURE(events_fixture, "a failed deploy's long error is cut to fit an event, on a character") {
  auto stream = open_stream();
  std::string buf;
  expect_stream_head(stream.get(), buf);
  auto d = make_deployment();
  next_of(stream.get(), buf, "deployment"); // queued
  append_log(d.id, "a line of the log");
  next_of(stream.get(), buf, "deployment-log");
  call<tf::deployment>(tf::atom::update_v, tf::deployment_transition{d.id, "running", ""});
  next_of(stream.get(), buf, "deployment");

  std::string error = "health: ";
  for (int i = 0; i < 1500; ++i)
    error += "\xc3\xa9"; // two bytes a character: a cut in the middle of one would be invalid
  auto stored = call<tf::deployment>(tf::atom::update_v,
                                     tf::deployment_transition{d.id, "failed", error});
  auto failed = parse_json(next_of(stream.get(), buf, "deployment").data);
  CHECK(str(failed, "status") == "failed");
  auto shown = str(failed, "error");
  CHECK(shown.size() <= 1200);
  CHECK(shown.size() > 1000);
  CHECK(error.compare(0, shown.size(), shown) == 0); // a prefix, whole characters
  CHECK_FALSE(failed.HasMember("log"));               // the event never carries the log
  CHECK(stored.error == error); // the store keeps the whole error
}

TEST_CASE_FIXTURE(events_fixture, "streams are capped, and a place comes back when a client leaves") {
  std::vector<socket_fd> open;
  for (int i = 0; i < 64; ++i) {
    open.push_back(open_stream());
    std::string buf;
    expect_stream_head(open.back().get(), buf);
  }
  auto refused = open_stream();
  std::string buf;
  auto answer = read_response(refused.get(), buf);
  REQUIRE(answer);
  CHECK(answer->status == 503);
  CHECK(answer->header("Retry-After") == "5");
  CHECK(answer->body.find("too many event streams") != std::string::npos);

  open.pop_back(); // closed: the daemon notices and frees its place
  auto deadline = std::chrono::steady_clock::now() + io_bound;
  bool streamed = false;
  while (!streamed && std::chrono::steady_clock::now() < deadline) {
    auto next_try = open_stream();
    std::string b;
    auto rd = std::chrono::steady_clock::now() + io_bound;
    while (b.find("\r\n\r\n") == std::string::npos && read_some(next_try.get(), b, rd) == read_result::data) {
    }
    streamed = lower(b).rfind("http/1.1 200", 0) == 0;
    if (!streamed) // answered 503 while the close was on its way: wait for the next event
      CHECK(lower(b).rfind("http/1.1 503", 0) == 0);
    if (streamed)
      open.push_back(std::move(next_try));
  }
  CHECK(streamed);
}

TEST_CASE_FIXTURE(events_fixture, "stopping the server ends every stream") {
  auto stream = open_stream();
  std::string buf;
  expect_stream_head(stream.get(), buf);
  server.stop();
  auto deadline = std::chrono::steady_clock::now() + io_bound;
  read_result r;
  while ((r = read_some(stream.get(), buf, deadline)) == read_result::data) {
  }
  CHECK(r == read_result::eof);
}
