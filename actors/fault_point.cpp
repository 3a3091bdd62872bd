#include "actors/fault_point.hpp"

#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <unistd.h>

namespace tf {

void fault_point(const char* point) {
  // Read once: the variable is set for the whole life of a daemon under test.
  static const char* wanted = std::getenv("TINYFORGE_FAULT_KILL_AT");
  if (wanted == nullptr || std::strcmp(wanted, point) != 0)
    return;
  spdlog::warn("event=fault-kill point={}", point);
  spdlog::default_logger()->flush();
  ::kill(::getpid(), SIGKILL);
}

} // namespace tf
