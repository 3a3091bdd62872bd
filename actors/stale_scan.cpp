#include "actors/stale_scan.hpp"

#include <algorithm>
#include <map>
#include <set>

namespace tf {

namespace {

bool is_live_state(const std::string& state) {
  return state == "running" || state == "restarting" || state == "paused";
}

std::string first_name(const docker::container_summary& c) {
  if (c.names.empty())
    return {};
  auto n = c.names.front();
  return !n.empty() && n[0] == '/' ? n.substr(1) : n;
}

} // namespace

bool split_image_ref(const std::string& ref, std::string& repository, std::string& tag) {
  auto colon = ref.rfind(':');
  auto slash = ref.rfind('/');
  if (colon == std::string::npos || (slash != std::string::npos && colon < slash))
    return false;
  repository = ref.substr(0, colon);
  tag = ref.substr(colon + 1);
  return !repository.empty() && !tag.empty() && repository != "<none>" && tag != "<none>";
}

stale_report find_stale(const tracked_resources& tracked,
                        const std::vector<docker::container_summary>& containers,
                        const std::vector<docker::image_summary>& images,
                        const stale_rules& rules) {
  std::set<std::string> workloads{tracked.workload_ids.begin(), tracked.workload_ids.end()};
  std::set<std::string> indexed{tracked.container_ids.begin(), tracked.container_ids.end()};
  std::set<std::string> images_in_use;
  stale_report out;
  for (const auto& c : containers) {
    images_in_use.insert(c.image_id);
    if (c.labels.count(docker::label::managed) == 0)
      continue;
    auto wl = c.labels.find(docker::label::workload_id);
    std::string workload_id = wl == c.labels.end() ? "" : wl->second;
    auto known_workload = !workload_id.empty() && workloads.count(workload_id) != 0;
    auto instance = c.labels.find(docker::label::instance);
    if (instance == c.labels.end() ? !known_workload : instance->second != rules.instance_id)
      continue; // another daemon's (or, unlabelled, nothing proves it is this one's)
    std::string reason;
    if (!known_workload)
      reason = "unknown_workload";
    else if (indexed.count(c.id) == 0 && !is_live_state(c.state)
             && c.created + rules.untracked_grace_s <= rules.now_unix)
      reason = "untracked";
    if (reason.empty())
      continue;
    out.containers.push_back(
      stale_container{c.id, first_name(c), c.image, c.state, workload_id, reason, c.created});
  }
  std::map<std::string, std::set<std::string>> kept;
  for (const auto& k : tracked.images)
    kept[k.repository].insert(k.tags.begin(), k.tags.end());
  std::map<std::string, std::set<std::string>> deployed;
  for (const auto& k : tracked.deployed)
    deployed[k.repository].insert(k.tags.begin(), k.tags.end());
  for (const auto& img : images) {
    if (images_in_use.count(img.id) != 0)
      continue;
    for (const auto& ref : img.repo_tags) {
      std::string repository;
      std::string tag;
      if (!split_image_ref(ref, repository, tag))
        continue;
      auto d = deployed.find(repository);
      if (d == deployed.end() || d->second.count(tag) == 0)
        continue; // this daemon never pulled it nor ran it
      auto k = kept.find(repository);
      if (k != kept.end() && k->second.count(tag) != 0)
        continue;
      out.images.push_back(stale_image{img.id, ref, img.size, img.created});
    }
  }
  return out;
}

prune_plan plan_prune(const stale_report& report, const prune_selection& selection) {
  prune_plan plan;
  if (selection.everything) {
    plan.containers = report.containers;
    plan.images = report.images;
    return plan;
  }
  for (const auto& want : selection.containers) {
    auto c = std::find_if(report.containers.begin(), report.containers.end(),
                          [&](const stale_container& x) { return x.id == want || x.name == want; });
    if (c == report.containers.end())
      plan.not_stale.emplace_back("container", want);
    else if (std::none_of(plan.containers.begin(), plan.containers.end(),
                          [&](const stale_container& x) { return x.id == c->id; }))
      plan.containers.push_back(*c);
  }
  for (const auto& want : selection.images) {
    bool found = false;
    for (const auto& img : report.images) {
      if (img.ref != want && img.id != want)
        continue;
      found = true;
      if (std::none_of(plan.images.begin(), plan.images.end(),
                       [&](const stale_image& x) { return x.ref == img.ref; }))
        plan.images.push_back(img);
    }
    if (!found)
      plan.not_stale.emplace_back("image", want);
  }
  return plan;
}

} // namespace tf
