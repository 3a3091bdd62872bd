// Query strings as the API's list routes read them: httplib splits and decodes the text,
// then the route helpers read paging, counts, ids and enumerated filters. Every value ends
// in a number in range, an id, an allowed choice or an invalid_argument.
#include "core/errors.hpp"
#include "fuzz_input.hpp"
#include "http/route_helpers.hpp"
#include "store/containers.hpp"
#include "store/workloads.hpp"

#include <httplib.h>

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  httplib::Request req;
  httplib::detail::parse_query_text(std::string{tf::fuzz::as_text(data, size)}, req.params);
  namespace h = tf::http;
  if (auto page = h::parse_page(req)) {
    if (page->limit < 1 || page->limit > h::max_page_limit || page->offset < 0)
      std::abort();
  }
  if (auto tail = h::query_count(req, "tail", 100); tail && *tail < 0)
    std::abort();
  if (auto id = h::query_id(req, "app_id"); id && id->size() > 128)
    std::abort();
  (void) h::query_choice(req, "kind", tf::store::is_workload_kind, "project, stack, site");
  if (auto state = h::query_choice(req, "state", tf::store::is_container_state, "states");
      state && !state->empty() && !tf::store::is_container_state(*state))
    std::abort();
  return 0;
}
