// JSON request bodies as the API's routes read them: parse_object (bounded, objects only),
// then the first byte picks the reader a route applies, and the store's validation of what
// it read. Every body ends in a row or an invalid_argument naming why.
#include "core/errors.hpp"
#include "fuzz_input.hpp"
#include "net/json.hpp"
#include "http/json_model.hpp"
#include "store/projects.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  auto pick = data[0] % 5;
  auto doc = tf::net::parse_object(tf::fuzz::as_text(data + 1, size - 1));
  if (!doc)
    return 0;
  namespace h = tf::http;
  switch (pick) {
    case 0:
      if (auto p = h::project_from_json(*doc)) {
        (void) tf::store::validate_project(*p);
        for (const auto& s : p->stages)
          (void) tf::store::validate_stage(s);
      }
      break;
    case 1: (void) h::project_patch_from_json(*doc); break;
    case 2: (void) h::workload_patch_from_json(*doc); break;
    case 3:
      if (auto s = h::stage_from_json(*doc))
        (void) tf::store::validate_stage(*s);
      break;
    case 4: (void) h::stage_patch_from_json(*doc); break;
  }
  return 0;
}
