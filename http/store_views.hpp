// The store as a handler sees it: each handler asks through the narrow interface of the
// domain it reads or writes (actors/actors.hpp), so the compiler refuses a message outside
// it. The server context keeps the whole handles only to hand out these views.
#pragma once

#include "actors/actors.hpp"
#include "http/server.hpp"

namespace tf::http {

/// The store's next reader through `Narrow` (catalog_reader_actor, auth_reader_actor ...).
template <class Narrow>
Narrow read_through(const server_context& ctx) {
  return ctx.store.readers->next();
}

/// The one store writer through `Narrow` (catalog_writer_actor, auth_writer_actor ...).
template <class Narrow>
Narrow write_through(const server_context& ctx) {
  return ctx.store.writer;
}

} // namespace tf::http
