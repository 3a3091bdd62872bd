#include "http/request_head.hpp"

#include <algorithm>
#include <cctype>
#include <vector>

namespace tf::http {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size()
         && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
              return std::tolower(static_cast<unsigned char>(x))
                     == std::tolower(static_cast<unsigned char>(y));
            });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

/// RFC 9110 token characters: a header name with anything else (a space before the colon
/// above all) is refused rather than guessed at.
bool is_token(std::string_view s) {
  static constexpr std::string_view extra = "!#$%&'*+-.^_`|~";
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || extra.find(c) != std::string_view::npos;
  });
}

head_verdict refuse(int status, std::string code, std::string message) {
  head_verdict v;
  v.status = status;
  v.code = std::move(code);
  v.message = std::move(message);
  return v;
}

head_verdict bad(std::string message) {
  return refuse(400, "invalid_argument", std::move(message));
}

} // namespace

bool is_upload(std::string_view method, std::string_view target, std::string_view content_type) {
  if (method != "POST")
    return false;
  target = target.substr(0, target.find('?'));
  auto starts = [&](std::string_view p) { return target.substr(0, p.size()) == p; };
  auto rest_is_one_segment = [&](std::string_view p, std::string_view suffix) {
    if (!starts(p) || target.size() <= p.size() + suffix.size())
      return false;
    if (target.substr(target.size() - suffix.size()) != suffix)
      return false;
    auto middle = target.substr(p.size(), target.size() - p.size() - suffix.size());
    return middle.find('/') == std::string_view::npos;
  };
  if (rest_is_one_segment("/api/sites/", "/deploy"))
    return true;
  if (!rest_is_one_segment("/api/webhooks/", ""))
    return false;
  auto type = trim(content_type.substr(0, content_type.find(';')));
  for (std::string_view archive : {"application/gzip", "application/x-gzip", "application/x-tar",
                                   "application/octet-stream"})
    if (iequals(type, archive))
      return true;
  return false;
}

uint64_t body_limit_of(const head_limits& limits, std::string_view method,
                       std::string_view target, std::string_view content_type) {
  if (limits.max_upload_bytes > limits.max_body_bytes && is_upload(method, target, content_type))
    return limits.max_upload_bytes;
  return limits.max_body_bytes;
}

head_verdict check_head(std::string_view head, const head_limits& limits) {
  auto line_end = head.find("\r\n");
  auto request_line = head.substr(0, line_end);
  if (request_line.empty() || request_line.front() == ' ')
    return bad("malformed request line");
  auto method = request_line.substr(0, request_line.find(' '));
  auto target = request_line.substr(std::min(request_line.size(), method.size() + 1));
  target = target.substr(0, target.find(' '));
  std::string_view content_type;

  size_t count = 0;
  bool has_length = false;
  uint64_t length = 0;
  int encodings = 0;
  std::string_view encoding;
  std::string_view expect_line;
  for (auto pos = line_end + 2; pos < head.size();) {
    auto end = head.find("\r\n", pos);
    if (end == std::string_view::npos)
      break;
    auto line = head.substr(pos, end - pos);
    pos = end + 2;
    if (line.empty())
      break;
    if (++count > limits.max_header_count)
      return refuse(431, "header_fields_too_large",
                    "more than " + std::to_string(limits.max_header_count) + " header lines");
    if (line.front() == ' ' || line.front() == '\t')
      return bad("folded header lines are not accepted");
    if (line.find_first_of(std::string_view{"\r\n\0", 3}) != std::string_view::npos)
      return bad("a bare CR, LF or NUL in a header line");
    auto colon = line.find(':');
    if (colon == std::string_view::npos || !is_token(line.substr(0, colon)))
      return bad("a header line without a valid name before its colon");
    auto name = line.substr(0, colon);
    auto value = trim(line.substr(colon + 1));
    if (iequals(name, "Content-Type"))
      content_type = value;
    if (iequals(name, "Content-Length")) {
      // A list ("5, 5") is allowed by RFC 9110 only when every member is the same.
      while (true) {
        auto comma = value.find(',');
        auto item = trim(value.substr(0, comma));
        bool digits = !item.empty() && item.size() <= 19
                      && std::all_of(item.begin(), item.end(),
                                     [](char c) { return c >= '0' && c <= '9'; });
        if (!digits)
          return bad("Content-Length is not a number");
        auto n = std::stoull(std::string{item});
        if (has_length && n != length)
          return bad("conflicting Content-Length values");
        has_length = true;
        length = n;
        if (comma == std::string_view::npos)
          break;
        value.remove_prefix(comma + 1);
      }
    } else if (iequals(name, "Transfer-Encoding")) {
      ++encodings;
      encoding = value;
    } else if (iequals(name, "Expect") && iequals(value, "100-continue")) {
      expect_line = head.substr(pos - line.size() - 2, line.size() + 2);
    }
  }

  head_verdict v;
  v.head = std::string{head};
  if (encodings > 0) {
    if (encodings > 1 || !iequals(encoding, "chunked"))
      return bad("Transfer-Encoding other than a single chunked is not accepted");
    if (has_length)
      return bad("both Transfer-Encoding and Content-Length");
    v.close_after = true; // httplib's pre-routing check answers 411
  } else if (has_length) {
    if (length > body_limit_of(limits, method, target, content_type))
      v.close_after = true; // answered 413 before the body is read
    else
      v.body_length = length;
  } else if (method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE") {
    // An absent body is an empty body; httplib would otherwise read until the peer closes.
    v.head.insert(v.head.size() - 2, "Content-Length: 0\r\n");
  }
  if (!expect_line.empty()) {
    // The gate answers 100 Continue itself (it reads the body before httplib runs), so
    // httplib must not send a second one.
    auto at = static_cast<size_t>(expect_line.data() - head.data());
    v.head.erase(at, expect_line.size());
    v.expect_continue = v.body_length > 0;
  }
  return v;
}

} // namespace tf::http
