#include "core/ids.hpp"

#include <openssl/rand.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdlib>

namespace tf {

std::string hex_of(const unsigned char* bytes, size_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(digits[bytes[i] >> 4]);
    out.push_back(digits[bytes[i] & 0x0f]);
  }
  return out;
}

namespace {

template <size_t N>
std::string random_hex() {
  std::array<unsigned char, N> bytes{};
  // RAND_bytes only fails when the OS has no entropy source; nothing safe can go on then.
  if (RAND_bytes(bytes.data(), static_cast<int>(N)) != 1)
    std::abort();
  return hex_of(bytes.data(), N);
}

} // namespace

std::string new_id() {
  return random_hex<12>();
}

std::string new_log_id() {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
              std::chrono::system_clock::now().time_since_epoch())
              .count();
  // The low 48 bits of the time, most significant first: fixed width, so text order is
  // time order.
  std::array<unsigned char, 6> time{};
  auto t = static_cast<uint64_t>(ms < 0 ? 0 : ms);
  for (size_t i = time.size(); i-- > 0; t >>= 8)
    time[i] = static_cast<unsigned char>(t & 0xff);
  return hex_of(time.data(), time.size()) + random_hex<6>();
}

std::string new_secret() {
  return random_hex<32>();
}

} // namespace tf
