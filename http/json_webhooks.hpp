// Deliveries in and out as the HTTP API shows them: the answer to a webhook delivery that
// was not refused, the rows of a workload's delivery log, and its notification attempts.
#pragma once

#include "actors/webhook_messages.hpp"
#include "core/notification_model.hpp"
#include "core/webhook_model.hpp"
#include "net/json.hpp"

namespace tf::http {

/// {"deployment_id","status":"queued"} for a queued deploy; {"deployment_id","duplicate":
/// true} for a delivery id seen before; {"deployment_id","status":"unchanged"|"ignored",
/// "reason"} for one that started no deploy; each with its "delivery_id".
void write_webhook_answer(net::json_writer& w, const webhook_answer& a);

/// One row of the delivery log (its body is never shown; "replayable" says whether it was
/// kept whole).
void write_delivery(net::json_writer& w, const webhook_delivery& d);

/// One attempt to post an event to a workload's notification_url ("status" null when no
/// answer came).
void write_attempt(net::json_writer& w, const notification_attempt& a);

} // namespace tf::http
