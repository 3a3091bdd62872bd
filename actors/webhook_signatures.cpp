#include "actors/webhook_signatures.hpp"

#include "core/ids.hpp"
#include "net/text.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cctype>

namespace tf {

namespace {

const std::string* header(const webhook_headers& h, const char* name) {
  auto i = h.find(name);
  return i == h.end() ? nullptr : &i->second;
}

/// "sha256=<hex>" → the hex, lowercased; "" when the prefix is missing.
std::string sha256_value(const std::string& v) {
  constexpr std::string_view prefix = "sha256=";
  if (v.size() <= prefix.size()
      || net::ascii_lowercase(v.substr(0, prefix.size())) != prefix)
    return {};
  return net::ascii_lowercase(v.substr(prefix.size()));
}

signature_verdict verdict(signature_scheme s, bool valid, std::string reason = {}) {
  return {s, valid, valid ? std::string{} : std::move(reason), {}};
}

} // namespace

const char* to_string(signature_scheme s) {
  switch (s) {
    case signature_scheme::none: return "none";
    case signature_scheme::tinyforge: return "tinyforge";
    case signature_scheme::github: return "github";
    case signature_scheme::gitea: return "gitea";
    case signature_scheme::gitlab: return "gitlab";
  }
  return "none";
}

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
  return hex_of(mac, len);
}

bool equal_constant_time(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string secret_fingerprint(std::string_view secret) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), digest);
  return hex_of(digest, 4);
}

signature_verdict verify_signature(const webhook_headers& headers, std::string_view body,
                                   std::string_view secret, int64_t now_unix_s) {
  using s = signature_scheme;
  if (const auto* sig = header(headers, "x-tinyforge-signature")) {
    const auto* ts = header(headers, "x-tinyforge-timestamp");
    if (!ts)
      return verdict(s::tinyforge, false, "X-Tinyforge-Signature needs X-Tinyforge-Timestamp");
    auto digits = !ts->empty() && ts->size() <= 12
                  && std::all_of(ts->begin(), ts->end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!digits)
      return verdict(s::tinyforge, false, "X-Tinyforge-Timestamp is not unix seconds");
    auto when = std::stoll(*ts);
    if (when < now_unix_s - signature_window_s || when > now_unix_s + signature_window_s)
      return verdict(s::tinyforge, false,
                     "X-Tinyforge-Timestamp is more than 5 minutes away from now");
    std::string signed_text = *ts;
    signed_text += '.';
    signed_text.append(body.data(), body.size());
    auto want = hmac_sha256_hex(secret, signed_text);
    auto v = verdict(s::tinyforge,
                     !secret.empty() && equal_constant_time(sha256_value(*sig), want),
                     "X-Tinyforge-Signature does not match");
    if (v.valid)
      v.mac = std::move(want);
    return v;
  }
  if (const auto* sig = header(headers, "x-hub-signature-256")) {
    auto want = hmac_sha256_hex(secret, body);
    return verdict(s::github, !secret.empty() && equal_constant_time(sha256_value(*sig), want),
                   "X-Hub-Signature-256 does not match");
  }
  if (const auto* sig = header(headers, "x-gitea-signature")) {
    auto want = hmac_sha256_hex(secret, body);
    return verdict(s::gitea,
                   !secret.empty() && equal_constant_time(net::ascii_lowercase(*sig), want),
                   "X-Gitea-Signature does not match");
  }
  if (const auto* token = header(headers, "x-gitlab-token"))
    return verdict(s::gitlab, !secret.empty() && equal_constant_time(*token, secret),
                   "X-Gitlab-Token does not match");
  return verdict(s::none, false, "the request is not signed");
}

} // namespace tf
