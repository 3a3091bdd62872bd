// Webhook bodies and the event headers that pick how they are read: whatever arrives, the
// reading is a target, an event ignored with its reason, or a refusal with an error code
// and a message.
#include "actors/webhook_payload.hpp"
#include "store/deployments.hpp"
#include "fuzz_input.hpp"

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto in = tf::fuzz::split_headers(tf::fuzz::as_text(data, size));
  auto r = tf::read_project_payload(in.headers, in.body);
  if (!r.ignored() && !r.refused() && (!tf::store::is_image_tag(r.target.tag) || r.target.stage.size() > 128))
    std::abort(); // a target is a valid tag (on a bounded stage name) or nothing
  if (r.ignored() && r.message.empty())
    std::abort(); // an ignored event says why in the delivery log
  if (r.refused() && (r.message.empty() || (r.code != "invalid_argument" && r.code != "no_tag")))
    std::abort(); // a refusal is the sender's to fix: a bad body or no tag, and says how
  // A stack's reading: a redeploy (with a tag or none), an ignored ping, or a bad body.
  auto st = tf::read_stack_payload(in.headers, in.body);
  if (st.ignored() && st.message.empty())
    std::abort();
  if (st.refused() && (st.message.empty() || st.code != "invalid_argument"))
    std::abort();
  if (!st.ignored() && !st.refused() && !st.target.stage.empty())
    std::abort(); // a stack has no stage
  tf::webhook_event(in.headers);
  tf::webhook_delivery_id(in.headers);
  return 0;
}
