#include "http/server.hpp"

#include "http/ask.hpp"
#include "http/auth.hpp"
#include "http/errors.hpp"
#include "http/json_admin.hpp"
#include "net/json.hpp"
#include "http/routes.hpp"
#include "store/password.hpp"
#include "web/assets.hpp"

#include <httplib.h>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <filesystem>
#include <cstring>
#include <thread>
#include <memory>

namespace tf::http {

namespace {

constexpr const char* json_type = "application/json";

/// A request with a Content-Length above the limit gets 413 before its body is read, and a
/// chunked body (whose size httplib 0.11 would not bound) gets 411.
httplib::Server::HandlerResponse check_body_size(const httplib::Request& req,
                                                 httplib::Response& res, size_t limit) {
  using handled = httplib::Server::HandlerResponse;
  if (req.has_header("Transfer-Encoding")) {
    refuse_and_close(res, 411, "length_required", "send the body with a Content-Length header");
    return handled::Handled;
  }
  if (!req.has_header("Content-Length"))
    return handled::Unhandled;
  const auto& text = req.get_header_value("Content-Length");
  auto digits = !text.empty() && text.size() <= 19
                && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits) {
    refuse_and_close(res, 400, "invalid_argument", "Content-Length is not a number");
    return handled::Handled;
  }
  if (std::stoull(text) > limit) {
    refuse_and_close(res, 413, to_string(ec::payload_too_large),
                     "the body is larger than " + std::to_string(limit) + " bytes");
    return handled::Handled;
  }
  return handled::Unhandled;
}

} // namespace

void widen_listen_backlog(uint16_t port, int backlog) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator{"/proc/self/fd", ec}) {
    int fd = -1;
    try {
      fd = std::stoi(entry.path().filename().string());
    } catch (const std::exception&) {
      continue;
    }
    int listening = 0;
    socklen_t len = sizeof listening;
    if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening)
      continue;
    sockaddr_storage addr{};
    socklen_t alen = sizeof addr;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &alen) != 0)
      continue;
    uint16_t bound = 0;
    if (addr.ss_family == AF_INET)
      bound = ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
    else if (addr.ss_family == AF_INET6)
      bound = ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
    if (bound == port && ::listen(fd, backlog) != 0)
      spdlog::warn("event=listen-backlog-failed error={}", std::strerror(errno));
  }
}


server::server(server_context ctx, const config& cfg)
  : ctx_{std::move(ctx)}, http_{std::make_unique<httplib::Server>()} {
  auto threads = static_cast<size_t>(cfg.http_threads);
  http_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  auto limit = static_cast<size_t>(cfg.max_body_bytes);
  http_->set_payload_max_length(limit);
  // Short idle keep-alive: an idle connection holds a worker thread, and shutdown waits
  // for the workers.
  http_->set_keep_alive_timeout(1);
  // A stalled client can hold a worker (and so the shutdown) at most this long per read.
  http_->set_read_timeout(std::chrono::seconds{5});
  http_->set_write_timeout(std::chrono::seconds{10});
  // httplib writes a response's headers and body with separate sends. With Nagle on, the
  // body waits for the client's ACK of the headers, which a client delays by up to 40 ms:
  // every answer on a keep-alive connection took ~42 ms, even /healthz.
  http_->set_tcp_nodelay(true);
  prepare_access(ctx_, cfg);
  if (!ctx_.stale && ctx_.sys != nullptr) {
    ctx_.stale = ctx_.sys->spawn(stale_scanner, ctx_.docker, ctx_.store.readers,
                                 ctx_.request_timeout);
    owns_stale_ = true;
  }
  // Computed now, not on the first unknown-user login (which would then take longer).
  (void)store::dummy_password_hash();
  // Auth is decided here, before routing, for every path: a route is closed the moment it
  // exists, whoever installs it.
  http_->set_pre_routing_handler([this, limit](const httplib::Request& req,
                                               httplib::Response& res) {
    using handled = httplib::Server::HandlerResponse;
    if (check_body_size(req, res, limit) == handled::Handled)
      return handled::Handled;
    return guard_request(ctx_, req, res) == guard_result::answered ? handled::Handled
                                                                   : handled::Unhandled;
  });
  // Every error status leaves in the envelope, including httplib's own 400/404/413.
  http_->set_error_handler([](const httplib::Request&, httplib::Response& res) {
    // A response that already has content (a handler's envelope, or a refusal written by
    // a content provider) is left as it is.
    if (!res.body.empty() || res.has_header("Content-Type"))
      return;
    switch (res.status) {
      case 404: render_error(res, 404, "not_found", "no such route"); break;
      case 405: render_error(res, 405, "method_not_allowed", "method not allowed"); break;
      case 413:
        render_error(res, 413, to_string(ec::payload_too_large), "the body is too large");
        break;
      case 400: render_error(res, 400, "invalid_argument", "malformed request"); break;
      default: render_error(res, res.status, "error", "the request failed");
    }
  });
  // httplib adds Keep-Alive to every response it keeps open in its own view; a refusal
  // that closes the connection must not also announce keep-alive.
  http_->set_post_routing_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.get_header_value("Connection") == "close")
      res.headers.erase("Keep-Alive");
  });
  http_->set_exception_handler(
    [](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
      std::string what = "unknown exception";
      try {
        std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      spdlog::error("event=http-handler-exception path={} what={}", loggable_path(req.path),
                    what);
      render_error(res, 500, "internal", "internal error; see the daemon's log");
    });
  http_->set_logger([](const httplib::Request& req, const httplib::Response& res) {
    spdlog::debug("event=http-request method={} path={} status={}", req.method,
                  loggable_path(req.path), res.status);
  });
  install_routes();
}

server::~server() {
  if (owns_stale_)
    caf::anon_send_exit(ctx_.stale, caf::exit_reason::user_shutdown);
}

route_table& route_table::remember(const char* method, const std::string& pattern) {
  entries_.push_back({method, pattern});
  return *this;
}

route_table& route_table::Get(const std::string& pattern, handler h) {
  http_.Get(pattern, std::move(h));
  return remember("GET", pattern);
}

route_table& route_table::Post(const std::string& pattern, handler h) {
  http_.Post(pattern, std::move(h));
  return remember("POST", pattern);
}

route_table& route_table::Put(const std::string& pattern, handler h) {
  http_.Put(pattern, std::move(h));
  return remember("PUT", pattern);
}

route_table& route_table::Patch(const std::string& pattern, handler h) {
  http_.Patch(pattern, std::move(h));
  return remember("PATCH", pattern);
}

route_table& route_table::Delete(const std::string& pattern, handler h) {
  http_.Delete(pattern, std::move(h));
  return remember("DELETE", pattern);
}

route_table::handler bind_context(const server_context& ctx, context_handler handler) {
  return [&ctx, handler](const httplib::Request& req, httplib::Response& res) {
    handler(ctx, req, res);
  };
}

const std::vector<route_entry>& server::routes() const {
  return routes_;
}

void server::install_routes() {
  auto& ctx = ctx_;
  route_table routes{*http_, routes_};
  routes.Get("/healthz", [&ctx](const httplib::Request&, httplib::Response& res) {
    auto db = ask<atom::ok>(*ctx.sys, ctx.store.readers->next(), ctx.request_timeout,
                            atom::ping_v);
    if (!db)
      spdlog::warn("event=healthz-db-failed error={}", error_message(db.error()));
    // The daemon serves without Docker (degraded mode): only the database decides the
    // status code, and "docker" says whether the engine answered the last call.
    auto docker = ask<std::string>(*ctx.sys, ctx.reconciler, ctx.request_timeout, atom::status_v);
    auto docker_ok = docker && *docker == "ok";
    res.status = db ? 200 : 503;
    res.set_content(
      net::make_json([&](net::json_writer& w) { write_health(w, bool{db}, docker_ok); }),
      json_type);
  });
  routes.Get("/", [](const httplib::Request&, httplib::Response& res) {
    const auto* index = web::find_asset("index.html");
    res.set_content(std::string{index->content}, "text/html; charset=utf-8");
  });
  // The API's description, hand-written beside the routes and kept true by a test that
  // compares it with this route table (tests/auth_test.cpp). Public, like the spec says.
  routes.Get("/api/openapi.json", [](const httplib::Request&, httplib::Response& res) {
    const auto* doc = web::find_asset("openapi.json");
    res.set_content(std::string{doc->content}, json_type);
  });
  install_auth_routes(routes, ctx);
  install_project_routes(routes, ctx);
  install_deployment_routes(routes, ctx);
  install_container_routes(routes, ctx);
  install_workload_routes(routes, ctx);
  install_webhook_routes(routes, ctx);
  install_settings_routes(routes, ctx);
  install_app_routes(routes, ctx);
  install_proxy_routes(routes, ctx);
  install_stale_routes(routes, ctx);
  install_metrics_route(routes, ctx);
  install_notification_routes(routes, ctx);
  // Unknown /api routes and other methods fall through to the 404 envelope.
}

caf::expected<uint16_t> server::bind(const std::string& host, uint16_t port) {
  int bound = port == 0 ? http_->bind_to_any_port(host)
                        : (http_->bind_to_port(host, port) ? port : -1);
  if (bound <= 0)
    return make_error(ec::unavailable, "cannot listen on " + host + ":" + std::to_string(port)
                                         + ": " + std::strerror(errno));
  widen_listen_backlog(static_cast<uint16_t>(bound), 1024); // the kernel caps it at somaxconn
  return static_cast<uint16_t>(bound);
}

void server::run() {
  run_called_ = true;
  if (stop_requested_)
    return;
  http_->listen_after_bind();
  run_returned_ = true;
}

void server::stop() {
  stop_requested_ = true;
  // httplib ignores stop() until its listen loop has begun, so a stop that races with a
  // starting run() would be lost and run() would never return. Both flags are seq_cst:
  // either run() sees stop_requested_ and does not listen, or we see run_called_ and wait
  // for the loop to start (a matter of microseconds) before stopping it.
  if (run_called_)
    while (!http_->is_running() && !run_returned_)
      std::this_thread::yield();
  http_->stop();
}

} // namespace tf::http
