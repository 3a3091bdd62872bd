#include "http/server.hpp"

#include "http/ask.hpp"
#include "http/auth.hpp"
#include "http/buffered_stream.hpp"
#include "http/errors.hpp"
#include "http/event_streams.hpp"
#include "http/json_admin.hpp"
#include "http/request_gate.hpp"
#include "http/request_head.hpp"
#include "net/json.hpp"
#include "http/routes.hpp"
#include "http/store_views.hpp"
#include "store/password.hpp"
#include "web/assets.hpp"

#include <httplib.h>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <filesystem>
#include <cstring>
#include <thread>
#include <memory>
#include <optional>

namespace tf::http {

namespace {

constexpr const char* json_type = "application/json";

/// Set by the post-routing handler when the answer closes the connection (a refusal made
/// before the body was read): the worker then does not give the connection back.
thread_local bool answer_closes = false;

/// A precheck (see gated_request::precheck) runs on this thread: the pre-routing handler
/// answers only a refusal, and otherwise marks the answer silent, so nothing is written.
thread_local bool prechecking = false;
thread_local bool precheck_silent = false;

/// Set by GET /api/events once the request passed its checks and a stream's place is held:
/// the client's Last-Event-ID. httplib's own answer is then dropped (precheck_silent) and
/// the connection goes to the event streams, which write the answer themselves.
thread_local std::optional<std::string> stream_requested;

/// httplib::Server whose request processing runs on a stream the gate provides (the
/// method is protected; its own accept loop and thread pool are not used).
class gated_httplib : public httplib::Server {
public:
  /// httplib's content providers (refuse_and_close's envelope, streamed answers) stop
  /// writing unless is_running(), which is true only inside its listen loop. The loop runs
  /// on a thread of its own over the read end of a pipe nobody writes to: it never accepts
  /// anything, it only keeps is_running() true while the gate serves.
  void start_idle_loop() {
    if (::pipe2(pipe_, O_CLOEXEC) != 0)
      return;
    svr_sock_ = pipe_[0];
    set_idle_interval(std::chrono::seconds{1}); // poll the pipe instead of accept() on it
    new_task_queue = [] { return new httplib::ThreadPool(1); };
    loop_done_ = false;
    loop_ = std::thread{[this] {
      listen_after_bind();
      loop_done_ = true;
    }};
    while (!is_running() && !loop_done_)
      std::this_thread::yield();
  }

  void stop_idle_loop() {
    if (!loop_.joinable())
      return;
    // Closing the pipe would not wake the loop's poll (it would wait out its 1 s interval):
    // a byte makes it readable, accept() on it fails, and the loop ends and closes pipe_[0].
    (void)!::write(pipe_[1], "x", 1);
    loop_.join();
    ::close(pipe_[1]);
  }

  /// Where GET /api/events hands its connections (null: no streams).
  event_streams* streams = nullptr;

  /// Answers one request; false when the connection must close.
  bool answer(const gated_request& r) {
    buffered_stream strm{r, &precheck_silent};
    answer_closes = false;
    prechecking = r.precheck;
    precheck_silent = false;
    stream_requested.reset();
    bool closed = false;
    bool ok = process_request(strm, false, closed, nullptr);
    strm.flush(); // an answer without a body: its head is still held
    prechecking = false;
    if (stream_requested) {
      auto last_event_id = std::move(*stream_requested);
      stream_requested.reset();
      precheck_silent = false;
      if (r.take_over == nullptr || r.precheck || streams == nullptr) {
        if (streams != nullptr)
          streams->release();
        return false;
      }
      *r.take_over = [to = streams, id = std::move(last_event_id)](int fd) mutable {
        to->adopt(fd, std::move(id));
      };
      return false;
    }
    if (r.precheck) {
      // Silent: nothing was written and the request goes on (whatever its Connection
      // header says, which applies to the answer still to come).
      bool passed = precheck_silent;
      precheck_silent = false;
      return passed;
    }
    return ok && !closed && !answer_closes && !r.close_after && !strm.failed();
  }

private:
  int pipe_[2] = {-1, -1};
  std::thread loop_;
  std::atomic<bool> loop_done_{false};
};

gate_limits limits_from(const config& cfg) {
  gate_limits l;
  l.head_timeout = std::chrono::milliseconds{cfg.http_head_timeout_ms};
  l.body_timeout = std::chrono::milliseconds{cfg.http_body_timeout_ms};
  l.idle_timeout = std::chrono::milliseconds{cfg.http_idle_timeout_ms};
  l.write_timeout = std::chrono::seconds{10};
  l.max_connections = static_cast<size_t>(cfg.http_max_connections);
  l.max_connections_per_client = static_cast<size_t>(cfg.http_max_connections_per_client);
  l.max_header_count = static_cast<size_t>(cfg.http_max_header_count);
  l.max_head_bytes = static_cast<size_t>(cfg.http_max_header_bytes);
  l.max_body_bytes = static_cast<uint64_t>(cfg.max_body_bytes);
  l.max_upload_bytes = static_cast<uint64_t>(cfg.sites_upload_limit_bytes);
  l.workers = static_cast<size_t>(cfg.http_threads);
  return l;
}

/// A request with a Content-Length above the limit gets 413 before its body is read, and a
/// chunked body (whose size httplib 0.11 would not bound) gets 411.
httplib::Server::HandlerResponse check_body_size(const httplib::Request& req,
                                                 httplib::Response& res,
                                                 const head_limits& limits) {
  auto limit = body_limit_of(limits, req.method, req.target, req.get_header_value("Content-Type"));
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
  : ctx_{std::move(ctx)}, http_{std::make_unique<gated_httplib>()} {
  ctx_.notify_targets = notify_target_policy(cfg);
  head_limits limit{0, static_cast<uint64_t>(cfg.max_body_bytes),
                    static_cast<uint64_t>(cfg.sites_upload_limit_bytes)};
  http_->set_payload_max_length(
    static_cast<size_t>(std::max(limit.max_body_bytes, limit.max_upload_bytes)));
  // The gate closes an idle connection; the Keep-Alive header says when. (TCP_NODELAY is
  // set by the gate on every connection: httplib writes headers and body with separate
  // sends, and with Nagle the body waited up to 40 ms for the client's delayed ACK.)
  http_->set_keep_alive_timeout(std::max<int64_t>(1, cfg.http_idle_timeout_ms / 1000));
  // Workers never wait for a client: the gate hands them complete requests only.
  auto* gated = static_cast<gated_httplib*>(http_.get());
  // Each worker asks the actors through one scoped actor of its own (http/ask.hpp).
  auto* sys = ctx_.sys;
  gate_ = std::make_unique<request_gate>(
    limits_from(cfg), [gated](const gated_request& r) { return gated->answer(r); },
    [sys]() -> std::shared_ptr<void> {
      if (sys == nullptr)
        return nullptr;
      return std::make_shared<worker_asker>(*sys);
    });
  prepare_access(ctx_, cfg);
  if (!ctx_.stale && ctx_.sys != nullptr) {
    ctx_.stale = ctx_.sys->spawn(stale_scanner, ctx_.docker,
                                 narrowed<store_overview_reader_actor>(ctx_.store.readers),
                                 ctx_.store.instance_id, ctx_.request_timeout);
    owns_stale_ = true;
  }
  // Made now (random bytes, no scrypt): the first unknown-user login costs one scrypt like
  // every later one, and the port is not held back by it.
  (void)store::dummy_password_hash();
  // Auth is decided here, before routing, for every path: a route is closed the moment it
  // exists, whoever installs it.
  http_->set_pre_routing_handler([this, limit](const httplib::Request& req,
                                               httplib::Response& res) {
    using handled = httplib::Server::HandlerResponse;
    if (check_body_size(req, res, limit) == handled::Handled)
      return handled::Handled;
    if (guard_request(ctx_, req, res) == guard_result::answered)
      return handled::Handled;
    if (prechecking) {
      // Nothing refuses this head: say nothing; the gate reads the body and sends the whole
      // request again.
      precheck_silent = true;
      return handled::Handled;
    }
    return handled::Unhandled;
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
    if (res.get_header_value("Connection") == "close") {
      res.headers.erase("Keep-Alive");
      answer_closes = true;
    }
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
    // The path's secret is hashed for the line: not for a line the level drops.
    if (precheck_silent || !spdlog::should_log(spdlog::level::debug))
      return;
    spdlog::debug("event=http-request method={} path={} status={}", req.method,
                  loggable_path(req.path), res.status);
  });
  install_routes();
}

server::~server() {
  if (streams_)
    streams_->stop();
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
    auto db = ask<atom::ok>(*ctx.sys, read_through<store_overview_reader_actor>(ctx), ctx.request_timeout,
                            atom::ping_v);
    if (!db)
      spdlog::warn("event=healthz-db-failed error={}", error_message(db.error()));
    // The daemon serves without Docker (degraded mode): only the database decides the
    // status code, and "docker" says whether the engine answered the last call.
    auto docker = ask<std::string>(*ctx.sys, ctx.reconciler, ctx.request_timeout, atom::status_v);
    auto docker_ok = docker && *docker == "ok";
    // Which compose stacks run with ("v1 1.29.2", "none", "unknown" before the first look).
    auto compose = ask<std::string>(*ctx.sys, ctx.stacks, ctx.request_timeout, atom::status_v);
    res.status = db ? 200 : 503;
    res.set_content(net::make_json([&](net::json_writer& w) {
                      write_health(w, bool{db}, docker_ok, compose ? *compose : "unknown");
                    }),
                    json_type);
  });
  // The API's description, hand-written beside the routes and kept true by a test that
  // compares it with this route table (tests/auth_test.cpp). Public, like the spec says.
  routes.Get("/api/openapi.json", [](const httplib::Request&, httplib::Response& res) {
    const auto* doc = web::find_asset("openapi.json");
    res.set_content(std::string{doc->content}, json_type);
  });
  install_auth_routes(routes, ctx);
  install_project_routes(routes, ctx);
  install_stack_routes(routes, ctx);
  install_site_routes(routes, ctx);
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
  install_event_stream_route(routes);
  install_ui_routes(routes);
  // Unknown /api routes and other methods fall through to the 404 envelope.
}

caf::expected<uint16_t> server::bind(const std::string& host, uint16_t port) {
  return gate_->bind(host, port);
}

void server::install_event_stream_route(route_table& routes) {
  streams_ = std::make_unique<event_streams>(ctx_.store.feed);
  static_cast<gated_httplib*>(http_.get())->streams = streams_.get();
  routes.Get("/api/events", [this](const httplib::Request& req, httplib::Response& res) {
    if (!ctx_.store.feed) {
      render_error(res, 503, "unavailable", "live events are not running");
      return;
    }
    if (!streams_->reserve()) {
      res.set_header("Retry-After", "5");
      render_error(res, 503, "unavailable", "too many event streams are open");
      return;
    }
    // The guard has passed the request: from here its answer is the stream's.
    stream_requested = req.get_header_value("Last-Event-ID");
    precheck_silent = true;
  });
}

void server::run() {
  auto* gated = static_cast<gated_httplib*>(http_.get());
  gated->start_idle_loop();
  gate_->run();
  gated->stop_idle_loop();
}

void server::stop() {
  gate_->stop();
  if (streams_)
    streams_->stop();
}

} // namespace tf::http
