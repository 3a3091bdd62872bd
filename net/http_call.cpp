#include "net/http_call.hpp"

#include "core/errors.hpp"
#include "net/text.hpp"

#include "net/client.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>

namespace tf::net {

namespace {

/// Response headers beyond this many bytes in total end the call: an admin API never sends
/// that much, and an unbounded header map is memory an outside peer controls.
constexpr size_t max_header_bytes = 64 * 1024;

/// The parts of an http:// or https:// URL a request needs.
struct parsed_url {
  net::client_target target;
  std::string host_header; // host[:port] as written, without credentials
  std::string path;        // /path?query, never empty
  std::string userinfo;    // user:password, percent-encoded as written
};

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

std::string percent_decode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0
        && hex_value(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

caf::expected<parsed_url> parse_url(const std::string& url) {
  auto bad = [&](const std::string& why) {
    return make_error(ec::unavailable, "bad URL (" + why + ")");
  };
  parsed_url out;
  auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos)
    return bad("no scheme");
  auto scheme = net::ascii_lowercase(url.substr(0, scheme_end));
  if (scheme != "http" && scheme != "https")
    return bad("only http and https");
  out.target.tls = scheme == "https";
  auto rest_at = scheme_end + 3;
  auto authority_end = url.find_first_of("/?#", rest_at);
  if (authority_end == std::string::npos)
    authority_end = url.size();
  auto authority = url.substr(rest_at, authority_end - rest_at);
  auto at = authority.rfind('@');
  if (at != std::string::npos) {
    out.userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
  }
  out.host_header = authority;
  std::string port;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string::npos)
      return bad("unclosed [");
    out.target.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':')
        return bad("junk after ]");
      port = authority.substr(close + 2);
    }
  } else {
    auto colon = authority.find(':');
    out.target.host = authority.substr(0, colon);
    if (colon != std::string::npos)
      port = authority.substr(colon + 1);
  }
  if (out.target.host.empty())
    return bad("no host");
  if (port.empty()) {
    out.target.port = out.target.tls ? 443 : 80;
  } else {
    if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })
        || std::stoi(port) < 1 || std::stoi(port) > 65535)
      return bad("bad port");
    out.target.port = static_cast<uint16_t>(std::stoi(port));
  }
  auto fragment = url.find('#', authority_end);
  out.path = url.substr(authority_end, (fragment == std::string::npos ? url.size() : fragment)
                                         - authority_end);
  if (out.path.empty() || out.path.front() != '/')
    out.path.insert(0, "/");
  return out;
}

/// "Basic base64(user:password)" for credentials written into the URL.
std::string basic_auth(const std::string& userinfo) {
  auto colon = userinfo.find(':');
  auto plain = percent_decode(userinfo.substr(0, colon)) + ":"
               + (colon == std::string::npos ? std::string{}
                                             : percent_decode(userinfo.substr(colon + 1)));
  std::string encoded(4 * ((plain.size() + 2) / 3) + 1, '\0');
  auto n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()),
                           reinterpret_cast<const unsigned char*>(plain.data()),
                           static_cast<int>(plain.size()));
  encoded.resize(static_cast<size_t>(std::max(n, 0)));
  return "Basic " + encoded;
}

} // namespace

caf::expected<http_response> http_call(const http_request& req) {
  std::string where = "http: " + req.method + " " + req.url + ": ";
  auto url = parse_url(req.url);
  if (!url)
    return make_error(ec::unavailable, where + error_message(url.error()));
  url->target.source_address = req.source_address;
  url->target.address_check = req.address_check;

  net::client_request out;
  out.method = req.method;
  out.target = url->path;
  out.host = url->host_header;
  bool has_content_type = false;
  bool has_authorization = false;
  for (const auto& [name, value] : req.headers) {
    if (name.find_first_of("\r\n:") != std::string::npos
        || value.find_first_of("\r\n") != std::string::npos)
      return make_error(ec::invalid_argument, "http: header " + name + " has a bad character");
    auto lower = net::ascii_lowercase(name);
    has_content_type = has_content_type || lower == "content-type";
    has_authorization = has_authorization || lower == "authorization";
    out.headers.emplace_back(name, value);
  }
  if (!url->userinfo.empty() && !has_authorization)
    out.headers.emplace_back("Authorization", basic_auth(url->userinfo));
  out.headers.emplace_back("Accept", "*/*");
  if (!req.body.empty() || req.method == "POST" || req.method == "PUT"
      || req.method == "PATCH") {
    if (!has_content_type)
      out.headers.emplace_back("Content-Type", "application/json");
    out.has_body = true;
    out.body = req.body;
  }

  auto timeout = req.timeout.count() > 0 ? req.timeout : std::chrono::milliseconds{1};
  auto connect_timeout = req.connect_timeout.count() > 0 ? std::min(timeout, req.connect_timeout)
                                                         : timeout;
  net::client_limits limits;
  auto now = net::client_clock::now();
  limits.deadline = now + timeout;
  limits.connect_deadline = now + connect_timeout;
  limits.max_header_bytes = max_header_bytes;

  http_response res;
  bool body_too_large = false;
  auto on_head = [&res](const net::response_head& head) {
    for (const auto& [name, value] : head.headers) {
      auto [it, inserted] = res.headers.emplace(name, value);
      if (!inserted)
        it->second += ", " + value; // repeated header: joined as RFC 9110 allows
    }
  };
  auto on_body = [&](std::string_view piece) {
    if (res.body.size() + piece.size() > req.max_response_bytes) {
      body_too_large = true;
      return false;
    }
    res.body.append(piece);
    return true;
  };
  auto status = net::exchange(url->target, out, limits, nullptr, on_head, on_body);
  if (body_too_large)
    return make_error(ec::payload_too_large, where + "the response body is larger than "
                                               + std::to_string(req.max_response_bytes)
                                               + " bytes");
  if (!status) {
    auto code = error_code(status.error());
    if (code == ec::timeout) // callers see a peer that does not answer as unavailable
      return make_error(ec::unavailable, where + "no answer within "
                                           + std::to_string(timeout.count()) + " ms");
    return make_error(code, where + error_message(status.error()));
  }
  res.status = *status;
  return res;
}

caf::expected<std::pair<std::string, uint16_t>> url_host_port(const std::string& url) {
  auto u = parse_url(url);
  if (!u)
    return u.error();
  return std::pair<std::string, uint16_t>{u->target.host, u->target.port};
}

} // namespace tf::net
