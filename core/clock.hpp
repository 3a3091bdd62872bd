// Timestamps as stored: ISO-8601 UTC with milliseconds, which sort as text.
#pragma once

#include <chrono>
#include <string>

namespace tf {

std::string format_utc(std::chrono::system_clock::time_point t);

inline std::string now_utc() {
  return format_utc(std::chrono::system_clock::now());
}

} // namespace tf
