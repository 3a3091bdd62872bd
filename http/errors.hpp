// The error envelope {"error":{"code","message"}} and the one mapping of error codes to
// HTTP statuses.
#pragma once

#include "core/errors.hpp"

#include <cstdint>
#include <string>

namespace httplib {
struct Response;
}

namespace tf {
struct webhook_answer;
}

namespace tf::http {

/// The HTTP status for an error code; the only place this mapping lives.
int http_status(ec code);

/// The HTTP status of a webhook delivery as the router settled it: 202 when a deploy was
/// queued, 200 when nothing was to be deployed (a duplicate, an unchanged tag, an ignored
/// event), the code's status when it was refused. The delivery log records the same.
int64_t webhook_status(const webhook_answer& a);

/// The envelope's body.
std::string error_body(std::string_view code, std::string_view message);

/// Sets status, content type and envelope from an error value.
void render_error(httplib::Response& res, const caf::error& err);

/// Sets status, content type and envelope directly.
void render_error(httplib::Response& res, int status, std::string_view code,
                  std::string_view message);

/// Answers with the envelope and closes the connection: for refusals made before the body
/// was read (its unread bytes must never be parsed as a next request).
void refuse_and_close(httplib::Response& res, int status, std::string_view code,
                      std::string_view message);

} // namespace tf::http
