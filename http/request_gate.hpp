// The request gate: one thread that accepts connections and reads each request completely
// into memory (non-blocking sockets, epoll) under deadlines, so that slow or idle clients
// never hold a worker thread. Only complete requests reach the workers; a worker answers on
// the socket and gives the connection back for its next request (pipelined bytes kept, so
// requests are answered in order). It caps open connections per client address and in
// total, the head's size and header count (431), and refuses bad framing (400).
#pragma once

#include <caf/expected.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace tf::http {

struct gate_limits {
  std::chrono::milliseconds head_timeout{5000};  // from a request's first byte to its empty line
  std::chrono::milliseconds body_timeout{15000}; // from the head to the body's last byte
  std::chrono::milliseconds idle_timeout{5000};  // an open connection between requests
  std::chrono::milliseconds write_timeout{10000};
  size_t max_connections = 512;
  size_t max_connections_per_client = 256;
  size_t max_header_count = 100;
  size_t max_head_bytes = 32768;
  uint64_t max_body_bytes = 1048576;
  uint64_t max_upload_bytes = 0; // a site upload's body (http/request_head.hpp: is_upload)
  size_t workers = 8;
};

/// One complete request as the gate read it.
struct gated_request {
  int fd = -1;
  std::string bytes; // head (possibly rewritten) and body
  std::string remote_addr, local_addr;
  int remote_port = 0, local_port = 0;
  bool close_after = false; // the body was left unread: close after the answer
  /// The head alone, whose body has not all arrived: the server answers only when it
  /// refuses the request before reading a body (auth, size), and otherwise answers nothing
  /// and returns true, and the gate goes on reading the body.
  bool precheck = false;
  std::chrono::milliseconds write_timeout{10000};
  const std::atomic<bool>* stopping = nullptr;
  /// The server sets *take_over when the connection is to leave the gate (a stream of
  /// server-sent events): the gate forgets the connection without closing it, and only then
  /// calls it with the socket, so the new owner may close it (and the kernel hand the number
  /// to a new connection) without the gate still holding it. Set by the gate.
  std::function<void(int fd)>* take_over = nullptr;
};

/// Answers one request on its connection (on a worker thread); returns whether the
/// connection may carry another request.
using request_server = std::function<bool(const gated_request&)>;

/// Made on each worker thread before it serves its first request and destroyed on that
/// thread when it stops: what a worker keeps for all its requests (the server's actor).
using worker_setup = std::function<std::shared_ptr<void>()>;

class request_gate {
public:
  request_gate(gate_limits limits, request_server serve, worker_setup setup = {});
  ~request_gate();
  request_gate(const request_gate&) = delete;
  request_gate& operator=(const request_gate&) = delete;

  /// Listens on host:port (port 0 = the kernel picks); replies the bound port.
  caf::expected<uint16_t> bind(const std::string& host, uint16_t port);

  /// Serves until stop(); returns once the listener and every connection are closed and
  /// the requests in flight have been answered.
  void run();

  /// Safe from any thread, before or during run().
  void stop();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace tf::http
