// What a webhook body asks a project for: which tag, on which stage, of which image. Reads
// Tinyforge's own body {"tag","stage","force"}, GitHub's package / registry_package events
// (and its ping), Gitea's package events, and GitLab's and Gitea's tag pushes (and Gitea's
// tag "create"). Pure: headers and body in; a target, a reason to ignore the delivery, or a
// refusal with its error code out.
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
  /// The image a registry event is about ("ghcr.io/acme/web"), "" for events that name
  /// none (git pushes, Tinyforge's body). The store ignores another image than the
  /// project's.
  std::string image;
  /// Tinyforge's body {"force":true}: deploy even the tag the stage serves or has on its way.
  bool force = false;
};

/// What a reading found: something to deploy, a delivery to ignore, or one to refuse.
enum class payload_verdict { deploy, ignore, refuse };

/// deploy: `target` holds what to deploy. ignore: the delivery is well-formed but asks for
/// no deploy (GitHub's ping, a branch push, a deleted tag, an untagged image version, a
/// package that is no container image): it is recorded as ignored, `message` says why.
/// refuse: `code` says why (invalid_argument for malformed JSON, wrong types or an invalid
/// tag; no_tag for Tinyforge's own body without a tag) and `message` how.
struct payload_reading {
  payload_verdict verdict = payload_verdict::deploy;
  std::string code;
  std::string message;
  webhook_target target;

  bool ignored() const { return verdict == payload_verdict::ignore; }
  bool refused() const { return verdict == payload_verdict::refuse; }
};

payload_reading read_project_payload(const webhook_headers& headers, std::string_view body);

/// What a body asks a stack for: an empty body, a sender's push (any event but GitHub's
/// ping, which is ignored) or Tinyforge's body without a tag redeploy it; Tinyforge's
/// {"tag":"v2"} sets its TAG variable first. Malformed JSON or a tag that is no string is
/// refused.
payload_reading read_stack_payload(const webhook_headers& headers, std::string_view body);

/// The sender's event name from X-GitHub-Event, X-Gitea-Event or X-Gitlab-Event ("" if none).
std::string webhook_event(const webhook_headers& headers);

/// The sender's delivery id: X-GitHub-Delivery, X-Gitea-Delivery, X-Gitlab-Event-UUID or
/// X-Tinyforge-Delivery ("" if none).
std::string webhook_delivery_id(const webhook_headers& headers);

} // namespace tf
