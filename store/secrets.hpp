// Secrets at rest: the webhook, signing and notification secrets of every workload and the
// users' TOTP seeds are kept sealed with AES-256-GCM under a key file in the data dir, so a copied database alone does
// not reveal them. The key file (tinyforge.key, 32 random bytes, mode 0600) is made once,
// beside the database; a key file readable by others, of the wrong size, or that does not
// open this database's check value is refused, and so is a database whose key file is gone.
//
// Stored form: "" (no secret) or "v1:" + base64(nonce[12] | ciphertext | tag[16]), a fresh
// random nonce per value. A webhook is routed by HMAC-SHA256(key, secret) in an indexed
// column (workloads.webhook_secret_lookup), since the sealed value differs every time.
#pragma once

#include "store/database.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <array>
#include <memory>
#include <string>
#include <string_view>

namespace tf::store {

/// The key and what is done with it. Only the store holds one.
class secret_box {
public:
  static constexpr size_t key_size = 32;

  /// Reads an existing key file: refused when it is not a regular file, is readable or
  /// writable by group or others, or is not exactly 32 bytes.
  static caf::expected<secret_box> load(const std::string& key_path);
  /// Makes a new key file (O_EXCL, mode 0600) from RAND_bytes; fails if one exists.
  static caf::expected<secret_box> create(const std::string& key_path);

  secret_box(const secret_box&) = delete;
  secret_box& operator=(const secret_box&) = delete;
  secret_box(secret_box&& other) noexcept;
  secret_box& operator=(secret_box&&) = delete;
  ~secret_box();

  /// "v1:…" for a non-empty value; "" stays "" (a workload without that secret).
  caf::expected<std::string> seal(std::string_view plain) const;
  /// The plain value of a sealed one. ec::database when the tag does not verify (the row was
  /// altered, or the key is not this database's) or the form is not ours.
  caf::expected<std::string> open(std::string_view stored) const;
  /// HMAC-SHA256(key, secret) in hex: the webhook lookup column, "" for "".
  std::string lookup_hash(std::string_view secret) const;

  /// True for the stored form of a sealed value ("v1:" prefix).
  static bool is_sealed(std::string_view stored);

private:
  secret_box() = default;
  std::array<unsigned char, key_size> key_{};
};

/// The key file beside a database file: <dir of db_path>/tinyforge.key.
std::string key_path_for(const std::string& db_path);

/// Opens the store's secrets on the writer's connection, after migrate(): loads the key file
/// (or makes it, for a database that never had one), checks that it opens the database's
/// check value, seals in one transaction every secret still in plain form (rows from before
/// migration 8; idempotent), and hands the key to `db`. A database that has a check value
/// but no key file is refused: its secrets cannot be read without the key it was sealed with.
caf::expected<std::shared_ptr<const secret_box>> unlock_secrets(database& db,
                                                                const std::string& key_path);

/// The stored form of a secret, sealed with the connection's key. ec::unavailable when the
/// connection has no key (opened without unlock_secrets).
caf::expected<std::string> seal_secret(const database& db, std::string_view plain);
/// Turns a stored secret into its plain value in place.
caf::error reveal_secret(const database& db, std::string& field);
/// A workload's three fresh secrets, sealed, and the webhook secret's lookup value.
struct sealed_secrets {
  std::string notification;
  std::string webhook;
  std::string webhook_lookup;
  std::string signing;
};
caf::expected<sealed_secrets> new_sealed_secrets(const database& db);

/// The lookup column's value for a webhook secret.
caf::expected<std::string> webhook_lookup(const database& db, std::string_view secret);

} // namespace tf::store
