// What every /api handler does the same way: read the paging query, read the JSON body,
// answer with a JSON document or the error envelope.
#pragma once

#include "http/errors.hpp"
#include "core/list_cursor.hpp"
#include "net/json.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <rapidjson/document.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace httplib {
struct Request;
struct Response;
}

namespace tf::http {

/// How every handler names its request and its response.
using req_t = const httplib::Request&;
using res_t = httplib::Response&;

inline constexpr int64_t default_page_limit = 50;
inline constexpr int64_t max_page_limit = 500;

struct page_query {
  int64_t limit = default_page_limit;
  int64_t offset = 0;
};

/// ec::invalid_argument with `message` (which names the field).
caf::error invalid(std::string message);

/// `?name=` as a non-negative integer (digits only, at most 18); `fallback` when absent.
caf::expected<int64_t> query_count(const httplib::Request& req, const char* name,
                                   int64_t fallback);

/// `?limit=&offset=`: limit 1 to `max_limit` (default 50), offset 0 or more.
caf::expected<page_query> parse_page(const httplib::Request& req,
                                     int64_t max_limit = max_page_limit);

/// `?name=` as a keyset cursor (core/list_cursor.hpp): nothing when absent or empty, an
/// error when it is not a cursor this server wrote.
caf::expected<std::optional<list_cursor>> query_cursor(const httplib::Request& req,
                                                       const char* name);

/// `?name=` or "" when absent.
std::string query_text(const httplib::Request& req, const char* name);

/// `?name=` as an id to filter by: "" when absent or empty (no filter); an error when it is
/// longer than 128 characters or holds a space, a control character or a non-ASCII byte.
caf::expected<std::string> query_id(const httplib::Request& req, const char* name);

/// `?name=` as one of `allowed` (a filter's enumerated values): "" when absent or empty.
caf::expected<std::string> query_choice(const httplib::Request& req, const char* name,
                                        bool (*allowed)(std::string_view),
                                        const char* allowed_text);

/// The body as a JSON object; an empty body is `{}` when `empty_is_object`.
caf::expected<rapidjson::Document> parse_body(const httplib::Request& req,
                                              bool empty_is_object = false);

/// The body read by `from_json` (a JSON object in; a row or the reason it is none out).
template <class FromJson>
auto parse_body_as(const httplib::Request& req, FromJson from_json)
  -> decltype(from_json(std::declval<const rapidjson::Document&>())) {
  auto body = parse_body(req);
  if (!body)
    return body.error();
  return from_json(*body);
}

/// Answers `status` with a JSON document.
void reply_json(httplib::Response& res, int status, std::string body);

/// Answers `status` with no body.
void reply_empty(httplib::Response& res, int status);

/// Answers `status` with `write(writer, value)`, or the error envelope for an error.
template <class T, class Write>
void reply(httplib::Response& res, const caf::expected<T>& x, int status, Write write) {
  if (!x) {
    render_error(res, x.error());
    return;
  }
  reply_json(res, status, net::make_json([&](net::json_writer& w) { write(w, *x); }));
}

/// 204 with no body, or the error envelope.
template <class T>
void reply_no_content(httplib::Response& res, const caf::expected<T>& x) {
  if (!x) {
    render_error(res, x.error());
    return;
  }
  reply_empty(res, 204);
}

} // namespace tf::http
