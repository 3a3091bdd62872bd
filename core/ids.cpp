#include "core/ids.hpp"

#include <openssl/rand.h>

#include <array>
#include <chrono>
#include <cstdint>
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

std::string new_log_id() {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
              std::chrono::system_clock::now().time_since_epoch())
              .count();
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(12, '0');
  auto t = static_cast<uint64_t>(ms < 0 ? 0 : ms);
  for (int i = 11; i >= 0; --i, t >>= 4)
    out[static_cast<size_t>(i)] = digits[t & 0x0f];
  return out + random_hex<6>();
}

std::string new_secret() {
  return random_hex<32>();
}

} // namespace tf
