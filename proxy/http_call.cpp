#include "proxy/http_call.hpp"

#include "actors/errors.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <mutex>

namespace tf::proxy {

namespace {

/// Response headers beyond this many bytes in total end the call: an admin API never sends
/// that much, and an unbounded header map is memory an outside peer controls.
constexpr size_t max_header_bytes = 64 * 1024;

void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_NOTHING); });
}

struct transfer {
  http_response* res;
  size_t max_body;
  size_t header_bytes = 0;
  bool body_too_large = false;
  bool headers_too_large = false;
};

std::string lowercase(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos)
    return {};
  auto last = s.find_last_not_of(" \t\r\n");
  return s.substr(first, last - first + 1);
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<transfer*>(user);
  auto len = size * n;
  t->header_bytes += len;
  if (t->header_bytes > max_header_bytes) {
    t->headers_too_large = true;
    return 0;
  }
  std::string line{data, len};
  // A status line starts the headers of a (possibly interim, e.g. 100 Continue) response:
  // only the last response's headers are kept.
  if (line.rfind("HTTP/", 0) == 0) {
    t->res->headers.clear();
    return len;
  }
  auto colon = line.find(':');
  if (colon == std::string::npos || colon == 0)
    return len; // the blank line, or a malformed one: nothing to keep
  auto name = lowercase(trim(line.substr(0, colon)));
  auto value = trim(line.substr(colon + 1));
  auto [it, inserted] = t->res->headers.emplace(name, value);
  if (!inserted)
    it->second += ", " + value; // repeated header: joined as RFC 9110 allows
  return len;
}

size_t on_write(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<transfer*>(user);
  auto len = size * n;
  if (t->res->body.size() + len > t->max_body) {
    t->body_too_large = true;
    return 0; // curl aborts with CURLE_WRITE_ERROR
  }
  t->res->body.append(data, len);
  return len;
}

struct curl_deleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct slist_deleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

} // namespace

caf::expected<http_response> http_call(const http_request& req) {
  init_curl_once();
  std::unique_ptr<CURL, curl_deleter> handle{curl_easy_init()};
  if (!handle)
    return make_error(ec::internal, "http: curl_easy_init failed");
  auto* curl = handle.get();
  http_response res;
  transfer t{&res, req.max_response_bytes};
  char errbuf[CURL_ERROR_SIZE] = {0};

  curl_easy_setopt(curl, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  // Admin APIs live on loopback or a known host: never through an HTTP(S)_PROXY of the
  // daemon's environment.
  curl_easy_setopt(curl, CURLOPT_PROXY, "");
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  auto timeout_ms = static_cast<long>(req.timeout.count() > 0 ? req.timeout.count() : 1);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
  auto connect_ms = req.connect_timeout.count() > 0
                      ? std::min(timeout_ms, static_cast<long>(req.connect_timeout.count()))
                      : timeout_ms;
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
  std::string interface;
  if (!req.source_address.empty()) {
    // "host!" binds to the address itself, not to a network interface of that name.
    interface = "host!" + req.source_address;
    curl_easy_setopt(curl, CURLOPT_INTERFACE, interface.c_str());
  }
  if (req.method == "HEAD")
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  else
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  bool has_content_type = false;
  std::unique_ptr<curl_slist, slist_deleter> headers;
  auto add_header = [&](const std::string& line) {
    headers.reset(curl_slist_append(headers.release(), line.c_str()));
  };
  for (const auto& [name, value] : req.headers) {
    if (name.find_first_of("\r\n:") != std::string::npos
        || value.find_first_of("\r\n") != std::string::npos)
      return make_error(ec::invalid_argument, "http: header " + name + " has a bad character");
    if (lowercase(name) == "content-type")
      has_content_type = true;
    add_header(name + ": " + value);
  }
  if (!req.body.empty() || req.method == "POST" || req.method == "PUT"
      || req.method == "PATCH") {
    if (!has_content_type)
      add_header("Content-Type: application/json");
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req.body.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(req.body.size()));
  }
  add_header("Expect:"); // no 100-continue round trip for small JSON bodies
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);

  auto rc = curl_easy_perform(curl);
  std::string where = "http: " + req.method + " " + req.url + ": ";
  if (t.body_too_large)
    return make_error(ec::payload_too_large, where + "the response body is larger than "
                                               + std::to_string(req.max_response_bytes)
                                               + " bytes");
  if (t.headers_too_large)
    return make_error(ec::payload_too_large, where + "the response headers are larger than "
                                               + std::to_string(max_header_bytes) + " bytes");
  if (rc != CURLE_OK) {
    std::string detail = errbuf[0] != '\0' ? std::string{errbuf} : curl_easy_strerror(rc);
    return make_error(ec::unavailable, where + detail);
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &res.status);
  return res;
}

} // namespace tf::proxy
