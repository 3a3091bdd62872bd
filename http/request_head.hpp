// The check the request gate makes on a complete request head before cpp-httplib parses it:
// framing that httplib 0.11 accepts leniently (two Content-Lengths, whitespace before a
// colon, folded lines, odd Transfer-Encoding) is refused, since a proxy in front of the
// daemon may frame the same bytes differently (request smuggling).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tf::http {

struct head_limits {
  size_t max_header_count = 100;
  uint64_t max_body_bytes = 1048576;
  /// The limit of an upload's body (see is_upload); 0: uploads get max_body_bytes too.
  uint64_t max_upload_bytes = 0;
};

/// Whether a request carries an upload, whose body may be up to the upload limit rather
/// than the JSON one: a site's deploy (POST /api/sites/{id}/deploy), or a webhook delivery
/// whose Content-Type is an archive's (application/gzip, x-gzip, x-tar, octet-stream).
bool is_upload(std::string_view method, std::string_view target, std::string_view content_type);

/// The body limit of a request: the upload limit for an upload, else the JSON one.
uint64_t body_limit_of(const head_limits& limits, std::string_view method,
                       std::string_view target, std::string_view content_type);

struct head_verdict {
  /// 0: pass the request on; otherwise the gate answers this status (400 or 431) and closes.
  int status = 0;
  std::string code;
  std::string message;
  /// The head to pass on, ending in an empty line; rewritten when the request had no body
  /// framing (Content-Length: 0 added) or asked for 100-continue (the gate answers that).
  std::string head;
  /// Body bytes that follow the head and belong to this request.
  uint64_t body_length = 0;
  /// httplib refuses the request before reading its body (413 over the size limit, 411 for
  /// a chunked body): the body is not read, so the connection closes after the answer.
  bool close_after = false;
  bool expect_continue = false;
};

/// `head` is the request line and header lines up to and including the empty line.
head_verdict check_head(std::string_view head, const head_limits& limits);

} // namespace tf::http
