// Our HTTP/1.1 client core (net/client.hpp) and the two clients on it (docker::transport,
// net::http_call) against small scripted servers on loopback tcp and on a unix socket:
// the happy framings, and what a broken or hostile peer sends.
#include "docker/transport.hpp"
#include "expect.hpp"
#include "helpers.hpp"
#include "net/client.hpp"
#include "net.hpp"
#include "net/http_call.hpp"

#include <doctest/doctest.h>

#include <future>
#include <thread>

#include <sys/un.h>

using namespace tf;
using namespace tf::test;
using namespace std::chrono_literals;

namespace {

/// One connection accepted, its request read (head, and a body by Content-Length), then
/// `script` runs with the socket and the request text. Listens on 127.0.0.1 or on a unix
/// socket path.
class script_server {
public:
  using script = std::function<void(int fd, const std::string& request)>;

  explicit script_server(script s, std::string unix_path = {})
    : script_{std::move(s)}, unix_path_{std::move(unix_path)},
      listen_{::socket(unix_path_.empty() ? AF_INET : AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)} {
    REQUIRE(listen_);
    if (unix_path_.empty()) {
      auto addr = loopback(0);
      REQUIRE(::bind(listen_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
      socklen_t len = sizeof(addr);
      REQUIRE(::getsockname(listen_.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0);
      port_ = ntohs(addr.sin_port);
    } else {
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      REQUIRE(unix_path_.size() < sizeof(addr.sun_path));
      std::copy(unix_path_.begin(), unix_path_.end(), addr.sun_path);
      REQUIRE(::bind(listen_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    }
    REQUIRE(::listen(listen_.get(), 8) == 0);
    thread_ = std::thread{[this] { serve(); }};
  }
  ~script_server() {
    ::shutdown(listen_.get(), SHUT_RDWR); // wakes accept() when no client came
    thread_.join();
  }
  script_server(const script_server&) = delete;
  script_server& operator=(const script_server&) = delete;

  uint16_t port() const { return port_; }
  std::string url(const std::string& path = "/") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  /// The request as received; waits for it.
  std::string request() { return request_.get_future().get(); }

private:
  void serve() {
    socket_fd conn{::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC)};
    if (!conn) {
      request_.set_value("");
      return;
    }
    std::string buf;
    auto deadline = std::chrono::steady_clock::now() + io_bound;
    size_t head_end;
    while ((head_end = buf.find("\r\n\r\n")) == std::string::npos)
      if (read_some(conn.get(), buf, deadline) != read_result::data) {
        request_.set_value(buf);
        return;
      }
    auto lowered = lower(buf.substr(0, head_end));
    auto cl = lowered.find("content-length: ");
    size_t length = cl == std::string::npos ? 0 : std::stoul(lowered.substr(cl + 16));
    while (buf.size() < head_end + 4 + length)
      if (read_some(conn.get(), buf, deadline) != read_result::data)
        break;
    request_.set_value(buf);
    script_(conn.get(), buf);
  }

  script script_;
  std::string unix_path_;
  socket_fd listen_;
  uint16_t port_ = 0;
  std::promise<std::string> request_;
  std::thread thread_;
};

/// Sends `answer` and closes.
script_server::script answer(std::string text) {
  return [text](int fd, const std::string&) { send_all(fd, text); };
}

/// Waits until the client closes the connection (its deadline or its cancel).
void wait_for_close(int fd) {
  std::string ignored;
  while (read_some(fd, ignored, std::chrono::steady_clock::now() + io_bound)
         == read_result::data)
    ignored.clear();
}

/// Sends `head` and then nothing until the client closes.
script_server::script answer_then_stall(std::string head) {
  return [head](int fd, const std::string&) {
    send_all(fd, head);
    wait_for_close(fd);
  };
}

struct result {
  caf::expected<long> status{0L};
  std::string body;
  net::response_head head;
};

result get(const script_server& s, std::string_view method = "GET",
           std::chrono::milliseconds timeout = 10s, size_t header_cap = 64 * 1024) {
  net::client_target target;
  target.host = "127.0.0.1";
  target.port = s.port();
  net::client_request req;
  req.method = method;
  req.target = "/path?q=1";
  auto host = "127.0.0.1:" + std::to_string(s.port());
  req.host = host;
  net::client_limits limits;
  limits.deadline = std::chrono::steady_clock::now() + timeout;
  limits.max_header_bytes = header_cap;
  result r;
  r.status = net::exchange(target, req, limits, nullptr,
                            [&](const net::response_head& h) { r.head = h; },
                            [&](std::string_view piece) {
                              r.body.append(piece);
                              return true;
                            });
  return r;
}

/// GET from `s`: an answer of `status` with `body`; the whole result.
result check_get(const script_server& s, long status, const std::string& body) {
  auto r = get(s);
  REQUIRE_MESSAGE(r.status, message_of(r.status));
  CHECK(*r.status == status);
  CHECK(r.body == body);
  return r;
}

} // namespace

// -- happy paths -------------------------------------------------------------------------------

TEST_CASE("http client: a Content-Length body, the request it writes, lower-cased headers") {
  script_server s{answer("HTTP/1.1 201 Created\r\nX-Mixed: Yes\r\nContent-Length: 5\r\n\r\nhello")};
  auto r = check_get(s, 201, "hello");
  REQUIRE(r.head.headers.size() == 2);
  CHECK(r.head.headers[0] == std::pair<std::string, std::string>{"x-mixed", "Yes"});
  auto req = s.request();
  CHECK(req.rfind("GET /path?q=1 HTTP/1.1\r\n", 0) == 0);
  CHECK(contains(req, "\r\nHost: 127.0.0.1:" + std::to_string(s.port()) + "\r\n"));
  CHECK(contains(req, "\r\nConnection: close\r\n"));
}

TEST_CASE("http client: a chunked body split across reads, with an interim 100 first") {
  std::promise<void> first_piece;
  auto got_first = first_piece.get_future();
  script_server s{[&](int fd, const std::string&) {
    send_all(fd, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhel");
    // The rest only once the client has handed on the first bytes: two reads for sure.
    if (got_first.wait_for(io_bound) == std::future_status::ready)
      send_all(fd, "lo\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n");
    wait_for_close(fd);
  }};
  net::client_target target;
  target.host = "127.0.0.1";
  target.port = s.port();
  net::client_request req;
  req.method = "GET";
  req.target = "/";
  req.host = "h";
  net::client_limits limits;
  limits.deadline = std::chrono::steady_clock::now() + io_bound;
  std::string body;
  bool signalled = false;
  auto status = net::exchange(target, req, limits, nullptr, {}, [&](std::string_view piece) {
    body.append(piece);
    if (!signalled) {
      signalled = true;
      first_piece.set_value();
    }
    return true;
  });
  if (!signalled)
    first_piece.set_value();
  REQUIRE_MESSAGE(status, message_of(status));
  CHECK(*status == 200);
  CHECK(body == "hello world");
}

TEST_CASE("http client: a body without a length is read until the peer closes") {
  script_server s{answer("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end")};
  check_get(s, 200, "until the end");
}

TEST_CASE("http client: HEAD reads no body even with a Content-Length") {
  // The peer keeps the connection open: a client waiting for 100 bytes would time out.
  script_server s{answer_then_stall("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")};
  net::http_request req;
  req.method = "HEAD";
  req.url = s.url("/up");
  auto res = MUST(net::http_call(req));
  CHECK(res.status == 200);
  CHECK(res.body.empty());
  CHECK(res.headers["content-length"] == "100");
  CHECK(s.request().rfind("HEAD /up HTTP/1.1\r\n", 0) == 0);
}

TEST_CASE("http_call: credentials in the URL go as Basic auth, a POST says its length") {
  script_server s{answer("HTTP/1.1 204 No Content\r\n\r\n")};
  net::http_request req;
  req.method = "POST";
  req.url = "http://us%65r:p%40ss@127.0.0.1:" + std::to_string(s.port()) + "?token=t#frag";
  auto res = MUST(net::http_call(req));
  CHECK(res.status == 204);
  auto sent = s.request();
  CHECK(sent.rfind("POST /?token=t HTTP/1.1\r\n", 0) == 0);
  CHECK(contains(sent, "\r\nAuthorization: Basic dXNlcjpwQHNz\r\n")); // user:p@ss
  CHECK(contains(sent, "\r\nContent-Length: 0\r\n"));
  CHECK(contains(sent, "\r\nContent-Type: application/json\r\n"));
  CHECK(contains(sent, "\r\nHost: 127.0.0.1:" + std::to_string(s.port()) + "\r\n"));
}

TEST_CASE("docker transport: a call over a unix socket") {
  temp_dir dir;
  auto path = dir.file("engine.sock");
  script_server s{answer("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK"), path};
  auto ep = MUST(docker::endpoint::parse("unix://" + path));
  docker::transport t{ep, docker::make_cancel_token()};
  auto res = MUST(t.call("POST", "/v1.41/containers/x/start", "{}", 5s));
  CHECK(res.status == 200);
  CHECK(res.body == "OK");
  auto sent = s.request();
  CHECK(sent.rfind("POST /v1.41/containers/x/start HTTP/1.1\r\n", 0) == 0);
  CHECK(contains(sent, "\r\nHost: localhost\r\n"));
  CHECK(contains(sent, "\r\nContent-Length: 2\r\n"));
  CHECK(sent.substr(sent.size() - 2) == "{}");
}

// -- a broken or hostile peer ------------------------------------------------------------------

TEST_CASE("http client: a malformed status line is unavailable") {
  for (const std::string bad : {"HTTP/1.1 2x0 OK\r\n\r\n", "SSH-2.0-OpenSSH\r\n\r\n",
                                "HTTP/1.1 20\r\n\r\n", "HTTP/1.1 999 Nope\r\n\r\n",
                                "HTTP/1.1 200OK\r\n\r\n", "HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
                                "HTTP/1.1 200 OK\r\n folded: x\r\n\r\n", ""}) {
    CAPTURE(bad);
    script_server s{answer(bad)};
    auto r = get(s);
    CHECK(code_of(r.status) == "unavailable");
  }
  // A NUL in a header name: is_token_char once took it for a token character.
  const char nul_head[] = "HTTP/1.1 200 OK\r\nX-A\0b: 1\r\nContent-Length: 0\r\n\r\n";
  script_server nul{answer(std::string{nul_head, sizeof nul_head - 1})};
  CHECK(code_of(get(nul).status) == "unavailable");
}

TEST_CASE("http client: a header block over the cap is payload_too_large") {
  script_server s{answer("HTTP/1.1 200 OK\r\nX-Big: " + std::string(70 * 1024, 'a')
                         + "\r\nContent-Length: 0\r\n\r\n")};
  net::http_request req;
  req.url = s.url();
  auto res = net::http_call(req); // 64 KiB cap
  CHECK(code_of(res) == "payload_too_large");

  // Many small lines add up too.
  std::string many = "HTTP/1.1 200 OK\r\n";
  for (int i = 0; i < 2000; ++i)
    many += "X-H" + std::to_string(i) + ": 0123456789\r\n";
  script_server s2{answer(many + "\r\n")};
  CHECK(code_of(get(s2, "GET", 10s, 16 * 1024).status) == "payload_too_large");
}

TEST_CASE("http client: a bad Content-Length is unavailable") {
  for (const std::string bad : {"12abc", "-1", "", "5, 6", "99999999999999999999", "0x10"}) {
    CAPTURE(bad);
    script_server s{answer("HTTP/1.1 200 OK\r\nContent-Length: " + bad + "\r\n\r\nhello")};
    CHECK(code_of(get(s).status) == "unavailable");
  }
  script_server twice{answer("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n"
                             "\r\nhello!")};
  CHECK(code_of(get(twice).status) == "unavailable");
  // Shorter than announced, then closed: a truncated body, not a short one.
  script_server short_body{answer("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello")};
  CHECK(code_of(get(short_body).status) == "unavailable");
}

TEST_CASE("http client: a bad chunk size is unavailable") {
  for (const std::string& bad : std::vector<std::string>{
         "zz\r\nhello\r\n0\r\n\r\n", "\r\n", "5 x\r\nhello\r\n0\r\n\r\n",
        "ffffffffffffffffff\r\nx", "5;" + std::string(4000, 'x') + "\r\nhello\r\n0\r\n\r\n",
        "5\r\nhelloXX0\r\n\r\n", "5\r\nhel"}) {
    CAPTURE(bad.substr(0, 40));
    script_server s{answer("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + bad)};
    CHECK(code_of(get(s).status) == "unavailable");
  }
}

TEST_CASE("http client: a body over the cap is payload_too_large") {
  script_server s{answer("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + std::string(100, 'x'))};
  net::http_request req;
  req.url = s.url();
  req.max_response_bytes = 10;
  CHECK(code_of(net::http_call(req)) == "payload_too_large");

  temp_dir dir;
  auto path = dir.file("engine.sock");
  script_server engine{answer("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "64\r\n" + std::string(100, 'x') + "\r\n0\r\n\r\n"),
                       path};
  docker::transport t{MUST(docker::endpoint::parse("unix://" + path)),
                      docker::make_cancel_token()};
  CHECK(code_of(t.call("GET", "/containers/json", "", 5s, 50)) == "payload_too_large");
}

TEST_CASE("http client: a peer that never answers runs into the client's deadline") {
  script_server s{[](int fd, const std::string&) { wait_for_close(fd); }};
  CHECK(code_of(get(s, "GET", 200ms).status) == "timeout");

  // http_call reports a silent peer as unavailable, as its callers expect.
  script_server s2{[](int fd, const std::string&) { wait_for_close(fd); }};
  net::http_request req;
  req.url = s2.url();
  req.timeout = 200ms;
  auto res = net::http_call(req);
  CHECK(code_of(res) == "unavailable");
  CHECK(contains(message_of(res), "no answer"));

  // The engine answers its headers, then nothing.
  temp_dir dir;
  auto path = dir.file("engine.sock");
  script_server engine{answer_then_stall("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"),
                       path};
  docker::transport t{MUST(docker::endpoint::parse("unix://" + path)),
                      docker::make_cancel_token()};
  CHECK(code_of(t.call("GET", "/info", "", 200ms)) == "timeout");
}

TEST_CASE("docker transport: cancel from another thread ends a silent stream, later calls "
          "fail at once") {
  temp_dir dir;
  auto path = dir.file("engine.sock");
  script_server engine{
    answer_then_stall("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), path};
  auto cancel = docker::make_cancel_token();
  docker::transport t{MUST(docker::endpoint::parse("unix://" + path)), cancel};
  std::promise<long> headers;
  auto headers_in = headers.get_future();
  auto streaming = std::async(std::launch::async, [&] {
    return t.stream("GET", "/events", "", 0ms, [](std::string_view) { return true; },
                    [&](long status) { headers.set_value(status); });
  });
  REQUIRE(headers_in.wait_for(io_bound) == std::future_status::ready);
  CHECK(headers_in.get() == 200);
  cancel->cancel();
  REQUIRE(streaming.wait_for(io_bound) == std::future_status::ready);
  auto ended = streaming.get();
  CHECK(code_of(ended) == "unavailable");
  CHECK(contains(message_of(ended), "cancelled"));

  // Cancelled for good: no connection is even tried.
  CHECK(code_of(t.call("GET", "/_ping", "", 5s)) == "unavailable");
}

TEST_CASE("http client: a request that cannot be written is invalid_argument") {
  net::client_target target;
  target.host = "127.0.0.1";
  target.port = 9; // never dialled
  net::client_limits limits;
  limits.deadline = std::chrono::steady_clock::now() + 5s;
  auto try_request = [&](net::client_request req) {
    return net::exchange(target, req, limits, nullptr, {}, [](std::string_view) { return true; });
  };
  net::client_request bad_path;
  bad_path.method = "GET";
  bad_path.target = "/a b\r\nX: y";
  bad_path.host = "h";
  CHECK(code_of(try_request(bad_path)) == "invalid_argument");
  net::client_request bad_method = bad_path;
  bad_method.target = "/";
  bad_method.method = "GET /x";
  CHECK(code_of(try_request(bad_method)) == "invalid_argument");
  net::client_request bad_header = bad_method;
  bad_header.method = "GET";
  bad_header.headers.emplace_back("X-A", "1\r\nInjected: 1");
  CHECK(code_of(try_request(bad_header)) == "invalid_argument");
  net::client_request nul_name = bad_method;
  nul_name.method = "GET";
  nul_name.headers.emplace_back(std::string{"X-A\0b", 5}, "1");
  CHECK(code_of(try_request(nul_name)) == "invalid_argument");
}

TEST_CASE("http client: read_response parses an answer held in memory, one byte per read") {
  const std::string answer = "HTTP/1.1 100 Continue\r\n\r\n"
                             "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                             "5\r\nhello\r\n0\r\n\r\n";
  size_t pos = 0;
  net::byte_source one_byte = [&](char* buf, size_t) -> caf::expected<size_t> {
    if (pos == answer.size())
      return size_t{0};
    buf[0] = answer[pos++];
    return size_t{1};
  };
  std::string body;
  auto status = net::read_response(
    one_byte, "GET", 1024, nullptr, [&](std::string_view piece) {
      body.append(piece);
      return true;
    });
  REQUIRE(status);
  CHECK(*status == 200);
  CHECK(body == "hello");

  // Cut short: the source's end in the middle of a chunk is a malformed answer.
  const std::string cut = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel";
  pos = 0;
  net::byte_source from_cut = [&](char* buf, size_t room) -> caf::expected<size_t> {
    auto n = std::min(room, cut.size() - pos);
    std::copy_n(cut.data() + pos, n, buf);
    pos += n;
    return n;
  };
  auto broken = net::read_response(from_cut, "GET", 1024, nullptr,
                                    [](std::string_view) { return true; });
  REQUIRE_FALSE(broken);
  CHECK(error_code(broken.error()) == ec::unavailable);
}
