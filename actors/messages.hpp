// Messages only actors exchange (the HTTP front-end, the deployers, the deploy jobs, the
// reconciler's subscribers); the rows they carry live in core/model.hpp.
#pragma once

#include "core/model.hpp"

#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace tf {

/// What a caller asks a project deployer for. `stage` is a stage's name or id.
struct deploy_request {
  std::string project_id;
  std::string stage;
  std::string tag; // empty for a rollback (the stage's previous tag)
  std::string trigger = "api";
  std::string triggered_by;
  /// Deploy even when a deploy of this tag to this stage is already queued or running.
  bool force = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, deploy_request& x) {
  return f(caf::meta::type_name("deploy_request"), x.project_id, x.stage, x.tag, x.trigger,
           x.triggered_by, x.force);
}

/// stop | start | restart one container of a stage, named by URL parts that must agree.
struct instance_action {
  std::string project_id;
  std::string stage; // name
  std::string container_row_id;
  std::string action;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, instance_action& x) {
  return f(caf::meta::type_name("instance_action"), x.project_id, x.stage,
           x.container_row_id, x.action);
}

/// How a deploy job ended, for its deployer.
struct deploy_outcome {
  std::string deployment_id;
  std::string stage_id;
  std::string status; // succeeded | failed
  std::string error;
  /// Containers of the previous colour kept warm (closed to the proxy) for a rollback.
  std::vector<std::string> warm_container_ids;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, deploy_outcome& x) {
  return f(caf::meta::type_name("deploy_outcome"), x.deployment_id, x.stage_id, x.status,
           x.error, x.warm_container_ids);
}

/// What a caller asks a stack deployer for: a deploy (compose up), or one of stop, start,
/// restart, down (containers removed, volumes kept) and down-volumes (volumes too).
struct stack_request {
  std::string stack_id;
  std::string action = "deploy";
  std::string trigger = "api";
  std::string triggered_by;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stack_request& x) {
  return f(caf::meta::type_name("stack_request"), x.stack_id, x.action, x.trigger,
           x.triggered_by);
}

/// How a stack's compose run ended, for its deployer: the deployment it finished (empty for
/// stop, start, restart, down) and its status.
struct stack_outcome {
  std::string stack_id;
  std::string deployment_id;
  std::string status; // succeeded | failed
  std::string error;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stack_outcome& x) {
  return f(caf::meta::type_name("stack_outcome"), x.stack_id, x.deployment_id, x.status,
           x.error);
}

/// What a caller asks a site deployer for: a deploy of an uploaded archive (a new release),
/// or a rollback to the release before the current one (no archive).
struct site_request {
  std::string site_id;
  std::string archive; // the .tar.gz body as uploaded; empty for a rollback
  std::string trigger = "api";
  std::string triggered_by;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, site_request& x) {
  return f(caf::meta::type_name("site_request"), x.site_id, x.archive, x.trigger,
           x.triggered_by);
}

/// How a site's deploy ended, for its deployer.
struct site_outcome {
  std::string site_id;
  std::string deployment_id;
  std::string status; // succeeded | failed
  std::string error;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, site_outcome& x) {
  return f(caf::meta::type_name("site_outcome"), x.site_id, x.deployment_id, x.status,
           x.error);
}

/// Queued deploys that a newer request for their stage displaced, ended together.
struct deployment_supersession {
  std::vector<std::string> ids;
  std::string reason;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, deployment_supersession& x) {
  return f(caf::meta::type_name("deployment_supersession"), x.ids, x.reason);
}

/// What one reconcile run did, for subscribers (tests, metrics) and the log.
struct reconcile_report {
  std::string host;
  int64_t listed = 0;   // managed containers Docker listed
  int64_t written = 0;  // rows written
  int64_t rejected = 0; // forged labels, project rows the deployer never made
  int64_t missing = 0;  // rows newly marked missing
  std::string error;    // why the run failed (Docker unreachable...), empty on success
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, reconcile_report& x) {
  return f(caf::meta::type_name("reconcile_report"), x.host, x.listed, x.written, x.rejected,
           x.missing, x.error);
}

} // namespace tf
