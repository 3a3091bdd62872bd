// HTTP to the Docker Engine over its unix socket or tcp, through our HTTP/1.1 client
// (net/client.hpp), one connection per call. One transport per thread. Every call has a
// timeout and can be cancelled from another thread through a cancel token, so a hung engine
// never holds a shutdown.
#pragma once

#include "net/client.hpp"
#include "net/client_socket.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tf::docker {

/// Where the engine listens, parsed from `docker_host` (unix:///path or tcp://host:port).
struct endpoint {
  std::string unix_path; // empty for tcp
  std::string base_url;  // http://localhost for unix, http://host:port for tcp

  static caf::expected<endpoint> parse(const std::string& docker_host);
};

/// Shared between the actors of one Docker host and the transports working for them.
/// cancel() aborts every call in flight at once (it shuts down their sockets, waking a
/// transfer blocked in poll) and makes every later call fail immediately.
using canceller = net::canceller;

using cancel_token = std::shared_ptr<canceller>;

inline cancel_token make_cancel_token() {
  return std::make_shared<canceller>();
}

struct response {
  long status = 0;
  std::vector<std::pair<std::string, std::string>> headers; // names lowercased, in order
  std::string body;

  /// The first header of that (lowercase) name, or "".
  std::string header(std::string_view name) const {
    for (const auto& [k, v] : headers)
      if (k == name)
        return v;
    return {};
  }
};

class transport {
public:
  transport(endpoint ep, cancel_token cancel);
  ~transport();
  transport(const transport&) = delete;
  transport& operator=(const transport&) = delete;

  /// One request; the body of the answer is read whole, up to `max_body` bytes.
  /// Errors: ec::unavailable (cannot connect, cancelled), ec::timeout, ec::payload_too_large.
  caf::expected<response> call(std::string_view method, const std::string& path,
                               const std::string& body, std::chrono::milliseconds timeout,
                               size_t max_body = 64 * 1024 * 1024);

  /// A long-lived request whose body is handed to `on_data` as it arrives (the event
  /// stream, pull progress). Runs until the engine ends it, `on_data` returns false,
  /// the token is cancelled, or `timeout` (0: none) passes. Replies the HTTP status.
  /// `on_headers`, when given, runs with the status as soon as the headers are in, before
  /// any body arrives (an event stream may stay silent for hours).
  caf::expected<long> stream(std::string_view method, const std::string& path,
                             const std::string& body, std::chrono::milliseconds timeout,
                             const std::function<bool(std::string_view)>& on_data,
                             const std::function<void(long)>& on_headers = {});

  const cancel_token& cancel() const { return cancel_; }

private:
  caf::expected<long> perform(std::string_view method, const std::string& path,
                              const std::string& body, std::chrono::milliseconds timeout,
                              const std::function<bool(std::string_view)>& on_data,
                              const net::head_handler& on_head);
  endpoint ep_;
  cancel_token cancel_;
};

} // namespace tf::docker
