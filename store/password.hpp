// Password hashing with scrypt (OpenSSL's EVP_PBE_scrypt), a memory-hard KDF. The stored
// form describes itself, `scrypt$N$r$p$salt_hex$hash_hex`, so the cost can be raised
// later without breaking the hashes already stored.
#pragma once

#include <caf/expected.hpp>

#include <string>
#include <string_view>

namespace tf::store {

/// Passwords longer than this are refused before they reach the KDF.
inline constexpr size_t max_password_bytes = 1024;

/// A new password needs at least this many bytes.
inline constexpr size_t min_password_bytes = 8;

/// Refuses a new password that is too short or too long.
caf::error check_new_password(std::string_view password);

/// Hashes with a fresh random salt. Fails only when OpenSSL does (e.g. out of memory).
caf::expected<std::string> hash_password(std::string_view password);

/// True when `password` matches `stored`; false for a malformed `stored` too. The hashes
/// are compared in constant time (CRYPTO_memcmp).
bool verify_password(std::string_view password, std::string_view stored);

/// A well-formed hash at hash_password()'s cost that no password matches (random bytes, no
/// scrypt run to make it): verified against for an unknown user, so a login takes the same
/// one scrypt whether or not the user exists, and building it costs the start-up nothing.
const std::string& dummy_password_hash();

/// SHA-256 as 64 hex characters: how session and API tokens are stored.
std::string sha256_hex(std::string_view data);

} // namespace tf::store
