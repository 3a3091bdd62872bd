// Signature headers: verify_signature over attacker-chosen headers and body, with a fixed
// secret (the seeds carry valid signatures, so the valid paths run too). A verdict that stays
// valid when the body changes would be a forged MAC.
#include "actors/webhook_signatures.hpp"
#include "fuzz_input.hpp"

#include <cstdlib>

namespace {
constexpr std::string_view secret = "fuzz-signing-secret";
constexpr int64_t now = 1795741775;
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto in = tf::fuzz::split_headers(tf::fuzz::as_text(data, size));
  auto v = tf::verify_signature(in.headers, in.body, secret, now);
  if (v.valid && v.scheme == tf::signature_scheme::none)
    std::abort();
  if (!v.valid && v.reason.find(secret) != std::string::npos)
    std::abort(); // a refusal must never echo the secret
  if (v.valid && v.scheme != tf::signature_scheme::gitlab) {
    std::string changed{in.body};
    changed += ' ';
    if (tf::verify_signature(in.headers, changed, secret, now).valid)
      std::abort(); // the MAC does not cover the body
  }
  // An empty secret proves nothing, whatever was sent.
  if (tf::verify_signature(in.headers, in.body, "", now).valid)
    std::abort();
  return 0;
}
