#include "http/errors.hpp"

#include "actors/webhook_messages.hpp"
#include "core/webhook_model.hpp"
#include "net/json.hpp"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <memory>

namespace tf::http {

int http_status(ec code) {
  switch (code) {
    case ec::none: return 200;
    case ec::invalid_argument: return 400;
    case ec::not_found: return 404;
    case ec::conflict: return 409;
    case ec::payload_too_large: return 413;
    case ec::unavailable:
    case ec::timeout: return 503;
    case ec::database:
    case ec::bad_config:
    case ec::internal: return 500;
  }
  return 500;
}

namespace {

/// The status of a refusal only a webhook makes, finer than the project's codes (its
/// reason is the envelope's code); 0 for any other reason.
int64_t webhook_refusal_status(std::string_view reason) {
  if (reason == "unauthorized")
    return 401;
  if (reason == "no_stage" || reason == "no_tag")
    return 422;
  if (reason == "not_implemented")
    return 501;
  return 0;
}

/// The project's code spelled `name` (as to_string spells it); internal for none.
ec code_named(std::string_view name) {
  for (auto c = static_cast<int>(ec::none); c <= static_cast<int>(ec::internal); ++c)
    if (name == to_string(static_cast<ec>(c)))
      return static_cast<ec>(c);
  return ec::internal;
}

int64_t settled_status(std::string_view result) {
  return result == "accepted" ? 202 : 200;
}

/// `s` with each byte that does not start or continue a valid UTF-8 sequence replaced by
/// U+FFFD. Messages quote what the client sent (a query parameter's value, which httplib
/// percent-decodes to any bytes: ?limit=%FF%FE); RapidJSON's writer copies bytes as they are,
/// so unchecked they would make the error body invalid UTF-8 and so invalid JSON.
std::string valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    auto b = static_cast<unsigned char>(s[i]);
    size_t len = b < 0x80 ? 1 : (b >= 0xC2 && b <= 0xDF) ? 2 : (b >= 0xE0 && b <= 0xEF) ? 3
                                                         : (b >= 0xF0 && b <= 0xF4) ? 4 : 0;
    bool ok = len != 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) {
      auto c = static_cast<unsigned char>(s[i + k]);
      ok = (c & 0xC0) == 0x80;
      // Overlong forms, surrogates and code points above U+10FFFF (RFC 3629's table).
      if (ok && k == 1)
        ok = !(b == 0xE0 && c < 0xA0) && !(b == 0xED && c > 0x9F) && !(b == 0xF0 && c < 0x90)
             && !(b == 0xF4 && c > 0x8F);
    }
    if (ok) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

} // namespace

int64_t webhook_status(const webhook_answer& a) {
  if (auto s = webhook_refusal_status(a.reason); s != 0)
    return s;
  return a.refused() ? http_status(a.code) : settled_status(a.result);
}

int64_t webhook_status(const webhook_delivery& d) {
  if (d.result != "rejected")
    return settled_status(d.result);
  if (auto s = webhook_refusal_status(d.code); s != 0)
    return s;
  return http_status(code_named(d.code));
}

std::string error_body(std::string_view code, std::string_view message) {
  return net::make_json([&](net::json_writer& w) {
    w.StartObject();
    w.Key("error");
    w.StartObject();
    w.Key("code");
    net::write_string(w, valid_utf8(code));
    w.Key("message");
    net::write_string(w, valid_utf8(message));
    w.EndObject();
    w.EndObject();
  });
}

void render_error(httplib::Response& res, const caf::error& err) {
  auto code = error_code(err);
  auto status = http_status(code);
  // Internal details (SQL messages) stay in the log; the client gets a generic message.
  auto internal = status >= 500 && code != ec::timeout && code != ec::unavailable;
  auto message = internal ? std::string{"internal error; see the daemon's log"}
                          : error_message(err);
  // What the message above points to (500), or why the service is unavailable (503).
  if (status >= 500)
    spdlog::log(internal ? spdlog::level::err : spdlog::level::warn,
                "event=request-failed status={} code={} error={}", status, to_string(code),
                error_message(err));
  render_error(res, status, to_string(code), message);
}

void render_error(httplib::Response& res, int status, std::string_view code,
                  std::string_view message) {
  res.status = status;
  res.set_content(error_body(code, message), "application/json");
}

/// Answers with the envelope and closes the connection. httplib 0.11 keeps a connection
/// open unless the *request* asked to close it, so after refusing a body we did not read
/// those unread bytes would be parsed as the next request (request smuggling). The body
/// goes out through a content provider that reports failure once it has written
/// everything: the response is complete, and httplib then drops the connection.
void refuse_and_close(httplib::Response& res, int status, std::string_view code,
                      std::string_view message) {
  auto body = std::make_shared<std::string>(error_body(code, message));
  res.status = status;
  res.set_header("Connection", "close");
  res.set_content_provider(body->size(), "application/json",
                           [body](size_t offset, size_t, httplib::DataSink& sink) {
                             sink.write(body->data() + offset, body->size() - offset);
                             return false;
                           });
}

} // namespace tf::http
