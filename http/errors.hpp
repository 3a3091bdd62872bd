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
struct webhook_delivery;
}

namespace tf::http {

/// The HTTP status for an error code; the only place this mapping lives.
int http_status(ec code);

/// The HTTP status of a webhook delivery as the router settled it: 202 when a deploy was
/// queued, 200 when nothing was to be deployed (a duplicate, an unchanged tag, an ignored
/// event), the code's status when it was refused (401 unauthorized, 422 no_stage and
/// no_tag, 501 not_implemented, otherwise http_status of the code).
int64_t webhook_status(const webhook_answer& a);

/// The same status for a recorded delivery, read from its result and code: the status its
/// sender was answered with.
int64_t webhook_status(const webhook_delivery& d);

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
