// The rows the store reads and writes, shared by every actor as message types.
// An empty string stands for SQL NULL in the nullable foreign keys (app_id, stage_id).
#pragma once

#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace tf {

using env_map = std::map<std::string, std::string>;

/// A deploy target of a project: where and how its containers run.
struct stage {
  std::string id;
  std::string project_id;
  std::string name;
  std::string subdomain;
  int64_t port = 0;
  int64_t instances = 1;
  env_map env;
  std::string health_path = "/";
  int64_t health_timeout_ms = 2000;
  int64_t health_interval_ms = 1000;
  int64_t memory_limit_bytes = 0;
  int64_t cpu_limit_millis = 0;
  std::string restart_policy = "unless-stopped";
  std::string current_tag;
  std::string previous_tag;
  std::string created_at;
  std::string updated_at;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stage& x) {
  return f(caf::meta::type_name("stage"), x.id, x.project_id, x.name, x.subdomain, x.port,
           x.instances, x.env, x.health_path, x.health_timeout_ms, x.health_interval_ms,
           x.memory_limit_bytes, x.cpu_limit_millis, x.restart_policy, x.current_tag,
           x.previous_tag, x.created_at, x.updated_at);
}

/// One image repository deployed to one or more stages.
struct project {
  std::string id;
  std::string name;
  std::string image;
  std::string workload_id;
  /// The workload's webhook secret, read with the project so the API can show its
  /// webhook_url (the admin copies it into CI); never written through a project.
  std::string webhook_secret;
  std::vector<stage> stages;
  std::string created_at;
  std::string updated_at;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, project& x) {
  return f(caf::meta::type_name("project"), x.id, x.name, x.image, x.workload_id,
           x.webhook_secret, x.stages, x.created_at, x.updated_at);
}

/// A docker compose project.
struct stack {
  std::string id;
  std::string name;
  std::string compose;
  env_map env;
  std::string compose_project_name;
  std::string workload_id;
  /// The one service the proxy routes to the stack's host name, and the port it listens on
  /// inside its container; empty and 0: the stack has no route.
  std::string route_service;
  int64_t route_port = 0;
  std::string subdomain; // the route's host (proxy.domain appended); empty: the name
  std::string created_at;
  std::string updated_at;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stack& x) {
  return f(caf::meta::type_name("stack"), x.id, x.name, x.compose, x.env,
           x.compose_project_name, x.workload_id, x.route_service, x.route_port, x.subdomain,
           x.created_at, x.updated_at);
}

/// A directory of files served by a container.
struct site {
  std::string id;
  std::string name;
  std::string subdomain;
  int64_t keep_releases = 5;
  std::string current_release;
  std::string workload_id;
  std::string created_at;
  std::string updated_at;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, site& x) {
  return f(caf::meta::type_name("site"), x.id, x.name, x.subdomain, x.keep_releases,
           x.current_release, x.workload_id, x.created_at, x.updated_at);
}

/// The one row every project, stack and site has: kind, secrets, app grouping.
struct workload {
  std::string id;
  std::string kind; // project | stack | site
  std::string ref_id;
  std::string name;
  std::string app_id;
  std::string notification_url;
  std::string notification_secret;
  std::string webhook_secret;
  std::string webhook_signing_secret;
  bool webhook_require_signature = false;
  std::string created_at;
  std::string updated_at;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, workload& x) {
  return f(caf::meta::type_name("workload"), x.id, x.kind, x.ref_id, x.name, x.app_id,
           x.notification_url, x.notification_secret, x.webhook_secret,
           x.webhook_signing_secret, x.webhook_require_signature, x.created_at, x.updated_at);
}

/// The index row id of a stack's or site's container: one row per (workload, role), kept
/// across the containers that hold it. ':' never appears in a compose service name and
/// needs no escaping in a URL path segment (a '/' did: /api/containers/{id} could not name it).
inline std::string workload_row_id(const std::string& workload_id, const std::string& role) {
  return workload_id + ":" + role;
}

/// A row of the containers index.
struct container_row {
  std::string id;
  std::string workload_id;
  std::string workload_kind;
  std::string role;
  // Deployer-owned: only upsert_container writes these.
  std::string stage_id;
  std::string subdomain;
  std::string proxy_route_id;
  int64_t npm_proxy_id = 0;
  std::string image_tag;
  // Docker-derived: both upsert_container and reconcile_container write these.
  std::string container_id;
  std::string image_ref;
  std::string host = "local";
  std::string state;
  int64_t port = 0;
  std::string last_seen_at;
  std::string created_at;
  std::string updated_at;
};

/// A container row's fields the API shows, viewed where they are (a statement's columns,
/// a container_row) for as long as the owner lives: a list is written with no row copies.
struct container_view {
  std::string_view id, workload_id, workload_kind, role, stage_id, subdomain, image_tag,
    container_id, state, image_ref, host, last_seen_at, created_at, updated_at;
  int64_t port = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, container_row& x) {
  return f(caf::meta::type_name("container_row"), x.id, x.workload_id, x.workload_kind,
           x.role, x.stage_id, x.subdomain, x.proxy_route_id, x.npm_proxy_id, x.image_tag,
           x.container_id, x.image_ref, x.host, x.state, x.port, x.last_seen_at,
           x.created_at, x.updated_at);
}

/// What the reconciler saw of one container in Docker.
struct observed_container {
  std::string id; // the index row this container belongs to
  std::string workload_id;
  /// A compose container's project: when set, the stack is found through the stacks'
  /// compose-project index and must be the workload the labels name.
  std::string compose_project;
  std::string workload_kind;
  std::string role;
  std::string host = "local";
  std::string container_id;
  std::string image_ref;
  std::string state;
  int64_t port = 0;
  std::string last_seen_at;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, observed_container& x) {
  return f(caf::meta::type_name("observed_container"), x.id, x.workload_id,
           x.compose_project, x.workload_kind, x.role, x.host, x.container_id, x.image_ref, x.state, x.port,
           x.last_seen_at);
}

/// A row of the containers index that a reconcile moved into a state worth a notification
/// (failed, missing).
struct container_change {
  std::string row_id;
  std::string workload_id;
  std::string role;
  std::string container_id;
  std::string state;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, container_change& x) {
  return f(caf::meta::type_name("container_change"), x.row_id, x.workload_id, x.role,
           x.container_id, x.state);
}

/// How a batch of reconcile writes went.
struct reconcile_result {
  int64_t written = 0;
  /// Rows not written: unknown workload (forged label) or a project row the deployer
  /// never created (the reconciler does not invent those).
  int64_t rejected = 0;
  /// Rows this batch moved into the failed state (they were in another state before).
  std::vector<container_change> failed;
  /// Docker ids of observed containers whose workload label names no workload (deleted,
  /// or forged): the reconciler removes those its own daemon made.
  std::vector<std::string> orphaned;
  /// Rows whose Docker fields (state, container, image, port) changed, or that were new:
  /// the rest of `written` only had their last-seen time moved.
  int64_t moved = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, reconcile_result& x) {
  return f(caf::meta::type_name("reconcile_result"), x.written, x.rejected, x.failed,
           x.orphaned, x.moved);
}

/// One deploy of a workload (for a project: of one stage), with its log.
struct deployment {
  std::string id;
  std::string workload_id;
  std::string stage_id; // empty for stacks and sites
  std::string tag;
  std::string previous_tag;
  std::string status = "queued"; // queued | running | succeeded | failed | superseded
  std::string trigger = "api";   // api | webhook | rollback | cli | ui
  std::string triggered_by;
  std::string error;
  /// The journal: the step a running deploy is about to take, recorded before it is taken
  /// (pull, create, health, switch, drain, cleanup), so a restart can finish or undo it.
  std::string phase;
  std::string created_at;
  std::string started_at;
  std::string finished_at;
  std::vector<std::string> log; // filled by get, empty in lists
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, deployment& x) {
  return f(caf::meta::type_name("deployment"), x.id, x.workload_id, x.stage_id, x.tag,
           x.previous_tag, x.status, x.trigger, x.triggered_by, x.error, x.phase,
           x.created_at, x.started_at, x.finished_at, x.log);
}

/// A running deploy records the step it is about to take.
struct deployment_phase {
  std::string id;
  std::string phase;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, deployment_phase& x) {
  return f(caf::meta::type_name("deployment_phase"), x.id, x.phase);
}

/// A stage's route through the reverse proxy. The proxy config names every slot of the
/// stage once and never changes during a deploy: slots[0, n) are colour a, slots[n, 2n)
/// colour b (n = instances). Which colour serves is decided by which slot ports are open.
struct proxy_route {
  std::string id;
  std::string owner_id;           // the stage's id, or the site's or stack's workload id
  std::string owner_kind = "stage"; // stage | site | stack
  std::string host;               // the host name the route matches
  std::vector<int64_t> slots;     // loopback host ports, 2 per instance
  std::string health_path = "/";  // the proxy's active health check
  int64_t npm_proxy_id = 0;       // Nginx Proxy Manager's id of the proxy host, 0 if none
  std::vector<int64_t> serving;   // slots that serve now (npm points at the first)
  std::string created_at;
  std::string updated_at;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, proxy_route& x) {
  return f(caf::meta::type_name("proxy_route"), x.id, x.owner_id, x.owner_kind, x.host, x.slots,
           x.health_path, x.npm_proxy_id, x.serving, x.created_at, x.updated_at);
}

/// Asks the store writer for a stage's route with `slot_count` slots, allocated from
/// [port_low, port_high] where missing (ports never shared between routes).
struct route_claim {
  std::string owner_id;             // the stage's id, or the site's or stack's workload id
  std::string owner_kind = "stage"; // stage | site | stack
  std::string host;
  std::string health_path;
  int64_t slot_count = 2;
  int64_t port_low = 20000;
  int64_t port_high = 20999;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, route_claim& x) {
  return f(caf::meta::type_name("route_claim"), x.owner_id, x.owner_kind, x.host, x.health_path,
           x.slot_count, x.port_low, x.port_high);
}

/// A deploy of a stage the deployer asks the store to record (store::claim_stage_deploy).
struct stage_deploy_claim {
  deployment dep; // workload, stage, tag, trigger
  /// Without it, a deploy of the tag the stage's newest queued or running deploy already
  /// brings is not recorded again (a double click, a retried request).
  bool force = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stage_deploy_claim& x) {
  return f(caf::meta::type_name("stage_deploy_claim"), x.dep, x.force);
}

/// How the store settled a stage_deploy_claim: the queued row, or `unchanged` with the
/// deploy already on its way (`queued` is that row then) and why.
struct stage_deploy_claimed {
  deployment queued;
  bool unchanged = false;
  std::string reason;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stage_deploy_claimed& x) {
  return f(caf::meta::type_name("stage_deploy_claimed"), x.queued, x.unchanged, x.reason);
}

/// A deployment moving on: to running, or to an end state with its error (if any).
struct deployment_transition {
  std::string id;
  std::string status;
  std::string error;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, deployment_transition& x) {
  return f(caf::meta::type_name("deployment_transition"), x.id, x.status, x.error);
}

/// One line of a deployment's log.
struct deployment_log_line {
  std::string deployment_id;
  std::string line;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, deployment_log_line& x) {
  return f(caf::meta::type_name("deployment_log_line"), x.deployment_id, x.line);
}

/// Marks rows on `host` whose container was not among `seen_container_ids` as missing.
/// Only rows last written before `listed_at` (when the list was taken) are swept: a row a
/// deployer wrote after that may name a container the list could not have seen yet.
struct missing_sweep {
  std::string host = "local";
  std::vector<std::string> seen_container_ids;
  std::string listed_at; // empty: sweep regardless of when rows were written
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, missing_sweep& x) {
  return f(caf::meta::type_name("missing_sweep"), x.host, x.seen_container_ids, x.listed_at);
}

/// A partial update: `fields` names the members of `value` to apply; the rest stay.
template <class T>
struct patch {
  std::string id;
  std::vector<std::string> fields;
  T value;

  bool has(const char* field) const {
    for (const auto& f : fields)
      if (f == field)
        return true;
    return false;
  }
};

template <class Inspector, class T>
typename Inspector::result_type inspect(Inspector& f, patch<T>& x) {
  return f(caf::meta::type_name("patch"), x.id, x.fields, x.value);
}

/// Which containers a list request wants; empty strings match everything.
struct container_filter {
  std::string workload_id;
  std::string stage_id;
  std::string kind;
  std::string state;
  std::string app_id;
  int64_t limit = 100;
  int64_t offset = 0;
  /// Keyset paging (core/list_cursor.hpp): only the rows after this (created_at, id) in list
  /// order; both empty from the start.
  std::string after_created_at;
  std::string after_id;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, container_filter& x) {
  return f(caf::meta::type_name("container_filter"), x.workload_id, x.stage_id, x.kind, x.state,
           x.app_id, x.limit, x.offset, x.after_created_at, x.after_id);
}

/// A list answered as the HTTP body itself, written by the store reader straight from its
/// statements; `etag` names the index version it was read at. When the caller's tag is
/// that version, `not_modified` and no body.
struct list_body {
  std::string etag;
  std::string body;
  bool not_modified = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, list_body& x) {
  return f(caf::meta::type_name("list_body"), x.etag, x.body, x.not_modified);
}

/// Which workloads a list request wants; empty strings match everything.
struct workload_filter {
  std::string kind;
  std::string app_id;
  int64_t limit = 50;
  int64_t offset = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, workload_filter& x) {
  return f(caf::meta::type_name("workload_filter"), x.kind, x.app_id, x.limit, x.offset);
}

/// One page of a list.
template <class T>
struct page {
  std::vector<T> items;
  int64_t total = 0;
};

template <class Inspector, class T>
typename Inspector::result_type inspect(Inspector& f, page<T>& x) {
  return f(caf::meta::type_name("page"), x.items, x.total);
}

} // namespace tf
