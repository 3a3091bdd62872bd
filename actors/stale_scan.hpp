// The stale scan: Docker resources Tinyforge made but no longer tracks. Pure functions over
// what the docker worker listed and what the store tracks, so the rules are tested without
// an engine and a prune acts on exactly what a fresh scan finds.
#pragma once

#include "docker/types.hpp"
#include "core/admin_model.hpp"

#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <string>
#include <vector>
#include <utility>

namespace tf {

struct stale_container {
  std::string id;
  std::string name;
  std::string image;
  std::string state;
  std::string workload_id; // as its label says ("" when it has none)
  /// unknown_workload: its workload id label names no workload (or it has none);
  /// untracked: no index row points at it and it is not running.
  std::string reason;
  int64_t created = 0; // unix seconds
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stale_container& x) {
  return f(caf::meta::type_name("stale_container"), x.id, x.name, x.image, x.state,
           x.workload_id, x.reason, x.created);
}

struct stale_image {
  std::string id;
  std::string ref; // repository:tag, what a prune removes
  int64_t size = 0;
  int64_t created = 0; // unix seconds
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stale_image& x) {
  return f(caf::meta::type_name("stale_image"), x.id, x.ref, x.size, x.created);
}

struct stale_report {
  std::vector<stale_container> containers;
  std::vector<stale_image> images;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stale_report& x) {
  return f(caf::meta::type_name("stale_report"), x.containers, x.images);
}

struct stale_rules {
  int64_t now_unix = 0;
  /// This daemon's instance id: a managed container labelled with another instance is
  /// another daemon's and never stale here. One with no instance label (made before the
  /// label existed) counts as this daemon's only when its workload id is one of its own.
  std::string instance_id;
  /// A stopped container younger than this is not stale for want of an index row: a
  /// deploy may have created it and not recorded it yet.
  int64_t untracked_grace_s = 300;
};

/// Stale containers among `containers` (every container Docker has) and stale tags among
/// `images`: a tag a deploy of this daemon named (tracked.deployed) that no stage keeps
/// (current, previous) and whose image no container uses.
stale_report find_stale(const tracked_resources& tracked,
                        const std::vector<docker::container_summary>& containers,
                        const std::vector<docker::image_summary>& images,
                        const stale_rules& rules);

/// What a prune asked for: when `everything` is false, only the listed ids (a container's
/// id or name; an image's repo:tag or its id, standing for all its stale tags).
struct prune_selection {
  bool everything = true;
  std::vector<std::string> containers;
  std::vector<std::string> images;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, prune_selection& x) {
  return f(caf::meta::type_name("prune_selection"), x.everything, x.containers, x.images);
}

struct prune_plan {
  std::vector<stale_container> containers;
  std::vector<stale_image> images;
  /// Ids asked for that the scan did not find stale: (kind, id).
  std::vector<std::pair<std::string, std::string>> not_stale;
};

/// A removal the engine refused: what, which, and its error message.
struct prune_failure {
  std::string kind; // container | image
  std::string id;
  std::string error;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, prune_failure& x) {
  return f(caf::meta::type_name("prune_failure"), x.kind, x.id, x.error);
}

/// What a prune did: what it removed, what the engine refused to remove, and the ids asked
/// for that the scan did not find stale (kind, id).
struct prune_result {
  std::vector<stale_container> removed_containers;
  std::vector<stale_image> removed_images;
  std::vector<prune_failure> failed;
  std::vector<std::pair<std::string, std::string>> not_stale;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, prune_result& x) {
  return f(caf::meta::type_name("prune_result"), x.removed_containers, x.removed_images,
           x.failed, x.not_stale);
}

/// The part of `report` the selection names.
prune_plan plan_prune(const stale_report& report, const prune_selection& selection);

/// "repo:tag" split at the tag's colon (a registry port's colon is not one); false when
/// there is no tag or it is Docker's "<none>".
bool split_image_ref(const std::string& ref, std::string& repository, std::string& tag);

} // namespace tf
