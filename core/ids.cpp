#include "core/ids.hpp"

#include <openssl/rand.h>

#include <array>
#include <cstdlib>

namespace tf {

namespace {

template <size_t N>
std::string random_hex() {
  std::array<unsigned char, N> bytes{};
  // RAND_bytes only fails when the OS has no entropy source; nothing safe can go on then.
  if (RAND_bytes(bytes.data(), static_cast<int>(N)) != 1)
    std::abort();
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * N);
  for (auto b : bytes) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 0x0f]);
  }
  return out;
}

} // namespace

std::string new_id() {
  return random_hex<12>();
}

std::string new_secret() {
  return random_hex<32>();
}

} // namespace tf
