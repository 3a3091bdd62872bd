// compose's `config` output, as the stack policy reads it (docker/compose_policy.cpp):
// whatever the bytes, the answer is an error or a sorted, non-empty list of services, and
// libyaml's document (aliases included) is walked without a crash or an endless loop.
#include "docker/compose_policy.hpp"
#include "fuzz_input.hpp"

#include <algorithm>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text{tf::fuzz::as_text(data, size)};
  for (auto got : {tf::docker::config_services(text),
                   tf::docker::checked_services(text, "/var/lib/tinyforge",
                                                "/var/lib/tinyforge/stacks/s")}) {
    if (!got)
      continue;
    if (got->empty() || !std::is_sorted(got->begin(), got->end()))
      std::abort(); // a document that passes names its services, in order
  }
  return 0;
}
