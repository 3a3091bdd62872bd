#include "docker/transport.hpp"

#include "actors/errors.hpp"

#include <curl/curl.h>

#include <mutex>

#include <sys/socket.h>
#include <unistd.h>

namespace tf::docker {

namespace {

void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_NOTHING); });
}

struct transfer {
  const std::function<bool(std::string_view)>* on_data;
  const canceller* cancel;
  const std::function<void(long)>* on_headers;
  CURL* curl;
  bool stopped_by_reader = false;
};

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<transfer*>(user);
  std::string_view line{data, size * n};
  // The blank line ends the headers of the final response (not of a 100 Continue).
  if ((line == "\r\n" || line == "\n") && *t->on_headers) {
    long status = 0;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200)
      (*t->on_headers)(status);
  }
  return size * n;
}

size_t on_write(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<transfer*>(user);
  if (!(*t->on_data)(std::string_view{data, size * n})) {
    t->stopped_by_reader = true;
    return 0; // makes curl abort the transfer with CURLE_WRITE_ERROR
  }
  return size * n;
}

// Called by curl at least once a second even when no data moves: the cancel point for a
// transfer whose socket was shut down between its checks.
int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<transfer*>(user);
  return t->cancel->cancelled() ? 1 : 0;
}

// curl opens and closes its sockets through these, so the canceller knows every socket in
// flight and can shut them down from another thread.
curl_socket_t open_socket(void* user, curlsocktype, curl_sockaddr* addr) {
  auto* c = static_cast<canceller*>(user);
  auto fd = ::socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
  if (fd >= 0)
    c->add_socket(fd);
  return fd >= 0 ? fd : CURL_SOCKET_BAD;
}

int close_socket(void* user, curl_socket_t fd) {
  static_cast<canceller*>(user)->remove_socket(fd);
  return ::close(fd);
}

} // namespace

void canceller::cancel() {
  std::lock_guard<std::mutex> guard{mx_};
  cancelled_ = true;
  // shutdown, not close: curl still owns the descriptors and closes them itself.
  for (auto fd : sockets_)
    ::shutdown(fd, SHUT_RDWR);
}

void canceller::add_socket(int fd) {
  std::lock_guard<std::mutex> guard{mx_};
  sockets_.insert(fd);
  if (cancelled_)
    ::shutdown(fd, SHUT_RDWR); // opened after cancel(): fail it at once
}

void canceller::remove_socket(int fd) {
  // Under the lock, before the descriptor is closed and its number can be reused.
  std::lock_guard<std::mutex> guard{mx_};
  sockets_.erase(fd);
}

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
  init_curl_once();
  curl_ = curl_easy_init();
}

transport::~transport() {
  if (curl_ != nullptr)
    curl_easy_cleanup(static_cast<CURL*>(curl_));
}

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
  auto status = perform(method, path, body, timeout, collect, {});
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
  return perform(method, path, body, timeout, on_data, on_headers);
}

caf::expected<long> transport::perform(std::string_view method, const std::string& path,
                                       const std::string& body,
                                       std::chrono::milliseconds timeout,
                                       const std::function<bool(std::string_view)>& on_data,
                                       const std::function<void(long)>& on_headers) {
  auto* curl = static_cast<CURL*>(curl_);
  if (curl == nullptr)
    return make_error(ec::internal, "docker: curl_easy_init failed");
  if (cancel_->cancelled())
    return make_error(ec::unavailable, "docker: call cancelled (shutting down)");
  curl_easy_reset(curl);
  transfer t{&on_data, cancel_.get(), &on_headers, curl};
  auto url = ep_.base_url + path;
  std::string verb{method};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  if (!ep_.unix_path.empty())
    curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, ep_.unix_path.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, verb.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, open_socket);
  curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, cancel_.get());
  curl_easy_setopt(curl, CURLOPT_CLOSESOCKETFUNCTION, close_socket);
  curl_easy_setopt(curl, CURLOPT_CLOSESOCKETDATA, cancel_.get());
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &t);
  curl_slist* headers = nullptr;
  if (!body.empty() || verb == "POST") {
    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  headers = curl_slist_append(headers, "Expect:");
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  auto rc = curl_easy_perform(curl);
  curl_slist_free_all(headers);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  if (rc == CURLE_OK)
    return status;
  if (t.stopped_by_reader)
    return status; // the reader had enough: not an error of the transport
  if (cancel_->cancelled())
    return make_error(ec::unavailable, "docker: " + verb + " " + path
                                         + ": cancelled (shutting down)");
  std::string where = "docker: " + verb + " " + path + ": ";
  switch (rc) {
    case CURLE_ABORTED_BY_CALLBACK:
      return make_error(ec::unavailable, where + "cancelled (shutting down)");
    case CURLE_OPERATION_TIMEDOUT:
      return make_error(ec::timeout, where + "the engine did not answer within "
                                       + std::to_string(timeout.count()) + " ms");
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
      return make_error(ec::unavailable, where + "the Docker engine is unreachable at "
                                           + (ep_.unix_path.empty() ? ep_.base_url
                                                                    : ep_.unix_path));
    default:
      return make_error(ec::unavailable, where + curl_easy_strerror(rc));
  }
}

} // namespace tf::docker
