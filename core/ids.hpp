// Opaque row ids and secrets from the operating system's CSPRNG (OpenSSL RAND_bytes).
#pragma once

#include <string>

namespace tf {

/// A new row id: 96 random bits as 24 hex characters.
std::string new_id();

/// A new secret: 256 random bits as 64 hex characters.
std::string new_secret();

} // namespace tf
