// The switch step: the new colour opened in the proxy and recorded as serving, then checked
// through the proxy's own listener (a deploy succeeds on what the proxy is seen to do).
#include "actors/deploy_job/run.hpp"

#include "actors/fault_point.hpp"
#include "net/http_call.hpp"

#include <set>
#include <thread>

namespace tf {

namespace {

using namespace std::chrono_literals;

/// How long the proxy may take to send traffic to a colour it can reach again.
constexpr auto proxy_verify_deadline = std::chrono::seconds{15};

/// The URL of the proxy's listener for a check through it: "127.0.0.1:8080", ":80", "80".
std::string proxy_base_url(const std::string& listen) {
  if (listen.empty())
    return {};
  if (listen.find_first_not_of("0123456789") == std::string::npos)
    return "http://127.0.0.1:" + listen;
  if (listen.front() == ':')
    return "http://127.0.0.1" + listen;
  return "http://" + listen;
}

/// The slot that answered through the proxy, as the route's header names it ("" if none).
std::string answering_upstream(const net::http_response& res) {
  auto up = res.headers.find("x-tinyforge-upstream");
  auto upstream = up == res.headers.end() ? std::string{} : up->second;
  // nginx lists every upstream it tried: "127.0.0.1:a, 127.0.0.1:b".
  auto comma = upstream.rfind(", ");
  if (comma != std::string::npos)
    upstream = upstream.substr(comma + 2);
  return upstream;
}

} // namespace

/// Puts the target colour into rotation and checks, through the proxy, that it answers.
caf::error deploy_run::switch_to(const std::vector<int64_t>& target) {
  if (auto err = phase("switch"))
    return err;
  if (auto err = ask_ok(handles_.proxy, atom::open_v, target))
    return err;
  log("opened slots " + ports_text(target) + " to the proxy");
  route_.serving = target;
  auto saved = ask<proxy_route>(handles_.writer, atom::update_v, route_);
  if (!saved)
    return saved.error();
  auto moved = ask<proxy_route>(handles_.proxy, atom::update_v, route_);
  if (!moved)
    return moved.error();
  if (moved->npm_proxy_id != route_.npm_proxy_id) {
    route_ = *moved;
    ask<proxy_route>(handles_.writer, atom::update_v, route_);
  }
  log("the route of " + route_.host + " names slots " + ports_text(target) + " as serving");
  fault_point("switched");
  return verify_through_proxy(target);
}

/// A deploy succeeds on observed state: requests through the proxy must be answered by
/// each container of the new colour (the routes name the answering slot in a header).
caf::error deploy_run::verify_through_proxy(const std::vector<int64_t>& target) {
  auto base = proxy_base_url(settings_.proxy_listen);
  if (base.empty() || (provider_ != "caddy" && provider_ != "nginx")) {
    log("switched to slots " + ports_text(target) + " (provider " + provider_
        + ": no check through the proxy)");
    return {};
  }
  std::set<std::string> wanted;
  for (auto p : target)
    wanted.insert("127.0.0.1:" + std::to_string(p));
  using clock_type = std::chrono::steady_clock;
  auto deadline = clock_type::now() + proxy_verify_deadline;
  std::string last;
  while (clock_type::now() < deadline && !cancelled()) {
    net::http_request req;
    req.url = base + route_.health_path;
    req.headers["Host"] = route_.host;
    req.timeout = 3s;
    req.max_response_bytes = 64 * 1024;
    auto res = net::http_call(req);
    if (res) {
      auto upstream = answering_upstream(*res);
      if (res->status >= 200 && res->status < 400 && wanted.erase(upstream) > 0) {
        log("the proxy (" + provider_ + ") serves " + route_.host + " from " + upstream);
        if (wanted.empty())
          return {};
        continue; // every new container must be reached, not only one
      }
      last = std::to_string(res->status) + " from " + (upstream.empty() ? "?" : upstream);
    } else {
      last = error_message(res.error());
    }
    // A loopback request through the proxy costs well under a millisecond; a 50 ms pause
    // added ~25 ms on average to every deploy's end (at most 1,500 checks in the deadline).
    std::this_thread::sleep_for(10ms);
  }
  std::string missing;
  for (const auto& w : wanted)
    missing += (missing.empty() ? "" : ", ") + w;
  return make_error(ec::unavailable, "the proxy did not send traffic to every new container ("
                                       + provider_ + ", never answered from " + missing
                                       + "; last answer: " + last + ")");
}

} // namespace tf
