// TOTP (RFC 6238: HMAC-SHA1, 30-second steps, 6 digits), the optional second factor of a
// login. Secrets are 160 random bits, shown to the user once as base32.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tf::store {

/// A new secret as base32 (32 characters, no padding).
std::string new_totp_secret();

/// The 6-digit code of `secret_base32` for the 30-second step `step` ("" for a bad secret).
std::string totp_code(std::string_view secret_base32, int64_t step);

/// True when `code` is the code of the current step or of one step either side (clock
/// skew); compared in constant time.
bool verify_totp(std::string_view secret_base32, std::string_view code, int64_t unix_seconds);

} // namespace tf::store
