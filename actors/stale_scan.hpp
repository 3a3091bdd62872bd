// The stale scan: Docker resources Tinyforge made but no longer tracks. Pure functions over
// what the docker worker listed and what the store tracks, so the rules are tested without
// an engine and a prune acts on exactly what a fresh scan finds.
#pragma once

#include "docker/types.hpp"
#include "core/admin_model.hpp"

#include <cstdint>
#include <string>
#include <vector>

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

struct stale_image {
  std::string id;
  std::string ref; // repository:tag, what a prune removes
  int64_t size = 0;
  int64_t created = 0; // unix seconds
};

struct stale_report {
  std::vector<stale_container> containers;
  std::vector<stale_image> images;
};

struct stale_rules {
  int64_t now_unix = 0;
  /// A stopped container younger than this is not stale for want of an index row: a
  /// deploy may have created it and not recorded it yet.
  int64_t untracked_grace_s = 300;
};

/// Stale containers among `containers` (every container Docker has) and stale tags among
/// `images`: a tag of a project's repository that no stage keeps (current, previous) and
/// whose image no container uses.
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

struct prune_plan {
  std::vector<stale_container> containers;
  std::vector<stale_image> images;
  /// Ids asked for that the scan did not find stale: (kind, id).
  std::vector<std::pair<std::string, std::string>> not_stale;
};

/// The part of `report` the selection names.
prune_plan plan_prune(const stale_report& report, const prune_selection& selection);

/// "repo:tag" split at the tag's colon (a registry port's colon is not one); false when
/// there is no tag or it is Docker's "<none>".
bool split_image_ref(const std::string& ref, std::string& repository, std::string& tag);

} // namespace tf
