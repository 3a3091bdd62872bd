#include "docker/transport.hpp"

#include "core/errors.hpp"

#include "net/client.hpp"

namespace tf::docker {

namespace {

/// Where the HTTP client connects for `ep`, and the Host header it sends.
net::client_target target_of(const endpoint& ep, std::string& host_header) {
  net::client_target t;
  host_header = ep.base_url.substr(7); // after http://: localhost, or host:port
  if (!ep.unix_path.empty()) {
    t.unix_path = ep.unix_path;
    return t;
  }
  auto colon = host_header.rfind(':'); // endpoint::parse checked host:port
  t.host = host_header.substr(0, colon);
  if (t.host.size() >= 2 && t.host.front() == '[' && t.host.back() == ']')
    t.host = t.host.substr(1, t.host.size() - 2); // [::1]
  t.port = static_cast<uint16_t>(std::stoi(host_header.substr(colon + 1)));
  return t;
}

} // namespace

caf::expected<endpoint> endpoint::parse(const std::string& docker_host) {
  endpoint ep;
  if (docker_host.rfind("unix://", 0) == 0) {
    ep.unix_path = docker_host.substr(7);
    if (ep.unix_path.empty() || ep.unix_path.front() != '/')
      return make_error(ec::bad_config, "docker_host: expected unix:///absolute/path, got \""
                                          + docker_host + "\"");
    ep.base_url = "http://localhost";
    return ep;
  }
  if (docker_host.rfind("tcp://", 0) == 0) {
    auto rest = docker_host.substr(6);
    auto colon = rest.rfind(':');
    auto port = colon == std::string::npos ? std::string{} : rest.substr(colon + 1);
    auto numeric = !port.empty() && port.size() <= 5
                   && port.find_first_not_of("0123456789") == std::string::npos;
    if (colon == std::string::npos || colon == 0 || rest.find('/') != std::string::npos
        || !numeric || std::stoi(port) < 1 || std::stoi(port) > 65535)
      return make_error(ec::bad_config,
                        "docker_host: expected tcp://host:port, got \"" + docker_host + "\"");
    ep.base_url = "http://" + rest;
    return ep;
  }
  return make_error(ec::bad_config, "docker_host: expected unix:// or tcp://, got \""
                                      + docker_host + "\"");
}

transport::transport(endpoint ep, cancel_token cancel)
  : ep_{std::move(ep)}, cancel_{std::move(cancel)} {
}

transport::~transport() = default;

caf::expected<response> transport::call(std::string_view method, const std::string& path,
                                        const std::string& body,
                                        std::chrono::milliseconds timeout, size_t max_body) {
  response res;
  bool too_large = false;
  std::function<bool(std::string_view)> collect = [&](std::string_view chunk) {
    if (res.body.size() + chunk.size() > max_body) {
      too_large = true;
      return false;
    }
    res.body.append(chunk);
    return true;
  };
  net::head_handler keep_head = [&res](const net::response_head& head) {
    res.headers = head.headers;
  };
  auto status = perform(method, path, body, timeout, collect, keep_head);
  if (too_large)
    return make_error(ec::payload_too_large, "docker: the engine's answer to " + path
                                               + " is larger than "
                                               + std::to_string(max_body) + " bytes");
  if (!status)
    return status.error();
  res.status = *status;
  return res;
}

caf::expected<long> transport::stream(std::string_view method, const std::string& path,
                                      const std::string& body,
                                      std::chrono::milliseconds timeout,
                                      const std::function<bool(std::string_view)>& on_data,
                                      const std::function<void(long)>& on_headers) {
  net::head_handler head_seen;
  if (on_headers)
    head_seen = [&on_headers](const net::response_head& head) { on_headers(head.status); };
  return perform(method, path, body, timeout, on_data, head_seen);
}

caf::expected<long> transport::perform(std::string_view method, const std::string& path,
                                       const std::string& body,
                                       std::chrono::milliseconds timeout,
                                       const std::function<bool(std::string_view)>& on_data,
                                       const net::head_handler& on_head) {
  std::string verb{method};
  std::string where = "docker: " + verb + " " + path + ": ";
  if (cancel_->cancelled())
    return make_error(ec::unavailable, where + "cancelled (shutting down)");
  net::client_request req;
  std::string host;
  auto target = target_of(ep_, host);
  req.method = method;
  req.target = path;
  req.host = host;
  if (!body.empty() || verb == "POST") {
    req.headers.emplace_back("Content-Type", "application/json");
    req.has_body = true;
    req.body = body;
  }
  net::client_limits limits;
  auto now = net::client_clock::now();
  limits.connect_deadline = now + std::chrono::milliseconds{5000};
  if (timeout.count() > 0)
    limits.deadline = now + timeout;
  auto status = net::exchange(target, req, limits, cancel_.get(), on_head, on_data);
  if (status)
    return status;
  if (cancel_->cancelled())
    return make_error(ec::unavailable, where + "cancelled (shutting down)");
  auto code = error_code(status.error());
  if (code == ec::timeout)
    return make_error(ec::timeout, where + "the engine did not answer within "
                                     + std::to_string(timeout.count() > 0 ? timeout.count() : 5000)
                                     + " ms");
  auto detail = error_message(status.error());
  if (detail.rfind("cannot connect", 0) == 0 || detail.rfind("cannot resolve", 0) == 0)
    return make_error(ec::unavailable, where + "the Docker engine is unreachable at "
                                         + (ep_.unix_path.empty() ? ep_.base_url : ep_.unix_path)
                                         + " (" + detail + ")");
  return make_error(code, where + detail);
}

} // namespace tf::docker
