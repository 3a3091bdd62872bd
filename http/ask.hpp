// How an HTTP handler talks to an actor: one request, answered or timed out.
//
// A gate worker thread asks through one scoped actor for its whole life (worker_asker,
// set up by the server for each worker). Made and destroyed per request, a scoped actor
// cost two round trips through CAF's clock thread (its request timeout, then its cleanup),
// a global lock and a wake-up each: under a webhook burst that clock was the busiest lock
// in the daemon. The timeout is the blocking receive's own deadline instead, which needs no
// clock. Any other thread gets a scoped actor for the one call. A scoped actor is never
// shared between threads (CAF 0.17 note §4).
#pragma once

#include "core/errors.hpp"

#include <caf/actor_system.hpp>
#include <caf/after.hpp>
#include <caf/expected.hpp>
#include <caf/scoped_actor.hpp>

#include <chrono>
#include <optional>

namespace tf::http {

/// While it lives, ask() on the thread that made it goes through its one scoped actor.
/// Made and destroyed on the same thread; the actor system outlives it.
class worker_asker {
public:
  explicit worker_asker(caf::actor_system& sys);
  ~worker_asker();
  worker_asker(const worker_asker&) = delete;
  worker_asker& operator=(const worker_asker&) = delete;

  /// This thread's scoped actor for `sys`, or nullptr when this thread has none.
  static caf::scoped_actor* current(caf::actor_system& sys);

  /// After a timeout the late answer would stay in the mailbox: start with a fresh actor.
  static void renew_current();

private:
  caf::actor_system& sys_;
  std::optional<caf::scoped_actor> self_;
  worker_asker* outer_;
};

namespace detail {

template <class R, class Handle, class... Ts>
caf::expected<R> ask_through(caf::scoped_actor& self, const Handle& handle,
                             std::chrono::milliseconds timeout, Ts&&... xs) {
  caf::expected<R> result{make_error(ec::internal, "no answer")};
  auto answer = self->request(handle, caf::infinite, std::forward<Ts>(xs)...);
  caf::blocking_actor::accept_one_cond one;
  self->varargs_receive(
    one, answer.id(), [&](R& value) { result = std::move(value); },
    [&](caf::error& err) { result = std::move(err); },
    caf::after(timeout) >> [&] { result = caf::make_error(caf::sec::request_timeout); });
  return result;
}

} // namespace detail

template <class R, class Handle, class... Ts>
caf::expected<R> ask(caf::actor_system& sys, const Handle& handle,
                     std::chrono::milliseconds timeout, Ts&&... xs) {
  if (!handle)
    return make_error(ec::unavailable, "a component of the daemon is not running");
  if (auto* self = worker_asker::current(sys)) {
    auto result = detail::ask_through<R>(*self, handle, timeout, std::forward<Ts>(xs)...);
    // (An actor that answers a timeout error of its own costs a needless renewal, no more.)
    if (!result && result.error() == caf::sec::request_timeout)
      worker_asker::renew_current();
    return result;
  }
  caf::scoped_actor self{sys};
  return detail::ask_through<R>(self, handle, timeout, std::forward<Ts>(xs)...);
}

} // namespace tf::http
