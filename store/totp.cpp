#include "store/totp.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace tf::store {

namespace {

constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

std::string base32(const unsigned char* data, size_t n) {
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (size_t i = 0; i < n; ++i) {
    buffer = (buffer << 8) | data[i];
    bits += 8;
    while (bits >= 5) {
      out.push_back(alphabet[(buffer >> (bits - 5)) & 31]);
      bits -= 5;
    }
  }
  if (bits > 0)
    out.push_back(alphabet[(buffer << (5 - bits)) & 31]);
  return out;
}

bool from_base32(std::string_view text, std::vector<unsigned char>& out) {
  out.clear();
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    int v = -1;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a';
    else if (c >= '2' && c <= '7')
      v = c - '2' + 26;
    else if (c == '=')
      break;
    if (v < 0)
      return false;
    buffer = (buffer << 5) | static_cast<uint32_t>(v);
    bits += 5;
    if (bits >= 8) {
      out.push_back(static_cast<unsigned char>((buffer >> (bits - 8)) & 0xff));
      bits -= 8;
    }
  }
  return out.size() >= 10 && out.size() <= 64;
}

} // namespace

std::string new_totp_secret() {
  std::array<unsigned char, 20> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1)
    std::abort();
  return base32(bytes.data(), bytes.size());
}

std::string totp_code(std::string_view secret_base32, int64_t step) {
  std::vector<unsigned char> key;
  if (step < 0 || !from_base32(secret_base32, key))
    return {};
  std::array<unsigned char, 8> counter{};
  for (int i = 7; i >= 0; --i) {
    counter[static_cast<size_t>(i)] = static_cast<unsigned char>(step & 0xff);
    step >>= 8;
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int len = 0;
  if (HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()), counter.data(), counter.size(),
           mac.data(), &len)
        == nullptr
      || len < 20)
    return {};
  auto offset = mac[len - 1] & 0x0f;
  uint32_t binary = (static_cast<uint32_t>(mac[offset] & 0x7f) << 24)
                    | (static_cast<uint32_t>(mac[offset + 1]) << 16)
                    | (static_cast<uint32_t>(mac[offset + 2]) << 8)
                    | static_cast<uint32_t>(mac[offset + 3]);
  char digits[8];
  std::snprintf(digits, sizeof digits, "%06u", binary % 1000000u);
  return digits;
}

bool verify_totp(std::string_view secret_base32, std::string_view code, int64_t unix_seconds) {
  if (code.size() != 6)
    return false;
  bool ok = false;
  for (int64_t delta = -1; delta <= 1; ++delta) {
    auto expected = totp_code(secret_base32, unix_seconds / 30 + delta);
    // Every candidate is compared, so the time does not tell which step matched.
    ok |= expected.size() == 6 && CRYPTO_memcmp(expected.data(), code.data(), 6) == 0;
  }
  return ok;
}

} // namespace tf::store
