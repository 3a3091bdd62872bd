// Opaque row ids and secrets from the operating system's CSPRNG (OpenSSL RAND_bytes).
#pragma once

#include <cstddef>
#include <string>

namespace tf {

/// `n` bytes as lowercase hex digits, two a byte (ids, digests, salts all print this way).
std::string hex_of(const unsigned char* bytes, size_t n);

/// A new row id: 96 random bits as 24 hex characters.
std::string new_id();

/// A new id of a log row (webhook deliveries, deployments, notification attempts), as
/// long as new_id(): the milliseconds since 1970 in 12 hex digits, then 48 random bits. A
/// random primary key puts each insert, and each prune of the oldest rows, on a random page
/// of its index, which the commit then writes whole to the WAL; a key that grows with time
/// keeps both on the index's two ends. Ids of one millisecond do not sort by arrival.
std::string new_log_id();

/// A new secret: 256 random bits as 64 hex characters.
std::string new_secret();

} // namespace tf
