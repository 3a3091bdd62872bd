// The connection under our HTTP/1.1 client: a non-blocking socket to a unix path or a tcp
// host:port (optionally bound to a source address, optionally wrapped in verified TLS),
// whose every read and write waits in poll() no longer than a deadline. A canceller shared
// with other threads can shut the socket down at any moment, which wakes that poll.
#pragma once

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <atomic>
#include <functional>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>

struct sockaddr;

namespace tf::net {

using client_clock = std::chrono::steady_clock;
/// No deadline: wait as long as the peer keeps the connection open.
inline constexpr client_clock::time_point no_deadline = client_clock::time_point::max();

/// Shared between the callers of one peer and the connections working for them. cancel()
/// aborts every connection in flight at once (it shuts down their sockets, waking a read
/// blocked in poll) and makes every later connection fail immediately.
class canceller {
public:
  bool cancelled() const { return cancelled_.load(); }
  void cancel();
  /// Called by connections as they open and close their sockets.
  void add_socket(int fd);
  void remove_socket(int fd);

private:
  std::atomic<bool> cancelled_{false};
  std::mutex mx_;
  std::set<int> sockets_;
};

/// Where to connect.
struct client_target {
  std::string unix_path; // non-empty: a unix socket; host and port are then unused
  std::string host;      // a name or an IP literal (without brackets)
  uint16_t port = 0;
  std::string source_address; // "" = any; else the local address to connect from
  bool tls = false;           // tcp only: verified against `host` and the system CAs
  /// When set, every resolved address is passed to it before a connection is tried: a
  /// non-empty answer (why not) skips that address. The connection goes to an address it
  /// passed, so what was checked is what is connected to (a second lookup could answer
  /// otherwise); TLS and the Host header keep the name.
  std::function<std::string(const sockaddr*)> address_check;
};

/// Errors of a connection: ec::unavailable (cannot connect, reset, cancelled, TLS failure),
/// ec::timeout (the deadline passed).
class client_socket {
public:
  /// Connects, waiting no later than `deadline`. `cancel` may be null.
  static caf::expected<client_socket> open(const client_target& target,
                                           client_clock::time_point deadline,
                                           canceller* cancel);
  client_socket(client_socket&& other) noexcept;
  client_socket& operator=(client_socket&&) = delete;
  client_socket(const client_socket&) = delete;
  client_socket& operator=(const client_socket&) = delete;
  ~client_socket();

  caf::error write_all(std::string_view data, client_clock::time_point deadline);
  /// Up to `size` bytes into `buf`; 0 when the peer closed the connection.
  caf::expected<size_t> read_some(char* buf, size_t size, client_clock::time_point deadline);

  /// The error of a socket the canceller shut down, or of a deadline that passed.
  caf::error cancelled_error() const;
  bool cancelled() const { return cancel_ != nullptr && cancel_->cancelled(); }

private:
  client_socket(int fd, canceller* cancel) : fd_{fd}, cancel_{cancel} {}
  caf::error start_tls(const std::string& host, client_clock::time_point deadline);
  /// Waits until the socket is ready for `events`; an error when the deadline passes.
  caf::error wait_for(short events, client_clock::time_point deadline);
  /// After an SSL call failed with `why` (SSL_get_error): true once OpenSSL's wish to read
  /// or write is met (call again), the error of a cancelled socket or a passed deadline, or
  /// false: the call failed for good, for the caller to describe.
  caf::expected<bool> retry_tls(int why, client_clock::time_point deadline);

  int fd_ = -1;
  canceller* cancel_ = nullptr;
  void* ssl_ = nullptr; // SSL*, when TLS is on
};

} // namespace tf::net
