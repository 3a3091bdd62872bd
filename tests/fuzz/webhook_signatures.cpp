// Signature headers: verify_signature over attacker-chosen headers and body. The secret is
// fixed, so a valid verdict means the fuzzer forged a MAC: that is a finding, not luck.
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
  // An empty secret proves nothing, whatever was sent.
  if (tf::verify_signature(in.headers, in.body, "", now).valid)
    std::abort();
  return 0;
}
