// How an HTTP handler talks to an actor: one request with a timeout, from a scoped actor
// made for this call (a scoped actor must never be shared between threads; CAF 0.17 note §4).
#pragma once

#include "core/errors.hpp"

#include <caf/actor_system.hpp>
#include <caf/expected.hpp>
#include <caf/scoped_actor.hpp>

#include <chrono>

namespace tf::http {

template <class R, class Handle, class... Ts>
caf::expected<R> ask(caf::actor_system& sys, const Handle& handle,
                     std::chrono::milliseconds timeout, Ts&&... xs) {
  if (!handle)
    return make_error(ec::unavailable, "a component of the daemon is not running");
  caf::scoped_actor self{sys};
  caf::expected<R> result{make_error(ec::internal, "no answer")};
  self->request(handle, timeout, std::forward<Ts>(xs)...)
    .receive([&](R& value) { result = std::move(value); },
             [&](caf::error& err) { result = std::move(err); });
  return result;
}

} // namespace tf::http
