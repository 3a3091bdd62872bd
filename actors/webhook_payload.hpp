// What a webhook body asks a project for: which tag, on which stage. Reads Tinyforge's own
// body {"tag","stage"}, GitHub's package / registry_package events, and GitLab's and
// Gitea's tag pushes (and Gitea's tag "create"). Pure: headers and body in, target or a
// refusal with its HTTP status out.
#pragma once

#include "actors/webhook_messages.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace tf {

struct webhook_target {
  std::string tag;
  std::string stage; // "" = the project's first stage
  std::string event; // the sender's event name, "" for Tinyforge's body
};

/// status 0: `target` holds what to deploy. Otherwise the delivery is refused with
/// `status` (400 malformed JSON, wrong types or an invalid tag; 422 well-formed but with no
/// tag to deploy, such as a branch push), `code` and `message`.
struct payload_reading {
  int64_t status = 0;
  std::string code;
  std::string message;
  webhook_target target;
};

payload_reading read_project_payload(const webhook_headers& headers, std::string_view body);

/// The sender's event name from X-GitHub-Event, X-Gitea-Event or X-Gitlab-Event ("" if none).
std::string webhook_event(const webhook_headers& headers);

/// The sender's delivery id: X-GitHub-Delivery, X-Gitea-Delivery, X-Gitlab-Event-UUID or
/// X-Tinyforge-Delivery ("" if none).
std::string webhook_delivery_id(const webhook_headers& headers);

} // namespace tf
