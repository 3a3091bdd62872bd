// Turns the store's expected<T> / error results into handler results: a value goes back to
// the requester as the reply, an error as a caf::error.
#pragma once

#include "actors/atoms.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/result.hpp>
#include <caf/typed_response_promise.hpp>

namespace tf {

template <class T>
caf::result<T> reply(caf::expected<T>&& x) {
  if (x)
    return std::move(*x);
  return std::move(x.error());
}

inline caf::result<atom::ok> reply(caf::error&& err) {
  if (err)
    return std::move(err);
  return atom::ok_v;
}

/// A response handler that delivers a request's error to `rp`.
template <class T>
auto deliver_error(caf::typed_response_promise<T> rp) {
  return [rp](caf::error& err) mutable { rp.deliver(std::move(err)); };
}

} // namespace tf
