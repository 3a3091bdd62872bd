// Shared test helpers for talking to a server on 127.0.0.1 over raw sockets: an owned socket,
// connect, send everything, read with poll() up to a bound, one HTTP/1.1 response framed by
// Content-Length; and the checks of a healthz answer. Every wait has a generous bound that
// only turns a hang into a failure; no test asserts on elapsed time.
#pragma once

#include <doctest/doctest.h>
#include <httplib.h>
#include <rapidjson/document.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

namespace tf::test {

/// How long a read waits for the peer before it gives up.
inline constexpr std::chrono::seconds io_bound{20};

// --- raw sockets -----------------------------------------------------------------------

/// An owned file descriptor.
class socket_fd {
public:
  explicit socket_fd(int fd = -1) : fd_{fd} {}
  socket_fd(const socket_fd&) = delete;
  socket_fd& operator=(const socket_fd&) = delete;
  socket_fd(socket_fd&& other) noexcept : fd_{other.fd_} { other.fd_ = -1; }
  ~socket_fd() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }

private:
  int fd_;
};

/// 127.0.0.1:`port`.
inline sockaddr_in loopback(uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

/// `fd` connected to 127.0.0.1:`port`, or an empty socket with errno from connect().
inline socket_fd connect_socket(socket_fd fd, uint16_t port) {
  auto addr = loopback(port);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int saved = errno;
    { socket_fd closing{std::move(fd)}; }
    errno = saved;
    return socket_fd{};
  }
  return fd;
}

/// A socket connected to 127.0.0.1:`port`, or an empty one with errno from connect().
inline socket_fd connect_to(uint16_t port) {
  socket_fd fd{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  if (!fd)
    return fd;
  return connect_socket(std::move(fd), port);
}

/// A port nobody listens on right now (the kernel's pick, released at once).
inline uint16_t free_loopback_port() {
  socket_fd fd{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  REQUIRE(fd);
  auto addr = loopback(0);
  REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  socklen_t len = sizeof(addr);
  REQUIRE(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  return ntohs(addr.sin_port);
}

/// Sends everything; false when the peer has gone (no SIGPIPE).
inline bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    auto n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

/// A socket connected to 127.0.0.1:`port` that has sent all of `data`; fails the test when
/// either step fails.
inline socket_fd connect_and_send(uint16_t port, std::string_view data) {
  auto fd = connect_to(port);
  REQUIRE(fd);
  REQUIRE(send_all(fd.get(), data));
  return fd;
}

/// data: bytes were appended; eof: the peer closed or reset the connection; timeout: the
/// deadline passed first; error: poll() failed.
enum class read_result { data, eof, timeout, error };

/// Waits for bytes and appends them to `buf`.
inline read_result read_some(int fd, std::string& buf,
                             std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return read_result::timeout;
    pollfd p{fd, POLLIN, 0};
    auto ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR)
      continue;
    if (ready < 0)
      return read_result::error;
    if (ready == 0)
      return read_result::timeout;
    char chunk[4096];
    auto n = ::recv(fd, chunk, sizeof(chunk), 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) // orderly close, or a reset (ECONNRESET) or other error: the stream is over
      return read_result::eof;
    buf.append(chunk, static_cast<size_t>(n));
    return read_result::data;
  }
}

/// What the peer does next: closes (eof), sends more (data; also when `buf` still holds
/// unread bytes), or neither within the bound.
inline read_result next_event(int fd, std::string& buf) {
  if (!buf.empty())
    return read_result::data;
  return read_some(fd, buf, std::chrono::steady_clock::now() + io_bound);
}

// --- servers -----------------------------------------------------------------------------

/// An httplib server on 127.0.0.1:<ephemeral> in a thread of its own, with the routes
/// `setup` gives it: a container's stand-in, a fake admin API, a webhook receiver. Stopped
/// and joined when it goes.
class loopback_server {
public:
  explicit loopback_server(const std::function<void(httplib::Server&)>& setup) {
    setup(server_);
    port_ = server_.bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    thread_ = std::thread{[this] { server_.listen_after_bind(); }};
  }
  loopback_server(const loopback_server&) = delete;
  loopback_server& operator=(const loopback_server&) = delete;
  ~loopback_server() {
    server_.stop();
    thread_.join();
  }
  uint16_t port() const { return static_cast<uint16_t>(port_); }

private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

// --- HTTP responses --------------------------------------------------------------------

inline std::string lower(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

struct raw_response {
  int status = 0;
  std::multimap<std::string, std::string> headers; // lower-case names
  std::string body;
  /// The first value of the header `name` (any case); empty when absent.
  std::string header(const std::string& name) const {
    auto it = headers.find(lower(name));
    return it == headers.end() ? std::string{} : it->second;
  }
};

/// Reads one HTTP/1.1 response framed by Content-Length; bytes after it stay in `buf`.
/// Nothing when the status line is not HTTP/1.1, Content-Length is missing, or the
/// connection ends or the bound passes before the response is complete.
inline std::optional<raw_response> read_response(int fd, std::string& buf) {
  auto deadline = std::chrono::steady_clock::now() + io_bound;
  size_t head_end;
  while ((head_end = buf.find("\r\n\r\n")) == std::string::npos)
    if (read_some(fd, buf, deadline) != read_result::data)
      return std::nullopt;
  raw_response res;
  auto head = buf.substr(0, head_end);
  auto line_end = head.find("\r\n");
  auto status_line = head.substr(0, line_end);
  if (status_line.compare(0, 9, "HTTP/1.1 ") != 0 || status_line.size() < 12)
    return std::nullopt;
  res.status = std::stoi(status_line.substr(9, 3));
  size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
  while (pos < head.size()) {
    auto end = head.find("\r\n", pos);
    if (end == std::string::npos)
      end = head.size();
    auto line = head.substr(pos, end - pos);
    auto colon = line.find(':');
    if (colon != std::string::npos) {
      auto value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      res.headers.emplace(lower(line.substr(0, colon)), value);
    }
    pos = end + 2;
  }
  auto cl = res.header("Content-Length");
  if (cl.empty())
    return std::nullopt;
  auto length = std::stoul(cl);
  auto body_start = head_end + 4;
  while (buf.size() < body_start + length)
    if (read_some(fd, buf, deadline) != read_result::data)
      return std::nullopt;
  res.body = buf.substr(body_start, length);
  buf.erase(0, body_start + length);
  return res;
}

/// A keep-alive connection that has had one answer: GET /healthz without "Connection:
/// close", answered 200 and left open (or the test fails). The socket and what was read
/// past the answer, for what the test does next with the connection.
struct kept_alive {
  socket_fd fd;
  std::string buf;
};
inline kept_alive healthz_kept_alive(uint16_t port) {
  kept_alive k{connect_and_send(port, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"), {}};
  auto res = read_response(k.fd.get(), k.buf);
  REQUIRE(res);
  CHECK(res->status == 200);
  // HTTP/1.1 without "Connection: close": the server keeps the connection open.
  CHECK(res->header("Connection") != "close");
  return k;
}

// --- JSON bodies -----------------------------------------------------------------------

/// The body as a JSON document; fails the test when it does not parse.
inline rapidjson::Document parse_json(const std::string& body) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  INFO("body: ", body);
  REQUIRE_FALSE(doc.HasParseError());
  return doc;
}

/// A healthz body: an object whose "status" and "db" are the strings given.
inline void check_health_body(const std::string& body, const std::string& state,
                              const std::string& db) {
  INFO("body: ", body);
  auto doc = parse_json(body);
  REQUIRE(doc.IsObject());
  REQUIRE(doc.HasMember("status"));
  REQUIRE(doc["status"].IsString());
  CHECK(std::string{doc["status"].GetString()} == state);
  REQUIRE(doc.HasMember("db"));
  REQUIRE(doc["db"].IsString());
  CHECK(std::string{doc["db"].GetString()} == db);
}

/// A healthz answer through httplib's client: `status`, a JSON body, and its "status" and
/// "db".
inline void check_health_answer(const httplib::Result& res, int status, const std::string& state,
                                const std::string& db) {
  REQUIRE_MESSAGE(res, "no answer to GET /healthz");
  CHECK(res->status == status);
  CHECK(res->get_header_value("Content-Type") == "application/json");
  check_health_body(res->body, state, db);
}

} // namespace tf::test
