// Our HTTP/1.1 client core: one request per connection (Connection: close), the answer
// parsed defensively (a capped header block, strict status line, Content-Length and chunk
// sizes), and its body handed to a callback as it arrives, framed by Content-Length, by
// chunked transfer-encoding or by the peer closing. docker/transport (the Engine API) and
// net/http_call (admin APIs, health checks, notifications) are built on it.
#pragma once

#include "net/client_socket.hpp"

#include <caf/expected.hpp>

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tf::net {

struct client_request {
  std::string_view method;
  std::string_view target; // origin-form: /path?query
  std::string_view host;   // the Host header, unless `headers` names one
  std::vector<std::pair<std::string, std::string>> headers;
  /// Sent with a Content-Length (also when empty: a POST without a body says 0).
  bool has_body = false;
  std::string_view body;
};

struct client_limits {
  client_clock::time_point connect_deadline = no_deadline;
  client_clock::time_point deadline = no_deadline; // the whole exchange
  size_t max_header_bytes = 64 * 1024;             // status line, headers and trailers
};

struct response_head {
  long status = 0;
  std::vector<std::pair<std::string, std::string>> headers; // names lowercased, in order
};

/// Called once with the final (non-1xx) head, before any body arrives.
using head_handler = std::function<void(const response_head&)>;
/// Called with each piece of the body; false stops reading (not an error).
using body_handler = std::function<bool(std::string_view)>;

/// Up to `size` bytes of the answer into `buf`; 0 when the peer has closed.
using byte_source = std::function<caf::expected<size_t>(char* buf, size_t size)>;

/// Reads one answer to a `method` request from `source`: skips 1xx interim heads, hands the
/// final head to `on_head` and the body to `on_body`; replies the HTTP status. exchange()
/// reads its socket through it; on its own it parses an answer held in memory (tests/fuzz).
/// Errors as exchange's, less the connecting ones.
caf::expected<long> read_response(const byte_source& source, std::string_view method,
                                  size_t max_header_bytes, const head_handler& on_head,
                                  const body_handler& on_body);

/// Sends the request and reads the answer; replies the HTTP status.
/// Errors: ec::invalid_argument (a request that cannot be written: CR/LF in a header, ...),
/// ec::unavailable (cannot connect, cancelled, reset, a malformed answer), ec::timeout (a
/// deadline passed), ec::payload_too_large (the header block is over its cap).
caf::expected<long> exchange(const client_target& target, const client_request& req,
                             const client_limits& limits, canceller* cancel,
                             const head_handler& on_head, const body_handler& on_body);

} // namespace tf::net
