// The Engine API's answers: the first byte picks which parser reads the rest, so one target
// covers every answer docker/parse.hpp reads (lists, inspects, version, event lines, create,
// errors, version strings, multiplexed logs).
#include "docker/parse.hpp"
#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  auto pick = data[0] % 11;
  auto in = tf::fuzz::as_text(data + 1, size - 1);
  namespace d = tf::docker;
  switch (pick) {
    case 0: (void) d::parse_version(in); break;
    case 1: (void) d::parse_container_list(in); break;
    case 2: (void) d::parse_container_details(in); break;
    case 3: (void) d::parse_image_list(in); break;
    case 4: (void) d::parse_image_details(in); break;
    case 5: (void) d::parse_network_list(in); break;
    case 6: (void) d::parse_event(in); break;
    case 7: (void) d::parse_created_id(in); break;
    case 8: (void) d::engine_error(400 + static_cast<long>(in.size() % 200), in, "fuzz"); break;
    case 9: (void) d::api_version_number(in); break;
    case 10: (void) d::demultiplex_logs(in); break;
  }
  return 0;
}
