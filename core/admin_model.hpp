// The rows and answers of the admin routes (settings, apps, proxies, stale resources,
// metrics), shared by the store actors and the HTTP front-end as message types.
#pragma once

#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tf {

/// Settings as stored: key -> the value's canonical JSON text ("true", "42", "\"x\"").
/// Only keys of store/settings.hpp's known_settings() ever get in.
using settings_map = std::map<std::string, std::string>;

/// An optional group of workloads (workloads.app_id).
struct app {
  std::string id;
  std::string name;
  std::string description;
  std::string created_at;
  std::string updated_at;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, app& x) {
  return f(caf::meta::type_name("app"), x.id, x.name, x.description, x.created_at,
           x.updated_at);
}

/// A proxy route as /api/proxies lists it: the route with its stage and project.
struct proxy_listing {
  std::string id;
  std::string host;
  std::string health_path;
  int64_t npm_proxy_id = 0;
  std::vector<int64_t> slots;
  std::vector<int64_t> serving;
  std::string owner_id;      // the stage's id, or the site's or stack's workload id
  std::string owner_kind;    // stage | site | stack
  std::string stage_id;      // empty for a site or stack
  std::string stage_name;
  std::string project_id;    // empty for a site or stack
  std::string workload_id;   // the project's, site's or stack's
  std::string workload_name; // its name
  std::string updated_at;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, proxy_listing& x) {
  return f(caf::meta::type_name("proxy_listing"), x.id, x.host, x.health_path, x.npm_proxy_id,
           x.slots, x.serving, x.owner_id, x.owner_kind, x.stage_id, x.stage_name,
           x.project_id, x.workload_id, x.workload_name,
           x.updated_at);
}

/// A project's image repository with the tags its stages still need (current, previous).
struct kept_image {
  std::string repository;
  std::vector<std::string> tags;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, kept_image& x) {
  return f(caf::meta::type_name("kept_image"), x.repository, x.tags);
}

/// What the store tracks, for telling stale Docker resources from live ones.
struct tracked_resources {
  std::vector<std::string> workload_ids;
  std::vector<std::string> container_ids; // Docker ids the containers index points at
  std::vector<kept_image> images;
  /// Tags a deploy of this daemon named, per repository: the only images it pulled or a
  /// stage of it used, so the only ones its stale scan may call stale.
  std::vector<kept_image> deployed;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tracked_resources& x) {
  return f(caf::meta::type_name("tracked_resources"), x.workload_ids, x.container_ids,
           x.images, x.deployed);
}

/// One count of a metric with up to two label values.
struct labelled_count {
  std::string first;
  std::string second;
  int64_t count = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, labelled_count& x) {
  return f(caf::meta::type_name("labelled_count"), x.first, x.second, x.count);
}

/// The store's part of /metrics.
struct store_metrics {
  std::vector<labelled_count> containers;  // (kind, state)
  std::vector<labelled_count> deployments; // (status, "")
  std::vector<labelled_count> deliveries;  // (result, "")
  int64_t workloads = 0;
  int64_t apps = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, store_metrics& x) {
  return f(caf::meta::type_name("store_metrics"), x.containers, x.deployments, x.deliveries,
           x.workloads, x.apps);
}

} // namespace tf
