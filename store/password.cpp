#include "store/password.hpp"

#include "core/errors.hpp"
#include "core/ids.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <array>
#include <charconv>
#include <cstdint>
#include <vector>

namespace tf::store {

namespace {

// 2^15 × 8 × 128 bytes = 32 MiB and some 50-100 ms per hash here: costly for a guesser,
// cheap enough for a login. Stored with each hash, so raising it later is safe.
constexpr uint64_t cost_n = uint64_t{1} << 15;
constexpr uint64_t cost_r = 8;
constexpr uint64_t cost_p = 1;
constexpr size_t salt_bytes = 16;
constexpr size_t hash_bytes = 32;
// What a stored hash may ask for: bounds the memory a tampered row could make us use.
constexpr uint64_t max_memory = 256ull * 1024 * 1024;

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

bool from_hex(std::string_view text, std::vector<unsigned char>& out) {
  if (text.size() % 2 != 0)
    return false;
  out.clear();
  for (size_t i = 0; i < text.size(); i += 2) {
    auto hi = hex_value(text[i]);
    auto lo = hex_value(text[i + 1]);
    if (hi < 0 || lo < 0)
      return false;
    out.push_back(static_cast<unsigned char>(hi << 4 | lo));
  }
  return true;
}

bool to_u64(std::string_view text, uint64_t& out) {
  if (text.empty() || text.size() > 10)
    return false;
  auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), out);
  return err == std::errc{} && end == text.data() + text.size();
}

bool derive(std::string_view password, const std::vector<unsigned char>& salt, uint64_t n,
            uint64_t r, uint64_t p, unsigned char* out, size_t out_len) {
  return EVP_PBE_scrypt(password.data(), password.size(), salt.data(), salt.size(), n, r, p,
                        max_memory, out, out_len)
         == 1;
}

/// The five fields after "scrypt$".
struct parsed_hash {
  uint64_t n = 0, r = 0, p = 0;
  std::vector<unsigned char> salt, hash;
};

bool parse(std::string_view stored, parsed_hash& out) {
  constexpr std::string_view prefix = "scrypt$";
  if (stored.size() > 512 || stored.substr(0, prefix.size()) != prefix)
    return false;
  stored.remove_prefix(prefix.size());
  std::array<std::string_view, 5> parts;
  for (size_t i = 0; i < parts.size(); ++i) {
    auto end = stored.find('$');
    if ((end == std::string_view::npos) != (i == parts.size() - 1))
      return false;
    parts[i] = stored.substr(0, end);
    stored.remove_prefix(end == std::string_view::npos ? stored.size() : end + 1);
  }
  return to_u64(parts[0], out.n) && to_u64(parts[1], out.r) && to_u64(parts[2], out.p)
         && out.n >= 2 && (out.n & (out.n - 1)) == 0 && out.r >= 1 && out.r <= 64
         && out.p >= 1 && out.p <= 16 && from_hex(parts[3], out.salt) && out.salt.size() >= 8
         && from_hex(parts[4], out.hash) && out.hash.size() >= 16 && out.hash.size() <= 64;
}

} // namespace

caf::error check_new_password(std::string_view password) {
  if (password.size() < min_password_bytes)
    return make_error(ec::invalid_argument, "the password needs at least "
                                              + std::to_string(min_password_bytes)
                                              + " characters");
  if (password.size() > max_password_bytes)
    return make_error(ec::invalid_argument, "the password is longer than "
                                              + std::to_string(max_password_bytes) + " bytes");
  return {};
}

caf::expected<std::string> hash_password(std::string_view password) {
  if (password.size() > max_password_bytes)
    return make_error(ec::invalid_argument, "the password is longer than "
                                              + std::to_string(max_password_bytes) + " bytes");
  std::vector<unsigned char> salt(salt_bytes);
  if (RAND_bytes(salt.data(), static_cast<int>(salt.size())) != 1)
    return make_error(ec::internal, "no random bytes for a password salt");
  std::array<unsigned char, hash_bytes> hash{};
  if (!derive(password, salt, cost_n, cost_r, cost_p, hash.data(), hash.size()))
    return make_error(ec::internal, "scrypt failed");
  return "scrypt$" + std::to_string(cost_n) + "$" + std::to_string(cost_r) + "$"
         + std::to_string(cost_p) + "$" + hex_of(salt.data(), salt.size()) + "$"
         + hex_of(hash.data(), hash.size());
}

bool verify_password(std::string_view password, std::string_view stored) {
  if (password.size() > max_password_bytes)
    return false;
  parsed_hash h;
  if (!parse(stored, h))
    return false;
  std::vector<unsigned char> computed(h.hash.size());
  if (!derive(password, h.salt, h.n, h.r, h.p, computed.data(), computed.size()))
    return false;
  return CRYPTO_memcmp(computed.data(), h.hash.data(), computed.size()) == 0;
}

const std::string& dummy_password_hash() {
  // Random salt and random "hash" bytes under the cost hash_password uses: verifying against
  // it runs one scrypt of the same N, r, p as a real user's (the timing an unknown user must
  // pay), yet making it costs no scrypt, so neither the start-up nor the first unknown-user
  // login pays one extra. No password derives to 32 random bytes but by a 2^-256 chance.
  static const std::string hash = [] {
    std::array<unsigned char, salt_bytes> salt{};
    std::array<unsigned char, hash_bytes> random{};
    // Should RAND_bytes fail, the zeros stay: still a full scrypt to verify, still no
    // password known to match.
    (void)RAND_bytes(salt.data(), static_cast<int>(salt.size()));
    (void)RAND_bytes(random.data(), static_cast<int>(random.size()));
    return "scrypt$" + std::to_string(cost_n) + "$" + std::to_string(cost_r) + "$"
           + std::to_string(cost_p) + "$" + hex_of(salt.data(), salt.size()) + "$"
           + hex_of(random.data(), random.size());
  }();
  return hash;
}

std::string sha256_hex(std::string_view data) {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest.data());
  return hex_of(digest.data(), digest.size());
}

} // namespace tf::store
