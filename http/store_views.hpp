// The store as a handler sees it: each handler asks through the narrow interface of the
// domain it reads or writes (actors/actors.hpp), so the compiler refuses a message outside
// it. The server context keeps the whole handles only to hand out these views.
#pragma once

#include "actors/actors.hpp"
#include "http/server.hpp"

namespace tf::http {

inline catalog_reader_actor catalog_reader(const server_context& ctx) {
  return ctx.store.readers->next();
}
inline catalog_writer_actor catalog_writer(const server_context& ctx) {
  return ctx.store.writer;
}
inline journal_reader_actor journal_reader(const server_context& ctx) {
  return ctx.store.readers->next();
}
inline container_index_reader_actor container_index_reader(const server_context& ctx) {
  return ctx.store.readers->next();
}
inline auth_reader_actor auth_reader(const server_context& ctx) {
  return ctx.store.readers->next();
}
inline auth_writer_actor auth_writer(const server_context& ctx) {
  return ctx.store.writer;
}
inline delivery_log_reader_actor delivery_log_reader(const server_context& ctx) {
  return ctx.store.readers->next();
}
inline notification_log_reader_actor notification_log_reader(const server_context& ctx) {
  return ctx.store.readers->next();
}
inline settings_reader_actor settings_reader(const server_context& ctx) {
  return ctx.store.readers->next();
}
inline settings_writer_actor settings_writer(const server_context& ctx) {
  return ctx.store.writer;
}
inline store_overview_reader_actor store_overview_reader(const server_context& ctx) {
  return ctx.store.readers->next();
}

} // namespace tf::http
