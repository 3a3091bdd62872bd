// An actor that answers several narrow interfaces (the store writer, a store reader) builds
// its behavior from one part per interface: each part is checked against its own interface
// when it is made, so a missing or mistyped handler is reported there, in a short list,
// rather than as an index into the whole behavior.
#pragma once

#include <caf/deduce_mpi.hpp>
#include <caf/detail/typed_actor_util.hpp>
#include <caf/interface_mismatch.hpp>
#include <caf/typed_behavior.hpp>

#include <tuple>
#include <utility>

namespace tf {

/// The handlers of `Interface`, exactly: fails to compile (naming the missing, extra or
/// mismatched handler, as a typed behavior does) unless they answer its messages one to one.
template <class Interface, class... Fs>
std::tuple<Fs...> behavior_part(Fs... handlers) {
  using found = caf::detail::type_list<caf::deduce_mpi_t<Fs>...>;
  using mismatch = caf::interface_mismatch_t<found, typename Interface::signatures>;
  caf::detail::static_error_printer<static_cast<int>(sizeof...(Fs)), mismatch::value,
                                    typename mismatch::xs, typename mismatch::ys>
    check;
  static_cast<void>(check);
  return std::tuple<Fs...>{std::move(handlers)...};
}

/// The behavior of `Actor` from the parts of the narrow interfaces it is made of (CAF checks
/// again that together they answer every message of `Actor`).
template <class Actor, class... Parts>
typename Actor::behavior_type combine_parts(Parts... parts) {
  auto all = std::tuple_cat(std::move(parts)...);
  return std::apply(
    [](auto&... handlers) { return typename Actor::behavior_type{std::move(handlers)...}; },
    all);
}

} // namespace tf
