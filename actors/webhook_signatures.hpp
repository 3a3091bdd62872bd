// Webhook signature checks (spec section 5): pure functions over the headers, the body and
// the workload's signing secret. Every comparison of a secret or a MAC is constant-time.
#pragma once

#include "actors/webhook_messages.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace tf {

/// Which of the accepted formats signed a delivery.
enum class signature_scheme { none, tinyforge, github, gitea, gitlab };

const char* to_string(signature_scheme s);

/// How far X-Tinyforge-Timestamp may be from now, either way.
inline constexpr int64_t signature_window_s = 300;

struct signature_verdict {
  signature_scheme scheme = signature_scheme::none;
  bool valid = false;   // false for none as well: nothing was proven
  std::string reason;   // why an invalid signature is invalid (never contains a secret)
  /// A valid Tinyforge signature's MAC, lowercase hex: with the timestamp it names the
  /// delivery however its delivery id is changed, so a captured one is deployed once within
  /// the window. The GitHub, Gitea and GitLab forms sign no timestamp: they have no window
  /// and are deduplicated by their delivery id only.
  std::string mac;
};

/// Checks the first signature header present, in this order:
///   X-Tinyforge-Signature: sha256=hex(HMAC-SHA256(secret, timestamp + "." + body)) with
///     X-Tinyforge-Timestamp (unix seconds, at most signature_window_s off `now_unix_s`);
///   X-Hub-Signature-256: sha256=hex(HMAC-SHA256(secret, body))   (GitHub, also Gitea);
///   X-Gitea-Signature: hex(HMAC-SHA256(secret, body));
///   X-Gitlab-Token: secret.
/// No header: scheme none. `headers` has lowercased names.
signature_verdict verify_signature(const webhook_headers& headers, std::string_view body,
                                   std::string_view signing_secret, int64_t now_unix_s);

/// Lowercase hex of HMAC-SHA256(key, data).
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

/// Equal length and bytes, in time that depends on the length only.
bool equal_constant_time(std::string_view a, std::string_view b);

/// The first 8 hex digits of SHA-256(secret): what logs show instead of a secret.
std::string secret_fingerprint(std::string_view secret);

} // namespace tf
