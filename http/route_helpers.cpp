#include "http/route_helpers.hpp"

#include "core/errors.hpp"

#include <httplib.h>

#include <algorithm>

namespace tf::http {

caf::error invalid(std::string message) {
  return make_error(ec::invalid_argument, std::move(message));
}

caf::expected<int64_t> query_count(const httplib::Request& req, const char* name,
                                   int64_t fallback) {
  if (!req.has_param(name))
    return fallback;
  auto text = req.get_param_value(name);
  // 18 digits always fit an int64_t; a longer count is no count anyone means.
  auto digits = !text.empty() && text.size() <= 18
                && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits)
    return make_error(ec::invalid_argument,
                      std::string{name} + ": must be a non-negative integer, got \""
                        + text.substr(0, 40) + "\"");
  return static_cast<int64_t>(std::stoll(text));
}

caf::expected<page_query> parse_page(const httplib::Request& req, int64_t max_limit) {
  auto limit = query_count(req, "limit", default_page_limit);
  if (!limit)
    return limit.error();
  if (*limit < 1 || *limit > max_limit)
    return make_error(ec::invalid_argument, "limit: must be from 1 to "
                                              + std::to_string(max_limit) + ", got "
                                              + std::to_string(*limit));
  auto offset = query_count(req, "offset", 0);
  if (!offset)
    return offset.error();
  return page_query{*limit, *offset};
}

caf::expected<std::optional<list_cursor>> query_cursor(const httplib::Request& req,
                                                       const char* name) {
  auto text = query_text(req, name);
  if (text.empty())
    return std::optional<list_cursor>{};
  auto cursor = decode_cursor(text);
  if (!cursor)
    return make_error(ec::invalid_argument,
                      std::string{name} + ": not a cursor of this list (give the next_after "
                                          "of the previous page)");
  return cursor;
}

std::string query_text(const httplib::Request& req, const char* name) {
  return req.has_param(name) ? req.get_param_value(name) : std::string{};
}

caf::expected<std::string> query_id(const httplib::Request& req, const char* name) {
  auto text = query_text(req, name);
  auto printable = std::all_of(text.begin(), text.end(), [](char c) {
    return static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7f;
  });
  if (text.size() > 128 || !printable)
    return make_error(ec::invalid_argument, std::string{name}
                                              + ": must be an id (at most 128 printable "
                                                "ASCII characters, no spaces)");
  return text;
}

caf::expected<std::string> query_choice(const httplib::Request& req, const char* name,
                                        bool (*allowed)(std::string_view),
                                        const char* allowed_text) {
  auto text = query_text(req, name);
  if (!text.empty() && (text.size() > 64 || !allowed(text)))
    return make_error(ec::invalid_argument, std::string{name} + ": must be one of "
                                              + allowed_text + ", got \"" + text.substr(0, 40)
                                              + "\"");
  return text;
}

caf::expected<rapidjson::Document> parse_body(const httplib::Request& req, bool empty_is_object) {
  if (empty_is_object && std::all_of(req.body.begin(), req.body.end(), [](char c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\n';
      })) {
    rapidjson::Document doc;
    doc.SetObject();
    return doc;
  }
  return net::parse_object(req.body);
}

void reply_json(httplib::Response& res, int status, std::string body) {
  res.status = status;
  res.set_content(std::move(body), "application/json");
}

void reply_empty(httplib::Response& res, int status) {
  res.status = status;
}

} // namespace tf::http
