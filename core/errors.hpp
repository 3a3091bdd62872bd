// Project-wide error codes. Errors travel as caf::error values carrying one of these codes
// and a human-readable message; http/errors.cpp maps each code to one HTTP status.
#pragma once

#include <caf/error.hpp>
#include <caf/make_message.hpp>
#include <caf/sec.hpp>

#include <cstdint>
#include <string>

namespace tf {

enum class ec : uint8_t {
  /// Not an error.
  none = 0,
  /// Input failed validation: a bad name, a missing field, a wrong type (HTTP 400).
  invalid_argument,
  /// The named row or route does not exist (HTTP 404).
  not_found,
  /// A unique name is taken or the current state forbids the change (HTTP 409).
  conflict,
  /// The request body is larger than the configured limit (HTTP 413).
  payload_too_large,
  /// SQLite failed in a way the caller cannot fix (HTTP 500).
  database,
  /// A dependency (Docker, the proxy) does not answer (HTTP 503).
  unavailable,
  /// An actor did not answer within the request timeout (HTTP 503).
  timeout,
  /// A configuration value is invalid; the message names the key.
  bad_config,
  /// A bug: an invariant did not hold (HTTP 500).
  internal,
};

/// The name used in the error envelope's "code" field, e.g. "not_found".
const char* to_string(ec code);

/// Builds an error value with the code and a message for the user.
caf::error make_error(ec code, std::string message);

/// The message of an error made by make_error (or CAF's own description otherwise).
std::string error_message(const caf::error& err);

/// Maps any error (ours or CAF's, e.g. request_timeout) onto our codes.
ec error_code(const caf::error& err);

} // namespace tf

CAF_ERROR_CODE_ENUM(tf::ec, "tinyforge")
