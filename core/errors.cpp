#include "core/errors.hpp"

#include <caf/atom.hpp>

namespace tf {

const char* to_string(ec code) {
  switch (code) {
    case ec::none: return "none";
    case ec::invalid_argument: return "invalid_argument";
    case ec::not_found: return "not_found";
    case ec::conflict: return "conflict";
    case ec::payload_too_large: return "payload_too_large";
    case ec::database: return "database";
    case ec::unavailable: return "unavailable";
    case ec::timeout: return "timeout";
    case ec::bad_config: return "bad_config";
    case ec::internal: return "internal";
  }
  return "internal";
}

caf::error make_error(ec code, std::string message) {
  return caf::make_error(code, std::move(message));
}

ec error_code(const caf::error& err) {
  if (!err)
    return ec::none;
  if (err.category() == caf::atom("tinyforge"))
    return static_cast<ec>(err.code());
  if (err.category() == caf::atom("system")) {
    switch (static_cast<caf::sec>(err.code())) {
      case caf::sec::request_timeout: return ec::timeout;
      case caf::sec::request_receiver_down: return ec::unavailable;
      default: return ec::internal;
    }
  }
  return ec::internal;
}

std::string error_message(const caf::error& err) {
  if (!err)
    return {};
  const auto& ctx = err.context();
  if (ctx.size() == 1 && ctx.match_element<std::string>(0))
    return ctx.get_as<std::string>(0);
  switch (error_code(err)) {
    case ec::timeout: return "the daemon did not answer in time";
    case ec::unavailable: return "a component of the daemon is not running";
    default: return caf::to_string(err);
  }
}

} // namespace tf
